//! `wqsim bench`: how fast each explorer runs each scenario. The shuttle
//! build measures executions per second of the sequential run and of the
//! random, PCT and DFS explorers, and the cost of one shuttle execution
//! against one sequential run; the loom build counts the executions loom
//! needs to exhaust each scenario at preemption bounds 1, 2 and 3.
//!
//! These are measurements of this machine, not verdicts: unlike every
//! other output they read the wall clock, and they differ from run to run.
//! Targets live here and in `docs/PERFORMANCE.md`, never in a test.

use std::time::Instant;

use crate::explore::{Budget, Kind, run_of};
use crate::run::execute;
use crate::scenario::Scenario;

/// One explorer's measurement on one scenario.
#[derive(Clone, Debug)]
pub struct Cell {
    pub executions: u64,
    pub seconds: f64,
    /// The run hit its time limit before it finished (loom): the count is
    /// a lower bound.
    pub capped: bool,
}

impl Cell {
    /// Executions per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 { self.executions as f64 / self.seconds } else { 0.0 }
    }
    /// Seconds per execution.
    pub fn each(&self) -> f64 {
        if self.executions > 0 { self.seconds / self.executions as f64 } else { 0.0 }
    }
}

/// Run `kind` on `sc` with `budget` and time it.
pub fn measure(sc: &Scenario, kind: Kind, budget: Budget) -> Cell {
    let run = run_of(sc, kind, budget, vec![]);
    let start = Instant::now();
    let r = execute(sc, &run);
    Cell { executions: r.executions, seconds: start.elapsed().as_secs_f64(), capped: r.stop.is_some() }
}

/// The sequential run repeated until `min_seconds` have passed (at least
/// once), so a run of a few microseconds is timed over many.
pub fn measure_seq(sc: &Scenario, min_seconds: f64) -> Cell {
    let run = run_of(sc, Kind::Seq, Budget::default(), vec![]);
    let start = Instant::now();
    let mut executions = 0;
    loop {
        let r = execute(sc, &run);
        executions += r.executions.max(1);
        if start.elapsed().as_secs_f64() >= min_seconds {
            break;
        }
    }
    Cell { executions, seconds: start.elapsed().as_secs_f64(), capped: false }
}

/// A shuttle-build row: the sequential run and the three shuttle
/// explorers.
#[derive(Clone, Debug)]
pub struct ShuttleRow {
    pub scenario: String,
    pub seq: Cell,
    pub random: Cell,
    pub pct: Cell,
    pub dfs: Cell,
    /// The random explorer again with heap field accesses as scheduling
    /// points (`--heap-points`).
    pub random_heap: Cell,
}

impl ShuttleRow {
    /// One random-explorer execution against one sequential run.
    pub fn cost(&self) -> f64 {
        let s = self.seq.each();
        if s > 0.0 { self.random.each() / s } else { 0.0 }
    }
    /// One random execution with heap points against one without.
    pub fn heap_cost(&self) -> f64 {
        let r = self.random.each();
        if r > 0.0 { self.random_heap.each() / r } else { 0.0 }
    }
}

/// [`measure`] with heap field accesses as shuttle scheduling points.
pub fn measure_heap_points(sc: &Scenario, kind: Kind, budget: Budget) -> Cell {
    let was = wqsim_model::sync::set_heap_points(true);
    let c = measure(sc, kind, budget);
    wqsim_model::sync::set_heap_points(was);
    c
}

/// A loom-build row: loom's executions at bounds 1, 2 and 3.
#[derive(Clone, Debug)]
pub struct LoomRow {
    pub scenario: String,
    pub bounds: Vec<(usize, Cell)>,
}

fn secs(s: f64) -> String {
    format!("{s:.2}")
}

fn count(c: &Cell) -> String {
    if c.capped { format!("≥{}", c.executions) } else { c.executions.to_string() }
}

/// The shuttle build's table (Markdown).
pub fn shuttle_table(rows: &[ShuttleRow], iterations: usize) -> String {
    let mut s = format!(
        "Shuttle build, {iterations} schedules per explorer (DFS stops earlier when it has enumerated \
         every schedule), heap points off but in `random+heap/s`. Executions per second; `cost` is one \
         random-explorer execution against one plain sequential run of the same operations, `heap cost` \
         one random execution with heap field accesses as scheduling points (`--heap-points`) against \
         one without.\n\n\
         | scenario | seq/s | random/s | pct/s | dfs/s | dfs executions | cost | random+heap/s | heap cost |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        s += &format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.1}x | {:.0} | {:.1}x |\n",
            r.scenario,
            r.seq.rate(),
            r.random.rate(),
            r.pct.rate(),
            r.dfs.rate(),
            r.dfs.executions,
            r.cost(),
            r.random_heap.rate(),
            r.heap_cost()
        );
    }
    let total = |f: fn(&ShuttleRow) -> &Cell| {
        let (e, t) = rows.iter().map(f).fold((0u64, 0f64), |(e, t), c| (e + c.executions, t + c.seconds));
        if t > 0.0 { e as f64 / t } else { 0.0 }
    };
    s += &format!(
        "| **all** | {:.0} | {:.0} | {:.0} | {:.0} | | | {:.0} | |\n",
        total(|r| &r.seq),
        total(|r| &r.random),
        total(|r| &r.pct),
        total(|r| &r.dfs),
        total(|r| &r.random_heap)
    );
    s
}

/// The loom build's table (Markdown).
pub fn loom_table(rows: &[LoomRow], time_limit_ms: u64) -> String {
    let bounds: Vec<usize> = rows.first().map(|r| r.bounds.iter().map(|(b, _)| *b).collect()).unwrap_or_default();
    let mut s = format!(
        "Loom build: the executions loom needs to exhaust each scenario at each preemption bound, and \
         the seconds it took; `≥` marks a run stopped at the {} s limit.\n\n| scenario |",
        time_limit_ms / 1000
    );
    for b in &bounds {
        s += &format!(" bound {b} | s |");
    }
    s += "\n|---|";
    for _ in &bounds {
        s += "---|---|";
    }
    s += "\n";
    for r in rows {
        s += &format!("| {} |", r.scenario);
        for (_, c) in &r.bounds {
            s += &format!(" {} | {} |", count(c), secs(c.seconds));
        }
        s += "\n";
    }
    s
}
