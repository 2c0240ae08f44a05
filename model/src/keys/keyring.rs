//! Models security/keys/keyring.c: links and unlinks (LINKED / UNLINKED on
//! the keyring), clearing (CLEARED, even when empty), revocation and
//! destruction (silent), and the collector's pass over keyrings.

use crate::errno::{Errno, KResult};
use crate::heap::Id;
use crate::kernel::Cx;
use crate::trace::kfn;
use crate::uapi::*;

use super::key::{key_get, key_put};
use super::{KEY_FLAG_INVALIDATED, KEY_FLAG_REVOKED, Key, KeyType, notify_key};

fn same_index(cx: &Cx<'_>, a: Id<Key>, type_: KeyType, desc: &str) -> bool {
    let k = cx.k.keys.get(a);
    k.type_ == type_ && k.description == desc
}

/// The locks `__key_link_lock()` takes: `keyring_serialise_link_lock` when
/// a keyring is being linked, then the keyring's `sem`.
pub struct LinkLock<'a> {
    _sem: crate::sync::RwSemGuard<'a>,
    _serialise: Option<crate::sync::KMutexGuard<'a>>,
}

/// Models `__key_link_lock()`: `ENOTDIR` for a non-keyring, else lock it
/// for a link of a key of type `type_`.
pub fn __key_link_lock<'a>(
    cx: &'a Cx<'_>,
    kr: &'a crate::heap::Obj<Key>,
    _keyring: Id<Key>,
    type_: KeyType,
) -> KResult<LinkLock<'a>> {
    if kr.type_ != KeyType::Keyring {
        return Err(Errno::ENOTDIR);
    }
    let serialise = (type_ == KeyType::Keyring).then(|| cx.k.key_registry.keyring_serialise_link_lock.lock());
    Ok(LinkLock { _serialise: serialise, _sem: kr.sem.down_write() })
}

