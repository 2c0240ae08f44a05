//! Every oracle invariant seen failing: on a deliberately broken stream of
//! events, or on deliberately corrupted model state. (The catalog power
//! tests show the same invariants catching real historical bugs.)

use wqsim_model::Inv;
use wqsim_model::api::ops::*;
use wqsim_model::heap::Obj;
use wqsim_model::kernel::{Config, Kernel};
use wqsim_model::oracle::{Oracle, check_state};
use wqsim_model::seq::SeqRun;
use wqsim_model::sync::atomic::Ordering;
use wqsim_model::trace::Event;
use wqsim_model::uapi::*;

fn rec(subtype: u8, key: u32, tag: u8) -> Vec<u8> {
    let mut r = key_notification(subtype, key, 0);
    r[4..8].copy_from_slice(&((tag as u32) << 8 | 16).to_le_bytes());
    r
}

/// A post as the model traces it: the filter decision (no filter), then
/// the post itself.
fn post(bytes: &[u8], queued: bool) -> Event {
    Event::Post { tid: 1, pipe: 0, wqueue: 0, bytes: bytes.to_vec(), queued: queued.then_some((0, 0)) }
}

fn passed(bytes: &[u8]) -> Event {
    Event::Filtered { tid: 1, wqueue: 0, filter: None, bytes: bytes.to_vec(), passed: true }
}

/// Insert the filter decision the model traces before every post of a
/// non-meta record.
fn with_decisions(events: Vec<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    for e in events {
        if let Event::Post { bytes, .. } = &e {
            if WatchNotification::decode(bytes).is_some_and(|h| h.type_ != WATCH_TYPE_META) {
                out.push(passed(bytes));
            }
        }
        out.push(e);
    }
    out
}

fn consumed(bytes: &[u8]) -> Event {
    Event::Consumed { tid: 1, pipe: 0, bytes: bytes.to_vec(), loss: false }
}

/// Feed `events` to a fresh oracle over a freshly booted (valid) machine.
fn stream(events: Vec<Event>) -> Result<(), wqsim_model::Violation> {
    raw_stream(with_decisions(events))
}

/// Feed `events` exactly as given.
fn raw_stream(events: Vec<Event>) -> Result<(), wqsim_model::Violation> {
    let k = Kernel::boot(Config::default());
    for e in events {
        k.trace.push(e);
    }
    let mut o = Oracle::default();
    o.check_quiescent(&k)
}

fn expect(r: Result<(), wqsim_model::Violation>, inv: Inv, detail: &str) {
    let v = r.expect_err("the broken input must be reported");
    assert_eq!(v.inv, inv, "{v}");
    assert!(v.message.contains(detail), "{v}\n  expected: {detail}");
}

#[test]
fn s1_fifo() {
    let (a, b) = (rec(1, 1, 1), rec(1, 2, 1));
    expect(
        stream(vec![post(&a, true), post(&b, true), consumed(&b)]),
        Inv::S1,
        "was read before 1 record(s) accepted earlier",
    );
}

#[test]
fn s2_nothing_invented_or_duplicated() {
    let a = rec(1, 1, 1);
    expect(stream(vec![consumed(&a)]), Inv::S2, "no post accepted it");
    expect(
        stream(vec![post(&a, true), consumed(&a), consumed(&a)]),
        Inv::S2,
        "no post accepted it (or it was read before)",
    );
    let ret = Event::ReadReturned { tid: 1, pipe: 0, len: 64, result: Ok([a.clone(), a.clone()].concat()) };
    expect(stream(vec![post(&a, true), consumed(&a), ret]), Inv::S2, "returned 32 bytes but took 16 bytes");
}

