//! The kernel map (sim/src/kmap): it covers the model, its fingerprints
//! match Debian's 6.12, a wrong one is reported, 6.1's differences are
//! all explained, and `wqsim review` places each findings patch on its
//! own catalog row and families.

#![cfg(not(loom))]

use std::path::{Path, PathBuf};

use wqsim::kmap::drift::{Diff, drift, report};
use wqsim::kmap::review::{coverage, parse_patch, probe, review};
use wqsim::kmap::{Source, map, map_of, unmirrored};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The unpacked source of Debian's linux-source-SERIES
/// (`ci/kernel/source.sh SERIES`): `$WQSIM_KERNEL_SRC_6_12` (dots as
/// underscores) or the script's cache. In CI a missing tree fails the
/// test; elsewhere the test says so and passes.
fn tree(series: &str) -> Option<PathBuf> {
    let var = format!("WQSIM_KERNEL_SRC_{}", series.replace('.', "_"));
    if let Ok(p) = std::env::var(&var) {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var("WQSIM_KERNEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/wqsim/kernel"));
    let found = std::fs::read_dir(&cache).ok().and_then(|d| {
        let mut v: Vec<PathBuf> = d
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("source-{series}-")))
                    && p.join(".complete").exists()
            })
            .collect();
        v.sort();
        v.pop()
    });
    if found.is_none() {
        let msg = format!("no unpacked linux-source-{series}: run ci/kernel/source.sh {series} (or set {var})");
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("skipped: {msg}");
    }
    found
}

#[test]
fn the_sources_list_names_every_model_file() {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p.strip_prefix(root()).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut on_disk = Vec::new();
    walk(&root().join("model/src"), &mut on_disk);
    on_disk.sort();
    let listed: Vec<String> = wqsim_model::kmap::SOURCES.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(listed, on_disk, "model/src/kmap.rs must list every model source file, sorted");
}

/// Every model function that a run reports (`kfn`) sits under a mirror
/// line, and every function mirroring kernel code reports itself (`kfn`
/// or `reached`), so a review can tell which scenarios run it.
#[test]
fn the_map_covers_every_model_function_that_mirrors_the_kernel() {
    let m = map().unwrap();
    assert_eq!(m.unmapped_labels, Vec::<(String, String)>::new(), "kfn labels outside any mirrored item");
    let released = m.mirrors.iter().filter(|x| matches!(x.source, Source::Release { .. })).count();
    let series = m.mirrors.len() - released;
    assert!(released >= 160, "{released} definitions mirrored from 6.12");
    assert!(series >= 25, "{series} definitions mirrored from the series");
    for x in &m.mirrors {
        if x.model.item.starts_with("fn ") {
            assert!(!x.model.labels.is_empty(), "{} mirrors {} but reports no label", x.model.place(), x.kernel_name);
        }
    }
    // Every kfn label in the model is some item's.
    let mut labels: Vec<&str> = Vec::new();
    for (_, text) in wqsim_model::kmap::SOURCES {
        for part in text.split("kfn(\"").skip(1) {
            labels.push(part.split('"').next().unwrap());
        }
    }
    for l in labels {
        assert!(
            m.mirrors.iter().any(|x| x.model.labels.iter().any(|y| y == l))
                || m.model_only.iter().any(|(i, _)| i.labels.iter().any(|y| y == l)),
            "kfn(\"{l}\") is in no mapped item"
        );
    }
}

