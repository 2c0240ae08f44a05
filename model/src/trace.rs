//! Labelled events of a run, and the per-thread context that names them.
//!
//! Every model function opens with [`kfn`], which pushes the kernel
//! function's name on the thread's stack; lock acquisitions and releases,
//! heap reports and timeline rows all say which kernel function was
//! running. Semantic events ([`Event`]) are what the oracle checks: what was
//! posted, lost, consumed and returned to userspace, and when watches and
//! filters changed.

use std::cell::RefCell;

use crate::errno::Errno;
use crate::sync::instr::{self, Arc};

/// A thread of the run (a task in kernel terms); 0 is the driver.
pub type Tid = u32;

/// One step of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A syscall started on `tid` (`what` is its rendering).
    SyscallEnter { tid: Tid, what: String },
    /// The syscall on `tid` returned `ret` (rendered).
    SyscallExit { tid: Tid, ret: String },
    /// A lock was taken (`acquire`) or released, inside `func`.
    Lock { tid: Tid, name: &'static str, acquire: bool, func: &'static str },
    /// `post_one_notification` on `wqueue` (pipe `pipe`) with `bytes`:
    /// queued into `slot` with `note`, or lost.
    Post { tid: Tid, pipe: u32, wqueue: u32, bytes: Vec<u8>, queued: Option<(u32, u32)> },
    /// `__post_watch_notification` on `tid` decided `passed` for `bytes`
    /// on `wqueue` using `filter` (the filter object it saw, if any).
    Filtered { tid: Tid, wqueue: u32, filter: Option<u32>, bytes: Vec<u8>, passed: bool },
    /// `watch_queue_set_filter` installed `filter` (None removes) built
    /// from these UAPI bytes.
    FilterSet { wqueue: u32, filter: Option<u32>, uapi: Option<Vec<u8>> },
    /// `pipe_update_tail` retired a notification slot holding `bytes`;
    /// `loss` says whether it carried `PIPE_BUF_FLAG_LOSS`.
    Consumed { tid: Tid, pipe: u32, bytes: Vec<u8>, loss: bool },
    /// `watch_queue_pipe_buf_release` freed `note` of `wqueue` (set its bit).
    NoteReleased { tid: Tid, wqueue: u32, note: u32 },
    /// `pipe_read` copied out a fabricated loss record.
    LossFabricated { tid: Tid, pipe: u32 },
    /// `pipe_read` on a notification pipe returned.
    ReadReturned { tid: Tid, pipe: u32, len: usize, result: Result<Vec<u8>, Errno> },
    /// `add_one_watch` attached a watch on object `id` with `tag` to `wqueue`.
    WatchAdded { wqueue: u32, id: u64, tag: u8, uid: u32 },
    /// `remove_watch_from_object` detached a watch on `id` from `wqueue`
    /// (`all` = the object is being destroyed).
    WatchRemoved { wqueue: u32, id: u64, all: bool },
    /// `watch_queue_clear` fenced `wqueue` (its pipe is being freed).
    QueueCleared { wqueue: u32 },
    /// `remove_watch_list`: object `id` is being destroyed.
    ObjectDestroyed { id: u64 },
    /// A kernel `WARN_ON` fired (the run continues).
    Warn { func: &'static str, what: String },
    /// `obj` was freed by `how` (`kfree`, an RCU callback, ...) in `func`
    /// at `at` (recorded for timelines: with detail on).
    Freed { tid: Tid, obj: String, how: String, func: &'static str, at: String },
    /// `obj` was used after it was freed, in `func` at `at` (the access
    /// `H1` reports; recorded for timelines: with detail on).
    Used { tid: Tid, obj: String, func: &'static str, at: String },
}

impl Event {
    /// The thread the event names, if it names one.
    pub fn tid(&self) -> Option<Tid> {
        match self {
            Event::SyscallEnter { tid, .. }
            | Event::SyscallExit { tid, .. }
            | Event::Lock { tid, .. }
            | Event::Post { tid, .. }
            | Event::Filtered { tid, .. }
            | Event::Consumed { tid, .. }
            | Event::LossFabricated { tid, .. }
            | Event::NoteReleased { tid, .. }
            | Event::ReadReturned { tid, .. }
            | Event::Freed { tid, .. }
            | Event::Used { tid, .. } => Some(*tid),
            _ => None,
        }
    }
}

/// The events of one run.
#[derive(Debug, Default)]
pub struct Trace {
    events: instr::Mutex<Vec<(Tid, Event)>>,
    /// Record lock events too (timelines); off for speed otherwise.
    pub detail: instr::AtomicBool,
    /// The lock-order graph (lockdep): an edge `a -> b` means some thread
    /// took `b` while holding `a`.
    lock_order: instr::Mutex<std::collections::BTreeSet<(&'static str, &'static str)>>,
}

/// Whether a lock spins or sleeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// `spinlock_t`: no sleeping while held.
    Spin,
    /// `struct mutex`, `struct rw_semaphore`: the holder may sleep.
    Sleeping,
}

impl Trace {
    pub fn push(&self, e: Event) {
        // The recording thread: the event's own, else this thread's (the
        // lock tracker pushes while it holds the thread context).
        let t = e.tid().unwrap_or_else(|| CTX.with(|c| c.try_borrow().map_or(0, |c| c.tid)));
        self.events.lock().push((t, e));
    }
    /// A copy of every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().iter().map(|(_, e)| e.clone()).collect()
    }
    /// Every event so far with the thread that recorded it.
    pub fn events_by_thread(&self) -> Vec<(Tid, Event)> {
        self.events.lock().clone()
    }
    /// Number of events so far.
    pub fn len(&self) -> usize {
        self.events.lock().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Events from index `from` on.
    pub fn since(&self, from: usize) -> Vec<Event> {
        self.events.lock()[from..].iter().map(|(_, e)| e.clone()).collect()
    }
    /// The lock-order edges seen so far.
    pub fn lock_order(&self) -> Vec<(&'static str, &'static str)> {
        self.lock_order.lock().iter().copied().collect()
    }

    /// Lockdep's check before `held -> name` is added: same-class nesting,
    /// or a path `name -> ... -> held` already seen, is a violation.
    fn lockdep(&self, held: &[(&'static str, LockKind)], name: &'static str, func: &'static str) {
        if held.iter().any(|(h, _)| *h == name) {
            crate::invariant::fail(
                crate::invariant::Inv::K1,
                format!("possible recursive locking detected: {name} acquired in {func} while already holding {name}"),
            );
        }
        let mut graph = self.lock_order.lock();
        for (h, _) in held {
            if graph.contains(&(*h, name)) {
                continue;
            }
            if let Some(path) = find_path(&graph, name, h) {
                drop(graph);
                crate::invariant::fail(
                    crate::invariant::Inv::K1,
                    format!(
                        "possible circular locking dependency: {func} takes {name} while holding {h}, but {} was seen before",
                        path.join(" -> ")
                    ),
                );
            }
            graph.insert((*h, name));
        }
    }
}

/// A path `from -> ... -> to` in the lock-order graph.
fn find_path(
    graph: &std::collections::BTreeSet<(&'static str, &'static str)>,
    from: &'static str,
    to: &'static str,
) -> Option<Vec<&'static str>> {
    let mut stack = vec![vec![from]];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = *path.last().unwrap();
        if last == to {
            return Some(path);
        }
        if !seen.insert(last) {
            continue;
        }
        for (a, b) in graph.iter() {
            if *a == last {
                let mut p = path.clone();
                p.push(b);
                stack.push(p);
            }
        }
    }
    None
}

#[derive(Default)]
struct ThreadCtx {
    tid: Tid,
    funcs: Vec<&'static str>,
    held: Vec<(&'static str, LockKind)>,
    sink: Option<Arc<Trace>>,
    /// The driver's record of this thread, when it is an actor.
    actor: Option<(Arc<crate::sync::ActorStates>, usize)>,
}

crate::facade_thread_local! {
    static CTX: RefCell<ThreadCtx> = RefCell::new(ThreadCtx::default());
}

/// The thread this code runs as (0 outside a run).
pub fn current_tid() -> Tid {
    CTX.with(|c| c.try_borrow().map_or(0, |c| c.tid))
}

/// Record a memory event (a free, a use after free) in this thread's
/// run, when the run records detail (timelines): it costs nothing
/// otherwise, and the checks never read it.
pub fn note_memory(e: Event) {
    let sink = CTX.with(|c| c.try_borrow().ok().and_then(|c| c.sink.clone()));
    if let Some(t) = sink {
        if t.detail.load(instr::Ordering::Relaxed) {
            t.push(e);
        }
    }
}

/// Bind this thread to a run's trace as thread `tid`.
pub fn bind(trace: Arc<Trace>, tid: Tid) {
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        c.tid = tid;
        c.sink = Some(trace);
        c.funcs.clear();
        c.held.clear();
        c.actor = None;
    });
}

