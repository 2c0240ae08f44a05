//! `kernel-check` against a console recorded from a real Linux 6.12 boot
//! (`sim/tests/data/kernel-console.txt`, refreshed by
//! `WQSIM_RECORD=1 ci/kernel/check`): the model must still agree with it,
//! and a model with one deliberately wrong behaviour must be reported on
//! exactly the scenario that shows it.
#![cfg(not(loom))]

use std::path::PathBuf;

use wqsim::qemu::host::{Options, Verdict, kernel_check, kernel_check_scenarios};
use wqsim_model::bugs::Shipped;
use wqsim_model::kernel::Mutant;

fn check(mutant: Option<Mutant>) -> wqsim::qemu::host::Report {
    check_series(mutant, Shipped::Debian612, "sim/tests/data/kernel-console.txt")
}

fn check_series(mutant: Option<Mutant>, series: Shipped, console: &str) -> wqsim::qemu::host::Report {
    // Scenario names in the console are relative to the repository root.
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).unwrap();
    let files = wqsim::scenario::collect(&[PathBuf::from("scenarios")]).unwrap_or_else(|e| panic!("{}", e.message));
    let opts = Options {
        kernel: None,
        guest: None,
        stress: 1,
        mutant,
        console_in: Some(PathBuf::from(console)),
        console_out: None,
        timeout_secs: 0,
        series,
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

/// The second kernel, Debian's 6.1 (`WQSIM_KERNEL_SERIES=6.1
/// WQSIM_RECORD=1 ci/kernel/check`): the model of it, with the catalog
/// bugs its source still has, agrees too, and runs the scenarios of those
/// switches that 6.12's comparison also runs.
#[test]
fn the_model_of_6_1_agrees_with_the_recorded_6_1_kernel() {
    let r = check_series(None, Shipped::Debian61, "sim/tests/data/kernel-console-6.1.txt");
    assert!(r.ok(), "{}", r.render());
    assert!(r.render().starts_with(
        "kernel: Debian's linux-source-6.1; the model of it has the switches P13 U1 F1 F2 F3 F5 F6 F7 F8 F9 on\n"
    ));
    let row = r.rows.iter().find(|r| r.scenario == "scenarios/catalog/p13-torn-head-tail.wq").unwrap();
    assert_eq!(row.verdict, Verdict::Match, "{}", r.render());
    let matched = r.rows.iter().filter(|r| r.verdict == Verdict::Match).count();
    assert!(matched >= 60, "only {matched} scenarios compared:\n{}", r.render());
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

/// The kernel settles how the model reads it: `revoked_at` shares storage
/// with `expiry` in `struct key`, so revoking a key sets its death time and
/// the collector reaps it `key_gc_delay` later. A model that kept the two
/// apart (the mutant) never reaps revoked keys; on both kernels the
/// removal record comes.
#[test]
fn a_revoked_key_never_reaped_is_contradicted_by_both_kernels() {
    for (series, console) in [
        (Shipped::Debian612, "sim/tests/data/kernel-console.txt"),
        (Shipped::Debian61, "sim/tests/data/kernel-console-6.1.txt"),
    ] {
        let r = check_series(Some(Mutant::RevokeKeepsExpiry), series, console);
        assert_eq!(r.differing(), vec!["scenarios/timing/revoke.wq"], "{}", r.render());
        let text = r.render();
        assert!(
            text.contains("  op 10: `read p0.r 4096`\n      model:  EAGAIN\n      kernel: [meta.removal(k0, tag=1)]\n"),
            "{text}"
        );
    }
}

#[test]
fn an_expectation_both_model_and_kernel_contradict_fails() {
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).unwrap();
    // The timing the model had before deferred work ran late: the removal
    // in the same read as the invalidation. Model and kernel both say
    // otherwise, and kernel-check must fail the scenario.
    let path = "scenarios/timing/invalidate.wq";
    let text = std::fs::read_to_string(path).unwrap();
    let right = "    read p0.r 4096 => [key.invalidated(k0, tag=9)]\n";
    let wrong = "    read p0.r 4096 => [key.invalidated(k0, tag=9), meta.removal(k0, tag=9)]\n";
    assert!(text.contains(right));
    let line = text[..text.find(right).unwrap()].lines().count() + 1;
    let sc = wqsim::scenario::parse(path, &text.replacen(right, wrong, 1)).unwrap_or_else(|e| panic!("{e:?}"));
    let opts = Options {
        kernel: None,
        guest: None,
        stress: 0,
        mutant: None,
        console_in: Some(PathBuf::from("sim/tests/data/kernel-console.txt")),
        console_out: None,
        timeout_secs: 0,
        series: Shipped::Debian612,
    };
    let r = kernel_check_scenarios(&[sc], &opts).unwrap_or_else(|e| panic!("{}", e.message));
    assert!(!r.ok());
    assert_eq!(r.differing(), vec![path]);
    let want = format!(
        "  op 6: `read p0.r 4096`\n      model:  [key.invalidated(k0, tag=9)]\n      kernel: [key.invalidated(k0, tag=9)]\n      the scenario (line {line}) expects [key.invalidated(k0, tag=9), meta.removal(k0, tag=9)]: the kernel contradicts it\n"
    );
    let text = r.render();
    assert!(text.contains(&want), "{text}");
    // The scenario as written holds on both.
    let r = kernel_check(&[PathBuf::from(path)], &opts).unwrap_or_else(|e| panic!("{}", e.message));
    assert!(r.ok(), "{}", r.render());
}
