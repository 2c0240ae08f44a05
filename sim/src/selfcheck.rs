//! The self-check: the catalog against its scenarios. Each switch's
//! scenario (`scenarios/catalog/<id>-<slug>.wq`, see [`crate::catalog`])
//! must turn the switch on, expect the catalog's invariant with it on and
//! the fixed kernel to hold without it, and every run line this build can
//! run must give what it expects.

use std::fmt::Write as _;
use std::path::Path;

use wqsim_model::bugs::BugInfo;

use crate::scenario::Scenario;

/// One row of the self-check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub id: &'static str,
    pub slug: &'static str,
    /// The scenario's file name (`w13-defunct-race.wq`).
    pub scenario: String,
    pub expected: String,
    /// What the runs with the switch off gave (`holds`), `-` when this
    /// build has none of them.
    pub off: String,
    /// What the runs with the switch on gave.
    pub on: String,
    pub pass: bool,
    /// Why the row fails, if it does.
    pub problems: Vec<String>,
}

/// The results of `runs` of `sc`, joined (`holds`, `H1`, `-` for a run
/// of the other build), and the problems: runs that did not give what
/// they expect.
fn results(sc: &Scenario, on: bool, info: &BugInfo, problems: &mut Vec<String>) -> String {
    let mut seen = Vec::new();
    for run in sc.runs.iter().filter(|r| r.without.contains(&info.bug) != on) {
        let r = crate::run::execute(sc, run);
        if r.result.is_none() && r.stop.is_none() {
            continue;
        }
        if !r.matches() {
            problems.push(format!(
                "{}:{}: run {} expected {}, got {}",
                sc.path,
                run.line,
                run.driver.name(),
                run.expect,
                r.result_text()
            ));
        }
        let text = r.result_text();
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    if seen.is_empty() { "-".into() } else { seen.join(",") }
}

/// Check one switch against its scenario under `root`.
pub fn check_entry(root: &Path, info: &BugInfo) -> Row {
    let mut row = Row {
        id: info.id,
        slug: info.slug,
        scenario: crate::catalog::file_name(info),
        expected: info.caught_by.to_string(),
        off: "-".into(),
        on: "-".into(),
        pass: false,
        problems: vec![],
    };
    let sc = match crate::catalog::scenario(root, info.bug) {
        Ok(sc) => sc,
        Err(e) => {
            row.problems.push(e.message);
            return row;
        }
    };
    row.problems = crate::catalog::contract(info, &sc);
    row.off = results(&sc, false, info, &mut row.problems);
    row.on = results(&sc, true, info, &mut row.problems);
    row.pass = row.problems.is_empty();
    row
}

/// Run the whole self-check, calling `progress(done, total)` after each row.
pub fn selfcheck(root: &Path, mut progress: impl FnMut(usize, usize)) -> Vec<Row> {
    let catalog = wqsim_model::bugs::CATALOG;
    let mut rows = Vec::new();
    for (i, info) in catalog.iter().enumerate() {
        rows.push(check_entry(root, info));
        progress(i + 1, catalog.len());
    }
    rows
}

/// The verdict table, then each failing row's problems.
pub fn render(rows: &[Row]) -> String {
    let mut s = String::new();
    let w = rows.iter().map(|r| r.scenario.len()).max().unwrap_or(8).max(8);
    let _ = writeln!(s, "{:<4} {:<w$}  {:<10} {:<10} {:<9} verdict", "id", "scenario", "off", "on", "expected");
    for r in rows {
        let _ = writeln!(
            s,
            "{:<4} {:<w$}  {:<10} {:<10} {:<9} {}",
            r.id,
            r.scenario,
            r.off,
            r.on,
            r.expected,
            if r.pass { "PASS" } else { "FAIL" }
        );
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.pass).collect();
    let other = if wqsim_model::sync::BACKEND == "loom" { "the main build's" } else { "the loom build's" };
    let _ = writeln!(
        s,
        "{} switches: {} pass, {} fail (`-`: every such run is {other})",
        rows.len(),
        rows.len() - failed.len(),
        failed.len()
    );
    for r in failed {
        for p in &r.problems {
            let _ = writeln!(s, "{} {}: {p}", r.id, r.slug);
        }
    }
    s
}
