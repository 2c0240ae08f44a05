//! Behaviour measured on a real Linux 6.12 kernel (the model-core issue's
//! ground truth), checked byte for byte against the model.

use wqsim_model::Errno;
use wqsim_model::api::{End, FdRef, IoctlReq, KeyRef, Op, Outcome};
use wqsim_model::kernel::Config;
use wqsim_model::seq::SeqRun;
use wqsim_model::uapi::*;

const R: FdRef = FdRef::End(0, End::Read);
const W: FdRef = FdRef::End(0, End::Write);

fn setup(run: &mut SeqRun, nonblock: bool, notes: u64) {
    let flags = O_NOTIFICATION_PIPE | if nonblock { O_NONBLOCK } else { 0 };
    assert_eq!(run.step(&Op::Pipe2 { pipe: 0, flags }).unwrap(), Outcome::Ok(0));
    assert_eq!(run.step(&Op::Ioctl { fd: R, req: IoctlReq::SetSize(notes) }).unwrap(), Outcome::Ok(0));
}

fn add(run: &mut SeqRun, slot: u8, t: &str, desc: &str, keyring: KeyRef) -> u32 {
    let payload = if t == "keyring" { vec![] } else { b"payload".to_vec() };
    let out = run.step(&Op::AddKey { slot, type_: t.into(), desc: desc.into(), payload, keyring }).unwrap();
    assert!(matches!(out, Outcome::Key(_)), "{out:?}");
    run.serial(slot).unwrap() as u32
}

fn read_raw(run: &mut SeqRun, len: usize) -> Vec<u8> {
    match run.step(&Op::Read { fd: R, len }).unwrap() {
        Outcome::Records(_) => run.handles.raw_reads.last().unwrap().clone(),
        other => panic!("read: {other:?}"),
    }
}

fn key_rec(subtype: u8, tag: u8, key_id: u32, aux: u32) -> Vec<u8> {
    let mut r = key_notification(subtype, key_id, aux);
    r[4..8].copy_from_slice(&((tag as u32) << 8 | 16).to_le_bytes());
    r
}

/// A keyring watched with tag 1 reports link, unlink, clear and revoke as
/// 16-byte records: type 1, info 0x110, key_id the keyring, aux the key.
#[test]
fn keyring_link_unlink_clear_revoke_records() {
    let mut run = SeqRun::new(Config::default());
    setup(&mut run, true, 32);
    let kr = add(&mut run, 0, "keyring", "watched", KeyRef::Session);
    assert_eq!(run.step(&Op::WatchKey { key: KeyRef::Slot(0), fd: R, tag: 1 }).unwrap(), Outcome::Ok(0));
    let k = add(&mut run, 1, "user", "member", KeyRef::Slot(0));
    let rec = read_raw(&mut run, 4096);
    assert_eq!(rec, key_rec(NOTIFY_KEY_LINKED, 1, kr, k));
    let h = WatchNotification::decode(&rec).unwrap();
    assert_eq!((h.type_, h.subtype, h.info), (1, 2, 0x110));

    assert_eq!(run.step(&Op::Unlink { key: KeyRef::Slot(1), keyring: KeyRef::Slot(0) }).unwrap(), Outcome::Ok(0));
    assert_eq!(read_raw(&mut run, 4096), key_rec(NOTIFY_KEY_UNLINKED, 1, kr, k));

    assert_eq!(run.step(&Op::Clear { keyring: KeyRef::Slot(0) }).unwrap(), Outcome::Ok(0));
    assert_eq!(read_raw(&mut run, 4096), key_rec(NOTIFY_KEY_CLEARED, 1, kr, 0));

    assert_eq!(run.step(&Op::Revoke { key: KeyRef::Slot(0) }).unwrap(), Outcome::Ok(0));
    assert_eq!(read_raw(&mut run, 4096), key_rec(NOTIFY_KEY_REVOKED, 1, kr, 0));
    run.finish().unwrap();
}

