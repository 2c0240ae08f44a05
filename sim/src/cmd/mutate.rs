//! `wqsim mutate`: Sweep the model's mutants (edits of the kind a patch
//! could make, at every site the scenarios reach) through the scenarios,
//! and print the mutation score, each mutant's fate and the survivors'
//! triage (`docs/mutation.md` is this output).

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Scenario files or directories (default: scenarios/).
    pub paths: Vec<std::path::PathBuf>,
    /// Only list the mutants (the census), one site ID a line.
    #[arg(long)]
    pub list: bool,
    /// Only the mutants whose site ID contains this text (a kernel
    /// function, an operator, a lock), comma-separated for several.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Leave out the mutants whose site IDs this file lists, one a line
    /// (`ci/mutate` leaves the loom build the mutants the shuttle build
    /// did not kill: a kill in either build is a kill).
    #[arg(long)]
    pub except: Option<std::path::PathBuf>,
    /// Only about one mutant in N (the PR tier's sample), chosen by a hash
    /// of the site ID, so every build samples the same ones.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub every: u64,
    /// Only shard I of N (1-based) of the mutants, in census order, so N
    /// processes or machines split a sweep (`--format tsv`, then
    /// `--merge`).
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// At most this many schedules for each random, PCT and DFS run of a
    /// mutant (a run line's own count when lower).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub iterations_max: u64,
    /// `markdown` (the report) or `tsv` (one line per mutant).
    #[arg(long, default_value = "markdown", value_parser = ["markdown", "tsv"])]
    pub format: String,
    /// The survivors' triage: site ID, class, why (tab-separated).
    #[arg(long, default_value = "docs/mutation-triage.tsv")]
    pub triage: std::path::PathBuf,
    /// The command line the report names as its generator.
    #[arg(long, default_value = "wqsim mutate")]
    pub command: String,
    /// Merge these swept TSV files (the shuttle build's and the loom
    /// build's) into the report instead of sweeping.
    #[arg(long, num_args = 1..)]
    pub merge: Vec<std::path::PathBuf>,
    /// Exit 1 when the score (killed of the non-equivalent mutants) is
    /// below this percentage, or a survivor is not triaged.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub min_score: Option<u64>,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

pub fn run(a: Args) -> ExitCode {
    let Args {
        paths,
        list,
        only,
        except,
        every,
        shard,
        iterations_max,
        format,
        triage,
        command,
        merge,
        min_score,
        budget,
    } = a;
    let except: std::collections::BTreeSet<String> = match &except {
        None => Default::default(),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => t.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect(),
            Err(e) => return fail(wqsim::error::Error::environment(format!("--except {}: {e}", p.display()))),
        },
    };
    budget.install();
    let scenarios = match load_scenarios(paths, "scenarios") {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let triaged = match std::fs::read_to_string(&triage) {
        Ok(t) => wqsim::mutate::triage(&t),
        Err(_) if list => Default::default(),
        Err(e) => return fail(wqsim::error::Error::environment(format!("{}: {e}", triage.display()))),
    };
    if !merge.is_empty() {
        let mut sweeps = Vec::new();
        for path in &merge {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return fail(wqsim::error::Error::environment(format!("{}: {e}", path.display()))),
            };
            let mut v = Vec::new();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                match wqsim::mutate::Outcome::from_tsv(line) {
                    Some(o) => v.push(o),
                    None => {
                        return usage(format!(
                            "{}:{}: not a mutant's line (id, verdict, by, runs, executions, seconds, tab-separated)",
                            path.display(),
                            n + 1
                        ));
                    }
                }
            }
            sweeps.push(v);
        }
        let outcomes = wqsim::mutate::merge(sweeps);
        out!("{}", wqsim::mutate::render_markdown(&outcomes, &triaged, &command));
        return verdict(&outcomes, &triaged, min_score);
    }
    let pb = bar("census", scenarios.len(), false);
    let census = wqsim::mutate::census(&scenarios);
    pb.finish_and_clear();
    let sites: Vec<_> = census
        .sites
        .iter()
        .filter(|(s, _)| list || wqsim::mutate::observable(s.op))
        .filter(|(s, _)| only.is_empty() || only.iter().any(|o| s.id().contains(o.as_str())))
        .filter(|(s, _)| !except.contains(&s.id()))
        // The sample is chosen by the site's ID, so the shuttle and loom
        // builds sample the same mutants.
        .filter(|(s, _)| wqsim::scenario::fnv1a(s.id().as_bytes()).is_multiple_of(every))
        .enumerate()
        .filter(|(i, _)| shard.is_none_or(|sh| i % sh.count == sh.index - 1))
        .map(|(_, x)| x)
        .collect();
    if list {
        for (s, reaching) in &sites {
            out!("{}\t{} scenarios\n", s.id(), reaching.len());
        }
        return ExitCode::SUCCESS;
    }
    let pb = bar("mutate", sites.len(), false);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed} (left {eta}) {wide_msg}")
    {
        pb.set_style(style.progress_chars("#>-"));
    }
    let mut outcomes = Vec::new();
    // Off a terminal (CI logs), a line a minute with the time left.
    let (start, total, mut said) = (std::time::Instant::now(), sites.len(), 0u64);
    for (site, reaching) in sites {
        pb.set_message(site.to_string());
        let o = wqsim::mutate::sweep_one_capped(*site, &scenarios, reaching, iterations_max as usize);
        if format == "tsv" {
            out!("{}\n", o.to_tsv());
        }
        outcomes.push(o);
        pb.inc(1);
        let secs = start.elapsed().as_secs();
        if pb.is_hidden() && secs >= said + 60 {
            said = secs;
            let done = outcomes.len() as u64;
            let left = secs * (total as u64 - done) / done.max(1);
            eprintln!("  mutate: {done}/{total} mutants after {secs} s, about {left} s left");
        }
    }
    pb.finish_and_clear();
    if format == "markdown" {
        out!("{}", wqsim::mutate::render_markdown(&outcomes, &triaged, &command));
    }
    verdict(&outcomes, &triaged, min_score)
}

/// Exit 1 when the score is below `min_score` or a survivor is not
/// triaged; 5 when a mutant crashed the harness.
fn verdict(
    outcomes: &[wqsim::mutate::Outcome],
    triaged: &std::collections::BTreeMap<String, (String, String)>,
    min_score: Option<u64>,
) -> ExitCode {
    let Some(min) = min_score else { return ExitCode::SUCCESS };
    let equivalent = |o: &wqsim::mutate::Outcome| triaged.get(&o.id).is_some_and(|(c, _)| c == "equivalent");
    let killed = outcomes.iter().filter(|o| o.verdict == "killed").count();
    let scored = outcomes.iter().filter(|o| !(o.verdict == "survived" && equivalent(o))).count();
    let untriaged: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.verdict == "survived" && !triaged.contains_key(&o.id))
        .map(|o| o.id.as_str())
        .collect();
    let score = if scored == 0 { 100.0 } else { 100.0 * killed as f64 / scored as f64 };
    let crashed: Vec<&str> = outcomes.iter().filter(|o| o.verdict == "harness").map(|o| o.id.as_str()).collect();
    if !crashed.is_empty() {
        eprintln!("wqsim: harness failures under mutants (see the report): {}", crashed.join(", "));
        return ExitCode::from(5);
    }
    if score < min as f64 || !untriaged.is_empty() {
        eprintln!(
            "wqsim: score {score:.1}% (at least {min}% wanted); survivors not triaged: {}",
            if untriaged.is_empty() { "none".to_string() } else { untriaged.join(", ") }
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
