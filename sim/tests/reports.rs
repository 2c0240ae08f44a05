//! Failure reports as a reviewer reads them, snapshotted: what happened,
//! the timeline with the free marked (1) and the use marked (2), every
//! kernel function named in full, and last the command that replays it.

#![cfg(not(loom))]

use std::path::Path;

#[test]
fn a_w13_failure_report() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_wqsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check", "--no-time", "tests/reports/w13.wq"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8(o.stdout).unwrap();
    // The two points of the use-after-free, in full.
    assert!(
        out.contains("(1) freed here: pipe_inode_info#3 by kfree in free_pipe_info at model/src/pipe.rs:"),
        "{out}"
    );
    assert!(
        out.contains("(2) used here: pipe_inode_info#3 in post_one_notification at model/src/watch_queue.rs:"),
        "{out}"
    );
    assert!(out.contains("lock pipe->rd_wait.lock (post_one_notification)"), "{out}");
    assert!(!out.contains('~'), "a name was cut:\n{out}");
    // The replay command is the last line, and it replays the same report.
    let last = out.lines().last().unwrap();
    let token = last.trim().strip_prefix("cargo run --release -p wqsim -- replay ").expect("the replay line is last");
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_wqsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["replay", token])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let report = &out[out.find("\n\n").unwrap() + 2..];
    assert_eq!(String::from_utf8(again.stdout).unwrap(), report);

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("report__w13", out));
}
