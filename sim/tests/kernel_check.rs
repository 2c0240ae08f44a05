//! `kernel-check` against a console recorded from a real Linux 6.12 boot
//! (`sim/tests/data/kernel-console.txt`, refreshed by
//! `WQSIM_RECORD=1 ci/kernel/check`): the model must still agree with it,
//! and a model with one deliberately wrong behaviour must be reported on
//! exactly the scenario that shows it.
#![cfg(not(loom))]

use std::path::PathBuf;

use wqsim::qemu::host::{Options, Verdict, kernel_check};
use wqsim_model::kernel::Mutant;

fn check(mutant: Option<Mutant>) -> wqsim::qemu::host::Report {
    // Scenario names in the console are relative to the repository root.
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).unwrap();
    let files = wqsim::scenario::collect(&[PathBuf::from("scenarios")]).unwrap_or_else(|e| panic!("{}", e.message));
    let opts = Options {
        kernel: None,
        guest: None,
        stress: 1,
        mutant,
        console_in: Some(PathBuf::from("sim/tests/data/kernel-console.txt")),
        console_out: None,
        timeout_secs: 0,
    };
    kernel_check(&files, &opts).unwrap_or_else(|e| panic!("{}", e.message))
}

#[test]
fn the_model_agrees_with_the_recorded_kernel() {
    let r = check(None);
    assert!(r.ok(), "{}", r.render());
    let matched = r.rows.iter().filter(|r| r.verdict == Verdict::Match).count();
    assert!(matched >= 30, "only {matched} scenarios compared:\n{}", r.render());
    // The recorded stress runs found nothing.
    assert!(!r.stress.is_empty() && r.stress.iter().all(|s| s.iterations > 0 && s.violations.is_empty()));
}

#[test]
fn a_wrong_model_is_reported_on_exactly_its_scenario() {
    let r = check(Some(Mutant::ReadTooSmallEfault));
    assert!(!r.ok());
    // The two scenarios that read into a buffer too small for the record.
    assert_eq!(r.differing(), vec!["scenarios/errno/read-whole.wq", "scenarios/loss/loss-flag-keeps-whole.wq"]);
    let text = r.render();
    assert!(text.contains("  op 6: `read p0.r 8`\n      model:  EFAULT\n      kernel: ENOBUFS\n"), "{text}");
}
