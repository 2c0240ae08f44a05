//! The per-thread kernel context the facade keeps: which task a thread
//! runs as (`current`), the kernel functions it is in (`kfn`), the locks
//! it holds, and the driver's record of it when it is an actor. The
//! facade's locks and waits report here before and after every
//! acquisition and sleep, and this module checks what needs no run: no
//! sleeping lock and no sleep under a spinlock (`B2`). The run's own
//! record of lock events and its lock-order graph (lockdep's `K1`) sit
//! behind [`LockSink`], which the run's trace implements.

use std::cell::RefCell;

use super::instr::Arc;
use super::{ActorState, ActorStates};
use crate::invariant::{Inv, fail};

/// A thread of the run (a task in kernel terms); 0 is the driver.
pub type Tid = u32;

/// Whether a lock spins or sleeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// `spinlock_t`: no sleeping while held.
    Spin,
    /// `struct mutex`, `struct rw_semaphore`: the holder may sleep.
    Sleeping,
}

/// Where the lock events of a thread bound to a run go: the run's trace.
/// The facade reports to it and never names it.
pub trait LockSink: Send + Sync + 'static {
    /// Lockdep's check before `held -> name` is added to the run's
    /// lock-order graph.
    fn lockdep(&self, held: &[(&'static str, LockKind)], name: &'static str, func: &'static str);
    /// A lock was taken (`acquire`) or released by `tid` inside `func`.
    fn lock_event(&self, tid: Tid, name: &'static str, acquire: bool, func: &'static str);
    /// The sink itself, for the layer that bound it to find its own type.
    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync>;
}

#[derive(Default)]
struct ThreadCtx {
    tid: Tid,
    funcs: Vec<&'static str>,
    held: Vec<(&'static str, LockKind)>,
    sink: Option<Arc<dyn LockSink>>,
    /// The driver's record of this thread, when it is an actor.
    actor: Option<(Arc<ActorStates>, usize)>,
}

crate::facade_thread_local! {
    static CTX: RefCell<ThreadCtx> = RefCell::new(ThreadCtx::default());
}

/// The thread this code runs as (0 outside a run).
pub fn current_tid() -> Tid {
    CTX.with(|c| c.try_borrow().map_or(0, |c| c.tid))
}

/// The sink this thread is bound to, if any (see [`bind`]).
pub fn sink() -> Option<Arc<dyn LockSink>> {
    CTX.with(|c| c.try_borrow().ok().and_then(|c| c.sink.clone()))
}

/// Bind this thread to a run's sink as thread `tid`.
pub fn bind(sink: Arc<dyn LockSink>, tid: Tid) {
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        c.tid = tid;
        c.sink = Some(sink);
        c.funcs.clear();
        c.held.clear();
        c.actor = None;
    });
}

/// Make this thread actor `i` of `states` (the concurrent runner does).
pub fn bind_actor(states: Arc<ActorStates>, i: usize) {
    CTX.with(|c| c.borrow_mut().actor = Some((states, i)));
}

/// The driver's record of this thread, when it is an actor.
pub fn current_actor() -> Option<(Arc<ActorStates>, usize)> {
    CTX.with(|c| c.borrow().actor.clone())
}

/// Tell the driver this thread is going to sleep (`true`) or woke up.
pub fn note_sleep(asleep: bool) {
    let actor = CTX.with(|c| c.borrow().actor.clone());
    if let Some((states, i)) = actor {
        states.set(i, if asleep { ActorState::Asleep } else { ActorState::Running });
    }
}

/// This thread's id in the run.
pub fn tid() -> Tid {
    CTX.with(|c| c.borrow().tid)
}

/// Marks the running kernel function until dropped.
#[must_use]
pub struct KfnGuard(());

impl Drop for KfnGuard {
    fn drop(&mut self) {
        let (tid, top) = CTX.with(|c| {
            let mut c = c.borrow_mut();
            c.funcs.pop();
            (c.tid, c.funcs.last().copied().unwrap_or("(userspace)"))
        });
        publish_fn(tid, top);
    }
}

// The innermost kernel function of every thread of the run, for a
// scheduler deciding between them (loom and shuttle run every model thread
// on the driver's OS thread, so one table per OS thread serves a run).
std::thread_local! {
    static FN_BY_TID: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    /// The lock each thread is about to take (it waits at the lock's
    /// scheduling point), if any.
    static LOCK_BY_TID: RefCell<Vec<Option<&'static str>>> = const { RefCell::new(Vec::new()) };
}

fn publish_lock(tid: Tid, l: Option<&'static str>) {
    LOCK_BY_TID.with(|t| {
        let mut t = t.borrow_mut();
        let i = tid as usize;
        if t.len() <= i {
            t.resize(i + 1, None);
        }
        t[i] = l;
    });
}

/// The lock thread `tid` is about to take, if it stopped at one.
pub fn pending_lock_of(tid: Tid) -> Option<&'static str> {
    LOCK_BY_TID.with(|t| t.borrow().get(tid as usize).copied().flatten())
}

