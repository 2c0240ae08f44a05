//! RCU: read-side sections, `__rcu` pointers and lists, and the deferred
//! frees (`call_rcu`, `kfree_rcu`) that run only after a grace period.
//!
//! A grace period ends when no read-side section that could have seen the
//! old pointer is still running. The model frees an RCU-deferred object
//! only then; freeing it earlier is exactly the use-after-free the heap
//! tracker reports.
//!
//! Memory ordering is RCU's guarantee and no more (the fundamental law of
//! `Documentation/RCU/Design/Requirements`): a section that a grace period
//! waits for happens before the callbacks that period runs, and a section
//! it does not wait for sees everything the updater did before
//! `call_rcu()`. Read-side sections order nothing among themselves, so a
//! list published without release is seen half-built by a walker, as on
//! a weakly ordered CPU.
//!
//! APPROX: the grace period of a callback starts at its `call_rcu()`. A
//! section that starts later is never waited for (the kernel may start the
//! period later and wait for it); it sees the updater's stores, which the
//! kernel also guarantees to a section it does not wait for.

use std::marker::PhantomData;

use crate::heap::{Id, KHeader};
use crate::kernel::Cx;
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::mutation::{self, Operator};
use crate::sync::{KCell, instr};
use crate::trace;
use crate::watch_queue::Watch;

/// Work queued behind a grace period.
pub enum RcuCallback {
    /// `kfree_rcu(obj)`.
    Kfree(KHeader),
    /// `call_rcu(&watch->rcu, free_watch)`.
    FreeWatch(Id<Watch>),
    /// Any other callback, by the kernel function it models:
    /// `put_cred_rcu()` of credentials `commit_creds()` replaced, which
    /// puts their session keyring.
    Call(&'static str, Box<dyn FnOnce(&Cx<'_>) + Send>),
}

impl std::fmt::Debug for RcuCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RcuCallback::Kfree(h) => f.debug_tuple("Kfree").field(h).finish(),
            RcuCallback::FreeWatch(w) => f.debug_tuple("FreeWatch").field(w).finish(),
            RcuCallback::Call(name, _) => f.debug_tuple("Call").field(name).finish(),
        }
    }
}

impl RcuCallback {
    /// Run the callback.
    fn run(self, cx: &Cx<'_>) {
        match self {
            RcuCallback::Kfree(h) => cx.k.heap.rcu_free(&h),
            RcuCallback::FreeWatch(w) => crate::watch_queue::free_watch(cx, w),
            RcuCallback::Call(_, f) => f(cx),
        }
    }
}

#[derive(Debug, Default)]
struct RcuState {
    /// Advanced by every `call_rcu`.
    epoch: u64,
    next_reader: u64,
    /// Read-side sections running now: id -> the epoch they started in.
    readers: std::collections::BTreeMap<u64, u64>,
    /// Callbacks with the epoch they were queued in, oldest first.
    callbacks: Vec<(u64, RcuCallback)>,
}

/// The RCU state of one run: a callback queued in epoch `e` may run once
/// every read-side section that started in epoch `e` or before has ended
/// (those are the readers that could have seen the old pointer).
///
/// The bookkeeping is instrumentation the explorers do not see; the
/// ordering RCU guarantees is carried by two atomics, each touched by
/// read-modify-writes only (which read the latest value):
/// `to_gp` is released by every section's end and every `call_rcu()` and
/// acquired by the grace period before it decides which callbacks may
/// run; `from_updater` is released by every `call_rcu()` and acquired by
/// every section's start. Each bookkeeping change sits next to its atomic
/// with no scheduling point between them, so the decision and the ordering
/// agree.
#[derive(Debug, Default)]
pub struct Rcu {
    state: instr::Mutex<RcuState>,
    to_gp: AtomicU32,
    from_updater: AtomicU32,
    /// Callbacks run so far.
    pub completed: instr::AtomicU32,
}

/// A read-side critical section; ends on drop (`rcu_read_unlock()`).
#[must_use = "the read-side section ends when the guard drops"]
pub struct RcuReadGuard<'a> {
    rcu: &'a Rcu,
    id: u64,
}

impl Drop for RcuReadGuard<'_> {
    /// `rcu_read_unlock()`: the section's accesses are released to the
    /// grace periods that wait for it, then it stops counting.
    fn drop(&mut self) {
        self.rcu.to_gp.fetch_add(0, Ordering::Release);
        self.rcu.state.lock().readers.remove(&self.id);
    }
}

impl Rcu {
    /// Read-side sections running now.
    pub fn readers(&self) -> u32 {
        self.state.lock().readers.len() as u32
    }
    /// Callbacks waiting for a grace period.
    pub fn pending(&self) -> usize {
        self.state.lock().callbacks.len()
    }
    /// Watches whose `free_watch` callback has not run yet.
    pub fn pending_free_watches(&self) -> Vec<Id<Watch>> {
        self.state
            .lock()
            .callbacks
            .iter()
            .filter_map(|(_, c)| match c {
                RcuCallback::FreeWatch(w) => Some(*w),
                RcuCallback::Kfree(_) | RcuCallback::Call(..) => None,
            })
            .collect()
    }
    /// Take the callbacks whose grace period has ended: acquire what the
    /// sections that ended and the updaters released, then decide.
    fn ready(&self) -> Vec<RcuCallback> {
        if self.state.lock().callbacks.is_empty() {
            return Vec::new();
        }
        self.to_gp.fetch_add(0, Ordering::Acquire);
        let mut st = self.state.lock();
        let oldest_reader = st.readers.values().min().copied();
        let (ready, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut st.callbacks).into_iter().partition(|(e, _)| oldest_reader.is_none_or(|r| *e < r));
        st.callbacks = waiting;
        ready.into_iter().map(|(_, c)| c).collect()
    }
}

