//! `wqsim from-fuzz`: Turn a fuzz crash input into a minimised scenario whose
//! run line gives the violation, checked as `wqsim check` runs it. Prints the
//! scenario; with --write, writes scenarios/fuzz/NAME.wq and its snapshot.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The input libFuzzer saved (fuzz/artifacts/TARGET/crash-...).
    pub artifact: std::path::PathBuf,
    /// The fuzz target (default: from the artifact's directory).
    #[arg(long)]
    pub target: Option<String>,
    /// The switches the fuzz run had on, comma-separated (default:
    /// $WQSIM_FUZZ_BUGS).
    #[arg(long, env = "WQSIM_FUZZ_BUGS")]
    pub bugs: Option<String>,
    /// The scenario's name (default: TARGET-HASH of the input).
    #[arg(long)]
    pub name: Option<String>,
    /// Write scenarios/fuzz/NAME.wq and snapshots/fuzz__NAME.snap
    /// (run from the repository root).
    #[arg(long)]
    pub write: bool,
}

#[cfg(not(loom))]
pub fn run(a: Args) -> ExitCode {
    let Args { artifact, target, bugs, name, write } = a;
    let t = match target {
        Some(t) => fuzz_target(&t),
        None => wqsim::fuzz::Target::of_path(&artifact).ok_or_else(|| {
            format!(
                "{}: cannot tell the fuzz target from the path; pass --target (parser, frontend, filter, trace, schedule, reader)",
                artifact.display()
            )
        }),
    };
    let t = match t {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let config = match fuzz_config(bugs.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let data = match std::fs::read(&artifact) {
        Ok(d) => d,
        Err(e) => return usage(format!("{}: {e}", artifact.display())),
    };
    let scenarios = match wqsim::fuzz::committed_scenarios(std::path::Path::new(".")) {
        Ok(s) if !s.is_empty() => s,
        _ => match wqsim::fuzz::committed_scenarios(&wqsim::fuzz::repo_root()) {
            Ok(s) => s,
            Err(e) => return usage(e),
        },
    };
    let name = name.unwrap_or_else(|| format!("{}-{:08x}", t.name(), wqsim::scenario::fnv1a(&data) as u32));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return usage(format!("--name {name:?}: use letters, digits, `-` and `_`"));
    }
    let path = format!("scenarios/fuzz/{name}.wq");
    let origin =
        artifact.file_name().map_or_else(|| artifact.display().to_string(), |n| n.to_string_lossy().into_owned());
    let conv = wqsim::explore::silenced(|| wqsim::fuzz::from_fuzz(t, &config, &scenarios, &data, &path, &origin));
    match conv {
        Ok(c) => {
            if write {
                let snap = format!("snapshots/fuzz__{name}.snap");
                let wrote = std::fs::create_dir_all("scenarios/fuzz")
                    .and_then(|_| std::fs::write(&path, &c.text))
                    .and_then(|_| std::fs::write(&snap, &c.snapshot));
                if let Err(e) = wrote {
                    return usage(format!("writing {path} and {snap} (run from the repository root): {e}"));
                }
                out!("{}\nwrote {path} and {snap}\n", c.summary);
            } else {
                out!("{}", c.text);
                eprintln!("{}", c.summary);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wqsim: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("fuzzing runs in the main build: cargo run --release -p wqsim -- from-fuzz / fuzz-states / fuzz-seeds")
}
