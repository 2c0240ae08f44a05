//! Labelled events of a run, and the per-thread context that names them.
//!
//! Every model function opens with [`kfn`], which pushes the kernel
//! function's name on the thread's stack (the context itself lives in the
//! sync facade, `sync::context`, whose locks report to it, and is
//! re-exported here); lock acquisitions and releases,
//! heap reports and timeline rows all say which kernel function was
//! running. Semantic events ([`Event`]) are what the oracle checks: what was
//! posted, lost, consumed and returned to userspace, and when watches and
//! filters changed.

use crate::errno::Errno;
use crate::invariant::{Inv, fail};
use crate::sync::context::{self, LockSink};
use crate::sync::instr::{self, Arc};

// The per-thread context (task, kernel function, held locks) lives in the
// sync facade, whose locks report to it; model code reaches it from here.
pub use crate::sync::context::{
    KfnGuard, LockKind, Tid, bind_actor, current_fn, current_tid, entered, fn_of, held_locks, kfn, pending_lock_of,
    reached, record_entered, reset_fns, tid,
};

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
    /// `__post_watch_notification` on `tid` is about to ask the LSM
    /// whether `bytes` may reach `wqueue`: the labels of the watcher
    /// (`watch->cred`) and of the originator. Recorded when the module
    /// has a post hook (Smack).
    PostLabels { tid: Tid, wqueue: u32, watcher: String, origin: String },
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
    /// Pipe `pipe` changed: `occupancy` slots in use
    /// (`pipe_occupancy(head, tail)` of the stored indexes), the writers'
    /// limit `max_usage`, and the open `readers` and `writers`, as they are
    /// in memory from this instant (every store of one of them).
    Ring { pipe: u32, occupancy: u32, max_usage: u32, readers: u32, writers: u32 },
    /// A `poll()` or `epoll_wait()` on `tid` began asking file `file`,
    /// pipe `pipe`'s read end (`write` false) or write end, for readiness.
    PollBegin { tid: Tid, file: u32, pipe: u32, write: bool },
    /// The last reference to watched file `file` went (`__fput()` ran
    /// `eventpoll_release()`): epoll stops reporting it.
    PollFileGone { file: u32 },
    /// That call returned `mask`, of the `events` it asked for.
    PollEnd { tid: Tid, mask: u32, events: u32 },
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
            | Event::PostLabels { tid, .. }
            | Event::Consumed { tid, .. }
            | Event::LossFabricated { tid, .. }
            | Event::NoteReleased { tid, .. }
            | Event::ReadReturned { tid, .. }
            | Event::Freed { tid, .. }
            | Event::Used { tid, .. }
            | Event::PollBegin { tid, .. }
            | Event::PollEnd { tid, .. } => Some(*tid),
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

impl Trace {
    pub fn push(&self, e: Event) {
        // The recording thread: the event's own, else this thread's (the
        // lock tracker pushes while it holds the thread context).
        let t = e.tid().unwrap_or_else(context::current_tid);
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
}

/// The run's trace is where its threads' lock events go.
impl LockSink for Trace {
    /// Lockdep's check before `held -> name` is added: same-class nesting,
    /// or a path `name -> ... -> held` already seen, is a violation.
    fn lockdep(&self, held: &[(&'static str, LockKind)], name: &'static str, func: &'static str) {
        if held.iter().any(|(h, _)| *h == name) {
            fail(
                Inv::K1,
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
                fail(
                    Inv::K1,
                    format!(
                        "possible circular locking dependency: {func} takes {name} while holding {h}, but {} was seen before",
                        path.join(" -> ")
                    ),
                );
            }
            graph.insert((*h, name));
        }
    }

    fn lock_event(&self, tid: Tid, name: &'static str, acquire: bool, func: &'static str) {
        if self.detail.load(instr::Ordering::Relaxed) {
            self.push(Event::Lock { tid, name, acquire, func });
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
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

/// Record a memory event (a free, a use after free) in this thread's
/// run, when the run records detail (timelines): it costs nothing
/// otherwise, and the checks never read it.
pub fn note_memory(e: Event) {
    let sink = context::sink().and_then(|s| s.into_any().downcast::<Trace>().ok());
    if let Some(t) = sink {
        if t.detail.load(instr::Ordering::Relaxed) {
            t.push(e);
        }
    }
}

/// Bind this thread to a run's trace as thread `tid`.
pub fn bind(trace: Arc<Trace>, tid: Tid) {
    context::bind(trace, tid);
}
