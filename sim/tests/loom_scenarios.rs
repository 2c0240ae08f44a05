//! The loom runs of every scenario (`run loom ...` lines), in a test
//! binary built with `--cfg loom`:
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p wqsim --test loom_scenarios`.

#![cfg(loom)]

use std::path::Path;

#[test]
fn every_loom_run_matches_its_expectation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = wqsim::scenario::collect(&[root.join("scenarios")]).unwrap();
    let (table, exit) = wqsim::drive::check(&files, false, |_, _, _| {});
    assert_eq!(exit, wqsim::exit::Exit::Pass, "{table}");
    assert!(table.lines().filter(|l| l.contains(" loom ") && l.ends_with("  ok")).count() >= 20, "{table}");
}

/// The ordering and data-race switches, through their scenarios: with the
/// switch on, loom reports D1 naming the kernel function of the racing
/// access; without it, loom explores more than one execution and the
/// scenario holds. F5, F7 and F8, findings the kernel still has, are also
/// caught with the kernel as it is today (F4 is fixed upstream since).
#[test]
fn the_ordering_switches_are_caught_where_the_catalog_says() {
    use wqsim::explore::{Base, Budget, Kind, run_of};
    use wqsim::run::execute;
    use wqsim_model::bugs::Bug;
    let root = wqsim::catalog::root();
    for (bug, site) in [
        (Bug::W2, "pipe_read"),
        (Bug::W14, "watch_queue_clear"),
        (Bug::F2, "post_one_notification"),
        (Bug::F4, "post_one_notification"),
        (Bug::F5, "keyctl_watch_key"),
        (Bug::F7, "post_one_notification"),
        (Bug::F8, "__post_watch_notification"),
    ] {
        let mut sc = wqsim::catalog::scenario(&root, bug).unwrap();
        let off = execute(&sc, &run_of(&sc, Kind::Loom, Budget::default(), vec![bug]));
        assert_eq!(off.result, Some(Ok(())), "{bug} off must hold");
        assert!(off.executions > 1, "{bug} off: loom explored {} execution(s)", off.executions);
        let on = execute(&sc, &run_of(&sc, Kind::Loom, Budget::default(), vec![]));
        let v = on.result.unwrap().expect_err(&format!("{bug} on: not caught in {} executions", on.executions));
        assert_eq!(v.inv, bug.info().caught_by, "{bug}: {v}");
        assert!(v.message.contains(site), "{bug}: the report must name {site}: {v}");
        if matches!(bug, Bug::F5 | Bug::F7 | Bug::F8) {
            sc.base = Base::Kernel;
            sc.bugs.clear();
            let today = execute(&sc, &run_of(&sc, Kind::Loom, Budget::default(), vec![]));
            assert_eq!(today.result.map(|r| r.map_err(|v| v.inv)), Some(Err(wqsim_model::Inv::D1)), "{bug} today");
        }
    }
}
