//! Models security/keys/keyctl.c: the `add_key`, `request_key` and
//! `keyctl` entry points the notification queue cares about, in the C
//! file's order, each returning what userspace sees.

use crate::errno::{Errno, KResult};
use crate::kernel::Cx;
use crate::lsm;
use crate::trace::kfn;
use crate::uapi::*;
use crate::watch_queue::{
    add_watch_to_object, get_watch_queue, init_watch, init_watch_list, put_watch_queue, remove_watch_from_object,
};

use super::key::{self, key_put};
use super::keyring;
use super::permission::KeyNeedPerm;
use super::process_keys::{KEY_LOOKUP_CREATE, KEY_LOOKUP_PARTIAL, KeyRef, lookup_user_key};
use super::request_key;
use super::{KeyType, notify_key};

/// Largest payload `add_key` accepts.
pub const ADD_KEY_PAYLOAD_MAX: usize = 1024 * 1024 - 1;

fn put(cx: &Cx<'_>, r: KeyRef) {
    key_put(cx, r.key)
}

/// `key_get_type_from_user()`: `EINVAL` for an empty type or one that
/// does not fit the 32-byte buffer, `EPERM` for an internal (`.`) type.
fn key_get_type_from_user(type_: &str) -> KResult<()> {
    if type_.is_empty() || type_.len() >= 32 {
        return Err(Errno::EINVAL);
    }
    if type_.starts_with('.') {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// Models `SYSCALL_DEFINE5(add_key)` and `__key_create_or_update()`'s
/// checks, in the kernel's order: payload size, type string, a dotted
/// keyring description, the keyring lookup, then (in
/// `key_create_or_update`) the type (`ENODEV`), `ENOTDIR`, the payload,
/// and an empty description. Returns the serial of the key created or
/// updated.
///
/// Mirrors security/keys/keyctl.c sys_add_key() of 6.12, lines 74-152, fp 8b47900f26e12c6a.
/// Mirrors security/keys/key.c __key_create_or_update() of 6.12, lines 812-992, fp c9beac51b6ae91d5.
pub fn sys_add_key(cx: &Cx<'_>, type_: &str, description: &str, payload: &[u8], ringid: i32) -> KResult<i64> {
    let _f = kfn("sys_add_key");
    if payload.len() > ADD_KEY_PAYLOAD_MAX {
        return Err(Errno::EINVAL);
    }
    key_get_type_from_user(type_)?;
    if description.starts_with('.') && type_.starts_with("keyring") {
        return Err(Errno::EPERM);
    }
    let kr = lookup_user_key(cx, ringid, KEY_LOOKUP_CREATE, KeyNeedPerm::Write)?;
    let r = (|| {
        let t = KeyType::lookup(type_).ok_or(Errno::ENODEV)?;
        if cx.k.keys.get(kr.key).type_ != KeyType::Keyring {
            return Err(Errno::ENOTDIR);
        }
        key::preparse(t, payload)?;
        // An empty description was turned into NULL; the types here
        // supply none from the payload.
        if description.is_empty() {
            return Err(Errno::EINVAL);
        }
        key::key_create_or_update(cx, kr.key, kr.possessed, t, description, payload)
    })();
    put(cx, kr);
    let k = r?;
    let serial = cx.k.keys.get(k).serial;
    key_put(cx, k);
    Ok(serial as i64)
}

/// Models `SYSCALL_DEFINE4(request_key)` with callout information given
/// (so a missing key is constructed), up to the upcall (see
/// [`request_key`](super::request_key)): the type string, the destination
/// (0: the default, the session keyring), then the type (`ENOKEY`).
///
/// Mirrors security/keys/keyctl.c sys_request_key() of 6.12, lines 167-249, fp dc6dd731252eec0c.
pub fn sys_request_key(cx: &Cx<'_>, type_: &str, description: &str, destringid: i32) -> KResult<i64> {
    let _f = kfn("sys_request_key");
    key_get_type_from_user(type_)?;
    let dest = if destringid != 0 {
        Some(lookup_user_key(cx, destringid, KEY_LOOKUP_CREATE, KeyNeedPerm::Write)?)
    } else {
        None
    };
    let r = (|| {
        let t = KeyType::lookup(type_).ok_or(Errno::ENOKEY)?;
        request_key::request_key_and_link(cx, t, description, dest.map(|d| d.key))
    })();
    if let Some(d) = dest {
        put(cx, d);
    }
    let k = r?;
    let serial = cx.k.keys.get(k).serial;
    key_put(cx, k);
    Ok(serial as i64)
}

/// Models `keyctl_update_key()` (KEYCTL_UPDATE).
///
/// Mirrors security/keys/keyctl.c keyctl_update_key() of 6.12, lines 325-365, fp 1ff138164ea45aae.
pub fn keyctl_update_key(cx: &Cx<'_>, id: i32, payload: &[u8]) -> KResult<i64> {
    let _f = kfn("keyctl_update_key");
    if payload.len() > cx.k.config.page_size as usize {
        return Err(Errno::EINVAL);
    }
    let r = lookup_user_key(cx, id, 0, KeyNeedPerm::Write)?;
    let ret = key::key_update(cx, r.key, r.possessed, payload);
    put(cx, r);
    ret.map(|_| 0)
}

/// Models `keyctl_read_key()` (KEYCTL_READ) of a keyring: the serials it
/// links, in link order. Any lookup failure is `ENOKEY`, as in the
/// kernel; read permission, or possession when it is refused.
///
/// DEVIATION: the scenario operation reads keyrings only: another key
/// (whose read returns its payload) gives `ENOTDIR`.
///
/// Mirrors security/keys/keyctl.c keyctl_read_key() of 6.12, lines 831-933, fp 7b4a80e228935c7d.
pub fn keyctl_read_key(cx: &Cx<'_>, id: i32) -> KResult<Vec<u32>> {
    let _f = kfn("keyctl_read_key");
    let r = lookup_user_key(cx, id, 0, KeyNeedPerm::Unspecified).map_err(|_| Errno::ENOKEY)?;
    let ret = (|| {
        match super::permission::key_task_permission(cx, r.key, r.possessed, &cx.current_cred(), KeyNeedPerm::Read) {
            Err(Errno::EACCES) if r.possessed => {}
            other => other?,
        }
        let k = cx.k.keys.get(r.key);
        if k.type_ != super::KeyType::Keyring {
            return Err(Errno::ENOTDIR);
        }
        let _g = k.sem.down_read();
        Ok(k.keys.get().into_iter().map(|id| cx.k.keys.get(id).key_serial()).collect())
    })();
    put(cx, r);
    ret
}

/// Models `keyctl_revoke_key()` (KEYCTL_REVOKE): write permission, or
/// setattr permission when write is refused.
///
/// Mirrors security/keys/keyctl.c keyctl_revoke_key() of 6.12, lines 379-407, fp aab1926f44a21838.
pub fn keyctl_revoke_key(cx: &Cx<'_>, id: i32) -> KResult<i64> {
    let _f = kfn("keyctl_revoke_key");
    let r = match lookup_user_key(cx, id, 0, KeyNeedPerm::Write) {
        Err(Errno::EACCES) => lookup_user_key(cx, id, 0, KeyNeedPerm::Setattr)?,
        other => other?,
    };
    key::key_revoke(cx, r.key);
    put(cx, r);
    Ok(0)
}

/// Models `keyctl_invalidate_key()` (KEYCTL_INVALIDATE).
///
/// Mirrors security/keys/keyctl.c keyctl_invalidate_key() of 6.12, lines 420-458, fp 5747d1651b67c676.
pub fn keyctl_invalidate_key(cx: &Cx<'_>, id: i32) -> KResult<i64> {
    let _f = kfn("keyctl_invalidate_key");
    let r = lookup_user_key(cx, id, 0, KeyNeedPerm::Search)?;
    key::key_invalidate(cx, r.key);
    put(cx, r);
    Ok(0)
}

/// Models `keyctl_keyring_clear()` (KEYCTL_CLEAR).
///
/// Mirrors security/keys/keyctl.c keyctl_keyring_clear() of 6.12, lines 467-502, fp 2179b0417c12712c.
pub fn keyctl_keyring_clear(cx: &Cx<'_>, ringid: i32) -> KResult<i64> {
    let _f = kfn("keyctl_keyring_clear");
    let r = lookup_user_key(cx, ringid, KEY_LOOKUP_CREATE, KeyNeedPerm::Write)?;
    let ret = keyring::keyring_clear(cx, r.key);
    put(cx, r);
    ret.map(|_| 0)
}

/// Models `keyctl_keyring_link()` (KEYCTL_LINK).
///
/// Mirrors security/keys/keyctl.c keyctl_keyring_link() of 6.12, lines 515-539, fp 7716d88db4ebbe37.
pub fn keyctl_keyring_link(cx: &Cx<'_>, id: i32, ringid: i32) -> KResult<i64> {
    let _f = kfn("keyctl_keyring_link");
    let kr = lookup_user_key(cx, ringid, KEY_LOOKUP_CREATE, KeyNeedPerm::Write)?;
    let k = match lookup_user_key(cx, id, KEY_LOOKUP_CREATE, KeyNeedPerm::Link) {
        Ok(k) => k,
        Err(e) => {
            put(cx, kr);
            return Err(e);
        }
    };
    let ret = keyring::key_link(cx, kr.key, k.key);
    put(cx, k);
    put(cx, kr);
    ret.map(|_| 0)
}

/// Models `keyctl_keyring_unlink()` (KEYCTL_UNLINK).
///
/// Mirrors security/keys/keyctl.c keyctl_keyring_unlink() of 6.12, lines 552-583, fp f46ba94992cd2321.
pub fn keyctl_keyring_unlink(cx: &Cx<'_>, id: i32, ringid: i32) -> KResult<i64> {
    let _f = kfn("keyctl_keyring_unlink");
    let kr = lookup_user_key(cx, ringid, 0, KeyNeedPerm::Write)?;
    let k = match lookup_user_key(cx, id, KEY_LOOKUP_PARTIAL, KeyNeedPerm::Unlink) {
        Ok(k) => k,
        Err(e) => {
            put(cx, kr);
            return Err(e);
        }
    };
    let ret = keyring::key_unlink(cx, kr.key, k.key);
    put(cx, k);
    put(cx, kr);
    ret.map(|_| 0)
}

/// Models `keyctl_chown_key()` (KEYCTL_CHOWN): SETATTR whenever something
/// was asked to change, even to the same owner.
///
/// Mirrors security/keys/keyctl.c keyctl_chown_key() of 6.12, lines 950-1065, fp 801e5700bcdc2067.
pub fn keyctl_chown_key(cx: &Cx<'_>, id: i32, user: i32, group: i32) -> KResult<i64> {
    let _f = kfn("keyctl_chown_key");
    if user == -1 && group == -1 {
        return Ok(0);
    }
    let r = lookup_user_key(cx, id, KEY_LOOKUP_CREATE | KEY_LOOKUP_PARTIAL, KeyNeedPerm::Setattr)?;
    let k = cx.k.keys.get(r.key);
    let cred = cx.current_cred();
    let ret = {
        let _g = k.sem.down_write();
        let allowed = cred.privileged
            || ((user == -1 || k.uid.get() == user as u32)
                && (group == -1 || group as u32 == k.gid.get() || group as u32 == cred.gid));
        if !allowed {
            Err(Errno::EACCES)
        } else if user != -1 && user as u32 != k.uid.get() {
            // The quota burden moves to the new owner, EDQUOT if it does
            // not fit that owner's limits.
            chown_quota(cx, &k, user as u32)
        } else {
            Ok(())
        }
        .map(|()| {
            if user != -1 {
                k.uid.set(user as u32);
            }
            if group != -1 {
                k.gid.set(group as u32);
            }
            notify_key(cx, r.key, NOTIFY_KEY_SETATTR, 0);
            0
        })
    };
    put(cx, r);
    ret
}

/// The quota transfer of `keyctl_chown_key()`: a key in quota is charged
/// to `uid` (`EDQUOT` past its limits) and given back by its old owner;
/// the key's `user` becomes the new owner's.
fn chown_quota(cx: &Cx<'_>, k: &super::Key, uid: u32) -> KResult<()> {
    let newowner = cx.k.user(uid);
    if k.test_flag(super::KEY_FLAG_IN_QUOTA) {
        let (maxkeys, maxbytes) = cx.k.config.key_quota(uid);
        let quotalen = *k.quotalen.lock();
        {
            let mut q = newowner.key_quota.lock();
            if !super::key::fits(q.0, 1, maxkeys) || !super::key::fits(q.1, quotalen, maxbytes) {
                return Err(Errno::EDQUOT);
            }
            q.0 += 1;
            q.1 += quotalen;
        }
        let old = k.user.lock().clone();
        let mut q = old.key_quota.lock();
        q.0 = q.0.wrapping_sub(1);
        q.1 = q.1.wrapping_sub(quotalen);
    }
    *k.user.lock() = newowner;
    Ok(())
}

/// Models `keyctl_setperm_key()` (KEYCTL_SETPERM): `EINVAL` for unknown
/// bits; the owner (or `CAP_SYS_ADMIN`) sets them and SETATTR is posted.
///
/// Mirrors security/keys/keyctl.c keyctl_setperm_key() of 6.12, lines 1074-1108, fp 1856694a58668a10.
pub fn keyctl_setperm_key(cx: &Cx<'_>, id: i32, perm: u32) -> KResult<i64> {
    let _f = kfn("keyctl_setperm_key");
    if perm & !(KEY_POS_ALL | KEY_USR_ALL | KEY_GRP_ALL | KEY_OTH_ALL) != 0 {
        return Err(Errno::EINVAL);
    }
    let r = lookup_user_key(cx, id, KEY_LOOKUP_CREATE | KEY_LOOKUP_PARTIAL, KeyNeedPerm::Setattr)?;
    let k = cx.k.keys.get(r.key);
    let cred = cx.current_cred();
    let ret = {
        let _g = k.sem.down_write();
        if k.uid.get() == cred.uid || cred.privileged {
            k.perm.set(perm);
            notify_key(cx, r.key, NOTIFY_KEY_SETATTR, 0);
            Ok(0)
        } else {
            Err(Errno::EACCES)
        }
    };
    put(cx, r);
    ret
}

/// Models `get_instantiation_keyring()`: 0 links nowhere, a serial names
/// the keyring, `KEY_SPEC_REQKEY_AUTH_KEY` is `EINVAL`, the other special
/// ids mean the destination recorded when the key was requested, anything
/// lower is `ENOKEY`. Returns a reference.
///
/// Mirrors security/keys/keyctl.c get_instantiation_keyring() of 6.12, lines 1114-1146, fp c05a67113909e4c0.
fn get_instantiation_keyring(
    cx: &Cx<'_>,
    ringid: i32,
    target: crate::heap::Id<super::Key>,
) -> KResult<Option<crate::heap::Id<super::Key>>> {
    crate::trace::reached("get_instantiation_keyring");
    if ringid == 0 {
        return Ok(None);
    }
    if ringid > 0 {
        return Ok(Some(lookup_user_key(cx, ringid, KEY_LOOKUP_CREATE, KeyNeedPerm::Write)?.key));
    }
    if ringid == KEY_SPEC_REQKEY_AUTH_KEY {
        return Err(Errno::EINVAL);
    }
    if ringid >= KEY_SPEC_REQUESTOR_KEYRING {
        return Ok(cx.k.keys.get(target).construction_dest.get().map(|d| key::key_get(cx, d)));
    }
    Err(Errno::ENOKEY)
}

/// Models `keyctl_instantiate_key()` (KEYCTL_INSTANTIATE), for a key the
/// calling task is constructing: INSTANTIATED on the key, LINKED on the
/// destination keyring if one is named.
///
/// Mirrors security/keys/keyctl.c keyctl_instantiate_key() of 6.12, lines 1257-1275, fp aded7fc77ce25535.
pub fn keyctl_instantiate_key(cx: &Cx<'_>, id: i32, payload: &[u8], ringid: i32) -> KResult<i64> {
    let _f = kfn("keyctl_instantiate_key");
    if payload.len() > ADD_KEY_PAYLOAD_MAX {
        return Err(Errno::EINVAL);
    }
    let target = super::key::key_lookup(cx, id).map_err(|_| Errno::EPERM)?;
    let ret = (|| {
        request_key::check_authority(cx, target)?;
        let dest = get_instantiation_keyring(cx, ringid, target)?;
        let r = key::key_instantiate_and_link(cx, target, payload, dest);
        if let Some(d) = dest {
            key_put(cx, d);
        }
        r?;
        // The authorisation goes once the key is instantiated.
        request_key::end_construction(cx, target);
        Ok(0)
    })();
    key_put(cx, target);
    ret
}

/// Models `keyctl_reject_key()` (KEYCTL_REJECT; KEYCTL_NEGATE is `error =
/// ENOKEY`): negatively instantiate a key under construction.
///
/// Mirrors security/keys/keyctl.c keyctl_reject_key() of 6.12, lines 1342-1397, fp 391dd38fafd6a8f9.
pub fn keyctl_reject_key(cx: &Cx<'_>, id: i32, timeout: u32, error: i32, ringid: i32) -> KResult<i64> {
    let _f = kfn("keyctl_reject_key");
    // Not a valid errno for userspace: 0, negative, >= MAX_ERRNO, or one
    // of the kernel-internal restart codes.
    if error <= 0 || error >= 4095 || [512, 513, 514, 516].contains(&error) {
        return Err(Errno::EINVAL);
    }
    let err = Errno::from_any(error);
    let target = super::key::key_lookup(cx, id).map_err(|_| Errno::EPERM)?;
    let ret = (|| {
        request_key::check_authority(cx, target)?;
        let dest = get_instantiation_keyring(cx, ringid, target)?;
        let (r, instantiated) = key::key_reject_and_link(cx, target, timeout, err, dest);
        if let Some(d) = dest {
            key_put(cx, d);
        }
        if instantiated {
            request_key::end_construction(cx, target);
        }
        r.map(|_| 0)
    })();
    key_put(cx, target);
    ret
}

/// Models `keyctl_set_timeout()` (KEYCTL_SET_TIMEOUT): SETATTR always.
///
/// Mirrors security/keys/keyctl.c keyctl_set_timeout() of 6.12, lines 1470-1510, fp ae839162431139b9.
pub fn keyctl_set_timeout(cx: &Cx<'_>, id: i32, timeout: u32) -> KResult<i64> {
    let _f = kfn("keyctl_set_timeout");
    let r = lookup_user_key(cx, id, KEY_LOOKUP_CREATE | KEY_LOOKUP_PARTIAL, KeyNeedPerm::Setattr)?;
    if cx.bug(crate::bugs::Bug::F1) {
        // BUG(F1): key_set_timeout() drops key->sem before the notification
        // is posted, so an unwatch can slip in between.
        key::key_set_timeout(cx, r.key, timeout);
        notify_key(cx, r.key, NOTIFY_KEY_SETATTR, 0);
    } else {
        // The proposed fix: post under key->sem, like every other SETATTR.
        let k = cx.k.keys.get(r.key);
        let _g = k.sem.down_write();
        key::set_timeout_locked(cx, r.key, timeout);
        notify_key(cx, r.key, NOTIFY_KEY_SETATTR, 0);
    }
    put(cx, r);
    Ok(0)
}

/// Models `keyctl_join_session_keyring()` (KEYCTL_JOIN_SESSION_KEYRING):
/// a name starting with `.` is `EPERM`; then `join_session_keyring()`.
///
/// Mirrors security/keys/keyctl.c keyctl_join_session_keyring() of 6.12, lines 288-313, fp 8bf7ec52e4f4fa0b.
pub fn keyctl_join_session_keyring(cx: &Cx<'_>, name: Option<&str>) -> KResult<i64> {
    let _f = kfn("keyctl_join_session_keyring");
    if name.is_some_and(|n| n.starts_with('.')) {
        return Err(Errno::EPERM);
    }
    super::process_keys::join_session_keyring(cx, name)
}

/// Models `keyctl_restrict_keyring()` (KEYCTL_RESTRICT_KEYRING): the
/// keyring needs SETATTR permission; a type (`EINVAL`/`EPERM` for a bad
/// type string) comes with a restriction string; then `keyring_restrict()`.
///
/// Mirrors security/keys/keyctl.c keyctl_restrict_keyring() of 6.12, lines 1742-1778, fp 642fc00a56c2d15c.
pub fn keyctl_restrict_keyring(cx: &Cx<'_>, id: i32, type_restriction: Option<(&str, &str)>) -> KResult<i64> {
    let _f = kfn("keyctl_restrict_keyring");
    let r = lookup_user_key(cx, id, 0, KeyNeedPerm::Setattr)?;
    let ret = (|| {
        if let Some((t, _)) = type_restriction {
            key_get_type_from_user(t)?;
        }
        keyring::keyring_restrict(cx, r.key, type_restriction.map(|(t, _)| t))
    })();
    put(cx, r);
    ret.map(|()| 0)
}

/// Models `keyctl_watch_key()` (KEYCTL_WATCH_KEY): `watch_id` 0..=255 adds
/// a watch with that tag; -1 removes this queue's watch (posting a removal
/// record), `EBADSLT` if there is none.
///
/// Mirrors security/keys/keyctl.c keyctl_watch_key() of 6.12, lines 1786-1861, fp a2a0fd398763783d.
pub fn keyctl_watch_key(cx: &Cx<'_>, id: i32, watch_queue_fd: i32, watch_id: i32) -> KResult<i64> {
    let _f = kfn("keyctl_watch_key");
    if !(-1..=0xff).contains(&watch_id) {
        return Err(Errno::EINVAL);
    }
    let key_ref = lookup_user_key(cx, id, KEY_LOOKUP_CREATE, KeyNeedPerm::View)?;
    let key = key_ref.key;
    let k = cx.k.keys.get(key);

    let wqueue = match get_watch_queue(cx, watch_queue_fd) {
        Ok(w) => w,
        Err(e) => {
            key_put(cx, key);
            return Err(e);
        }
    };

    let ret: KResult<i64>;
    if watch_id >= 0 {
        'add: {
            let mut wlist = None;
            if k.watchers.get(cx).is_none() {
                wlist = init_watch_list(cx, None);
                if wlist.is_none() {
                    ret = Err(Errno::ENOMEM);
                    break 'add;
                }
            }
            let Some(watch) = init_watch(cx, wqueue, k.key_serial() as u64, (watch_id as u32) << WATCH_INFO_ID__SHIFT)
            else {
                if let Some(wl) = wlist {
                    free_unused(cx, cx.k.wlists.get(wl).as_ref());
                }
                ret = Err(Errno::ENOMEM);
                break 'add;
            };

            if let Err(e) = lsm::security_watch_key(cx, &k.description, &k.security) {
                free_unused(cx, cx.k.watches.get(watch).as_ref());
                if let Some(wl) = wlist {
                    free_unused(cx, cx.k.wlists.get(wl).as_ref());
                }
                ret = Err(e);
                break 'add;
            }

            let g = k.sem.down_write();
            if k.watchers.get(cx).is_none() {
                k.watchers.replace(cx, wlist.take());
            }
            let r = add_watch_to_object(cx, watch, k.watchers.get(cx).expect("installed above"));
            drop(g);

            if r.is_err() {
                free_unused(cx, cx.k.watches.get(watch).as_ref());
            }
            if let Some(wl) = wlist {
                free_unused(cx, cx.k.wlists.get(wl).as_ref());
            }
            ret = r.map(|_| 0);
        }
    } else {
        ret = match k.watchers.get(cx) {
            None => Err(Errno::EBADSLT),
            Some(wl) => {
                let _g = k.sem.down_write();
                remove_watch_from_object(cx, wl, Some(wqueue), k.key_serial() as u64, false).map(|_| 0)
            }
        };
    }

    put_watch_queue(cx, wqueue);
    key_put(cx, key);
    ret
}

/// `kfree()` of a watch or watch list that was never published.
fn free_unused<T>(cx: &Cx<'_>, obj: &crate::heap::Obj<T>) {
    cx.k.heap.kfree(crate::heap::Obj::hdr(obj));
}
