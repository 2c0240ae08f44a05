//! RCU: read-side sections, `__rcu` pointers and lists, and the deferred
//! frees (`call_rcu`, `kfree_rcu`) that run only after a grace period.
//!
//! A grace period ends when no read-side section that could have seen the
//! old pointer is still running. The model frees an RCU-deferred object
//! only then; freeing it earlier is exactly the use-after-free the heap
//! tracker reports.

use std::marker::PhantomData;

use crate::heap::{Id, KHeader};
use crate::kernel::Cx;
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::{KCell, instr};
use crate::trace;
use crate::watch_queue::Watch;

/// Work queued behind a grace period.
#[derive(Debug)]
pub enum RcuCallback {
    /// `kfree_rcu(obj)`.
    Kfree(KHeader),
    /// `call_rcu(&watch->rcu, free_watch)`.
    FreeWatch(Id<Watch>),
}

/// The RCU state of one run.
#[derive(Debug, Default)]
pub struct Rcu {
    readers: instr::AtomicU32,
    callbacks: instr::Mutex<Vec<RcuCallback>>,
    /// Grace periods completed.
    pub completed: instr::AtomicU32,
}

/// A read-side critical section; ends on drop (`rcu_read_unlock()`).
#[must_use = "the read-side section ends when the guard drops"]
pub struct RcuReadGuard<'a> {
    rcu: &'a Rcu,
}

impl Drop for RcuReadGuard<'_> {
    fn drop(&mut self) {
        self.rcu.readers.fetch_sub(1, instr::Ordering::Relaxed);
    }
}

impl Rcu {
    /// Read-side sections running now.
    pub fn readers(&self) -> u32 {
        self.readers.load(instr::Ordering::Relaxed)
    }
    /// Callbacks waiting for a grace period.
    pub fn pending(&self) -> usize {
        self.callbacks.lock().len()
    }
    /// Watches whose `free_watch` callback has not run yet.
    pub fn pending_free_watches(&self) -> Vec<Id<Watch>> {
        self.callbacks
            .lock()
            .iter()
            .filter_map(|c| match c {
                RcuCallback::FreeWatch(w) => Some(*w),
                RcuCallback::Kfree(_) => None,
            })
            .collect()
    }
}

/// `rcu_read_lock()`.
pub fn rcu_read_lock<'a>(cx: &Cx<'a>) -> RcuReadGuard<'a> {
    cx.k.rcu.readers.fetch_add(1, instr::Ordering::Relaxed);
    RcuReadGuard { rcu: &cx.k.rcu }
}

/// `call_rcu()` / `kfree_rcu()`: queue `cb` behind the next grace period.
#[track_caller]
pub fn call_rcu(cx: &Cx<'_>, cb: RcuCallback) {
    if let RcuCallback::Kfree(h) = &cb {
        cx.k.heap.rcu_queue(h, "kfree_rcu");
    }
    cx.k.rcu.callbacks.lock().push(cb);
}

/// `kfree_rcu(obj, rcu)`.
#[track_caller]
pub fn kfree_rcu(cx: &Cx<'_>, hdr: &KHeader) {
    call_rcu(cx, RcuCallback::Kfree(hdr.clone()))
}

/// Complete grace periods until no callback is pending (`rcu_barrier()`).
/// Callbacks may queue more callbacks (freeing a watch drops the last
/// reference to its queue, which is itself freed with `kfree_rcu`).
///
/// Called when no read-side section is running: by the `seq` driver
/// between syscalls, by the explorers' grace-period thread once the
/// readers it waited for have left.
pub fn rcu_barrier(cx: &Cx<'_>) {
    let _f = trace::kfn("rcu_barrier");
    loop {
        let batch: Vec<RcuCallback> = std::mem::take(&mut *cx.k.rcu.callbacks.lock());
        if batch.is_empty() {
            break;
        }
        crate::wq_assert!(
            H1,
            cx.k.rcu.readers() == 0,
            "grace period ended with {} RCU readers still inside a read-side section",
            cx.k.rcu.readers()
        );
        cx.k.rcu.completed.fetch_add(1, instr::Ordering::Relaxed);
        for cb in batch {
            match cb {
                RcuCallback::Kfree(h) => cx.k.heap.rcu_free(&h),
                RcuCallback::FreeWatch(w) => crate::watch_queue::free_watch(cx, w),
            }
        }
    }
}

