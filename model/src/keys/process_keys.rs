//! Models security/keys/process_keys.c: `lookup_user_key()`, which turns a
//! serial or a special keyring id into a key reference, checking
//! construction state, validity and permission.

use crate::errno::{Errno, KResult};
use crate::heap::Id;
use crate::kernel::Cx;
use crate::sync::Arc;
use crate::uapi::*;

use super::key::{Quota, key_alloc, key_get, key_lookup, key_put, mark_key_instantiated};
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

/// Whether `key` is reachable from the thread, process or session keyring
/// through keyrings (`search_process_keyrings_rcu()` finding it).
fn is_possessed(cx: &Cx<'_>, key: Id<Key>) -> bool {
    // The walk reads keyrings' links under rcu_read_lock(), as the
    // search does: a key just unlinked is put only after a grace period.
    let _rcu = crate::rcu::rcu_read_lock(cx);
    let reg = &cx.k.key_registry;
    let mut stack: Vec<Id<Key>> = Vec::new();
    stack.extend(reg.session.get());
    stack.extend(reg.process.get());
    stack.extend(reg.threads.lock().get(&cx.task.tid).copied());
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
            stack.extend(kk.keys.rcu_get());
        }
    }
    false
}

/// Models `look_up_user_keyrings()`: the user keyring `_uid.N` and the
/// user session keyring `_uid_ses.N` (which links it), created on first
/// use. Returns (user keyring, user session keyring).
///
/// Mirrors security/keys/process_keys.c look_up_user_keyrings() of 6.12, lines 74-179, fp e9bf6d850c2a2e8d.
pub fn look_up_user_keyrings(cx: &Cx<'_>) -> KResult<(Id<Key>, Id<Key>)> {
    crate::trace::reached("look_up_user_keyrings");
    let cred = cx.current_cred();
    if let (Some(u), Some(s)) = (cred.user.uid_keyring.get(), cred.user.session_keyring.get()) {
        return Ok((u, s));
    }
    let perm = (KEY_POS_ALL & !KEY_POS_SETATTR) | KEY_USR_ALL;
    let u = key_alloc(cx, KeyType::Keyring, &format!("_uid.{}", cred.uid), cred.uid, cred.gid, perm, Quota::In)?;
    mark_key_instantiated(cx, u, None);
    let s = key_alloc(cx, KeyType::Keyring, &format!("_uid_ses.{}", cred.uid), cred.uid, cred.gid, perm, Quota::In)?;
    mark_key_instantiated(cx, s, None);
    super::keyring::key_link(cx, s, u)?;
    cred.user.uid_keyring.set(Some(u));
    cred.user.session_keyring.set(Some(s));
    Ok((u, s))
}

/// Models `install_thread_keyring()` / `install_process_keyring()`: a new
/// keyring owned by the credentials.
///
/// Mirrors security/keys/process_keys.c install_thread_keyring() of 6.12, lines 244-260, fp 60d0aa0584bfe521.
/// Mirrors security/keys/process_keys.c install_process_keyring() of 6.12, lines 291-307, fp 331893d758ff38c7.
fn install_keyring(cx: &Cx<'_>, name: &str) -> KResult<Id<Key>> {
    crate::trace::reached("install_thread_keyring");
    let cred = cx.current_cred();
    let k = key_alloc(cx, KeyType::Keyring, name, cred.uid, cred.gid, KEY_POS_ALL | KEY_USR_VIEW, Quota::Overrun)?;
    mark_key_instantiated(cx, k, None);
    Ok(k)
}

