//! Replaying saved inputs (seeds, a corpus, crashes) through a target:
//! the findings and the protocol states reached.

use super::*;

/// The input files under `p` (a file, or a directory's files, sorted;
/// names starting with `.` left out).
pub fn input_files(p: &std::path::Path) -> Result<Vec<std::path::PathBuf>, String> {
    if p.is_file() {
        return Ok(vec![p.to_path_buf()]);
    }
    let rd = std::fs::read_dir(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut v: Vec<std::path::PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.is_file() && !f.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    v.sort();
    Ok(v)
}

/// What replaying a set of inputs gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub target: String,
    /// The switches on, as `--bugs` takes them (empty: none).
    pub bugs: String,
    pub inputs: usize,
    /// Inputs that reached each state, in [`State::ALL`] order.
    pub reached: Vec<(State, usize)>,
    /// Each finding and the input that gave it.
    pub findings: Vec<(String, String)>,
}

impl Replayed {
    pub fn render(&self) -> String {
        let mut s = format!("{}: {} inputs replayed\nprotocol states reached:\n", self.target, self.inputs);
        for (st, n) in &self.reached {
            s += &format!(
                "  {:<28} {}\n",
                st.name(),
                if *n == 0 { "not reached".to_string() } else { format!("{n} inputs") }
            );
        }
        let hit = self.reached.iter().filter(|(_, n)| *n > 0).count();
        s += &format!("{hit} of {} states reached; {} findings\n", self.reached.len(), self.findings.len());
        for (f, e) in &self.findings {
            let first = e.lines().next().unwrap_or("");
            let bugs = if self.bugs.is_empty() { String::new() } else { format!(" --bugs {}", self.bugs) };
            s += &format!(
                "  {f}: {first}\n    convert: cargo run --release -p wqsim -- from-fuzz {f} --target {}{bugs}\n",
                self.target
            );
        }
        s
    }
}

/// Replay `files` through `target`: the states they reach and the
/// findings.
pub fn replay_inputs(
    target: Target,
    config: &Config,
    scenarios: &[Scenario],
    files: &[std::path::PathBuf],
) -> Replayed {
    let mut counts = [0usize; State::ALL.len()];
    let mut findings = Vec::new();
    for f in files {
        let Ok(data) = std::fs::read(f) else { continue };
        let (r, states) = run_target(target, config, scenarios, &data);
        for (i, st) in State::ALL.iter().enumerate() {
            counts[i] += states.contains(*st) as usize;
        }
        if let Err(e) = r {
            findings.push((f.display().to_string(), e));
        }
    }
    let ids: Vec<&str> = config.bugs.list().iter().map(|b| b.info().id).collect();
    Replayed {
        target: target.name().to_string(),
        bugs: ids.join(","),
        inputs: files.len(),
        reached: State::ALL.iter().copied().zip(counts).collect(),
        findings,
    }
}