/// An `__rcu` pointer to a model object: writers publish with a
/// store-release, readers load with an acquire.
pub struct RcuId<T> {
    word: AtomicU32,
    _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for RcuId<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RcuId({:?})", self.rcu_access_pointer())
    }
}

impl<T> RcuId<T> {
    pub fn new(v: Option<Id<T>>) -> Self {
        RcuId { word: AtomicU32::new(Id::to_word(v)), _t: PhantomData }
    }
    /// `rcu_assign_pointer()`.
    pub fn rcu_assign_pointer(&self, v: Option<Id<T>>) {
        self.word.store(Id::to_word(v), Ordering::Release)
    }
    /// `rcu_dereference()`.
    pub fn rcu_dereference(&self) -> Option<Id<T>> {
        Id::from_word(self.word.load(Ordering::Acquire))
    }
    /// `rcu_access_pointer()` / `rcu_dereference_protected()`.
    pub fn rcu_access_pointer(&self) -> Option<Id<T>> {
        Id::from_word(self.word.load(Ordering::Relaxed))
    }
    /// `rcu_replace_pointer()`.
    pub fn rcu_replace_pointer(&self, v: Option<Id<T>>) -> Option<Id<T>> {
        Id::from_word(self.word.swap(Id::to_word(v), Ordering::AcqRel))
    }
}

/// An RCU-traversed hlist (`wlist->watchers`). Writers hold the list's lock
/// and publish a new version; readers walk whichever version they loaded.
/// `hlist_add_head*` puts new entries first, as the kernel does, so a walk
/// visits the newest watch first.
pub struct RcuList<T> {
    head: AtomicU32,
    versions: instr::Mutex<Vec<instr::Arc<Vec<Id<T>>>>>,
    /// Touched mutably by every writer, so two writers that do not hold the
    /// list's lock are a data race under loom (hlist corruption).
    writer: KCell<u32>,
}

impl<T> std::fmt::Debug for RcuList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RcuList({:?})", self.snapshot_relaxed())
    }
}

impl<T> Default for RcuList<T> {
    fn default() -> Self {
        RcuList {
            head: AtomicU32::new(0),
            versions: instr::Mutex::new(vec![instr::Arc::new(Vec::new())]),
            writer: KCell::new(0),
        }
    }
}

impl<T> RcuList<T> {
    fn load(&self, order: Ordering) -> instr::Arc<Vec<Id<T>>> {
        let i = self.head.load(order) as usize;
        self.versions.lock()[i].clone()
    }
    /// `hlist_for_each_entry_rcu()`: the version a reader sees.
    pub fn for_each_rcu(&self) -> instr::Arc<Vec<Id<T>>> {
        self.load(Ordering::Acquire)
    }
    /// `hlist_for_each_entry()` under the list's lock.
    pub fn snapshot_locked(&self) -> instr::Arc<Vec<Id<T>>> {
        self.writer.with(|_| ());
        self.load(Ordering::Relaxed)
    }
    /// A walk for reports (no ordering implied).
    pub fn snapshot_relaxed(&self) -> Vec<Id<T>> {
        (*self.load(Ordering::Relaxed)).clone()
    }
    /// A writer's change (`hlist_add_head_rcu`, `hlist_del_init_rcu`); the
    /// caller holds the list's lock.
    pub fn update(&self, f: impl FnOnce(&mut Vec<Id<T>>)) {
        self.writer.with_mut(|w| *w += 1);
        let mut next = (*self.load(Ordering::Relaxed)).clone();
        f(&mut next);
        let idx = {
            let mut v = self.versions.lock();
            v.push(instr::Arc::new(next));
            v.len() - 1
        };
        self.head.store(idx as u32, Ordering::Release);
    }
    /// `hlist_empty()`.
    pub fn is_empty(&self) -> bool {
        self.load(Ordering::Relaxed).is_empty()
    }
}
