//! `wqsim matrix`: Measure the detection matrix with this build's explorers
//! (one tab-separated line per cell), or merge measured files into the
//! Markdown of docs/catalog.md.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Explorers to run, comma-separated (default: all this build has).
    #[arg(long, value_delimiter = ',')]
    pub explorers: Vec<String>,
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub iterations: u64,
    /// Merge these measured files instead of measuring.
    #[arg(long, num_args = 1..)]
    pub merge: Vec<std::path::PathBuf>,
    /// The command line the merged file names as its generator.
    #[arg(long, default_value = "ci/matrix")]
    pub command: String,
    /// How to print measured cells: `tsv` (one tab-separated line each,
    /// what --merge reads) or `json` (for CI tools).
    #[arg(long, default_value = "tsv", value_parser = ["tsv", "json"])]
    pub format: String,
    /// Measure the catalog switches' rows only, not the race families'
    /// (`fixed:` rows), whose runs `wqsim check` already makes: what the PR
    /// tier's `ci/matrix --check` measures.
    #[arg(long)]
    pub switches_only: bool,
}

pub fn run(a: Args) -> ExitCode {
    let Args { explorers, iterations, merge, command, format, switches_only } = a;
    let mut rows = match wqsim::matrix::rows(&wqsim::catalog::root()) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    if switches_only && merge.is_empty() {
        rows.retain(|r| r.expected.is_some());
    }
    if !merge.is_empty() {
        let mut cells = Vec::new();
        let mut fuzz = Vec::new();
        for path in &merge {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return usage(format!("{}: {e}", path.display())),
            };
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                if let Some(c) = wqsim::matrix::FuzzCell::from_tsv(line) {
                    fuzz.push(c);
                    continue;
                }
                match wqsim::matrix::Cell::from_tsv(line) {
                    Some(c) => cells.push(c),
                    None => {
                        return usage(format!(
                            "{}:{}: not a matrix cell (key, explorer, verdict, invariant, executions, seconds, tab-separated; \
                             or key, `fuzz`, target, verdict, invariant, executions, seconds)",
                            path.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
        out!("{}", wqsim::matrix::render_markdown(&rows, &cells, &fuzz, &command));
        return match wqsim::matrix::verdict(&cells) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        };
    }
    let kinds: Vec<Kind> = if explorers.is_empty() {
        Kind::ALL.into_iter().filter(|k| k.available()).collect()
    } else {
        let mut v = Vec::new();
        for e in &explorers {
            match Kind::from_name(e) {
                Some(k) => v.push(k),
                None => return usage(format!("--explorers {e:?}: expected seq, loom, random, pct or dfs")),
            }
        }
        v
    };
    let budget = Budget { iterations: iterations as usize, ..Budget::default() };
    let mut failed = false;
    let mut all = Vec::new();
    for k in kinds {
        let pb = bar(&format!("matrix {k:<6}"), rows.len(), false);
        let r = wqsim::matrix::measure(&rows, k, budget, |done, _, c| {
            pb.set_position(done as u64);
            pb.set_message(c.key.clone());
        });
        pb.finish_and_clear();
        match r {
            Ok(cells) => {
                for c in cells {
                    failed |= !c.ok();
                    if format == "tsv" {
                        out!("{}\n", c.to_tsv());
                    }
                    all.push(c);
                }
            }
            Err(e) => return usage(e),
        }
    }
    if format == "json" {
        out!("{}", wqsim::matrix::render_json(&all));
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
