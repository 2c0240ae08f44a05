//! `wqsim review PATCH`: where a kernel patch lands in the model, and what
//! to run.
//!
//! Each hunk's old-side lines are placed in the kernel definitions of
//! Linux 6.12 by the map's line ranges (the mirrored definitions' own and
//! those of `unmirrored.tsv`), or by a tree given with `--kernel-src`.
//! A touched definition the model mirrors leads to its model items and
//! their `kfn` labels; each scenario's sequential run and a few random
//! schedules say which labels it enters, which gives the scenarios and race families that run the
//! touched code; the catalog rows whose site is a touched definition are
//! named with their scenarios. What the patch touches and nothing covers
//! is a gap.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::c::definitions;
use super::drift::{display_name, site_functions};
use super::{MAP_VERSION, Map, Mirror, Source, Unmirrored};

/// One file's changed old-side lines: `-` lines, and for `+` lines the
/// old line they follow (0: the top of the file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilePatch {
    pub file: String,
    pub removed: Vec<u32>,
    pub inserted_after: Vec<u32>,
    /// Every changed line's text (without its `-`/`+`), with the old line
    /// it removes or follows.
    pub texts: Vec<(u32, String)>,
}

/// The files of a unified diff with their changed lines; an input with no
/// hunk is an error.
pub fn parse_patch(text: &str) -> Result<Vec<FilePatch>, String> {
    let mut out: Vec<FilePatch> = Vec::new();
    let mut old_name: Option<String> = None;
    let mut cur: Option<usize> = None;
    let mut old_line = 0u32;
    let mut left = (0u32, 0u32); // old and new lines still to come in the hunk
    for (n, l) in text.lines().enumerate() {
        if left != (0, 0) {
            match l.as_bytes().first() {
                Some(b' ') | None => {
                    old_line = old_line.checked_add(1).ok_or_else(|| too_far(n))?;
                    left = (left.0.saturating_sub(1), left.1.saturating_sub(1));
                }
                Some(b'-') => {
                    if let Some(k) = cur {
                        out[k].removed.push(old_line);
                        out[k].texts.push((old_line, l[1..].to_string()));
                    }
                    old_line = old_line.checked_add(1).ok_or_else(|| too_far(n))?;
                    left.0 = left.0.saturating_sub(1);
                }
                Some(b'+') => {
                    if let Some(k) = cur {
                        out[k].inserted_after.push(old_line.saturating_sub(1));
                        out[k].texts.push((old_line.saturating_sub(1), l[1..].to_string()));
                    }
                    left.1 = left.1.saturating_sub(1);
                }
                Some(b'\\') => {}
                _ => return Err(format!("line {}: a hunk ends early (its header counts more lines)", n + 1)),
            }
            continue;
        }
        if let Some(name) = l.strip_prefix("--- ") {
            old_name = Some(strip_side(name));
        } else if let Some(name) = l.strip_prefix("+++ ") {
            let new = strip_side(name);
            let file = if new == "/dev/null" { old_name.clone().unwrap_or(new) } else { new };
            out.push(FilePatch { file, ..FilePatch::default() });
            cur = Some(out.len() - 1);
        } else if let Some(h) = l.strip_prefix("@@ -") {
            if cur.is_none() {
                return Err(format!("line {}: a hunk before any `+++ b/FILE` line", n + 1));
            }
            let bad = || format!("line {}: expected a hunk header `@@ -A,B +C,D @@`, found {l:?}", n + 1);
            let (old, rest) = h.split_once(" +").ok_or_else(bad)?;
            let new = rest.split_once(" @@").ok_or_else(bad)?.0;
            let range = |r: &str| -> Option<(u32, u32)> {
                match r.split_once(',') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => Some((r.parse().ok()?, 1)),
                }
            };
            let (a, b) = range(old).ok_or_else(bad)?;
            let (_, d) = range(new).ok_or_else(bad)?;
            old_line = if b == 0 { a.checked_add(1).ok_or_else(|| too_far(n))? } else { a };
            left = (b, d);
        }
    }
    if out.iter().all(|f| f.removed.is_empty() && f.inserted_after.is_empty()) {
        return Err(
            "no hunk: expected a unified diff (`git format-patch`, `git diff` or `diff -u`) against a kernel tree"
                .into(),
        );
    }
    Ok(out)
}

/// A hunk whose lines run past the largest line number.
fn too_far(n: usize) -> String {
    format!("line {}: the hunk runs past line {} (a file has fewer lines)", n + 1, u32::MAX)
}

