//! The explorer front end: a failure comes with a replay command whose
//! schedule reproduces the same violation, and a timeline; bad input is an
//! error that names the fix; loom's build is named when asked for.

#![cfg(not(loom))]

use wqsim::explore::{Base, Budget, Kind, Target, explore, replay};
use wqsim_model::Inv;
use wqsim_model::bugs::Bug;

fn f3() -> Target {
    Target { family: Some("post_vs_read".into()), trigger: None, base: Base::Fixed, bugs: vec![Bug::F3] }
}

#[test]
fn a_failure_prints_a_replay_command_that_reproduces_it() {
    let found = explore(Kind::Pct, &f3(), Budget::default()).unwrap();
    let v = found.result.clone().expect_err("F3 is caught by PCT");
    assert_eq!(v.inv, Inv::N1);
    let cmd = found.replay.expect("a replay command");
    assert!(cmd.starts_with("cargo run --release -p wqsim -- replay"), "{cmd}");
    assert!(cmd.contains("--family post_vs_read --base fixed --bugs F3 --schedule s2:"), "{cmd}");
    let schedule = cmd.split("--schedule ").nth(1).unwrap();
    wqsim_model::conc::set_detail(true);
    let again = replay(&f3(), schedule).unwrap();
    assert_eq!(again.result, Err(v));
    // The timeline of the replayed run shows the reader releasing the note
    // before the poster's post completes.
    let trace = wqsim_model::conc::last_trace().unwrap();
    let text = wqsim::timeline::render(&f3().program().unwrap(), &trace.events_by_thread());
    let released = text.find("note 0 released").expect("the release is drawn");
    let posted = text.find("post: slot 0, note 0").expect("the post is drawn");
    assert!(released < posted, "{text}");
}

#[test]
fn a_malformed_schedule_is_an_error() {
    let e = replay(&f3(), "s2:1.2").unwrap_err();
    assert!(e.contains("malformed schedule"), "{e}");
}

#[test]
fn the_fixed_family_holds() {
    let t = Target { bugs: vec![], ..f3() };
    let found = explore(Kind::Pct, &t, Budget { iterations: 2_000, ..Budget::default() }).unwrap();
    assert_eq!(found.result, Ok(()));
    assert_eq!(found.executions, 2_000);
    assert!(found.replay.is_none());
}

fn target(family: &str) -> Target {
    Target { family: Some(family.into()), trigger: None, base: Base::Fixed, bugs: vec![] }
}

#[test]
fn unknown_family_lists_the_families() {
    let e = explore(Kind::Seq, &target("post_vs_nothing"), Budget::default()).unwrap_err();
    assert!(e.starts_with("no race family named \"post_vs_nothing\"; the families are: post_vs_read,"), "{e}");
}

#[test]
fn loom_names_its_build() {
    let e = explore(Kind::Loom, &target("post_vs_read"), Budget::default()).unwrap_err();
    assert_eq!(
        e,
        "this wqsim was built for the shuttle backend; run loom with: RUSTFLAGS=\"--cfg loom\" \
         CARGO_TARGET_DIR=target/loom cargo run --release -p wqsim -- explore --explorer loom --family post_vs_read --base fixed"
    );
}

#[test]
fn a_race_switch_has_no_trigger() {
    let t = Target { family: None, trigger: Some(Bug::W12), base: Base::Fixed, bugs: vec![Bug::W12] };
    let e = explore(Kind::Seq, &t, Budget::default()).unwrap_err();
    assert_eq!(e, "W12 resize-nolock has no sequential trigger; it is a race: use --family post_vs_resize");
}

#[test]
fn a_trigger_is_caught_and_replayable() {
    let t = Target { family: None, trigger: Some(Bug::W4), base: Base::Fixed, bugs: vec![Bug::W4] };
    let f = explore(Kind::Seq, &t, Budget::default()).unwrap();
    assert_eq!(f.result.map_err(|v| v.inv), Err(wqsim_model::Inv::N1));
    assert_eq!(
        f.replay.as_deref(),
        Some("cargo run --release -p wqsim -- explore --explorer seq --trigger W4 --base fixed --bugs W4")
    );
}

#[test]
fn timeline_has_a_column_per_thread() {
    wqsim_model::conc::set_detail(true);
    let t = target("post_vs_read");
    let p = t.program().unwrap();
    let f = explore(Kind::Seq, &t, Budget::default()).unwrap();
    assert_eq!(f.result, Ok(()));
    let trace = wqsim_model::conc::last_trace().unwrap();
    let text = wqsim::timeline::render(&p, &trace.events_by_thread());
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
    let found = explore(Kind::Pct, &f3(), Budget::default()).unwrap();
    let cmd = found.replay.unwrap();
    let schedule = cmd.split("--schedule ").nth(1).unwrap();
    // As if pipe_read had been renamed: the reader's steps no longer fit.
    let edited = schedule.replace("@pipe_read", "@pipe_read_renamed");
    let again = replay(&f3(), &edited).unwrap();
    let note = again.note.expect("a divergence note");
    assert!(note.starts_with("the schedule diverged at step "), "{note}");
    assert!(note.ends_with("the rest ran under the random scheduler"), "{note}");
    // The unedited schedule fits all the way.
    assert_eq!(replay(&f3(), schedule).unwrap().note, None);
}
