//! The catalog's scenarios. Every switch of [`wqsim_model::bugs::CATALOG`]
//! has one file, `scenarios/catalog/<id>-<slug>.wq` (lower-case ID): the
//! program that makes its bug fire, with the switch on (`bugs`), a run
//! line that expects the catalog's invariant, and a run line `without` it
//! that expects the fixed kernel to hold. The race scenarios
//! (`scenarios/races/`) are the same programs' meeting points with every
//! switch off. `selfcheck` checks that contract, `matrix` runs both under
//! every explorer, `explore` runs any of them.

use std::path::{Path, PathBuf};

use wqsim_model::bugs::{Bug, BugInfo, CATALOG};

use crate::error::Error;
use crate::scenario::{Expect, Scenario};
use crate::scenario::{collect, load};

/// The scenario directory: `scenarios/` under the working directory, or
/// the source tree's when there is none (tests run in `sim/`).
pub fn root() -> PathBuf {
    let here = PathBuf::from("scenarios");
    if here.is_dir() { here } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios") }
}

/// The file name of a switch's scenario (`w13-defunct-race.wq`).
pub fn file_name(info: &BugInfo) -> String {
    format!("{}-{}.wq", info.id.to_ascii_lowercase(), info.slug)
}

/// A switch's scenario under `root`.
pub fn scenario(root: &Path, bug: Bug) -> Result<Scenario, Error> {
    let info = bug.info();
    let path = root.join("catalog").join(file_name(info));
    if !path.is_file() {
        return Err(Error::malformed(format!(
            "{}: {} {} has no scenario; write the program that makes it fire there (see scenarios/catalog/)",
            path.display(),
            info.id,
            info.slug
        )));
    }
    load(&path)
}

/// The race scenarios under `root`, in path order.
pub fn races(root: &Path) -> Result<Vec<Scenario>, Error> {
    collect(&[root.join("races")])?.iter().map(|p| load(p)).collect()
}

/// The name of a race scenario (its file stem: `post_vs_read`).
pub fn race_name(sc: &Scenario) -> String {
    Path::new(&sc.path).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// What a switch's scenario must hold: its `bugs` line turns the switch
/// on, a run with it on expects the catalog's invariant (or another
/// symptom the catalog lists), and a run `without` it expects the fixed
/// kernel to hold. The problems, if any.
pub fn contract(info: &BugInfo, sc: &Scenario) -> Vec<String> {
    let mut problems = Vec::new();
    if !sc.bugs.contains(&info.bug) {
        problems.push(format!("its `bugs` line does not turn {} on", info.id));
    }
    let also = wqsim_model::bugs::also_caught_by(info.bug);
    let on = sc.runs.iter().any(|r| {
        !r.without.contains(&info.bug)
            && matches!(r.expect, Expect::Violation(i) if i == info.caught_by || also.contains(&i))
    });
    if !on {
        problems.push(format!("no run line with {} on expects {}", info.id, info.caught_by));
    }
    if !sc.runs.iter().any(|r| r.without.contains(&info.bug) && r.expect == Expect::Holds) {
        problems.push(format!("no `run ... without {} expect holds` line", info.id));
    }
    problems
}

/// Every switch, in catalog order, with its scenario (or why it has none).
pub fn scenarios(root: &Path) -> Vec<(&'static BugInfo, Result<Scenario, Error>)> {
    CATALOG.iter().map(|b| (b, scenario(root, b.bug))).collect()
}