/// `a/fs/pipe.c` (with a tab and a date after it, as `diff -u` writes) to
/// `fs/pipe.c`.
fn strip_side(name: &str) -> String {
    let name = name.split('\t').next().unwrap_or(name).trim();
    name.strip_prefix("a/").or_else(|| name.strip_prefix("b/")).unwrap_or(name).to_string()
}

/// A definition of a kernel file with its line range.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Span {
    name: String,
    lines: (u32, u32),
}

/// The definitions of `file` with their lines: from `tree` when given,
/// else from the map's 6.12 ranges (None: the map does not know the file).
fn spans(file: &str, map: &Map, left_out: &[Unmirrored], tree: Option<&Path>) -> Option<Vec<Span>> {
    if let Some(t) = tree {
        let text = std::fs::read(t.join(file)).ok()?;
        return Some(
            definitions(&String::from_utf8_lossy(&text))
                .into_iter()
                .map(|d| Span { name: d.name, lines: d.lines })
                .collect(),
        );
    }
    let mut out: Vec<Span> = Vec::new();
    for m in map.mirrors.iter().filter(|m| m.kernel_file == file) {
        if let Source::Release { lines, .. } = m.source
            && !out.iter().any(|s| s.name == m.kernel_name)
        {
            out.push(Span { name: m.kernel_name.clone(), lines });
        }
    }
    out.extend(left_out.iter().filter(|u| u.file == file).map(|u| Span { name: u.name.clone(), lines: u.lines }));
    if out.is_empty() { None } else { Some(out) }
}

/// The kernel path `file` names: itself when the map (or `tree`) knows
/// it, else the shortest suffix that is known, so `diff -u` between two
/// trees (`linux-6.12/fs/pipe.c`) finds `fs/pipe.c`.
fn resolve(file: &str, map: &Map, left_out: &[Unmirrored], tree: Option<&Path>) -> String {
    let known = |f: &str| match tree {
        Some(t) => t.join(f).is_file(),
        None => map.mirrors.iter().any(|m| m.kernel_file == f) || left_out.iter().any(|u| u.file == f),
    };
    let mut rest = file;
    loop {
        if known(rest) {
            return rest.to_string();
        }
        match rest.split_once('/') {
            Some((_, tail)) if !tail.is_empty() => rest = tail,
            _ => return file.to_string(),
        }
    }
}

/// What the patch touches in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touched {
    pub file: String,
    /// The definitions touched, in file order.
    pub names: Vec<String>,
    /// Changed lines outside every definition (declarations, macros).
    pub outside: usize,
    /// Whether the file is known (mirrored, or in the tree given).
    pub known: bool,
}

/// The definitions `patch` touches, file by file.
pub fn touched(patch: &[FilePatch], map: &Map, left_out: &[Unmirrored], tree: Option<&Path>) -> Vec<Touched> {
    let mut out = Vec::new();
    for fp in patch {
        let file = resolve(&fp.file, map, left_out, tree);
        let Some(sp) = spans(&file, map, left_out, tree) else {
            out.push(Touched { file, names: vec![], outside: 0, known: false });
            continue;
        };
        // The innermost definition holding `line` (a name defined in two
        // `#ifdef` branches spans both).
        let at = |line: u32| {
            sp.iter().filter(|s| s.lines.0 <= line && line <= s.lines.1).min_by_key(|s| s.lines.1 - s.lines.0)
        };
        let mut hit: BTreeSet<(u32, String)> = BTreeSet::new();
        let mut outside = 0;
        for &l in &fp.removed {
            match at(l) {
                Some(s) => {
                    hit.insert((s.lines.0, s.name.clone()));
                }
                None => outside += 1,
            }
        }
        for &l in &fp.inserted_after {
            // Between old lines l and l+1: inside a definition only when it
            // holds both; code added after a closing brace or before a
            // header is new, outside every definition.
            match at(l).filter(|s| s.lines.1 > l) {
                Some(s) => {
                    hit.insert((s.lines.0, s.name.clone()));
                }
                None => outside += 1,
            }
        }
        out.push(Touched { file, names: hit.into_iter().map(|(_, n)| n).collect(), outside, known: true });
    }
    out
}

/// Schedules of the random explorer each scenario's coverage adds to its
/// sequential run: a family's threads reach some functions only in some
/// orders (a post after the reader closed finds no queue).
pub const COVERAGE_SCHEDULES: usize = 32;