fn publish_fn(tid: Tid, f: &'static str) {
    FN_BY_TID.with(|t| {
        let mut t = t.borrow_mut();
        let i = tid as usize;
        if t.len() <= i {
            t.resize(i + 1, "(userspace)");
        }
        t[i] = f;
    });
}

/// The innermost kernel function thread `tid` is in, as last published.
pub fn fn_of(tid: Tid) -> &'static str {
    FN_BY_TID.with(|t| t.borrow().get(tid as usize).copied().unwrap_or("(userspace)"))
}

/// Forget every thread's function (a new run starts).
pub fn reset_fns() {
    FN_BY_TID.with(|t| t.borrow_mut().clear());
    LOCK_BY_TID.with(|t| t.borrow_mut().clear());
}

/// Enter kernel function `name` (push it on this thread's stack).
pub fn kfn(name: &'static str) -> KfnGuard {
    if RECORDING.load(std::sync::atomic::Ordering::Relaxed) {
        entered_insert(name);
    }
    let tid = CTX.with(|c| {
        let mut c = c.borrow_mut();
        c.funcs.push(name);
        c.tid
    });
    publish_fn(tid, name);
    KfnGuard(())
}

/// Whether [`kfn`] notes the functions entered (see [`record_entered`]).
static RECORDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The kernel functions entered since recording began, process-wide.
static ENTERED: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn entered_insert(name: &'static str) {
    if let Ok(mut set) = ENTERED.lock() {
        set.insert(name);
    }
}

/// Start (`true`) or stop noting every kernel function [`kfn`] enters,
/// on any thread; starting clears the set. `wqsim review` uses it to learn
/// which functions a scenario's sequential run reaches. Off, [`kfn`] pays
/// one relaxed load.
pub fn record_entered(on: bool) {
    if on && let Ok(mut set) = ENTERED.lock() {
        set.clear();
    }
    RECORDING.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Note that a model helper mirroring kernel function `name` ran, for
/// [`record_entered`], without making it a frame of the thread's stack
/// the way [`kfn`] does (lock events, timelines and mutation sites keep
/// naming the caller). The kernel map's helpers that have no [`kfn`] call
/// it first.
pub fn reached(name: &'static str) {
    if RECORDING.load(std::sync::atomic::Ordering::Relaxed) {
        entered_insert(name);
    }
}

/// The kernel functions entered since [`record_entered`]`(true)`, sorted.
pub fn entered() -> Vec<&'static str> {
    ENTERED.lock().map(|s| s.iter().copied().collect()).unwrap_or_default()
}

/// The innermost kernel function running on this thread.
pub fn current_fn() -> &'static str {
    CTX.with(|c| c.borrow().funcs.last().copied().unwrap_or("(userspace)"))
}

/// Locks this thread holds, outermost first.
pub fn held_locks() -> Vec<&'static str> {
    CTX.with(|c| c.borrow().held.iter().map(|(n, _)| *n).collect())
}

/// Called by the facade before a lock is taken: lockdep's order
/// check, and no sleeping lock under a spinlock.
pub fn lock_acquiring(name: &'static str, kind: LockKind) {
    let (held, func, sink, tid) = CTX.with(|c| {
        let c = c.borrow();
        (c.held.clone(), c.funcs.last().copied().unwrap_or("(userspace)"), c.sink.clone(), c.tid)
    });
    publish_lock(tid, Some(name));
    if kind == LockKind::Sleeping {
        if let Some((spin, _)) = held.iter().find(|(_, k)| *k == LockKind::Spin) {
            fail(
                Inv::B2,
                format!("sleeping function called from invalid context: {func} takes {name} while holding {spin}"),
            );
        }
    }
    if let Some(t) = sink {
        t.lockdep(&held, name, func);
    }
}

/// Called by the facade before a thread sleeps.
pub fn sleeping(what: &'static str) {
    let (held, func) = CTX.with(|c| {
        let c = c.borrow();
        (c.held.clone(), c.funcs.last().copied().unwrap_or("(userspace)"))
    });
    if let Some((spin, _)) = held.iter().find(|(_, k)| *k == LockKind::Spin) {
        fail(
            Inv::B2,
            format!("sleeping function called from invalid context: {func} sleeps ({what}) while holding {spin}"),
        );
    }
}

/// Called by the facade once a spinlock is held.
pub fn lock_acquired(name: &'static str) {
    lock_acquired_kind(name, LockKind::Spin)
}

/// Called by the facade once a lock of `kind` is held.
pub fn lock_acquired_kind(name: &'static str, kind: LockKind) {
    let tid = CTX.with(|c| c.borrow().tid);
    publish_lock(tid, None);
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        c.held.push((name, kind));
        let func = c.funcs.last().copied().unwrap_or("(userspace)");
        if let Some(t) = &c.sink {
            t.lock_event(c.tid, name, true, func);
        }
    });
}

/// Called by the facade once a lock is released.
pub fn lock_released(name: &'static str) {
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(pos) = c.held.iter().rposition(|(n, _)| *n == name) {
            c.held.remove(pos);
        }
        let func = c.funcs.last().copied().unwrap_or("(userspace)");
        if let Some(t) = &c.sink {
            t.lock_event(c.tid, name, false, func);
        }
    });
}
