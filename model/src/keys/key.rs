//! Models security/keys/key.c: allocation, references, instantiation,
//! update, revocation and invalidation, each posting what Linux 6.12
//! posts.

use crate::errno::{Errno, KResult};
use crate::heap::Id;
use crate::invariant::{Inv, fail};
use crate::kernel::Cx;
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::{KCell, KWord, Kref, RwSem, instr};
use crate::trace::kfn;
use crate::uapi::*;

use super::permission::{KeyNeedPerm, key_task_permission};
use super::{
    KEY_FLAG_INVALIDATED, KEY_FLAG_REVOKED, KEY_FLAG_USER_CONSTRUCT, Key, KeyState, KeyStateWord, KeyType, KeyWatchers,
    KeyringLinks, keyring, notify_key,
};

/// Largest `user`/`logon` payload (`user_preparse`).
pub const USER_PAYLOAD_MAX: usize = 32767;

/// How `key_alloc()` charges the owner's quota (`KEY_ALLOC_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    /// `KEY_ALLOC_IN_QUOTA`: charged, and refused (`EDQUOT`) over the
    /// limit.
    In,
    /// `KEY_ALLOC_QUOTA_OVERRUN`: charged even over the limit.
    Overrun,
    /// `KEY_ALLOC_NOT_IN_QUOTA`: not charged.
    NotIn,
}

/// `KEYQUOTA_LINK_BYTES`: the quota a link in a keyring costs its owner.
pub const KEYQUOTA_LINK_BYTES: u32 = 4;

/// Whether `n` more bytes fit `used` under `max`, as the kernel's
/// unsigned sums decide (a sum that wraps does not fit).
pub(crate) fn fits(used: u32, n: u32, max: u32) -> bool {
    used.checked_add(n).is_some_and(|t| t <= max)
}

/// Models `key_alloc()`: a new, uninstantiated key with one reference,
/// entered in the serial tree. An empty description is `EINVAL`; the type
/// vets the description first (`logon` wants a `service:` prefix); then
/// the owner's quota is charged a key and `desclen + 1` bytes (the
/// types' `def_datalen` is 0), `EDQUOT` if it would pass the limit.
///
/// Mirrors security/keys/key.c key_alloc() of 6.12, lines 224-359, fp 05498263671fef62.
pub fn key_alloc(
    cx: &Cx<'_>,
    type_: KeyType,
    desc: &str,
    uid: u32,
    gid: u32,
    perm: u32,
    quota: Quota,
) -> KResult<Id<Key>> {
    let _f = kfn("key_alloc");
    if desc.is_empty() {
        return Err(Errno::EINVAL);
    }
    if type_ == KeyType::Logon {
        // logon_vet_description(): a ':' that is not the first character.
        match desc.find(':') {
            Some(i) if i > 0 => {}
            _ => return Err(Errno::EINVAL),
        }
    }
    let quotalen = desc.len() as u32 + 1;
    let user = cx.k.user(uid);
    if quota != Quota::NotIn {
        let (maxkeys, maxbytes) = cx.k.config.key_quota(uid);
        let mut q = user.key_quota.lock();
        if quota == Quota::In && (!fits(q.0, 1, maxkeys) || !fits(q.1, quotalen, maxbytes)) {
            return Err(Errno::EDQUOT);
        }
        q.0 = q.0.wrapping_add(1);
        q.1 = q.1.wrapping_add(quotalen);
    }
    if cx.k.heap.fail_nth.should_fail("key_alloc: kmem_cache_zalloc") {
        if quota != Quota::NotIn {
            let mut q = user.key_quota.lock();
            q.0 = q.0.wrapping_sub(1);
            q.1 = q.1.wrapping_sub(quotalen);
        }
        return Err(Errno::ENOMEM);
    }
    let serial = cx.k.key_registry.alloc_serial();
    let key = Key {
        security: cx.current_cred().label.clone(),
        usage: Kref::new(),
        serial,
        sem: RwSem::new("key->sem"),
        user: instr::Mutex::new(user),
        quotalen: instr::Mutex::new(quotalen),
        datalen: instr::Mutex::new(0),
        expiry: super::KTime::new(super::NO_EXPIRY),
        revoked_when: super::KTime::new(0),
        uid: KWord::new(uid),
        gid: KWord::new(gid),
        perm: KWord::new(perm),
        flags: AtomicU32::new(if quota == Quota::NotIn { 0 } else { 1 << super::KEY_FLAG_IN_QUOTA }),
        state: KeyStateWord::new(KeyState::Uninstantiated),
        type_,
        description: desc.to_string(),
        payload: KCell::new(Vec::new()),
        restricted: KCell::new(false),
        keys: KeyringLinks::new(),
        watchers: KeyWatchers::new(),
        construction_dest: KCell::new(None),
    };
    let (id, _) = cx.k.heap.alloc_in(&cx.k.keys, "key", key);
    cx.k.key_registry.tree.with(|t| t.insert(serial, id));
    Ok(id)
}

