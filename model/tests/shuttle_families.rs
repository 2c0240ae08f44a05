//! Every race family under shuttle's random, PCT and DFS schedulers: the
//! fixed model must hold. `WQSIM_SHUTTLE_ITERATIONS` scales the runs (the
//! PR tier's default is 10,000 random and 10,000 PCT schedules per family).

#![cfg(feature = "shuttle")]

use wqsim_model::explore::{shuttle_dfs, shuttle_pct, shuttle_random};
use wqsim_model::families::FAMILIES;
use wqsim_model::kernel::Config;

fn iterations() -> usize {
    std::env::var("WQSIM_SHUTTLE_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// The command that replays a failing schedule, with its timeline.
fn replay(family: &str, schedule: &Option<String>) -> String {
    format!(
        "CARGO_TARGET_DIR=target/shuttle cargo run --release -p wqsim --features shuttle -- replay --family {family} --base fixed --schedule {}",
        schedule.as_deref().unwrap_or("?")
    )
}

fn seed() -> u64 {
    std::env::var("WQSIM_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_0001)
}

#[test]
fn families_hold_under_random_schedules() {
    for f in FAMILIES {
        let e = shuttle_random(&(f.program)(Config::fixed()), seed(), iterations());
        if let Err(v) = &e.result {
            panic!("{} (random): {v}\n  replay: {}", f.name, replay(f.name, &e.schedule));
        }
        assert!(e.executions as usize >= iterations(), "{}: {} executions", f.name, e.executions);
    }
}

#[test]
fn families_hold_under_pct_schedules() {
    for f in FAMILIES {
        let e = shuttle_pct(&(f.program)(Config::fixed()), seed(), iterations(), 3);
        if let Err(v) = &e.result {
            panic!("{} (pct): {v}\n  replay: {}", f.name, replay(f.name, &e.schedule));
        }
        assert!(e.executions as usize >= iterations(), "{}: {} executions", f.name, e.executions);
    }
}

#[test]
fn families_hold_under_dfs() {
    for f in FAMILIES {
        let p = (f.program)(Config::fixed());
        let e = shuttle_dfs(&p, iterations());
        if let Err(v) = &e.result {
            panic!("{} (dfs): {v}\n  replay: {}", f.name, replay(f.name, &e.schedule));
        }
        // One actor, and a main thread that only joins it, have one
        // schedule (one_slot_pipe: the jobserver alone).
        let least = if p.actors.len() > 1 { 2 } else { 1 };
        assert!(e.executions >= least, "{}: DFS explored {} schedule(s)", f.name, e.executions);
    }
}
