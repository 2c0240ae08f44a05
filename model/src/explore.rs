//! Explorers over a concurrent [`Program`]: loom (every interleaving
//! within a preemption bound, C11 orderings) and shuttle (random, PCT and
//! DFS schedulers). They sit above the runner, outside the sync facade:
//! they drive loom and shuttle themselves, and reach into the facade only
//! through what it exports (`sync::set_sequential`). Each returns how many executions ran and the first
//! violation, with what replays it: a shuttle schedule token, or for loom
//! the program and its bounds (loom's exploration order is deterministic).

use crate::conc;
#[allow(unused_imports)]
use crate::conc::Program;
use crate::invariant::Violation;

/// The result of an exploration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exploration {
    /// Executions started (the failing one included).
    pub executions: u64,
    /// The first violation, if any.
    pub result: Result<(), Violation>,
    /// A token that replays the failing execution (shuttle only).
    pub schedule: Option<String>,
    /// What a replay has to say: where a semantic schedule stopped fitting.
    pub note: Option<String>,
    /// The budget that ended the exploration early, if one did
    /// (`steps: ...`, `time: ...`, `memory: ...`): the executions before it
    /// found nothing, and the rest did not run.
    pub budget: Option<String>,
}

/// The limits of one exploration. Exceeding one ends it with a named
/// verdict (`budget exceeded`), never a crash: a step limit per
/// execution (a thread that spins for ever, a program too long to run),
/// a time limit for the whole exploration, and a memory limit on the
/// heap of the whole process (counted by [`CountingAlloc`] when the
/// binary installs it; without it the memory limit never fires).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Scheduling steps one execution may take.
    pub steps_max: u64,
    /// Wall-clock milliseconds the whole exploration may take.
    pub time_limit_ms: Option<u64>,
    /// Heap bytes the process may hold while exploring.
    pub memory_limit_bytes: Option<u64>,
}

impl Limits {
    /// Steps one execution may take by default: far more than any
    /// committed scenario needs (the longest takes about a million).
    pub const STEPS_MAX_DEFAULT: u64 = 50_000_000;
}

impl Default for Limits {
    fn default() -> Self {
        Limits { steps_max: Limits::STEPS_MAX_DEFAULT, time_limit_ms: None, memory_limit_bytes: None }
    }
}

/// The first line of a budget stop, as it travels inside a panic.
pub const BUDGET_PANIC: &str = "wqsim budget exceeded: ";

std::thread_local! {
    static LIMITS: std::cell::Cell<Limits> = std::cell::Cell::new(Limits::default());
    #[allow(clippy::type_complexity)]
    static PROGRESS: std::cell::RefCell<Option<Box<dyn FnMut(u64)>>> = const { std::cell::RefCell::new(None) };
}

/// Set the limits of the explorations started on this thread.
pub fn set_limits(l: Limits) {
    LIMITS.with(|c| c.set(l));
}

/// The limits of the explorations started on this thread.
pub fn limits() -> Limits {
    LIMITS.with(|c| c.get())
}

/// Call `f` with the number of executions so far, now and then while an
/// exploration on this thread runs (a progress line); `None` stops it.
pub fn set_progress(f: Option<Box<dyn FnMut(u64)>>) {
    PROGRESS.with(|p| *p.borrow_mut() = f);
}

#[cfg_attr(not(any(loom, feature = "shuttle")), allow(dead_code))]
fn report_progress(executions: u64) {
    PROGRESS.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if let Some(f) = p.as_mut() {
                f(executions)
            }
        }
    });
}

/// The budget a panic message reports, if it is a budget stop: ours, or
/// shuttle's own step bound.
pub fn budget_of(message: &str) -> Option<String> {
    if let Some(l) = message.lines().find_map(|l| l.split_once(BUDGET_PANIC)) {
        return Some(l.1.to_string());
    }
    if message.contains("exceeded max_steps bound") || message.contains("exceeded the step bound") {
        return Some(format!("steps: one execution took more than {} scheduling steps", limits().steps_max));
    }
    None
}

/// Counts the bytes the process holds on the heap: install it as the
/// binary's `#[global_allocator]` and the memory limit is enforced.
pub struct CountingAlloc;

