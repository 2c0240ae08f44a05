//! Running a program under the explorers this build has. `wqsim` is built
//! on the model's shuttle backend: `seq` (one deterministic execution, the
//! std backend's semantics), and shuttle's random, PCT and DFS schedulers.
//! A `--cfg loom` build has loom instead. The sync facade is chosen at
//! compile time, so [`Kind::build`] says which build has a kind, and every
//! failure comes with the one command that replays it.

use std::fmt;

use wqsim_model::bugs::{Bug, BugSet, trigger};
use wqsim_model::conc::{Actor, Program};
use wqsim_model::families::family;
use wqsim_model::kernel::Config;
use wqsim_model::oracle::Violation;

/// An explorer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// One schedule with the std backend's semantics: each actor runs to
    /// its end before the next starts, and a wait that would sleep forever
    /// ends as a signal would end it.
    Seq,
    /// Loom: every interleaving within a preemption bound, C11 orderings.
    Loom,
    /// Shuttle's random scheduler.
    Random,
    /// Shuttle's PCT scheduler (probabilistic concurrency testing).
    Pct,
    /// Shuttle's depth-first enumeration of schedules.
    Dfs,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Seq, Kind::Loom, Kind::Random, Kind::Pct, Kind::Dfs];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Seq => "seq",
            Kind::Loom => "loom",
            Kind::Random => "random",
            Kind::Pct => "pct",
            Kind::Dfs => "dfs",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The build that has this explorer: the prefix of a `cargo run`
    /// command line for it.
    pub fn build(self) -> &'static str {
        match self {
            Kind::Loom => "RUSTFLAGS=\"--cfg loom\" CARGO_TARGET_DIR=target/loom cargo run --release -p wqsim --",
            Kind::Seq | Kind::Random | Kind::Pct | Kind::Dfs => "cargo run --release -p wqsim --",
        }
    }

    /// Whether this binary can run it.
    pub fn available(self) -> bool {
        match self {
            Kind::Loom => wqsim_model::sync::BACKEND == "loom",
            Kind::Seq | Kind::Random | Kind::Pct | Kind::Dfs => wqsim_model::sync::BACKEND == "shuttle",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The configuration a run starts from, before `--bugs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// The kernel today: every finding's switch on (`Config::default()`).
    Kernel,
    /// Every switch off: findings get their proposed fixes.
    Fixed,
}

impl Base {
    pub fn name(self) -> &'static str {
        match self {
            Base::Kernel => "kernel",
            Base::Fixed => "fixed",
        }
    }
}

/// What to run: a race family or a catalog switch's sequential trigger,
/// on a base configuration with extra switches on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub family: Option<String>,
    pub trigger: Option<Bug>,
    pub base: Base,
    pub bugs: Vec<Bug>,
}

impl Target {
    /// The configuration: the base, then `bugs` on.
    pub fn config(&self, from: Config) -> Config {
        let mut c = from;
        if self.base == Base::Fixed {
            c.bugs = BugSet::none();
        }
        for b in &self.bugs {
            c = c.with_bug(*b);
        }
        c
    }

    /// The program. A trigger becomes a program of setup steps only.
    pub fn program(&self) -> Result<Program, String> {
        if let Some(name) = &self.family {
            let f = family(name).ok_or_else(|| {
                let names: Vec<&str> = wqsim_model::families::FAMILIES.iter().map(|f| f.name).collect();
                format!("no race family named {name:?}; the families are: {}", names.join(", "))
            })?;
            let p = (f.program)(Config::default());
            let config = self.config(p.config.clone());
            return Ok(Program { config, ..p });
        }
        if let Some(bug) = self.trigger {
            let t = trigger(bug).ok_or_else(|| {
                format!(
                    "{bug} has no sequential trigger; it is a race: use --family {}",
                    bug.info().family.unwrap_or("?")
                )
            })?;
            return Ok(Program { config: self.config(t.config), setup: t.ops, actors: Vec::<Actor>::new() });
        }
        Err("name what to run: --family NAME or --trigger ID".into())
    }

    /// The command-line arguments that select this target.
    pub fn args(&self) -> String {
        let mut s = String::new();
        if let Some(f) = &self.family {
            s += &format!("--family {f}");
        }
        if let Some(b) = self.trigger {
            s += &format!("--trigger {}", b.info().id);
        }
        s += &format!(" --base {}", self.base.name());
        if !self.bugs.is_empty() {
            let ids: Vec<&str> = self.bugs.iter().map(|b| b.info().id).collect();
            s += &format!(" --bugs {}", ids.join(","));
        }
        s
    }
}

/// How much to explore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Schedules for random and PCT; a cap for DFS.
    pub iterations: usize,
    pub seed: u64,
    /// PCT's bug depth.
    pub depth: usize,
    /// Loom's preemption bound (`None`: the family's).
    pub preemptions: Option<usize>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { iterations: 10_000, seed: 1, depth: 3, preemptions: None }
    }
}

/// Shard `index` of `count` (1-based) of an exploration's budget: random
/// and PCT run `iterations / count` schedules (rounded up) from seed
/// `seed * count + index - 1`, so the shards explore disjoint seed
/// streams; explorers that run one schedule or enumerate (seq, DFS,
/// loom) run whole on shard 1 and `None` elsewhere.
pub fn shard_budget(kind: Kind, b: Budget, index: usize, count: usize) -> Option<Budget> {
    match kind {
        Kind::Random | Kind::Pct => Some(Budget {
            iterations: b.iterations.div_ceil(count.max(1)),
            seed: b.seed.wrapping_mul(count as u64).wrapping_add(index as u64 - 1),
            ..b
        }),
        Kind::Seq | Kind::Dfs | Kind::Loom => (index == 1).then_some(b),
    }
}

/// What an exploration found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub kind: Kind,
    pub executions: u64,
    pub result: Result<(), Violation>,
    /// The command that replays the failure.
    pub replay: Option<String>,
    /// Where a replayed schedule stopped fitting, if it did.
    pub note: Option<String>,
}

/// Explore `target` with `kind`. An explorer this build lacks is an error
/// naming the build that has it.
pub fn explore(kind: Kind, target: &Target, budget: Budget) -> Result<Found, String> {
    let p = target.program()?;
    if !kind.available() {
        return Err(format!(
            "this wqsim was built for the {} backend; run {kind} with: {} explore --explorer {kind} {}",
            wqsim_model::sync::BACKEND,
            kind.build(),
            target.args()
        ));
    }
    // One thread has one schedule: a random or PCT scheduler would repeat it.
    let iterations = if p.actors.is_empty() { 1 } else { budget.iterations };
    let (executions, result, schedule) = backend::run(kind, &p, target, iterations, budget);
    let replay = result.is_err().then(|| match (&schedule, kind) {
        (Some(s), _) => format!("{} replay {} --schedule {s}", kind.build(), target.args()),
        (None, Kind::Loom) => {
            let bound = budget.preemptions.map(|b| format!(" --preemptions {b}")).unwrap_or_default();
            format!("{} explore --explorer loom {}{bound}", kind.build(), target.args())
        }
        (None, _) => format!("{} explore --explorer {kind} {}", kind.build(), target.args()),
    });
    Ok(Found { kind, executions, result, replay, note: None })
}

/// Replay a shuttle schedule token.
pub fn replay(target: &Target, schedule: &str) -> Result<Found, String> {
    backend::replay(target, schedule)
}

#[cfg(loom)]
mod backend {
    use super::*;

    pub fn run(
        _kind: Kind,
        p: &Program,
        t: &Target,
        _iterations: usize,
        b: Budget,
    ) -> (u64, Result<(), Violation>, Option<String>) {
        let bound = b
            .preemptions
            .unwrap_or_else(|| t.family.as_deref().and_then(wqsim_model::families::family).map_or(3, |f| f.loom_bound));
        let e = wqsim_model::explore::loom(p, bound, 20_000);
        (e.executions, e.result, None)
    }

    pub fn replay(target: &Target, _schedule: &str) -> Result<Found, String> {
        Err(format!("schedules replay under shuttle: {} replay {} --schedule ...", Kind::Random.build(), target.args()))
    }
}

#[cfg(not(loom))]
mod backend {
    use super::silenced;
    use super::*;
    use wqsim_model::explore::{catch_report, shuttle_dfs, shuttle_pct, shuttle_random, shuttle_replay, shuttle_seq};

    pub fn run(
        kind: Kind,
        p: &Program,
        t: &Target,
        iterations: usize,
        b: Budget,
    ) -> (u64, Result<(), Violation>, Option<String>) {
        if kind == Kind::Seq {
            return (1, seq(p, t), None);
        }
        // PCT refuses a test without concurrency; one thread has one schedule.
        let kind = if p.actors.is_empty() { Kind::Random } else { kind };
        let e = silenced(|| match kind {
            Kind::Random => shuttle_random(p, b.seed, iterations),
            Kind::Pct => shuttle_pct(p, b.seed, iterations, b.depth),
            _ => shuttle_dfs(p, iterations),
        });
        (e.executions, e.result, e.schedule)
    }

    /// One sequential run. A trigger runs as the self-check runs it: the
    /// oracle after every step, then (if the trigger asks) teardown and the
    /// leak check.
    fn seq(p: &Program, t: &Target) -> Result<(), Violation> {
        let p = p.clone();
        let Some(teardown) = t.trigger.and_then(trigger).map(|tr| tr.teardown) else {
            // A family: one schedule with real sleeps, the lowest-numbered
            // thread that can run going on, so a sleeper waits for the
            // others and a hang is V1, as under every other driver (see
            // `wqsim_model::seq::run_threads`).
            return silenced(|| wqsim_model::explore::shuttle_directed(&p, vec![])).result;
        };
        silenced(|| {
            catch_report(move || {
                shuttle_seq(move || {
                    if let Err(v) = wqsim_model::seq::run_program(p.config.clone(), &p.setup, teardown) {
                        wqsim_model::oracle::fail(v.inv, v.message);
                    }
                })
            })
        })
    }

    pub fn replay(target: &Target, schedule: &str) -> Result<Found, String> {
        let p = target.program()?;
        let e = silenced(|| shuttle_replay(&p, schedule))
            .ok_or_else(|| format!("malformed schedule {schedule:?}: expected the s2:... token a failure printed"))?;
        Ok(Found { kind: Kind::Random, executions: e.executions, result: e.result, replay: None, note: e.note })
    }
}

#[cfg(not(loom))]
/// Run `f` with standard error pointed at /dev/null: shuttle writes a
/// line or two to it for every failing execution, and the violation
/// is reported properly afterwards. A harness bug is re-raised after
/// the descriptor is restored, so its message is not lost.
pub fn silenced<R>(f: impl FnOnce() -> R) -> R {
    use std::os::fd::AsRawFd as _;
    unsafe extern "C" {
        fn dup(fd: i32) -> i32;
        fn dup2(old: i32, new: i32) -> i32;
        fn close(fd: i32) -> i32;
    }
    if std::env::var_os("WQSIM_SHUTTLE_STDERR").is_some() {
        return f();
    }
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return f();
    };
    // SAFETY: plain descriptor calls on descriptor 2 and ones this
    // function owns; the saved descriptor is restored and closed on
    // every path (the closure's panic is caught and resumed after).
    let saved = unsafe { dup(2) };
    if saved < 0 {
        return f();
    }
    unsafe { dup2(null.as_raw_fd(), 2) };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    unsafe {
        dup2(saved, 2);
        close(saved);
    }
    r.unwrap_or_else(|p| std::panic::resume_unwind(p))
}
