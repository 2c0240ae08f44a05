//! Pipes and the notification queue's userspace surface: pipe2, sizing,
//! reading, writing, polling, splice and friends. Each test runs on the
//! model (oracle after every step, leak check at teardown) and on the
//! reference, and both must match the expected outcomes.

mod common;

use common::{script, script_with};
use wqsim_model::api::ops::*;
use wqsim_model::api::{End, FdRef, IoctlReq, KeyRef, Op};
use wqsim_model::kernel::Config;
use wqsim_model::uapi::*;

fn ioctl(p: u8, req: IoctlReq) -> Op {
    Op::Ioctl { fd: r(p), req }
}
fn close(fd: FdRef) -> Op {
    Op::Close { fd }
}
fn plain_pipe(p: u8) -> Op {
    Op::Pipe2 { pipe: p, flags: O_NONBLOCK }
}

/// pipe2 accepts O_NOTIFICATION_PIPE with O_NONBLOCK, O_CLOEXEC and
/// O_DIRECT, and refuses any other flag with EINVAL.
#[test]
fn pipe2_flags() {
    script(&[
        (Op::Pipe2 { pipe: 0, flags: O_NOTIFICATION_PIPE | O_CLOEXEC | O_DIRECT }, "0"),
        (Op::Pipe2 { pipe: 1, flags: O_NOTIFICATION_PIPE | 0o100 /* O_CREAT */ }, "EINVAL"),
        (Op::Pipe2 { pipe: 1, flags: 0 }, "0"),
    ]);
}

/// An empty notification pipe whose write end is closed reads EOF; a
/// blocking read with the writer open would sleep.
#[test]
fn eof_needs_the_writer_closed() {
    script(&[
        (Op::Pipe2 { pipe: 0, flags: O_NOTIFICATION_PIPE }, "0"),
        (set_size(0, 1), "0"),
        (read(0, 4096), "blocks"),
        (close(w(0)), "0"),
        (read(0, 4096), "EOF"),
        (close(r(0)), "0"),
        (read(0, 4096), "EBADF"),
        (close(r(0)), "EBADF"),
    ]);
}

/// Before IOC_WATCH_QUEUE_SET_SIZE nr_notes is 0: every post is lost, and
/// a loss with nothing queued is dropped (no loss record later either).
#[test]
fn unsized_queue_loses_everything_silently() {
    script(&[
        (notification_pipe(0), "0"),
        (user_key(0, "k"), "k0"),
        (watch(0, 0, 1), "0"),
        (update(0), "0"),
        (update(0), "0"),
        (read(0, 4096), "EAGAIN"),
        (Op::Fcntl { fd: r(0), cmd: F_GETPIPE_SZ, arg: 0 }, "65536"),
        (set_size(0, 1), "0"),
        (Op::Fcntl { fd: r(0), cmd: F_GETPIPE_SZ, arg: 0 }, "4096"),
        (update(0), "0"),
        (read(0, 4096), "[key.updated(k0, tag=1)]"),
    ]);
}

/// SET_SIZE errors: ENODEV on a plain pipe, EINVAL outside 1..=512 (the
/// argument is truncated to 32 bits first), EBUSY the second time.
#[test]
fn set_size_errors() {
    script(&[
        (plain_pipe(1), "0"),
        (ioctl(1, IoctlReq::SetSize(1)), "ENODEV"),
        (notification_pipe(0), "0"),
        (set_size(0, 0), "EINVAL"),
        (set_size(0, 513), "EINVAL"),
        (set_size(0, (1u64 << 32) + 513), "EINVAL"),
        (set_size(0, (1u64 << 32) + 1), "0"),
        (set_size(0, 1), "EBUSY"),
    ]);
}

