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
///
/// Mirrors security/keys/keyring.c __key_link_lock() of 6.12, lines 1252-1269, fp 1e1e27443289447a.
pub fn __key_link_lock<'a>(
    cx: &'a Cx<'_>,
    kr: &'a crate::heap::Obj<Key>,
    _keyring: Id<Key>,
    type_: KeyType,
) -> KResult<LinkLock<'a>> {
    crate::trace::reached("__key_link_lock");
    if kr.type_ != KeyType::Keyring {
        return Err(Errno::ENOTDIR);
    }
    let serialise = (type_ == KeyType::Keyring).then(|| cx.k.key_registry.keyring_serialise_link_lock.lock());
    Ok(LinkLock { _serialise: serialise, _sem: kr.sem.down_write() })
}

/// Models `__key_link_check_restriction()`: a restricted keyring refuses
/// the link (`restrict_link_reject()`: `EPERM`). Under the keyring's
/// semaphore (`__key_link_lock()`).
///
/// Mirrors security/keys/keyring.c __key_link_check_restriction() of 6.12, lines 1423-1429, fp bc6c39660359bee3.
pub fn __key_link_check_restriction(cx: &Cx<'_>, keyring: Id<Key>) -> KResult<()> {
    crate::trace::reached("__key_link_check_restriction");
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
///
/// Mirrors security/keys/keyring.c keyring_restrict() of 6.12, lines 1036-1096, fp b813b35bb4aa63b8.
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

/// The edit `__key_link_begin()` prepares: a link into `keyring` of a key
/// with the given index key, and whether it reserved quota for it (a new
/// link, not one that replaces a link with the same type and description
/// in place, `edit->dead_leaf`). [`__key_link`] applies it; dropped
/// unapplied, it is `__key_link_end()` cancelling it, which gives the
/// reservation back.
pub struct LinkEdit<'a, 'k> {
    cx: &'a Cx<'k>,
    pub keyring: Id<Key>,
    reserved: bool,
    applied: std::cell::Cell<bool>,
}

impl Drop for LinkEdit<'_, '_> {
    fn drop(&mut self) {
        if self.reserved && !self.applied.get() {
            let dl = *self.cx.k.keys.get(self.keyring).datalen.lock();
            let _ = super::key::key_payload_reserve(self.cx, self.keyring, dl - super::key::KEYQUOTA_LINK_BYTES);
        }
    }
}

/// Models `__key_link_begin()`: `ENOTDIR` for a non-keyring,
/// `EKEYREVOKED` for a revoked keyring; then, unless the link will replace
/// one with the same index key in place, 4 more bytes of the keyring
/// owner's quota (`key_payload_reserve()`, `EDQUOT`).
///
/// Mirrors security/keys/keyring.c __key_link_begin() of 6.12, lines 1308-1358, fp 97ea1bfe42e57e6d.
pub fn __key_link_begin<'a, 'k>(
    cx: &'a Cx<'k>,
    keyring: Id<Key>,
    type_: KeyType,
    desc: &str,
) -> KResult<LinkEdit<'a, 'k>> {
    crate::trace::reached("__key_link_begin");
    let kr = cx.k.keys.get(keyring);
    if kr.type_ != KeyType::Keyring {
        return Err(Errno::ENOTDIR);
    }
    if kr.test_flag(KEY_FLAG_REVOKED) {
        return Err(Errno::EKEYREVOKED);
    }
    let replaces = kr.keys.get().iter().any(|x| same_index(cx, *x, type_, desc));
    if !replaces {
        let dl = *kr.datalen.lock();
        super::key::key_payload_reserve(cx, keyring, dl + super::key::KEYQUOTA_LINK_BYTES)?;
    }
    Ok(LinkEdit { cx, keyring, reserved: !replaces, applied: std::cell::Cell::new(false) })
}

/// Models `find_key_to_update()`: a direct link of the same type and
/// description that is neither revoked nor invalidated.
///
/// Mirrors security/keys/keyring.c find_key_to_update() of 6.12, lines 1113-1144, fp d0941b53ff89ee41.
pub fn find_key_to_update(cx: &Cx<'_>, keyring: Id<Key>, type_: KeyType, desc: &str) -> Option<Id<Key>> {
    crate::trace::reached("find_key_to_update");
    let kr = cx.k.keys.get(keyring);
    kr.keys.get().into_iter().find(|k| {
        let key = cx.k.keys.get(*k);
        same_index(cx, *k, type_, desc) && !key.test_flag(KEY_FLAG_INVALIDATED) && !key.test_flag(KEY_FLAG_REVOKED)
    })
}

/// Models `__key_link()`: link `key` into `keyring` (taking a reference),
/// replacing any link with the same type and description (whose reference
/// is dropped silently, after an RCU grace period), then post LINKED on
/// the keyring.
///
/// Mirrors security/keys/keyring.c __key_link() of 6.12, lines 1383-1391, fp 1bb8741fe5107163.
pub fn __key_link(cx: &Cx<'_>, edit: &LinkEdit<'_, '_>, key: Id<Key>) {
    let _f = kfn("__key_link");
    edit.applied.set(true);
    let keyring = edit.keyring;
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
    put_excised(cx, displaced.into_iter().collect());
    notify_key(cx, keyring, NOTIFY_KEY_LINKED, k.key_serial());
}

/// The links an edit took out of a keyring are put after an RCU grace
/// period: `assoc_array_apply_edit()` (and `assoc_array_gc()`) leave the
/// old nodes to `assoc_array_rcu_cleanup()`, whose `keyring_free_object()`
/// puts each excised key. Until then the keys keep their references (and
/// their quota).
fn put_excised(cx: &Cx<'_>, keys: Vec<Id<Key>>) {
    if keys.is_empty() {
        return;
    }
    let put = move |cx: &Cx<'_>| {
        for k in keys {
            key_put(cx, k);
        }
    };
    crate::rcu::call_rcu(cx, crate::rcu::RcuCallback::Call("assoc_array_rcu_cleanup", Box::new(put)));
}

