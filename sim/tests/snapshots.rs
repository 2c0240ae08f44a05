//! Every scenario's sequential transcript (each operation and its result,
//! the record stream of each queue, the verdict) is snapshotted in the
//! top-level `snapshots/`. CI runs with `INSTA_UPDATE=no`: any change to
//! what a scenario returns fails until the snapshot is reviewed
//! (`cargo insta review`).

#![cfg(not(loom))]

use std::path::Path;

#[test]
fn scenario_transcripts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = wqsim::cli::collect(&[root.join("scenarios")]).unwrap();
    assert!(files.len() >= 40, "{} scenarios", files.len());
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for f in files {
            let rel = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&f).unwrap();
            let sc = wqsim::scenario::parse(&rel, &text).unwrap();
            let t = wqsim::run::transcript(&sc, None);
            let name = rel.trim_start_matches("scenarios/").trim_end_matches(".wq").replace('/', "__");
            insta::assert_snapshot!(name, format!("{rel}\n{}", t.render()));
        }
    });
}
