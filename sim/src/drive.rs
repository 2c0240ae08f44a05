//! Driving scenarios as the commands do: check (and explore, which is
//! check with its own run), run, replay, minimize, trace, dump. Each
//! returns its output as text and its exit status, so tests can hold the
//! exact bytes; the commands (`cmd/`) print them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::exit::Exit;
use crate::explore::Kind;
use crate::render::render_table;
use crate::run::{RunResult, execute, failure_report, parse_token, replay};
use crate::scenario::{Driver, Scenario, load};

/// One row of `check`'s table: a run's result, or a file that could not
/// be read or parsed (its error).
#[derive(Clone, Debug)]
pub struct CheckRow {
    pub scenario: String,
    pub result: Result<RunResult, String>,
    /// The token that replays the run.
    pub token: Option<String>,
}

impl CheckRow {
    /// The exit status this row asks for.
    pub fn exit(&self) -> Exit {
        match &self.result {
            Err(_) => Exit::Malformed,
            Ok(r) => match &r.stop {
                Some(crate::run::Stop::Harness(_)) => Exit::Harness,
                Some(crate::run::Stop::Malformed(_)) => Exit::Malformed,
                Some(crate::run::Stop::Budget(_)) => Exit::Budget,
                None if r.matches() => Exit::Pass,
                None => Exit::Failed,
            },
        }
    }
}

/// Shard `index` of `count` (1-based) of `files`: every `count`th file
/// from the `index`th, in the order given (`collect` sorts by path), so
/// the shards of one run never overlap and together cover every file.
pub fn shard<T>(files: Vec<T>, index: usize, count: usize) -> Vec<T> {
    files.into_iter().enumerate().filter(|(i, _)| i % count == index - 1).map(|(_, f)| f).collect()
}

/// `wqsim check`: every run line of every scenario. Returns the table
/// (with a report per failure after it) and the exit status. A file that
/// does not parse, a run that exceeds its budget and a harness failure
/// each get their row and report, and the other scenarios still run.
pub fn check(files: &[PathBuf], times: bool, progress: impl FnMut(usize, usize, &str)) -> (String, Exit) {
    let (rows, reports, exit) = check_rows(files, progress);
    let mut s = render_table(&rows, times);
    s += &reports;
    (s, exit)
}

/// The work of [`check`]: every row, the failure reports, the exit status.
pub fn check_rows(files: &[PathBuf], progress: impl FnMut(usize, usize, &str)) -> (Vec<CheckRow>, String, Exit) {
    check_loaded(files.iter().map(|f| (f.display().to_string(), load(f))).collect(), progress)
}

/// [`check_rows`] on scenarios already loaded (each with the name of its
/// file), as `explore` gives them with its own run in place of theirs.
pub fn check_loaded(
    loaded: Vec<(String, Result<Scenario, Error>)>,
    mut progress: impl FnMut(usize, usize, &str),
) -> (Vec<CheckRow>, String, Exit) {
    let mut rows = Vec::new();
    let mut reports = String::new();
    let total: usize = loaded.iter().filter_map(|(_, s)| s.as_ref().ok()).map(|s| s.runs.len()).sum();
    let mut done = 0;
    for (f, sc) in &loaded {
        let sc = match sc {
            Ok(sc) => sc,
            Err(e) => {
                reports += &format!("\n{}\n", e.message);
                rows.push(CheckRow { scenario: f.clone(), result: Err(e.message.clone()), token: None });
                continue;
            }
        };
        for run in &sc.runs {
            if matches!(
                run.driver,
                Driver::Explorer(Kind::Seq | Kind::Random | Kind::Pct | Kind::Dfs) | Driver::Schedule
            ) {
                wqsim_model::conc::set_detail(false);
            }
            progress(done, total, &format!("{}:{} {}", sc.path, run.line, run.driver.name()));
            let (r, report) = execute_reported(sc, run);
            if let Some(report) = report {
                reports += "\n";
                reports += &report;
            }
            done += 1;
            progress(done, total, &sc.path);
            let token = Some(r.token(sc));
            rows.push(CheckRow { scenario: sc.path.clone(), result: Ok(r), token });
        }
    }
    let exit = rows.iter().map(CheckRow::exit).fold(Exit::Pass, Exit::worst);
    (rows, reports, exit)
}

/// Run `run` of `sc`; when it does not match its expectation, also its
/// failure report, with the timeline of the failing execution (replayed
/// with lock events on).
pub fn execute_reported(sc: &Scenario, run: &crate::scenario::RunSpec) -> (RunResult, Option<String>) {
    let mut r = execute(sc, run);
    if r.matches() {
        return (r, None);
    }
    if r.stop.is_none() {
        wqsim_model::conc::set_detail(true);
        if let Ok(tok) = crate::run::parse_token(&r.token(sc)) {
            if let Ok(again) = replay(sc, &tok) {
                r.schedule = again.schedule.or(r.schedule);
            }
        }
    }
    let report = failure_report(sc, &r);
    wqsim_model::conc::set_detail(false);
    (r, Some(report))
}

