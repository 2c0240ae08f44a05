//! Running scenarios: each `run` line under its driver, the sequential
//! transcript, verdicts, and replay tokens.
//!
//! A replay token pins the scenario file (path and content hash), the run
//! line and the schedule, by thread and kernel function:
//! `wq1:scenarios/w12.wq:5f0c...:14:pct:s2:1@post_one_notification*21.2@pipe_read*19`.
//! The same scenario, driver and seed give the same bytes on any machine.

use std::fmt::Write as _;

use wqsim_model::api::{End, FdRef, Op, Outcome};
use wqsim_model::oracle::Violation;

use crate::explore::Kind;
use crate::scenario::{Driver, Expect, RunSpec, Scenario};

/// One operation of a sequential run and what it returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub thread: String,
    pub op: Op,
    pub outcome: Outcome,
}

/// A sequential run: every operation in order (setup, then each thread to
/// its end), the reads' raw bytes as `watch_test.c` prints them, and the
/// first violation, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    pub lines: Vec<Line>,
    pub dump: String,
    pub violation: Option<Violation>,
    /// Operations whose outcome differs from their `=> ...`: where, what
    /// was expected, what came.
    pub mismatches: Vec<String>,
}

impl Transcript {
    /// The records read from each notification pipe, in order.
    pub fn record_streams(&self) -> Vec<(u8, Vec<String>)> {
        let mut out: Vec<(u8, Vec<String>)> = Vec::new();
        for l in &self.lines {
            if let (Op::Read { fd: FdRef::End(p, End::Read), .. }, Outcome::Records(recs)) = (&l.op, &l.outcome) {
                let i = match out.iter().position(|(q, _)| q == p) {
                    Some(i) => i,
                    None => {
                        out.push((*p, Vec::new()));
                        out.len() - 1
                    }
                };
                out[i].1.extend(recs.iter().map(|r| r.to_string()));
            }
        }
        out.sort_by_key(|(p, _)| *p);
        out
    }

    /// The transcript as text: one line per operation, the record stream
    /// of each queue, and the verdict.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let w = self.lines.iter().map(|l| l.thread.len()).max().unwrap_or(5).max(5);
        for l in &self.lines {
            let op = l.op.to_string();
            let _ = writeln!(s, "{:<w$}  {:<48} = {}", l.thread, op, outcome_text(&l.outcome));
        }
        let streams = self.record_streams();
        if !streams.is_empty() {
            s.push_str("records:\n");
            for (p, recs) in streams {
                let _ = writeln!(s, "  p{p}: {}", if recs.is_empty() { "(none)".to_string() } else { runs(&recs) });
            }
        }
        for m in &self.mismatches {
            let _ = writeln!(s, "outcome mismatch: {m}");
        }
        match &self.violation {
            None => s.push_str("verdict: holds\n"),
            Some(v) => {
                let _ = writeln!(s, "verdict: {v}");
            }
        }
        s
    }
}

/// An outcome as transcripts and `=> ...` expectations write it: the
/// model's form, with runs of one record written `N x RECORD`.
pub fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Records(r) if !r.is_empty() => {
            let recs: Vec<String> = r.iter().map(|c| c.to_string()).collect();
            format!("[{}]", runs(&recs))
        }
        o => o.to_string(),
    }
}

/// Records with runs of one record written `N x RECORD`.
fn runs(recs: &[String]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < recs.len() {
        let n = recs[i..].iter().take_while(|r| **r == recs[i]).count();
        out.push(if n > 1 { format!("{n} x {}", recs[i]) } else { recs[i].clone() });
        i += n;
    }
    out.join(", ")
}

/// Run the scenario sequentially with the configuration of `run` (or the
/// scenario's own, when `None`).
#[cfg(not(loom))]
pub fn transcript(sc: &Scenario, run: Option<&RunSpec>) -> Transcript {
    transcript_config(sc, sc.config(run))
}

/// Run the scenario sequentially with `config`.
#[cfg(not(loom))]
pub fn transcript_config(sc: &Scenario, config: wqsim_model::kernel::Config) -> Transcript {
    let mut steps: Vec<(String, crate::scenario::Step)> =
        sc.setup.iter().map(|s| ("setup".to_string(), s.clone())).collect();
    for t in &sc.threads {
        steps.extend(t.steps.iter().map(|s| (t.name.clone(), s.clone())));
    }
    let path = sc.path.clone();
    crate::explore::silenced(move || {
        wqsim_model::explore::shuttle_seq(move || {
            let mut r = wqsim_model::seq::SeqRun::new(config);
            let mut lines = Vec::new();
            let mut violation = None;
            let mut mismatches = Vec::new();
            for (thread, step) in steps {
                let op = step.op;
                match r.step(&op) {
                    Ok(outcome) => {
                        if let Some(want) = &step.expect {
                            let got = outcome_text(&outcome);
                            if &got != want {
                                mismatches
                                    .push(format!("{path}:{}: `{op}` returned {got}, expected {want}", step.line));
                            }
                        }
                        lines.push(Line { thread, op, outcome })
                    }
                    Err(v) => {
                        violation = Some(v);
                        break;
                    }
                }
            }
            if violation.is_none() {
                violation = r.finish().err();
            }
            let mut dump = String::new();
            for raw in &r.handles.raw_reads {
                dump += &wqsim_model::uapi::format_read(raw, &|s| r.handles.name_of(&r.kernel, s));
            }
            Transcript { lines, dump, violation, mismatches }
        })
    })
}

