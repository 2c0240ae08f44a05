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
use crate::scenario::{Driver, Expect, RunLimits, RunSpec, Scenario};

/// One operation of a sequential run and what it returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub thread: String,
    pub op: Op,
    pub outcome: Outcome,
    /// The scenario's `=> ...` for this operation, with its line number.
    pub expect: Option<(usize, String)>,
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
    /// The budget that stopped the run before its end, if one did.
    pub budget: Option<String>,
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
            None if self.budget.is_some() => {
                let _ = writeln!(s, "verdict: budget exceeded: {}", self.budget.as_deref().unwrap_or(""));
            }
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

/// Run the scenario sequentially with `config`: the setup, then the
/// threads as one CPU runs them without preemption (a call that would
/// sleep waits for the others; see [`wqsim_model::seq::run_threads`]).
#[cfg(not(loom))]
pub fn transcript_config(sc: &Scenario, config: wqsim_model::kernel::Config) -> Transcript {
    transcript_with(sc, config, true)
}

/// [`transcript_config`] without the oracle: only the model's own checks
/// (heap reports, assertions) end the run. What userspace sees of a kernel
/// that breaks an oracle invariant, as the real-kernel comparison needs.
#[cfg(not(loom))]
pub fn transcript_unchecked(sc: &Scenario, config: wqsim_model::kernel::Config) -> Transcript {
    transcript_with(sc, config, false)
}

#[cfg(not(loom))]
fn transcript_with(sc: &Scenario, config: wqsim_model::kernel::Config, checked: bool) -> Transcript {
    let setup: Vec<crate::scenario::Step> = sc.setup.clone();
    let threads: Vec<crate::scenario::Thread> = sc.threads.clone();
    let path = sc.path.clone();
    let deadline = wqsim_model::explore::Deadline::start();
    crate::explore::silenced(move || {
        wqsim_model::explore::shuttle_seq(move || {
            let mut r = if checked {
                wqsim_model::seq::SeqRun::new(config)
            } else {
                wqsim_model::seq::SeqRun::unchecked(config)
            };
            let mut lines = Vec::new();
            let mut mismatches = Vec::new();
            let setup_ops: Vec<Op> = setup.iter().map(|s| s.op.clone()).collect();
            let seq_threads: Vec<wqsim_model::seq::SeqThread> = threads
                .iter()
                .map(|t| wqsim_model::seq::SeqThread {
                    name: t.name.clone(),
                    may_block: t.blocking,
                    ops: t.steps.iter().map(|s| s.op.clone()).collect(),
                })
                .collect();
            let result = wqsim_model::seq::run_threads(&mut r, &setup_ops, &seq_threads, |ti, k, op, outcome| {
                let (thread, step) = match ti {
                    None => ("setup".to_string(), &setup[k]),
                    Some(i) => (threads[i].name.clone(), &threads[i].steps[k]),
                };
                if let Some(want) = &step.expect {
                    let got = outcome_text(outcome);
                    if &got != want {
                        mismatches.push(format!("{path}:{}: `{op}` returned {got}, expected {want}", step.line));
                    }
                }
                let expect = step.expect.clone().map(|w| (step.line, w));
                lines.push(Line { thread, op: op.clone(), outcome: outcome.clone(), expect });
                if lines.len().is_multiple_of(64) { deadline.exceeded() } else { None }
            });
            let (mut violation, budget) = match result {
                Ok(b) => (None, b),
                Err(v) => (Some(v), None),
            };
            if violation.is_none() && budget.is_none() {
                violation = r.finish().err();
            }
            let mut dump = String::new();
            for raw in &r.handles.raw_reads {
                dump += &wqsim_model::uapi::format_read(raw, &|s| r.handles.name_of(&r.kernel, s));
            }
            Transcript { lines, dump, violation, mismatches, budget }
        })
    })
}

/// The outcome of one `run` line.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    pub driver: Driver,
    /// The `run` line's line number; 0 for a run given on the command line
    /// (`explore`, `matrix`), whose line is then [`RunResult::adhoc`].
    pub line: usize,
    /// The `run` line of a run given on the command line, as a scenario
    /// would write it (its replay token carries it).
    pub adhoc: Option<String>,
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
    /// Why the run ended without a verdict, if it did.
    pub stop: Option<Stop>,
}

/// How a run can end without a verdict on the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A budget ran out first (what was exceeded, and the limit).
    Budget(String),
    /// The harness itself failed: a panic that is not a check of the
    /// model (its message and where it was raised).
    Harness(String),
    /// The scenario asked for something the run showed impossible (an
    /// `until` its thread never reaches): a positioned error.
    Malformed(String),
}

