//! The concurrent runner: a program's setup runs sequentially, then each
//! actor runs its operations on its own thread (a task of the modelled
//! process), then the checks. The same code runs one schedule under the
//! std backend, and is explored under loom and shuttle, which choose the
//! interleaving at every lock, atomic and wait.
//!
//! What is checked, and when:
//! - as they run: the model's own reports (use-after-free and the other
//!   heap checks, kernel `BUG()`, lockdep's lock order, sleeping under a
//!   spinlock, the reader's publication check), and under loom every data
//!   race on kernel memory;
//! - once every actor that cannot block has finished: no reader or writer
//!   is asleep while its wait condition holds (`V2`, lost wake-up); then
//!   every sleeper (an actor marked `may_block`) gets a signal, as a test
//!   harness would send one, and its call returns `-ERESTARTSYS`
//!   (`blocks`): a blocking actor may sleep for good;
//! - at the end: the oracle over the whole trace and the final state, the
//!   quiescent checks, and teardown with its leak check.
//!
//! An actor not marked `may_block` that sleeps with nothing left to wake
//! it hangs: `V1`. A run whose threads all block on locks is a deadlock
//! (`V1` too), which loom and shuttle detect themselves; [`classify`]
//! turns their report into a violation. The sequential runner
//! ([`crate::seq::run_threads`]) gives the same verdicts: one meaning of
//! blocking under every driver.

use crate::api::{Op, Outcome};
use crate::invariant::{Inv, Violation, fail};
use crate::kernel::{Config, Kernel};
use crate::oracle::Oracle;
use crate::pipe;
use crate::seq::Handles;
use crate::sync::{ActorState, ActorStates, Arc, thread};
use crate::trace::Tid;
use crate::uapi::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, poll_mask_name};

/// One thread of a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// A short name for reports (`poster`, `reader`).
    pub name: String,
    /// Its operations, in order.
    pub ops: Vec<Op>,
    /// Whether an operation may sleep with nothing left to wake it (a
    /// blocking read): a sleep that nothing else ends is ended by a
    /// signal. An actor without it that sleeps for good is a hang (`V1`).
    pub may_block: bool,
}

impl Actor {
    pub fn new(name: &str, ops: Vec<Op>) -> Actor {
        Actor { name: name.to_string(), ops, may_block: false }
    }
    pub fn blocking(name: &str, ops: Vec<Op>) -> Actor {
        Actor { name: name.to_string(), ops, may_block: true }
    }

    /// Whether the runner ends the actor's sleeps once nothing else can
    /// run: it is `may_block`, or it polls with a timeout, whose timer
    /// fires then (APPROX: no earlier, and the virtual clock does not
    /// move; the actor's other sleeps are then ended by a signal too).
    pub fn sleeps_until_ended(&self) -> bool {
        self.may_block || self.ops.iter().any(|op| op.poll_timeout().is_some())
    }
}

/// A concurrent program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub config: Config,
    /// Run sequentially before any actor starts, as a sequential run runs
    /// it (deferred work waits for `key_gc` or `rcu_barrier`).
    pub setup: Vec<Op>,
    pub actors: Vec<Actor>,
}

/// What one run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// Each actor's outcomes, in actor order.
    pub outcomes: Vec<Vec<Outcome>>,
    /// Records the oracle matched.
    pub records_checked: u64,
}