/// Notes come in pages of 32 (128-byte notes, 4 KiB pages): SET_SIZE(33)
/// holds 64 records, and the 65th post is lost.
#[test]
fn capacity_is_rounded_up_to_whole_pages() {
    let mut steps =
        vec![(notification_pipe(0), "0"), (set_size(0, 33), "0"), (user_key(0, "k"), "k0"), (watch(0, 0, 7), "0")];
    for _ in 0..65 {
        steps.push((update(0), "0"));
    }
    steps.push((ioctl(0, IoctlReq::Fionread), "1024"));
    let run = script(&steps);
    let _ = run;
}

/// SET_SIZE(65) gives 96 notes in a ring rounded up to 128 slots: the ring
/// never fills, the 97th post finds no free note and is lost, and the loss
/// record follows the 96th record.
#[test]
fn no_free_note_loses_the_post() {
    let mut steps =
        vec![(notification_pipe(0), "0"), (set_size(0, 65), "0"), (user_key(0, "k"), "k0"), (watch(0, 0, 1), "0")];
    for _ in 0..97 {
        steps.push((update(0), "0"));
    }
    steps.push((ioctl(0, IoctlReq::Fionread), "1536"));
    steps.push((
        read(0, 95 * 16),
        &*Box::leak(format!("[{}]", vec!["key.updated(k0, tag=1)"; 95].join(", ")).into_boxed_str()),
    ));
    steps.push((read(0, 4096), "[key.updated(k0, tag=1)]"));
    steps.push((read(0, 4096), "[meta.loss]"));
    script(&steps);
}

/// Read-whole-or-error: a record that does not fit fails the read with
/// ENOBUFS if nothing was copied, and is left queued; a read stops before
/// a record that does not fit (20 bytes, two 16-byte records: 16).
#[test]
fn read_whole_records_or_enobufs() {
    script(&[
        (notification_pipe(0), "0"),
        (set_size(0, 1), "0"),
        (user_key(0, "k"), "k0"),
        (watch(0, 0, 2), "0"),
        (read(0, 0), "EOF"),
        (update(0), "0"),
        (update(0), "0"),
        (read(0, 8), "ENOBUFS"),
        (read(0, 15), "ENOBUFS"),
        (ioctl(0, IoctlReq::Fionread), "32"),
        (read(0, 20), "[key.updated(k0, tag=2)]"),
        (read(0, 32), "[key.updated(k0, tag=2)]"),
        (read(0, 32), "EAGAIN"),
    ]);
}

/// Several records per read, in posting order.
#[test]
fn several_records_per_read() {
    script(&[
        (notification_pipe(0), "0"),
        (set_size(0, 1), "0"),
        (user_key(0, "a"), "k0"),
        (keyring(1, "ring"), "k1"),
        (watch(0, 0, 1), "0"),
        (watch(1, 0, 2), "0"),
        (update(0), "0"),
        (Op::Link { key: KeyRef::Slot(0), keyring: KeyRef::Slot(1) }, "0"),
        (Op::Setperm { key: KeyRef::Slot(0), perm: 0x3f010000 }, "0"),
        (read(0, 4096), "[key.updated(k0, tag=1), key.linked(k1, aux=k0, tag=2), key.setattr(k0, tag=1)]"),
    ]);
}

/// A post that finds the ring full marks the newest record; one loss
/// record follows it, however many posts were lost in a row. When the
/// marked record is the last one queued, the loss record comes with the
/// next read (E2).
#[test]
fn loss_record_placement() {
    let mut steps =
        vec![(notification_pipe(0), "0"), (set_size(0, 1), "0"), (user_key(0, "k"), "k0"), (watch(0, 0, 1), "0")];
    for _ in 0..35 {
        steps.push((update(0), "0"));
    }
    let thirty_one = Box::leak(format!("[{}]", vec!["key.updated(k0, tag=1)"; 31].join(", ")).into_boxed_str());
    steps.push((read(0, 31 * 16), thirty_one));
    steps.push((read(0, 4096), "[key.updated(k0, tag=1)]"));
    steps.push((ioctl(0, IoctlReq::Fionread), "0"));
    steps.push((Op::poll(r(0)), "0"));
    steps.push((read(0, 4), "ENOBUFS"));
    steps.push((read(0, 4096), "[meta.loss]"));
    steps.push((read(0, 4096), "EAGAIN"));
    script(&steps);
}

