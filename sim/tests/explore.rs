//! Exploring scenarios with an explorer the command line names: a failure
//! comes with a replay token whose schedule reproduces the same violation,
//! and a timeline; a schedule that no longer fits says where; loom's build
//! is named when asked for.

#![cfg(not(loom))]

use wqsim::explore::{Budget, Kind, run_of};
use wqsim::run::{execute, parse_token, replay};
use wqsim::scenario::Scenario;
use wqsim_model::Inv;
use wqsim_model::bugs::Bug;

fn load(rel: &str) -> Scenario {
    wqsim::scenario::load(&wqsim::catalog::root().join(rel)).unwrap()
}

/// F3's scenario: post_vs_read with F3 on.
fn f3() -> Scenario {
    load("catalog/f3-note-cleared-after-publish.wq")
}

#[test]
fn a_failure_prints_a_replay_token_that_reproduces_it() {
    let sc = f3();
    let run = run_of(&sc, Kind::Pct, Budget::default(), vec![]);
    let r = execute(&sc, &run);
    let v = r.result.clone().unwrap().expect_err("F3 is caught by PCT");
    assert_eq!(v.inv, Inv::N1);
    let token = r.token(&sc);
    assert!(token.contains(":~pct+expect+holds:pct:s2:"), "{token}");
    wqsim_model::conc::set_detail(true);
    let again = replay(&sc, &parse_token(&token).unwrap()).unwrap();
    assert_eq!(again.result, Some(Err(v)));
    // The timeline of the replayed run shows the reader releasing the note
    // after the poster published the slot and before the poster, still
    // holding rd_wait.lock, claims it (the claim is the poster's next step
    // under the lock: its unlock follows).
    let trace = wqsim_model::conc::last_trace().unwrap();
    let text = wqsim::timeline::render(&sc.program(None), &trace.events_by_thread());
    let lines: Vec<&str> = text.lines().collect();
    let row = |from: usize, what: &str| lines.iter().skip(from).position(|l| l.contains(what)).map(|i| i + from);
    let posted = row(0, "post: slot 0, note 0").expect("the post is drawn");
    let poster_column = lines[posted].find("post: slot 0").unwrap();
    let released = row(posted, "note 0 released").expect("the release is drawn after the post");
    let unlocked = (posted..lines.len())
        .find(|i| lines[*i].find("unlock pipe->rd_wait.lock") == Some(poster_column))
        .expect("the poster's unlock is drawn");
    assert!(released < unlocked, "{text}");
}

#[test]
fn without_the_switch_it_holds_and_the_budget_is_spent() {
    let sc = f3();
    let budget = Budget { iterations: 2_000, ..Budget::default() };
    let r = execute(&sc, &run_of(&sc, Kind::Pct, budget, vec![Bug::F3]));
    assert_eq!(r.result, Some(Ok(())));
    assert_eq!(r.executions, 2_000);
    assert!(r.matches());
}

#[test]
fn a_token_run_that_does_not_parse_is_an_error() {
    let sc = f3();
    let mut tok = parse_token(&format!("wq1:{}:{:016x}:~pct+frobnicate:pct:-", sc.path, sc.hash)).unwrap();
    let e = replay(&sc, &tok).unwrap_err();
    assert!(e.starts_with("the token's run `run pct frobnicate` does not parse:"), "{e}");
    tok.driver = "dfs".into();
    tok.run = wqsim::run::TokenRun::Adhoc("run pct expect holds".into());
    assert_eq!(replay(&sc, &tok).unwrap_err(), "the token's run `run pct expect holds` is not a `dfs` run");
}

#[test]
fn loom_takes_the_scenarios_bound() {
    let sc = load("races/writers_vs_reader.wq");
    assert_eq!(run_of(&sc, Kind::Loom, Budget::default(), vec![]).preemptions, Some(1));
    let sc = load("catalog/w13-defunct-race.wq");
    assert_eq!(run_of(&sc, Kind::Loom, Budget::default(), vec![]).preemptions, Some(3));
    let b = Budget { preemptions: Some(2), ..Budget::default() };
    assert_eq!(run_of(&sc, Kind::Loom, b, vec![]).preemptions, Some(2));
    // This build cannot run it, and says so with a row, not a verdict.
    let r = execute(&sc, &run_of(&sc, Kind::Loom, Budget::default(), vec![]));
    assert_eq!((r.result, r.stop), (None, None));
}

