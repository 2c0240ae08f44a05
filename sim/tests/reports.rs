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
        out.contains("(1) freed here: pipe_inode_info#5 by kfree in free_pipe_info at model/src/pipe.rs:"),
        "{out}"
    );
    assert!(
        out.contains("(2) used here: pipe_inode_info#5 in post_one_notification at model/src/watch_queue.rs:"),
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

/// The same failure as a picture (`wqsim trace TOKEN --svg OUT`): a lane
/// per thread, lock-held bars, syscall boxes, the free and the use in red,
/// the violation as the last row. Snapshotted like the text.
#[test]
fn a_w13_timeline_picture() {
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("w13.svg");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_wqsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["trace", "tests/reports/w13.wq", "--svg", &svg_path.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    // Three lanes: the setup/driver, the poster, the closer.
    assert_eq!(svg.matches("<rect class=\"lane\"").count(), 3, "{svg}");
    assert!(svg.contains(">t2 poster</text>") && svg.contains(">t3 closer</text>"), "{svg}");
    // Locks held as bars, named on hover; syscalls as boxes.
    assert!(svg.contains("<title>pipe-&gt;rd_wait.lock held (taken in post_one_notification)</title>"), "{svg}");
    assert!(svg.matches("<rect class=\"syscall\"").count() >= 4, "{svg}");
    // The two points of the use-after-free in red, the violation last.
    let red = |needle: &str| svg.lines().any(|l| l.contains("fill=\"#c0392b\"") && l.contains(needle));
    assert!(red("(1) freed here: pipe_inode_info#"), "{svg}");
    assert!(red("(2) used here: pipe_inode_info#"), "{svg}");
    let last_text = svg.lines().rev().find(|l| l.starts_with("<text")).unwrap();
    assert!(last_text.contains("invariant H1 violated: use-after-free"), "{last_text}");
    // Balanced elements: every opened element is closed.
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert_eq!(svg.matches("<title>").count(), svg.matches("</title>").count());

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("report__w13_svg", svg));
}
