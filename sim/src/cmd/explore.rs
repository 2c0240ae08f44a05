//! `wqsim explore`: Explore a family or trigger with one explorer; on a
//! failure, print the violation, the command that replays it and the
//! timeline.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
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
    /// Loom's preemption bound (default: the family's).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=10))]
    pub preemptions: Option<u64>,
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
    let Args { target: ta, explorer, iterations, seed, depth, preemptions, shard, budget: limits } = a;
    limits.install();
    let (iterations, depth, preemptions) = (iterations as usize, depth as usize, preemptions.map(|p| p as usize));
    let t = match target(&ta) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let kind = match explorer {
        None => Kind::ALL.into_iter().find(|k| k.available()).unwrap_or(Kind::Seq),
        Some(e) => match Kind::from_name(&e) {
            Some(k) => k,
            None => return usage(format!("--explorer {e:?}: expected seq, loom, random, pct or dfs")),
        },
    };
    // Lock events cost time: shuttle records them only when it
    // replays the failing schedule below.
    wqsim_model::conc::set_detail(matches!(kind, Kind::Seq | Kind::Loom));
    let mut budget = Budget { iterations, seed, depth, preemptions };
    if let Some(s) = shard {
        match wqsim::explore::shard_budget(kind, budget, s.index, s.count) {
            Some(b) => budget = b,
            None => {
                out!("{}: shard {}/{}: nothing to run ({kind} runs on shard 1)\n", t.args(), s.index, s.count);
                return ExitCode::SUCCESS;
            }
        }
    }
    match wqsim::explore::explore(kind, &t, budget) {
        Ok(f) => {
            // Shuttle's trace is of the last execution, not always the
            // failing one: replay the schedule to draw it.
            if let (Err(_), Some(r)) = (&f.result, &f.replay) {
                if let Some(s) = r.split("--schedule ").nth(1) {
                    wqsim_model::conc::set_detail(true);
                    let _ = wqsim::explore::replay(&t, s);
                }
            }
            report(&t, &f)
        }
        Err(e) => usage(e),
    }
}
