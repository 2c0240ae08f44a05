//! `wqsim explore`: Explore scenarios with one explorer, whatever their
//! own `run` lines say; print the verdict table, and for each violation
//! its report, timeline and replay token.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Scenario files or directories (`scenarios/races`).
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
    /// seq, loom, random, pct or dfs (each needs its build; the error
    /// names it). Default: the first this build has.
    #[arg(long)]
    pub explorer: Option<String>,
    /// Schedules for random and PCT; the cap for DFS.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub iterations: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// PCT's bug depth.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub depth: u64,
    /// Loom's preemption bound (default: the scenario's `run loom` line's,
    /// else 3).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=10))]
    pub preemptions: Option<u64>,
    /// Add N to each scenario's loom bound (the nightly tier's deeper
    /// search).
    #[arg(long, default_value_t = 0, conflicts_with = "preemptions", value_parser = clap::value_parser!(u64).range(0..=4))]
    pub extra_preemptions: u64,
    /// Catalog switches to turn off for the run (IDs or slugs,
    /// comma-separated), as a `run ... without` line does.
    #[arg(long, value_delimiter = ',')]
    pub without: Vec<String>,
    /// `table` or `json`, as for `check`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Run only shard I of N (1-based): random and PCT run
    /// ITERATIONS/N schedules from seed SEED*N+I-1, so N machines
    /// together run ITERATIONS schedules none of them repeats; the
    /// one-schedule explorers (seq, and DFS and loom, which enumerate)
    /// run on shard 1 only.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

pub fn run(a: Args) -> ExitCode {
    let Args {
        paths,
        explorer,
        iterations,
        seed,
        depth,
        preemptions,
        extra_preemptions,
        without,
        format,
        budget: limits,
        shard,
    } = a;
    limits.install();
    let kind = match explorer {
        None => Kind::ALL.into_iter().find(|k| k.available()).unwrap_or(Kind::Seq),
        Some(e) => match Kind::from_name(&e) {
            Some(k) => k,
            None => return usage(format!("--explorer {e:?}: expected seq, loom, random, pct or dfs")),
        },
    };
    if !kind.available() {
        return usage(format!(
            "this wqsim was built for the {} backend; run {kind} with: {} explore --explorer {kind} ...",
            wqsim_model::sync::BACKEND,
            kind.build()
        ));
    }
    let without = match bug_list("--without", &without) {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    let mut budget = Budget {
        iterations: iterations as usize,
        seed,
        depth: depth as usize,
        preemptions: preemptions.map(|p| p as usize),
    };
    if let Some(s) = shard {
        match wqsim::explore::shard_budget(kind, budget, s.index, s.count) {
            Some(b) => budget = b,
            None => {
                out!("shard {}/{}: nothing to run ({kind} runs on shard 1)\n", s.index, s.count);
                return ExitCode::SUCCESS;
            }
        }
    }
    let files = match wqsim::scenario::collect(&paths) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let loaded = files
        .iter()
        .map(|f| {
            let sc = wqsim::scenario::load(f).map(|mut sc| {
                let mut run = wqsim::explore::run_of(&sc, kind, budget, without.clone());
                run.preemptions = run.preemptions.map(|p| p + extra_preemptions as usize);
                sc.runs = vec![run];
                sc
            });
            (f.display().to_string(), sc)
        })
        .collect();
    check_and_print("explore", loaded, &format, false)
}
