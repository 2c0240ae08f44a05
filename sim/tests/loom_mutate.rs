//! A mutant only loom can kill, in its own test binary: the active mutant
//! is process-wide, and the scenarios' loom runs (`loom_scenarios.rs`)
//! must not see it.
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p wqsim --test loom_mutate`.

#![cfg(loom)]

/// One test at a time: the active mutant is process-wide.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static M: std::sync::Mutex<()> = std::sync::Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

/// A mutant loom alone can kill: the head published by post_one_notification
/// with a plain store instead of smp_store_release is a data race with
/// pipe_read's load (D1), in the F2 scenario's loom run.
#[test]
fn a_relaxed_release_is_killed_by_loom() {
    let _s = serial();
    use wqsim_model::sync::mutation::{Operator, Site};
    let sc = wqsim::catalog::scenario(&wqsim::catalog::root(), wqsim_model::bugs::Bug::F2).unwrap();
    let site = Site { func: "post_one_notification", op: Operator::RelaxRelease, object: "pipe->head" };
    let o = wqsim::mutate::sweep_one(site, std::slice::from_ref(&sc), &[0]);
    assert_eq!(o.verdict, "killed", "{o:?}");
    assert!(o.by.ends_with(" loom D1"), "{}", o.by);
}

/// poll(2)'s descriptor lookup without files->file_lock races the table
/// changes of pipe2() and close() in another task of the process (D1), in
/// the fd_table scenario.
#[test]
fn an_unlocked_poll_fdget_is_killed_by_loom() {
    let _s = serial();
    use wqsim_model::sync::mutation::{Operator, Site};
    let sc = wqsim::scenario::load(&wqsim::catalog::root().join("races/fd_table.wq")).unwrap();
    let site = Site { func: "do_sys_poll", op: Operator::SkipLock, object: "files->file_lock" };
    let o = wqsim::mutate::sweep_one(site, std::slice::from_ref(&sc), &[0]);
    assert_eq!(o.verdict, "killed", "{o:?}");
    assert!(o.by.ends_with(" loom D1"), "{}", o.by);
}