/// Models `key_put()`: the last reference gives the key's quota back to
/// its owner and schedules the collector.
///
/// Mirrors security/keys/key.c key_put() of 6.12, lines 653-673, fp 54b222ac16cf351f.
pub fn key_put(cx: &Cx<'_>, key: Id<Key>) {
    crate::trace::reached("key_put");
    let k = cx.k.keys.get(key);
    match k.usage.put() {
        Ok(true) => {
            // BUG(U1): the collector gives the quota back instead, and
            // reaps on a zero count (6.1 has no KEY_FLAG_FINAL_PUT).
            if !cx.bug(crate::bugs::Bug::U1) {
                release_quota(&k);
                // smp_mb(); key->user before FINAL_PUT set.
                k.set_flag_after_mb(super::KEY_FLAG_FINAL_PUT);
            }
            cx.k.key_registry.gc_pending.store(true, Ordering::Release)
        }
        Ok(false) => {}
        Err(_) => fail(Inv::R1, format!("refcount underflow: key#{} put with usage 0", key.index())),
    }
}

/// Give back what `key` charges its owner's quota, if it is charged
/// (`KEY_FLAG_IN_QUOTA`): a key and its `quotalen` bytes.
pub fn release_quota(k: &Key) {
    if k.test_flag(super::KEY_FLAG_IN_QUOTA) {
        let user = k.user.lock().clone();
        let mut q = user.key_quota.lock();
        q.0 = q.0.wrapping_sub(1);
        q.1 = q.1.wrapping_sub(*k.quotalen.lock());
    }
}

/// Models `key_payload_reserve()`: move the owner's quota charge for
/// `key`'s payload to `datalen` bytes; `EDQUOT` (and no change) if growing
/// it would pass the owner's byte limit.
///
/// Mirrors security/keys/key.c key_payload_reserve() of 6.12, lines 373-405, fp 50276e8610fa1b31.
pub fn key_payload_reserve(cx: &Cx<'_>, key: Id<Key>, datalen: u32) -> KResult<()> {
    crate::trace::reached("key_payload_reserve");
    let k = cx.k.keys.get(key);
    // The flag test is a scheduling point: it comes before the
    // instrumentation locks below, which none may hold across one.
    let in_quota = k.test_flag(super::KEY_FLAG_IN_QUOTA);
    let mut dl = k.datalen.lock();
    let delta = i64::from(datalen) - i64::from(*dl);
    if delta != 0 && in_quota {
        let user = k.user.lock().clone();
        let (_, maxbytes) = cx.k.config.key_quota(user.uid);
        let mut q = user.key_quota.lock();
        if delta > 0 && !fits(q.1, delta as u32, maxbytes) {
            return Err(Errno::EDQUOT);
        }
        q.1 = (i64::from(q.1) + delta) as u32;
        let mut ql = k.quotalen.lock();
        *ql = (i64::from(*ql) + delta) as u32;
    }
    *dl = datalen;
    Ok(())
}

