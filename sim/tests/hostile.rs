//! Hostile input: every file in tests/hostile/ runs through the `wqsim`
//! binary as a user would run it, and must end as its `.expect` beside it
//! says: the exit status, text the output must contain (and lack). Every
//! case also holds to the rules for all input: the process never dies of
//! a panic (status 101) or a signal, always says something, and never
//! writes a raw control character.
//!
//! An `.expect` file holds `# why` comments, then `args: ...` (default
//! `check --no-time {file}`), `status: N`, and `contains: TEXT` / `lacks:
//! TEXT` lines. Tokens, directories and files too large to commit are
//! the tests below the corpus.

#![cfg(not(loom))]

use std::path::{Path, PathBuf};
use std::process::Command;

fn wqsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wqsim"))
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

/// Run `wqsim ARGS`; its status and stdout and stderr together.
fn run(args: &[String]) -> (i32, String) {
    let out = wqsim().args(args).env_remove("WQSIM_SHUTTLE_STDERR").output().expect("wqsim runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let status = out.status.code().unwrap_or_else(|| panic!("wqsim {args:?} died of a signal:\n{text}"));
    (status, text)
}

/// The rules every run of every input keeps.
fn well_behaved(what: &str, status: i32, text: &str) {
    assert_ne!(status, 101, "{what}: a panic ended the process:\n{text}");
    assert!(!text.trim().is_empty(), "{what}: exit {status} and no output");
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
        panic!("{what}: a raw control character {c:?} in the output:\n{text}");
    }
}

struct Expect {
    args: Vec<String>,
    status: i32,
    contains: Vec<String>,
    lacks: Vec<String>,
}

fn expectation(path: &Path, file: &Path) -> Expect {
    let text = std::fs::read_to_string(path).unwrap();
    let mut e = Expect { args: vec![], status: -1, contains: vec![], lacks: vec![] };
    let mut args = "check --no-time {file}".to_string();
    for l in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (k, v) = l.split_once(": ").unwrap_or_else(|| panic!("{}: bad line {l:?}", path.display()));
        match k {
            "args" => args = v.to_string(),
            "status" => e.status = v.parse().unwrap(),
            "contains" => e.contains.push(v.to_string()),
            "lacks" => e.lacks.push(v.to_string()),
            _ => panic!("{}: unknown key {k:?}", path.display()),
        }
    }
    e.args = args.split_whitespace().map(|a| a.replace("{file}", &file.display().to_string())).collect();
    e
}

