//! The explorers this build has, and the run an exploration makes of a
//! scenario. `wqsim` is built on the model's shuttle backend: `seq` (one
//! deterministic execution, the std backend's semantics), and shuttle's
//! random, PCT and DFS schedulers. A `--cfg loom` build has loom instead.
//! The sync facade is chosen at compile time, so [`Kind::build`] says
//! which build has a kind. Every run, a scenario's own or one given on
//! the command line, runs through [`crate::run::execute`].

use std::fmt;

use wqsim_model::bugs::{Bug, BugSet, Shipped};

use crate::scenario::{Driver, Expect, RunSpec};

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
    /// A kernel as Debian ships it: the findings and the historical bugs
    /// its source still has ([`Shipped::bugs`]).
    Debian(Shipped),
}

impl Base {
    pub fn name(self) -> &'static str {
        match self {
            Base::Kernel => "kernel",
            Base::Fixed => "fixed",
            Base::Debian(Shipped::Debian612) => "debian-6.12",
            Base::Debian(Shipped::Debian61) => "debian-6.1",
        }
    }

    /// The base named `s`, as a scenario's `base` line writes it.
    pub fn from_name(s: &str) -> Option<Base> {
        match s {
            "kernel" => Some(Base::Kernel),
            "fixed" => Some(Base::Fixed),
            _ => s.strip_prefix("debian-").and_then(Shipped::from_series).map(Base::Debian),
        }
    }

    /// The switches the base turns on.
    pub fn bugs(self) -> BugSet {
        match self {
            Base::Kernel => BugSet::kernel_today(),
            Base::Fixed => BugSet::none(),
            Base::Debian(k) => k.bugs(),
        }
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
    /// Loom's preemption bound (`None`: the scenario's, see [`run_of`]).
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

/// The run an exploration makes of a scenario: `kind` with `budget`,
/// the switches in `without` off, whatever the scenario's own `run` lines
/// say. Its line is 0: its replay token carries the run itself. Loom's
/// preemption bound, unless the budget sets one, is the scenario's `run
/// loom` line's, else 3.
pub fn run_of(sc: &crate::scenario::Scenario, kind: Kind, budget: Budget, without: Vec<Bug>) -> RunSpec {
    let preemptions = match kind {
        Kind::Loom => budget
            .preemptions
            .or_else(|| sc.runs.iter().find(|r| r.driver == Driver::Explorer(Kind::Loom)).and_then(|r| r.preemptions))
            .or(Some(3)),
        _ => None,
    };
    RunSpec {
        iterations: budget.iterations,
        seed: budget.seed,
        depth: budget.depth,
        preemptions,
        line: 0,
        ..crate::scenario::run_line(Driver::Explorer(kind), without, Expect::Holds)
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
