//! Models the construction half of security/keys/request_key.c.
//!
//! DEVIATION: the upcall is not modelled. `request_key()` allocates the
//! key under construction, links it into the destination keyring (LINKED)
//! and returns at once; the calling task then holds the authority to
//! instantiate or reject it (what `KEYCTL_ASSUME_AUTHORITY` gives the
//! `request-key` helper). No authorisation key object is created, so its
//! INVALIDATED notification (which nobody can watch) is not posted.

use crate::errno::{Errno, KResult};
use crate::heap::Id;
use crate::kernel::Cx;
use crate::trace::kfn;
use crate::uapi::*;

use super::key::{key_alloc, key_get};
use super::keyring::{__key_link, __key_link_begin, find_key_to_update};
use super::{KEY_FLAG_USER_CONSTRUCT, Key, KeyType};

/// Models `construct_alloc_key()` via `request_key_and_link()`: an
/// existing positive match in the destination is returned; otherwise a
/// new key under construction is linked there.
pub fn request_key_and_link(cx: &Cx<'_>, type_: KeyType, description: &str, dest: Id<Key>) -> KResult<Id<Key>> {
    let _f = kfn("request_key_and_link");
    if let Some(k) = find_key_to_update(cx, dest, type_, description) {
        return Ok(key_get(cx, k));
    }
    __key_link_begin(cx, dest)?;
    let cred = cx.current_cred();
    let perm =
        KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_LINK | KEY_POS_SETATTR | KEY_POS_READ | KEY_POS_WRITE | KEY_USR_VIEW;
    let key = key_alloc(cx, type_, description, cred.uid, cred.gid, perm)?;
    cx.k.keys.get(key).test_and_set_flag(KEY_FLAG_USER_CONSTRUCT);
    __key_link(cx, dest, key);
    // The construction holds the allocation's reference until the key is
    // instantiated or rejected; the caller gets its own.
    Ok(key_get(cx, key))
}

/// Whether the current task may instantiate `key` (it is still under
/// construction). `EPERM` otherwise, as without an authorisation key.
pub fn check_authority(cx: &Cx<'_>, key: Id<Key>) -> KResult<()> {
    if cx.k.keys.get(key).test_flag(KEY_FLAG_USER_CONSTRUCT) { Ok(()) } else { Err(Errno::EPERM) }
}
