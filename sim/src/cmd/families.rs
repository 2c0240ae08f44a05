//! `wqsim families`: List the race families.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> ExitCode {
    for f in wqsim_model::families::FAMILIES {
        out!("{:<20} {} (loom bound {})\n", f.name, f.about, f.loom_bound);
    }
    ExitCode::SUCCESS
}