/// `KEYRING_SEARCH_MAX_DEPTH`: nesting a search follows before `ELOOP`.
pub const KEYRING_SEARCH_MAX_DEPTH: usize = 6;

/// Models `keyring_detect_cycle()`: linking `key` (a keyring) into
/// `keyring` must not make `keyring` reachable from itself (`EDEADLK`),
/// and the search gives up past `KEYRING_SEARCH_MAX_DEPTH` nested
/// keyrings (`ELOOP`).
///
/// Mirrors security/keys/keyring.c keyring_detect_cycle() of 6.12, lines 1229-1247, fp ae1da4477e19c960.
fn keyring_detect_cycle(cx: &Cx<'_>, keyring: Id<Key>, key: Id<Key>) -> KResult<()> {
    crate::trace::reached("keyring_detect_cycle");
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
    // keyring_search_rcu() under rcu_read_lock(): a key unlinked meanwhile
    // is put only after a grace period.
    let _rcu = crate::rcu::rcu_read_lock(cx);
    search(cx, keyring, key, 0)
}

/// Models `key_link()` (KEYCTL_LINK's core).
///
/// Mirrors security/keys/keyring.c key_link() of 6.12, lines 1451-1481, fp bb5863b5b6aef457.
pub fn key_link(cx: &Cx<'_>, keyring: Id<Key>, key: Id<Key>) -> KResult<()> {
    let _f = kfn("key_link");
    let kr = cx.k.keys.get(keyring);
    let k = cx.k.keys.get(key);
    let _g = __key_link_lock(cx, &kr, keyring, k.type_)?;
    let edit = __key_link_begin(cx, keyring, k.type_, &k.description)?;
    __key_link_check_restriction(cx, keyring)?;
    // __key_link_check_live_key()
    if k.type_ == KeyType::Keyring {
        keyring_detect_cycle(cx, keyring, key)?;
    }
    __key_link(cx, &edit, key);
    Ok(())
}

/// Models `key_unlink()` (KEYCTL_UNLINK's core): remove the link with the
/// key's type and description (`ENOENT` if there is none), then post
/// UNLINKED on the keyring with the *argument* key's serial.
///
/// Mirrors security/keys/keyring.c key_unlink() of 6.12, lines 1561-1578, fp 659a9ab180a5ca2c.
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
    let dl = *kr.datalen.lock();
    let _ = super::key::key_payload_reserve(cx, keyring, dl.saturating_sub(super::key::KEYQUOTA_LINK_BYTES));
    put_excised(cx, vec![removed]);
    Ok(())
}