/// A tree of our own C, a map of our own Rust: a wrong fingerprint, a
/// vanished function and an unknown one are each reported, exactly.
#[test]
fn a_wrong_fingerprint_a_gone_function_and_a_new_one_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("fs")).unwrap();
    let c = "static int one(int a)\n{\n\treturn a + 1;\n}\n\nint two(void)\n{\n\treturn one(1);\n}\n\nint three(void)\n{\n\treturn 3;\n}\n";
    std::fs::write(tmp.path().join("fs/pipe.c"), c).unwrap();
    let defs = wqsim::kmap::c::definitions(c);
    let fp = |n: &str| defs.iter().find(|d| d.name == n).unwrap().fp;
    let src = format!(
        "/// Mirrors fs/pipe.c one() of 6.12, lines 1-4, fp {:016x}.\nfn one() {{\n    kfn(\"one\");\n}}\n\n\
         /// Mirrors fs/pipe.c two() of 6.12, lines 6-9, fp {:016x}.\nfn two() {{\n    kfn(\"two\");\n}}\n\n\
         /// Mirrors fs/pipe.c four() of 6.12, lines 16-19, fp 0000000000000004.\nfn four() {{\n    kfn(\"four\");\n}}\n",
        fp("one"),
        fp("two") ^ 1
    );
    let src: &'static str = Box::leak(src.into_boxed_str());
    let m = map_of(&[("model/src/x.rs", src)]).unwrap();
    let diffs = drift(tmp.path(), &m, &[]).unwrap();
    let what: Vec<(String, &str)> = diffs
        .iter()
        .map(|d| {
            let kind = match d {
                Diff::Changed { .. } => "changed",
                Diff::Gone { .. } => "gone",
                Diff::New { .. } => "new",
            };
            (d.what(), kind)
        })
        .collect();
    assert_eq!(
        what,
        vec![
            ("fs/pipe.c two()".to_string(), "changed"),
            ("fs/pipe.c four()".to_string(), "gone"),
            ("fs/pipe.c three()".to_string(), "new")
        ]
    );
    let (text, clean) = report(tmp.path(), &m, &[]).unwrap();
    assert!(!clean);
    assert!(
        text.contains("changed  fs/pipe.c two() (lines 6-9 in 6.12, 6-9 here), mirrored by model/src/x.rs:7 fn two"),
        "{text}"
    );
    assert!(text.ends_with("3 differences: 0 explained by the catalog, 0 reviewed as the same behaviour, 0 reviewed as behaviour the model does not follow, 3 not explained; 0 catalog claims contradicted\n"), "{text}");
}

#[test]
fn the_map_matches_debian_612_and_a_wrong_fingerprint_fails() {
    let Some(t) = tree("6.12") else { return };
    let m = map().unwrap();
    let (text, clean) = report(&t, &m, &unmirrored()).unwrap();
    assert!(clean, "{text}");
    assert!(
        text.contains("no drift: every mirrored definition has its 6.12 fingerprint, and no definition is new"),
        "{text}"
    );
    // One fingerprint off by a bit: exactly that definition is changed.
    let mut bad = m.clone();
    let k = bad.mirrors.iter().position(|x| x.kernel_name == "post_one_notification").unwrap();
    if let Source::Release { fp, .. } = &mut bad.mirrors[k].source {
        *fp ^= 1;
    }
    let diffs = drift(&t, &bad, &unmirrored()).unwrap();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert_eq!(diffs[0].what(), "kernel/watch_queue.c post_one_notification()");
    assert!(matches!(diffs[0], Diff::Changed { .. }));
}

#[test]
fn drift_on_debian_61_is_all_explained() {
    let Some(t) = tree("6.1") else { return };
    let (text, clean) = report(&t, &map().unwrap(), &unmirrored()).unwrap();
    assert!(clean, "{text}");
    assert!(text.contains("source tree: ") && text.contains("(Linux 6.1."), "{text}");
    // The catalog's U1 accounts for key_put() and the collector.
    for f in [
        "security/keys/key.c key_put()",
        "security/keys/gc.c key_gc_unused_keys()",
        "security/keys/gc.c key_garbage_collector()",
    ] {
        let at = text.find(&format!("changed  {f}")).unwrap_or_else(|| panic!("{f} not listed: {text}"));
        assert!(text[at..].lines().nth(1).unwrap().contains("explained by the catalog: U1"), "{text}");
    }
    // pipe_write() taking rd_wait.lock is the known behaviour difference.
    let at = text.find("changed  fs/pipe.c pipe_write()").unwrap();
    assert!(text[at..].lines().nth(1).unwrap().contains("BEHAVES DIFFERENTLY"), "{text}");
    assert!(text.contains(" 0 not explained; 0 catalog claims contradicted"), "{text}");
}

