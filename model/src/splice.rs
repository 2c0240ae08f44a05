//! Models the parts of fs/splice.c a notification pipe meets:
//! `get_pipe_info(file, true)` is NULL for notification pipes, so splice,
//! tee and vmsplice treat them as files without `splice_read` and whose
//! `write_iter` refuses with `EXDEV`; and the moves between a plain pipe
//! and a file that is not one (`/dev/null`, a pty, a regular file).
//!
//! DEVIATION: moving data between two plain pipes (`splice_pipe_to_pipe`,
//! `link_pipe`, `vmsplice_to_pipe` on a plain pipe) is not modelled; those
//! calls return `EINVAL` and scenarios do not use them.

use crate::errno::{Errno, KResult};
use crate::file::{self, FMODE_READ, FMODE_WRITE};
use crate::fops;
use crate::kernel::Cx;
use crate::pipe::{self, pipe_empty, pipe_full};
use crate::sync::WaitResult;
use crate::sync::atomic::Ordering;
use crate::syscalls::O_APPEND;
use crate::trace::kfn;
use crate::uapi::O_NONBLOCK;

/// `SPLICE_F_NONBLOCK`.
pub const SPLICE_F_NONBLOCK: u32 = 0x02;
/// `SPLICE_F_ALL` (MOVE | NONBLOCK | MORE | GIFT).
pub const SPLICE_F_ALL: u32 = 0x0f;

/// Models `SYSCALL_DEFINE6(splice)` without offsets: `__do_splice()` and
/// `do_splice()`.
///
/// Mirrors fs/splice.c do_splice() of 6.12, lines 1308-1403, fp 6068cd1434f73c53.
pub fn do_splice(cx: &Cx<'_>, fd_in: i32, fd_out: i32, len: usize, mut flags: u32) -> KResult<i64> {
    let _f = kfn("do_splice");
    if len == 0 {
        return Ok(0);
    }
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let fin = file::fget(cx, fd_in)?;
    let fout = match file::fget(cx, fd_out) {
        Ok(f) => f,
        Err(e) => {
            file::fput(cx, fin);
            return Err(e);
        }
    };
    let ret = (|| {
        let ipipe = pipe::get_pipe_info(cx, fin, true);
        let opipe = pipe::get_pipe_info(cx, fout, true);
        let in_f = cx.k.files.get(fin);
        let out_f = cx.k.files.get(fout);
        if in_f.f_mode & FMODE_READ == 0 || out_f.f_mode & FMODE_WRITE == 0 {
            return Err(Errno::EBADF);
        }
        match (ipipe, opipe) {
            (Some(_), Some(_)) => Err(Errno::EINVAL), // DEVIATION: splice_pipe_to_pipe
            (Some(ip), None) => {
                // do_splice_from() into a notification pipe or a file, with
                // the input pipe locked: iter_file_splice_write(), or
                // splice_write_null() for /dev/null.
                if out_f.f_flags.get() & O_APPEND != 0 {
                    return Err(Errno::EINVAL);
                }
                if in_f.f_flags.get() & O_NONBLOCK != 0 {
                    flags |= SPLICE_F_NONBLOCK;
                }
                let p = cx.k.pipes.get(ip);
                let mut g = Some(p.mutex.lock());
                let mut signal_pending = false;
                // splice_from_pipe_next(): wait for data.
                while pipe_empty(&p, p.head.load(Ordering::Relaxed), p.tail.load(Ordering::Relaxed)) {
                    if p.writers.load(Ordering::Relaxed) == 0 {
                        return Ok(0);
                    }
                    if flags & SPLICE_F_NONBLOCK != 0 {
                        return Err(Errno::EAGAIN);
                    }
                    if signal_pending {
                        return Err(Errno::ERESTARTSYS);
                    }
                    // pipe_wait_readable(): unlock, sleep, lock.
                    drop(g.take());
                    if p.rd_wait.wait_event_interruptible(|| pipe::pipe_readable(&p)) == WaitResult::Interrupted {
                        signal_pending = true;
                    }
                    g = Some(p.mutex.lock());
                }
                if out_f.pipe_info().is_none() {
                    // The pipe's buffers go to the file (pipe_to_null(),
                    // vfs_iter_write()), then leave the pipe.
                    let data = pipe::splice_from_pipe_feed(cx, ip, len);
                    fops::do_splice_from(cx, fout, &data);
                    drop(g);
                    return Ok(data.len() as i64);
                }
                // vfs_iter_write() -> pipe_write() on the notification pipe.
                let r = pipe::pipe_write(cx, fout, &[0u8; 1]).map(|n| n as i64);
                drop(g);
                r
            }
            (None, Some(op)) => {
                // splice_file_to_pipe(): wait_for_space(), then do_splice_read().
                if out_f.f_flags.get() & O_NONBLOCK != 0 {
                    flags |= SPLICE_F_NONBLOCK;
                }
                let p = cx.k.pipes.get(op);
                let mut g = Some(p.mutex.lock());
                let mut signal_pending = false;
                loop {
                    if p.readers.load(Ordering::Relaxed) == 0 {
                        return Err(Errno::EPIPE);
                    }
                    if !pipe_full(
                        &p,
                        p.head.load(Ordering::Relaxed),
                        p.tail.load(Ordering::Relaxed),
                        p.max_usage.load(Ordering::Relaxed),
                    ) {
                        break;
                    }
                    if flags & SPLICE_F_NONBLOCK != 0 {
                        return Err(Errno::EAGAIN);
                    }
                    if signal_pending {
                        return Err(Errno::ERESTARTSYS);
                    }
                    // pipe_wait_writable(): unlock, sleep, lock.
                    drop(g.take());
                    if p.wr_wait.wait_event_interruptible(|| pipe::pipe_writable(&p)) == WaitResult::Interrupted {
                        signal_pending = true;
                    }
                    g = Some(p.mutex.lock());
                }
                if in_f.pipe_info().is_some() {
                    drop(g);
                    // pipefifo_fops has no ->splice_read: warn_unsupported().
                    return Err(Errno::EINVAL);
                }
                // do_splice_read(): no more than the pipe has room for.
                let room = p.max_usage.load(Ordering::Relaxed).saturating_sub(pipe::pipe_occupancy(
                    &p,
                    p.head.load(Ordering::Relaxed),
                    p.tail.load(Ordering::Relaxed),
                ));
                let want = len.min(room as usize * cx.k.config.page_size as usize);
                let r = fops::do_splice_read(cx, fin, want).and_then(|(data, offset)| {
                    let n = pipe::splice_into_pipe(cx, op, &data, offset)?;
                    fops::do_splice_read_done(cx, fin, n);
                    Ok(n as i64)
                });
                drop(g);
                if matches!(r, Ok(n) if n > 0) {
                    // wakeup_pipe_readers()
                    p.rd_wait.wake_up();
                }
                r
            }
            (None, None) => Err(Errno::EINVAL),
        }
    })();
    file::fput(cx, fout);
    file::fput(cx, fin);
    ret
}

