//! The detection matrix: every catalog switch (and every race scenario with
//! every switch off) under every explorer, with executions and seconds to
//! the first detection. A build runs the explorers it has and prints its
//! cells as tab-separated lines; `merge` joins the three builds' lines
//! into `docs/catalog.md`. `ci/matrix` does both.

use std::fmt::Write as _;
use std::time::Instant;

use wqsim_model::bugs::{CATALOG, also_caught_by};

use crate::explore::{Budget, Kind, run_of};
use crate::scenario::{Expect, Scenario};

/// One row of the matrix: what runs and what it must give.
#[derive(Clone, Debug)]
pub struct RowSpec {
    /// `W12`, or `fixed:post_vs_read` for a race scenario (every switch
    /// off).
    pub key: String,
    /// The switch's scenario (`scenarios/catalog/`), or the race scenario.
    pub scenario: Scenario,
    /// The invariant that must catch it; `None`: it must hold.
    pub expected: Option<wqsim_model::Inv>,
    /// Other symptoms of the same bug an explorer may reach first.
    pub also: &'static [wqsim_model::Inv],
}

/// Every row: each catalog switch's scenario in catalog order, then the
/// race scenarios under `root` (see [`crate::catalog`]).
pub fn rows(root: &std::path::Path) -> Result<Vec<RowSpec>, String> {
    let mut v = Vec::new();
    for (b, sc) in crate::catalog::scenarios(root) {
        v.push(RowSpec {
            key: b.id.to_string(),
            scenario: sc.map_err(|e| e.message)?,
            expected: Some(b.caught_by),
            also: also_caught_by(b.bug),
        });
    }
    for sc in crate::catalog::races(root).map_err(|e| e.message)? {
        v.push(RowSpec {
            key: format!("fixed:{}", crate::catalog::race_name(&sc)),
            scenario: sc,
            expected: None,
            also: &[],
        });
    }
    Ok(v)
}

/// What one cell's run gave.
struct Found {
    executions: u64,
    result: Result<(), wqsim_model::oracle::Violation>,
}

/// One measured cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub key: String,
    pub kind: Kind,
    /// `caught`, `also` (caught by another symptom the catalog lists for
    /// the switch), `holds`, `missed`, `wrong` (caught by an invariant the
    /// catalog does not list) or `failed` (a fixed row that did not hold).
    pub verdict: String,
    pub inv: String,
    pub executions: u64,
    pub seconds: f64,
}

impl Cell {
    /// Whether the cell is what the row must give. A missed detection is
    /// not a failure by itself: a switch must be caught by at least one
    /// explorer, not every one.
    pub fn ok(&self) -> bool {
        matches!(self.verdict.as_str(), "caught" | "also" | "holds" | "missed")
    }

    pub fn to_tsv(&self) -> String {
        format!("{}\t{}\t{}\t{}\t{}\t{:.2}", self.key, self.kind, self.verdict, self.inv, self.executions, self.seconds)
    }

    pub fn from_tsv(line: &str) -> Option<Cell> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 6 {
            return None;
        }
        Some(Cell {
            key: f[0].to_string(),
            kind: Kind::from_name(f[1])?,
            verdict: f[2].to_string(),
            inv: f[3].to_string(),
            executions: f[4].parse().ok()?,
            seconds: f[5].parse().ok()?,
        })
    }
}

/// The fuzz targets that hunt each catalog switch, in the order to try
/// them (`None` with the reason when none can): race switches (whose
/// scenario has threads) run the committed scenarios under `schedule`; the filter-parsing switch
/// runs `filter`; the switches whose trigger is posting and reading on one
/// queue run `reader` and `trace`; the rest `trace` (and `schedule` for the
/// teardown-order switch, whose scenarios close a queue with records in it).
pub fn fuzz_plan(rows: &[RowSpec]) -> Vec<(&'static str, Option<&'static str>, String)> {
    CATALOG
        .iter()
        .map(|b| {
            let race = rows.iter().find(|r| r.key == b.id).is_some_and(|r| !r.scenario.threads.is_empty());
            let weak_only = b.caught_by == wqsim_model::Inv::D1 && also_caught_by(b.bug).is_empty();
            if weak_only {
                return (
                    b.id,
                    None,
                    "a weak-memory ordering race (D1): the fuzz targets run under shuttle, which makes every access \
                     sequentially consistent; loom finds it"
                        .to_string(),
                );
            }
            let (targets, why) = match (race, b.id) {
                (true, _) => (
                    "schedule",
                    format!("its scenario `{}` among the committed scenarios", crate::catalog::file_name(b)),
                ),
                (false, "W1") => ("filter", "raw filter payloads".to_string()),
                (false, "P12" | "W6") => ("reader+trace", "posting and reading on one queue".to_string()),
                (false, "W7") => ("schedule+trace", "closing a queue with records queued".to_string()),
                (false, "W17") => (
                    "trace",
                    "it needs more watches held at once than RLIMIT_NOFILE: under the 5-descriptor profile, one \
                     notification pipe and six keys each watched, two operations repeated six times or more"
                        .to_string(),
                ),
                _ => ("trace", "arbitrary programs".to_string()),
            };
            (b.id, Some(targets), why)
        })
        .collect()
}

