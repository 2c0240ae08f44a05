//! Malformed scenarios: each file in tests/malformed/ must be rejected with
//! exactly the message, place and hint in its snapshot beside it
//! (`tests/malformed/<name>.snap`), and never a panic. A changed message
//! fails until it is reviewed with `cargo insta review`, the one bless
//! flow of the project.

#![cfg(not(loom))]

use std::path::Path;

#[test]
fn every_malformed_file_gets_its_exact_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let mut n = 0;
    settings.bind(|| {
        insta::glob!("malformed/*.wq", |f| {
            n += 1;
            let text = std::fs::read_to_string(f).unwrap();
            let name = format!("malformed/{}", f.file_name().unwrap().to_string_lossy());
            let got = match std::panic::catch_unwind(|| wqsim::scenario::parse(&name, &text)) {
                Ok(Err(e)) => format!("{e}\n"),
                Ok(Ok(_)) => panic!("{name} parsed"),
                Err(_) => panic!("{name}: the parser panicked"),
            };
            insta::assert_snapshot!("error", got);
        });
    });
    assert!(n >= 20, "the corpus has {n} files");
}

/// The CLI turns a malformed file into exit status 2 and the same message.
#[test]
fn the_cli_reports_it_with_status_2() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wqsim"))
        .args(["run", &dir.join("unknown-op.wq").display().to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("error: unknown operation `updat`\n"), "{err}");
    assert!(err.contains("unknown-op.wq:3:5"), "{err}");
    assert!(err.contains("= hint: did you mean `update`?"), "{err}");
}
