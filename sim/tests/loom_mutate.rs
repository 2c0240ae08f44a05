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

/// A lookup by serial orders the instantiation's writes before its own
/// only through key_read_state()'s acquire: relaxed, KEYCTL_UPDATE's
/// payload write races add_key()'s (D1), in the add_vs_lookup scenario.
#[test]
fn a_relaxed_key_state_read_is_killed_by_loom() {
    use wqsim_model::sync::mutation::{Operator, Site};
    let sc = wqsim::scenario::load(&wqsim::catalog::root().join("races/add_vs_lookup.wq")).unwrap();
    let site = Site { func: "keyctl_update_key", op: Operator::RelaxAcquire, object: "key->state" };
    let o = wqsim::mutate::sweep_one(site, std::slice::from_ref(&sc), &[0]);
    assert_eq!(o.verdict, "killed", "{o:?}");
    assert!(o.by.ends_with(" loom D1"), "{}", o.by);
}