/// Models `keyring_clear()`: drop every link and post CLEARED (also for
/// an empty keyring); `ENOTDIR` for a non-keyring.
///
/// Mirrors security/keys/keyring.c keyring_clear() of 6.12, lines 1663-1686, fp 9080de3305aeac8a.
pub fn keyring_clear(cx: &Cx<'_>, keyring: Id<Key>) -> KResult<()> {
    let _f = kfn("keyring_clear");
    let kr = cx.k.keys.get(keyring);
    if kr.type_ != KeyType::Keyring {
        return Err(Errno::ENOTDIR);
    }
    let _g = kr.sem.down_write();
    let old = kr.keys.replace(Vec::new());
    // The mutant `clear-unnotified` (no kernel bug): the clear is posted
    // to nobody, which only a watcher's mirror notices (M1).
    if cx.k.config.mutant != Some(crate::kernel::Mutant::ClearUnnotified) {
        notify_key(cx, keyring, NOTIFY_KEY_CLEARED, 0);
    }
    let _ = super::key::key_payload_reserve(cx, keyring, 0);
    put_excised(cx, old);
    Ok(())
}

/// Models `keyring_revoke()` (the keyring type's `->revoke`): drop every
/// link, posting nothing, and give back their quota.
///
/// Mirrors security/keys/keyring.c keyring_revoke() of 6.12, lines 1694-1704, fp 668d8cb0209b9140.
pub fn keyring_revoke(cx: &Cx<'_>, keyring: Id<Key>) {
    crate::trace::reached("keyring_revoke");
    let old = cx.k.keys.get(keyring).keys.replace(Vec::new());
    let _ = super::key::key_payload_reserve(cx, keyring, 0);
    put_excised(cx, old);
}

/// Models `keyring_destroy()`: the collector frees a keyring's links,
/// posting nothing.
///
/// Mirrors security/keys/keyring.c keyring_destroy() of 6.12, lines 424-444, fp fd723e5f76d057be.
pub fn keyring_destroy(cx: &Cx<'_>, keyring: Id<Key>) {
    let _f = kfn("keyring_destroy");
    for k in cx.k.keys.get(keyring).keys.replace(Vec::new()) {
        key_put(cx, k);
    }
}

/// Models `keyring_gc()`: unlink the keys dead at time `limit`
/// ([`super::gc::key_is_dead`]), posting nothing (a revoked or
/// invalidated keyring is left alone). Returns whether anything was
/// unlinked. As in the kernel (`assoc_array_gc()` alone), the links'
/// quota stays charged to the keyring's owner (finding F6), and the
/// keyring's watchers are not told (finding F9).
///
/// Catalog switches here: F6 (on: the quota kept), F9 (on: no
/// `NOTIFY_KEY_UNLINKED`; off, the proposed fix, posts one per key
/// unlinked, under `keyring->sem` like every other unlink).
///
/// Mirrors security/keys/keyring.c keyring_gc() of 6.12, lines 1732-1760, fp 243898d09b9b47be.
pub fn keyring_gc(cx: &Cx<'_>, keyring: Id<Key>, limit: u64) -> bool {
    crate::trace::reached("keyring_gc");
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
    // FIX(F9): tell the keyring's watchers of each link removed, as
    // key_unlink() does; the kernel's keyring_gc() posts nothing.
    if !cx.bug(crate::bugs::Bug::F9) {
        for d in &dead {
            let serial = cx.k.keys.get(*d).key_serial();
            notify_key(cx, keyring, NOTIFY_KEY_UNLINKED, serial);
        }
    }
    // FIX(F6): give back the quota of the links removed. The kernel's
    // keyring_gc() does not: assoc_array_gc() alone leaves them charged.
    if any && !cx.bug(crate::bugs::Bug::F6) {
        let dl = *kr.datalen.lock();
        let freed = dead.len() as u32 * super::key::KEYQUOTA_LINK_BYTES;
        let _ = super::key::key_payload_reserve(cx, keyring, dl.saturating_sub(freed));
    }
    put_excised(cx, dead);
    any
}