static HEAP_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Bytes on the heap now (0 without [`CountingAlloc`]).
pub fn heap_bytes() -> u64 {
    HEAP_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

// SAFETY: every call forwards to the system allocator unchanged; the
// counter is a relaxed atomic that never affects an allocation.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        HEAP_BYTES.fetch_add(layout.size() as u64, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        HEAP_BYTES.fetch_sub(layout.size() as u64, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        HEAP_BYTES.fetch_add(new_size as u64, std::sync::atomic::Ordering::Relaxed);
        HEAP_BYTES.fetch_sub(layout.size() as u64, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

/// The clock of the time limit: started when an exploration starts.
/// Wall-clock time only ever ends a run (with a verdict that says so);
/// it never changes which schedules run.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    start: std::time::Instant,
    limits: Limits,
}

impl Deadline {
    pub fn start() -> Deadline {
        Deadline { start: std::time::Instant::now(), limits: limits() }
    }
    /// Milliseconds since the start.
    pub fn elapsed_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    /// Which budget is exceeded now, if one is: time or memory.
    pub fn exceeded(&self) -> Option<String> {
        if let Some(t) = self.limits.time_limit_ms {
            let e = self.elapsed_ms();
            if e > t {
                return Some(format!("time: the run took more than {t} ms (time_limit_ms={t})"));
            }
        }
        if let Some(m) = self.limits.memory_limit_bytes {
            let h = heap_bytes();
            if h > m {
                return Some(format!(
                    "memory: the heap grew to {} MiB, over the limit of {} MiB (memory_limit_mib={})",
                    h >> 20,
                    m >> 20,
                    m >> 20
                ));
            }
        }
        None
    }
}

/// Run `f`, turning a failure report (a violation, or an explorer's own
/// deadlock or data-race report) into a [`Violation`]; anything else is a
/// harness bug and is re-raised (a budget stop too: use
/// [`catch_report_budget`] to get it back).
pub fn catch_report(f: impl FnOnce()) -> Result<(), Violation> {
    let (r, budget) = catch_report_budget(f);
    if let Some(b) = budget {
        std::panic::panic_any(format!("{BUDGET_PANIC}{b}"));
    }
    r
}

/// As [`catch_report`], and a budget stop becomes its message: the run
/// found nothing before the budget ended it.
pub fn catch_report_budget(f: impl FnOnce()) -> (Result<(), Violation>, Option<String>) {
    match crate::catch::catch_panic(f) {
        Ok(()) => (Ok(()), None),
        Err(msg) => {
            if let Some(b) = budget_of(&msg) {
                return (Ok(()), Some(b));
            }
            match conc::classify(&msg) {
                Some(v) => (Err(v), None),
                None => {
                    let at = crate::catch::last_panic_location().map(|l| format!(" (at {l})")).unwrap_or_default();
                    std::panic::panic_any(format!("explorer failed outside the model's checks: {msg}{at}"))
                }
            }
        }
    }
}

#[cfg(loom)]
pub use self::loom_explorer::*;

#[cfg(loom)]
mod loom_explorer {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Explore `p` exhaustively within `preemption_bound` preemptions
    /// (`LOOM_MAX_PREEMPTIONS` overrides it).
    pub fn loom(p: &Program, preemption_bound: usize, max_branches: usize) -> Exploration {
        let count = Arc::new(AtomicU64::new(0));
        let mut b = ::loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(preemption_bound);
        }
        b.max_branches = b.max_branches.max(max_branches);
        let deadline = Deadline::start();
        let time_limit = limits().time_limit_ms;
        if let Some(ms) = time_limit {
            b.max_duration = Some(std::time::Duration::from_millis(ms));
        }
        let c = count.clone();
        let p = p.clone();
        let (result, mut budget) = catch_report_budget(move || {
            b.check(move || {
                let n = c.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(256) {
                    report_progress(n);
                }
                if let Some(b) = deadline.exceeded().filter(|b| b.starts_with("memory")) {
                    std::panic::panic_any(format!("{BUDGET_PANIC}{b}"));
                }
                conc::run(&p);
            })
        });
        // Loom stops at its max_duration quietly: say so.
        if budget.is_none() && result.is_ok() {
            if let Some(ms) = time_limit.filter(|ms| deadline.elapsed_ms() >= *ms) {
                budget = Some(format!("time: the run took more than {ms} ms (time_limit_ms={ms})"));
            }
        }
        Exploration { executions: count.load(Ordering::Relaxed), result, schedule: None, note: None, budget }
    }
}

