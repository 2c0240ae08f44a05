//! `wqsim check`: The main job: run every scenario's `run` lines and print
//! the verdict table (scenario, driver, executions, result, expected, time).
//! Exits 1 when a result differs from its expectation.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Scenario files or directories (default: scenarios/).
    pub paths: Vec<std::path::PathBuf>,
    /// Leave the time column out (byte-identical output).
    #[arg(long)]
    pub no_time: bool,
    /// Run only shard I of N (1-based): every Nth scenario in path
    /// order, so a CI matrix can split the work.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// `table` (the verdict table and a report per failure) or `json`
    /// (one object per run, for CI tools).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

pub fn run(a: Args) -> ExitCode {
    let Args { paths, no_time, shard, format, budget } = a;
    budget.install();
    let paths = if paths.is_empty() { vec![std::path::PathBuf::from("scenarios")] } else { paths };
    let mut files = match wqsim::scenario::collect(&paths) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    if let Some(s) = shard {
        files = wqsim::drive::shard(files, s.index, s.count);
    }
    let loaded = files.iter().map(|f| (f.display().to_string(), wqsim::scenario::load(f))).collect();
    check_and_print("check", loaded, &format, !no_time)
}