/// What a fuzz run that found `inv` (an invariant ID, or `spec` for a
/// disagreement with the reference) with `bug` on gives: `caught` (the
/// catalog's invariant), `also` (another symptom the catalog lists),
/// `differs` (an operation's result differs from the reference, which is
/// the fixed kernel: a behaviour the fix changed, as W18's zero-length
/// write that returned 0 before the fix and `EXDEV` after) or `other`.
pub fn fuzz_verdict(bug: wqsim_model::bugs::Bug, inv: &str) -> &'static str {
    match wqsim_model::Inv::from_id(inv) {
        Some(i) if i == bug.info().caught_by => "caught",
        Some(i) if also_caught_by(bug).contains(&i) => "also",
        None if inv == "spec" => "differs",
        _ => "other",
    }
}

/// One fuzz-column cell: how fast the fuzz target found a switch from the
/// committed seeds (`ci/fuzz matrix`).
#[derive(Clone, Debug, PartialEq)]
pub struct FuzzCell {
    pub key: String,
    pub target: String,
    /// `caught` (the catalog's invariant), `also` (another listed
    /// symptom), `differs` (a result differed from the reference first),
    /// `other` (another invariant fired first) or `missed` (nothing
    /// within the budget).
    pub verdict: String,
    pub inv: String,
    pub executions: u64,
    pub seconds: f64,
}

impl FuzzCell {
    /// `KEY fuzz TARGET VERDICT INV EXECUTIONS SECONDS`, tab-separated.
    pub fn from_tsv(line: &str) -> Option<FuzzCell> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 7 || f[1] != "fuzz" {
            return None;
        }
        Some(FuzzCell {
            key: f[0].to_string(),
            target: f[2].to_string(),
            verdict: f[3].to_string(),
            inv: f[4].to_string(),
            executions: f[5].parse().ok()?,
            seconds: f[6].parse().ok()?,
        })
    }

    fn text(&self) -> String {
        match self.verdict.as_str() {
            "missed" => format!("not found ({} ex, {:.0}s, {})", self.executions, self.seconds, self.target),
            v => format!("{v} {} @{} ({:.0}s, {})", self.inv, self.executions, self.seconds, self.target),
        }
    }
}

/// Measure every row with `kind` (which this build must have).
pub fn measure(
    rows: &[RowSpec],
    kind: Kind,
    budget: Budget,
    mut progress: impl FnMut(usize, usize, &Cell),
) -> Result<Vec<Cell>, String> {
    if !kind.available() {
        return Err(format!(
            "this wqsim was built for the {} backend; measure {kind} with: {} matrix --explorers {kind}",
            wqsim_model::sync::BACKEND,
            kind.build()
        ));
    }
    let mut cells = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let start = Instant::now();
        let mut run = run_of(&r.scenario, kind, budget, vec![]);
        run.expect = r.expected.map_or(Expect::Holds, Expect::Violation);
        let ran = crate::run::execute(&r.scenario, &run);
        let seconds = start.elapsed().as_secs_f64();
        let result = match (&ran.stop, &ran.result) {
            (Some(st), _) => return Err(format!("{}: {kind}: {}", r.scenario.path, st.describe())),
            (None, Some(res)) => res.clone(),
            (None, None) => return Err(format!("{}: {kind} did not run", r.scenario.path)),
        };
        let found = Found { executions: ran.executions, result };
        let (verdict, inv) = match (&found.result, r.expected) {
            (Ok(()), None) => ("holds", String::new()),
            (Ok(()), Some(_)) => ("missed", String::new()),
            (Err(v), Some(e)) if v.inv == e => ("caught", v.inv.to_string()),
            (Err(v), Some(_)) if r.also.contains(&v.inv) => ("also", v.inv.to_string()),
            (Err(v), Some(_)) => ("wrong", v.inv.to_string()),
            (Err(v), None) => ("failed", v.inv.to_string()),
        };
        let c = Cell { key: r.key.clone(), kind, verdict: verdict.into(), inv, executions: found.executions, seconds };
        progress(i + 1, rows.len(), &c);
        cells.push(c);
    }
    Ok(cells)
}

