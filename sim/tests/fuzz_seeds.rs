//! Every committed fuzz seed and crash input, replayed through the same
//! library function the fuzz target calls (`wqsim::fuzz`): the fixed model
//! must pass them all (a crash input stays here once its bug is fixed).
#![cfg(not(loom))]

use std::path::PathBuf;

use wqsim::fuzz::{Target, committed_scenarios, repo_root, run_target};
use wqsim_model::kernel::Config;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz"));
    let mut out = Vec::new();
    for dir in ["seeds", "crashes"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
        let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            if f.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            let data = std::fs::read(&f).unwrap();
            out.push((f, data));
        }
    }
    out
}

fn replay(target: Target, at_least: usize) {
    let scenarios = committed_scenarios(&repo_root()).unwrap();
    let all = inputs(target.name());
    assert!(all.len() >= at_least, "{} inputs for {}", all.len(), target.name());
    for (f, data) in all {
        let (r, _) = wqsim::explore::silenced(|| run_target(target, &Config::fixed(), &scenarios, &data));
        assert_eq!(r, Ok(()), "{}", f.display());
    }
}

#[test]
fn parser_seeds_and_crashes_pass() {
    replay(Target::Parser, 4);
}

#[test]
fn frontend_seeds_and_crashes_pass() {
    replay(Target::Frontend, 40);
}

/// The front-end target's finding is a harness failure: with one injected
/// into every run, a plain scenario is reported as one.
#[test]
fn the_frontend_target_reports_a_harness_failure() {
    let text = b"setup:\n    pipe2 p0 O_NONBLOCK\n\nrun seq expect holds\n";
    assert_eq!(wqsim::fuzz::frontend(text), Ok(()));
    wqsim_model::conc::set_inject_panic(true);
    let r = wqsim::fuzz::frontend(text);
    wqsim_model::conc::set_inject_panic(false);
    let e = r.unwrap_err();
    assert!(e.starts_with("harness failure on `run seq` (line 4): "), "{e}");
    assert!(e.contains("injected harness panic"), "{e}");
}

#[test]
fn filter_seeds_and_crashes_pass() {
    replay(Target::Filter, 6);
}

#[test]
fn trace_seeds_and_crashes_pass() {
    replay(Target::Trace, 16);
}

#[test]
fn reader_seeds_and_crashes_pass() {
    replay(Target::Reader, 8);
}

#[test]
fn sources_seeds_and_crashes_pass() {
    replay(Target::Sources, 8);
}

/// One seed per scenario with threads, named after it and starting with
/// its key: `cargo run -p wqsim -- fuzz-seeds` writes the missing ones.
#[test]
fn schedule_seeds_cover_every_scenario_with_threads() {
    let scenarios = committed_scenarios(&repo_root()).unwrap();
    let seeds = inputs("schedule");
    for sc in &scenarios {
        let key = wqsim::fuzz::scenario_key(&sc.path).to_le_bytes();
        assert!(
            seeds.iter().any(|(_, d)| d.starts_with(&key)),
            "no seed picks {}: run `cargo run -p wqsim -- fuzz-seeds` to write it",
            sc.path
        );
    }
    replay(Target::Schedule, scenarios.len());
}