#[cfg(all(feature = "shuttle", not(loom)))]
pub use self::shuttle_explorer::*;

#[cfg(all(feature = "shuttle", not(loom)))]
mod shuttle_explorer {
    use super::*;
    use shuttle::scheduler::{DfsScheduler, PctScheduler, RandomScheduler, Schedule, Scheduler, Task, TaskId};
    use std::sync::{Arc, Mutex};

    /// The choices of one execution: which task ran at each step, and the
    /// random values handed out.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    struct Choices {
        /// The steps where more than one thread could run: the thread
        /// chosen and the kernel function it was in (forced steps need no
        /// recording).
        choices: Vec<(usize, &'static str)>,
    }

    /// A semantic schedule: segments of (task, kernel function, steps),
    /// each a stretch of one thread's steps inside one function.
    fn segments(c: &Choices) -> Vec<(usize, String, usize)> {
        let mut out: Vec<(usize, String, usize)> = Vec::new();
        for (t, f) in &c.choices {
            match out.last_mut() {
                Some((lt, lf, n)) if lt == t && lf == f => *n += 1,
                _ => out.push((*t, f.to_string(), 1)),
            }
        }
        out
    }

    /// `s2:` then `task@function*steps` segments (`*1` left out), `.`
    /// separated, over the steps where more than one thread could run: a
    /// schedule by what each thread was doing, so it outlives edits that
    /// add or remove steps elsewhere.
    fn encode_semantic(c: &Choices) -> String {
        let segs: Vec<String> = segments(c)
            .into_iter()
            .map(|(t, f, n)| {
                let f = if f == "(userspace)" { "user".to_string() } else { f };
                if n == 1 { format!("{t}@{f}") } else { format!("{t}@{f}*{n}") }
            })
            .collect();
        format!("s2:{}", segs.join("."))
    }

    fn decode_semantic(s: &str) -> Option<Vec<(usize, String, usize)>> {
        let body = s.trim().strip_prefix("s2:")?;
        let mut out = Vec::new();
        for seg in body.split('.').filter(|x| !x.is_empty()) {
            let (t, rest) = seg.split_once('@')?;
            let (f, n) = match rest.split_once('*') {
                Some((f, n)) => (f, n.parse::<usize>().ok().filter(|n| *n <= 1 << 24)?),
                None => (rest, 1),
            };
            let f = if f == "user" { "(userspace)" } else { f };
            if f.is_empty() || n == 0 {
                return None;
            }
            out.push((t.parse().ok()?, f.to_string(), n));
        }
        // An empty schedule is a run without a choice; a token emptied by
        // hand replays as a divergence at its first choice.
        Some(out)
    }

    /// Follows a semantic schedule. Within a stretch of one thread, a
    /// function that now takes more steps keeps the thread running until
    /// it leaves the function, and one that takes fewer ends its segment
    /// early; the thread is preempted where the recording preempted it, by
    /// function and step count. When the recording no longer fits (the
    /// thread is not runnable, or is somewhere else), it says where and
    /// the rest runs under the random scheduler.
    struct SemanticReplay {
        segs: Vec<(usize, String, usize)>,
        at: usize,
        done_in_seg: usize,
        started: bool,
        diverged: Arc<Mutex<Option<String>>>,
        random: RandomScheduler,
        step: usize,
    }

