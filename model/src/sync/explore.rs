//! Explorers over a concurrent [`Program`] (with the backends, since it
//! names loom and shuttle): loom (every interleaving
//! within a preemption bound, C11 orderings) and shuttle (random, PCT and
//! DFS schedulers). Each returns how many executions ran and the first
//! violation, with what replays it: a shuttle schedule token, or for loom
//! the program and its bounds (loom's exploration order is deterministic).

use crate::conc;
#[allow(unused_imports)]
use crate::conc::Program;
use crate::oracle::Violation;

/// The result of an exploration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exploration {
    /// Executions started (the failing one included).
    pub executions: u64,
    /// The first violation, if any.
    pub result: Result<(), Violation>,
    /// A token that replays the failing execution (shuttle only).
    pub schedule: Option<String>,
}

/// Run `f`, turning a failure report (a violation, or an explorer's own
/// deadlock or data-race report) into a [`Violation`]; anything else is a
/// harness bug and is re-raised.
pub fn catch_report(f: impl FnOnce()) -> Result<(), Violation> {
    crate::oracle::catch_panic(f).map_err(|msg| match conc::classify(&msg) {
        Some(v) => v,
        None => panic!("explorer failed outside the model's checks: {msg}"),
    })
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
        let c = count.clone();
        let p = p.clone();
        let result = catch_report(move || {
            b.check(move || {
                c.fetch_add(1, Ordering::Relaxed);
                conc::run(&p);
            })
        });
        Exploration { executions: count.load(Ordering::Relaxed), result, schedule: None }
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
        tasks: Vec<usize>,
        randoms: Vec<u64>,
    }

    impl Choices {
        /// `s1:` then the task chosen at each step, runs written `task*count`
        /// (`0*41.1*3.0`), then `:` and the random values in hex.
        fn encode(&self) -> String {
            let mut t: Vec<String> = Vec::new();
            let mut i = 0;
            while i < self.tasks.len() {
                let n = self.tasks[i..].iter().take_while(|x| **x == self.tasks[i]).count();
                t.push(if n == 1 { self.tasks[i].to_string() } else { format!("{}*{n}", self.tasks[i]) });
                i += n;
            }
            let r: Vec<String> = self.randoms.iter().map(|r| format!("{r:x}")).collect();
            format!("s1:{}:{}", t.join("."), r.join("."))
        }
        fn decode(s: &str) -> Option<Choices> {
            let mut parts = s.trim().split(':');
            if parts.next()? != "s1" {
                return None;
            }
            let t = parts.next()?;
            let r = parts.next().unwrap_or("");
            let mut tasks = Vec::new();
            for x in t.split('.').filter(|x| !x.is_empty()) {
                let (task, n) = match x.split_once('*') {
                    Some((a, n)) => (a.parse::<usize>().ok()?, n.parse::<usize>().ok().filter(|n| *n <= 1 << 24)?),
                    None => (x.parse::<usize>().ok()?, 1),
                };
                tasks.extend(std::iter::repeat_n(task, n));
            }
            let randoms = if r.is_empty() {
                vec![]
            } else {
                r.split('.').map(|x| u64::from_str_radix(x, 16).ok()).collect::<Option<_>>()?
            };
            Some(Choices { tasks, randoms })
        }
    }

    /// Wraps a scheduler and records each execution's choices.
    struct Recording<S> {
        inner: S,
        current: Arc<Mutex<Choices>>,
        executions: Arc<Mutex<u64>>,
    }

    impl<S: Scheduler> Scheduler for Recording<S> {
        fn new_execution(&mut self) -> Option<Schedule> {
            let s = self.inner.new_execution();
            if s.is_some() {
                *self.current.lock().unwrap() = Choices::default();
                *self.executions.lock().unwrap() += 1;
            }
            s
        }
        fn next_task(&mut self, runnable: &[&Task], current: Option<TaskId>, is_yielding: bool) -> Option<TaskId> {
            let t = self.inner.next_task(runnable, current, is_yielding);
            if let Some(t) = t {
                self.current.lock().unwrap().tasks.push(usize::from(t));
            }
            t
        }
        fn next_u64(&mut self) -> u64 {
            let v = self.inner.next_u64();
            self.current.lock().unwrap().randoms.push(v);
            v
        }
    }

    /// Follows recorded choices.
    struct Replaying {
        choices: Choices,
        step: usize,
        random: usize,
        started: bool,
    }

    impl Scheduler for Replaying {
        fn new_execution(&mut self) -> Option<Schedule> {
            if self.started {
                return None;
            }
            self.started = true;
            Some(Schedule::new(0))
        }
        fn next_task(&mut self, runnable: &[&Task], _current: Option<TaskId>, _is_yielding: bool) -> Option<TaskId> {
            let want = *self.choices.tasks.get(self.step)?;
            self.step += 1;
            runnable.iter().map(|t| t.id()).find(|id| usize::from(*id) == want)
        }
        fn next_u64(&mut self) -> u64 {
            let v = self.choices.randoms.get(self.random).copied().unwrap_or(0);
            self.random += 1;
            v
        }
    }

    fn config() -> shuttle::Config {
        let mut c = shuttle::Config::new();
        c.failure_persistence = shuttle::FailurePersistence::None;
        c.silence_warnings = true;
        c.stack_size = 0x80000;
        c
    }

    fn run_with<S: Scheduler + 'static>(p: &Program, inner: S) -> Exploration {
        let current = Arc::new(Mutex::new(Choices::default()));
        let executions = Arc::new(Mutex::new(0u64));
        let sched = Recording { inner, current: current.clone(), executions: executions.clone() };
        let runner = shuttle::Runner::new(sched, config());
        let p = p.clone();
        let result = catch_report(move || {
            runner.run(move || {
                conc::run(&p);
            });
        });
        let schedule = result.is_err().then(|| current.lock().unwrap().encode());
        let executions = *executions.lock().unwrap();
        Exploration { executions, result, schedule }
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
        use std::sync::atomic::Ordering as O;
        let out: Arc<Mutex<Option<R>>> = Arc::new(Mutex::new(None));
        let f = Arc::new(Mutex::new(Some(f)));
        let o = out.clone();
        let runner = shuttle::Runner::new(NewestFirst { started: false }, config());
        let was = super::super::shuttle_backend::SEQ.swap(true, O::Relaxed);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            runner.run(move || {
                let f = f.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(f) = f {
                    *o.lock().unwrap_or_else(|e| e.into_inner()) = Some(f());
                }
            })
        }));
        super::super::shuttle_backend::SEQ.store(was, O::Relaxed);
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
    }

    impl Scheduler for Directed {
        fn new_execution(&mut self) -> Option<Schedule> {
            if std::mem::replace(&mut self.started, true) { None } else { Some(Schedule::new(0)) }
        }
        fn next_task(&mut self, runnable: &[&Task], _current: Option<TaskId>, _is_yielding: bool) -> Option<TaskId> {
            let ids: Vec<TaskId> = runnable.iter().map(|t| t.id()).collect();
            self.seen.extend(ids.iter().map(|id| usize::from(*id)));
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
        run_with(p, Directed { dirs, at: 0, steps_in_directive: 0, started: false, seen: Default::default() })
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
        let r = crate::oracle::catch_panic(move || {
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
    pub fn shuttle_replay(p: &Program, token: &str) -> Option<Exploration> {
        let choices = Choices::decode(token)?;
        Some(run_with(p, Replaying { choices, step: 0, random: 0, started: false }))
    }
}
