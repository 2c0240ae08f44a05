//! A mutant only loom can kill, in its own test binary: the active mutant
//! is process-wide, and the scenarios' loom runs (`loom_scenarios.rs`)
//! must not see it.
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p wqsim --test loom_mutate`.

#![cfg(loom)]

/// A mutant loom alone can kill: the head published by post_one_notification
/// with a plain store instead of smp_store_release is a data race with
/// pipe_read's load (D1), in the F2 scenario's loom run.
#[test]
fn a_relaxed_release_is_killed_by_loom() {
    use wqsim_model::sync::mutation::{Operator, Site};
    let sc = wqsim::catalog::scenario(&wqsim::catalog::root(), wqsim_model::bugs::Bug::F2).unwrap();
    let site = Site { func: "post_one_notification", op: Operator::RelaxRelease, object: "pipe->head" };
    let o = wqsim::mutate::sweep_one(site, std::slice::from_ref(&sc), &[0]);
    assert_eq!(o.verdict, "killed", "{o:?}");
    assert!(o.by.ends_with(" loom D1"), "{}", o.by);
}

/// A filter read without rcu_dereference()'s acquire: the poster can see
/// the new filter but not its contents, a data race with the second
/// filter setter's initialisation (D1), in the filter_vs_filter scenario.
#[test]
fn a_plain_filter_dereference_is_killed_by_loom() {
    use wqsim_model::sync::mutation::{Operator, Site};
    let sc = wqsim::scenario::load(&wqsim::catalog::root().join("races/filter_vs_filter.wq")).unwrap();
    let site = Site { func: "__post_watch_notification", op: Operator::PlainDereference, object: "rcu_dereference" };
    let o = wqsim::mutate::sweep_one(site, std::slice::from_ref(&sc), &[0]);
    assert_eq!(o.verdict, "killed", "{o:?}");
    assert!(o.by.ends_with(" loom D1"), "{}", o.by);
}
