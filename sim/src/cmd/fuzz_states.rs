//! `wqsim fuzz-states`: Replay fuzz inputs (seeds, a corpus) through a
//! target: the findings with their inputs, and which protocol states the
//! inputs reached. Exits 1 on a finding.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// parser, frontend, filter, trace, schedule or reader.
    pub target: String,
    /// Input files or directories.
    pub paths: Vec<std::path::PathBuf>,
    /// The switches on, comma-separated (default: $WQSIM_FUZZ_BUGS).
    #[arg(long, env = "WQSIM_FUZZ_BUGS")]
    pub bugs: Option<String>,
}

#[cfg(not(loom))]
pub fn run(a: Args) -> ExitCode {
    let Args { target, paths, bugs } = a;
    let t = match fuzz_target(&target) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let config = match fuzz_config(bugs.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let scenarios = match wqsim::fuzz::committed_scenarios(&wqsim::fuzz::repo_root()) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let mut files = Vec::new();
    for p in &paths {
        match wqsim::fuzz::input_files(p) {
            Ok(f) => files.extend(f),
            Err(e) => return usage(e),
        }
    }
    let r = wqsim::explore::silenced(|| wqsim::fuzz::replay_inputs(t, &config, &scenarios, &files));
    out!("{}", r.render());
    if r.findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("fuzzing runs in the main build: cargo run --release -p wqsim -- from-fuzz / fuzz-states / fuzz-seeds")
}
