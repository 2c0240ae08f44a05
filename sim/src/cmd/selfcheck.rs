//! `wqsim selfcheck`: Check the catalog against its scenarios: each
//! switch's scenario turns it on, is caught by the catalog's invariant, and
//! holds without it. Prints the verdict table.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Print no progress line.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: Args) -> ExitCode {
    let pb = bar("selfcheck", wqsim_model::bugs::CATALOG.len(), a.quiet);
    let rows = wqsim::selfcheck(&wqsim::catalog::root(), |done, _| pb.set_position(done as u64));
    pb.finish_and_clear();
    out!("{}", wqsim::render(&rows));
    if rows.iter().all(|r| r.pass) { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
