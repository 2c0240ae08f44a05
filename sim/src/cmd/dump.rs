//! `wqsim dump`: The records a scenario's reads return, as
//! samples/watch_queue/watch_test.c prints them.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    pub file: std::path::PathBuf,
}

#[cfg(not(loom))]
pub fn run(a: Args) -> ExitCode {
    let Args { file } = a;
    match wqsim::drive::dump_file(&file) {
        Ok(s) => {
            out!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("the loom build runs `check` and `explore` only; use: cargo run --release -p wqsim -- ...")
}
