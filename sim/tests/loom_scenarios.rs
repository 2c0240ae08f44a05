//! The loom runs of every scenario (`run loom ...` lines), in a test
//! binary built with `--cfg loom`:
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p wqsim --test loom_scenarios`.

#![cfg(loom)]

use std::path::Path;

#[test]
fn every_loom_run_matches_its_expectation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = wqsim::cli::collect(&[root.join("scenarios")]).unwrap();
    let (table, exit) = wqsim::cli::check(&files, false, |_, _, _| {});
    assert_eq!(exit, wqsim::exit::Exit::Pass, "{table}");
    assert!(table.lines().filter(|l| l.contains(" loom ") && l.ends_with("  ok")).count() >= 20, "{table}");
}