/// Models `__key_get()`.
///
/// Mirrors include/linux/key.h __key_get() of 6.12, lines 312-316, fp e01a6e8f3d9f114e.
pub fn key_get(cx: &Cx<'_>, key: Id<Key>) -> Id<Key> {
    crate::trace::reached("__key_get");
    cx.k.keys.get(key).usage.get();
    key
}

/// Models `key_lookup()`: find a key by serial and take a reference;
/// `ENOKEY` if there is none or its last reference is gone.
///
/// Mirrors security/keys/key.c key_lookup() of 6.12, lines 679-713, fp 67857a373e9f11f8.
pub fn key_lookup(cx: &Cx<'_>, serial: i32) -> KResult<Id<Key>> {
    crate::trace::reached("key_lookup");
    cx.k.key_registry.tree.with(|t| {
        let id = t.get(&serial).copied().ok_or(Errno::ENOKEY)?;
        let k = cx.k.keys.get(id);
        // refcount_inc_not_zero(): a key whose last reference is gone
        // (the collector will take it out of the tree) is not revived.
        if !k.usage.get_unless_zero() {
            return Err(Errno::ENOKEY);
        }
        Ok(id)
    })
}

/// Models `mark_key_instantiated()`: positive (`None`) or negative with
/// the rejection error.
///
/// Mirrors security/keys/key.c mark_key_instantiated() of 6.12, lines 411-418, fp df7bc85ae3d66fbd.
pub fn mark_key_instantiated(cx: &Cx<'_>, key: Id<Key>, reject_error: Option<Errno>) {
    crate::trace::reached("mark_key_instantiated");
    let k = cx.k.keys.get(key);
    k.state.set(match reject_error {
        None => KeyState::Positive,
        Some(e) => KeyState::Negative(e),
    });
}

/// The type's `->preparse` check of a payload.
pub fn preparse(type_: KeyType, payload: &[u8]) -> KResult<()> {
    match type_ {
        KeyType::User | KeyType::Logon => {
            if payload.is_empty() || payload.len() > USER_PAYLOAD_MAX {
                return Err(Errno::EINVAL);
            }
        }
        KeyType::Keyring => {
            if !payload.is_empty() {
                return Err(Errno::EINVAL);
            }
        }
    }
    Ok(())
}

/// Models `__key_instantiate_and_link()`: instantiate an uninstantiated
/// key (INSTANTIATED on the key), then link it (LINKED on the keyring).
/// `EBUSY` if the key was already instantiated.
///
/// Mirrors security/keys/key.c __key_instantiate_and_link() of 6.12, lines 426-480, fp d9b1acc45d1fcd98.
pub fn __key_instantiate_and_link(
    cx: &Cx<'_>,
    key: Id<Key>,
    payload: &[u8],
    edit: Option<&keyring::LinkEdit<'_, '_>>,
) -> KResult<()> {
    let _f = kfn("__key_instantiate_and_link");
    let k = cx.k.keys.get(key);
    let mut ret = Err(Errno::EBUSY);
    let _m = cx.k.key_registry.key_construction_mutex.lock();
    if k.state.get() == KeyState::Uninstantiated {
        // key->type->instantiate(): generic_key_instantiate() charges a
        // user key's payload to the quota (keyrings charge nothing here).
        if k.type_ != KeyType::Keyring {
            key_payload_reserve(cx, key, payload.len() as u32)?;
        }
        k.payload.set(payload.to_vec());
        ret = Ok(());
        mark_key_instantiated(cx, key, None);
        notify_key(cx, key, NOTIFY_KEY_INSTANTIATED, 0);
        k.clear_flag(KEY_FLAG_USER_CONSTRUCT);
        if let Some(edit) = edit {
            keyring::__key_link(cx, edit, key);
        }
    }
    ret
}

