//! Power tests of the race switches under shuttle: each switch's family,
//! switch on, is caught with the catalog's invariant; switch off (and
//! every finding given its proposed fix), it holds. The findings are also
//! shown caught with the kernel as it is today (the default).

#![cfg(feature = "shuttle")]

use wqsim_model::Inv;
use wqsim_model::bugs::{Bug, CATALOG};
use wqsim_model::explore::{Exploration, shuttle_pct, shuttle_random, shuttle_replay};
use wqsim_model::families::family;
use wqsim_model::kernel::Config;

const ITERATIONS: usize = 20_000;

fn explore(bug: Bug, config: Config) -> Exploration {
    let f = family(bug.info().family.expect("a race switch")).unwrap();
    let p = (f.program)(config);
    let e = shuttle_pct(&p, 1, ITERATIONS, 3);
    if e.result.is_err() { e } else { shuttle_random(&p, 1, ITERATIONS) }
}

fn caught(bug: Bug, inv: Inv) {
    let off = explore(bug, Config::fixed());
    assert_eq!(off.result, Ok(()), "{bug} off must hold");
    let on = explore(bug, Config::fixed().with_bug(bug));
    let v = on.result.clone().expect_err(&format!("{bug} on: not caught in {} executions", on.executions));
    assert_eq!(v.inv, inv, "{bug}: {v}");
    // The printed schedule replays the failure, to the same violation.
    let f = family(bug.info().family.unwrap()).unwrap();
    let replay = shuttle_replay(&(f.program)(Config::fixed().with_bug(bug)), on.schedule.as_deref().unwrap()).unwrap();
    assert_eq!(replay.result, Err(v), "{bug}: the replayed schedule must fail the same way");
}

#[test]
fn w12_resize_nolock() {
    caught(Bug::W12, Inv::H1);
}

#[test]
fn w13_defunct_race() {
    caught(Bug::W13, Inv::H1);
}

#[test]
fn p1_mask_cache() {
    caught(Bug::P1, Inv::H3);
}

#[test]
fn p4_stale_empty() {
    caught(Bug::P4, Inv::V2);
}

#[test]
fn p8_min_2_slots() {
    caught(Bug::P8, Inv::V1);
}

#[test]
fn f1_settimeout_notify_unlocked() {
    caught(Bug::F1, Inv::S6);
    // The kernel today has it.
    let f = family("unwatch_vs_post").unwrap();
    let e = shuttle_pct(&(f.program)(Config::default()), 1, ITERATIONS, 3);
    assert_eq!(e.result.map_err(|v| v.inv), Err(Inv::S6));
}

#[test]
fn f3_note_cleared_after_publish() {
    caught(Bug::F3, Inv::N1);
    let f = family("post_vs_read").unwrap();
    let e = shuttle_pct(&(f.program)(Config::default()), 1, ITERATIONS, 3);
    assert_eq!(e.result.map_err(|v| v.inv), Err(Inv::N1));
}

/// Every race row that shuttle can see (SeqCst) has a test above; W2,
/// W14, F2 and F4 are ordering or data-race bugs, for loom (tests/loom_catalog.rs).
#[test]
fn race_rows_are_covered() {
    let here = [Bug::W12, Bug::W13, Bug::P1, Bug::P4, Bug::P8, Bug::F1, Bug::F3];
    let loom_only = [Bug::W2, Bug::W14, Bug::F2, Bug::F4];
    for b in CATALOG.iter().filter(|b| b.family.is_some()) {
        assert!(here.contains(&b.bug) || loom_only.contains(&b.bug), "{} has no race test", b.id);
    }
}
