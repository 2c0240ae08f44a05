//! Models the construction half of security/keys/request_key.c.
//!
//! DEVIATION: the upcall is not modelled. `request_key()` allocates the
//! key under construction, links it into the destination keyring (LINKED)
//! and returns at once; the calling task then holds the authority to
//! instantiate or reject it (what `KEYCTL_ASSUME_AUTHORITY` gives the
//! `request-key` helper). No authorisation key object is created, so its
//! INVALIDATED notification (which nobody can watch) is not posted; the
//! authorisation's destination keyring (`rka->dest_keyring`) is kept on
//! the key instead.
//!
//! APPROX: the search for an existing key walks the thread, process and
//! session keyrings in link order without search-permission checks.

use crate::errno::{Errno, KResult};
use crate::heap::Id;
use crate::kernel::Cx;
use crate::trace::kfn;
use crate::uapi::*;

use super::key::{key_alloc, key_get, key_put};
use super::keyring::{__key_link, __key_link_begin, __key_link_lock, key_link};
use super::permission::{KeyNeedPerm, key_task_permission};
use super::{KEY_FLAG_INVALIDATED, KEY_FLAG_REVOKED, KEY_FLAG_USER_CONSTRUCT, Key, KeyState, KeyType};

/// Models `search_process_keyrings_rcu()` for an exact (type, description)
/// match: thread, process, then session keyring trees, skipping revoked
/// and invalidated keys. Walks under `rcu_read_lock()` and returns the key
/// with a reference taken inside it (`keyring_search_rcu()`'s
/// `__key_get()`): a key unlinked meanwhile is put only after a grace
/// period.
///
/// Mirrors security/keys/process_keys.c search_process_keyrings_rcu() of 6.12, lines 539-582, fp d5235842966eb4fd.
pub fn search_process_keyrings(cx: &Cx<'_>, type_: KeyType, desc: &str) -> Option<Id<Key>> {
    crate::trace::reached("search_process_keyrings_rcu");
    let _rcu = crate::rcu::rcu_read_lock(cx);
    let reg = &cx.k.key_registry;
    let mut roots = Vec::new();
    roots.extend(reg.threads.lock().get(&cx.task.tid).copied());
    roots.extend(reg.process.get());
    roots.extend(reg.session.get());
    let mut seen = Vec::new();
    for root in roots {
        let mut stack = vec![root];
        while let Some(r) = stack.pop() {
            if seen.contains(&r) {
                continue;
            }
            seen.push(r);
            let kr = cx.k.keys.get(r);
            for child in kr.keys.rcu_get() {
                let c = cx.k.keys.get(child);
                if c.type_ == type_
                    && c.description == desc
                    && !c.test_flag(KEY_FLAG_REVOKED)
                    && !c.test_flag(KEY_FLAG_INVALIDATED)
                    && !super::key_expired(cx, child)
                {
                    return Some(key_get(cx, child));
                }
            }
            let mut nested: Vec<Id<Key>> =
                kr.keys.rcu_get().into_iter().filter(|c| cx.k.keys.get(*c).type_ == KeyType::Keyring).collect();
            nested.reverse();
            stack.extend(nested);
        }
    }
    None
}

/// Models `request_key_and_link()`: an existing key is waited for (if
/// under construction), fails with its error (if negative), and is linked
/// into the destination (LINKED); otherwise `construct_alloc_key()` makes
/// a key under construction and links it there. Returns a reference.
///
/// Mirrors security/keys/request_key.c request_key_and_link() of 6.12, lines 574-663, fp 817cf72a82d82dd5.
pub fn request_key_and_link(cx: &Cx<'_>, type_: KeyType, description: &str, dest: Option<Id<Key>>) -> KResult<Id<Key>> {
    let _f = kfn("request_key_and_link");
    if let Some(k) = search_process_keyrings(cx, type_, description) {
        let key = cx.k.keys.get(k);
        if key.test_flag(KEY_FLAG_USER_CONSTRUCT) {
            key_put(cx, k);
            return Err(Errno::ERESTARTSYS);
        }
        if let KeyState::Negative(e) = key.state.get() {
            key_put(cx, k);
            return Err(e);
        }
        if let Some(d) = dest {
            let r = key_task_permission(cx, k, true, &cx.current_cred(), KeyNeedPerm::Link)
                .and_then(|_| key_link(cx, d, k));
            if let Err(e) = r {
                key_put(cx, k);
                return Err(e);
            }
        }
        return Ok(k);
    }

    // construct_get_dest_keyring(): the default is the session keyring.
    let dest = match dest {
        Some(d) => key_get(cx, d),
        None => key_get(cx, cx.k.key_registry.session.get().ok_or(Errno::ENOKEY)?),
    };
    let r = construct_alloc_key(cx, type_, description, dest);
    key_put(cx, dest);
    r
}

/// Models `construct_alloc_key()`: allocate, mark under construction,
/// link into `dest` under its link lock and `key_construction_mutex`.
///
/// Mirrors security/keys/request_key.c construct_alloc_key() of 6.12, lines 369-484, fp 50972064a9f349ac.
fn construct_alloc_key(cx: &Cx<'_>, type_: KeyType, description: &str, dest: Id<Key>) -> KResult<Id<Key>> {
    let _f = kfn("construct_alloc_key");
    let cred = cx.current_cred();
    let mut perm = KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_LINK | KEY_POS_SETATTR;
    if type_.has_read() {
        perm |= KEY_POS_READ;
    }
    if type_ == KeyType::Keyring || type_.has_update() {
        perm |= KEY_POS_WRITE;
    }
    perm |= KEY_USR_VIEW;
    let key = key_alloc(cx, type_, description, cred.uid, cred.gid, perm, super::key::Quota::In)?;
    cx.k.keys.get(key).test_and_set_flag(KEY_FLAG_USER_CONSTRUCT);

    let kr = cx.k.keys.get(dest);
    let linked = (|| {
        let _l = __key_link_lock(cx, &kr, dest, type_)?;
        let edit = __key_link_begin(cx, dest, type_, description)?;
        let _m = cx.k.key_registry.key_construction_mutex.lock();
        __key_link(cx, &edit, key);
        Ok(())
    })();
    if let Err(e) = linked {
        key_put(cx, key);
        return Err(e);
    }
    // The authorisation records the destination.
    cx.k.keys.get(key).construction_dest.set(Some(key_get(cx, dest)));
    // The construction keeps the allocation's reference; the caller gets
    // its own.
    Ok(key_get(cx, key))
}

/// Whether the current task may instantiate `key` (it is still under
/// construction). `EPERM` otherwise, as without an authorisation key.
pub fn check_authority(cx: &Cx<'_>, key: Id<Key>) -> KResult<()> {
    if cx.k.keys.get(key).test_flag(KEY_FLAG_USER_CONSTRUCT) { Ok(()) } else { Err(Errno::EPERM) }
}

/// The construction is over (the authorisation is gone): drop its
/// references on the key and on the recorded destination.
pub fn end_construction(cx: &Cx<'_>, key: Id<Key>) {
    if let Some(d) = cx.k.keys.get(key).construction_dest.replace(None) {
        key_put(cx, d);
    }
    key_put(cx, key);
}
