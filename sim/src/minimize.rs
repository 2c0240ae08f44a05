//! The one shrinker: the smallest scenario that still fails. `wqsim
//! minimize` shrinks a scenario under its violation-expecting run line;
//! `wqsim from-fuzz` shrinks a fuzz finding, written as a scenario, under
//! the fuzzer's own schedule first. Both call [`shrink`].

use crate::explore::Kind;
use crate::run::execute;
use crate::scenario::{Driver, Expect, Scenario};

/// Operations in the scenario (setup and every thread).
pub fn size(sc: &Scenario) -> usize {
    sc.setup.len() + sc.threads.iter().map(|t| t.steps.len()).sum::<usize>()
}

/// The smallest scenario (fewest threads, then fewest operations) for
/// which `fails` still holds, by greedy deletion to a fixed point: whole
/// threads first (not those the schedule names), then single operations
/// (each thread keeps one; the setup may go entirely). `sc` must fail.
pub fn shrink(sc: &Scenario, fails: impl Fn(&Scenario) -> bool) -> Scenario {
    let mut cur = sc.clone();
    loop {
        let mut changed = false;
        let mut t = 0;
        while t < cur.threads.len() {
            let named = cur.schedule.iter().flatten().any(|d| d.thread == cur.threads[t].name);
            if !named {
                let mut c = cur.clone();
                c.threads.remove(t);
                if fails(&c) {
                    cur = c;
                    changed = true;
                    continue;
                }
            }
            t += 1;
        }
        // Each thread's operations, then the setup's.
        for l in 0..=cur.threads.len() {
            let mut i = 0;
            loop {
                let (len, keep) = match cur.threads.get(l) {
                    Some(t) => (t.steps.len(), 1),
                    None => (cur.setup.len(), 0),
                };
                if i >= len || len <= keep {
                    break;
                }
                let mut c = cur.clone();
                match c.threads.get_mut(l) {
                    Some(t) => {
                        t.steps.remove(i);
                    }
                    None => {
                        c.setup.remove(i);
                    }
                }
                if fails(&c) {
                    cur = c;
                    changed = true;
                } else {
                    i += 1;
                }
            }
        }
        if !changed {
            return cur;
        }
    }
}

/// The smallest scenario (fewest operations and threads, then the lowest
/// PCT depth) whose first violation-expecting run still gives that
/// violation, and a summary.
pub fn minimize_scenario(sc: &Scenario) -> Result<(Scenario, String), String> {
    let (ri, inv) = sc
        .runs
        .iter()
        .enumerate()
        .find_map(|(i, r)| match r.expect {
            Expect::Violation(v) if r.driver != Driver::Explorer(Kind::Loom) => Some((i, v)),
            _ => None,
        })
        .ok_or_else(|| format!("{}: no run line expects a violation; nothing to minimise", sc.path))?;
    let fails = |c: &Scenario| -> bool {
        let r = execute(c, &c.runs[0]);
        matches!(r.result, Some(Err(v)) if v.inv == inv)
    };
    let mut cur = sc.clone();
    cur.runs = vec![sc.runs[ri].clone()];
    if !fails(&cur) {
        return Err(format!(
            "{}: the run on line {} does not give {inv}; nothing to minimise",
            sc.path, sc.runs[ri].line
        ));
    }
    let before = (size(&cur), cur.threads.len());
    cur = shrink(&cur, fails);
    // Fewer preemptions: the lowest PCT depth that still fails.
    if cur.runs[0].driver == Driver::Explorer(Kind::Pct) {
        for d in 1..cur.runs[0].depth {
            let mut c = cur.clone();
            c.runs[0].depth = d;
            if fails(&c) {
                cur = c;
                break;
            }
        }
    }
    // The minimal scenario keeps the original's other run lines that still
    // make sense (the same drivers, with and without the switches).
    let mut out = cur.clone();
    out.runs = sc.runs.iter().filter(|r| r.line != sc.runs[ri].line).cloned().collect();
    out.runs.insert(0, cur.runs[0].clone());
    out.about.insert(0, format!("Minimised from {} by wqsim minimize.", sc.path));
    let after = (size(&cur), cur.threads.len());
    let summary = format!(
        "{}: {} operations in {} threads -> {} operations in {} threads; still {inv} under run {}{}",
        sc.path,
        before.0,
        before.1,
        after.0,
        after.1,
        cur.runs[0].driver.name(),
        if cur.runs[0].driver == Driver::Explorer(Kind::Pct) {
            format!(" depth={}", cur.runs[0].depth)
        } else {
            String::new()
        }
    );
    Ok((out, summary))
}
