//! Every subcommand through the binary, as a user runs it: its arguments,
//! its output and its exit status ([`wqsim::exit`]).

#![cfg(not(loom))]

use std::process::Command;

/// `wqsim ARGS` from the repository root: status, stdout and stderr.
fn wqsim(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_wqsim"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .output()
        .expect("wqsim runs");
    (
        o.status.code().expect("an exit status"),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

const SUBCOMMANDS: [&str; 17] = [
    "check",
    "kernel-check",
    "run",
    "minimize",
    "trace",
    "dump",
    "selfcheck",
    "catalog",
    "explore",
    "replay",
    "matrix",
    "mutate",
    "bench",
    "from-fuzz",
    "fuzz-states",
    "fuzz-seeds",
    "fuzz-plan",
];

#[test]
fn every_subcommand_has_help_and_refuses_an_unknown_flag() {
    let (status, out, _) = wqsim(&["--help"]);
    assert_eq!(status, 0);
    for s in SUBCOMMANDS {
        assert!(out.contains(&format!("  {s} ")), "{s} is not in --help:\n{out}");
        let (status, out, _) = wqsim(&[s, "--help"]);
        assert_eq!(status, 0, "{s} --help");
        assert!(out.contains(&format!("Usage: wqsim {s}")), "{s}:\n{out}");
        let (status, _, err) = wqsim(&[s, "--no-such-flag"]);
        assert_eq!(status, 2, "{s} --no-such-flag: {err}");
        assert!(err.contains("unexpected argument '--no-such-flag'"), "{s}: {err}");
    }
}

#[test]
fn check_run_trace_dump_on_a_scenario() {
    let f = "scenarios/loss/loss-then-more.wq";
    let (status, out, _) = wqsim(&["check", "--no-time", f]);
    assert_eq!(status, 0, "{out}");
    assert!(out.ends_with("as expected, 0 mismatched\n"), "{out}");
    let (status, out, _) = wqsim(&["run", f]);
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("verdict: holds"), "{out}");
    let (status, out, _) = wqsim(&["trace", f]);
    assert_eq!(status, 0, "{out}");
    assert!(out.starts_with(" step  t1 setup/driver"), "{out}");
    let (status, out, _) = wqsim(&["dump", f]);
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("NOTIFY["), "{out}");
    let (status, _, err) = wqsim(&["run", "no/such.wq"]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("no/such.wq: No such file or directory"), "{err}");
}

#[test]
fn minimize_writes_a_smaller_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w4.min.wq");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let (status, text, err) =
        wqsim(&["minimize", &format!("{root}/scenarios/catalog/w4-bitmap-size.wq"), "-o", &out.display().to_string()]);
    assert_eq!(status, 0, "{text}{err}");
    assert!(text.contains("still N1"), "{text}");
    assert!(std::fs::read_to_string(&out).unwrap().contains("Minimised from"));
}

#[test]
fn mutate_lists_its_census_and_reports_a_sweep() {
    let (status, out, err) = wqsim(&["mutate", "--list", "scenarios/races/blocking_reader.wq"]);
    assert_eq!(status, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("post_one_notification:drop-wakeup:pipe->rd_wait.lock\t")), "{out}");
    // Two shards split the census between them.
    let shards: Vec<String> = ["1/2", "2/2"]
        .iter()
        .map(|s| wqsim(&["mutate", "--list", "--shard", s, "scenarios/races/blocking_reader.wq"]).1)
        .collect();
    assert_eq!(shards[0].lines().count() + shards[1].lines().count(), out.lines().count());
    assert!(shards[0].lines().all(|l| !shards[1].contains(l)));
    let (status, out, err) = wqsim(&[
        "mutate",
        "--only",
        "post_one_notification:drop-wakeup",
        "--min-score",
        "100",
        "scenarios/races/blocking_reader.wq",
    ]);
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.starts_with("# Mutation score\n"), "{out}");
    assert!(out.contains("**1 mutants: 1 killed, 0 survived (0 equivalent); score 100.0%"), "{out}");
    // A survivor nobody triaged fails the bar: pipe2() in the setup has
    // nobody to race with, so leaving its file-table lock out survives.
    let (status, out, err) = wqsim(&[
        "mutate",
        "--only",
        "do_pipe2:skip-lock",
        "--min-score",
        "0",
        "--triage",
        "/dev/null",
        "scenarios/races/blocking_reader.wq",
    ]);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains(
            "- `do_pipe2:skip-lock:files->file_lock` (skip-lock files->file_lock in do_pipe2): **not triaged**."
        ),
        "{out}"
    );
    assert!(err.contains("survivors not triaged: do_pipe2:skip-lock:files->file_lock"), "{err}");
    let (status, _, err) = wqsim(&["mutate", "--triage", "/no/such/file", "scenarios/races/blocking_reader.wq"]);
    assert_eq!(status, 4, "{err}");
    // A crash inside a run under a mutant kills nothing: the sweep records
    // a harness failure, the report names it and the command exits 5.
    let dir = tempfile::tempdir().unwrap();
    let tsv = dir.path().join("sweep.tsv");
    std::fs::write(
        &tsv,
        "post_one_notification:swap-steps:5 fill the slot, 6 publish pipe->head\tharness\t\
         scenarios/races/blocking_reader.wq:20 pct harness: attempt to subtract with overflow\t3\t0\t0.01\n",
    )
    .unwrap();
    let (status, out, err) = wqsim(&["mutate", "--merge", tsv.to_str().unwrap(), "--min-score", "0"]);
    assert_eq!(status, 5, "{out}{err}");
    assert!(out.contains("**harness failure** (a bug in the model or the harness): scenarios/races/blocking_reader.wq:20 pct harness: attempt to subtract with overflow"), "{out}");
    assert!(err.contains("harness failures under mutants"), "{err}");
}