/// The Markdown table of `cells` (from any number of builds), with the
/// rows in [`rows`] order and the explorers in [`Kind::ALL`] order.
pub fn render_markdown(rows: &[RowSpec], cells: &[Cell], fuzz: &[FuzzCell], command: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Detection matrix\n");
    let _ = writeln!(
        s,
        "Generated by `{command}`. Each cell: the verdict, the invariant that \
         fired, and the executions and seconds until the first detection (or \
         the whole budget when nothing fired). Each switch runs its scenario, \
         `scenarios/catalog/<id>-<slug>.wq`, with that switch on and every \
         other switch off; `fixed:` rows run a race scenario \
         (`scenarios/races/`) with every switch off, the findings given their \
         proposed fixes: they must hold everywhere. \
         `also` means another symptom of the same bug fired first (the \
         catalog lists them: `bugs::also_caught_by`). `missed` is allowed \
         (each switch must be caught by its own invariant by at least one \
         explorer); `wrong` and `failed` are not.\n"
    );
    if !fuzz.is_empty() {
        let _ = writeln!(
            s,
            "The `fuzz` column (`ci/fuzz matrix`) is coverage-guided fuzzing from the committed seeds \
             (`fuzz/seeds/`), one libFuzzer run per switch with that switch on and every other off: the \
             executions and seconds until the first crash, or the budget spent when nothing was found. \
             `differs` means an operation's result differed from the reference (the fixed kernel) first, \
             `other` that another invariant fired first; `-` says why no fuzz target can reach the switch.\n"
        );
    }
    let kinds: Vec<Kind> = Kind::ALL.into_iter().filter(|k| cells.iter().any(|c| c.kind == *k)).collect();
    let _ = write!(s, "| switch | expected |");
    for k in &kinds {
        let _ = write!(s, " {k} |");
    }
    if !fuzz.is_empty() {
        s += " fuzz |";
    }
    s.push('\n');
    let _ = write!(s, "|---|---|");
    for _ in &kinds {
        s += "---|";
    }
    if !fuzz.is_empty() {
        s += "---|";
    }
    s.push('\n');
    let plan = fuzz_plan(rows);
    for r in rows {
        let slug = CATALOG.iter().find(|b| b.id == r.key).map(|b| format!(" {}", b.slug)).unwrap_or_default();
        let mut expected = r.expected.map_or("holds".to_string(), |i| i.to_string());
        if !r.also.is_empty() {
            let also: Vec<String> = r.also.iter().map(|i| i.to_string()).collect();
            expected += &format!(" (also {})", also.join(", "));
        }
        let _ = write!(s, "| {}{slug} | {expected} |", r.key);
        for k in &kinds {
            let text = match cells.iter().find(|c| c.key == r.key && c.kind == *k) {
                None => "-".to_string(),
                Some(c) if matches!(c.verdict.as_str(), "caught" | "also" | "wrong" | "failed") => {
                    format!("{} {} @{} ({:.2}s)", c.verdict, c.inv, c.executions, c.seconds)
                }
                Some(c) => format!("{} ({} ex, {:.2}s)", c.verdict, c.executions, c.seconds),
            };
            let _ = write!(s, " {text} |");
        }
        if !fuzz.is_empty() {
            let text = match (fuzz.iter().find(|c| c.key == r.key), plan.iter().find(|p| p.0 == r.key)) {
                (Some(c), Some((_, _, why))) if c.verdict == "missed" => format!("{} ({why})", c.text()),
                (Some(c), _) => c.text(),
                (None, Some((_, None, why))) => format!("- ({why})"),
                (None, _) => "-".to_string(),
            };
            let _ = write!(s, " {text} |");
        }
        s.push('\n');
    }
    let switches: Vec<&str> = CATALOG.iter().map(|b| b.id).collect();
    let uncaught: Vec<&str> =
        switches.iter().copied().filter(|id| !cells.iter().any(|c| c.key == *id && c.verdict == "caught")).collect();
    let bad: Vec<String> = cells.iter().filter(|c| !c.ok()).map(|c| format!("{} under {}", c.key, c.kind)).collect();
    let _ = writeln!(
        s,
        "\n{} switches, {} caught by at least one explorer{}; {} cells wrong or failed{}.",
        switches.len(),
        switches.len() - uncaught.len(),
        if uncaught.is_empty() { String::new() } else { format!(" (not caught: {})", uncaught.join(", ")) },
        bad.len(),
        if bad.is_empty() { String::new() } else { format!(" ({})", bad.join(", ")) }
    );
    s += &render_shipped();
    s
}

