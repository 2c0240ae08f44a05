//! The self-check table: every switch's scenario keeps the catalog's
//! contract, and a scenario that breaks it fails its row.

#![cfg(not(loom))]

use wqsim_model::bugs::Bug;

#[test]
fn selfcheck_passes_and_renders() {
    let rows = wqsim::selfcheck(&wqsim::catalog::root(), |_, _| {});
    let table = wqsim::render(&rows);
    assert!(rows.iter().all(|r| r.pass), "{table}");
    assert_eq!(rows.len(), wqsim_model::bugs::CATALOG.len());
    assert!(table.starts_with("id   scenario"), "{table}");
    assert!(table.contains("W1   w1-filter-oob.wq"), "{table}");
    let w13 = rows.iter().find(|r| r.id == "W13").unwrap();
    assert_eq!((w13.off.as_str(), w13.on.as_str()), ("holds", "H1"));
    // W14's switch-on run is loom's: this build shows `-`.
    let w14 = rows.iter().find(|r| r.id == "W14").unwrap();
    assert_eq!((w14.off.as_str(), w14.on.as_str()), ("holds", "-"));
    assert!(table.contains(&format!("{} switches: {} pass, 0 fail", rows.len(), rows.len())), "{table}");
}

/// A row fails when its scenario does not keep the contract, or when a
/// run does not give what it expects: the verdict can fail.
#[test]
fn a_broken_scenario_fails_its_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::create_dir_all(dir.join("catalog")).unwrap();
    let root = wqsim::catalog::root();
    let info = Bug::W5.info();
    let name = wqsim::catalog::file_name(info);
    let text = std::fs::read_to_string(root.join("catalog").join(&name)).unwrap();
    // The catalog says I4; this scenario expects S1 with the switch on.
    std::fs::write(dir.join("catalog").join(&name), text.replace("expect I4", "expect S1")).unwrap();
    let row = wqsim::check_entry(&dir, info);
    assert!(!row.pass);
    assert_eq!(row.on, "I4");
    assert!(row.problems.iter().any(|p| p == "no run line with W5 on expects I4"), "{:?}", row.problems);
    assert!(row.problems.iter().any(|p| p.ends_with("expected S1, got I4")), "{:?}", row.problems);
    // A switch without its scenario fails too, naming the file to write.
    let row = wqsim::check_entry(&dir, Bug::W4.info());
    assert!(!row.pass);
    assert!(
        row.problems[0].ends_with(
            "W4 bitmap-size has no scenario; write the program that makes it fire there (see scenarios/catalog/)"
        ),
        "{:?}",
        row.problems
    );
}