// The trace of the latest run on this OS thread (loom and shuttle run all
// their threads on it), so a driver can show the failing execution.
std::thread_local! {
    static LAST_TRACE: std::cell::RefCell<Option<Arc<crate::trace::Trace>>> = const { std::cell::RefCell::new(None) };
    static DETAIL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

// The harness's deliberate panic is armed here and fires in `Kernel::boot`.
pub use crate::kernel::{injected_panic, set_inject_panic};

/// The trace of the latest run started on this thread.
pub fn last_trace() -> Option<Arc<crate::trace::Trace>> {
    LAST_TRACE.with(|t| t.borrow().clone())
}

/// Record lock events too in the runs started on this thread (timelines).
pub fn set_detail(on: bool) {
    DETAIL.with(|d| d.set(on));
}

/// The thread id of actor `i` (the setup runs as task 1).
pub fn actor_tid(i: usize) -> Tid {
    2 + i as Tid
}

/// Run `p` once. Must be called inside a loom model or a shuttle test
/// under those backends. Violations panic (so the explorer records the
/// schedule); use [`crate::catch::catch_violation`] around an explorer to
/// get them back.
pub fn run(p: &Program) -> RunOutcome {
    crate::trace::reset_fns();
    crate::probe::reset();
    let k = Arc::new(Kernel::boot(p.config.clone()));
    LAST_TRACE.with(|t| *t.borrow_mut() = Some(k.trace.clone()));
    if DETAIL.with(|d| d.get()) {
        k.trace.detail.store(true, crate::sync::instr::Ordering::Relaxed);
    }
    let mut handles = Handles::default();
    {
        let cx = k.cx(1);
        for op in &p.setup {
            let out = crate::sync::with_waits_ending(|| crate::seq::exec_settling(&cx, &mut handles, op, true).0);
            if out == Outcome::Blocked {
                fail(
                    Inv::V1,
                    format!(
                        "hang: the setup sleeps in `{op}` with nothing left to wake it (a thread that may sleep for good is marked `(blocking)`)"
                    ),
                );
            }
        }
    }

    let states = Arc::new(ActorStates::new(p.actors.len()));
    let mut joins: Vec<(usize, bool, thread::JoinHandle<Vec<Outcome>>)> = Vec::new();
    for (i, a) in p.actors.iter().enumerate() {
        let k = k.clone();
        let mut h = handles.clone();
        let ops = a.ops.clone();
        let tid = actor_tid(i);
        let states = states.clone();
        let jh = thread::spawn(move || {
            let cx = k.cx(tid);
            crate::trace::bind_actor(states.clone(), i);
            let mut out = Vec::with_capacity(ops.len());
            for op in &ops {
                k.trace.push(crate::trace::Event::SyscallEnter { tid, what: op.to_string() });
                let o = match h.exec(&cx, op) {
                    // A poll's timer ended its sleep: it found nothing.
                    Outcome::Blocked if op.poll_timeout().is_some() => Outcome::Poll(0),
                    o => o,
                };
                k.trace.push(crate::trace::Event::SyscallExit { tid, ret: o.to_string() });
                out.push(o);
                // Leaving the syscall: RCU callbacks whose grace period
                // has ended run here.
                crate::rcu::rcu_do_batch(&cx);
            }
            states.set(i, ActorState::Done);
            out
        });
        joins.push((i, a.sleeps_until_ended(), jh));
    }

    let mut outcomes: Vec<Option<Vec<Outcome>>> = vec![None; p.actors.len()];

    // The actors that may not sleep for good are joined first, in order.
    // One that sleeps with nothing left to wake it has hung (V1). Shuttle
    // reports the join of a sleeper as a deadlock, which `classify` turns
    // into V1; loom aborts the process on one, so under loom the runner
    // first waits until the actor is done or every actor is done or
    // asleep, and reports the hang itself. (Joining directly under
    // shuttle keeps the schedules its catalog tests and fuzz seeds were
    // recorded with.)
    let blocking_ids: Vec<bool> = p.actors.iter().map(Actor::sleeps_until_ended).collect();
    let (blocking, finite): (Vec<_>, Vec<_>) = joins.into_iter().partition(|(_, b, _)| *b);
    let mut hung = None;
    for (i, _, jh) in finite {
        if crate::sync::BACKEND == "loom" {
            let v = states.wait_until(|v| v[i] == ActorState::Done || v.iter().all(|s| *s != ActorState::Running));
            if v[i] != ActorState::Done {
                hung = Some(i);
                break;
            }
        }
        outcomes[i] = Some(jh.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
    }

    // Every other actor has finished or sleeps. Nobody is left to wake a
    // sleeper: a sleeper whose condition holds missed its wake-up (V2); a
    // sleeper not marked `may_block` has hung (V1). A blocking actor may
    // sleep for good: a signal ends its sleep, as a test harness would
    // send one.
    states.wait_until(|v| v.iter().zip(&blocking_ids).all(|(s, b)| !b || *s != ActorState::Running));
    check_wakeups(&k);
    if let Some(i) = hung {
        fail(
            Inv::V1,
            format!(
                "hang: thread `{}` sleeps with nothing left to wake it (a thread that may sleep for good is marked `(blocking)`)",
                p.actors[i].name
            ),
        );
    }
    k.ending.store(true, crate::sync::instr::Ordering::SeqCst);
    for (_, pipe) in k.pipes.all() {
        if crate::heap::Obj::hdr(&pipe).is_live() {
            pipe.rd_wait.signal_all();
            pipe.wr_wait.signal_all();
        }
    }
    for (_, ep) in k.eps.all() {
        if crate::heap::Obj::hdr(&ep).is_live() {
            ep.wq.signal_all();
        }
    }
    for (i, _, jh) in blocking {
        outcomes[i] = Some(jh.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
    }

    let cx = k.cx(1);
    k.settle(&cx);
    let mut oracle = Oracle::default();
    if let Err(v) = oracle.check_quiescent(&k) {
        fail(v.inv, v.message);
    }
    k.do_exit(&cx);
    if let Err(v) = oracle.check_teardown(&k) {
        fail(v.inv, v.message);
    }
    RunOutcome {
        outcomes: outcomes.into_iter().map(|o| o.unwrap_or_default()).collect(),
        records_checked: oracle.records_checked,
    }
}

/// `V2`: no reader asleep on a pipe it could read, no writer asleep on a
/// pipe it could write, no `epoll_wait()` asleep on a ready pipe, once the
/// threads that could wake them are done.
pub fn check_wakeups(k: &Kernel) {
    if let Some(m) = crate::eventpoll::lost_wakeup(&k.cx(1)) {
        fail(Inv::V2, m);
    }
    for (pid, p) in k.pipes.all() {
        if !crate::heap::Obj::hdr(&p).is_live() {
            continue;
        }
        // A poller asleep is woken by the events it asked for; a reader
        // or writer by readability or room.
        let head = p.head.load(crate::sync::atomic::Ordering::Relaxed);
        let tail = p.tail.load(crate::sync::atomic::Ordering::Relaxed);
        let read_mask = if pipe::pipe_occupancy(&p, head, tail) > 0 { POLLIN | POLLRDNORM } else { 0 }
            | if p.writers.load(crate::sync::atomic::Ordering::Relaxed) == 0 { POLLHUP } else { 0 };
        let max_usage = p.max_usage.load(crate::sync::atomic::Ordering::Relaxed);
        let write_mask = if pipe::pipe_full(&p, head, tail, max_usage) { 0 } else { POLLOUT | POLLWRNORM }
            | if p.readers.load(crate::sync::atomic::Ordering::Relaxed) == 0 { POLLERR } else { 0 };
        for (queue, mask, events) in
            [("rd_wait", read_mask, p.rd_wait.poll_sleepers()), ("wr_wait", write_mask, p.wr_wait.poll_sleepers())]
        {
            if let Some(e) = events.into_iter().find(|e| e & mask != 0) {
                fail(
                    Inv::V2,
                    format!(
                        "lost wake-up: a poller asleep on pipe#{}'s {queue} for {} while {} are ready",
                        pid.index(),
                        poll_mask_name(e),
                        poll_mask_name(e & mask)
                    ),
                );
            }
        }
        let readers = p.rd_wait.plain_sleepers();
        if readers > 0 && pipe::pipe_readable(&p) {
            let occ = pipe::pipe_occupancy(
                &p,
                p.head.load(crate::sync::atomic::Ordering::Relaxed),
                p.tail.load(crate::sync::atomic::Ordering::Relaxed),
            );
            fail(
                Inv::V2,
                format!("lost wake-up: {readers} reader(s) asleep on pipe#{} with {occ} buffer(s) queued", pid.index()),
            );
        }
        let writers = p.wr_wait.plain_sleepers();
        if writers > 0 && pipe::pipe_writable(&p) {
            fail(
                Inv::V2,
                format!("lost wake-up: {writers} writer(s) asleep on pipe#{} with room to write", pid.index()),
            );
        }
    }
}

/// Turn an explorer's failure report into a violation: the model's own
/// (`invariant X violated: ...`), a deadlock (`V1`), or a loom data race
/// (`D1`). Anything else is `None` (a bug in the harness).
pub fn classify(message: &str) -> Option<Violation> {
    if let Some(v) = message.lines().find_map(Violation::parse) {
        return Some(v);
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("deadlock") {
        return Some(Violation {
            inv: Inv::V1,
            message: format!("deadlock: every thread is blocked ({})", first_line(message)),
        });
    }
    if lower.contains("causality violation") || lower.contains("concurrent") && lower.contains("access") {
        let at = crate::sync::last_access().map(|a| format!(" at {a}")).unwrap_or_default();
        return Some(Violation { inv: Inv::D1, message: format!("data race{at}: {}", first_line(message)) });
    }
    None
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}