/// Which historical bugs the kernels the real-kernel comparison boots
/// still have, and what the real kernel shows of them.
fn render_shipped() -> String {
    use wqsim_model::bugs::Shipped;
    let mut s = String::from(
        "\n## In Debian's kernels\n\n`ci/kernel/check` boots kernels built from Debian's `linux-source-6.12` and \
         `linux-source-6.1` (`WQSIM_KERNEL_SERIES`; the nightly tier runs both). Debian carries stable backports, so \
         which historical rows each still has was decided by reading its source (`bugs::Shipped::still_present`), \
         and the model of each kernel (`base debian-SERIES`, `kernel-check --series SERIES`) has those switches on, \
         with the findings.\n\n| kernel | historical rows still present | model switches |\n|---|---|---|\n",
    );
    for k in Shipped::ALL {
        let present: Vec<&str> = k.still_present().iter().map(|b| b.info().id).collect();
        let on: Vec<&str> = k.bugs().list().iter().map(|b| b.info().id).collect();
        let _ = writeln!(
            s,
            "| Debian {} | {} | {} |",
            k.series(),
            if present.is_empty() { "none".to_string() } else { present.join(", ") },
            on.join(" ")
        );
    }
    s.push_str(
        "\nOn a real kernel that has it, P13 is not confirmed: its window is two loads wide, and the real-kernel \
         runner cannot tell at which instant a poll's answer was true, which S9 needs. Every other historical row is \
         fixed in both kernels, so no other row can be shown on them.\n",
    );
    s
}

/// `matrix --format json`: one object per cell.
pub fn render_json(cells: &[Cell]) -> String {
    use serde_json::json;
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .map(|c| {
            json!({
                "key": c.key,
                "explorer": c.kind.name(),
                "verdict": c.verdict,
                "invariant": c.inv,
                "executions": c.executions,
                "seconds": (c.seconds * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&json!({ "cells": cells })).unwrap_or_default();
    out.push('\n');
    out
}

/// Whether the merged cells meet the bar: every switch caught somewhere,
/// no wrong or failed cell. The message lists what falls short.
pub fn verdict(cells: &[Cell]) -> Result<(), String> {
    let mut problems = Vec::new();
    for b in CATALOG {
        if !cells.iter().any(|c| c.key == b.id && c.verdict == "caught") {
            problems.push(format!("{} {} is caught by no explorer", b.id, b.slug));
        }
    }
    for c in cells.iter().filter(|c| !c.ok()) {
        problems.push(format!("{} under {}: {} {}", c.key, c.kind, c.verdict, c.inv));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wqsim_model::bugs::Bug;

    #[test]
    fn a_fuzz_finding_is_judged_against_the_catalog() {
        assert_eq!(fuzz_verdict(Bug::W1, "H3"), "caught");
        assert_eq!(fuzz_verdict(Bug::W14, "H1"), "also");
        assert_eq!(fuzz_verdict(Bug::W18, "spec"), "differs");
        assert_eq!(fuzz_verdict(Bug::W1, "H5"), "other");
        assert_eq!(fuzz_verdict(Bug::W1, "harness"), "other");
    }

    #[test]
    fn fuzz_cells_read_back_from_their_tsv_line() {
        let c = FuzzCell::from_tsv("W18\tfuzz\ttrace\tdiffers\tspec\t601\t6.6").unwrap();
        assert_eq!((c.verdict.as_str(), c.inv.as_str(), c.executions), ("differs", "spec", 601));
        assert_eq!(c.text(), "differs spec @601 (7s, trace)");
        assert_eq!(FuzzCell::from_tsv("W18\tcheck\ttrace"), None);
    }

    #[test]
    fn a_missed_switch_says_why_and_a_weak_memory_one_has_no_target() {
        let missed = FuzzCell::from_tsv("W17\tfuzz\ttrace\tmissed\t-\t33335\t121.3").unwrap();
        let md = render_markdown(&rows(&crate::catalog::root()).unwrap(), &[], &[missed], "ci/matrix");
        let row = |id: &str| md.lines().find(|l| l.starts_with(&format!("| {id} "))).unwrap().to_string();
        assert!(row("W17").contains("not found (33335 ex, 121s, trace) (it needs more watches"), "{}", row("W17"));
        assert!(row("W2").contains("- (a weak-memory ordering race (D1)"), "{}", row("W2"));
    }
}
