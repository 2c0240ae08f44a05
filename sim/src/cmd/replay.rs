//! `wqsim replay`: Replay a failure from the `wq1:` token that `check`,
//! `run`, `explore` or `matrix` printed.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The `wq1:...` token.
    pub token: String,
    /// Accept a replay that left its recorded schedule (exit status 3
    /// otherwise).
    #[arg(long)]
    pub allow_divergence: bool,
}

pub fn run(a: Args) -> ExitCode {
    match wqsim::drive::replay_token(&a.token, a.allow_divergence) {
        Ok((s, exit)) => {
            out!("{s}");
            exit.into()
        }
        Err(e) => fail(e),
    }
}