/// Models `key_instantiate_and_link()` (KEYCTL_INSTANTIATE's core): the
/// destination is locked for the link (`__key_link_lock` and
/// `__key_link_begin`) around the instantiation.
///
/// Mirrors security/keys/key.c key_instantiate_and_link() of 6.12, lines 498-549, fp 0857a7f9a72c8e3a.
pub fn key_instantiate_and_link(cx: &Cx<'_>, key: Id<Key>, payload: &[u8], keyring: Option<Id<Key>>) -> KResult<()> {
    let _f = kfn("key_instantiate_and_link");
    preparse(cx.k.keys.get(key).type_, payload)?;
    let kr = keyring.map(|kr| cx.k.keys.get(kr));
    let k = cx.k.keys.get(key);
    let _l = match (&kr, keyring) {
        (Some(r), Some(id)) => Some(keyring::__key_link_lock(cx, r, id, k.type_)?),
        _ => None,
    };
    let edit = match keyring {
        Some(id) => {
            let edit = keyring::__key_link_begin(cx, id, k.type_, &k.description)?;
            keyring::__key_link_check_restriction(cx, id)?;
            Some(edit)
        }
        None => None,
    };
    __key_instantiate_and_link(cx, key, payload, edit.as_ref())
}

/// Models `key_reject_and_link()`: negatively instantiate with `error`
/// (INSTANTIATED with `aux = -error`), then link if asked. Also returns
/// whether this call instantiated the key: only that call ends the
/// construction, even when the link fails.
///
/// Mirrors security/keys/key.c key_reject_and_link() of 6.12, lines 574-642, fp 3633823e88e28103.
pub fn key_reject_and_link(
    cx: &Cx<'_>,
    key: Id<Key>,
    timeout: u32,
    error: Errno,
    keyring: Option<Id<Key>>,
) -> (KResult<()>, bool) {
    let _f = kfn("key_reject_and_link");
    let k = cx.k.keys.get(key);
    let mut link_ret = Ok(());
    let kr_obj = keyring.map(|kr| cx.k.keys.get(kr));
    let _l = match (&kr_obj, keyring) {
        (Some(r), Some(id)) => match keyring::__key_link_lock(cx, r, id, k.type_) {
            Ok(g) => Some(g),
            Err(e) => {
                link_ret = Err(e);
                None
            }
        },
        _ => None,
    };
    let mut edit = None;
    if let (Some(kr), Ok(())) = (keyring, link_ret) {
        // The restriction is tested under the keyring's semaphore, and a
        // restricted destination ends the call before the rejection.
        if cx.k.keys.get(kr).restricted.get() {
            return (Err(Errno::EPERM), false);
        }
        match keyring::__key_link_begin(cx, kr, k.type_, &k.description) {
            Ok(e) => edit = Some(e),
            Err(e) => link_ret = Err(e),
        }
    }
    let mut ret = Err(Errno::EBUSY);
    let _m = cx.k.key_registry.key_construction_mutex.lock();
    if k.state.get() == KeyState::Uninstantiated {
        mark_key_instantiated(cx, key, Some(error));
        notify_key(cx, key, NOTIFY_KEY_INSTANTIATED, (error.number() as u32).wrapping_neg());
        super::gc::key_set_expiry(cx, key, cx.k.now() + timeout as u64);
        k.clear_flag(KEY_FLAG_USER_CONSTRUCT);
        ret = Ok(());
        if let Some(edit) = &edit {
            keyring::__key_link(cx, edit, key);
        }
    }
    // Whether this call instantiated the key, ending its construction (the
    // kernel invalidates the authorisation key there, under the mutex).
    let instantiated = ret.is_ok();
    let r = match ret {
        Ok(()) => link_ret,
        Err(e) => Err(e),
    };
    (r, instantiated)
}

