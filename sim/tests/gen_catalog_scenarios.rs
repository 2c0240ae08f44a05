//! The catalog's scenarios (`scenarios/catalog/`): one per switch, failing
//! with it and holding without. `WQSIM_WRITE_SCENARIOS=1` writes them from
//! the catalog's triggers and families; otherwise the test checks that
//! every switch has its scenario and that the files are what the catalog
//! gives (so the two cannot drift apart).

#![cfg(not(loom))]

use wqsim::explore::{Base, Kind};
use wqsim::scenario::{Driver, Expect, from_program, parse, run_line};
use wqsim_model::bugs::{CATALOG, trigger};
use wqsim_model::conc::Program;
use wqsim_model::families::family;
use wqsim_model::kernel::Config;

fn wrap(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + w.len() > 74 {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur += w;
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// The explorer that catches each race switch with its own invariant.
fn race_driver(id: &str) -> Kind {
    match id {
        "W2" | "W14" | "F2" | "F4" => Kind::Loom,
        _ => Kind::Pct,
    }
}

fn scenario_text(b: &wqsim_model::bugs::BugInfo) -> (String, String) {
    let mut about = vec![format!("{} {}: {}", b.id, b.slug, b.fix_title)];
    let fix = if b.finding {
        "a finding: the kernel today has it; off is the proposed fix".to_string()
    } else {
        format!("fixed by {} in {}{}", b.fix_hash, b.fixed_in, b.cve.map(|c| format!(" ({c})")).unwrap_or_default())
    };
    about.push(fix);
    about.push(String::new());
    about.extend(wrap(b.trigger));
    let (base, bugs) = (Base::Fixed, vec![b.bug]);
    let (program, runs) = match b.family {
        None => {
            let t = trigger(b.bug).expect("a trigger");
            let p = Program { config: Config { bugs: Config::fixed().bugs, ..t.config }, setup: t.ops, actors: vec![] };
            let runs = vec![
                run_line(Driver::Explorer(Kind::Seq), vec![], Expect::Violation(b.caught_by)),
                run_line(Driver::Explorer(Kind::Seq), vec![b.bug], Expect::Holds),
            ];
            (p, runs)
        }
        Some(f) => {
            let p = (family(f).unwrap().program)(Config::fixed());
            let k = race_driver(b.id);
            let mut runs = vec![
                run_line(Driver::Explorer(k), vec![], Expect::Violation(b.caught_by)),
                run_line(Driver::Explorer(k), vec![b.bug], Expect::Holds),
            ];
            if k == Kind::Loom {
                runs.push(run_line(Driver::Explorer(Kind::Pct), vec![b.bug], Expect::Holds));
            }
            (p, runs)
        }
    };
    let sc = from_program(about, base, bugs, &program, runs);
    (format!("scenarios/catalog/{}-{}.wq", b.id.to_lowercase(), b.slug), sc.to_text())
}

fn family_text(f: &wqsim_model::families::Family) -> (String, String) {
    let mut about = vec![format!("Race family {}: {}.", f.name, f.about)];
    about.push("Every switch off: it must hold under every explorer.".into());
    let p = (f.program)(Config::fixed());
    let mut loom = run_line(Driver::Explorer(Kind::Loom), vec![], Expect::Holds);
    loom.preemptions = Some(f.loom_bound);
    let runs = vec![
        run_line(Driver::Explorer(Kind::Seq), vec![], Expect::Holds),
        run_line(Driver::Explorer(Kind::Random), vec![], Expect::Holds),
        run_line(Driver::Explorer(Kind::Pct), vec![], Expect::Holds),
        run_line(Driver::Explorer(Kind::Dfs), vec![], Expect::Holds),
        loom,
    ];
    let sc = from_program(about, Base::Fixed, vec![], &p, runs);
    (format!("scenarios/races/{}.wq", f.name), sc.to_text())
}

#[test]
fn every_race_family_has_its_scenario() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let write = std::env::var_os("WQSIM_WRITE_SCENARIOS").is_some();
    for f in wqsim_model::families::FAMILIES {
        let (rel, text) = family_text(f);
        let sc = parse(&rel, &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sc.to_text(), text, "{rel}: the printed scenario does not read back the same");
        let path = format!("{root}/{rel}");
        if write {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{rel} is missing: run with WQSIM_WRITE_SCENARIOS=1"));
        assert_eq!(on_disk, text, "{rel} differs from its family: regenerate with WQSIM_WRITE_SCENARIOS=1");
    }
}

#[test]
fn every_catalog_switch_has_its_scenario() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let write = std::env::var_os("WQSIM_WRITE_SCENARIOS").is_some();
    for b in CATALOG {
        let (rel, text) = scenario_text(b);
        let path = format!("{root}/{rel}");
        // What the generator writes must parse back to itself.
        let sc = parse(&rel, &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sc.to_text(), text, "{rel}: the printed scenario does not read back the same");
        if write {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{rel} is missing: run with WQSIM_WRITE_SCENARIOS=1"));
        assert_eq!(on_disk, text, "{rel} differs from the catalog: regenerate with WQSIM_WRITE_SCENARIOS=1");
    }
}