/// Losses separated by a successful post give separate loss records, each
/// right after the record that was newest when its loss happened; a read
/// with room continues past the loss record.
#[test]
fn separate_losses_separate_records() {
    let mut steps =
        vec![(notification_pipe(0), "0"), (set_size(0, 1), "0"), (user_key(0, "k"), "k0"), (watch(0, 0, 1), "0")];
    for _ in 0..33 {
        steps.push((update(0), "0"));
    }
    steps.push((read(0, 16), "[key.updated(k0, tag=1)]"));
    steps.push((update(0), "0"));
    steps.push((update(0), "0"));
    let mut want: Vec<&str> = vec!["key.updated(k0, tag=1)"; 31];
    want.push("meta.loss");
    want.push("key.updated(k0, tag=1)");
    let joined = Box::leak(format!("[{}]", want.join(", ")).into_boxed_str());
    steps.push((read(0, 4096), joined));
    steps.push((read(0, 4096), "[meta.loss]"));
    script(&steps);
}

/// poll: POLLIN|POLLRDNORM iff records are queued; POLLHUP once the write
/// end is closed; the write end reports POLLOUT by max_usage (the pages
/// charged by sizing) and POLLERR without readers. A closed end is -1,
/// which poll(2) ignores (no events), as Linux 6.12 shows
/// (scenarios/poll/epoll-events.wq).
#[test]
fn poll_readiness() {
    script(&[
        (notification_pipe(0), "0"),
        (Op::poll(r(0)), "0"),
        (Op::poll(w(0)), "POLLOUT|POLLWRNORM"),
        (set_size(0, 1), "0"),
        (user_key(0, "k"), "k0"),
        (watch(0, 0, 1), "0"),
        (update(0), "0"),
        (Op::poll(r(0)), "POLLIN|POLLRDNORM"),
        (Op::poll(w(0)), "0"),
        (close(w(0)), "0"),
        (Op::poll(r(0)), "POLLIN|POLLHUP|POLLRDNORM"),
        (Op::poll(w(0)), "0"),
    ]);
}

/// write() on a notification pipe fails with EXDEV, even for zero bytes;
/// on the read end with EBADF.
#[test]
fn write_is_refused() {
    script(&[
        (notification_pipe(0), "0"),
        (Op::Write { fd: w(0), data: b"hi".to_vec() }, "EXDEV"),
        (Op::Write { fd: w(0), data: vec![] }, "EXDEV"),
        (Op::Write { fd: r(0), data: b"hi".to_vec() }, "EBADF"),
    ]);
}

/// splice, tee, vmsplice and F_SETPIPE_SZ are refused with the kernel's
/// errnos (notification pipe 0, plain pipe 1).
#[test]
fn splice_tee_vmsplice_setpipe_sz() {
    script(&[
        (notification_pipe(0), "0"),
        (plain_pipe(1), "0"),
        (Op::Splice { fd_in: r(0), fd_out: w(1), len: 16, flags: 0 }, "EINVAL"),
        (Op::Splice { fd_in: r(1), fd_out: w(0), len: 16, flags: 0 }, "EAGAIN"),
        (Op::Write { fd: w(1), data: vec![7; 16] }, "16"),
        (Op::Splice { fd_in: r(1), fd_out: w(0), len: 16, flags: 0 }, "EXDEV"),
        (Op::Splice { fd_in: r(0), fd_out: w(0), len: 16, flags: 0 }, "EINVAL"),
        (Op::Splice { fd_in: w(0), fd_out: w(1), len: 16, flags: 0 }, "EBADF"),
        (Op::Splice { fd_in: r(0), fd_out: w(1), len: 0, flags: 0 }, "0"),
        (Op::Splice { fd_in: r(0), fd_out: w(1), len: 16, flags: 0x100 }, "EINVAL"),
        (Op::Tee { fd_in: r(0), fd_out: w(1), len: 16, flags: 0 }, "EINVAL"),
        (Op::Tee { fd_in: r(1), fd_out: w(0), len: 16, flags: 0 }, "EINVAL"),
        (Op::Vmsplice { fd: w(0), len: 16, flags: 0 }, "EBADF"),
        (Op::Vmsplice { fd: r(0), len: 16, flags: 0 }, "EBADF"),
        (Op::Vmsplice { fd: w(0), len: 0, flags: 0 }, "0"),
        (Op::Fcntl { fd: w(0), cmd: F_SETPIPE_SZ, arg: 8192 }, "EBUSY"),
        (Op::Read { fd: r(1), len: 64 }, "16 bytes"),
        (close(w(1)), "0"),
        (Op::Splice { fd_in: r(1), fd_out: w(0), len: 16, flags: 0 }, "0"),
    ]);
}