/// The outcome of one `run` line.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    pub driver: Driver,
    pub line: usize,
    pub executions: u64,
    /// `None`: this build cannot run the driver (loom in the shuttle build
    /// and the other way round).
    pub result: Option<Result<(), Violation>>,
    pub expect: Expect,
    /// The shuttle schedule of a failure (`s2:...`).
    pub schedule: Option<String>,
    pub seconds: f64,
    /// Outcomes that differ from their `=> ...` (sequential runs).
    pub mismatches: Vec<String>,
    /// Where a replayed schedule stopped fitting the scenario, if it did.
    pub note: Option<String>,
}

impl RunResult {
    /// Whether the result is what the scenario expects (a skipped run
    /// counts as matching; it runs in the other build).
    pub fn matches(&self) -> bool {
        if !self.mismatches.is_empty() {
            return false;
        }
        match (&self.result, self.expect) {
            (None, _) => true,
            (Some(Ok(())), Expect::Holds) => true,
            (Some(Err(v)), Expect::Violation(i)) => v.inv == i,
            _ => false,
        }
    }

    /// `holds`, the invariant, or `skipped`.
    pub fn result_text(&self) -> String {
        if !self.mismatches.is_empty() {
            return "outcome".into();
        }
        match &self.result {
            None => "skipped".into(),
            Some(Ok(())) => "holds".into(),
            Some(Err(v)) => v.inv.to_string(),
        }
    }

    /// The token that replays this run.
    pub fn token(&self, sc: &Scenario) -> String {
        format!(
            "wq1:{}:{:016x}:{}:{}:{}",
            sc.path,
            sc.hash,
            self.line,
            self.driver.name(),
            self.schedule.as_deref().unwrap_or("-")
        )
    }
}

/// A parsed replay token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub path: String,
    pub hash: u64,
    pub line: usize,
    pub driver: String,
    pub schedule: Option<String>,
}

/// Parse `wq1:PATH:HASH:LINE:DRIVER:SCHEDULE`.
pub fn parse_token(s: &str) -> Result<Token, String> {
    let bad = || {
        format!("malformed replay token {s:?}: expected wq1:PATH:HASH:LINE:DRIVER:SCHEDULE, as a failure printed it")
    };
    let rest = s.trim().strip_prefix("wq1:").ok_or_else(bad)?;
    let mut parts = rest.splitn(5, ':');
    let path = parts.next().filter(|p| !p.is_empty()).ok_or_else(bad)?.to_string();
    let hash = parts.next().and_then(|h| u64::from_str_radix(h, 16).ok()).ok_or_else(bad)?;
    let line = parts.next().and_then(|l| l.parse().ok()).ok_or_else(bad)?;
    let driver = parts.next().ok_or_else(bad)?.to_string();
    let schedule = parts.next().ok_or_else(bad)?;
    let schedule = (schedule != "-").then(|| schedule.to_string());
    Ok(Token { path, hash, line, driver, schedule })
}

/// Run one `run` line.
pub fn execute(sc: &Scenario, run: &RunSpec) -> RunResult {
    let start = std::time::Instant::now();
    result_of(run, start, backend::execute(sc, run))
}

/// A run's result from what its backend gave.
fn result_of(
    run: &RunSpec,
    start: std::time::Instant,
    (executions, result, schedule, mismatches, note): backend::Out,
) -> RunResult {
    RunResult {
        driver: run.driver,
        line: run.line,
        executions,
        result,
        expect: run.expect,
        schedule,
        seconds: start.elapsed().as_secs_f64(),
        mismatches,
        note,
    }
}

/// Re-run the run a token names, on the scenario as it is now. Returns the
/// result and the trace of the replayed execution.
pub fn replay(sc: &Scenario, tok: &Token) -> Result<RunResult, String> {
    let run = sc.runs.iter().find(|r| r.line == tok.line && r.driver.name() == tok.driver).ok_or_else(|| {
        format!(
            "{} has no `run {}` on line {}: the scenario changed since the token was printed",
            sc.path, tok.driver, tok.line
        )
    })?;
    let start = std::time::Instant::now();
    let out = match &tok.schedule {
        Some(s) => backend::replay_schedule(sc, run, s)?,
        None => backend::execute(sc, run),
    };
    Ok(result_of(run, start, out))
}