#[test]
fn timeline_has_a_column_per_thread() {
    let (text, _) = wqsim::drive::trace_file(&wqsim::catalog::root().join("races/post_vs_read.wq")).unwrap();
    assert!(text.ends_with("verdict: holds\n"), "{text}");
    let header = text.lines().next().unwrap();
    assert!(header.starts_with(" step  t1 setup/driver"), "{header}");
    assert!(header.contains("t2 poster") && header.contains("t3 reader"), "{header}");
    // The poster's syscall sits in the second column, the reader's in the third.
    let col = |needle: &str| text.lines().find(|l| l.contains(needle)).map(|l| l.find(needle).unwrap());
    let update = col("> update k0").expect("the poster's update is drawn");
    let read = col("> read p0.r 4096").expect("the reader's read is drawn");
    assert_eq!(Some(update), header.find("t2 poster"), "{text}");
    assert_eq!(Some(read), header.find("t3 reader"), "{text}");
    assert!(update < read);
}

#[test]
fn a_schedule_that_no_longer_fits_says_where() {
    let sc = f3();
    let r = execute(&sc, &run_of(&sc, Kind::Pct, Budget::default(), vec![]));
    let mut tok = parse_token(&r.token(&sc)).unwrap();
    let schedule = tok.schedule.clone().unwrap();
    // As if the reader's kernel functions had been renamed: its steps no
    // longer fit. (A renamed function inside a stretch the thread was
    // already running is taken for the thread leaving it early; the first
    // segment of the reader after the poster ran must fit.)
    let (head, segments) = schedule.split_once(':').unwrap();
    let renamed: Vec<String> = segments
        .split('.')
        .map(|seg| match seg.split_once('@') {
            Some(("2", rest)) => match rest.split_once('*') {
                Some((f, n)) => format!("2@{f}_renamed*{n}"),
                None => format!("2@{rest}_renamed"),
            },
            _ => seg.to_string(),
        })
        .collect();
    tok.schedule = Some(format!("{head}:{}", renamed.join(".")));
    let again = replay(&sc, &tok).unwrap();
    let note = again.note.expect("a divergence note");
    assert!(note.starts_with("the schedule diverged at step "), "{note}");
    assert!(note.ends_with("the rest ran under the random scheduler"), "{note}");
    // The unedited schedule fits all the way.
    tok.schedule = Some(schedule);
    assert_eq!(replay(&sc, &tok).unwrap().note, None);
}

/// A blocking thread's sleeps after the end-of-run signal end at once,
/// on queues made before the signal and after it (a fuzz finding: the
/// second `epoll p0.r -1` slept on a new epoll instance for good).
#[test]
fn sleeps_after_the_signal_end_at_once() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sleeps-after-the-signal.wq");
    let sc = wqsim::scenario::load(std::path::Path::new(path)).unwrap();
    for run in &sc.runs {
        let r = execute(&sc, run);
        assert!(r.matches(), "{r:?}");
    }
    assert_eq!(sc.runs.len(), 3);
}

/// A call in the setup that would sleep lets pending deferred work run
/// first (the collector's removal record wakes the read), and with
/// nothing left to run it is a hang (V1), in a sequential run and under
/// the explorers alike (`tests/data/setup-sleeps.wq`).
#[test]
fn a_setup_that_would_sleep_lets_deferred_work_run_then_hangs() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/setup-sleeps.wq");
    let sc = wqsim::scenario::load(std::path::Path::new(path)).unwrap();
    assert_eq!(sc.runs.len(), 3);
    for run in &sc.runs {
        let r = execute(&sc, run);
        assert!(r.matches(), "{r:?}");
        let v = r.result.expect("a run").expect_err("a hang");
        assert!(v.message.contains("the setup sleeps in `read p0.r 4096`"), "{v}");
    }
    let t = wqsim::run::transcript(&sc, None);
    assert!(t.mismatches.is_empty(), "{:?}", t.mismatches);
}
