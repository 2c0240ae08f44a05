//! The self-check table: every row passes, and the table's text is stable.

#![cfg(not(loom))]

#[test]
fn selfcheck_passes_and_renders() {
    let rows = wqsim::selfcheck(|_, _| {});
    assert!(rows.iter().all(|r| r.pass), "{}", wqsim::render(&rows));
    let table = wqsim::render(&rows);
    assert!(table.starts_with("id   switch"), "{table}");
    assert!(table.contains("W1   filter-oob"), "{table}");
    assert!(table.ends_with(&format!("{} switches: {} pass, 0 fail\n", rows.len(), rows.len())), "{table}");
}

/// A row whose switch is not caught is a failure (the verdict can fail).
#[test]
fn a_wrong_expectation_fails_the_row() {
    let mut info = *wqsim_model::bugs::Bug::W5.info();
    info.caught_by = wqsim_model::Inv::S1;
    let row = wqsim::check_entry(&info);
    assert!(!row.pass);
    assert_eq!(row.on, "I4");
}