#[test]
fn s3_loss_records() {
    let (a, b) = (rec(1, 1, 1), rec(1, 2, 1));
    // A lost post after `a`, then `b` read without the loss record first.
    expect(
        stream(vec![post(&a, true), post(&b, false), consumed(&a), post(&b, true), consumed(&b)]),
        Inv::S3,
        "before the loss record owed",
    );
    // A loss record nobody owed.
    expect(
        stream(vec![post(&a, true), consumed(&a), Event::LossFabricated { tid: 1, pipe: 0 }]),
        Inv::S3,
        "no post was lost",
    );
    // A loss on an empty queue is dropped: no record is owed.
    expect(
        stream(vec![post(&a, false), post(&a, true), consumed(&a), Event::LossFabricated { tid: 1, pipe: 0 }]),
        Inv::S3,
        "no post was lost",
    );
}

#[test]
fn s4_whole_records() {
    let a = rec(1, 1, 1);
    let partial = Event::ReadReturned { tid: 1, pipe: 0, len: 64, result: Ok(a[..12].to_vec()) };
    expect(stream(vec![partial]), Inv::S4, "partial record");
    let long = Event::ReadReturned { tid: 1, pipe: 0, len: 8, result: Ok(a.clone()) };
    expect(stream(vec![post(&a, true), consumed(&a), long]), Inv::S4, "read(8) returned 16 bytes");
    let failed = Event::ReadReturned { tid: 1, pipe: 0, len: 8, result: Err(wqsim_model::Errno::ENOBUFS) };
    expect(stream(vec![post(&a, true), consumed(&a), failed]), Inv::S4, "failed with ENOBUFS after taking 16 bytes");
}

/// S9 on a broken history: answers that no instant of the call
/// justifies, and the answers each instant does justify.
#[test]
fn s9_poll_answers_held() {
    let ring = |occupancy, max_usage| Event::Ring { pipe: 0, occupancy, max_usage, readers: 1, writers: 1 };
    let begin = |write| Event::PollBegin { tid: 2, file: 0, pipe: 0, write };
    let end = |mask| Event::PollEnd { tid: 2, mask, events: POLLIN | POLLOUT };
    // The read end: non-empty at every instant, but no POLLIN.
    expect(
        raw_stream(vec![ring(1, 2), begin(false), ring(2, 2), ring(1, 2), end(0)]),
        Inv::S9,
        "returned no POLLIN but the pipe was non-empty at every instant of the call",
    );
    // Empty throughout, but POLLIN.
    expect(
        raw_stream(vec![ring(0, 2), begin(false), end(POLLIN)]),
        Inv::S9,
        "returned POLLIN but the pipe was never non-empty during the call",
    );
    // The write end: full throughout, but POLLOUT.
    expect(
        raw_stream(vec![ring(2, 2), begin(true), end(POLLOUT)]),
        Inv::S9,
        "returned POLLOUT but the pipe was never below max_usage during the call",
    );
    // The read end: its writer closed before the call, but no POLLHUP.
    let closed = Event::Ring { pipe: 0, occupancy: 0, max_usage: 2, readers: 1, writers: 0 };
    expect(
        raw_stream(vec![closed, begin(false), Event::PollEnd { tid: 2, mask: 0, events: POLLIN | POLLHUP }]),
        Inv::S9,
        "returned no POLLHUP but the pipe was without writers at every instant of the call",
    );
    // Each answer some instant justifies holds; so does any answer once
    // epoll's file went away during the call.
    assert!(raw_stream(vec![ring(1, 2), begin(false), ring(0, 2), end(0)]).is_ok());
    assert!(raw_stream(vec![ring(0, 2), begin(false), ring(1, 2), ring(0, 2), end(POLLIN)]).is_ok());
    assert!(raw_stream(vec![ring(2, 2), begin(true), ring(1, 2), end(POLLOUT)]).is_ok());
    assert!(raw_stream(vec![ring(2, 2), begin(true), Event::PollFileGone { file: 0 }, end(POLLOUT)]).is_ok());
}

