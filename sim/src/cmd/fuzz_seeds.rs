//! `wqsim fuzz-seeds`: Write the `schedule` target's missing seeds: one per
//! scenario with threads, in fuzz/seeds/schedule/ (run from the repository
//! root).

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {}

#[cfg(not(loom))]
pub fn run(_: Args) -> ExitCode {
    let root = std::path::Path::new(".");
    let scenarios = match wqsim::fuzz::committed_scenarios(root) {
        Ok(s) => s,
        Err(e) => return usage(format!("{e} (run from the repository root)")),
    };
    let dir = root.join("fuzz/seeds/schedule");
    let have: Vec<Vec<u8>> =
        wqsim::fuzz::input_files(&dir).unwrap_or_default().iter().filter_map(|f| std::fs::read(f).ok()).collect();
    let mut wrote = 0;
    for sc in &scenarios {
        let key = wqsim::fuzz::scenario_key(&sc.path).to_le_bytes();
        if have.iter().any(|d| d.starts_with(&key)) {
            continue;
        }
        let (name, seed) = wqsim::fuzz::schedule_seed(&sc.path);
        let f = dir.join(&name);
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&f, seed)) {
            return usage(format!("{}: {e}", f.display()));
        }
        out!("wrote {}\n", f.display());
        wrote += 1;
    }
    out!("{} scenarios with threads; {wrote} seeds written\n", scenarios.len());
    ExitCode::SUCCESS
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("fuzzing runs in the main build: cargo run --release -p wqsim -- from-fuzz / fuzz-states / fuzz-seeds")
}
