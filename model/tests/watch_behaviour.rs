//! keyctl_watch_key: adding and removing watches, their errnos, removal
//! records, and what teardown does to watches.

mod common;

use common::{script, script_with};
use wqsim_model::api::ops::*;
use wqsim_model::api::{FdRef, KeyRef, Op};
use wqsim_model::kernel::Config;
use wqsim_model::lsm::LsmPolicy;
use wqsim_model::uapi::*;

/// Tags outside -1..=255 are EINVAL; so is any descriptor that is not a
/// notification pipe.
#[test]
fn watch_einval() {
    script(&[
        (notification_pipe(0), "0"),
        (Op::Pipe2 { pipe: 1, flags: O_NONBLOCK }, "0"),
        (user_key(0, "k"), "k0"),
        (watch(0, 0, -2), "EINVAL"),
        (watch(0, 0, 256), "EINVAL"),
        (Op::WatchKey { key: KeyRef::Slot(0), fd: r(1), tag: 1 }, "EINVAL"),
        (Op::WatchKey { key: KeyRef::Slot(0), fd: FdRef::Raw(99), tag: 1 }, "EINVAL"),
        (Op::WatchKey { key: KeyRef::Raw(0x7777), fd: r(0), tag: 1 }, "ENOKEY"),
        (Op::WatchKey { key: KeyRef::Slot(0), fd: w(0), tag: 255 }, "0"),
    ]);
}

/// One queue watches a key once, whatever the tag (EBUSY); unwatching
/// needs a watch from this queue (EBADSLT) and posts a 16-byte removal
/// record with the watch's tag and the key's serial.
#[test]
fn ebusy_ebadslt_and_the_removal_record() {
    script(&[
        (notification_pipe(0), "0"),
        (notification_pipe(1), "0"),
        (set_size(0, 1), "0"),
        (set_size(1, 1), "0"),
        (user_key(0, "k"), "k0"),
        (watch(0, 0, -1), "EBADSLT"),
        (watch(0, 1, 9), "0"),
        (watch(0, 0, -1), "EBADSLT"),
        (watch(0, 0, 3), "0"),
        (watch(0, 0, 4), "EBUSY"),
        (update(0), "0"),
        (watch(0, 0, -1), "0"),
        (update(0), "0"),
        (read(0, 4096), "[key.updated(k0, tag=3), meta.removal(k0, tag=3)]"),
        (read(1, 4096), "[key.updated(k0, tag=9), key.updated(k0, tag=9)]"),
        (watch(0, 0, -1), "EBADSLT"),
    ]);
}

/// One key watched by several queues with different tags: each queue gets
/// the record with its own tag.
#[test]
fn one_key_several_queues() {
    script(&[
        (notification_pipe(0), "0"),
        (notification_pipe(1), "0"),
        (notification_pipe(2), "0"),
        (set_size(0, 1), "0"),
        (set_size(1, 1), "0"),
        (user_key(0, "k"), "k0"),
        (watch(0, 0, 0), "0"),
        (watch(0, 1, 200), "0"),
        (watch(0, 2, 17), "0"),
        (update(0), "0"),
        (read(0, 4096), "[key.updated(k0, tag=0)]"),
        (read(1, 4096), "[key.updated(k0, tag=200)]"),
        (read(2, 4096), "EAGAIN"),
    ]);
}

/// Watches per user are limited by RLIMIT_NOFILE (EAGAIN), and the count
/// drops once a watch is freed.
#[test]
fn eagain_past_rlimit_nofile() {
    let config = Config { rlimit_nofile: 5, ..Config::default() };
    let mut steps = vec![(notification_pipe(0), "0")];
    let names: Vec<&'static str> = (0..6).map(|i| &*Box::leak(format!("k{i}").into_boxed_str())).collect();
    for k in 0..6u8 {
        steps.push((user_key(k, &format!("key{k}")), names[k as usize]));
    }
    for k in 0..5u8 {
        steps.push((watch(k, 0, k as i32), "0"));
    }
    steps.push((watch(5, 0, 5), "EAGAIN"));
    steps.push((watch(0, 0, -1), "0"));
    // The removed watch's count comes back when it is freed, after a
    // grace period (free_watch is an RCU callback).
    steps.push((watch(5, 0, 5), "EAGAIN"));
    steps.push((Op::RcuBarrier, "0"));
    steps.push((watch(5, 0, 5), "0"));
    script_with(config, true, &steps);
}

/// Closing the notification pipe detaches its watches and posts nothing;
/// the key's other watchers are unaffected.
#[test]
fn close_posts_nothing() {
    script(&[
        (notification_pipe(0), "0"),
        (notification_pipe(1), "0"),
        (set_size(0, 1), "0"),
        (set_size(1, 1), "0"),
        (user_key(0, "k"), "k0"),
        (watch(0, 0, 1), "0"),
        (watch(0, 1, 2), "0"),
        (Op::Close { fd: r(0) }, "0"),
        (update(0), "0"),
        (Op::Close { fd: w(0) }, "0"),
        (update(0), "0"),
        (Op::Unlink { key: KeyRef::Slot(0), keyring: KeyRef::Session }, "0"),
        (Op::KeyGc, "0"),
        (read(1, 4096), "[key.updated(k0, tag=2), key.updated(k0, tag=2), meta.removal(k0, tag=2)]"),
    ]);
}

/// The LSM hooks: security_watch_key refuses a watch (EACCES);
/// security_post_notification refuses records, but removal records
/// bypass it.
#[test]
fn lsm_hooks() {
    let lsm = LsmPolicy {
        deny_watch_key: vec!["secret".into()],
        deny_post: vec![
            (WATCH_TYPE_KEY_NOTIFY, NOTIFY_KEY_UPDATED),
            (WATCH_TYPE_META, WATCH_META_REMOVAL_NOTIFICATION),
        ],
        isolate_uids: false,
        ..LsmPolicy::default()
    };
    script_with(
        Config { lsm, ..Config::default() },
        false,
        &[
            (notification_pipe(0), "0"),
            (set_size(0, 1), "0"),
            (user_key(0, "secret"), "k0"),
            (user_key(1, "open"), "k1"),
            (watch(0, 0, 1), "EACCES"),
            (watch(1, 0, 2), "0"),
            (update(1), "0"),
            (Op::SetTimeout { key: KeyRef::Slot(1), secs: 60 }, "0"),
            (watch(1, 0, -1), "0"),
            (read(0, 4096), "[key.setattr(k1, tag=2), meta.removal(k1, tag=2)]"),
        ],
    );
}

/// A watch on a queue that is being torn down fails with ENOENT: the pipe
/// is still open through a descriptor, but watch_queue_clear has fenced
/// the queue (the window the real kernel has between release and free).
#[test]
fn enoent_once_torn_down() {
    use wqsim_model::seq::SeqRun;
    let mut run = SeqRun::new(Config::default());
    run.run(&[notification_pipe(0), set_size(0, 1), user_key(0, "k")]).unwrap();
    let k = &run.kernel;
    let cx = k.cx(1);
    let fd = run.handles.pipe_fds(0).unwrap()[0];
    let pipe = wqsim_model::heap::Obj::raw(&k.files.get(wqsim_model::file::fget(&cx, fd).unwrap())).pipe();
    let wq = k.pipes.get(pipe).watch_queue.get().unwrap();
    wqsim_model::watch_queue::watch_queue_clear(&cx, wq);
    let serial = run.serial(0).unwrap();
    assert_eq!(wqsim_model::keys::keyctl::keyctl_watch_key(&cx, serial, fd, 1), Err(wqsim_model::Errno::ENOENT));
}
