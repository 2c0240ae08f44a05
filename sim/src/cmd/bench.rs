//! `wqsim bench`: executions per second of each explorer on each
//! scenario (the shuttle build), or loom's executions at preemption bounds
//! 1, 2 and 3 (the loom build), as Markdown tables. `ci/bench` runs both
//! builds and writes docs/PERFORMANCE.md.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Scenario files or directories [default: scenarios/races]
    pub paths: Vec<std::path::PathBuf>,
    /// Schedules for random and PCT, and DFS's cap (shuttle build).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub iterations: u64,
    /// Loom's preemption bounds, comma-separated (loom build).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3", value_parser = clap::value_parser!(u64).range(0..=6))]
    pub bounds: Vec<u64>,
    /// Seconds to repeat each sequential run for (shuttle build).
    #[arg(long, default_value_t = 0.2)]
    pub seq_seconds: f64,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

pub fn run(a: Args) -> ExitCode {
    let Args { paths, iterations, bounds, seq_seconds, budget } = a;
    if !(0.0..=60.0).contains(&seq_seconds) {
        return usage(format!("--seq-seconds {seq_seconds}: expected 0 to 60"));
    }
    let time_limit_ms = budget.time_limit_ms;
    budget.install();
    let scenarios: Vec<(String, wqsim::scenario::Scenario)> = match load_scenarios(paths, "scenarios/races") {
        Ok(all) => all.into_iter().filter(|sc| !sc.threads.is_empty()).map(|sc| (sc.path.clone(), sc)).collect(),
        Err(e) => return fail(e),
    };
    let loom = wqsim_model::sync::BACKEND == "loom";
    let pb = bar("bench", scenarios.len(), false);
    let budget_of =
        |preemptions: Option<usize>| Budget { iterations: iterations as usize, preemptions, ..Budget::default() };
    let table = if loom {
        let mut rows = Vec::new();
        for (name, sc) in &scenarios {
            pb.set_message(name.clone());
            let cells = bounds
                .iter()
                .map(|b| (*b as usize, wqsim::bench::measure(sc, Kind::Loom, budget_of(Some(*b as usize)))))
                .collect();
            rows.push(wqsim::bench::LoomRow { scenario: name.clone(), bounds: cells });
            pb.inc(1);
        }
        wqsim::bench::loom_table(&rows, time_limit_ms)
    } else {
        let mut rows = Vec::new();
        for (name, sc) in &scenarios {
            pb.set_message(name.clone());
            rows.push(wqsim::bench::ShuttleRow {
                scenario: name.clone(),
                seq: wqsim::bench::measure_seq(sc, seq_seconds),
                random: wqsim::bench::measure(sc, Kind::Random, budget_of(None)),
                pct: wqsim::bench::measure(sc, Kind::Pct, budget_of(None)),
                dfs: wqsim::bench::measure(sc, Kind::Dfs, budget_of(None)),
                random_heap: wqsim::bench::measure_heap_points(sc, Kind::Random, budget_of(None)),
            });
            pb.inc(1);
        }
        wqsim::bench::shuttle_table(&rows, iterations as usize)
    };
    pb.finish_and_clear();
    out!("{table}");
    ExitCode::SUCCESS
}