impl Stop {
    /// The result column's word.
    pub fn word(&self) -> &'static str {
        match self {
            Stop::Budget(_) => "budget",
            Stop::Harness(_) => "harness",
            Stop::Malformed(_) => "malformed",
        }
    }

    /// One line: what ended the run.
    pub fn describe(&self) -> String {
        match self {
            Stop::Budget(b) => format!("budget exceeded: {b}"),
            Stop::Harness(m) => format!("harness failure: {m}"),
            Stop::Malformed(m) => m.clone(),
        }
    }
}

impl RunResult {
    /// Whether the result is what the scenario expects (a skipped run
    /// counts as matching; it runs in the other build).
    pub fn matches(&self) -> bool {
        if !self.mismatches.is_empty() || self.stop.is_some() {
            return false;
        }
        match (&self.result, self.expect) {
            (None, _) => true,
            (Some(Ok(())), Expect::Holds) => true,
            (Some(Err(v)), Expect::Violation(i)) => v.inv == i,
            _ => false,
        }
    }

    /// `holds`, the invariant, why the run stopped, or `-` (the run is
    /// the other build's).
    pub fn result_text(&self) -> String {
        if let Some(st) = &self.stop {
            return st.word().into();
        }
        if !self.mismatches.is_empty() {
            return "outcome".into();
        }
        match &self.result {
            None => "-".into(),
            Some(Ok(())) => "holds".into(),
            Some(Err(v)) => v.inv.to_string(),
        }
    }

    /// The token that replays this run.
    pub fn token(&self, sc: &Scenario) -> String {
        let run = match &self.adhoc {
            Some(text) => format!("~{}", text.strip_prefix("run ").unwrap_or(text).replace(' ', "+")),
            None => self.line.to_string(),
        };
        format!(
            "wq1:{}:{:016x}:{run}:{}:{}",
            encode_path(&sc.path),
            sc.hash,
            self.driver.name(),
            self.schedule.as_deref().unwrap_or("-")
        )
    }
}

/// Which run a token replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRun {
    /// The `run` line on this line of the file.
    Line(usize),
    /// A run given on the command line (`explore`, `matrix`): its `run`
    /// line, as a scenario would write it. The token writes it after a
    /// `~`, without `run`, spaces as `+` (`~pct+seed=2+expect+holds`).
    Adhoc(String),
}

/// A parsed replay token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub path: String,
    pub hash: u64,
    pub run: TokenRun,
    pub driver: String,
    pub schedule: Option<String>,
}

