//! Power tests of the ordering and data-race switches under loom: each
//! switch's family, switch on, is caught as the catalog says; switch off
//! (with every finding given its proposed fix), the family holds. The
//! findings are also shown caught with the kernel as it is today.

#![cfg(loom)]

use wqsim_model::Inv;
use wqsim_model::bugs::{Bug, CATALOG};
use wqsim_model::explore::{Exploration, loom};
use wqsim_model::families::family;
use wqsim_model::kernel::Config;

fn explore(bug: Bug, config: Config) -> Exploration {
    let f = family(bug.info().family.expect("a race switch")).unwrap();
    loom(&(f.program)(config), f.loom_bound, 20_000)
}

/// Switch off holds; switch on fails with `inv`, and the message names
/// `site` (the kernel function of the racing access).
fn caught(bug: Bug, inv: Inv, site: &str) {
    let off = explore(bug, Config::fixed());
    assert_eq!(off.result, Ok(()), "{bug} off must hold");
    assert!(off.executions > 1, "{bug} off: loom explored {} execution(s)", off.executions);
    let on = explore(bug, Config::fixed().with_bug(bug));
    let v = on.result.expect_err(&format!("{bug} on: not caught in {} executions", on.executions));
    assert_eq!(v.inv, inv, "{bug}: {v}");
    assert!(v.message.contains(site), "{bug}: the report must name {site}: {v}");
}

#[test]
fn w2_head_unordered() {
    caught(Bug::W2, Inv::D1, "pipe_read");
}

#[test]
fn w14_add_nolock() {
    caught(Bug::W14, Inv::D1, "watch_queue_clear");
}

#[test]
fn f2_note_reuse_unordered() {
    caught(Bug::F2, Inv::D1, "post_one_notification");
}

#[test]
fn f4_size_published_unlocked() {
    caught(Bug::F4, Inv::D1, "post_one_notification");
    // The kernel today has it.
    let e = explore(Bug::F4, Config::default());
    assert_eq!(e.result.map_err(|v| v.inv), Err(Inv::D1));
}

/// Every ordering or data-race row has a test here.
#[test]
fn ordering_rows_are_covered() {
    let here = [Bug::W2, Bug::W14, Bug::F2, Bug::F4];
    let shuttle = [Bug::W12, Bug::W13, Bug::P1, Bug::P4, Bug::P8, Bug::F1, Bug::F3];
    for b in CATALOG.iter().filter(|b| b.family.is_some()) {
        assert!(here.contains(&b.bug) || shuttle.contains(&b.bug), "{} has no race test", b.id);
    }
}