    impl Scheduler for SemanticReplay {
        fn new_execution(&mut self) -> Option<Schedule> {
            if std::mem::replace(&mut self.started, true) {
                return None;
            }
            self.random.new_execution()
        }
        fn next_task(&mut self, runnable: &[&Task], current: Option<TaskId>, is_yielding: bool) -> Option<TaskId> {
            self.step += 1;
            if runnable.len() == 1 {
                return Some(runnable[0].id());
            }
            if self.diverged.lock().unwrap().is_some() {
                return self.random.next_task(runnable, current, is_yielding);
            }
            loop {
                let Some((task, f, n)) = self.segs.get(self.at).cloned() else {
                    // Past the recording with a choice still to make: the
                    // recorded run ended here (its last choice came just
                    // before its failure), so the schedule was cut short.
                    *self.diverged.lock().unwrap() = Some(format!(
                        "the schedule ended at step {} ({} segments) while the run still had threads to choose from (a truncated token?); the rest ran under the random scheduler",
                        self.step,
                        self.segs.len()
                    ));
                    return self.random.next_task(runnable, current, is_yielding);
                };
                let here = crate::trace::fn_of(task as u32 + 1);
                let id = runnable.iter().map(|t| t.id()).find(|id| usize::from(*id) == task);
                let continues = self.at > 0 && self.segs[self.at - 1].0 == task;
                let next_same_task = self.segs.get(self.at + 1).is_some_and(|s| s.0 == task);
                let in_f = id.is_some() && here == f;
                if self.done_in_seg >= n && !(in_f && next_same_task) {
                    // The stretch is done: the recording preempted the
                    // thread (or it moved on) after these steps.
                    self.at += 1;
                    self.done_in_seg = 0;
                    continue;
                }
                match id {
                    Some(id) if here == f => {
                        self.done_in_seg += 1;
                        return Some(id);
                    }
                    Some(_) if continues || self.done_in_seg > 0 => {
                        // The thread left the function earlier than recorded.
                        self.at += 1;
                        self.done_in_seg = 0;
                    }
                    None if self.done_in_seg > 0 => {
                        // It finished or went to sleep earlier than recorded.
                        self.at += 1;
                        self.done_in_seg = 0;
                    }
                    _ => {
                        let what = match id {
                            None => format!("thread {} is not runnable", task + 1),
                            Some(_) => format!("thread {} is in {here}", task + 1),
                        };
                        *self.diverged.lock().unwrap() = Some(format!(
                            "the schedule diverged at step {} (segment {} of {}: thread {} in {f}; {what}); the rest ran under the random scheduler",
                            self.step,
                            self.at + 1,
                            self.segs.len(),
                            task + 1
                        ));
                        return self.random.next_task(runnable, current, is_yielding);
                    }
                }
            }
        }
        fn next_u64(&mut self) -> u64 {
            self.random.next_u64()
        }
    }

    /// Wraps a scheduler, records each execution's choices, and keeps the
    /// budgets: between executions the time and memory limits end the
    /// exploration; within one, every 4,096 steps they end the execution.
    struct Recording<S> {
        inner: S,
        current: Arc<Mutex<Choices>>,
        executions: Arc<Mutex<u64>>,
        deadline: Deadline,
        stopped: Arc<Mutex<Option<String>>>,
        steps: u64,
    }

    impl<S: Scheduler> Scheduler for Recording<S> {
        fn new_execution(&mut self) -> Option<Schedule> {
            let n = *self.executions.lock().unwrap();
            if n > 0 {
                if let Some(b) = self.deadline.exceeded() {
                    *self.stopped.lock().unwrap() = Some(b);
                    return None;
                }
                if n.is_multiple_of(64) {
                    report_progress(n);
                }
            }
            let s = self.inner.new_execution();
            if s.is_some() {
                *self.current.lock().unwrap() = Choices::default();
                *self.executions.lock().unwrap() += 1;
                self.steps = 0;
            }
            s
        }
        fn next_task(&mut self, runnable: &[&Task], current: Option<TaskId>, is_yielding: bool) -> Option<TaskId> {
            self.steps += 1;
            if self.steps.is_multiple_of(4096) {
                if let Some(b) = self.deadline.exceeded() {
                    std::panic::panic_any(format!("{BUDGET_PANIC}{b}"));
                }
            }
            let t = self.inner.next_task(runnable, current, is_yielding);
            if let Some(t) = t {
                let mut c = self.current.lock().unwrap();
                if runnable.len() > 1 {
                    c.choices.push((usize::from(t), crate::trace::fn_of(usize::from(t) as u32 + 1)));
                }
            }
            t
        }
        fn next_u64(&mut self) -> u64 {
            self.inner.next_u64()
        }
    }

