//! Writes one snapshot test per scenario file (`tests/snapshots.rs`
//! includes them), so a changed transcript fails its own test and the
//! others still run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out);
        } else if e.extension().is_some_and(|x| x == "wq") {
            out.push(e);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let scenarios = manifest.join("../scenarios");
    println!("cargo:rerun-if-changed={}", scenarios.display());
    let mut files = Vec::new();
    walk(&scenarios, &mut files);
    let mut dirs = vec![scenarios.clone()];
    for f in &files {
        if let Some(d) = f.parent() {
            if !dirs.iter().any(|x| x == d) {
                dirs.push(d.to_path_buf());
            }
        }
    }
    for d in dirs {
        // A file added to or removed from a directory regenerates the tests.
        println!("cargo:rerun-if-changed={}", d.display());
    }
    let mut s = String::new();
    for f in &files {
        let rel = f.strip_prefix(manifest.join("..")).unwrap_or(f).to_string_lossy().replace('\\', "/");
        let name = rel
            .trim_start_matches("../")
            .trim_start_matches("scenarios/")
            .trim_end_matches(".wq")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect::<String>();
        let _ = writeln!(s, "#[test]\nfn {name}() {{\n    snapshot({rel:?});\n}}\n");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("snapshot_tests.rs");
    std::fs::write(out, s).expect("OUT_DIR is writable");
}