/// Models `wait_for_key_construction()`: a key under construction makes
/// the caller sleep (interrupted in the sequential model); a negative key
/// returns its error; otherwise `key_validate()`.
///
/// Mirrors security/keys/request_key.c wait_for_key_construction() of 6.12, lines 676-688, fp 89cbd29bbee41e99.
fn wait_for_key_construction(cx: &Cx<'_>, key: Id<Key>) -> KResult<()> {
    crate::trace::reached("wait_for_key_construction");
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
    let reg = &cx.k.key_registry;
    let (key, possessed) = match id {
        KEY_SPEC_THREAD_KEYRING => {
            let existing = reg.threads.lock().get(&cx.task.tid).copied();
            let k = match existing {
                Some(k) => k,
                None if lflags & KEY_LOOKUP_CREATE != 0 => {
                    let k = install_keyring(cx, "_tid")?;
                    reg.threads.lock().insert(cx.task.tid, k);
                    k
                }
                None => return Err(Errno::ENOKEY),
            };
            (key_get(cx, k), true)
        }
        KEY_SPEC_PROCESS_KEYRING => {
            let k = match reg.process.get() {
                Some(k) => k,
                None if lflags & KEY_LOOKUP_CREATE != 0 => {
                    let k = install_keyring(cx, "_pid")?;
                    reg.process.set(Some(k));
                    k
                }
                None => return Err(Errno::ENOKEY),
            };
            (key_get(cx, k), true)
        }
        KEY_SPEC_SESSION_KEYRING => {
            let ses = reg.session.get().ok_or(Errno::ENOKEY)?;
            (key_get(cx, ses), true)
        }
        KEY_SPEC_USER_KEYRING => {
            let (u, _) = look_up_user_keyrings(cx)?;
            (key_get(cx, u), true)
        }
        KEY_SPEC_USER_SESSION_KEYRING => {
            let (_, s) = look_up_user_keyrings(cx)?;
            (key_get(cx, s), true)
        }
        // Group keyrings are not supported.
        KEY_SPEC_GROUP_KEYRING => return Err(Errno::EINVAL),
        // No request_key authorisation is ever assumed (see request_key).
        KEY_SPEC_REQKEY_AUTH_KEY | KEY_SPEC_REQUESTOR_KEYRING => return Err(Errno::ENOKEY),
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

/// Models `find_keyring_by_name(name, false)`: the first keyring, in the
/// order their names were published (`keyring_publish_name()` on
/// instantiation: every keyring whose description does not start with
/// `.`), that is not revoked, has this description, grants the caller
/// search permission without possession, and still has a reference (which
/// it takes). `ENOKEY` if none does.
fn find_keyring_by_name(cx: &Cx<'_>, name: &str) -> KResult<Id<Key>> {
    let cred = cx.current_cred();
    // Arena order is allocation order, and a keyring is published right
    // after it is allocated.
    for (id, k) in cx.k.keys.all() {
        if !crate::heap::Obj::hdr(&k).is_live()
            || k.type_ != KeyType::Keyring
            || k.description.starts_with('.')
            || k.state.get() != KeyState::Positive
            || k.test_flag(super::KEY_FLAG_REVOKED)
            || k.description != name
        {
            continue;
        }
        if key_task_permission(cx, id, false, &cred, KeyNeedPerm::Search).is_err() {
            continue;
        }
        if !k.usage.get_unless_zero() {
            continue;
        }
        return Ok(id);
    }
    Err(Errno::ENOKEY)
}

/// Models `install_session_keyring_to_cred()` and the `commit_creds()`
/// that follows: `keyring` (or, for `None`, a new anonymous `_ses`
/// keyring) becomes the session keyring, with a reference of its own. The
/// credentials it replaces are freed after an RCU grace period
/// (`put_cred_rcu()`), which puts the old session keyring: if that was its
/// last reference, it dies only then, and the collector posts its
/// watchers' removal records.
///
/// Mirrors security/keys/process_keys.c install_session_keyring_to_cred() of 6.12, lines 317-347, fp 6b6ddbabfec0b633.
/// Mirrors kernel/cred.c commit_creds() of 6.12, lines 392-459, fp ffb3f03539970158.
fn install_session_keyring(cx: &Cx<'_>, keyring: Option<Id<Key>>) -> KResult<Id<Key>> {
    crate::trace::reached("install_session_keyring_to_cred");
    let cred = cx.current_cred();
    let keyring = match keyring {
        None => {
            let perm = KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ;
            // Charged within the quota: the process had a session keyring.
            let k = key_alloc(cx, KeyType::Keyring, "_ses", cred.uid, cred.gid, perm, Quota::In)?;
            mark_key_instantiated(cx, k, None);
            k
        }
        Some(k) => key_get(cx, k),
    };
    let old = cx.k.key_registry.session.replace(Some(keyring));
    // commit_creds(): the task's credentials are new; the old ones keep
    // the old session keyring while anything else holds them (an open
    // file's f_cred, a watch's cred), and put it when they are freed.
    let old_cred = cx.task.cred.replace(Arc::new(cred.copy()));
    if let Some(old) = old {
        let put = move |cx: &Cx<'_>| key_put(cx, old);
        *old_cred.put_cred_rcu.lock() = Some(crate::rcu::RcuCallback::Call("put_cred_rcu", Box::new(put)));
    }
    crate::kernel::put_cred(cx, &old_cred);
    Ok(keyring)
}

/// Models `join_session_keyring()` (KEYCTL_JOIN_SESSION_KEYRING, after
/// `keyctl_join_session_keyring()` refused a name starting with `.` with
/// `EPERM`): without a name, a new anonymous session keyring; with one,
/// the keyring of that name the caller may search (see
/// [`find_keyring_by_name`]), else a new keyring of that name. Returns the
/// new session keyring's serial, or 0 when the named keyring is already
/// the session keyring.
///
/// APPROX: the model's threads share one session keyring; in the kernel
/// the call replaces the calling thread's credentials only, and other
/// threads' credentials keep the old keyring.
///
/// Mirrors security/keys/process_keys.c join_session_keyring() of 6.12, lines 836-904, fp 8461339a9e77aabd.
pub fn join_session_keyring(cx: &Cx<'_>, name: Option<&str>) -> KResult<i64> {
    let _f = crate::trace::kfn("join_session_keyring");
    let Some(name) = name else {
        let k = install_session_keyring(cx, None)?;
        return Ok(i64::from(cx.k.keys.get(k).serial));
    };
    let keyring = match find_keyring_by_name(cx, name) {
        Ok(k) if Some(k) == cx.k.key_registry.session.get() => {
            key_put(cx, k);
            return Ok(0);
        }
        Ok(k) => k,
        Err(Errno::ENOKEY) => {
            let cred = cx.current_cred();
            let perm = KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_LINK;
            let k = key_alloc(cx, KeyType::Keyring, name, cred.uid, cred.gid, perm, Quota::In)?;
            mark_key_instantiated(cx, k, None);
            k
        }
        Err(e) => return Err(e),
    };
    let ret = install_session_keyring(cx, Some(keyring)).map(|k| i64::from(cx.k.keys.get(k).serial));
    key_put(cx, keyring);
    ret
}