/// `rcu_read_lock()`: the section counts from here (a callback queued
/// from now on waits for it), and it sees what every earlier `call_rcu()`
/// released.
pub fn rcu_read_lock<'a>(cx: &Cx<'a>) -> RcuReadGuard<'a> {
    let id = {
        let mut st = cx.k.rcu.state.lock();
        st.next_reader += 1;
        let id = st.next_reader;
        let epoch = st.epoch;
        st.readers.insert(id, epoch);
        id
    };
    cx.k.rcu.from_updater.fetch_add(0, Ordering::Acquire);
    RcuReadGuard { rcu: &cx.k.rcu, id }
}

/// `call_rcu()` / `kfree_rcu()`: queue `cb` behind the next grace period.
/// A mutation site ([`Operator::NoGracePeriod`]: the callback runs at
/// once, while readers may still hold the object).
#[track_caller]
pub fn call_rcu(cx: &Cx<'_>, cb: RcuCallback) {
    if let RcuCallback::Kfree(h) = &cb {
        cx.k.heap.rcu_queue(h, "kfree_rcu");
    }
    if mutation::hit(Operator::NoGracePeriod, "call_rcu") {
        cb.run(cx);
        return;
    }
    cx.k.rcu.to_gp.fetch_add(0, Ordering::Release);
    cx.k.rcu.from_updater.fetch_add(0, Ordering::Release);
    let mut st = cx.k.rcu.state.lock();
    let e = st.epoch;
    st.callbacks.push((e, cb));
    st.epoch += 1;
}

/// `kfree_rcu(obj, rcu)`.
#[track_caller]
pub fn kfree_rcu(cx: &Cx<'_>, hdr: &KHeader) {
    call_rcu(cx, RcuCallback::Kfree(hdr.clone()))
}

/// Run every callback whose grace period has ended (RCU's softirq work,
/// which the model runs when a task leaves a syscall). Returns how many ran.
///
/// Mirrors kernel/rcu/tree.c rcu_do_batch() of 6.12, lines 2498-2644, fp 9f47d345a86b49ca.
pub fn rcu_do_batch(cx: &Cx<'_>) -> usize {
    let mut ran = 0;
    loop {
        let batch = cx.k.rcu.ready();
        if batch.is_empty() {
            return ran;
        }
        let _f = trace::kfn("rcu_do_batch");
        for cb in batch {
            ran += 1;
            cx.k.rcu.completed.fetch_add(1, instr::Ordering::Relaxed);
            cb.run(cx);
        }
    }
}

/// `rcu_barrier()`: with no read-side section running, complete grace
/// periods until no callback is pending. Callbacks may queue more (freeing
/// a watch drops the last reference to its queue, which is itself freed
/// with `kfree_rcu`).
///
/// Mirrors kernel/rcu/tree.c rcu_barrier() of 6.12, lines 4578-4671, fp acb96bb8fee5d5a5.
pub fn rcu_barrier(cx: &Cx<'_>) {
    let _f = trace::kfn("rcu_barrier");
    crate::wq_assert!(
        H1,
        cx.k.rcu.readers() == 0,
        "rcu_barrier with {} RCU readers still inside a read-side section",
        cx.k.rcu.readers()
    );
    while rcu_do_batch(cx) > 0 {}
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
    /// `rcu_assign_pointer()`. A mutation site ([`Operator::PlainPublish`]).
    pub fn rcu_assign_pointer(&self, v: Option<Id<T>>) {
        let plain = mutation::hit(Operator::PlainPublish, "rcu_assign_pointer");
        self.word.store(Id::to_word(v), if plain { Ordering::Relaxed } else { Ordering::Release })
    }
    /// `rcu_dereference()`. A mutation site ([`Operator::PlainDereference`]).
    pub fn rcu_dereference(&self) -> Option<Id<T>> {
        let plain = mutation::hit(Operator::PlainDereference, "rcu_dereference");
        Id::from_word(self.word.load(if plain { Ordering::Relaxed } else { Ordering::Acquire }))
    }
    /// `rcu_access_pointer()` / `rcu_dereference_protected()`.
    pub fn rcu_access_pointer(&self) -> Option<Id<T>> {
        Id::from_word(self.word.load(Ordering::Relaxed))
    }
    /// `rcu_replace_pointer()`: `rcu_dereference_protected()` of the old
    /// value, then `rcu_assign_pointer()` of the new one. Two loads and
    /// stores, not one atomic exchange: the caller's lock is what keeps two
    /// replacers from taking the same old value.
    pub fn rcu_replace_pointer(&self, v: Option<Id<T>>) -> Option<Id<T>> {
        let old = self.rcu_access_pointer();
        self.rcu_assign_pointer(v);
        old
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
        self.load(mutation::acquire("hlist_for_each_entry_rcu"))
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
        self.head.store(idx as u32, mutation::release("hlist_add_head_rcu"));
    }
    /// `hlist_empty()`.
    pub fn is_empty(&self) -> bool {
        self.load(Ordering::Relaxed).is_empty()
    }
}
