//! Determinism and facade hygiene, enforced with `file:line` reports:
//! outside `src/sync/` (the facade) and `src/explore.rs` (the explorers,
//! which drive loom and shuttle themselves and time their budgets), model
//! code names no `std::sync`, `loom::` or `shuttle::` (everything goes
//! through the facade), no `HashMap` or `HashSet` (iteration order must
//! never reach an output), and no wall clock (`Instant::now`,
//! `SystemTime`).

use std::path::{Path, PathBuf};

/// Files outside `src/sync/` that may name the backends: the explorers.
const EXEMPT_FILES: &[&str] = &["src/explore.rs"];

const FORBIDDEN: &[&str] = &["std::sync", "loom::", "shuttle::", "HashMap", "HashSet", "Instant::now", "SystemTime"];

/// Every forbidden token in `text`, as `name:line: token`.
fn scan(name: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for tok in FORBIDDEN {
            if code.contains(tok) {
                out.push(format!("{name}:{}: {tok}", i + 1));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().unwrap() != "sync" {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") && !EXEMPT_FILES.iter().any(|f| p.ends_with(f)) {
            out.push(p);
        }
    }
}

/// Every report of `check` over the model's sources outside `src/sync/`
/// and `src/explore.rs`, each file named by its path under `src/`.
fn check_sources(check: impl Fn(&str, &str) -> Vec<String>) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(files.len() > 10, "found the sources");
    files
        .iter()
        .flat_map(|f| check(&f.strip_prefix(&src).unwrap().display().to_string(), &std::fs::read_to_string(f).unwrap()))
        .collect()
}

#[test]
fn model_sources_are_tidy() {
    let bad = check_sources(scan);
    assert!(bad.is_empty(), "forbidden outside src/sync/ and src/explore.rs:\n{}", bad.join("\n"));
}

/// The scanner reports what it must, with the line, and skips comments.
#[test]
fn the_scanner_reports_forbidden_tokens() {
    let text = "use std::collections::BTreeMap;\nuse std::collections::HashMap;\n// a HashSet in a comment\nlet t = Instant::now();\n";
    assert_eq!(scan("x.rs", text), ["x.rs:2: HashMap", "x.rs:4: Instant::now"]);
}

/// Every `kfn("NAME")` (the kernel function a trace step names) next to
/// the Rust function it is in, when the two differ, as `name:line: fn F
/// labels itself G`: a replay token's `@function` and a timeline's
/// function must be the name `grep` finds in the model.
fn label_mismatches(name: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if let Some(at) = code.find("fn ") {
            let before = &code[..at];
            if before.trim().is_empty() || before.trim_end().ends_with("pub") || before.contains("pub(") {
                let rest = &code[at + 3..];
                let ident: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !ident.is_empty() {
                    current = Some(ident);
                }
            }
        }
        let mut rest = code;
        while let Some(at) = rest.find("kfn(\"") {
            let label: String = rest[at + 5..].chars().take_while(|c| *c != '"').collect();
            if let Some(f) = &current {
                if *f != label {
                    out.push(format!("{name}:{}: fn {f} labels itself {label}", i + 1));
                }
            }
            rest = &rest[at + 5..];
        }
    }
    out
}

#[test]
fn every_trace_label_is_its_functions_name() {
    let bad = check_sources(label_mismatches);
    assert!(bad.is_empty(), "trace labels that are not their function's name:\n{}", bad.join("\n"));
}

/// The label check reports a function that names another, with its line.
#[test]
fn the_label_check_reports_a_mismatch() {
    let text = "pub fn post_watch_notification(cx: &Cx) {\n    let _f = kfn(\"__post_watch_notification\");\n}\nfn pipe_read() {\n    let _f = trace::kfn(\"pipe_read\");\n}\n";
    assert_eq!(
        label_mismatches("w.rs", text),
        ["w.rs:2: fn post_watch_notification labels itself __post_watch_notification"]
    );
}