/// Make this thread actor `i` of `states` (see [`crate::conc`]).
pub fn bind_actor(states: Arc<crate::sync::ActorStates>, i: usize) {
    CTX.with(|c| c.borrow_mut().actor = Some((states, i)));
}

/// The driver's record of this thread, when it is an actor.
pub fn current_actor() -> Option<(Arc<crate::sync::ActorStates>, usize)> {
    CTX.with(|c| c.borrow().actor.clone())
}

/// Tell the driver this thread is going to sleep (`true`) or woke up.
pub fn note_sleep(asleep: bool) {
    let actor = CTX.with(|c| c.borrow().actor.clone());
    if let Some((states, i)) = actor {
        states.set(i, if asleep { crate::sync::ActorState::Asleep } else { crate::sync::ActorState::Running });
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
    let tid = CTX.with(|c| {
        let mut c = c.borrow_mut();
        c.funcs.push(name);
        c.tid
    });
    publish_fn(tid, name);
    KfnGuard(())
}

/// The innermost kernel function running on this thread.
pub fn current_fn() -> &'static str {
    CTX.with(|c| c.borrow().funcs.last().copied().unwrap_or("(userspace)"))
}

/// Locks this thread holds, outermost first.
pub fn held_locks() -> Vec<&'static str> {
    CTX.with(|c| c.borrow().held.iter().map(|(n, _)| *n).collect())
}

