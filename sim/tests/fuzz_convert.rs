//! Crash inputs into scenarios (`wqsim from-fuzz`), the protocol states
//! the fuzz targets reach, and the shards of split runs.
#![cfg(not(loom))]

use wqsim::fuzz::{
    Target, committed_scenarios, config_with, from_fuzz, pseudo_random_inputs as inputs, repo_root, run_target,
};
use wqsim::scenario::{Expect, parse};
use wqsim_model::Inv;
use wqsim_model::kernel::Config;
use wqsim_model::probe::{State, States};

/// Convert `data`, then run the scenario as `wqsim check` does: the first
/// run line must give `inv`, the `without` line must hold.
fn converts_to(target: Target, bugs: &str, data: &[u8], inv: Inv) -> String {
    let scenarios = committed_scenarios(&repo_root()).unwrap();
    let config = config_with(bugs).unwrap();
    let path = "scenarios/fuzz/test.wq";
    let c = wqsim::explore::silenced(|| from_fuzz(target, &config, &scenarios, data, path, "test-input")).unwrap();
    let sc = parse(path, &c.text).unwrap();
    assert_eq!(sc.runs.len(), 2, "{}", c.text);
    assert_eq!(sc.runs[0].expect, Expect::Violation(inv), "{}", c.text);
    assert_eq!(sc.runs[1].expect, Expect::Holds, "{}", c.text);
    for run in &sc.runs {
        let r = wqsim::explore::silenced(|| wqsim::run::execute(&sc, run));
        assert!(r.matches(), "line {}: {} ({})\n{}", run.line, r.result_text(), run.expect, c.text);
    }
    assert!(c.snapshot.starts_with("---\nsource: sim/tests/snapshots.rs\n---\nscenarios/fuzz/test.wq\n"));
    c.text
}

/// The committed crash input of the `schedule` target (W13 on) becomes the
/// committed scenario, byte for byte.
#[test]
fn the_committed_w13_crash_becomes_its_scenario() {
    let root = repo_root();
    let data = std::fs::read(root.join("fuzz/crashes/schedule/w13-defunct-race")).unwrap();
    let scenarios = committed_scenarios(&root).unwrap();
    let path = "scenarios/fuzz/w13-defunct-race.wq";
    let c = wqsim::explore::silenced(|| {
        from_fuzz(Target::Schedule, &config_with("W13").unwrap(), &scenarios, &data, path, "w13-defunct-race")
    })
    .unwrap();
    assert_eq!(c.text, std::fs::read_to_string(root.join(path)).unwrap());
    assert_eq!(c.snapshot, std::fs::read_to_string(root.join("snapshots/fuzz__w13-defunct-race.snap")).unwrap());
    converts_to(Target::Schedule, "W13", &data, Inv::H1);
}

/// A `trace` input that leaks with W10 on becomes a sequential scenario
/// that `wqsim check` reports as H5.
#[test]
fn a_trace_crash_becomes_a_sequential_scenario() {
    let config = config_with("W10").unwrap();
    let scenarios = vec![];
    let data = inputs(2000, 160, 7)
        .into_iter()
        .find(|d| wqsim::explore::silenced(|| run_target(Target::Trace, &config, &scenarios, d)).0.is_err())
        .expect("some input leaks a watch");
    let text = converts_to(Target::Trace, "W10", &data, Inv::H5);
    assert!(text.contains("run seq expect H5\nrun seq without W10 expect holds\n"), "{text}");
}

/// The W1 filter (type 100, one entry) becomes an H3 scenario.
#[test]
fn a_filter_crash_becomes_a_scenario() {
    let mut b = vec![1, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&100u32.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&[0xff; 32]);
    let text = converts_to(Target::Filter, "W1", &b, Inv::H3);
    assert!(text.contains("SET_FILTER"), "{text}");
}

/// A finding of the `reader` target (W6: the note page's reference is
/// never dropped) becomes a concurrent scenario with an explorer run,
/// shrunk to the few posts that show it.
/// The `sources` target finds X5 (a superblock error posted after its
/// watch's removal record) and its input becomes a v5 scenario that shows
/// it.
#[test]
fn a_sources_crash_becomes_a_variant_scenario() {
    let config = config_with("X5").unwrap();
    let data = inputs(2000, 64, 11)
        .into_iter()
        .find(|d| wqsim::explore::silenced(|| run_target(Target::Sources, &config, &[], d)).0.is_err())
        .expect("some input posts after the removal");
    let text = converts_to(Target::Sources, "X5", &data, Inv::S6);
    assert!(text.contains("variant v5\n"), "{text}");
    assert!(text.contains("watch_sb"), "{text}");
}

