//! Models security/keys/process_keys.c: `lookup_user_key()`, which turns a
//! serial or a special keyring id into a key reference, checking
//! construction state, validity and permission.

use crate::errno::{Errno, KResult};
use crate::heap::Id;
use crate::kernel::Cx;
use crate::uapi::*;

use super::key::{key_alloc, key_get, key_lookup, key_put, mark_key_instantiated};
use super::permission::{KeyNeedPerm, key_task_permission, key_validate};
use super::{KEY_FLAG_USER_CONSTRUCT, Key, KeyState, KeyType};

/// `KEY_LOOKUP_CREATE`.
pub const KEY_LOOKUP_CREATE: u32 = 0x01;
/// `KEY_LOOKUP_PARTIAL`: accept keys that are not (positively) instantiated.
pub const KEY_LOOKUP_PARTIAL: u32 = 0x02;

/// A key reference with its possession bit (`key_ref_t`). The holder owns
/// one reference on the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub key: Id<Key>,
    pub possessed: bool,
}

/// Whether `key` is reachable from the session keyring through keyrings
/// (`search_process_keyrings_rcu()` finding it).
fn is_possessed(cx: &Cx<'_>, key: Id<Key>) -> bool {
    let Some(ses) = cx.k.key_registry.session.get() else {
        return false;
    };
    let mut stack = vec![ses];
    let mut seen = Vec::new();
    while let Some(k) = stack.pop() {
        if k == key {
            return true;
        }
        if seen.contains(&k) {
            continue;
        }
        seen.push(k);
        let kk = cx.k.keys.get(k);
        if kk.type_ == KeyType::Keyring {
            stack.extend(kk.keys.get());
        }
    }
    false
}

/// `look_up_user_keyrings()`: the user keyring `_uid.N`, created on first use.
fn user_keyring(cx: &Cx<'_>) -> KResult<Id<Key>> {
    let cred = cx.current_cred();
    if let Some(k) = cred.user.uid_keyring.get() {
        return Ok(k);
    }
    let perm = (KEY_POS_ALL & !KEY_POS_SETATTR) | KEY_USR_ALL;
    let k = key_alloc(cx, KeyType::Keyring, &format!("_uid.{}", cred.uid), cred.uid, cred.gid, perm)?;
    mark_key_instantiated(cx, k, None);
    cred.user.uid_keyring.set(Some(k));
    Ok(k)
}

/// Models `wait_for_key_construction()`: a key under construction makes
/// the caller sleep (interrupted in the sequential model); a negative key
/// returns its error; otherwise `key_validate()`.
fn wait_for_key_construction(cx: &Cx<'_>, key: Id<Key>) -> KResult<()> {
    let k = cx.k.keys.get(key);
    if k.test_flag(KEY_FLAG_USER_CONSTRUCT) {
        return Err(Errno::ERESTARTSYS);
    }
    if let KeyState::Negative(e) = k.state.get() {
        return Err(e);
    }
    key_validate(cx, key)
}

/// Models `lookup_user_key(id, lflags, need_perm)`.
pub fn lookup_user_key(cx: &Cx<'_>, id: i32, lflags: u32, need: KeyNeedPerm) -> KResult<KeyRef> {
    let (key, possessed) = match id {
        KEY_SPEC_SESSION_KEYRING => {
            let ses = cx.k.key_registry.session.get().ok_or(Errno::ENOKEY)?;
            (key_get(cx, ses), true)
        }
        KEY_SPEC_USER_KEYRING => {
            let k = user_keyring(cx)?;
            (key_get(cx, k), true)
        }
        KEY_SPEC_THREAD_KEYRING | KEY_SPEC_PROCESS_KEYRING | KEY_SPEC_USER_SESSION_KEYRING => {
            return Err(Errno::ENOKEY);
        }
        id if id < 1 => return Err(Errno::EINVAL),
        id => {
            let k = key_lookup(cx, id)?;
            (k, is_possessed(cx, k))
        }
    };
    let kref = KeyRef { key, possessed };
    let check = || -> KResult<()> {
        // Unlink does not use the nominated key in any way.
        if need != KeyNeedPerm::Unlink {
            if lflags & KEY_LOOKUP_PARTIAL == 0 {
                wait_for_key_construction(cx, key)?;
            } else {
                key_validate(cx, key)?;
            }
            if lflags & KEY_LOOKUP_PARTIAL == 0 && cx.k.keys.get(key).state.get() == KeyState::Uninstantiated {
                return Err(Errno::EIO);
            }
        }
        key_task_permission(cx, key, possessed, &cx.current_cred(), need)
    };
    match check() {
        Ok(()) => Ok(kref),
        Err(e) => {
            key_put(cx, key);
            Err(e)
        }
    }
}
