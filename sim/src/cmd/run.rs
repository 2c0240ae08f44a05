//! `wqsim run`: Run one scenario: the sequential transcript (each operation
//! and its result, the record stream of each queue, the verdict), then its
//! runs.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    pub file: std::path::PathBuf,
    /// Only the runs of this driver (seq, random, pct, dfs, schedule).
    #[arg(long)]
    pub driver: Option<String>,
    /// Override the runs' seed.
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

#[cfg(not(loom))]
pub fn run(a: Args) -> ExitCode {
    let Args { file, driver, seed, budget } = a;
    budget.install();
    let pb = bar("run", 1, false);
    run_progress(&pb, file.display().to_string());
    let r = wqsim::drive::run_file(&file, driver.as_deref(), seed);
    wqsim_model::explore::set_progress(None);
    pb.finish_and_clear();
    match r {
        Ok((s, exit)) => {
            out!("{s}");
            exit.into()
        }
        Err(e) => fail(e),
    }
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("the loom build runs `check` and `explore` only; use: cargo run --release -p wqsim -- ...")
}
