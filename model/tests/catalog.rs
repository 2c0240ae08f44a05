//! Power tests of the bug catalog: every switch, on, makes the oracle (not
//! a bespoke assertion) report exactly the invariant the catalog names,
//! with the details below; the same program with the switch off holds.

use wqsim_model::Inv;
use wqsim_model::bugs::{Bug, CATALOG, trigger};
use wqsim_model::seq::run_program;

fn caught(bug: Bug, inv: Inv, detail: &str) {
    let t = trigger(bug).expect("a sequential trigger");
    if let Err(v) = run_program(t.config.clone(), &t.ops, t.teardown) {
        panic!("{bug} off: the fixed model must hold, got {v}");
    }
    let v = match run_program(t.config.clone().with_bug(bug), &t.ops, t.teardown) {
        Ok(outs) => panic!("{bug} on: nothing was reported ({} outcomes)", outs.len()),
        Err(v) => v,
    };
    assert_eq!(v.inv, inv, "{bug} on: {v}");
    assert_eq!(bug.info().caught_by, inv, "the catalog row of {bug} names another invariant");
    assert!(v.message.contains(detail), "{bug} on: {v}\n  expected it to mention: {detail}");
}

#[test]
fn w1_filter_oob() {
    caught(
        Bug::W1,
        Inv::H3,
        "slab-out-of-bounds: watch_filter.filters[0] of 0 elements accessed in watch_queue_set_filter",
    );
}

#[test]
fn w3_bitmap_leak() {
    caught(Bug::W3, Inv::H5, "notes_bitmap#");
}

#[test]
fn w4_bitmap_size() {
    caught(Bug::W4, Inv::N1, "64 free bits + 0 held notes != nr_notes 32 (32 free bits at or beyond nr_notes)");
}

#[test]
fn w5_ring_pow2() {
    caught(Bug::W5, Inv::I4, "ring_size 96 is not a power of two");
}

#[test]
fn w6_release_page() {
    caught(Bug::W6, Inv::H5, "page#");
}

#[test]
fn w7_free_order() {
    caught(Bug::W7, Inv::H1, "use-after-free: notes_bitmap#");
    caught(Bug::W7, Inv::H1, "accessed in watch_queue_pipe_buf_release");
}

#[test]
fn w9_errpath_null() {
    caught(Bug::W9, Inv::H4, "null-ptr-deref: __free_page(NULL) in watch_queue_set_size");
}

#[test]
fn w10_watch_leak() {
    caught(Bug::W10, Inv::H5, "watch#");
}

#[test]
fn w11_pages_array_leak() {
    caught(Bug::W11, Inv::H5, "notes[]#");
}

#[test]
fn w16_dangling_pipe() {
    caught(Bug::W16, Inv::Q1, "points at pipe_inode_info#0, which was freed");
}

#[test]
fn w17_watch_limit() {
    caught(Bug::W17, Inv::A2, "nr_watches 9 > RLIMIT_NOFILE 8");
}

#[test]
fn w19_acct_mismatch() {
    caught(Bug::W19, Inv::A1, "user->pipe_bufs 1 != 16");
}

#[test]
fn w18_write_lockdep() {
    caught(
        Bug::W18,
        Inv::K1,
        "possible recursive locking detected: pipe->mutex acquired in pipe_write while already holding pipe->mutex",
    );
}

#[test]
fn p10_u16_index() {
    caught(Bug::P10, Inv::I1, "ring occupancy: FIONREAD walked 17 slots of a 16-slot ring (head=0 tail=65535)");
}

#[test]
fn p12_slot_reuse_flags() {
    caught(Bug::P12, Inv::S3, "a loss record was read but no post was lost");
}

/// Every row with a sequential trigger has a power test above (the race
/// rows have theirs in the loom and shuttle suites).
#[test]
fn every_sequential_row_has_a_power_test() {
    let tested = [
        Bug::W18,
        Bug::P10,
        Bug::W1,
        Bug::W3,
        Bug::W4,
        Bug::W5,
        Bug::W6,
        Bug::W7,
        Bug::W9,
        Bug::W10,
        Bug::W11,
        Bug::W16,
        Bug::W17,
        Bug::W19,
        Bug::P12,
    ];
    for info in CATALOG.iter().filter(|i| trigger(i.bug).is_some()) {
        assert!(tested.contains(&info.bug), "{} has no power test", info.id);
    }
}

/// W9's trigger fails exactly the second page allocation of SET_SIZE(33).
#[test]
fn w9_trigger_fails_the_second_page() {
    let t = trigger(Bug::W9).unwrap();
    let mut run = wqsim_model::seq::SeqRun::new(t.config);
    run.run(&t.ops).unwrap();
    let log = run.kernel.heap.fail_nth.log.lock().clone();
    let failed: Vec<_> = log.iter().filter(|(_, f)| *f).map(|(s, _)| *s).collect();
    assert_eq!(failed, ["watch_queue_set_size: alloc_page"]);
    let pages_tried = log.iter().filter(|(s, _)| *s == "watch_queue_set_size: alloc_page").count();
    assert_eq!(pages_tried, 2);
}
