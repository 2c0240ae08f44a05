//! The self-check: every catalog switch's trigger off (the fixed kernel
//! must hold) and on (the oracle must report the catalog's invariant).

use std::fmt::Write as _;

use wqsim_model::api::{Op, Outcome};
use wqsim_model::bugs::{BugInfo, CATALOG, trigger};
use wqsim_model::kernel::Config;
use wqsim_model::oracle::Violation;

/// Run `ops` sequentially on a fresh machine (the model's conformance
/// mode): the oracle after every step, then (if `teardown`) teardown and
/// the leak check. The first violation ends it.
pub fn run_program(config: Config, ops: &[Op], teardown: bool) -> Result<Vec<Outcome>, Violation> {
    let ops = ops.to_vec();
    crate::explore::silenced(move || {
        wqsim_model::explore::shuttle_seq(move || wqsim_model::seq::run_program(config, &ops, teardown))
    })
}

/// One row of the self-check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub id: &'static str,
    pub slug: &'static str,
    pub expected: String,
    pub off: String,
    pub on: String,
    pub pass: bool,
    pub steps: usize,
}

/// Run the self-check for one catalog entry with a sequential trigger.
pub fn check_entry(info: &BugInfo) -> Row {
    let t = trigger(info.bug).expect("a sequential trigger");
    let off = match run_program(t.config.clone(), &t.ops, t.teardown) {
        Ok(_) => "holds".to_string(),
        Err(v) => format!("{}", v.inv),
    };
    let on_r = run_program(t.config.clone().with_bug(info.bug), &t.ops, t.teardown);
    let on = match &on_r {
        Ok(_) => "holds".to_string(),
        Err(v) => format!("{}", v.inv),
    };
    let pass = off == "holds" && on_r.as_ref().err().map(|v| v.inv) == Some(info.caught_by);
    Row { id: info.id, slug: info.slug, expected: info.caught_by.to_string(), off, on, pass, steps: t.ops.len() }
}

/// Run the whole self-check, calling `progress(done, total)` after each row.
pub fn selfcheck(mut progress: impl FnMut(usize, usize)) -> Vec<Row> {
    let mut rows = Vec::new();
    let seq: Vec<&BugInfo> = CATALOG.iter().filter(|i| trigger(i.bug).is_some()).collect();
    for (i, info) in seq.iter().enumerate() {
        rows.push(check_entry(info));
        progress(i + 1, seq.len());
    }
    rows
}

/// The verdict table.
pub fn render(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<4} {:<18} {:>5}  {:<10} {:<10} {:<9} verdict",
        "id", "switch", "steps", "off", "on", "expected"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<4} {:<18} {:>5}  {:<10} {:<10} {:<9} {}",
            r.id,
            r.slug,
            r.steps,
            r.off,
            r.on,
            r.expected,
            if r.pass { "PASS" } else { "FAIL" }
        );
    }
    let failed = rows.iter().filter(|r| !r.pass).count();
    let _ = writeln!(s, "{} switches: {} pass, {} fail", rows.len(), rows.len() - failed, failed);
    s
}