#[test]
fn s5_filters_respected() {
    let only_updated = encode_filter(
        0,
        &[WatchNotificationTypeFilter {
            type_: 1,
            subtype_filter: [1 << NOTIFY_KEY_UPDATED, 0, 0, 0, 0, 0, 0, 0],
            ..Default::default()
        }],
    );
    let set = Event::FilterSet { wqueue: 0, filter: Some(7), uapi: Some(only_updated) };
    let setattr = rec(NOTIFY_KEY_SETATTR, 1, 1);
    let wrongly_passed = Event::Filtered { tid: 1, wqueue: 0, filter: Some(7), bytes: setattr.clone(), passed: true };
    expect(raw_stream(vec![set.clone(), wrongly_passed]), Inv::S5, "filter passed");
    let updated = rec(NOTIFY_KEY_UPDATED, 1, 1);
    let wrongly_rejected =
        Event::Filtered { tid: 1, wqueue: 0, filter: Some(7), bytes: updated.clone(), passed: false };
    expect(raw_stream(vec![set.clone(), wrongly_rejected]), Inv::S5, "filter rejected");
    expect(raw_stream(vec![set, post(&updated, true)]), Inv::S5, "without passing its filter");
}

#[test]
fn s6_silence_after_removal() {
    let a = rec(1, 5, 1);
    expect(
        stream(vec![
            Event::WatchAdded { wqueue: 0, id: 5, tag: 1, uid: 0 },
            Event::WatchRemoved { wqueue: 0, id: 5, all: false },
            post(&removal_notification(0x100, 5), true),
            post(&a, true),
        ]),
        Inv::S6,
        "after its watch on 0x5 was removed",
    );
}

#[test]
fn s7_one_removal_per_destruction() {
    expect(
        stream(vec![
            Event::WatchAdded { wqueue: 0, id: 5, tag: 1, uid: 0 },
            Event::ObjectDestroyed { id: 5 },
            Event::WatchRemoved { wqueue: 0, id: 5, all: true },
        ]),
        Inv::S7,
        "got no removal record",
    );
    expect(
        stream(vec![
            Event::WatchAdded { wqueue: 0, id: 5, tag: 1, uid: 0 },
            Event::WatchRemoved { wqueue: 0, id: 5, all: true },
            post(&removal_notification(0x100, 5), true),
            post(&removal_notification(0x100, 5), true),
        ]),
        Inv::S7,
        "a second removal record",
    );
}

/// A machine with a sized, watched queue and two records queued.
fn busy() -> SeqRun {
    let mut run = SeqRun::new(Config::default());
    run.run(&[notification_pipe(0), set_size(0, 1), user_key(0, "k"), watch(0, 0, 1), update(0), update(0)]).unwrap();
    run
}

fn state_of(run: &SeqRun) -> Result<(), wqsim_model::Violation> {
    check_state(&run.kernel)
}

#[test]
fn state_is_valid_before_corruption() {
    state_of(&busy()).unwrap();
}

#[test]
fn i1_ring_occupancy() {
    let run = busy();
    run.kernel.pipes.get(wqsim_model::heap::Id::from_word(1).unwrap()).head.store(40, Ordering::Relaxed);
    expect(state_of(&run), Inv::I1, "ring occupancy (head=40 tail=0 ring_size=32)");
}

#[test]
fn i2_live_slots() {
    let run = busy();
    let pipe = run.kernel.pipes.get(wqsim_model::heap::Id::from_word(1).unwrap());
    pipe.bufs.get().at(5).ops.set(Some(wqsim_model::pipe::PipeBufOps::Anon));
    expect(state_of(&run), Inv::I2, "slot 5 holds a buffer but [tail, head) = [0, 2)");
}

#[test]
fn i3_slot_published_before_head() {
    let mut run = busy();
    let pipe = run.kernel.pipes.get(wqsim_model::heap::Id::from_word(1).unwrap());
    pipe.bufs.get().at(0).ops.set(None);
    let v = run.step(&read(0, 4096)).unwrap_err();
    assert_eq!(v.inv, Inv::I3, "{v}");
    assert!(v.message.contains("pipe_read found no buffer in slot 0 below head"), "{v}");
}

