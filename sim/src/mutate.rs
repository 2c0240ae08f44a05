//! The mutation sweep: how much of a bug nobody has written yet the
//! scenarios would catch. Every mutant is a site the model names
//! ([`wqsim_model::sync::mutation`]): an operator (skip a lock, relax a
//! release, drop a wake-up, ...) at one kernel function and object.
//!
//! 1. A census runs every scenario once with recording on and lists the
//!    sites each one reaches: the mutants are exactly the sites the model
//!    reaches, enumerated from the model itself.
//! 2. Each mutant is switched on at run time (no rebuild) and the
//!    scenarios that reach its site run their `run` lines, cheapest first
//!    (the sequential and scheduled runs, then the explorers), until one
//!    gives other than it expects: the mutant is killed by that scenario,
//!    driver and result. A run that ran out of its budget also kills it
//!    (the suite would fail on it). A mutant no run tells apart survives.
//! 3. The report (`docs/mutation.md`) scores each operator and kernel
//!    function and lists every survivor with its triage
//!    (`docs/mutation-triage.tsv`): equivalent, and why, or a blind spot,
//!    and what closes it.
//!
//! A scenario that never reaches a site cannot tell its mutant apart
//! (runs are deterministic and the census reaches every site a sequential
//! or one random schedule does), so it is not run for that mutant.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use wqsim_model::sync::mutation::{self, Operator, Site};

use crate::explore::Kind;
use crate::run::{RunResult, execute};
use crate::scenario::{Driver, Scenario};

/// What the census found: every site, and the scenarios (by index) that
/// reach it.
#[derive(Clone, Debug, Default)]
pub struct Census {
    pub sites: BTreeMap<Site, Vec<usize>>,
}

/// Run every scenario once with recording on: its sequential transcript,
/// and (with threads) a few random schedules, which reach the sleeping and
/// waking paths a sequential run skips. In the loom build, its loom
/// exploration without preemptions.
pub fn census(scenarios: &[Scenario]) -> Census {
    let mut c = Census::default();
    for (i, sc) in scenarios.iter().enumerate() {
        mutation::start_census();
        reach(sc);
        for site in mutation::finish_census() {
            c.sites.entry(site).or_default().push(i);
        }
    }
    c
}

#[cfg(not(loom))]
fn reach(sc: &Scenario) {
    let _ = crate::run::transcript(sc, None);
    if !sc.threads.is_empty() {
        let run = crate::scenario::RunSpec {
            iterations: 20,
            ..crate::scenario::run_line(Driver::Explorer(Kind::Random), vec![], crate::scenario::Expect::Holds)
        };
        let _ = execute(sc, &run);
    }
}

#[cfg(loom)]
fn reach(sc: &Scenario) {
    let run = crate::scenario::RunSpec {
        preemptions: Some(0),
        ..crate::scenario::run_line(Driver::Explorer(Kind::Loom), vec![], crate::scenario::Expect::Holds)
    };
    let _ = execute(sc, &run);
}

/// How one mutant ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The site's ID (`post_one_notification:skip-lock:pipe->rd_wait.lock`).
    pub id: String,
    pub op: Operator,
    /// The kernel function it edits.
    pub func: String,
    /// `killed` or `survived`.
    pub verdict: &'static str,
    /// What killed it: `scenarios/races/post_vs_read.wq:23 pct H1`.
    pub by: String,
    /// Runs made (run lines), and executions in the killing run.
    pub runs: usize,
    pub executions: u64,
    pub seconds: f64,
}

impl Outcome {
    /// `ID VERDICT BY RUNS EXECUTIONS SECONDS`, tab-separated.
    pub fn to_tsv(&self) -> String {
        format!("{}\t{}\t{}\t{}\t{}\t{:.2}", self.id, self.verdict, self.by, self.runs, self.executions, self.seconds)
    }