/// Which kfn labels each scenario reaches, by scenario path (every `.wq`
/// under `dir`): its sequential run and [`COVERAGE_SCHEDULES`] random
/// schedules (seed 1), so the answer is the same on every run.
#[cfg(not(loom))]
pub fn coverage(dir: &Path) -> Result<BTreeMap<PathBuf, BTreeSet<String>>, crate::error::Error> {
    use crate::explore::{Budget, Kind, run_of, silenced};
    let files = crate::scenario::collect(&[dir.to_path_buf()])?;
    let mut out = BTreeMap::new();
    // The catalog's scenarios turn bugs on; a review names them by their
    // rows' sites instead.
    for f in files.into_iter().filter(|f| !f.components().any(|c| c.as_os_str() == "catalog")) {
        let Ok(sc) = crate::scenario::load(&f) else { continue };
        wqsim_model::trace::record_entered(true);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::run::transcript(&sc, None);
            let budget = Budget { iterations: COVERAGE_SCHEDULES, ..Budget::default() };
            let run = run_of(&sc, Kind::Random, budget, vec![]);
            silenced(|| crate::run::execute(&sc, &run));
        }));
        wqsim_model::trace::record_entered(false);
        if ran.is_ok() {
            out.insert(f, wqsim_model::trace::entered().into_iter().map(String::from).collect());
        }
    }
    Ok(out)
}

/// Which race families catch each touched catalog row's switch: every
/// family that runs the touched code, with the switch turned on, under
/// seq, then random and PCT with `iterations` schedules each; the first
/// violation counts. (row, [(family, how it was caught)]).
#[cfg(not(loom))]
pub fn probe(r: &Review, iterations: usize) -> Vec<(&'static str, Vec<(PathBuf, String)>)> {
    use crate::explore::{Budget, Kind, run_of, silenced};
    let mut out = Vec::new();
    for (id, _, _) in &r.rows {
        let Some(bug) = wqsim_model::bugs::Bug::from_name(id) else { continue };
        let mut caught = Vec::new();
        for (path, _) in &r.families {
            let Ok(mut sc) = crate::scenario::load(path) else { continue };
            if !sc.bugs.contains(&bug) {
                sc.bugs.push(bug);
            }
            for kind in [Kind::Seq, Kind::Random, Kind::Pct] {
                let budget = Budget { iterations, ..Budget::default() };
                let run = run_of(&sc, kind, budget, vec![]);
                let ran = silenced(|| crate::run::execute(&sc, &run));
                if let (None, Some(Err(v))) = (&ran.stop, &ran.result) {
                    caught.push((path.clone(), format!("{kind} {} @{}", v.inv, ran.executions)));
                    break;
                }
            }
        }
        out.push((*id, caught));
    }
    out
}