/// Models `__key_update()` (the add_key path): needs write permission;
/// UPDATED on the key when the type's update succeeds (a negative key
/// becomes positive).
///
/// Mirrors security/keys/key.c __key_update() of 6.12, lines 771-806, fp 2d543c5f3e371e28.
pub fn __key_update(cx: &Cx<'_>, key: Id<Key>, possessed: bool, payload: &[u8]) -> KResult<Id<Key>> {
    let _f = kfn("__key_update");
    let k = cx.k.keys.get(key);
    key_task_permission(cx, key, possessed, &cx.current_cred(), KeyNeedPerm::Write)?;
    if !k.type_.has_update() {
        return Err(Errno::EEXIST);
    }
    let _g = k.sem.down_write();
    user_update(cx, key, payload)?;
    mark_key_instantiated(cx, key, None);
    notify_key(cx, key, NOTIFY_KEY_UPDATED, 0);
    Ok(key)
}

/// Models `user_update()` (security/keys/user_defined.c), the `user` and
/// `logon` types' `->update`: the new payload, and `key->expiry =
/// prep->expiry`, which is `TIME64_MAX` for every update from user space:
/// an update takes a key's timeout away. The new payload is charged to
/// the quota first (`EDQUOT`: nothing changes).
fn user_update(cx: &Cx<'_>, key: Id<Key>, payload: &[u8]) -> KResult<()> {
    key_payload_reserve(cx, key, payload.len() as u32)?;
    let k = cx.k.keys.get(key);
    k.payload.set(payload.to_vec());
    k.expiry.set(super::NO_EXPIRY);
    Ok(())
}

/// Models `key_create_or_update()` (add_key's core): update a matching
/// key of an updatable type in place (UPDATED, no LINKED), else create,
/// instantiate and link a new key (LINKED on the keyring), displacing any
/// same-type same-description link silently.
///
/// Mirrors security/keys/key.c key_create_or_update() of 6.12, lines 1019-1029, fp 68950f6c1396a8f7.
pub fn key_create_or_update(
    cx: &Cx<'_>,
    keyring: Id<Key>,
    keyring_possessed: bool,
    type_: KeyType,
    description: &str,
    payload: &[u8],
) -> KResult<Id<Key>> {
    let _f = kfn("key_create_or_update");
    let kr = cx.k.keys.get(keyring);
    if kr.type_ != KeyType::Keyring {
        return Err(Errno::ENOTDIR);
    }
    preparse(type_, payload)?;
    let link_lock = keyring::__key_link_lock(cx, &kr, keyring, type_)?;
    let edit = keyring::__key_link_begin(cx, keyring, type_, description)?;
    keyring::__key_link_check_restriction(cx, keyring)?;
    key_task_permission(cx, keyring, keyring_possessed, &cx.current_cred(), KeyNeedPerm::Write)?;

    if type_.has_update() {
        if let Some(existing) = keyring::find_key_to_update(cx, keyring, type_, description) {
            // __key_link_end(): the edit is cancelled (its quota given
            // back) and the keyring unlocked before the update.
            drop(edit);
            drop(link_lock);
            // A key still under construction is waited for
            // (wait_for_key_construction: the sequential model is
            // interrupted there).
            if cx.k.keys.get(existing).test_flag(KEY_FLAG_USER_CONSTRUCT) {
                return Err(Errno::ERESTARTSYS);
            }
            key_get(cx, existing);
            let r = __key_update(cx, existing, keyring_possessed, payload);
            if r.is_err() {
                key_put(cx, existing);
            }
            return r;
        }
    }

    let cred = cx.current_cred();
    let mut perm = KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_LINK | KEY_POS_SETATTR;
    if type_.has_read() {
        perm |= KEY_POS_READ;
    }
    if type_ == KeyType::Keyring || type_.has_update() {
        perm |= KEY_POS_WRITE;
    }
    perm |= KEY_USR_VIEW;
    let key = key_alloc(cx, type_, description, cred.uid, cred.gid, perm, Quota::In)?;
    if let Err(e) = __key_instantiate_and_link(cx, key, payload, Some(&edit)) {
        key_put(cx, key);
        return Err(e);
    }
    Ok(key)
}