#[test]
fn a_reader_crash_becomes_a_concurrent_scenario() {
    let config = config_with("W6").unwrap();
    let data = inputs(50, 64, 5)
        .into_iter()
        .find(|d| wqsim::explore::silenced(|| run_target(Target::Reader, &config, &[], d)).0.is_err())
        .expect("some input leaks a page");
    let text = converts_to(Target::Reader, "W6", &data, Inv::H5);
    assert!(text.contains("run random iterations=100 expect H5\nrun random without W6 expect holds\n"), "{text}");
    let ops = text.lines().filter(|l| l.starts_with("    ")).count();
    assert!(ops <= 8, "{ops} operations:\n{text}");
}

#[test]
fn inputs_that_find_nothing_and_parser_crashes_are_refused() {
    let scenarios = committed_scenarios(&repo_root()).unwrap();
    let e = from_fuzz(Target::Filter, &Config::fixed(), &scenarios, b"\x01", "scenarios/fuzz/x.wq", "x").unwrap_err();
    assert!(e.contains("finds nothing with no catalog switch on"), "{e}");
    let e = from_fuzz(Target::Parser, &Config::fixed(), &scenarios, b"x", "scenarios/fuzz/x.wq", "x").unwrap_err();
    assert!(e.contains("the parser handles this input"), "{e}");
    let e = config_with("W99").unwrap_err();
    assert!(e.starts_with("no catalog switch `W99`; the switches are: W1 "), "{e}");
}

/// Every protocol state is reached by some input of the program targets,
/// and a program that never posts reaches none: the marks are where the
/// model takes those paths, not everywhere.
#[test]
fn the_protocol_states_are_reached_and_only_there() {
    let scenarios = committed_scenarios(&repo_root()).unwrap();
    let mut all = States::default();
    for d in inputs(300, 96, 99) {
        for t in [Target::Trace, Target::Reader, Target::Schedule] {
            let (r, s) = wqsim::explore::silenced(|| run_target(t, &Config::fixed(), &scenarios, &d));
            assert_eq!(r, Ok(()));
            all = all.union(s);
        }
    }
    // And the schedule target's committed seeds (one stops a post while
    // the filter is replaced).
    let seeds = wqsim::fuzz::input_files(&repo_root().join("fuzz/seeds/schedule")).unwrap();
    for f in seeds {
        let d = std::fs::read(&f).unwrap();
        let (r, s) = wqsim::explore::silenced(|| run_target(Target::Schedule, &Config::fixed(), &scenarios, &d));
        assert_eq!(r, Ok(()), "{}", f.display());
        all = all.union(s);
    }
    assert_eq!(all.list(), State::ALL.to_vec(), "reached: {all}");
    // The empty input: the setup sizes and watches, nothing is posted
    // before the poster runs; with no interleaving bytes the poster runs
    // first and the reader after it. One update fits: no state.
    let (r, s) = run_target(Target::Reader, &Config::fixed(), &scenarios, &[]);
    assert_eq!((r, s), (Ok(()), States::default()));
}

#[test]
fn shards_split_without_overlap() {
    let files: Vec<usize> = (0..10).collect();
    let mut seen = Vec::new();
    for i in 1..=3 {
        seen.extend(wqsim::drive::shard(files.clone(), i, 3));
    }
    seen.sort();
    assert_eq!(seen, files);
    assert_eq!(wqsim::drive::shard(files.clone(), 2, 3), vec![1, 4, 7]);

    use wqsim::explore::{Budget, Kind, shard_budget};
    let b = Budget { iterations: 1000, seed: 5, ..Budget::default() };
    let seeds: Vec<u64> = (1..=4).map(|i| shard_budget(Kind::Random, b, i, 4).unwrap().seed).collect();
    assert_eq!(seeds, vec![20, 21, 22, 23]);
    assert_eq!(shard_budget(Kind::Pct, b, 1, 4).unwrap().iterations, 250);
    assert_eq!(shard_budget(Kind::Dfs, b, 1, 4), Some(b));
    assert_eq!(shard_budget(Kind::Dfs, b, 2, 4), None);
}

#[test]
fn the_cli_rejects_a_bad_shard_and_target() {
    let wqsim = env!("CARGO_BIN_EXE_wqsim");
    let o = std::process::Command::new(wqsim).args(["check", "--shard", "0/2"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("expected I/N with 1 <= I <= N (--shard 2/4)"), "{err}");
    let o =
        std::process::Command::new(wqsim).args(["from-fuzz", "/nonexistent/x", "--target", "tracer"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no fuzz target \"tracer\"; the targets are parser, frontend, filter, trace, schedule, reader"),
        "{err}"
    );
}