/// Each findings patch lands on the functions it changes, its finding's
/// catalog row, and the families that run that code.
#[test]
fn review_places_each_findings_patch_on_its_row_and_families() {
    let cover = coverage(&root().join("scenarios")).unwrap();
    let m = map().unwrap();
    let cases: &[(&str, &[&str], &str, &[&str])] = &[
        ("0001", &["key_set_timeout", "keyctl_set_timeout"], "F1", &["unwatch_vs_post.wq"]),
        ("0002", &["watch_queue_pipe_buf_release", "post_one_notification"], "F2", &["post_vs_read.wq"]),
        ("0003", &["post_one_notification"], "F3", &["post_vs_read.wq"]),
        ("0005", &["notify_key", "keyctl_watch_key"], "F5", &["add_vs_lookup.wq"]),
        ("0006", &["keyring_gc"], "F6", &["collector_vs_add.wq"]),
        ("0007", &["post_one_notification"], "F7", &["read_vs_resize_and_close.wq"]),
        ("0008", &["struct watch"], "F8", &["unwatch_vs_post.wq"]),
        ("0009", &["keyring_gc_select_iterator", "keyring_gc"], "F9", &["collector_vs_add.wq"]),
    ];
    let dir = root().join("docs/findings/patches");
    for (num, names, row, families) in cases {
        let file = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(num))
            .unwrap();
        let patch = parse_patch(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let r = review(&patch, &m, &unmirrored(), None, &cover);
        let touched: Vec<&str> = r.touched.iter().flat_map(|t| t.names.iter().map(String::as_str)).collect();
        assert_eq!(&touched, names, "{num}");
        assert!(
            r.rows.iter().any(|(id, _, f)| id == row && f.contains(&row.to_lowercase())),
            "{num}: rows {:?}",
            r.rows
        );
        for fam in *families {
            assert!(r.families.iter().any(|(p, _)| p.ends_with(fam)), "{num}: {fam} not among {:?}", r.families);
        }
        let text = wqsim::kmap::review::render(&r, num, None);
        assert!(text.contains(&format!("wqsim explore --explorer pct --without {row} scenarios/catalog/")), "{text}");
    }
}

/// The probe runs the families with the row's switch on: F3 (a note
/// cleared after its slot is published) is caught by a race family, and
/// the same families hold with no switch on.
#[test]
fn the_probe_names_families_that_catch_the_rows_switch() {
    let cover = coverage(&root().join("scenarios")).unwrap();
    let file = root().join("docs/findings/patches/0003-watch_queue-Claim-the-note-before-publishing-the-slo.patch");
    let patch = parse_patch(&std::fs::read_to_string(file).unwrap()).unwrap();
    let r = review(&patch, &map().unwrap(), &unmirrored(), None, &cover);
    let p = probe(&r, 200);
    let f3 = &p.iter().find(|(id, _)| *id == "F3").unwrap().1;
    assert!(f3.iter().any(|(path, how)| path.ends_with("blocking_reader.wq") && how.starts_with("pct N1")), "{f3:?}");
}

#[test]
fn a_patch_outside_the_model_is_all_gaps() {
    let patch = parse_patch("--- a/fs/unknown.c\n+++ b/fs/unknown.c\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n").unwrap();
    let r = review(&patch, &map().unwrap(), &unmirrored(), None, &Default::default());
    assert_eq!(r.gaps, vec!["fs/unknown.c: the model mirrors nothing in this file".to_string()]);
    assert!(r.rows.is_empty() && r.families.is_empty());
}

#[test]
fn bad_arguments_name_the_fix() {
    let run = |args: &[&str]| {
        let o =
            std::process::Command::new(env!("CARGO_BIN_EXE_wqsim")).args(args).current_dir(root()).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, err) = run(&["drift", "/nonexistent-tree"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/nonexistent-tree: not a directory; give the top of a kernel source tree (ci/kernel/source.sh 6.12 unpacks one"), "{err}");
    let (code, err) = run(&["review", "README.md"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("README.md: no hunk: expected a unified diff"), "{err}");
}