/// Updating a key inside a watched keyring (add_key with the same
/// description) posts nothing to the keyring's watch.
#[test]
fn update_in_watched_keyring_posts_nothing_to_the_keyring() {
    let mut run = SeqRun::new(Config::default());
    setup(&mut run, true, 32);
    add(&mut run, 0, "keyring", "watched", KeyRef::Session);
    add(&mut run, 1, "user", "member", KeyRef::Slot(0));
    assert_eq!(run.step(&Op::WatchKey { key: KeyRef::Slot(0), fd: R, tag: 1 }).unwrap(), Outcome::Ok(0));
    add(&mut run, 2, "user", "member", KeyRef::Slot(0));
    assert_eq!(run.serial(1), run.serial(2), "the same key was updated");
    assert_eq!(run.step(&Op::Read { fd: R, len: 4096 }).unwrap(), Outcome::Err(Errno::EAGAIN));
    run.finish().unwrap();
}

/// Unlinking the watched keyring from its last holder destroys it: a
/// removal record `type 0, subtype 0, info 0x110` with the serial as id.
#[test]
fn destroying_a_watched_keyring_posts_a_removal_record() {
    let mut run = SeqRun::new(Config::default());
    setup(&mut run, true, 32);
    let kr = add(&mut run, 0, "keyring", "watched", KeyRef::Session);
    assert_eq!(run.step(&Op::WatchKey { key: KeyRef::Slot(0), fd: R, tag: 1 }).unwrap(), Outcome::Ok(0));
    assert_eq!(run.step(&Op::Unlink { key: KeyRef::Slot(0), keyring: KeyRef::Session }).unwrap(), Outcome::Ok(0));
    // The removal comes when the key collector has destroyed the keyring.
    assert_eq!(run.step(&Op::Read { fd: R, len: 4096 }).unwrap(), Outcome::Err(Errno::EAGAIN));
    assert_eq!(run.step(&Op::KeyGc).unwrap(), Outcome::Ok(0));
    let rec = read_raw(&mut run, 4096);
    let mut want = WatchNotification { type_: 0, subtype: 0, info: 0x110 }.encode().to_vec();
    want.extend_from_slice(&(kr as u64).to_le_bytes());
    assert_eq!(rec, want);
    run.finish().unwrap();
}

/// Sized to 4 notes (rounded up to a page: 32), ten posts are all delivered.
#[test]
fn ten_posts_into_a_queue_sized_four() {
    let mut run = SeqRun::new(Config::default());
    setup(&mut run, true, 4);
    add(&mut run, 0, "user", "k", KeyRef::Session);
    assert_eq!(run.step(&Op::WatchKey { key: KeyRef::Slot(0), fd: R, tag: 0 }).unwrap(), Outcome::Ok(0));
    for _ in 0..10 {
        assert_eq!(run.step(&Op::Update { key: KeyRef::Slot(0), payload: b"x".to_vec() }).unwrap(), Outcome::Ok(0));
    }
    assert_eq!(read_raw(&mut run, 4096).len(), 160);
    run.finish().unwrap();
}

/// An 8-byte read with a 16-byte record queued fails with ENOBUFS and
/// consumes nothing; write fails with EXDEV; an empty non-blocking read
/// fails with EAGAIN.
#[test]
fn enobufs_exdev_eagain() {
    let mut run = SeqRun::new(Config::default());
    setup(&mut run, true, 32);
    assert_eq!(run.step(&Op::Read { fd: R, len: 4096 }).unwrap(), Outcome::Err(Errno::EAGAIN));
    add(&mut run, 0, "user", "k", KeyRef::Session);
    assert_eq!(run.step(&Op::WatchKey { key: KeyRef::Slot(0), fd: R, tag: 0 }).unwrap(), Outcome::Ok(0));
    assert_eq!(run.step(&Op::Update { key: KeyRef::Slot(0), payload: b"x".to_vec() }).unwrap(), Outcome::Ok(0));
    assert_eq!(run.step(&Op::Read { fd: R, len: 8 }).unwrap(), Outcome::Err(Errno::ENOBUFS));
    assert_eq!(run.step(&Op::Ioctl { fd: R, req: IoctlReq::Fionread }).unwrap(), Outcome::Ok(16));
    assert_eq!(run.step(&Op::Write { fd: W, data: b"hello".to_vec() }).unwrap(), Outcome::Err(Errno::EXDEV));
    assert_eq!(read_raw(&mut run, 16).len(), 16);
    run.finish().unwrap();
}
