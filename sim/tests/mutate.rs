//! The mutation engine: the census enumerates mutants from the model
//! itself, a mutant switched on at run time changes what the model does
//! at exactly its site, and the sweep tells a killed mutant from a
//! survivor. The active mutant is process-wide, so these tests take
//! turns ([`serial`]).

#![cfg(not(loom))]

use std::sync::{Mutex, MutexGuard};

/// One test at a time in this binary.
fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

use wqsim::mutate::{Outcome, census, merge, sweep_one};
use wqsim::scenario::Scenario;
use wqsim_model::sync::mutation::{self, Operator, Site};

fn load(rel: &str) -> Scenario {
    wqsim::scenario::load(&wqsim::catalog::root().join(rel)).unwrap()
}

#[test]
fn the_census_lists_the_sites_the_scenarios_reach() {
    let _s = serial();
    let scenarios = vec![load("races/blocking_reader.wq"), load("races/post_vs_read.wq")];
    let c = census(&scenarios);
    let ids: Vec<String> = c.sites.keys().map(Site::id).collect();
    for want in [
        "post_one_notification:skip-lock:pipe->rd_wait.lock",
        "post_one_notification:drop-wakeup:pipe->rd_wait.lock",
        "post_one_notification:relax-release:pipe->head",
        "pipe_read:skip-lock:pipe->mutex",
        "pipe_read:relax-acquire:smp_load_acquire",
    ] {
        assert!(ids.iter().any(|i| i == want), "{want} not in the census: {ids:#?}");
    }
    // Every site is in a kernel function, and reached by a scenario.
    assert!(c.sites.iter().all(|(s, r)| s.func != "(userspace)" && !r.is_empty()));
    // Recording is off again: nothing is active after a census.
    assert_eq!(mutation::active(), None);
}

#[test]
fn a_dropped_wake_up_is_killed_and_the_model_is_itself_again() {
    let _s = serial();
    let scenarios = vec![load("races/blocking_reader.wq")];
    let site = Site { func: "post_one_notification", op: Operator::DropWakeup, object: "pipe->rd_wait.lock" };
    let o = sweep_one(site, &scenarios, &[0]);
    assert_eq!(o.verdict, "killed", "{o:?}");
    assert!(o.by.contains("scenarios/races/blocking_reader.wq:") && o.by.ends_with(" V2"), "{}", o.by);
    // Switched off, the same scenario holds.
    let r = wqsim::run::execute(&scenarios[0], &scenarios[0].runs[0]);
    assert!(r.matches(), "{r:?}");
}

#[test]
fn a_mutant_no_run_reaches_survives_and_says_so() {
    let _s = serial();
    // The sequential scenario never takes pipe->mutex in pipe_read, so
    // the mutant cannot be told apart there.
    let scenarios = vec![load("catalog/w4-bitmap-size.wq")];
    let site = Site { func: "pipe_read", op: Operator::SkipLock, object: "pipe->mutex" };
    let o = sweep_one(site, &scenarios, &[0]);
    assert_eq!((o.verdict, o.by.as_str()), ("survived", "-"));
    assert_eq!(mutation::applied(), 0);
}

#[test]
fn sweeps_merge_and_read_back() {
    let line = |v: &str, by: &str, s: f64| {
        Outcome::from_tsv(&format!("pipe_read:relax-acquire:smp_load_acquire\t{v}\t{by}\t3\t7\t{s:.2}")).unwrap()
    };
    let shuttle = vec![line("survived", "-", 30.0)];
    let loom = vec![line("killed", "scenarios/catalog/f2-note-reuse-unordered.wq:28 loom D1", 0.01)];
    let m = merge(vec![shuttle, loom]);
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].verdict, m[0].runs), ("killed", 6));
    assert_eq!(m[0].describe(), "relax-acquire smp_load_acquire in pipe_read");
    assert_eq!(Outcome::from_tsv(&m[0].to_tsv()), Some(m[0].clone()));
    assert_eq!(Outcome::from_tsv("x\tkilled"), None);
}

/// Heap points close a shuttle blind spot: a filter freed with no grace
/// period while a poster still holds it is a window between loading the
/// object and using it. Without a scheduling point at the field access
/// shuttle never schedules the free into it; with `--heap-points` it does.
#[test]
fn heap_points_let_shuttle_kill_a_free_without_grace_period() {
    let _s = serial();
    let scenarios = vec![load("races/post_vs_filter.wq")];
    let site = Site { func: "watch_queue_set_filter", op: Operator::NoGracePeriod, object: "call_rcu" };
    let before = wqsim_model::sync::set_heap_points(false);
    let off = sweep_one(site, &scenarios, &[0]);
    wqsim_model::sync::set_heap_points(true);
    let on = sweep_one(site, &scenarios, &[0]);
    wqsim_model::sync::set_heap_points(before);
    assert_eq!(off.verdict, "survived", "{off:?}");
    assert_eq!(on.verdict, "killed", "{on:?}");
    assert!(on.by.ends_with(" pct H1"), "{}", on.by);
}
