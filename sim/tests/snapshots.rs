//! Every scenario's sequential transcript (each operation and its result,
//! the record stream of each queue, the verdict) is snapshotted in the
//! top-level `snapshots/`, one test per scenario (written by `build.rs`),
//! so one changed transcript does not hide the others. CI runs with
//! `INSTA_UPDATE=no`: any change to what a scenario returns fails until the
//! snapshot is reviewed (`cargo insta review`).

#![cfg(not(loom))]

use std::path::Path;

/// Snapshot the transcript of `rel` (a path under the repository root).
fn snapshot(rel: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(rel)).unwrap();
    let sc = wqsim::scenario::parse(rel, &text).unwrap();
    let t = wqsim::run::transcript(&sc, None);
    let name = rel.trim_start_matches("scenarios/").trim_end_matches(".wq").replace('/', "__");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, format!("{rel}\n{}", t.render())));
}

include!(concat!(env!("OUT_DIR"), "/snapshot_tests.rs"));

/// Every scenario has its test: the generated list is not empty and
/// matches the files there are.
#[test]
fn every_scenario_has_a_snapshot_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = wqsim::scenario::collect(&[root.join("scenarios")]).unwrap();
    let generated = include_str!(concat!(env!("OUT_DIR"), "/snapshot_tests.rs")).matches("#[test]").count();
    assert!(files.len() >= 40, "{} scenarios", files.len());
    assert_eq!(generated, files.len(), "rebuild to regenerate the snapshot tests");
}