/// The report of a run that did not match its expectation: what happened,
/// the token and the command that replay it, and the timeline of the
/// failing execution (from the latest trace on this thread).
pub fn failure_report(sc: &Scenario, r: &RunResult) -> String {
    let mut s = String::new();
    let _ =
        writeln!(s, "{}:{}: run {} expected {}, got {}", sc.path, r.line, r.driver.name(), r.expect, r.result_text());
    if let Some(Err(v)) = &r.result {
        let _ = writeln!(s, "  {v}");
    }
    for m in &r.mismatches {
        let _ = writeln!(s, "  {m}");
    }
    if let Some(n) = &r.note {
        let _ = writeln!(s, "  note: {n}");
    }
    let tok = r.token(sc);
    let _ = writeln!(s, "  replay: cargo run --release -p wqsim -- replay {tok}");
    if let Some(trace) = wqsim_model::conc::last_trace() {
        let _ = writeln!(s, "\ntimeline:");
        s += &crate::timeline::render(&sc.program(None), &trace.events_by_thread());
        if let Some(Err(v)) = &r.result {
            let _ = writeln!(s, "  -> {v}");
        }
    }
    s
}

#[cfg(not(loom))]
mod backend {
    use super::*;
    use crate::explore::silenced;
    use wqsim_model::explore::{Directive, shuttle_dfs, shuttle_directed, shuttle_pct, shuttle_random, shuttle_replay};

    /// Executions, result (`None`: not this build's driver), schedule,
    /// outcome mismatches, replay note.
    pub type Out = (u64, Option<Result<(), Violation>>, Option<String>, Vec<String>, Option<String>);

    pub fn execute(sc: &Scenario, run: &RunSpec) -> Out {
        let p = sc.program(Some(run));
        let iterations = if p.actors.is_empty() { 1 } else { run.iterations };
        // One thread has one schedule, and PCT refuses a test without
        // concurrency: run it once under the random scheduler.
        let driver = if p.actors.is_empty() && run.driver != Driver::Explorer(Kind::Seq) {
            Driver::Explorer(Kind::Random)
        } else {
            run.driver
        };
        let e = match driver {
            Driver::Explorer(Kind::Seq) => {
                let t = super::transcript(sc, Some(run));
                return (1, Some(t.violation.map_or(Ok(()), Err)), None, t.mismatches, None);
            }
            Driver::Explorer(Kind::Loom) => return (0, None, None, vec![], None),
            Driver::Explorer(Kind::Random) => silenced(|| shuttle_random(&p, run.seed, iterations)),
            Driver::Explorer(Kind::Pct) => silenced(|| shuttle_pct(&p, run.seed, iterations, run.depth)),
            Driver::Explorer(Kind::Dfs) => silenced(|| shuttle_dfs(&p, iterations)),
            Driver::Schedule => {
                let dirs = directives(sc);
                silenced(|| shuttle_directed(&p, dirs))
            }
        };
        (e.executions, Some(e.result), e.schedule, vec![], None)
    }

    pub fn replay_schedule(sc: &Scenario, run: &RunSpec, schedule: &str) -> Result<Out, String> {
        let p = sc.program(Some(run));
        let e = silenced(|| shuttle_replay(&p, schedule))
            .ok_or_else(|| format!("malformed schedule {schedule:?} in the token"))?;
        Ok((e.executions, Some(e.result), e.schedule, vec![], e.note))
    }

    fn directives(sc: &Scenario) -> Vec<Directive> {
        sc.schedule
            .iter()
            .flatten()
            .map(|d| {
                let i = sc.threads.iter().position(|t| t.name == d.thread).unwrap_or(0);
                Directive { tid: wqsim_model::conc::actor_tid(i), until: d.until.clone() }
            })
            .collect()
    }
}

#[cfg(loom)]
mod backend {
    use super::*;

    /// Executions, result (`None`: not this build's driver), schedule,
    /// outcome mismatches, replay note.
    pub type Out = (u64, Option<Result<(), Violation>>, Option<String>, Vec<String>, Option<String>);

    pub fn execute(sc: &Scenario, run: &RunSpec) -> Out {
        if run.driver != Driver::Explorer(Kind::Loom) {
            return (0, None, None, vec![], None);
        }
        let p = sc.program(Some(run));
        let e = wqsim_model::explore::loom(&p, run.preemptions.unwrap_or(3), 20_000);
        (e.executions, Some(e.result), None, vec![], None)
    }

    pub fn replay_schedule(_sc: &Scenario, _run: &RunSpec, _schedule: &str) -> Result<Out, String> {
        Err("schedules replay in the shuttle build: cargo run --release -p wqsim -- replay TOKEN".into())
    }
}