/// The probe's findings as the review prints them.
pub fn render_probe(p: &[(&'static str, Vec<(PathBuf, String)>)], iterations: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "
race families that catch each row's switch (switch on; seq, then random and pct with {iterations} schedules):"
    );
    if p.is_empty() {
        let _ = writeln!(s, "  no catalog row here");
    }
    for (id, caught) in p {
        if caught.is_empty() {
            let _ = writeln!(s, "  {id}: none of the families above (only its own scenario, or a longer search)");
        }
        for (path, how) in caught {
            let _ = writeln!(s, "  {id}: {} ({how})", path.display());
        }
    }
    s
}

/// The whole review.
#[derive(Clone, Debug)]
pub struct Review {
    pub touched: Vec<Touched>,
    /// Touched definitions the model mirrors, with their mirrors.
    pub mirrored: Vec<(String, String, Vec<Mirror>)>,
    /// Model functions reached through a touched structure's changed
    /// fields: (structure, fields, the function's mirror).
    pub through: Vec<(String, Vec<String>, Mirror)>,
    /// Catalog rows whose site is a touched definition, with their
    /// scenarios.
    pub rows: Vec<(&'static str, &'static str, String)>,
    /// Race families (scenarios/races) that run a touched model function,
    /// with the labels they enter, most first.
    pub families: Vec<(PathBuf, Vec<String>)>,
    /// Other scenarios that do, most first.
    pub scenarios: Vec<(PathBuf, Vec<String>)>,
    /// What nothing covers.
    pub gaps: Vec<String>,
}

/// Review `patch` against the map (or `tree`), with the scenarios under
/// `scenarios_dir`.
pub fn review(
    patch: &[FilePatch],
    map: &Map,
    left_out: &[Unmirrored],
    tree: Option<&Path>,
    cover: &BTreeMap<PathBuf, BTreeSet<String>>,
) -> Review {
    let touched = touched(patch, map, left_out, tree);
    let mut mirrored = Vec::new();
    let mut gaps = Vec::new();
    let mut labels: BTreeSet<String> = BTreeSet::new();
    let mut through: Vec<(String, Vec<String>, Mirror)> = Vec::new();
    for t in &touched {
        if !t.known {
            gaps.push(format!("{}: the model mirrors nothing in this file", t.file));
            continue;
        }
        for n in &t.names {
            let ms: Vec<Mirror> = map.of(&t.file, n).cloned().collect();
            if ms.is_empty() {
                gaps.push(format!("{} {}: the model does not mirror it", t.file, display_name(n)));
                continue;
            }
            for m in &ms {
                labels.extend(map.reach_labels(&m.model));
            }
            if n.starts_with("struct ") {
                // A structure's change reaches the model items that use
                // the fields its changed lines declare.
                let range = spans(&t.file, map, left_out, tree)
                    .and_then(|sp| sp.into_iter().find(|s| &s.name == n))
                    .map(|s| s.lines);
                let fields = changed_fields(patch, &t.file, range, map, left_out, tree);
                for user in users_of(map, &fields) {
                    labels.extend(map.reach_labels(&user.model));
                    through.push((n.clone(), fields.clone(), user));
                }
            }
            mirrored.push((t.file.clone(), n.clone(), ms));
        }
        if t.outside > 0 {
            gaps.push(format!(
                "{}: {} changed line(s) outside the definitions the map knows ({}): mirror what is new behaviour",
                t.file,
                t.outside,
                if tree.is_some() || super::is_core(&t.file) {
                    "a new function, a declaration, a macro"
                } else {
                    "a new function, a declaration, or a function of this touch-point file the model does not mirror: --kernel-src TREE names it"
                }
            ));
        }
    }
    let mut rows = Vec::new();
    for b in wqsim_model::bugs::CATALOG {
        let hit = site_functions(b.site).iter().any(|(f, n)| {
            touched.iter().any(|t| &t.file == f && t.names.contains(n))
                || through.iter().any(|(_, _, m)| &m.kernel_file == f && &m.kernel_name == n)
        });
        if hit {
            rows.push((b.id, b.slug, format!("scenarios/catalog/{}", crate::catalog::file_name(b))));
        }
    }
    let mut families = Vec::new();
    let mut scenarios = Vec::new();
    for (path, entered) in cover {
        let hit: Vec<String> = labels.iter().filter(|l| entered.contains(*l)).cloned().collect();
        if hit.is_empty() {
            continue;
        }
        let is_family = path.components().any(|c| c.as_os_str() == "races");
        if is_family {
            families.push((path.clone(), hit));
        } else if !path.components().any(|c| c.as_os_str() == "catalog") {
            scenarios.push((path.clone(), hit));
        }
    }
    // A label few scenarios reach says more about a scenario than one all
    // of them reach (the collector, the posting path): rank by the sum of
    // each hit label's rarity, 1 / (scenarios reaching it).
    let reach_count = |l: &String| cover.values().filter(|e| e.contains(l)).count().max(1) as f64;
    let score = |ls: &[String]| ls.iter().map(|l| 1.0 / reach_count(l)).sum::<f64>();
    let rank = |v: &mut Vec<(PathBuf, Vec<String>)>| {
        // Ties go to the more focused scenario: the one reaching fewer
        // functions in all.
        let breadth = |p: &PathBuf| cover.get(p).map_or(0, BTreeSet::len);
        v.sort_by(|a, b| {
            score(&b.1).total_cmp(&score(&a.1)).then(breadth(&a.0).cmp(&breadth(&b.0))).then(a.0.cmp(&b.0))
        });
    };
    rank(&mut families);
    rank(&mut scenarios);
    for (file, name, ms) in &mirrored {
        let reach: Vec<String> = ms.iter().flat_map(|m| map.reach_labels(&m.model)).collect();
        let run = reach.iter().any(|l| cover.values().any(|e| e.contains(l)));
        if !run {
            gaps.push(format!(
                "{file} {}: mirrored, but no scenario reaches it (its sequential run and {COVERAGE_SCHEDULES} random schedules)",
                display_name(name)
            ));
        }
        if !families.iter().any(|(_, ls)| reach.iter().any(|l| ls.contains(l))) {
            gaps.push(format!("{file} {}: no race family runs it: write one (scenarios/races/)", display_name(name)));
        }
    }
    Review { touched, mirrored, through, rows, families, scenarios, gaps }
}

/// The field names declared on the changed lines of `file` that fall in
/// the mirrored structure's range (`u32 info_id;` gives `info_id`).
fn changed_fields(
    patch: &[FilePatch],
    file: &str,
    range: Option<(u32, u32)>,
    map: &Map,
    left_out: &[Unmirrored],
    tree: Option<&Path>,
) -> Vec<String> {
    let Some((a, b)) = range else { return Vec::new() };
    let mut out: BTreeSet<String> = BTreeSet::new();
    for fp in patch.iter().filter(|f| resolve(&f.file, map, left_out, tree) == file) {
        for (line, text) in &fp.texts {
            if *line < a || *line > b {
                continue;
            }
            let code = text.split("/*").next().unwrap_or("");
            let Some(decl) = code.trim().strip_suffix(';') else { continue };
            let decl = decl.split('[').next().unwrap_or(decl);
            let name: String = decl
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out.into_iter().collect()
}

/// The mirrored model functions whose code uses one of `fields`: as a
/// field access (`.info_id`), or inside a longer name of the model's own
/// (`rcu_over_info_id`) when the field's name is long enough to be
/// specific.
fn users_of(map: &Map, fields: &[String]) -> Vec<Mirror> {
    let mut out: Vec<Mirror> = Vec::new();
    for m in &map.mirrors {
        if !m.model.item.starts_with("fn ") {
            continue;
        }
        let Some((_, text)) = wqsim_model::kmap::SOURCES.iter().find(|(f, _)| *f == m.model.file) else { continue };
        let body = text.lines().skip(m.model.line as usize - 1).take((m.model.end + 1 - m.model.line) as usize);
        let uses = body.filter(|l| !l.trim_start().starts_with("//")).any(|l| {
            fields.iter().any(|f| {
                l.match_indices(&format!(".{f}"))
                    .any(|(k, m)| !l[k + m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'))
                    || (f.len() >= 5
                        && l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .any(|id| id != f && id.contains(f.as_str())))
            })
        });
        if uses {
            out.push(m.clone());
        }
    }
    out
}

/// The review as the reviewer reads it.
pub fn render(r: &Review, patch_name: &str, tree: Option<&Path>) -> String {
    let mut s = String::new();
    let against = match tree {
        Some(t) => format!("the definitions of {}", t.display()),
        None => format!("Linux {MAP_VERSION}'s line numbers, from the kernel map"),
    };
    let _ = writeln!(s, "review of {patch_name} (hunks placed by {against})");
    let _ = writeln!(s, "\ntouched kernel definitions:");
    for t in &r.touched {
        if !t.known {
            let _ = writeln!(s, "  {}: not a mirrored file", t.file);
            continue;
        }
        for n in &t.names {
            let ms: Vec<&Mirror> =
                r.mirrored.iter().filter(|(f, k, _)| f == &t.file && k == n).flat_map(|(_, _, m)| m).collect();
            if ms.is_empty() {
                let _ = writeln!(s, "  {} {}: not mirrored", t.file, display_name(n));
            }
            for m in ms {
                let _ = writeln!(s, "  {} {} -> {}", t.file, display_name(n), m.model.place());
            }
        }
    }
    let mut shown = BTreeSet::new();
    for (st, fields, m) in &r.through {
        if !shown.insert(m.model.place()) {
            continue;
        }
        let _ = writeln!(
            s,
            "  {} {} uses {st}'s {} -> {}",
            m.kernel_file,
            display_name(&m.kernel_name),
            fields.join(", "),
            m.model.place()
        );
    }
    let _ = writeln!(s, "\ncatalog rows with their switch there:");
    if r.rows.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for (id, slug, file) in &r.rows {
        let _ = writeln!(s, "  {id} {slug}: {file}");
    }
    let list = |s: &mut String, title: &str, v: &[(PathBuf, Vec<String>)], max: usize| {
        let _ = writeln!(s, "\n{title} ({}):", v.len());
        if v.is_empty() {
            let _ = writeln!(s, "  none");
        }
        for (p, ls) in v.iter().take(max) {
            let _ = writeln!(s, "  {} ({})", p.display(), ls.join(", "));
        }
        if v.len() > max {
            let _ = writeln!(s, "  ... and {} more", v.len() - max);
        }
    };
    list(&mut s, "race families that run the touched model functions", &r.families, 12);
    list(&mut s, "other scenarios that run them", &r.scenarios, 8);
    let _ = writeln!(s, "\nrun:");
    let mut files: Vec<String> = r.rows.iter().map(|(_, _, f)| f.clone()).collect();
    files.extend(r.families.iter().take(6).map(|(p, _)| p.display().to_string()));
    if files.is_empty() {
        let _ = writeln!(s, "  nothing covers this patch: see the gaps");
    } else {
        let all = files.join(" ");
        let _ = writeln!(s, "  wqsim check {all}");
        let _ = writeln!(
            s,
            "  RUSTFLAGS=\"--cfg loom\" CARGO_TARGET_DIR=target/loom cargo run --profile explore -p wqsim -- check {all}"
        );
        for (p, _) in r.families.iter().take(6) {
            let _ = writeln!(s, "  wqsim explore --explorer pct --iterations 100000 {}", p.display());
        }
        for (id, _, f) in &r.rows {
            let _ = writeln!(
                s,
                "  wqsim explore --explorer pct --without {id} {f}   # the row's scenario with its switch off: the fixed side must hold"
            );
        }
    }
    let _ = writeln!(
        s,
        "  mirror the patch as a catalog switch (docs/REVIEWING.md), then: ci/matrix and ci/mutate --sample 12"
    );
    let _ = writeln!(s, "\ngaps:");
    if r.gaps.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for g in &r.gaps {
        let _ = writeln!(s, "  {g}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_give_the_old_lines_they_change() {
        let p = "\
--- a/fs/pipe.c
+++ b/fs/pipe.c
@@ -10,4 +10,5 @@ static int f(void)
 a
-b
+c
+d
 e
\\ No newline at end of file
";
        let f = parse_patch(p).unwrap();
        let texts = vec![(11, "b".to_string()), (11, "c".to_string()), (11, "d".to_string())];
        assert_eq!(
            f,
            vec![FilePatch { file: "fs/pipe.c".into(), removed: vec![11], inserted_after: vec![11, 11], texts }]
        );
    }

    #[test]
    fn a_hunk_past_the_last_line_number_is_an_error() {
        let e = parse_patch("+++ b/x.c\n@@ -4294967295,2 +1,2 @@\n a\n b\n").unwrap_err();
        assert_eq!(e, "line 3: the hunk runs past line 4294967295 (a file has fewer lines)");
    }

    /// Code added after a closing brace is new, outside every definition;
    /// code added inside a body is that function's; `diff -u` between two
    /// trees names the file with the tree's directory in front.
    #[test]
    fn insertions_are_placed_inside_a_definition_only_when_it_holds_both_sides() {
        let m = Map::default();
        let left_out = vec![
            Unmirrored { file: "fs/pipe.c".into(), name: "f".into(), lines: (1, 4) },
            Unmirrored { file: "fs/pipe.c".into(), name: "g".into(), lines: (6, 9) },
        ];
        let after_brace =
            parse_patch("--- linux-6.12/fs/pipe.c\n+++ linux-6.12.1/fs/pipe.c\n@@ -4,2 +4,3 @@\n }\n+int h;\n \n")
                .unwrap();
        let t = touched(&after_brace, &m, &left_out, None);
        assert_eq!(t, vec![Touched { file: "fs/pipe.c".into(), names: vec![], outside: 1, known: true }]);
        let in_body = parse_patch("--- a/fs/pipe.c\n+++ b/fs/pipe.c\n@@ -7,2 +7,3 @@\n a\n+b\n c\n").unwrap();
        let t = touched(&in_body, &m, &left_out, None);
        assert_eq!(t, vec![Touched { file: "fs/pipe.c".into(), names: vec!["g".into()], outside: 0, known: true }]);
    }

    #[test]
    fn text_without_hunks_is_an_error_that_says_what_is_expected() {
        let e = parse_patch("hello\n").unwrap_err();
        assert!(e.starts_with("no hunk: expected a unified diff"), "{e}");
        let e = parse_patch("+++ b/x.c\n@@ -x +1 @@\n").unwrap_err();
        assert_eq!(e, "line 2: expected a hunk header `@@ -A,B +C,D @@`, found \"@@ -x +1 @@\"");
    }
}
