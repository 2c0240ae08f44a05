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
    let quiet = a.quiet || !tty();
    let rows = wqsim::selfcheck(&wqsim::catalog::root(), |done, total| {
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