#[test]
fn bench_prints_a_table_per_scenario() {
    let (status, out, err) =
        wqsim(&["bench", "--iterations", "5", "--seq-seconds", "0", "scenarios/races/post_vs_read.wq"]);
    assert_eq!(status, 0, "{err}");
    assert!(
        out.contains(
            "| scenario | seq/s | random/s | pct/s | dfs/s | dfs executions | cost | random+heap/s | heap cost |"
        ),
        "{out}"
    );
    let row =
        out.lines().find(|l| l.starts_with("| scenarios/races/post_vs_read.wq |")).expect("a row for the scenario");
    // DFS stops at the 5-schedule cap.
    assert_eq!(row.split('|').nth(6).map(str::trim), Some("5"), "{row}");
    let (status, _, err) = wqsim(&["bench", "--seq-seconds", "99", "scenarios/races/post_vs_read.wq"]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("--seq-seconds 99: expected 0 to 60"), "{err}");
}

#[test]
fn catalog_and_fuzz_plan_list() {
    let (status, out, _) = wqsim(&["catalog"]);
    assert_eq!(status, 0);
    assert!(out.starts_with("W1 filter-oob: "), "{out}");
    assert!(out.contains("    scenario: scenarios/catalog/w13-defunct-race.wq\n"), "{out}");
    let (status, out, _) = wqsim(&["fuzz-plan"]);
    assert_eq!(status, 0);
    assert!(out.lines().any(|l| l.starts_with("W13\tschedule\t")), "{out}");
    let (status, out, _) = wqsim(&["fuzz-plan", "--verdict", "W13", "H1"]);
    assert_eq!((status, out.as_str()), (0, "caught\n"));
    let (status, _, err) = wqsim(&["fuzz-plan", "--verdict", "W99", "H1"]);
    assert_eq!(status, 2, "{err}");
}

#[test]
fn explore_and_replay_exit_with_the_verdict() {
    let w4 = "scenarios/catalog/w4-bitmap-size.wq";
    let (status, out, _) = wqsim(&["explore", "--explorer", "seq", w4]);
    assert_eq!(status, 1, "{out}");
    assert!(out.contains("invariant N1 violated"), "{out}");
    // The replay token carries the run given on the command line.
    let token = out.lines().rev().find_map(|l| l.trim().strip_prefix("cargo run --release -p wqsim -- replay "));
    let token = token.expect("a replay line").to_string();
    assert!(token.contains(":~seq+expect+holds:seq:-"), "{token}");
    let (status, again, _) = wqsim(&["replay", &token]);
    assert_eq!(status, 1, "{again}");
    assert!(again.contains("invariant N1 violated"), "{again}");
    let (status, out, _) = wqsim(&["explore", "--explorer", "seq", "--without", "W4", w4]);
    assert_eq!(status, 0, "{out}");
    let (status, out, _) = wqsim(&["explore", "--explorer", "seq", "--format", "json", w4]);
    assert_eq!(status, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["exit"], 1);
    assert_eq!(v["runs"][0]["run"], "run seq expect holds");
    assert_eq!(v["runs"][0]["result"], "N1");
    let (status, _, err) = wqsim(&["replay", "wq9:nothing"]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("malformed replay token"), "{err}");
    let (status, _, err) = wqsim(&["explore", "--without", "W99", w4]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("--without: no catalog switch \"W99\""), "{err}");
    let (status, _, err) = wqsim(&["explore", "no/such.wq"]);
    assert_eq!(status, 2, "{err}");
}