/// Unknown ioctls are ENOTTY; FIONBIO switches O_NONBLOCK.
#[test]
fn other_ioctls() {
    script(&[
        (Op::Pipe2 { pipe: 0, flags: O_NOTIFICATION_PIPE }, "0"),
        (set_size(0, 1), "0"),
        (ioctl(0, IoctlReq::Other(0x1234)), "ENOTTY"),
        (read(0, 64), "blocks"),
        (ioctl(0, IoctlReq::Fionbio(true)), "0"),
        (read(0, 64), "EAGAIN"),
    ]);
}

/// A plain pipe's data survives F_SETPIPE_SZ (pipe_resize_ring copies the
/// live slots), and shrinking below the occupancy is EBUSY.
#[test]
fn resize_keeps_queued_buffers() {
    script_with(
        Config::default(),
        false,
        &[
            (plain_pipe(1), "0"),
            (Op::Write { fd: w(1), data: vec![1; 4096] }, "4096"),
            (Op::Write { fd: w(1), data: vec![2; 4096] }, "4096"),
            (Op::Read { fd: r(1), len: 10 }, "10 bytes"),
            (Op::Fcntl { fd: w(1), cmd: F_SETPIPE_SZ, arg: 4096 }, "EBUSY"),
            (Op::Fcntl { fd: w(1), cmd: F_SETPIPE_SZ, arg: 8192 }, "8192"),
            (Op::Read { fd: r(1), len: 8192 }, "8182 bytes"),
        ],
    );
}

/// Quota: an unprivileged user over the soft page limit gets 2-slot pipes,
/// and cannot size a queue past them (EPERM); within them it can.
#[test]
fn set_size_eperm_over_quota() {
    let config = Config { privileged: false, uid: 1000, pipe_user_pages_soft: 16, ..Config::default() };
    script_with(
        config,
        false,
        &[
            (notification_pipe(0), "0"),
            (notification_pipe(1), "0"),
            (Op::Fcntl { fd: r(1), cmd: F_GETPIPE_SZ, arg: 0 }, "8192"),
            (set_size(1, 65), "EPERM"),
            (set_size(1, 64), "0"),
            (set_size(0, 512), "0"),
        ],
    );
}

/// An allocation failure during SET_SIZE returns ENOMEM and leaves the
/// accounting balanced (the oracle checks A1 after every step).
#[test]
fn set_size_enomem() {
    script_with(
        Config::default(),
        false,
        &[
            (notification_pipe(0), "0"),
            (Op::FailNth { n: 1 }, "0"),
            (set_size(0, 1), "ENOMEM"),
            (Op::FailNth { n: 3 }, "0"),
            (set_size(0, 40), "ENOMEM"),
            (set_size(0, 40), "0"),
        ],
    );
}

/// A fresh notification pipe is EBADF past its descriptors, and raw
/// descriptors that were never opened are EBADF.
#[test]
fn bad_descriptors() {
    script(&[
        (Op::Read { fd: FdRef::Raw(99), len: 16 }, "EBADF"),
        (Op::poll(FdRef::Raw(99)), "POLLNVAL"),
        (Op::Close { fd: FdRef::End(5, End::Read) }, "EBADF"),
    ]);
}
