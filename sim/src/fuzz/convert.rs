//! Crash inputs into scenarios: what the input finds, shrunk with the one
//! shrinker ([`crate::minimize::shrink`]), written as a scenario that
//! `wqsim check` runs, with its `without` side.

use super::*;

/// A crash input turned into a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Converted {
    /// The scenario file's text.
    pub text: String,
    /// The snapshot (`snapshots/NAME.snap`) of its transcript, for the
    /// path it is written to.
    pub snapshot: String,
    /// What was found and how it was reduced.
    pub summary: String,
}

/// How a converted scenario reproduces a finding.
pub(super) enum Found {
    /// A violation in one sequential run, and where (the operation, or
    /// teardown).
    Seq(Violation, String),
    /// A violation under some interleaving.
    Conc(Violation, Option<String>),
    /// The model and the reference disagree on an operation's result.
    Disagree(String),
}

/// The first finding of the sequential check of `ops`.
pub(super) fn seq_finding(config: &Config, ops: &[Op]) -> Option<Found> {
    crate::explore::silenced(|| seq_check(config, ops))
}

/// The reference's outcome of each operation (`None` where the reference
/// does not model the configuration).
pub(super) fn reference_outcomes(config: &Config, ops: &[Op]) -> Vec<String> {
    let (config, ops) = (config.clone(), ops.to_vec());
    crate::explore::silenced(|| {
        wqsim_model::explore::shuttle_seq(move || {
            let mut run = SeqRun::new(config.clone());
            let mut spec = Spec::for_config(&config);
            let mut out = Vec::new();
            for op in &ops {
                let _ = run.step_unchecked(op);
                out.push(crate::run::outcome_text(&spec_step(&mut spec, &run, op)));
            }
            out
        })
    })
}

/// A schedule token for a message: long ones cut, with their length.
pub(super) fn short_schedule(s: Option<&str>) -> String {
    match s {
        None => "-".to_string(),
        Some(s) if s.len() <= 160 => s.to_string(),
        Some(s) => {
            let cut = s.char_indices().take_while(|(i, _)| *i < 160).last().map_or(0, |(i, c)| i + c.len_utf8());
            format!("{}... ({} segments)", &s[..cut], s.split('.').count())
        }
    }
}

