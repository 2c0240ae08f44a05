//! `wqsim selfcheck`: Run every catalog switch's trigger off (must hold) and
//! on (must be caught by its invariant) and print the verdict table.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Print no progress line.
    #[arg(long)]
    pub quiet: bool,
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("the loom build explores only; selfcheck runs in: cargo run --release -p wqsim -- selfcheck")
}

#[cfg(not(loom))]
pub fn run(a: Args) -> ExitCode {
    let tty = tty();
    let Args { quiet } = a;
    let quiet = quiet || !tty;
    let rows = wqsim::selfcheck(|done, total| {
        if !quiet {
            eprint!("\rselfcheck [{:<20}] {done}/{total}", "#".repeat(done * 20 / total));
            let _ = std::io::stderr().flush();
        }
    });
    if !quiet {
        eprintln!();
    }
    out!("{}", wqsim::render(&rows));
    if rows.iter().all(|r| r.pass) { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
