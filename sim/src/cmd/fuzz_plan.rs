//! `wqsim fuzz-plan`: The fuzz target that hunts each catalog switch, or why
//! none can (tab-separated: switch, target or `-`, reason). `ci/fuzz matrix`
//! reads it.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Instead, classify what a fuzz run found for a switch: prints
    /// caught, also or other.
    #[arg(long, num_args = 2, value_names = ["SWITCH", "INVARIANT"])]
    pub verdict: Vec<String>,
}

pub fn run(a: Args) -> ExitCode {
    if let [switch, inv] = a.verdict.as_slice() {
        let Some(bug) = Bug::from_name(switch) else {
            return usage(format!("no catalog switch {switch:?}; `wqsim catalog` lists them"));
        };
        out!("{}\n", wqsim::matrix::fuzz_verdict(bug, inv));
        return ExitCode::SUCCESS;
    }
    let rows = match wqsim::matrix::rows(&wqsim::catalog::root()) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    for (id, target, reason) in wqsim::matrix::fuzz_plan(&rows) {
        out!("{id}\t{}\t{reason}\n", target.unwrap_or("-"));
    }
    ExitCode::SUCCESS
}
