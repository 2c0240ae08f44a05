//! `wqsim minimize`: Shrink a failing scenario (fewer operations, threads,
//! preemptions) and write the minimal one as FILE's name with `.min.wq`.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    pub file: std::path::PathBuf,
    /// Where to write it (default: beside FILE, `.min.wq`).
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
}

#[cfg(not(loom))]
pub fn run(a: Args) -> ExitCode {
    let Args { file, output } = a;
    match wqsim::drive::minimize(&file) {
        Ok((text, summary)) => {
            let dest = output.unwrap_or_else(|| file.with_extension("min.wq"));
            if let Err(e) = std::fs::write(&dest, text) {
                return usage(format!("{}: {e}", dest.display()));
            }
            out!("{summary}\nwrote {}\n", dest.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("the loom build runs `check` and `explore` only; use: cargo run --release -p wqsim -- ...")
}
