//! The syscall entry points userspace calls (fs/read_write.c, fs/ioctl.c,
//! fs/open.c, fs/fcntl.c, fs/select.c), reduced to what reaches the pipe:
//! descriptor lookup, the file-mode checks, and the dispatch to fs/pipe.c,
//! or to the handlers of the files that are not pipes ([`crate::fops`]).

use crate::errno::{Errno, KResult};
use crate::file::{self, FMODE_READ, FMODE_WRITE, File, FileOps, OpenKind};
use crate::fops;
use crate::heap::Id;
use crate::kernel::Cx;
use crate::pipe::{self, PipeIoctl};
use crate::trace::kfn;
use crate::uapi::*;

/// `F_GETFL`.
pub const F_GETFL: u32 = 3;
/// `F_SETFL`.
pub const F_SETFL: u32 = 4;
/// `FIONBIO`.
pub const FIONBIO: u32 = 0x5421;
/// `O_APPEND`.
pub const O_APPEND: u32 = 0o2000;
/// `O_NOATIME`.
pub const O_NOATIME: u32 = 0o1000000;
/// `SETFL_MASK`: the flags `F_SETFL` may change.
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME;

/// `pipe2(2)`.
pub fn sys_pipe2(cx: &Cx<'_>, flags: u32) -> KResult<[i32; 2]> {
    pipe::do_pipe2(cx, flags)
}

/// `open(2)` of `/dev/null`, `/dev/ptmx` or a new regular file
/// ([`file::do_sys_open`]).
pub fn sys_open(cx: &Cx<'_>, kind: OpenKind, flags: u32) -> KResult<i32> {
    file::do_sys_open(cx, kind, flags)
}

/// Whether the file is a pipe (`f_op` is `pipefifo_fops`).
fn is_pipe(cx: &Cx<'_>, f: Id<File>) -> bool {
    matches!(cx.k.files.get(f).f_op, FileOps::Pipe(_))
}

/// `read(2)`: `ksys_read()` -> `vfs_read()` -> `pipe_read()` or the
/// file's own read.
///
/// Mirrors fs/read_write.c ksys_read() of 6.12, lines 701-718, fp d4fa5e2f50cf5cbd.
pub fn ksys_read(cx: &Cx<'_>, fd: i32, len: usize) -> KResult<Vec<u8>> {
    let _f = kfn("ksys_read");
    let f = file::fget(cx, fd)?;
    let ret = if cx.k.files.get(f).f_mode & FMODE_READ == 0 {
        Err(Errno::EBADF)
    } else if is_pipe(cx, f) {
        pipe::pipe_read(cx, f, len)
    } else {
        fops::vfs_read(cx, f, len)
    };
    file::fput(cx, f);
    ret
}

/// `write(2)`: `ksys_write()` -> `vfs_write()` -> `pipe_write()` or the
/// file's own write.
///
/// Mirrors fs/read_write.c ksys_write() of 6.12, lines 725-743, fp 730285b8e105a44e.
pub fn ksys_write(cx: &Cx<'_>, fd: i32, data: &[u8]) -> KResult<usize> {
    let _f = kfn("ksys_write");
    let f = file::fget(cx, fd)?;
    let ret = if cx.k.files.get(f).f_mode & FMODE_WRITE == 0 {
        Err(Errno::EBADF)
    } else if is_pipe(cx, f) {
        pipe::pipe_write(cx, f, data)
    } else {
        fops::vfs_write(cx, f, data)
    };
    file::fput(cx, f);
    ret
}

/// An `ioctl(2)` request as the model takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ioctl {
    /// Handled by `pipe_ioctl()`.
    Pipe(PipeIoctl),
    /// `FIONBIO`, handled by `do_vfs_ioctl()`.
    Fionbio(bool),
}

