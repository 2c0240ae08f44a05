//! A failure's replay token reproduces its report byte for byte, and
//! `minimize` shrinks a padded catalog scenario back to no more than the
//! catalog's own.

#![cfg(not(loom))]

use std::path::PathBuf;

/// `text` written to a file called `name` in a fresh directory (removed
/// when the returned guard goes).
fn temp(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

fn catalog(name: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/catalog/").to_string() + name).unwrap()
}

#[test]
fn a_token_reproduces_the_report_byte_for_byte() {
    // W12's scenario, expecting the wrong thing so that check reports it.
    let text = catalog("w12-resize-nolock.wq").replace("run pct expect H1", "run pct expect holds");
    let (_path_dir, path) = temp("w12-mismatch.wq", &text);
    let (out, exit) = wqsim::drive::check(std::slice::from_ref(&path), false, |_, _, _| {});
    assert_eq!(exit, wqsim::exit::Exit::Failed);
    let report = &out[out.find("\n\n").expect("a report after the table") + 2..];
    assert!(report.contains("run pct expected holds, got H1"), "{report}");
    let token = report
        .lines()
        .find_map(|l| l.trim().trim_start_matches("replay: ").strip_prefix("cargo run --release -p wqsim -- replay "))
        .unwrap();
    assert!(token.starts_with("wq1:"), "{token}");
    let (again, exit) = wqsim::drive::replay_token(token, false).unwrap();
    assert_eq!(exit, wqsim::exit::Exit::Failed, "reproduced");
    assert_eq!(again, report);
    // The timeline of the failing execution is part of it.
    assert!(report.contains("timeline:\n step  t1 setup/driver"), "{report}");
}

#[test]
fn a_token_for_a_changed_file_says_so() {
    let text = catalog("w12-resize-nolock.wq").replace("run pct expect H1", "run pct expect holds");
    let (_path_dir, path) = temp("w12-changed.wq", &text);
    let (out, _) = wqsim::drive::check(std::slice::from_ref(&path), false, |_, _, _| {});
    let token = out
        .lines()
        .find_map(|l| l.trim().trim_start_matches("replay: ").strip_prefix("cargo run --release -p wqsim -- replay "))
        .unwrap()
        .to_string();
    std::fs::write(&path, format!("# an edit\n{text}")).unwrap();
    let err = wqsim::drive::replay_token(&token, false).unwrap_err();
    assert!(err.message.contains("has no `run pct` on line"), "{}", err.message);
}

#[test]
fn malformed_tokens_are_errors() {
    let e = wqsim::drive::replay_token("wq2:x", false).unwrap_err();
    assert!(e.message.starts_with("malformed replay token \"wq2:x\""), "{}", e.message);
}

fn ops(text: &str) -> usize {
    let sc = wqsim::scenario::parse("x.wq", text).unwrap();
    sc.setup.len() + sc.threads.iter().map(|t| t.steps.len()).sum::<usize>()
}

#[test]
fn minimize_undoes_padding_of_a_sequential_scenario() {
    let original = catalog("w4-bitmap-size.wq");
    let padded = original.replace(
        "setup:\n",
        "setup:\n    pipe2 p3 O_NONBLOCK\n    write p3.w \"noise\"\n    add_key k7 \"user\" \"other\" \"x\" @s\n",
    );
    assert!(ops(&padded) > ops(&original));
    let (_path_dir, path) = temp("w4-padded.wq", &padded);
    let (min, summary) = wqsim::drive::minimize(&path).unwrap();
    assert!(ops(&min) <= ops(&original), "{summary}\n{min}");
    // It still fails the same way, and still holds with the switch off.
    let (_out_dir, out) = temp("w4-min.wq", &min);
    let (table, exit) = wqsim::drive::check(&[out], false, |_, _, _| {});
    assert_eq!(exit, wqsim::exit::Exit::Pass, "{table}");
}

#[test]
fn minimize_undoes_padding_of_a_race_scenario() {
    let original = catalog("w12-resize-nolock.wq");
    let padded = original.replace(
        "thread poster:\n",
        "thread bystander:\n    pipe2 p2 O_NONBLOCK\n    write p2.w \"x\"\n    read p2.r 1\n\nthread poster:\n    poll p0.r\n",
    );
    assert!(ops(&padded) > ops(&original));
    let (_path_dir, path) = temp("w12-padded.wq", &padded);
    let (min, summary) = wqsim::drive::minimize(&path).unwrap();
    assert!(ops(&min) <= ops(&original), "{summary}\n{min}");
    assert!(!min.contains("bystander"), "{min}");
}

#[test]
fn minimize_needs_a_failing_run() {
    let (_path_dir, path) = temp("holds.wq", "setup:\n    pipe2 p0 0\nrun seq expect holds\n");
    let e = wqsim::drive::minimize(&path).unwrap_err();
    assert!(e.message.ends_with("no run line expects a violation; nothing to minimise"), "{}", e.message);
}

#[test]
fn trace_draws_a_timeline_and_an_svg() {
    let path =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/teardown/explicit-schedule-w13.wq"));
    let (text, events) = wqsim::drive::trace_file(path).unwrap();
    assert!(text.starts_with(" step  t1 setup/driver"), "{text}");
    assert!(text.contains("t2 poster") && text.contains("t3 closer"), "{text}");
    assert!(text.contains("\nverdict: invariant H1 violated: use-after-free"), "{text}");
    let sc = wqsim::scenario::load(path).unwrap();
    let svg = wqsim::timeline::svg(&sc.program(None), &events, Some("invariant H1 violated"));
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    assert!(svg.contains("lock pipe-&gt;rd_wait.lock"), "the arrows are escaped");
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn dump_prints_records_as_watch_test_does() {
    let path =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/watches/one-key-several-queues.wq"));
    let d = wqsim::drive::dump_file(path).unwrap();
    assert_eq!(d.matches("read() = 16\n").count(), 3, "{d}");
    assert!(d.contains("NOTIFY[000]: ty=000001 sy=01 i=0000ff10\nKEY k0 change=1[updated] aux=0\n"), "{d}");
}
