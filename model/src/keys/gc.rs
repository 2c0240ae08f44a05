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

use super::{Key, KeyType, keyring};

/// Models one run of `key_garbage_collector()`. Returns whether it reaped
/// or unlinked anything (the caller runs it again until it does not).
pub fn key_garbage_collector(cx: &Cx<'_>) -> bool {
    let reg = &cx.k.key_registry;
    if !reg.gc_pending.swap(false, Ordering::AcqRel) {
        return false;
    }
    let _f = kfn("key_garbage_collector");
    let mut did = false;

    // Unlink invalidated and dead keys from every keyring.
    let all: Vec<Id<Key>> = reg.tree.with(|t| t.values().copied().collect());
    for k in &all {
        let key = cx.k.keys.get(*k);
        if key.type_ == KeyType::Keyring && key.usage.read() > 0 {
            did |= keyring::keyring_gc(cx, *k);
        }
    }

    // Reap unreferenced keys, in serial order.
    let graveyard: Vec<Id<Key>> = reg.tree.with(|tree| {
        let dead: Vec<(i32, Id<Key>)> =
            tree.iter().filter(|(_, k)| cx.k.keys.get(**k).usage.read() == 0).map(|(s, k)| (*s, *k)).collect();
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
fn key_gc_unused_keys(cx: &Cx<'_>, key: Id<Key>) {
    let _f = kfn("key_gc_unused_keys");
    let k = cx.k.keys.get(key);
    remove_watch_list(cx, k.watchers.replace(cx, None), k.key_serial() as u64);
    if k.type_ == KeyType::Keyring {
        keyring::keyring_destroy(cx, key);
    }
    cx.k.heap.kfree(Obj::hdr(&k));
}