/// A path as a token holds it: `%` and `:` (the field separator) and
/// whitespace and control characters percent-encoded, so any path
/// survives the round trip.
pub fn encode_path(p: &str) -> String {
    let mut out = String::new();
    for c in p.chars() {
        if c == '%' || c == ':' || c.is_whitespace() || c.is_control() {
            let mut b = [0u8; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                out += &format!("%{byte:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The inverse of [`encode_path`]; `None` for a malformed escape.
pub fn decode_path(p: &str) -> Option<String> {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = p.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parse `wq1:PATH:HASH:LINE:DRIVER:SCHEDULE`.
pub fn parse_token(s: &str) -> Result<Token, String> {
    let bad = || {
        format!("malformed replay token {s:?}: expected wq1:PATH:HASH:LINE:DRIVER:SCHEDULE, as a failure printed it")
    };
    let rest = s.trim().strip_prefix("wq1:").ok_or_else(bad)?;
    let mut parts = rest.splitn(5, ':');
    let path = parts.next().filter(|p| !p.is_empty()).and_then(decode_path).ok_or_else(bad)?;
    let hash = parts.next().and_then(|h| u64::from_str_radix(h, 16).ok()).ok_or_else(bad)?;
    let run = match parts.next().ok_or_else(bad)? {
        l if l.starts_with('~') && l.len() > 1 => TokenRun::Adhoc(format!("run {}", l[1..].replace('+', " "))),
        l => TokenRun::Line(l.parse().map_err(|_| bad())?),
    };
    let driver = parts.next().ok_or_else(bad)?.to_string();
    let schedule = parts.next().ok_or_else(bad)?;
    if schedule.is_empty() || (schedule != "-" && !schedule.starts_with("s2:")) {
        return Err(format!("{}: its schedule field {schedule:?} is not `-` or an `s2:...` schedule", bad()));
    }
    let schedule = (schedule != "-").then(|| schedule.to_string());
    Ok(Token { path, hash, run, driver, schedule })
}

/// The budgets a run gets when its line sets none (see
/// [`crate::scenario::RunLimits`]): the model explorer's step limit, no
/// time or memory limit. Commands set their own with
/// [`set_default_limits`].
pub const DEFAULT_LIMITS: RunLimits = RunLimits { steps_max: None, time_limit_ms: None, memory_limit_mib: None };

std::thread_local! {
    static DEFAULTS: std::cell::Cell<RunLimits> = const { std::cell::Cell::new(DEFAULT_LIMITS) };
}

/// The budgets of runs whose line sets none, on this thread.
pub fn set_default_limits(l: RunLimits) {
    DEFAULTS.with(|d| d.set(l));
}

/// The budgets `run` gets: its own, then the defaults.
pub fn limits_of(run: &RunSpec) -> RunLimits {
    run.limits.or(DEFAULTS.with(|d| d.get()))
}

/// Run `f` as one run: a budget stop and a harness panic become a
/// [`Stop`], never the end of the process.
fn guarded(run: &RunSpec, f: impl FnOnce() -> backend::Out) -> backend::Out {
    wqsim_model::explore::set_limits(limits_of(run).model());
    let mut out = None;
    let r = wqsim_model::oracle::catch_panic(|| out = Some(f()));
    match (r, out) {
        (Ok(()), Some(o)) => o,
        (Err(msg), _) => {
            let stop = match wqsim_model::explore::budget_of(&msg) {
                Some(b) => Stop::Budget(b),
                None => {
                    let at =
                        wqsim_model::oracle::last_panic_location().map(|l| format!(" (at {l})")).unwrap_or_default();
                    Stop::Harness(format!("{}{at}", msg.lines().next().unwrap_or("a panic without a message")))
                }
            };
            backend::Out { stop: Some(stop), ..Default::default() }
        }
        (Ok(()), None) => {
            backend::Out { stop: Some(Stop::Harness("the run returned nothing".into())), ..Default::default() }
        }
    }
}

/// Run one `run` line.
pub fn execute(sc: &Scenario, run: &RunSpec) -> RunResult {
    let start = std::time::Instant::now();
    result_of(run, start, guarded(run, || backend::execute(sc, run)))
}

/// A run's result from what its backend gave.
fn result_of(run: &RunSpec, start: std::time::Instant, o: backend::Out) -> RunResult {
    RunResult {
        driver: run.driver,
        line: run.line,
        adhoc: (run.line == 0).then(|| crate::scenario::run_line_text(run)),
        executions: o.executions,
        result: if o.stop.is_some() { None } else { o.result },
        expect: run.expect,
        schedule: o.schedule,
        seconds: start.elapsed().as_secs_f64(),
        mismatches: o.mismatches,
        note: o.note,
        stop: o.stop,
    }
}

/// Re-run the run a token names, on the scenario as it is now. Returns the
/// result and the trace of the replayed execution.
pub fn replay(sc: &Scenario, tok: &Token) -> Result<RunResult, String> {
    let adhoc;
    let run = match &tok.run {
        TokenRun::Line(line) => {
            sc.runs.iter().find(|r| r.line == *line && r.driver.name() == tok.driver).ok_or_else(|| {
                format!(
                    "{} has no `run {}` on line {line}: the scenario changed since the token was printed",
                    sc.path, tok.driver
                )
            })?
        }
        TokenRun::Adhoc(text) => {
            adhoc = crate::scenario::parse_run_text(text)
                .map_err(|e| format!("the token's run `{text}` does not parse: {}", e.message))?;
            if adhoc.driver.name() != tok.driver {
                return Err(format!("the token's run `{text}` is not a `{}` run", tok.driver));
            }
            &adhoc
        }
    };
    let start = std::time::Instant::now();
    let mut err = None;
    let out = guarded(run, || match &tok.schedule {
        Some(s) => backend::replay_schedule(sc, run, s).unwrap_or_else(|e| {
            err = Some(e);
            backend::Out::default()
        }),
        None => backend::execute(sc, run),
    });
    if let Some(e) = err {
        return Err(e);
    }
    Ok(result_of(run, start, out))
}

/// The report of a run that did not match its expectation: what happened,
/// the timeline of the failing execution (from the latest trace on this
/// thread), and last the command that replays it.
pub fn failure_report(sc: &Scenario, r: &RunResult) -> String {
    let mut s = String::new();
    match &r.adhoc {
        Some(text) => {
            let _ = writeln!(s, "{}: `{text}` (given on the command line) got {}", sc.path, r.result_text());
        }
        None => {
            let _ = writeln!(
                s,
                "{}:{}: run {} expected {}, got {}",
                sc.path,
                r.line,
                r.driver.name(),
                r.expect,
                r.result_text()
            );
        }
    }
    if let Some(Err(v)) = &r.result {
        let _ = writeln!(s, "  {v}");
    }
    if let Some(st) = &r.stop {
        for l in st.describe().lines() {
            let _ = writeln!(s, "  {l}");
        }
    }
    for m in &r.mismatches {
        let _ = writeln!(s, "  {m}");
    }
    if let Some(n) = &r.note {
        let _ = writeln!(s, "  note: {n}");
    }
    if let Some(trace) = wqsim_model::conc::last_trace() {
        let _ = writeln!(s, "\ntimeline:");
        s += &crate::timeline::render(&sc.program(None), &trace.events_by_thread());
        if let Some(Err(v)) = &r.result {
            let _ = writeln!(s, "  -> {v}");
        }
    }
    // The last line is always the command that replays it.
    let _ = writeln!(s, "replay:\n  cargo run --release -p wqsim -- replay {}", r.token(sc));
    s
}

/// What a backend gives for one run.
#[derive(Default)]
pub struct Out {
    pub executions: u64,
    /// `None`: this build cannot run the driver (loom in the shuttle
    /// build and the other way round), or the run stopped.
    pub result: Option<Result<(), Violation>>,
    pub schedule: Option<String>,
    /// Outcome mismatches (sequential runs).
    pub mismatches: Vec<String>,
    /// A replay's note.
    pub note: Option<String>,
    pub stop: Option<Stop>,
}

#[cfg(not(loom))]
mod backend {
    use super::*;
    use crate::explore::silenced;
    use wqsim_model::explore::{
        Directive, Exploration, shuttle_dfs, shuttle_directed_checked, shuttle_pct, shuttle_random, shuttle_replay,
    };

    pub use super::Out;

    fn of(e: Exploration) -> Out {
        Out {
            executions: e.executions,
            result: Some(e.result),
            schedule: e.schedule,
            mismatches: vec![],
            note: e.note,
            stop: e.budget.map(Stop::Budget),
        }
    }

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
                return Out {
                    executions: 1,
                    result: Some(t.violation.map_or(Ok(()), Err)),
                    mismatches: t.mismatches,
                    stop: t.budget.map(Stop::Budget),
                    ..Default::default()
                };
            }
            Driver::Explorer(Kind::Loom) => return Out::default(),
            Driver::Explorer(Kind::Random) => silenced(|| shuttle_random(&p, run.seed, iterations)),
            Driver::Explorer(Kind::Pct) => silenced(|| shuttle_pct(&p, run.seed, iterations, run.depth)),
            Driver::Explorer(Kind::Dfs) => silenced(|| shuttle_dfs(&p, iterations)),
            Driver::Schedule => {
                let dirs = directives(sc);
                let (e, unreached) = silenced(|| shuttle_directed_checked(&p, dirs));
                let mut o = of(e);
                if o.stop.is_none() && matches!(o.result, Some(Ok(()))) {
                    if let Some((i, names)) = unreached.first() {
                        o.stop = Some(Stop::Malformed(unreached_error(sc, *i, names)));
                    }
                }
                return o;
            }
        };
        of(e)
    }

    /// The positioned error for a schedule directive whose `until` its
    /// thread never reached.
    fn unreached_error(sc: &Scenario, i: usize, names: &[&'static str]) -> String {
        let Some(d) = sc.schedule.as_ref().and_then(|s| s.get(i)) else {
            return "a schedule directive was never reached".into();
        };
        let until = d.until.clone().unwrap_or_default();
        let near = crate::scenario::closest_name(&until, names);
        let hint = match near {
            Some(n) => format!("did you mean `{n}`? thread {} reached: {}", d.thread, names.join(", ")),
            None => format!("thread {} reached: {}", d.thread, names.join(", ")),
        };
        crate::scenario::positioned(
            sc,
            d.line,
            &until,
            format!("thread `{}` never reaches `{until}` in this run, so the directive cannot stop it there", d.thread),
            hint,
        )
    }

    pub fn replay_schedule(sc: &Scenario, run: &RunSpec, schedule: &str) -> Result<Out, String> {
        let p = sc.program(Some(run));
        let e = silenced(|| shuttle_replay(&p, schedule))
            .ok_or_else(|| format!("malformed schedule {schedule:?} in the token"))?;
        Ok(of(e))
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

    pub use super::Out;

    pub fn execute(sc: &Scenario, run: &RunSpec) -> Out {
        if run.driver != Driver::Explorer(Kind::Loom) {
            return Out::default();
        }
        let p = sc.program(Some(run));
        let e = wqsim_model::explore::loom(&p, run.preemptions.unwrap_or(3), 20_000);
        Out { executions: e.executions, result: Some(e.result), stop: e.budget.map(Stop::Budget), ..Default::default() }
    }

    pub fn replay_schedule(_sc: &Scenario, _run: &RunSpec, _schedule: &str) -> Result<Out, String> {
        Err("schedules replay in the shuttle build: cargo run --release -p wqsim -- replay TOKEN".into())
    }
}
