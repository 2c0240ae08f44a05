//! `wqsim replay`: Replay a failure: a `wq1:` token that `check` or `run`
//! printed, or a family with the `s2:` schedule `explore` printed.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The `wq1:...` token.
    pub token: Option<String>,
    /// Accept a replay that left its recorded schedule (exit status 3
    /// otherwise).
    #[arg(long)]
    pub allow_divergence: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The `s2:...` schedule `explore` printed (with --family).
    #[arg(long)]
    pub schedule: Option<String>,
}

pub fn run(a: Args) -> ExitCode {
    let Args { token, allow_divergence, target: ta, schedule } = a;
    if let Some(tok) = token {
        return match wqsim::cli::replay_token(&tok, allow_divergence) {
            Ok((s, exit)) => {
                out!("{s}");
                exit.into()
            }
            Err(e) => usage(e.0),
        };
    }
    let Some(schedule) = schedule else {
        return usage("give a wq1: token, or --family NAME --schedule s2:...");
    };
    let t = match target(&ta) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    wqsim_model::conc::set_detail(true);
    match wqsim::explore::replay(&t, &schedule) {
        Ok(f) => {
            let code = report(&t, &f);
            match &f.note {
                Some(n) if !allow_divergence => {
                    out!("  note: {n}\n");
                    out!("wqsim: the replay left its recorded schedule; rerun with --allow-divergence to accept it\n");
                    Exit::Nondeterminism.into()
                }
                Some(n) => {
                    out!("  note: {n}\n");
                    code
                }
                None => code,
            }
        }
        Err(e) => usage(e),
    }
}