/// Models `SYSCALL_DEFINE4(tee)` and `do_tee()`.
///
/// Mirrors fs/splice.c do_tee() of 6.12, lines 1970-2007, fp 083e19005f5572c1.
pub fn do_tee(cx: &Cx<'_>, fd_in: i32, fd_out: i32, len: usize, flags: u32) -> KResult<i64> {
    let _f = kfn("do_tee");
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let fin = file::fget(cx, fd_in)?;
    let fout = match file::fget(cx, fd_out) {
        Ok(f) => f,
        Err(e) => {
            file::fput(cx, fin);
            return Err(e);
        }
    };
    let ipipe = pipe::get_pipe_info(cx, fin, true);
    let opipe = pipe::get_pipe_info(cx, fout, true);
    let ret = if cx.k.files.get(fin).f_mode & FMODE_READ == 0 || cx.k.files.get(fout).f_mode & FMODE_WRITE == 0 {
        Err(Errno::EBADF)
    } else {
        // link_pipe() between two plain pipes is not modelled (DEVIATION).
        let _ = (ipipe, opipe);
        Err(Errno::EINVAL)
    };
    file::fput(cx, fout);
    file::fput(cx, fin);
    ret
}

/// Models `SYSCALL_DEFINE4(vmsplice)`: a notification pipe is not a pipe
/// for splicing, so both directions fail with `EBADF`; a zero-length iovec
/// returns 0 first.
///
/// Mirrors fs/splice.c sys_vmsplice() of 6.12, lines 1601-1635, fp 31717d5a964a9da8.
pub fn vmsplice(cx: &Cx<'_>, fd: i32, len: usize, flags: u32) -> KResult<i64> {
    let _f = kfn("vmsplice");
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let f = file::fget(cx, fd)?;
    let mode = cx.k.files.get(f).f_mode;
    let ret = if mode & (FMODE_READ | FMODE_WRITE) == 0 {
        Err(Errno::EBADF)
    } else if len == 0 {
        Ok(0)
    } else if pipe::get_pipe_info(cx, f, true).is_none() {
        Err(Errno::EBADF)
    } else {
        Err(Errno::EINVAL) // DEVIATION: vmsplice on plain pipes
    };
    file::fput(cx, f);
    ret
}