/// Turn a crash input of `target` into a minimised scenario whose run
/// line gives the finding, checked by running it as `wqsim check` does.
/// `config` is the configuration the fuzz run had (`WQSIM_FUZZ_BUGS`);
/// `path` is where the scenario will live (`scenarios/fuzz/NAME.wq`),
/// `origin` names the input in the scenario's comment.
pub fn from_fuzz(
    target: Target,
    config: &Config,
    scenarios: &[Scenario],
    data: &[u8],
    path: &str,
    origin: &str,
) -> Result<Converted, String> {
    use crate::explore::{Base, Kind};
    use crate::scenario::{Driver, Expect, from_program, run_line};

    let bugs = config.bugs.list();
    let bug_ids: Vec<&str> = bugs.iter().map(|b| b.info().id).collect();
    let switches = if bug_ids.is_empty() { "no catalog switch".to_string() } else { bug_ids.join(" ") };
    let (program, schedule_bytes, from_scenario) = match target {
        Target::Parser => {
            return Err(match parser(data) {
                Ok(()) => format!("{origin}: the parser handles this input; nothing to convert"),
                Err(e) => format!(
                    "{origin}: a parser finding is a bug in wqsim's scenario format, not in the model, so it has no scenario: \
                     keep the input under fuzz/crashes/parser/ (cargo test replays it) and fix the parser.\n{e}"
                ),
            });
        }
        Target::Frontend => {
            return Err(match frontend(data) {
                Ok(()) => format!("{origin}: the front end handles this input; nothing to convert"),
                Err(e) => format!(
                    "{origin}: a front-end finding is a bug in wqsim itself, not in the model, so it has no scenario: \
                     keep the input under fuzz/crashes/frontend/ (cargo test replays it) and fix the harness.\n{e}"
                ),
            });
        }
        Target::Filter => (Program { config: config.clone(), setup: filter_ops(data), actors: vec![] }, vec![], None),
        Target::Trace => {
            let c = trace_case(config.clone(), data);
            (c.program, c.schedule, None)
        }
        Target::Reader => {
            let c = reader_case(config.clone(), data);
            (c.program, c.schedule, None)
        }
        Target::Sources => {
            let c = sources_case(config.clone(), data);
            (c.program, c.schedule, None)
        }
        Target::Schedule => {
            let c = schedule_case(scenarios, config, data)
                .ok_or_else(|| format!("{origin}: an empty input picks no scenario"))?;
            (c.program, c.schedule, c.scenario)
        }
    };

    // What the input finds: the sequential check first (the order the
    // trace target runs them), then the interleaving it spells.
    let found = match seq_finding(&program.config, &flattened(&program)) {
        Some(f) if !matches!(target, Target::Schedule | Target::Reader | Target::Sources) => f,
        _ if program.actors.is_empty() => {
            return Err(format!(
                "{origin}: this input finds nothing with {switches} on; pass the switches the fuzz run had (--bugs, as in WQSIM_FUZZ_BUGS)"
            ));
        }
        _ => {
            let case = Case { program: program.clone(), schedule: schedule_bytes.clone(), scenario: None };
            let ran = crate::explore::silenced(|| run_case(&case));
            match ran.result {
                Err(v) => Found::Conc(v, ran.schedule),
                Ok(()) => {
                    return Err(format!(
                        "{origin}: this input finds nothing with {switches} on; pass the switches the fuzz run had (--bugs, as in WQSIM_FUZZ_BUGS)"
                    ));
                }
            }
        }
    };

    let mut about = vec![
        format!("Found by the fuzz target `{}` from {origin}, with {switches} on.", target.name()),
        "Converted and minimised by wqsim from-fuzz.".to_string(),
    ];
    if let Some(s) = &from_scenario {
        about.push(format!("The interleaving is of {s}."));
    }
    let seq_program = |ops: Vec<Op>| Program { config: program.config.clone(), setup: ops, actors: vec![] };
    let mut summary;
    let sc = match found {
        Found::Seq(v, _) => {
            about.push(format!("Sequentially: {v}"));
            let p = seq_program(flattened(&program));
            let mut sc = from_program(
                about,
                Base::Fixed,
                bugs.clone(),
                &p,
                vec![run_line(Driver::Explorer(Kind::Seq), vec![], Expect::Violation(v.inv))],
            );
            sc.path = path.to_string();
            let before = sc.setup.len();
            let (min, _) = crate::minimize::minimize_scenario(&sc)?;
            summary = format!("{}: {before} operations -> {}; run seq gives {}", target.name(), min.setup.len(), v.inv);
            min
        }
        Found::Disagree(what) => {
            // Keep the operations up to the disagreement, drop each one
            // whose removal keeps a disagreement, and write the
            // reference's outcomes as expectations.
            let mut ops = flattened(&program);
            let disagrees = |ops: &[Op]| matches!(seq_finding(&program.config, ops), Some(Found::Disagree(_)));
            let mut i = 0;
            while i < ops.len() {
                let mut c = ops.clone();
                c.remove(i);
                if disagrees(&c) { ops = c } else { i += 1 }
            }
            let want = reference_outcomes(&program.config, &ops);
            about.push(format!("The model disagrees with the reference: {what}"));
            about.push(
                "Each `=>` is the reference's outcome; the run fails (outcome) until the model agrees.".to_string(),
            );
            let mut sc = from_program(
                about,
                Base::Fixed,
                bugs.clone(),
                &seq_program(ops),
                vec![run_line(Driver::Explorer(Kind::Seq), vec![], Expect::Holds)],
            );
            for (s, w) in sc.setup.iter_mut().zip(want) {
                s.expect = Some(w);
            }
            sc.path = path.to_string();
            summary = format!(
                "{}: {} operations; the model disagrees with the reference: {what}",
                target.name(),
                sc.setup.len()
            );
            sc
        }
        Found::Conc(v, schedule) => {
            about.push(format!("Under the fuzzer's interleaving ({}): {v}", short_schedule(schedule.as_deref())));
            // Shrink under the input's own schedule first (one execution per
            // candidate) and look for an explorer run that gives it; failing
            // that, search on the whole program (the explorers then
            // minimise it).
            let find_run = |base: &Scenario, tries: &[(Kind, u64, usize)]| {
                tries.iter().find_map(|&(kind, seed, iterations)| {
                    let mut run = run_line(Driver::Explorer(kind), vec![], Expect::Violation(v.inv));
                    run.seed = seed;
                    run.iterations = iterations;
                    let mut c = base.clone();
                    c.runs = vec![run.clone()];
                    let r = crate::run::execute(&c, &run);
                    match &r.result {
                        Some(Err(got)) if got.inv == v.inv => {
                            run.iterations = (r.executions as usize * 2).clamp(100, iterations);
                            Some(run)
                        }
                        _ => None,
                    }
                })
            };
            let mut whole = from_program(about.clone(), Base::Fixed, bugs.clone(), &program, vec![]);
            whole.path = path.to_string();
            let under_bytes = |c: &Scenario| {
                let case = Case { program: c.program(None), schedule: schedule_bytes.clone(), scenario: None };
                matches!(run_case(&case).result, Err(got) if got.inv == v.inv)
            };
            let mut base = crate::minimize::shrink(&whole, under_bytes);
            let mut chosen = find_run(&base, &[(Kind::Random, 1, 2_000), (Kind::Pct, 1, 2_000)]);
            if chosen.is_none() {
                base = whole;
                chosen = find_run(&base, &[(Kind::Random, 1, 20_000), (Kind::Pct, 1, 20_000), (Kind::Dfs, 1, 20_000)]);
            }
            let run = chosen.ok_or_else(|| {
                format!(
                    "{origin}: {v}\nbut no explorer run (random, PCT, DFS; 20,000 schedules each) gives {} on this program, \
                     so a scenario could not reproduce it; the fuzzer's schedule was {}",
                    v.inv,
                    short_schedule(schedule.as_deref())
                )
            })?;
            base.runs = vec![run];
            let size = crate::minimize::size;
            let before = (flattened(&program).len(), program.actors.len());
            let (mut min, _) = crate::minimize::minimize_scenario(&base)?;
            // The fewest schedules that still find it, doubled.
            let r = crate::run::execute(&min, &min.runs[0]);
            if matches!(r.result, Some(Err(_))) {
                min.runs[0].iterations = (r.executions as usize * 2).clamp(100, min.runs[0].iterations);
            }
            summary = format!(
                "{}: {} operations in {} threads -> {} in {}; run {} gives {}",
                target.name(),
                before.0,
                before.1,
                size(&min),
                min.threads.len(),
                min.runs[0].driver.name(),
                v.inv
            );
            min
        }
    };

    // The other side: with the switches off the same run must hold.
    let mut sc = sc;
    sc.about.retain(|a| !a.starts_with("Minimised from"));
    if !bugs.is_empty() && sc.runs.len() == 1 && sc.runs[0].expect != Expect::Holds {
        let mut fixed = sc.runs[0].clone();
        fixed.without = bugs.clone();
        fixed.expect = Expect::Holds;
        if matches!(fixed.driver, Driver::Explorer(Kind::Random | Kind::Pct | Kind::Dfs)) {
            fixed.iterations = 10_000;
        }
        if crate::run::execute(&sc, &fixed).matches() {
            sc.runs.push(fixed);
        } else {
            summary += "; with the switches off it still fails, so no `without` run line was added";
        }
    }
    // Check the text as `wqsim check` will read it.
    let text = sc.to_text();
    let again = parse(path, &text).map_err(|e| format!("the converted scenario does not parse back: {e}\n{text}"))?;
    for run in &again.runs {
        let r = crate::run::execute(&again, run);
        let ok = if again.setup.iter().any(|s| s.expect.is_some()) { !r.mismatches.is_empty() } else { r.matches() };
        if !ok {
            return Err(format!(
                "the converted scenario's run on line {} gave {}, not {}:\n{text}",
                run.line,
                r.result_text(),
                run.expect
            ));
        }
    }
    let t = crate::run::transcript(&again, None);
    let snapshot = format!("---\nsource: sim/tests/snapshots.rs\n---\n{path}\n{}", t.render());
    summary += &format!("; checked: {path} gives what its run line expects");
    Ok(Converted { text, snapshot, summary })
}