#[test]
fn i4_power_of_two_ring() {
    let run = busy();
    run.kernel.pipes.get(wqsim_model::heap::Id::from_word(1).unwrap()).ring_size.set(24);
    expect(state_of(&run), Inv::I4, "ring_size 24 is not a power of two");
}

#[test]
fn n1_note_conservation() {
    let run = busy();
    let wq = run.kernel.wqueues.get(wqsim_model::heap::Id::from_word(1).unwrap());
    wq.notes_bitmap.get().unwrap().set_bit(0);
    expect(state_of(&run), Inv::N1, "note 0 is held by a live slot but marked free");
    wq.notes_bitmap.get().unwrap().test_and_clear_bit(0);
    wq.notes_bitmap.get().unwrap().test_and_clear_bit(9);
    expect(state_of(&run), Inv::N1, "29 free bits + 2 held notes != nr_notes 32");
}

#[test]
fn q1_no_dangling_pipe_pointer() {
    let run = busy();
    let pipe = run.kernel.pipes.get(wqsim_model::heap::Id::from_word(1).unwrap());
    run.kernel.heap.kfree(Obj::hdr(&pipe));
    expect(state_of(&run), Inv::Q1, "points at pipe_inode_info#0, which was freed");
}

#[test]
fn r1_refcount_balance() {
    let run = busy();
    let wq = run.kernel.wqueues.get(wqsim_model::heap::Id::from_word(1).unwrap());
    wq.usage.get();
    expect(state_of(&run), Inv::R1, "watch_queue#0 usage 3 != 1 (pipe) + 1 (watches)");
    wq.usage.put().unwrap();
    let w = run.kernel.watches.get(wqsim_model::heap::Id::from_word(1).unwrap());
    w.usage.get();
    expect(state_of(&run), Inv::R1, "watch#0 usage 3 != 2 (lists holding it)");
}

#[test]
fn a1_pipe_accounting() {
    let run = busy();
    run.kernel.user(0).pipe_bufs.fetch_add(1, Ordering::Relaxed);
    expect(state_of(&run), Inv::A1, "user->pipe_bufs 2 != 1");
}

#[test]
fn a2_watch_accounting() {
    let run = busy();
    run.kernel.user(0).nr_watches.fetch_add(1, Ordering::Relaxed);
    expect(state_of(&run), Inv::A2, "nr_watches 2 != 1 watches it holds");
}

#[test]
fn h2_double_free() {
    let mut run = busy();
    let v = run
        .step_unchecked(&wqsim_model::api::Op::FailNth { n: 0 })
        .and_then(|_| {
            wqsim_model::oracle::catch_violation(|| {
                let wq = run.kernel.wqueues.get(wqsim_model::heap::Id::from_word(1).unwrap());
                run.kernel.heap.kfree(Obj::hdr(&wq));
                run.kernel.heap.kfree(Obj::hdr(&wq));
            })
        })
        .unwrap_err();
    assert_eq!(v.inv, Inv::H2, "{v}");
    assert!(v.message.contains("double-free: watch_queue#"), "{v}");
}

#[test]
fn h5_leak() {
    let mut run = busy();
    // An allocation nobody frees.
    let _stray = run.kernel.heap.alloc("watch", ());
    expect(run.finish(), Inv::H5, "memory leak: 1 object(s) unreferenced at teardown: watch#");
}

/// B2, seen failing on a deliberate bug: `pipe->mutex` (a sleeping lock)
/// taken while the ring lock, a spinlock, is held.
#[test]
fn b2_no_sleep_under_a_spinlock() {
    let run = busy();
    let pipe = run.kernel.pipes.get(wqsim_model::heap::Id::from_word(1).unwrap());
    let v = wqsim_model::catch::catch_violation(|| {
        let _ring = pipe.rd_wait.lock.lock();
        let _m = pipe.mutex.lock();
    })
    .unwrap_err();
    assert_eq!(v.inv, Inv::B2, "{v}");
    assert!(v.message.contains("takes pipe->mutex while holding pipe->rd_wait.lock"), "{v}");
}