#[test]
fn every_hostile_file_ends_as_expected() {
    let dir = corpus();
    let mut expects: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "expect"))
        .collect();
    expects.sort();
    assert!(expects.len() >= 50, "the corpus has {} cases", expects.len());
    let mut failures = Vec::new();
    for x in &expects {
        let file = x.with_extension("wq");
        // Paths relative to the package, so messages are the same on any
        // machine.
        let rel = Path::new("tests/hostile").join(file.file_name().unwrap());
        let e = expectation(x, &rel);
        let out = wqsim().current_dir(env!("CARGO_MANIFEST_DIR")).args(&e.args).output().expect("wqsim runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let Some(status) = out.status.code() else {
            failures.push(format!("{name}: died of a signal\n{text}"));
            continue;
        };
        let r = std::panic::catch_unwind(|| well_behaved(&name, status, &text));
        if r.is_err() {
            failures.push(format!("{name}: not well behaved (see above)"));
            continue;
        }
        if status != e.status {
            failures.push(format!("{name}: exit {status}, expected {}\n{text}", e.status));
            continue;
        }
        for c in &e.contains {
            if !text.contains(c.as_str()) {
                failures.push(format!("{name}: output lacks {c:?}\n{text}"));
            }
        }
        for c in &e.lacks {
            if text.contains(c.as_str()) {
                failures.push(format!("{name}: output has {c:?}\n{text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases:\n\n{}", failures.len(), expects.len(), failures.join("\n\n"));
}

/// A fresh directory, removed when the test ends.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("wqsim-hostile-{name}-")).tempdir().unwrap()
}

/// A file of 20 MB is refused at once with its size, not run until the
/// machine gives up (it used to end with status 101 and no output).
#[test]
fn a_huge_file_is_refused_with_its_size() {
    let dir = temp_dir("huge");
    let d = dir.path();
    let f = d.join("huge.wq");
    let line = "    write p0.w \"x\"\n";
    let mut text = String::from("setup:\n    pipe2 p0 O_NONBLOCK\n");
    while text.len() < 20 << 20 {
        text += line;
    }
    text += "run seq expect holds\n";
    std::fs::write(&f, &text).unwrap();
    let (status, out) = run(&["check".into(), f.display().to_string()]);
    well_behaved("huge.wq", status, &out);
    assert_eq!(status, 2, "{out}");
    assert!(out.contains(&format!("the file is {} bytes; a scenario is at most 1048576 bytes", text.len())), "{out}");
}

/// `check DIR` with one malformed file among good ones still runs the
/// good ones and lists the bad one in the table (it used to print nothing).
#[test]
fn check_goes_on_past_a_malformed_file() {
    let dir = temp_dir("dir");
    let d = dir.path();
    let good = "setup:\n    pipe2 p0 O_NONBLOCK\n\nrun seq expect holds\n";
    std::fs::write(d.join("a-good.wq"), good).unwrap();
    std::fs::write(d.join("b-bad.wq"), "config page_size=0\n".to_string() + good).unwrap();
    std::fs::write(d.join("c-good.wq"), good).unwrap();
    let (status, out) = run(&["check".into(), "--no-time".into(), d.display().to_string()]);
    well_behaved("dir", status, &out);
    assert_eq!(status, 2, "{out}");
    let row = out.lines().find(|l| l.contains("b-bad.wq")).unwrap();
    assert!(row.ends_with("-                 0  malformed -         MALFORMED"), "{out}");
    assert_eq!(out.lines().filter(|l| l.ends_with("  ok")).count(), 2, "{out}");
    assert!(out.contains("2 runs in 3 scenarios: 2 as expected, 0 mismatched, 1 malformed"), "{out}");
    assert!(out.contains("b-bad.wq:1:8"), "{out}");
}

/// A failing scenario's token, from `check`'s output.
fn token_of(file: &Path) -> String {
    let (status, out) = run(&["check".into(), "--no-time".into(), file.display().to_string()]);
    assert_eq!(status, 1, "{out}");
    out.lines()
        .find_map(|l| l.trim().trim_start_matches("replay: ").strip_prefix("cargo run --release -p wqsim -- replay "))
        .unwrap_or_else(|| panic!("no replay line:\n{out}"))
        .to_string()
}

fn w13(dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/catalog/w13-defunct-race.wq"))
            .unwrap()
            .replace("run pct expect H1", "run pct expect holds");
    let f = dir.join("w13.wq");
    std::fs::write(&f, text).unwrap();
    f
}

/// A token replays exactly; cut short, it says where the replay left the
/// recording and exits 3 (it used to replay another failure, S6 for H1,
/// without a word); `--allow-divergence` accepts it; emptied, it does the
/// same; without a schedule field, it is malformed.
#[test]
fn a_token_that_does_not_replay_exactly_fails() {
    let dir = temp_dir("tokens");
    let d = dir.path();
    let tok = token_of(&w13(d));
    let (status, out) = run(&["replay".into(), tok.clone()]);
    assert_eq!(status, 1, "the whole token reproduces: {out}");
    assert!(!out.contains("note:"), "{out}");

    let (head, sched) = tok.rsplit_once(":s2:").unwrap();
    let segs: Vec<&str> = sched.split('.').collect();
    assert!(segs.len() > 2, "{tok}");
    let cut = format!("{head}:s2:{}", segs[..segs.len() / 2].join("."));
    let (status, out) = run(&["replay".into(), cut.clone()]);
    well_behaved("cut token", status, &out);
    assert_eq!(status, 3, "{out}");
    assert!(out.contains("note: the schedule ended at step"), "{out}");
    assert!(out.contains("--allow-divergence"), "{out}");
    let (status, out) = run(&["replay".into(), "--allow-divergence".into(), cut]);
    assert!(status == 0 || status == 1, "{out}");

    let (status, out) = run(&["replay".into(), format!("{head}:s2:")]);
    well_behaved("emptied token", status, &out);
    assert_eq!(status, 3, "{out}");
    assert!(out.contains("note: the schedule ended at step"), "{out}");
    let (status, out) = run(&["replay".into(), format!("{head}:")]);
    assert_eq!(status, 2, "{out}");
    assert!(out.contains("is not `-` or an `s2:...` schedule"), "{out}");
}

/// A path with `:` (and spaces and `%`) survives the token (`check`
/// printed tokens that `replay` refused).
#[test]
fn tokens_survive_any_path() {
    let dir = temp_dir("paths");
    let d = dir.path().join("a:b c%d");
    std::fs::create_dir_all(&d).unwrap();
    let tok = token_of(&w13(&d));
    assert!(tok.contains("a%3Ab%20c%25d"), "{tok}");
    let (status, out) = run(&["replay".into(), tok]);
    assert_eq!(status, 1, "{out}");
    assert!(out.contains("run pct expected holds, got H1"), "{out}");
}

/// The explorer's own arguments are range-checked too.
#[test]
fn explore_refuses_zero_budgets() {
    for (flag, v) in [("--depth", "0"), ("--iterations", "0"), ("--preemptions", "12")] {
        let scenario = corpus().join("../../../scenarios/races/post_vs_read.wq").display().to_string();
        let (status, out) = run(&["explore".into(), scenario, flag.into(), v.into()]);
        well_behaved(flag, status, &out);
        assert_eq!(status, 2, "{flag} {v}: {out}");
        assert!(out.contains("is not in"), "{flag} {v}: {out}");
    }
}

/// A long run reports its executions as it goes (the progress line of
/// `check` and `run`), so a run of a billion schedules is never silent.
#[test]
fn long_runs_report_progress() {
    let text = std::fs::read_to_string(corpus().join("budget-time.wq")).unwrap();
    let sc = wqsim::scenario::parse("budget-time.wq", &text).unwrap();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let s2 = seen.clone();
    wqsim_model::explore::set_progress(Some(Box::new(move |n| s2.borrow_mut().push(n))));
    let r = wqsim::explore::silenced(|| wqsim::run::execute(&sc, &sc.runs[0]));
    wqsim_model::explore::set_progress(None);
    assert_eq!(r.result_text(), "budget", "{r:?}");
    let seen = seen.borrow();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

/// An instrumentation lock (`instr::Mutex`, a plain `std` mutex the
/// explorers do not see) held by one model thread while another takes it
/// can never be released under shuttle, where every model thread runs on
/// one OS thread: the run ends as a named harness failure instead of a
/// process that waits for ever. (`key_payload_reserve()` once held the
/// key's `datalen` across its flag test, a scheduling point, and a
/// mutation sweep hung.)
#[test]
fn an_instrumentation_lock_held_across_a_switch_is_a_named_failure() {
    use wqsim_model::sync::instr;
    let r = wqsim_model::catch::catch_panic(|| {
        wqsim_model::explore::shuttle_seq(|| {
            let m = instr::Arc::new(instr::Mutex::new(0u32));
            let held = m.lock();
            let other = m.clone();
            let t = wqsim_model::sync::thread::spawn(move || *other.lock() += 1);
            let _ = t.join();
            drop(held);
        })
    });
    let msg = r.expect_err("the second lock must end the run");
    assert!(
        msg.contains(
            "harness: an instrumentation lock (instr::Mutex<u32>) is held by a model thread across a scheduling point"
        ),
        "{msg}"
    );
}
