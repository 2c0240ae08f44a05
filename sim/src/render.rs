//! Rendering the results of runs: the verdict table and its JSON form.

use std::fmt::Write as _;

use crate::drive::CheckRow;
use crate::exit::Exit;
use crate::run::RunResult;

/// `check --format json`: one object per row (scenario, run line,
/// driver, executions, result, expected, verdict, message, seconds when
/// `times`, the replay command), and the exit status.
pub fn render_json(rows: &[CheckRow], exit: Exit, times: bool) -> String {
    use serde_json::{Map, Value, json};
    let runs: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut f = Map::new();
            f.insert("scenario".into(), json!(r.scenario));
            match &r.result {
                Err(e) => {
                    f.insert("verdict".into(), json!("malformed"));
                    f.insert("message".into(), json!(e));
                }
                Ok(x) => {
                    let verdict = match r.exit() {
                        Exit::Pass if x.result.is_none() => "other build",
                        Exit::Pass => "ok",
                        Exit::Failed => "mismatch",
                        Exit::Budget => "budget exceeded",
                        Exit::Harness => "harness failure",
                        Exit::Malformed => "malformed",
                        Exit::Nondeterminism => "nondeterminism",
                        Exit::Environment => "environment",
                    };
                    f.insert("line".into(), json!(x.line));
                    if let Some(text) = &x.adhoc {
                        f.insert("run".into(), json!(text));
                    }
                    f.insert("driver".into(), json!(x.driver.name()));
                    f.insert("executions".into(), json!(x.executions));
                    f.insert("result".into(), json!(x.result_text()));
                    f.insert("expected".into(), json!(x.expect.to_string()));
                    f.insert("verdict".into(), json!(verdict));
                    let message = match (&x.result, &x.stop) {
                        (_, Some(st)) => Some(st.describe()),
                        (Some(Err(v)), _) => Some(v.to_string()),
                        _ => x.mismatches.first().cloned(),
                    };
                    if let Some(m) = message {
                        f.insert("message".into(), json!(m));
                    }
                    if times {
                        f.insert("seconds".into(), json!((x.seconds * 1000.0).round() / 1000.0));
                    }
                    if !x.matches() {
                        if let Some(t) = &r.token {
                            f.insert("replay".into(), json!(format!("cargo run --release -p wqsim -- replay {t}")));
                        }
                    }
                }
            }
            Value::Object(f)
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&json!({ "exit": exit.code(), "runs": runs })).unwrap_or_default();
    out.push('\n');
    out
}

/// The verdict table.
pub fn render_table(rows: &[CheckRow], times: bool) -> String {
    let w = rows.iter().map(|r| r.scenario.len()).max().unwrap_or(8).max(8);
    let mut s = String::new();
    let _ = write!(s, "{:<w$}  {:<8} {:>10}  {:<9} {:<8}", "scenario", "driver", "executions", "result", "expected");
    if times {
        s += "     time";
    }
    s += "  verdict\n";
    for r in rows {
        let x = match &r.result {
            Ok(x) => x,
            Err(_) => {
                let _ = write!(s, "{:<w$}  {:<8} {:>10}  {:<9} {:<8}", r.scenario, "-", 0, "malformed", "-");
                if times {
                    let _ = write!(s, " {:>7.2}s", 0.0);
                }
                let _ = writeln!(s, "  MALFORMED");
                continue;
            }
        };
        let verdict = match (&x.stop, &x.result, x.matches()) {
            (Some(crate::run::Stop::Harness(_)), ..) => "HARNESS FAILURE",
            (Some(crate::run::Stop::Budget(_)), ..) => "BUDGET EXCEEDED",
            (Some(crate::run::Stop::Malformed(_)), ..) => "MALFORMED",
            (None, None, _) if wqsim_model::sync::BACKEND == "loom" => "main build",
            (None, None, _) => "loom build",
            (None, _, true) => "ok",
            (None, _, false) => "MISMATCH",
        };
        let _ = write!(
            s,
            "{:<w$}  {:<8} {:>10}  {:<9} {:<8}",
            r.scenario,
            x.driver.name(),
            x.executions,
            x.result_text(),
            x.expect.to_string()
        );
        if times {
            let _ = write!(s, " {:>7.2}s", x.seconds);
        }
        let _ = writeln!(s, "  {verdict}");
    }
    let ran: Vec<&RunResult> = rows.iter().filter_map(|r| r.result.as_ref().ok()).collect();
    let malformed = rows.len() - ran.len();
    let skipped = ran.iter().filter(|r| r.result.is_none() && r.stop.is_none()).count();
    let stopped = |w: &str| ran.iter().filter(|r| r.stop.as_ref().is_some_and(|s| s.word() == w)).count();
    let (harness, budget, bad_schedule) = (stopped("harness"), stopped("budget"), stopped("malformed"));
    let mismatched = ran.iter().filter(|r| r.stop.is_none() && !r.matches()).count();
    let expected = ran.len() - skipped - harness - budget - bad_schedule - mismatched;
    let mut extra = String::new();
    for (n, what) in [(malformed + bad_schedule, "malformed"), (budget, "over budget"), (harness, "harness failures")] {
        if n > 0 {
            extra += &format!(", {n} {what}");
        }
    }
    // Runs of the other build are said plainly: which, why, and the
    // command that runs them (loom replaces the sync primitives at
    // compile time, so one binary cannot hold both).
    let _ = writeln!(
        s,
        "{} runs in {} scenarios: {} as expected, {} mismatched{extra}{}",
        ran.len() - skipped,
        rows.iter().map(|r| &r.scenario).collect::<std::collections::BTreeSet<_>>().len(),
        expected,
        mismatched,
        if skipped == 0 {
            String::new()
        } else if wqsim_model::sync::BACKEND == "loom" {
            format!(
                "; the other {skipped} runs (seq, random, pct, dfs, schedule) are the main build's: cargo run --profile explore -p wqsim -- check"
            )
        } else {
            format!(
                "; the {skipped} loom runs are the loom build's (loom swaps the model's locks and atomics at compile time): RUSTFLAGS=\"--cfg loom\" CARGO_TARGET_DIR=target/loom cargo run --profile explore -p wqsim -- check"
            )
        }
    );
    s
}
