//! Malformed scenarios: each file in tests/malformed/ must be rejected with
//! exactly the message, place and hint in its `.err` beside it (and never
//! a panic). `WQSIM_BLESS=1` writes the `.err` files from the parser.

#![cfg(not(loom))]

use std::path::Path;

#[test]
fn every_malformed_file_gets_its_exact_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let bless = std::env::var_os("WQSIM_BLESS").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wq"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the corpus has {} files", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = format!("malformed/{}", f.file_name().unwrap().to_string_lossy());
        let got = match std::panic::catch_unwind(|| wqsim::scenario::parse(&name, &text)) {
            Ok(Err(e)) => format!("{e}\n"),
            Ok(Ok(_)) => panic!("{name} parsed"),
            Err(_) => panic!("{name}: the parser panicked"),
        };
        let want_path = f.with_extension("err");
        if bless {
            std::fs::write(&want_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&want_path).unwrap_or_else(|_| panic!("{} is missing", want_path.display()));
        assert_eq!(got, want, "{name}");
    }
}

/// The CLI turns a malformed file into exit status 2 and the same message.
#[test]
fn the_cli_reports_it_with_status_2() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let err = wqsim::cli::load(&dir.join("unknown-op.wq")).unwrap_err();
    assert!(err.0.starts_with("error: unknown operation `updat`\n"), "{}", err.0);
    assert!(err.0.contains("unknown-op.wq:3:5"), "{}", err.0);
    assert!(err.0.ends_with("= hint: did you mean `update`?"), "{}", err.0);
}