/// Models `__key_link_check_restriction()`: a restricted keyring refuses
/// the link (`restrict_link_reject()`: `EPERM`). Under the keyring's
/// semaphore (`__key_link_lock()`).
pub fn __key_link_check_restriction(cx: &Cx<'_>, keyring: Id<Key>) -> KResult<()> {
    if cx.k.keys.get(keyring).restricted.get() {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// Models `keyring_restrict()` for a keyring the caller may set
/// attributes of: `ENOTDIR` for a non-keyring; with a type, `ENOKEY` when
/// no such type is registered and `ENOENT` when it has no
/// `->lookup_restriction` (none of the model's types has one); without
/// one, `restrict_link_reject` is installed under `key->sem` (`EEXIST` if
/// the keyring is already restricted) and SETATTR posted.
pub fn keyring_restrict(cx: &Cx<'_>, keyring: Id<Key>, type_: Option<&str>) -> KResult<()> {
    let _f = kfn("keyring_restrict");
    let kr = cx.k.keys.get(keyring);
    if kr.type_ != KeyType::Keyring {
        return Err(Errno::ENOTDIR);
    }
    if let Some(t) = type_ {
        return Err(if KeyType::lookup(t).is_none() { Errno::ENOKEY } else { Errno::ENOENT });
    }
    let _g = kr.sem.down_write();
    if kr.restricted.get() {
        return Err(Errno::EEXIST);
    }
    kr.restricted.set(true);
    notify_key(cx, keyring, NOTIFY_KEY_SETATTR, 0);
    Ok(())
}

/// Models the checks of `__key_link_begin()`: `ENOTDIR` for a
/// non-keyring, `EKEYREVOKED` for a revoked keyring.
pub fn __key_link_begin(cx: &Cx<'_>, keyring: Id<Key>) -> KResult<()> {
    let kr = cx.k.keys.get(keyring);
    if kr.type_ != KeyType::Keyring {
        return Err(Errno::ENOTDIR);
    }
    if kr.test_flag(KEY_FLAG_REVOKED) {
        return Err(Errno::EKEYREVOKED);
    }
    Ok(())
}

/// Models `find_key_to_update()`: a direct link of the same type and
/// description that is neither revoked nor invalidated.
pub fn find_key_to_update(cx: &Cx<'_>, keyring: Id<Key>, type_: KeyType, desc: &str) -> Option<Id<Key>> {
    let kr = cx.k.keys.get(keyring);
    kr.keys.get().into_iter().find(|k| {
        let key = cx.k.keys.get(*k);
        same_index(cx, *k, type_, desc) && !key.test_flag(KEY_FLAG_INVALIDATED) && !key.test_flag(KEY_FLAG_REVOKED)
    })
}

/// Models `__key_link()`: link `key` into `keyring` (taking a reference),
/// replacing any link with the same type and description (whose reference
/// is dropped, silently), then post LINKED on the keyring.
///
/// APPROX: the displaced link's reference is dropped at once; the kernel
/// drops it after an RCU grace period.
pub fn __key_link(cx: &Cx<'_>, keyring: Id<Key>, key: Id<Key>) {
    let _f = kfn("__key_link");
    let kr = cx.k.keys.get(keyring);
    let k = cx.k.keys.get(key);
    key_get(cx, key);
    let displaced = kr.keys.with_mut(|v| match v.iter().position(|x| same_index(cx, *x, k.type_, &k.description)) {
        Some(i) => Some(std::mem::replace(&mut v[i], key)),
        None => {
            v.push(key);
            None
        }
    });
    if let Some(old) = displaced {
        key_put(cx, old);
    }
    notify_key(cx, keyring, NOTIFY_KEY_LINKED, k.key_serial());
}

/// `KEYRING_SEARCH_MAX_DEPTH`: nesting a search follows before `ELOOP`.
pub const KEYRING_SEARCH_MAX_DEPTH: usize = 6;

/// Models `keyring_detect_cycle()`: linking `key` (a keyring) into
/// `keyring` must not make `keyring` reachable from itself (`EDEADLK`),
/// and the search gives up past `KEYRING_SEARCH_MAX_DEPTH` nested
/// keyrings (`ELOOP`).
fn keyring_detect_cycle(cx: &Cx<'_>, keyring: Id<Key>, key: Id<Key>) -> KResult<()> {
    fn search(cx: &Cx<'_>, target: Id<Key>, at: Id<Key>, sp: usize) -> KResult<()> {
        if at == target {
            return Err(Errno::EDEADLK);
        }
        for child in cx.k.keys.get(at).keys.rcu_get() {
            if child == target {
                return Err(Errno::EDEADLK);
            }
            if cx.k.keys.get(child).type_ == KeyType::Keyring {
                if sp >= KEYRING_SEARCH_MAX_DEPTH {
                    return Err(Errno::ELOOP);
                }
                search(cx, target, child, sp + 1)?;
            }
        }
        Ok(())
    }
    search(cx, keyring, key, 0)
}

/// Models `key_link()` (KEYCTL_LINK's core).
pub fn key_link(cx: &Cx<'_>, keyring: Id<Key>, key: Id<Key>) -> KResult<()> {
    let _f = kfn("key_link");
    let kr = cx.k.keys.get(keyring);
    let _g = __key_link_lock(cx, &kr, keyring, cx.k.keys.get(key).type_)?;
    __key_link_begin(cx, keyring)?;
    __key_link_check_restriction(cx, keyring)?;
    // __key_link_check_live_key()
    if cx.k.keys.get(key).type_ == KeyType::Keyring {
        keyring_detect_cycle(cx, keyring, key)?;
    }
    __key_link(cx, keyring, key);
    Ok(())
}

/// Models `key_unlink()` (KEYCTL_UNLINK's core): remove the link with the
/// key's type and description (`ENOENT` if there is none), then post
/// UNLINKED on the keyring with the *argument* key's serial.
pub fn key_unlink(cx: &Cx<'_>, keyring: Id<Key>, key: Id<Key>) -> KResult<()> {
    let _f = kfn("key_unlink");
    let kr = cx.k.keys.get(keyring);
    if kr.type_ != KeyType::Keyring {
        return Err(Errno::ENOTDIR);
    }
    let _g = kr.sem.down_write();
    let k = cx.k.keys.get(key);
    let removed =
        kr.keys.with_mut(|v| v.iter().position(|x| same_index(cx, *x, k.type_, &k.description)).map(|i| v.remove(i)));
    let Some(removed) = removed else {
        return Err(Errno::ENOENT);
    };
    notify_key(cx, keyring, NOTIFY_KEY_UNLINKED, k.key_serial());
    key_put(cx, removed);
    Ok(())
}

/// Models `keyring_clear()`: drop every link and post CLEARED (also for
/// an empty keyring); `ENOTDIR` for a non-keyring.
pub fn keyring_clear(cx: &Cx<'_>, keyring: Id<Key>) -> KResult<()> {
    let _f = kfn("keyring_clear");
    let kr = cx.k.keys.get(keyring);
    if kr.type_ != KeyType::Keyring {
        return Err(Errno::ENOTDIR);
    }
    let _g = kr.sem.down_write();
    let old = kr.keys.replace(Vec::new());
    notify_key(cx, keyring, NOTIFY_KEY_CLEARED, 0);
    for k in old {
        key_put(cx, k);
    }
    Ok(())
}

/// Models `keyring_revoke()` (the keyring type's `->revoke`): drop every
/// link, posting nothing.
pub fn keyring_revoke(cx: &Cx<'_>, keyring: Id<Key>) {
    let old = cx.k.keys.get(keyring).keys.replace(Vec::new());
    for k in old {
        key_put(cx, k);
    }
}

/// Models `keyring_destroy()`: the collector frees a keyring's links,
/// posting nothing.
pub fn keyring_destroy(cx: &Cx<'_>, keyring: Id<Key>) {
    let _f = kfn("keyring_destroy");
    keyring_revoke(cx, keyring)
}

/// Models `keyring_gc()`: unlink the keys dead at time `limit`
/// ([`super::gc::key_is_dead`]), posting nothing (a revoked or
/// invalidated keyring is left alone). Returns whether anything was
/// unlinked.
pub fn keyring_gc(cx: &Cx<'_>, keyring: Id<Key>, limit: u64) -> bool {
    let kr = cx.k.keys.get(keyring);
    if kr.test_flag(KEY_FLAG_REVOKED) || kr.test_flag(KEY_FLAG_INVALIDATED) {
        return false;
    }
    let _g = kr.sem.down_write();
    let dead: Vec<Id<Key>> = kr.keys.with_mut(|v| {
        let (dead, live): (Vec<Id<Key>>, Vec<Id<Key>>) = v.iter().partition(|k| super::gc::key_is_dead(cx, **k, limit));
        *v = live;
        dead
    });
    let any = !dead.is_empty();
    for k in dead {
        key_put(cx, k);
    }
    any
}