    fn config() -> shuttle::Config {
        let mut c = shuttle::Config::new();
        c.failure_persistence = shuttle::FailurePersistence::None;
        c.silence_warnings = true;
        c.stack_size = 0x80000;
        // A long program's one execution may take millions of steps; past
        // the limit the run ends with a budget verdict (see `budget_of`).
        c.max_steps = shuttle::MaxSteps::FailAfter(limits().steps_max.try_into().unwrap_or(usize::MAX));
        c
    }

    fn run_with<S: Scheduler + 'static>(p: &Program, inner: S) -> Exploration {
        let current = Arc::new(Mutex::new(Choices::default()));
        let executions = Arc::new(Mutex::new(0u64));
        let stopped = Arc::new(Mutex::new(None));
        let sched = Recording {
            inner,
            current: current.clone(),
            executions: executions.clone(),
            deadline: Deadline::start(),
            stopped: stopped.clone(),
            steps: 0,
        };
        let runner = shuttle::Runner::new(sched, config());
        let p = p.clone();
        let (result, budget) = catch_report_budget(move || {
            runner.run(move || {
                conc::run(&p);
            });
        });
        let schedule = result.is_err().then(|| encode_semantic(&current.lock().unwrap()));
        let executions = *executions.lock().unwrap();
        let budget = budget.or_else(|| stopped.lock().unwrap().take());
        Exploration { executions, result, schedule, note: None, budget }
    }

    /// One execution that picks the newest runnable task at every step: a
    /// spawned thread runs to its end before its parent goes on, as the
    /// std backend runs threads inline.
    struct NewestFirst {
        started: bool,
    }

    impl Scheduler for NewestFirst {
        fn new_execution(&mut self) -> Option<Schedule> {
            if std::mem::replace(&mut self.started, true) { None } else { Some(Schedule::new(0)) }
        }
        fn next_task(&mut self, runnable: &[&Task], _current: Option<TaskId>, _is_yielding: bool) -> Option<TaskId> {
            runnable.iter().map(|t| t.id()).max_by_key(|id| usize::from(*id))
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
    }

    /// Run `f` as the std backend would, inside one shuttle execution (the
    /// shuttle build has no other way to run model code): threads inline,
    /// and a wait whose condition is false ends at once (`-ERESTARTSYS`).
    /// A violation panics out of it, as in the std backend.
    pub fn shuttle_seq<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        let out: Arc<Mutex<Option<R>>> = Arc::new(Mutex::new(None));
        let f = Arc::new(Mutex::new(Some(f)));
        let o = out.clone();
        let runner = shuttle::Runner::new(NewestFirst { started: false }, config());
        let was = crate::sync::set_sequential(true);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            runner.run(move || {
                let f = f.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(f) = f {
                    *o.lock().unwrap_or_else(|e| e.into_inner()) = Some(f());
                }
            })
        }));
        crate::sync::set_sequential(was);
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
        out.lock().unwrap_or_else(|e| e.into_inner()).take().expect("the sequential execution ran")
    }

    /// One step of an explicit schedule: run thread `tid` until it enters
    /// kernel function `until` (it stops at its first scheduling point
    /// there) or is about to take the lock named `until`; with none, until
    /// it finishes or sleeps.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Directive {
        pub tid: crate::trace::Tid,
        pub until: Option<String>,
    }

    struct Directed {
        dirs: Vec<Directive>,
        at: usize,
        steps_in_directive: usize,
        started: bool,
        /// Tasks that have been runnable at some point (spawned).
        seen: std::collections::BTreeSet<usize>,
        /// Each task's kernel functions and awaited locks at the steps
        /// where it could run: what an `until` may name.
        reached: Arc<Mutex<std::collections::BTreeMap<usize, std::collections::BTreeSet<&'static str>>>>,
    }

    impl Scheduler for Directed {
        fn new_execution(&mut self) -> Option<Schedule> {
            if std::mem::replace(&mut self.started, true) { None } else { Some(Schedule::new(0)) }
        }
        fn next_task(&mut self, runnable: &[&Task], _current: Option<TaskId>, _is_yielding: bool) -> Option<TaskId> {
            let ids: Vec<TaskId> = runnable.iter().map(|t| t.id()).collect();
            self.seen.extend(ids.iter().map(|id| usize::from(*id)));
            {
                let mut r = self.reached.lock().unwrap();
                for id in &ids {
                    let tid = usize::from(*id) as u32 + 1;
                    let e = r.entry(usize::from(*id)).or_default();
                    e.insert(crate::trace::fn_of(tid));
                    if let Some(l) = crate::trace::pending_lock_of(tid) {
                        e.insert(l);
                    }
                }
            }
            while let Some(d) = self.dirs.get(self.at) {
                let task = d.tid as usize - 1;
                if !self.seen.contains(&task) {
                    // Not spawned yet: the setup and the driver go on.
                    return ids.iter().copied().min_by_key(|id| usize::from(*id));
                }
                let reached = self.steps_in_directive > 0
                    && d.until.as_deref().is_some_and(|f| {
                        crate::trace::fn_of(d.tid) == f || crate::trace::pending_lock_of(d.tid) == Some(f)
                    });
                match ids.iter().find(|id| usize::from(**id) == task) {
                    Some(id) if !reached => {
                        self.steps_in_directive += 1;
                        return Some(*id);
                    }
                    _ => {
                        self.at += 1;
                        self.steps_in_directive = 0;
                    }
                }
            }
            // Past the schedule: the lowest-numbered runnable thread.
            ids.into_iter().min_by_key(|id| usize::from(*id))
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
    }

    /// Run `p` once under an explicit schedule; after its last directive
    /// the lowest-numbered runnable thread runs.
    pub fn shuttle_directed(p: &Program, dirs: Vec<Directive>) -> Exploration {
        shuttle_directed_checked(p, dirs).0
    }

    /// A directive whose `until` its thread never reached in the run: the
    /// directive's index and every kernel function and lock the thread
    /// was seen in (sorted), to suggest the name meant.
    pub type Unreached = (usize, Vec<&'static str>);

    /// As [`shuttle_directed`], and the directives whose `until` was never
    /// reached: a misspelt or misplaced name, which would otherwise let
    /// the thread run to its end and the expected interleaving never
    /// happen.
    pub fn shuttle_directed_checked(p: &Program, dirs: Vec<Directive>) -> (Exploration, Vec<Unreached>) {
        let reached = Arc::new(Mutex::new(std::collections::BTreeMap::new()));
        let e = run_with(
            p,
            Directed {
                dirs: dirs.clone(),
                at: 0,
                steps_in_directive: 0,
                started: false,
                seen: Default::default(),
                reached: reached.clone(),
            },
        );
        let reached = reached.lock().unwrap();
        let mut unreached = Vec::new();
        for (i, d) in dirs.iter().enumerate() {
            let Some(f) = d.until.as_deref() else { continue };
            let names = reached.get(&(d.tid as usize - 1)).cloned().unwrap_or_default();
            if !names.contains(f) {
                unreached.push((i, names.into_iter().filter(|n| *n != "(userspace)").collect()));
            }
        }
        (e, unreached)
    }

    /// A schedule read from bytes (the fuzz targets' input): each byte
    /// hands the processor to runnable task number (high four bits) modulo
    /// the runnable count, which then keeps it for more steps where another
    /// could run: the low four bits n give n steps below 8 and 2^(n-4)
    /// from 8 (16 to 2048), so one byte can preempt within a step or after
    /// a long burst. Past the last
    /// byte the running thread keeps running while it can, then the
    /// lowest-numbered runnable one: no further preemptions.
    struct FromBytes {
        bytes: Vec<u8>,
        at: usize,
        /// Steps the current choice still runs for.
        hold: u16,
        started: bool,
    }

    impl Scheduler for FromBytes {
        fn new_execution(&mut self) -> Option<Schedule> {
            if std::mem::replace(&mut self.started, true) { None } else { Some(Schedule::new(0)) }
        }
        fn next_task(&mut self, runnable: &[&Task], current: Option<TaskId>, is_yielding: bool) -> Option<TaskId> {
            let mut ids: Vec<TaskId> = runnable.iter().map(|t| t.id()).collect();
            if ids.len() == 1 {
                return ids.first().copied();
            }
            // A spinning thread yields (`cpu_relax`): it gives the
            // processor up, or it would spin for ever past the last byte.
            if is_yielding {
                if let Some(c) = current {
                    ids.retain(|id| *id != c);
                    self.hold = 0;
                }
            }
            let keep = current.filter(|c| ids.contains(c));
            if let Some(c) = keep {
                if self.hold > 0 || self.at >= self.bytes.len() {
                    self.hold = self.hold.saturating_sub(1);
                    return Some(c);
                }
            }
            match self.bytes.get(self.at) {
                Some(b) => {
                    self.at += 1;
                    let n = (b & 0x0f) as u16;
                    self.hold = if n < 8 { n } else { 1 << (n - 4) };
                    Some(ids[(b >> 4) as usize % ids.len()])
                }
                None => ids.into_iter().min_by_key(|id| usize::from(*id)),
            }
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
    }

    /// Run `p` once under the schedule `bytes` spell (see `FromBytes`):
    /// the same bytes give the same interleaving. A failure carries its
    /// `s2:` schedule token.
    pub fn shuttle_bytes(p: &Program, bytes: &[u8]) -> Exploration {
        run_with(p, FromBytes { bytes: bytes.to_vec(), at: 0, hold: 0, started: false })
    }

    /// `iterations` random schedules from `seed`.
    pub fn shuttle_random(p: &Program, seed: u64, iterations: usize) -> Exploration {
        run_with(p, RandomScheduler::new_from_seed(seed, iterations))
    }

    /// `iterations` PCT schedules of bug depth `depth` from `seed`.
    ///
    /// PCT refuses a program whose first (oldest-task-first) execution never
    /// had two runnable threads at once; such a program has one schedule
    /// that matters, and it runs under the random scheduler instead.
    pub fn shuttle_pct(p: &Program, seed: u64, iterations: usize, depth: usize) -> Exploration {
        let pc = p.clone();
        let r = crate::catch::catch_panic(move || {
            let e = run_with(&pc, PctScheduler::new_from_seed(seed, depth, iterations));
            LAST_PCT.with(|l| *l.borrow_mut() = Some(e));
        });
        match r {
            Ok(()) => LAST_PCT.with(|l| l.borrow_mut().take()).expect("the PCT exploration returned"),
            Err(m) if m.contains("did not exercise any concurrency") => {
                run_with(p, RandomScheduler::new_from_seed(seed, iterations))
            }
            Err(m) => std::panic::resume_unwind(Box::new(m)),
        }
    }

    std::thread_local! {
        static LAST_PCT: std::cell::RefCell<Option<Exploration>> = const { std::cell::RefCell::new(None) };
    }

    /// Depth-first search over schedules, up to `max_iterations`.
    pub fn shuttle_dfs(p: &Program, max_iterations: usize) -> Exploration {
        run_with(p, DfsScheduler::new(Some(max_iterations), false))
    }

    /// Replay one execution from a token printed by a failing exploration.
    /// Replay a schedule token (`s2:`, as explorers print them); `None` if
    /// it is malformed.
    pub fn shuttle_replay(p: &Program, token: &str) -> Option<Exploration> {
        if token.trim().starts_with("s2:") {
            let segs = decode_semantic(token)?;
            let diverged = Arc::new(Mutex::new(None));
            let sched = SemanticReplay {
                segs,
                at: 0,
                done_in_seg: 0,
                started: false,
                diverged: diverged.clone(),
                random: RandomScheduler::new_from_seed(0, 1),
                step: 0,
            };
            let mut e = run_with(p, sched);
            e.note = diverged.lock().unwrap().take();
            return Some(e);
        }
        None
    }
}
