//! Models security/keys/gc.c: the key garbage collector. It unlinks
//! invalidated keys from every keyring (silently), then destroys keys
//! whose last reference is gone: `remove_watch_list()` posts a removal
//! record to every queue watching the key, then the key is freed (a
//! keyring first drops its links, which may free more keys on a later
//! pass).

use crate::heap::{Id, Obj};
use crate::kernel::Cx;
use crate::sync::atomic::Ordering;
use crate::trace::kfn;
use crate::watch_queue::remove_watch_list;

use super::{KEY_FLAG_DEAD, KEY_FLAG_INVALIDATED, Key, KeyType, NO_EXPIRY, keyring};
use crate::sync::instr;

/// Models `key_is_dead()` (security/keys/internal.h): whether the
/// collector unlinks `key` from keyrings at time `limit`: it expired (or
/// was revoked: `revoked_at` is `expiry`) `key_gc_delay` seconds ago or
/// more, or is dead or invalidated.
///
/// Mirrors security/keys/internal.h key_is_dead() of 6.12, lines 219-234, fp 899daf50692123c9.
pub fn key_is_dead(cx: &Cx<'_>, key: Id<Key>, limit: u64) -> bool {
    crate::trace::reached("key_is_dead");
    let k = cx.k.keys.get(key);
    let expiry = k.expiry.get();
    if expiry != NO_EXPIRY && expiry.saturating_add(cx.k.config.key_gc_delay) <= limit {
        return true;
    }
    k.test_flag(KEY_FLAG_DEAD) || k.test_flag(KEY_FLAG_INVALIDATED)
}

/// Models `key_schedule_gc()`: run the collector now if `gc_at` has come,
/// else arm `key_gc_timer` for it (if earlier than the armed time).
///
/// Mirrors security/keys/gc.c key_schedule_gc() of 6.12, lines 51-67, fp b7055d5e227f1c52.
pub fn key_schedule_gc(cx: &Cx<'_>, gc_at: u64) {
    crate::trace::reached("key_schedule_gc");
    let reg = &cx.k.key_registry;
    if gc_at <= cx.k.now() {
        reg.gc_pending.store(true, Ordering::Release);
    } else {
        reg.gc_next_run.fetch_min(gc_at, instr::Ordering::SeqCst);
    }
}

/// Models `key_set_expiry()`: set the expiry and schedule the collector
/// for `key_gc_delay` after it.
///
/// Mirrors security/keys/gc.c key_set_expiry() of 6.12, lines 72-80, fp c64fb5e9aa9b6c33.
pub fn key_set_expiry(cx: &Cx<'_>, key: Id<Key>, expiry: u64) {
    crate::trace::reached("key_set_expiry");
    cx.k.keys.get(key).expiry.set(expiry);
    if expiry != NO_EXPIRY {
        key_schedule_gc(cx, expiry.saturating_add(cx.k.config.key_gc_delay));
    }
}

/// Models `key_gc_timer_func()` when the clock has passed the armed time:
/// disarm, and schedule a pass that reaps links (`key_schedule_gc_links`).
///
/// Mirrors security/keys/gc.c key_gc_timer_func() of 6.12, lines 95-100, fp 812374e4f62a5be7.
pub fn key_gc_timer_expired(cx: &Cx<'_>) {
    crate::trace::reached("key_gc_timer_func");
    let reg = &cx.k.key_registry;
    let at = reg.gc_next_run.load(instr::Ordering::SeqCst);
    if at != NO_EXPIRY && at <= cx.k.now() {
        reg.gc_next_run.store(NO_EXPIRY, instr::Ordering::SeqCst);
        reg.gc_pending.store(true, Ordering::Release);
    }
}

/// Whether the collector may reap `key`: `KEY_FLAG_FINAL_PUT` is set
/// (6.12: `key_put()` sets it after its last touch of the key, with a full
/// barrier the collector's pairs with); with U1 on (6.1, whose `key_put()`
/// touches nothing after the count reaches zero), the count is zero.
fn unreferenced(cx: &Cx<'_>, key: &Key) -> bool {
    if cx.bug(crate::bugs::Bug::U1) { key.usage.read() == 0 } else { key.test_flag(super::KEY_FLAG_FINAL_PUT) }
}

/// Models one run of `key_garbage_collector()`. Returns whether it reaped
/// or unlinked anything (the caller runs it again until it does not).
///
/// Mirrors security/keys/gc.c key_garbage_collector() of 6.12, lines 178-372, fp 742f817a7e742caa.
pub fn key_garbage_collector(cx: &Cx<'_>) -> bool {
    let reg = &cx.k.key_registry;
    if !reg.gc_pending.swap(false, Ordering::AcqRel) {
        return false;
    }
    let _f = kfn("key_garbage_collector");
    let mut did = false;
    let limit = cx.k.now();

    // Unlink dead keys (key_is_dead) from every keyring.
    let all: Vec<Id<Key>> = reg.tree.with(|t| t.values().copied().collect());
    for k in &all {
        let key = cx.k.keys.get(*k);
        if key.type_ == KeyType::Keyring && key.usage.read() > 0 {
            did |= keyring::keyring_gc(cx, *k, limit);
        }
    }

    // Keys that expire later: arm the timer for the first of them.
    let delay = cx.k.config.key_gc_delay;
    let next = all
        .iter()
        .map(|k| cx.k.keys.get(*k).expiry.get())
        .filter(|e| *e != NO_EXPIRY)
        .map(|e| e.saturating_add(delay))
        .filter(|at| *at > limit)
        .min();
    if let Some(at) = next {
        key_schedule_gc(cx, at);
    }

    // Reap unreferenced keys, in serial order.
    let graveyard: Vec<Id<Key>> = reg.tree.with(|tree| {
        let dead: Vec<(i32, Id<Key>)> =
            tree.iter().filter(|(_, k)| unreferenced(cx, &cx.k.keys.get(**k))).map(|(s, k)| (*s, *k)).collect();
        for (s, _) in &dead {
            tree.remove(s);
        }
        dead.into_iter().map(|(_, k)| k).collect()
    });
    for k in &graveyard {
        key_gc_unused_keys(cx, *k);
        did = true;
    }
    if did {
        reg.gc_pending.store(true, Ordering::Release);
    }
    did
}

/// Models `key_gc_unused_keys()` for one key.
///
/// Mirrors security/keys/gc.c key_gc_unused_keys() of 6.12, lines 135-169, fp 38f66c4b71b5c38b.
fn key_gc_unused_keys(cx: &Cx<'_>, key: Id<Key>) {
    let _f = kfn("key_gc_unused_keys");
    let k = cx.k.keys.get(key);
    // BUG(U1): the key's quota goes back to its owner only now.
    if cx.bug(crate::bugs::Bug::U1) {
        super::key::release_quota(&k);
    }
    remove_watch_list(cx, k.watchers.replace(cx, None), k.key_serial() as u64);
    if k.type_ == KeyType::Keyring {
        keyring::keyring_destroy(cx, key);
    }
    cx.k.heap.kfree(Obj::hdr(&k));
}