/// Models `key_update()` (KEYCTL_UPDATE): `EOPNOTSUPP` for types without
/// `->update`; UPDATED on success.
///
/// Mirrors security/keys/key.c key_update() of 6.12, lines 1082-1125, fp df3eff3c3f2e18b1.
pub fn key_update(cx: &Cx<'_>, key: Id<Key>, possessed: bool, payload: &[u8]) -> KResult<()> {
    let _f = kfn("key_update");
    let k = cx.k.keys.get(key);
    key_task_permission(cx, key, possessed, &cx.current_cred(), KeyNeedPerm::Write)?;
    if !k.type_.has_update() {
        return Err(Errno::EOPNOTSUPP);
    }
    preparse(k.type_, payload)?;
    let _g = k.sem.down_write();
    user_update(cx, key, payload)?;
    mark_key_instantiated(cx, key, None);
    notify_key(cx, key, NOTIFY_KEY_UPDATED, 0);
    Ok(())
}

/// Models `key_revoke()`: the first revocation posts REVOKED, then the
/// type's `->revoke` (a keyring drops all its links, silently).
///
/// Mirrors security/keys/key.c key_revoke() of 6.12, lines 1137-1163, fp ce1ffab134fc315d.
pub fn key_revoke(cx: &Cx<'_>, key: Id<Key>) {
    let _f = kfn("key_revoke");
    let k = cx.k.keys.get(key);
    let _g = k.sem.down_write();
    if !k.test_and_set_flag(KEY_FLAG_REVOKED) {
        notify_key(cx, key, NOTIFY_KEY_REVOKED, 0);
        if k.type_ == KeyType::Keyring {
            keyring::keyring_revoke(cx, key);
        } else {
            // user_revoke(): the payload's quota is given back.
            let _ = key_payload_reserve(cx, key, 0);
        }
        // Set the death time, and arm the collector for key_gc_delay later.
        // `revoked_at` is `expiry` (a union): the collector's key_is_dead()
        // then finds the key dead key_gc_delay after its revocation.
        let now = cx.k.now();
        k.revoked_when.set(now);
        let revoked_at = k.expiry.get();
        let keeps = cx.k.config.mutant == Some(crate::kernel::Mutant::RevokeKeepsExpiry);
        if (revoked_at == 0 || revoked_at > now) && !keeps {
            k.expiry.set(now);
        }
        if revoked_at == 0 || revoked_at > now {
            super::gc::key_schedule_gc(cx, now + cx.k.config.key_gc_delay);
        }
    }
}

/// Models `key_invalidate()`: the first invalidation posts INVALIDATED and
/// schedules the collector, which unlinks the key from every keyring.
///
/// Mirrors security/keys/key.c key_invalidate() of 6.12, lines 1173-1187, fp 8acfa11aad019431.
pub fn key_invalidate(cx: &Cx<'_>, key: Id<Key>) {
    let _f = kfn("key_invalidate");
    let k = cx.k.keys.get(key);
    if !k.test_flag(KEY_FLAG_INVALIDATED) {
        let _g = k.sem.down_write();
        if !k.test_and_set_flag(KEY_FLAG_INVALIDATED) {
            notify_key(cx, key, NOTIFY_KEY_INVALIDATED, 0);
            cx.k.key_registry.gc_pending.store(true, Ordering::Release);
        }
    }
}

/// Models `key_set_timeout()`: the key expires `timeout` seconds from now
/// (0: never), and the collector is due `key_gc_delay` after that.
///
/// Mirrors security/keys/key.c key_set_timeout() of 6.12, lines 742-754, fp 86a8dbb1f635f5ac.
pub fn key_set_timeout(cx: &Cx<'_>, key: Id<Key>, timeout: u32) {
    crate::trace::reached("key_set_timeout");
    let k = cx.k.keys.get(key);
    let _g = k.sem.down_write();
    set_timeout_locked(cx, key, timeout);
}

/// The body of `key_set_timeout()`, under `key->sem`.
pub fn set_timeout_locked(cx: &Cx<'_>, key: Id<Key>, timeout: u32) {
    let expiry = if timeout == 0 { super::NO_EXPIRY } else { cx.k.now() + timeout as u64 };
    super::gc::key_set_expiry(cx, key, expiry);
}