/// `wqsim run FILE`: the sequential transcript (every operation and what
/// it returned, the record stream of each queue, the verdict), then each
/// `run` line's result, or only the runs of `driver`.
#[cfg(not(loom))]
pub fn run_file(path: &Path, driver: Option<&str>, seed: Option<u64>) -> Result<(String, Exit), Error> {
    let sc = load(path)?;
    let mut s = String::new();
    let mut exit = Exit::Pass;
    if driver.is_none() || driver == Some("seq") {
        let t = crate::run::transcript(&sc, None);
        s += &t.render();
    }
    let mut any = false;
    for run in &sc.runs {
        if driver.is_some_and(|d| d != run.driver.name()) {
            continue;
        }
        any = true;
        let mut run = run.clone();
        if let Some(seed) = seed {
            run.seed = seed;
        }
        let r = execute(&sc, &run);
        let _ = writeln!(
            s,
            "run {} (line {}): {} after {} execution(s), expected {}: {}",
            run.driver.name(),
            run.line,
            r.result_text(),
            r.executions,
            run.expect,
            if r.result.is_none() && r.stop.is_none() {
                "for the other build"
            } else if r.matches() {
                "ok"
            } else {
                "MISMATCH"
            }
        );
        if let Some(Err(v)) = &r.result {
            let _ = writeln!(s, "  {v}");
        }
        if let Some(st) = &r.stop {
            for l in st.describe().lines() {
                let _ = writeln!(s, "  {l}");
            }
        }
        if !r.matches() && r.result.is_some() || r.stop.is_some() {
            let _ = writeln!(s, "  replay: cargo run --release -p wqsim -- replay {}", r.token(&sc));
        }
        exit = exit.worst(crate::drive::CheckRow { scenario: String::new(), result: Ok(r), token: None }.exit());
    }
    if let Some(d) = driver {
        if !any {
            let names: Vec<&str> = sc.runs.iter().map(|r| r.driver.name()).collect();
            if d != "seq" {
                return Err(Error::malformed(format!(
                    "{} has no `run {d}` line; its runs: {}",
                    sc.path,
                    names.join(", ")
                )));
            }
        }
    }
    Ok((s, exit))
}

/// `wqsim replay TOKEN`: re-run what a token names and print the same
/// report a failure printed. Returns the report and the exit status:
/// `Failed` when it reproduced (the result differs from the expectation,
/// as when the token was made), `Pass` when it did not, and
/// `Nondeterminism` when the replay left its recorded schedule (a
/// truncated or stale token), unless `allow_divergence`.
pub fn replay_token(token: &str, allow_divergence: bool) -> Result<(String, Exit), Error> {
    let tok = parse_token(token).map_err(Error::malformed)?;
    let sc = load(Path::new(&tok.path))?;
    let mut s = String::new();
    if sc.hash != tok.hash {
        let _ = writeln!(
            s,
            "note: {} changed since the token was printed (hash {:016x}, token {:016x}); replaying {}",
            sc.path,
            sc.hash,
            tok.hash,
            match &tok.run {
                crate::run::TokenRun::Line(l) => format!("the run on line {l}"),
                crate::run::TokenRun::Adhoc(t) => format!("`{t}`"),
            }
        );
    }
    wqsim_model::conc::set_detail(true);
    let r = replay(&sc, &tok).map_err(Error::malformed)?;
    s += &failure_report(&sc, &r);
    let mut exit = crate::drive::CheckRow { scenario: String::new(), result: Ok(r.clone()), token: None }.exit();
    if r.note.is_some() && !allow_divergence {
        let _ = writeln!(
            s,
            "wqsim: the replay left its recorded schedule (see the note above): the token does not replay this run exactly; \
             rerun with --allow-divergence to accept the run as it went"
        );
        exit = exit.worst(Exit::Nondeterminism);
    }
    Ok((s, exit))
}

/// `wqsim trace FILE`: the timeline of one run of the scenario: under its
/// explicit schedule if it has one, else sequentially (each thread runs to
/// its end, in order).
#[cfg(not(loom))]
pub fn trace_file(path: &Path) -> Result<(String, Vec<(u32, wqsim_model::trace::Event)>), Error> {
    let sc = load(path)?;
    wqsim_model::conc::set_detail(true);
    let driver = if sc.schedule.is_some() { Driver::Schedule } else { Driver::Explorer(Kind::Seq) };
    let run = crate::scenario::RunSpec {
        iterations: 1,
        ..crate::scenario::run_line(driver, vec![], crate::scenario::Expect::Holds)
    };
    let p = sc.program(None);
    let result = match run.driver {
        Driver::Schedule => {
            let r = execute(&sc, &run);
            match (&r.result, &r.stop) {
                (Some(Err(v)), _) => v.to_string(),
                (_, Some(st)) => st.describe(),
                _ => r.result_text(),
            }
        }
        _ => {
            let p2 = p.clone();
            let r = crate::explore::silenced(|| {
                wqsim_model::explore::catch_report(move || {
                    wqsim_model::explore::shuttle_seq(move || {
                        wqsim_model::conc::run(&p2);
                    })
                })
            });
            match r {
                Ok(()) => "holds".into(),
                Err(v) => v.to_string(),
            }
        }
    };
    let events = wqsim_model::conc::last_trace().map(|t| t.events_by_thread()).unwrap_or_default();
    let mut s = crate::timeline::render(&p, &events);
    let _ = writeln!(s, "verdict: {result}");
    Ok((s, events))
}

/// `wqsim dump FILE`: the records the scenario's reads returned, as
/// `samples/watch_queue/watch_test.c` prints them (key serials named).
#[cfg(not(loom))]
pub fn dump_file(path: &Path) -> Result<String, Error> {
    let sc = load(path)?;
    Ok(crate::run::transcript(&sc, None).dump)
}

/// `wqsim minimize FILE`: the smallest scenario (fewest operations and
/// threads, then the lowest PCT depth) whose first violation-expecting run
/// still gives that violation. Returns the scenario text and a summary.
#[cfg(not(loom))]
pub fn minimize(path: &Path) -> Result<(String, String), Error> {
    let sc = load(path)?;
    let (out, summary) = crate::minimize::minimize_scenario(&sc).map_err(Error::malformed)?;
    Ok((out.to_text(), summary))
}