    /// The inverse of [`Outcome::to_tsv`].
    pub fn from_tsv(line: &str) -> Option<Outcome> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 6 {
            return None;
        }
        let mut parts = f[0].splitn(3, ':');
        let func = parts.next()?.to_string();
        let op = Operator::from_name(parts.next()?)?;
        parts.next()?;
        let verdict = match f[1] {
            "killed" => "killed",
            "survived" => "survived",
            "harness" => "harness",
            _ => return None,
        };
        Some(Outcome {
            id: f[0].to_string(),
            op,
            func,
            verdict,
            by: f[2].to_string(),
            runs: f[3].parse().ok()?,
            executions: f[4].parse().ok()?,
            seconds: f[5].parse().ok()?,
        })
    }

    /// The mutant as a reader names it (`skip-lock pipe->mutex in pipe_read`).
    pub fn describe(&self) -> String {
        let object = self.id.splitn(3, ':').nth(2).unwrap_or("");
        format!("{} {object} in {}", self.op.name(), self.func)
    }
}

/// Join the outcomes of several sweeps (the shuttle build's and the loom
/// build's, and re-sweeps of survivors): a mutant any of them killed is
/// killed, by the fastest kill (ties to the first `by` in sort order); a
/// survivor's seconds are the time all sweeps spent on it. The runs add
/// up. The result does not depend on the order of the sweeps.
pub fn merge(sweeps: Vec<Vec<Outcome>>) -> Vec<Outcome> {
    let mut out: Vec<Outcome> = Vec::new();
    for o in sweeps.into_iter().flatten() {
        match out.iter_mut().find(|x| x.id == o.id) {
            None => out.push(o),
            Some(x) => {
                let runs = x.runs + o.runs;
                match (x.verdict, o.verdict) {
                    ("survived" | "harness", "killed") => *x = o,
                    ("survived", "harness") => *x = o,
                    ("killed", "killed") if (o.seconds, &o.by) < (x.seconds, &x.by) => *x = o,
                    ("survived", "survived") => x.seconds += o.seconds,
                    _ => {}
                }
                x.runs = runs;
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Whether this build's explorers can tell the operator's edit apart at
/// all: shuttle runs every access sequentially consistent, so an ordering
/// weakened to relaxed changes nothing it can see; those mutants are the
/// loom build's.
pub fn observable(op: Operator) -> bool {
    let ordering = matches!(
        op,
        Operator::RelaxRelease | Operator::RelaxAcquire | Operator::PlainPublish | Operator::PlainDereference
    );
    !ordering || wqsim_model::sync::BACKEND == "loom"
}

/// The order runs are tried in: a sequential or scheduled run costs one
/// execution, so those of every reaching scenario go first.
fn cost(driver: Driver) -> u8 {
    match driver {
        Driver::Explorer(Kind::Seq) | Driver::Schedule => 0,
        Driver::Explorer(Kind::Pct) => 1,
        Driver::Explorer(Kind::Random) => 2,
        Driver::Explorer(Kind::Loom) => 3,
        Driver::Explorer(Kind::Dfs) => 4,
    }
}

/// Run mutant `site` against the scenarios that reach it (indexes into
/// `scenarios`), each explorer run capped at `iterations_max` schedules.
pub fn sweep_one(site: Site, scenarios: &[Scenario], reaching: &[usize]) -> Outcome {
    sweep_one_capped(site, scenarios, reaching, usize::MAX)
}

/// [`sweep_one`] with the random, PCT and DFS runs cut to at most
/// `iterations_max` schedules each (a sweep's budget).
pub fn sweep_one_capped(site: Site, scenarios: &[Scenario], reaching: &[usize], iterations_max: usize) -> Outcome {
    let start = Instant::now();
    let mut plan: Vec<(u8, usize, usize)> = Vec::new();
    for &i in reaching {
        for (j, r) in scenarios[i].runs.iter().enumerate() {
            plan.push((cost(r.driver), i, j));
        }
    }
    plan.sort();
    mutation::activate(Some(site));
    let mut runs = 0;
    let mut out = None;
    let mut harness: Option<String> = None;
    for (_, i, j) in plan {
        let sc = &scenarios[i];
        let mut run = sc.runs[j].clone();
        run.iterations = run.iterations.min(iterations_max);
        let run = &run;
        let r: RunResult = execute(sc, run);
        if r.result.is_none() && r.stop.is_none() {
            continue; // the other build's run
        }
        // A schedule whose `until` the mutant made unreachable says nothing
        // about the mutant: the run is skipped, not counted as a kill.
        if matches!(r.stop, Some(crate::run::Stop::Malformed(_))) {
            continue;
        }
        runs += 1;
        // A crash inside the run is the harness's failure, not the
        // model's verdict: it kills nothing, and the sweep reports it.
        if let Some(crate::run::Stop::Harness(msg)) = &r.stop {
            let msg = msg.replace(['\t', '\n'], " ");
            harness.get_or_insert_with(|| format!("{}:{} {} harness: {msg}", sc.path, run.line, run.driver.name()));
            continue;
        }
        // A run that expects a catalog bug's violation and no longer finds
        // it says only that the mutant hid that bug (or moved its
        // schedule), not that the harness noticed the mutant: no kill.
        // Nor does an explorer's run that finds the bug by another of its
        // symptoms first: the mutant may only have moved the schedules the
        // explorer draws (a step less, a lock skipped) onto another path of
        // the same bug. A sequential run has one schedule: there another
        // violation is the mutant's.
        let expects_bug = matches!(run.expect, crate::scenario::Expect::Violation(_)) && r.mismatches.is_empty();
        let hid_the_bug = expects_bug && matches!(r.result, Some(Ok(())));
        let explored = !matches!(run.driver, crate::scenario::Driver::Explorer(crate::explore::Kind::Seq));
        let moved_the_bug = expects_bug && explored && matches!(r.result, Some(Err(_)));
        if !r.matches() && !hid_the_bug && !moved_the_bug {
            out = Some((format!("{}:{} {} {}", sc.path, run.line, run.driver.name(), r.result_text()), r.executions));
            break;
        }
    }
    mutation::activate(None);
    let seconds = start.elapsed().as_secs_f64();
    let (id, op, func) = (site.id(), site.op, site.func.to_string());
    match out {
        Some((by, executions)) => Outcome { id, op, func, verdict: "killed", by, runs, executions, seconds },
        None => match harness {
            Some(by) => Outcome { id, op, func, verdict: "harness", by, runs, executions: 0, seconds },
            None => Outcome { id, op, func, verdict: "survived", by: "-".into(), runs, executions: 0, seconds },
        },
    }
}

/// One line of `docs/mutation-triage.tsv`: a survivor's site ID, its
/// class (`equivalent` or `blind spot`) and why.
pub fn triage(text: &str) -> BTreeMap<String, (String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut f = l.splitn(3, '\t');
            Some((f.next()?.to_string(), (f.next()?.to_string(), f.next()?.to_string())))
        })
        .collect()
}

/// The report: the score per operator and per kernel function, then
/// every survivor with its triage.
pub fn render_markdown(outcomes: &[Outcome], triaged: &BTreeMap<String, (String, String)>, command: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Mutation score\n");
    let _ = writeln!(
        s,
        "Generated by `{command}`. Each mutant is one edit at one site the model names (an operator, a kernel \
         function, an object), switched on at run time; the mutants are the sites the scenarios reach \
         (`wqsim_model::sync::mutation`). A mutant is killed when a scenario that reaches its site gives other \
         than its run line expects (a run that expects a catalog bug and finds none does not count: the mutant \
         may only have hidden that bug; nor does an explorer's run that finds another of its symptoms first: \
         the mutant may only have moved the schedules); it survives when none does. A run that crashes the harness is a \
         harness failure, not a kill. Survivors are triaged in \
         `docs/mutation-triage.tsv`: `equivalent` (no run can tell it apart, and why) or `blind spot` (and what \
         closes it). The score counts the non-equivalent mutants.\n"
    );
    let equivalent = |o: &Outcome| triaged.get(&o.id).is_some_and(|(c, _)| c == "equivalent");
    let killed = outcomes.iter().filter(|o| o.verdict == "killed").count();
    let eq = outcomes.iter().filter(|o| o.verdict == "survived" && equivalent(o)).count();
    let scored = outcomes.len() - eq;
    let pct = |k: usize, n: usize| if n == 0 { 100.0 } else { 100.0 * k as f64 / n as f64 };
    let mut kill_times: Vec<f64> = outcomes.iter().filter(|o| o.verdict == "killed").map(|o| o.seconds).collect();
    kill_times.sort_by(f64::total_cmp);
    let median = kill_times.get(kill_times.len() / 2).copied().unwrap_or(0.0);
    let _ = writeln!(
        s,
        "**{} mutants: {killed} killed, {} survived ({eq} equivalent); score {:.1}% of {scored} non-equivalent; \
         median time to kill {median:.2} s.**\n",
        outcomes.len(),
        outcomes.len() - killed,
        pct(killed, scored)
    );
    let _ = writeln!(
        s,
        "## By operator\n\n| operator | edit | mutants | killed | survived | score |\n|---|---|---|---|---|---|"
    );
    for op in Operator::ALL {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.op == op).collect();
        if of.is_empty() {
            continue;
        }
        let k = of.iter().filter(|o| o.verdict == "killed").count();
        let e = of.iter().filter(|o| o.verdict == "survived" && equivalent(o)).count();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {k} | {} | {:.0}% |",
            op.name(),
            op.about(),
            of.len(),
            of.len() - k,
            pct(k, of.len() - e)
        );
    }
    let _ = writeln!(s, "\n## By kernel function\n\n| function | mutants | killed | survived |\n|---|---|---|---|");
    let mut funcs: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for o in outcomes {
        let e = funcs.entry(o.func.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(o.verdict == "killed");
    }
    for (f, (n, k)) in &funcs {
        let _ = writeln!(s, "| {f} | {n} | {k} | {} |", n - k);
    }
    let _ = writeln!(
        s,
        "\n## By invariant\n\nEvery invariant must be seen failing: the mutants it killed here (by the first \
         run that told the mutant apart, so an invariant that also fails later is not counted), and the catalog \
         switches it catches (docs/catalog.md).\n\n| invariant | promise | mutants killed | by | catalog switches |\n\
         |---|---|---|---|---|"
    );
    for inv in wqsim_model::Inv::ALL {
        let by: Vec<&Outcome> =
            outcomes.iter().filter(|o| o.verdict == "killed" && o.by.rsplit(' ').next() == Some(inv.id())).collect();
        let mut explorers: Vec<&str> = by.iter().filter_map(|o| o.by.rsplit(' ').nth(1)).collect();
        explorers.sort_unstable();
        explorers.dedup();
        let bugs: Vec<&str> = wqsim_model::bugs::CATALOG.iter().filter(|b| b.caught_by == *inv).map(|b| b.id).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            inv.id(),
            inv.title(),
            by.len(),
            if explorers.is_empty() { "-".to_string() } else { explorers.join(", ") },
            if bugs.is_empty() { "-".to_string() } else { bugs.join(" ") }
        );
    }
    let _ = writeln!(s, "\n## Mutants\n\n| mutant | verdict | by | runs | seconds |\n|---|---|---|---|---|");
    for o in outcomes {
        let _ = writeln!(s, "| {} | {} | {} | {} | {:.2} |", o.describe(), o.verdict, o.by, o.runs, o.seconds);
    }
    let _ = writeln!(s, "\n## Survivors and their triage\n");
    let survivors: Vec<&Outcome> = outcomes.iter().filter(|o| o.verdict != "killed").collect();
    if survivors.is_empty() {
        let _ = writeln!(s, "None.");
    }
    for o in survivors {
        if o.verdict == "harness" {
            let _ = writeln!(
                s,
                "- `{}` ({}): **harness failure** (a bug in the model or the harness): {}",
                o.id,
                o.describe(),
                o.by
            );
            continue;
        }
        match triaged.get(&o.id) {
            Some((class, why)) => {
                let _ = writeln!(s, "- `{}` ({}): **{class}**. {why}", o.id, o.describe());
            }
            None => {
                let _ = writeln!(s, "- `{}` ({}): **not triaged**.", o.id, o.describe());
            }
        }
    }
    s
}