/// Hook from the sync facade, before a lock is taken: lockdep's order
/// check, and no sleeping lock under a spinlock.
pub fn lock_acquiring(name: &'static str, kind: LockKind) {
    let (held, func, sink, tid) = CTX.with(|c| {
        let c = c.borrow();
        (c.held.clone(), c.funcs.last().copied().unwrap_or("(userspace)"), c.sink.clone(), c.tid)
    });
    publish_lock(tid, Some(name));
    if kind == LockKind::Sleeping {
        if let Some((spin, _)) = held.iter().find(|(_, k)| *k == LockKind::Spin) {
            crate::invariant::fail(
                crate::invariant::Inv::B2,
                format!("sleeping function called from invalid context: {func} takes {name} while holding {spin}"),
            );
        }
    }
    if let Some(t) = sink {
        t.lockdep(&held, name, func);
    }
}

/// Hook from the sync facade, before a thread sleeps.
pub fn sleeping(what: &'static str) {
    let (held, func) = CTX.with(|c| {
        let c = c.borrow();
        (c.held.clone(), c.funcs.last().copied().unwrap_or("(userspace)"))
    });
    if let Some((spin, _)) = held.iter().find(|(_, k)| *k == LockKind::Spin) {
        crate::invariant::fail(
            crate::invariant::Inv::B2,
            format!("sleeping function called from invalid context: {func} sleeps ({what}) while holding {spin}"),
        );
    }
}

/// Hook from the sync facade, once a spinlock is held.
pub fn lock_acquired(name: &'static str) {
    lock_acquired_kind(name, LockKind::Spin)
}

/// Hook from the sync facade, once a lock of `kind` is held.
pub fn lock_acquired_kind(name: &'static str, kind: LockKind) {
    let tid = CTX.with(|c| c.borrow().tid);
    publish_lock(tid, None);
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        c.held.push((name, kind));
        let func = c.funcs.last().copied().unwrap_or("(userspace)");
        if let Some(t) = &c.sink {
            if t.detail.load(instr::Ordering::Relaxed) {
                t.push(Event::Lock { tid: c.tid, name, acquire: true, func });
            }
        }
    });
}

/// Hook from the sync facade.
pub fn lock_released(name: &'static str) {
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(pos) = c.held.iter().rposition(|(n, _)| *n == name) {
            c.held.remove(pos);
        }
        let func = c.funcs.last().copied().unwrap_or("(userspace)");
        if let Some(t) = &c.sink {
            if t.detail.load(instr::Ordering::Relaxed) {
                t.push(Event::Lock { tid: c.tid, name, acquire: false, func });
            }
        }
    });
}