/// `ioctl(2)`: `do_vfs_ioctl()` then `vfs_ioctl()` -> `pipe_ioctl()` or
/// the file's own handler; `ENOIOCTLCMD` becomes `ENOTTY`.
///
/// Mirrors fs/ioctl.c do_vfs_ioctl() of 6.12, lines 802-890, fp 33dde2278942ea26.
pub fn do_vfs_ioctl(cx: &Cx<'_>, fd: i32, req: &Ioctl) -> KResult<i64> {
    let _f = kfn("do_vfs_ioctl");
    let f = file::fget(cx, fd)?;
    let ret = match req {
        Ioctl::Fionbio(on) => {
            cx.k.files.get(f).f_flags.with_mut(|fl| if *on { *fl |= O_NONBLOCK } else { *fl &= !O_NONBLOCK });
            Ok(0)
        }
        Ioctl::Pipe(p) if !is_pipe(cx, f) => fops::vfs_ioctl(cx, f, p),
        Ioctl::Pipe(p) => match pipe::pipe_ioctl(cx, f, p) {
            Err(Errno::ENOIOCTLCMD) => Err(Errno::ENOTTY),
            r => r,
        },
    };
    file::fput(cx, f);
    ret
}

/// `close(2)`.
pub fn sys_close(cx: &Cx<'_>, fd: i32) -> KResult<i64> {
    file::close_fd(cx, fd).map(|_| 0)
}

/// `fcntl(2)`: `F_GETFL`, `F_SETFL` (setting `O_DIRECT` is refused: no
/// file the model has can do direct I/O; clearing it ends a pipe's packet
/// mode), and the pipe size commands (`pipe_fcntl()`: `EBADF` for a file
/// that is not a pipe).
///
/// Mirrors fs/fcntl.c do_fcntl() of 6.12, lines 446-559, fp 6ee2f13f67c055c5.
pub fn do_fcntl(cx: &Cx<'_>, fd: i32, cmd: u32, arg: u32) -> KResult<i64> {
    let _f = kfn("do_fcntl");
    let f = file::fget(cx, fd)?;
    let file = cx.k.files.get(f);
    let ret = match cmd {
        F_GETFL => Ok(file.f_flags.get() as i64),
        F_SETFL => {
            // setfl(): no file here can do O_DIRECT I/O (no FMODE_CAN_ODIRECT),
            // so asking for it fails; the rest of SETFL_MASK is replaced.
            if arg & O_DIRECT != 0 {
                Err(Errno::EINVAL)
            } else {
                file.f_flags.with_mut(|fl| *fl = (arg & SETFL_MASK) | (*fl & !SETFL_MASK));
                Ok(0)
            }
        }
        F_SETPIPE_SZ | F_GETPIPE_SZ => pipe::pipe_fcntl(cx, f, cmd, arg),
        _ => Err(Errno::EINVAL),
    };
    file::fput(cx, f);
    ret
}

/// Models `do_sys_poll()` on one descriptor: `do_pollfd()` reports the
/// events of `events` (and `POLLERR`, `POLLHUP`) that `pipe_poll()` finds
/// ready, or the file's own poll ([`fops::vfs_poll`]: nothing wakes a
/// sleep on it); a closed descriptor is `POLLNVAL`; a negative one is
/// ignored (no events, ever). With a zero timeout that is the answer. With any other,
/// `do_poll()` sleeps until an event is ready (`pipe_poll()` with a poll
/// table); a sleep that nothing ends returns `ERESTARTSYS` here, and the
/// caller decides what ended it: a signal (`ERESTARTNOHAND` in the kernel,
/// `EINTR` to the user) or, for a positive timeout, the timer (0 events;
/// `seq::poll_until_timeout`).
///
/// APPROX: that sleep ends at once, as the signal or timer that must end
/// it would.
///
/// Mirrors fs/select.c do_sys_poll() of 6.12, lines 973-1045, fp 37d7babe4179420c.
pub fn do_sys_poll(cx: &Cx<'_>, fd: i32, events: u32, timeout: i32) -> KResult<u32> {
    let _f = kfn("do_sys_poll");
    if fd < 0 {
        return if timeout == 0 { Ok(0) } else { Err(Errno::ERESTARTSYS) };
    }
    let events = events | POLLERR | POLLHUP;
    match file::fget(cx, fd) {
        Err(_) => Ok(POLLNVAL),
        Ok(f) if !is_pipe(cx, f) => {
            let mask = fops::vfs_poll(cx, f) & events;
            file::fput(cx, f);
            if mask == 0 && timeout != 0 { Err(Errno::ERESTARTSYS) } else { Ok(mask) }
        }
        Ok(f) => {
            pipe::trace_poll_begin(cx, f);
            let r = pipe::pipe_poll(cx, f, (timeout != 0).then_some(events)).map(|mask| mask & events);
            file::fput(cx, f);
            if let Ok(mask) = r {
                pipe::trace_poll_end(cx, mask, events);
            }
            r
        }
    }
}
