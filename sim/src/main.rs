//! The `wqsim` command line: parse the arguments, run the command
//! ([`wqsim::cmd`]), exit with its status ([`wqsim::exit`]: 0 pass, 1 a
//! check failed, 2 malformed input, 3 nondeterminism, 5 harness failure,
//! 6 budget exceeded).

use std::process::ExitCode;

use clap::Parser as _;
use wqsim::exit::Exit;

/// The heap is counted, so a run's memory budget can end it with a verdict.
#[global_allocator]
static ALLOC: wqsim_model::explore::CountingAlloc = wqsim_model::explore::CountingAlloc;

fn main() -> ExitCode {
    let cli = wqsim::cmd::Cli::parse();
    // Nothing a user's input reaches may end the process silently: a
    // panic that escapes a command is a harness failure, reported so.
    match wqsim_model::oracle::catch_panic_value(move || wqsim::cmd::dispatch(cli)) {
        Ok(code) => code,
        Err(msg) => {
            let at = wqsim_model::oracle::last_panic_location().map(|l| format!(" (at {l})")).unwrap_or_default();
            eprintln!("wqsim: harness failure: {}{at}", msg.lines().next().unwrap_or(""));
            eprintln!("wqsim: this is a bug in wqsim, not in the model; the command line above reproduces it");
            Exit::Harness.into()
        }
    }
}
