//! Every race family under loom: all interleavings within the preemption
//! bound, with C11 orderings and data-race detection on kernel memory.
//! Each exploration must cover more than one execution (loom#392: a model
//! whose threads start by loading the same atomic can collapse to one).

#![cfg(loom)]

use wqsim_model::explore::loom;
use wqsim_model::families::FAMILIES;
use wqsim_model::kernel::Config;

/// Each family's PR-tier bound plus `WQSIM_LOOM_EXTRA` (the nightly tier
/// sets 1); `LOOM_MAX_PREEMPTIONS` overrides both.
fn bound(f: &wqsim_model::families::Family) -> usize {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
    env("LOOM_MAX_PREEMPTIONS").unwrap_or(f.loom_bound + env("WQSIM_LOOM_EXTRA").unwrap_or(0))
}

#[test]
fn families_hold_under_loom() {
    let only = std::env::var("WQSIM_FAMILY").ok();
    for f in FAMILIES {
        if only.as_deref().is_some_and(|o| o != f.name) {
            continue;
        }
        let e = loom(&(f.program)(Config::fixed()), bound(f), 20_000);
        if let Err(v) = &e.result {
            panic!(
                "{}: {v} (after {} executions)\n  replay: RUSTFLAGS=\"--cfg loom\" CARGO_TARGET_DIR=target/loom cargo run --release -p wqsim -- explore --explorer loom --family {} --base fixed --preemptions {}",
                f.name,
                e.executions,
                f.name,
                bound(f)
            );
        }
        assert!(e.executions > 1, "{}: loom explored {} execution(s)", f.name, e.executions);
        eprintln!("{}: {} executions (preemption bound {})", f.name, e.executions, bound(f));
    }
}