#[test]
fn selfcheck_matrix_and_fuzz_commands() {
    let (status, out, _) = wqsim(&["selfcheck", "--quiet"]);
    assert_eq!(status, 0, "{out}");
    let (status, out, err) = wqsim(&["matrix", "--explorers", "seq", "--format", "json"]);
    assert_eq!(status, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cells = v["cells"].as_array().unwrap();
    let w4 = cells.iter().find(|c| c["key"] == "W4").unwrap();
    assert_eq!(
        (w4["explorer"].as_str(), w4["verdict"].as_str(), w4["invariant"].as_str()),
        (Some("seq"), Some("caught"), Some("N1"))
    );
    let (status, _, err) = wqsim(&["matrix", "--merge", "Cargo.toml"]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("not a matrix cell"), "{err}");
    let (status, out, _) = wqsim(&["fuzz-states", "parser", "fuzz/seeds/parser"]);
    assert_eq!(status, 0, "{out}");
    let (status, _, err) = wqsim(&["from-fuzz", "/no/such/input", "--target", "trace"]);
    assert_eq!(status, 2, "{err}");
    // A missing console, kernel or guest is the machine's fault, not the
    // input's: status 4. A malformed scenario stays 2.
    let (status, _, err) = wqsim(&["kernel-check", "--console", "/no/such/console", "scenarios/errno"]);
    assert_eq!(status, 4, "{err}");
    assert!(err.contains("/no/such/console: No such file or directory"), "{err}");
    let (status, _, err) = wqsim(&["kernel-check", "--kernel", "/no/such/bzImage", "scenarios/errno"]);
    assert_eq!(status, 4, "{err}");
    let (status, _, err) =
        wqsim(&["kernel-check", "--console", "/no/such/console", "sim/tests/malformed/unknown-op.wq"]);
    assert_eq!(status, 2, "{err}");
}

/// `check --format json`: one object per run, the exit status, a replay
/// command for each run that did not go as expected.
#[test]
fn check_speaks_json() {
    let (status, out, _) = wqsim(&[
        "check",
        "--no-time",
        "--format",
        "json",
        "scenarios/loss/loss-then-more.wq",
        "sim/tests/hostile/budget-steps.wq",
    ]);
    assert_eq!(status, 6, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(v["exit"], 6);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs[0]["verdict"], "ok", "{out}");
    assert!(runs[0].get("replay").is_none(), "{out}");
    let last = runs.last().unwrap();
    assert_eq!(last["verdict"], "budget exceeded", "{out}");
    assert_eq!(last["result"], "budget", "{out}");
    assert!(last["replay"].as_str().unwrap().starts_with("cargo run --release -p wqsim -- replay wq1:"), "{out}");
    let (status, _, err) = wqsim(&["check", "--format", "yaml"]);
    assert_eq!(status, 2, "{err}");
}

/// Every `WQSIM_*` variable read anywhere in the project is listed in
/// `wqsim --help` (`sim/src/env.rs`).
#[test]
fn every_environment_variable_is_documented() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut found = std::collections::BTreeSet::new();
    let mut stack = vec![root.join("sim"), root.join("model"), root.join("fuzz"), root.join("ci"), root.join(".ci")];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            if p.ends_with("target") || p.ends_with("corpus") || p.ends_with("seeds") || p.ends_with("crashes") {
                continue;
            }
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                stack.push(e.path());
            }
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            for (i, _) in text.match_indices("WQSIM_") {
                let name: String = text[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if name.len() > "WQSIM_".len() && !name.ends_with('_') {
                    found.insert(name);
                }
            }
        }
    }
    assert!(found.len() >= 15, "{found:?}");
    let (status, help, _) = wqsim(&["--help"]);
    assert_eq!(status, 0);
    let missing: Vec<&String> = found.iter().filter(|v| !help.contains(v.as_str())).collect();
    assert!(missing.is_empty(), "not in wqsim --help (sim/src/env.rs): {missing:?}");
}
