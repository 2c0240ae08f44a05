//! Every committed fuzz seed and crash input, replayed through the same
//! library function the fuzz target calls (`wqsim::fuzz`): the fixed model
//! must pass them all (a crash input stays here once its bug is fixed).
#![cfg(not(loom))]

use std::path::PathBuf;

use wqsim_model::kernel::Config;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz"));
    let mut out = Vec::new();
    for dir in ["seeds", "crashes"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
        let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            if f.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            let data = std::fs::read(&f).unwrap();
            out.push((f, data));
        }
    }
    out
}

#[test]
fn parser_seeds_and_crashes_pass() {
    let all = inputs("parser");
    assert!(all.len() >= 4);
    for (f, data) in all {
        assert_eq!(wqsim::fuzz::parser(&data), Ok(()), "{}", f.display());
    }
}

#[test]
fn filter_seeds_and_crashes_pass() {
    let all = inputs("filter");
    assert!(all.len() >= 6);
    for (f, data) in all {
        assert_eq!(wqsim::fuzz::filter(Config::fixed(), &data), Ok(()), "{}", f.display());
    }
}
