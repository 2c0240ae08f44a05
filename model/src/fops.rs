//! The files a scenario opens that are not pipes, and what each of their
//! `f_op` handlers returns: `/dev/null` (`null_fops`, drivers/char/mem.c),
//! the master of a pseudo-terminal (`ptmx_fops`, drivers/tty/tty_io.c,
//! pty.c, n_tty.c) and a regular file on ramfs (`ramfs_file_operations`,
//! fs/ramfs/file-mmu.c, with fs/read_write.c and mm/filemap.c behind it).
//! They matter to the notification queue for the errors a call gets when
//! the descriptor is not a notification pipe; the model keeps no more of
//! them than a scenario can observe.
//!
//! The pty's peer is set to echo nothing (`ECHO` off through the master:
//! `tty_mode_ioctl()` acts on the slave) and nobody opens it, so the
//! master's input queue stays empty for ever.
//!
//! APPROX: a pty master takes every write whole (the slave's buffers take
//! 64 KiB and more before a write would wait), and its own requests
//! (termios, window size, `TIOCGPTN`) are not modelled: `ENOTTY`, as for
//! any request no handler knows. `do_vfs_ioctl()`'s requests for every
//! file (`FIOCLEX`, `FIONCLEX`, `FIOASYNC`, `FIOQSIZE`, `FIGETBSZ`) are not
//! modelled either, for these files as for pipes.

use crate::errno::{Errno, KResult};
use crate::file::{File, FileOps};
use crate::heap::Id;
use crate::kernel::Cx;
use crate::pipe::PipeIoctl;
use crate::trace::kfn;
use crate::uapi::*;

/// `DEFAULT_POLLMASK`: what `vfs_poll()` reports for a file without
/// `f_op->poll` (`/dev/null`, a regular file).
pub const DEFAULT_POLLMASK: u32 = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/// The bytes and position of a regular file. Under an instrumentation
/// lock: the file's contents are not what the explorers look at, and no
/// handler holds it across a step.
#[derive(Debug, Default)]
pub struct RegularFile {
    /// The file's bytes (`i_size` is their length).
    pub data: Vec<u8>,
    /// `f_pos`.
    pub pos: usize,
}

/// `vfs_read()` of a file that is not a pipe: `read_iter_null()` finds end
/// of file; `n_tty_read()` on the pty master finds no input (`EAGAIN`
/// without blocking, else it sleeps until a signal: `ERESTARTSYS`; a
/// zero-length read returns 0 before either); a regular file's read
/// (`filemap_read()`) copies from `f_pos` up to its size.
///
/// Mirrors fs/read_write.c vfs_read() of 6.12, lines 549-578, fp 660abffb3a6a7d3c.
pub fn vfs_read(cx: &Cx<'_>, filp: Id<File>, len: usize) -> KResult<Vec<u8>> {
    let _f = kfn("vfs_read");
    let f = cx.k.files.get(filp);
    match &f.f_op {
        FileOps::Pipe(_) => unreachable!("a pipe's read goes to pipe_read()"),
        FileOps::Null => Ok(Vec::new()),
        FileOps::Tty if len == 0 => Ok(Vec::new()),
        FileOps::Tty if f.f_flags.get() & O_NONBLOCK != 0 => Err(Errno::EAGAIN),
        FileOps::Tty => Err(Errno::ERESTARTSYS),
        FileOps::Regular(r) => {
            let mut r = r.lock();
            let from = r.pos.min(r.data.len());
            let to = from.saturating_add(len).min(r.data.len());
            let out = r.data[from..to].to_vec();
            r.pos = to.max(r.pos);
            Ok(out)
        }
    }
}

/// `vfs_write()` of a file that is not a pipe: `write_iter_null()` and the
/// pty master (`n_tty_write()` into `pty_write()`) take all of it; a
/// regular file (`generic_perform_write()`) stores it at `f_pos`, past
/// the end if need be.
///
/// Mirrors fs/read_write.c vfs_write() of 6.12, lines 663-693, fp d5dab6806da6da58.
pub fn vfs_write(cx: &Cx<'_>, filp: Id<File>, data: &[u8]) -> KResult<usize> {
    let _f = kfn("vfs_write");
    let f = cx.k.files.get(filp);
    match &f.f_op {
        FileOps::Pipe(_) => unreachable!("a pipe's write goes to pipe_write()"),
        FileOps::Null | FileOps::Tty => Ok(data.len()),
        FileOps::Regular(r) => {
            let mut r = r.lock();
            let end = r.pos + data.len();
            if r.data.len() < end {
                r.data.resize(end, 0);
            }
            let at = r.pos;
            r.data[at..end].copy_from_slice(data);
            r.pos = end;
            Ok(data.len())
        }
    }
}

/// `ioctl(2)` of a file that is not a pipe, after `FIONBIO`:
/// `do_vfs_ioctl()` answers `FIONREAD` for a regular file itself (its
/// size less `f_pos`); `/dev/null` and a regular file have no
/// `unlocked_ioctl`, so `vfs_ioctl()` returns `ENOTTY`; the pty master's
/// `tty_ioctl()` passes what `pty_unix98_ioctl()` does not know to
/// `n_tty_ioctl()`, which answers `FIONREAD` (`TIOCINQ`: the input
/// queue, empty) and returns `ENOIOCTLCMD` for the rest, `ENOTTY` to the
/// caller (the watch-queue requests among them).
///
/// Mirrors fs/ioctl.c vfs_ioctl() of 6.12, lines 44-56, fp 9da81acf64dc4ebf.
pub fn vfs_ioctl(cx: &Cx<'_>, filp: Id<File>, req: &PipeIoctl) -> KResult<i64> {
    let _f = kfn("vfs_ioctl");
    let f = cx.k.files.get(filp);
    match (&f.f_op, req) {
        (FileOps::Pipe(_), _) => unreachable!("a pipe's ioctl goes to pipe_ioctl()"),
        (FileOps::Regular(r), PipeIoctl::Fionread) => {
            let r = r.lock();
            Ok(r.data.len() as i64 - r.pos as i64)
        }
        (FileOps::Tty, PipeIoctl::Fionread) => Ok(0),
        _ => Err(Errno::ENOTTY),
    }
}

/// `vfs_poll()` of a file that is not a pipe: `DEFAULT_POLLMASK` without
/// `f_op->poll`; `n_tty_poll()` on the pty master: no input, room to
/// write, no hang-up (its peer was never opened, so never closed).
/// Nothing that the model does changes it, so a poll that finds none of
/// its events sleeps until a signal or its timer.
pub fn vfs_poll(cx: &Cx<'_>, filp: Id<File>) -> u32 {
    match cx.k.files.get(filp).f_op {
        FileOps::Pipe(_) => unreachable!("a pipe's poll goes to pipe_poll()"),
        FileOps::Null | FileOps::Regular(_) => DEFAULT_POLLMASK,
        FileOps::Tty => POLLOUT | POLLWRNORM,
    }
}

/// `file_can_poll()`: whether the file has `f_op->poll` (`epoll_ctl()`
/// refuses the others with `EPERM`).
pub fn file_can_poll(cx: &Cx<'_>, filp: Id<File>) -> bool {
    matches!(cx.k.files.get(filp).f_op, FileOps::Pipe(_) | FileOps::Tty)
}

/// The `splice_write` end of `do_splice_from()` for a file that is not a
/// pipe, given the bytes taken from the pipe: `splice_write_null()`
/// drops them; `iter_file_splice_write()` writes them to the pty or the
/// regular file.
pub fn do_splice_from(cx: &Cx<'_>, filp: Id<File>, data: &[u8]) {
    if let FileOps::Regular(_) = cx.k.files.get(filp).f_op {
        let _ = vfs_write(cx, filp, data);
    }
}

/// `do_splice_read()` of a file that is not a pipe, once the pipe has
/// room for `len` bytes: `/dev/null` has no `splice_read` (`EINVAL`); the
/// pty's is `copy_splice_read()`, a read that finds no input; a regular
/// file's (`filemap_splice_read()`) offers the bytes from `f_pos` (none at
/// the end of the file), with `f_pos`'s offset in its page (the page
/// cache's pages are what go in the pipe). The caller moves `f_pos` on by
/// what the pipe took ([`do_splice_read_done`]).
pub fn do_splice_read(cx: &Cx<'_>, filp: Id<File>, len: usize) -> KResult<(Vec<u8>, usize)> {
    let f = cx.k.files.get(filp);
    match &f.f_op {
        FileOps::Pipe(_) => unreachable!("a pipe is spliced from by splice_pipe_to_pipe()"),
        FileOps::Null => Err(Errno::EINVAL),
        FileOps::Tty => vfs_read(cx, filp, len).map(|b| (b, 0)),
        FileOps::Regular(r) => {
            let r = r.lock();
            let from = r.pos.min(r.data.len());
            let to = from.saturating_add(len).min(r.data.len());
            Ok((r.data[from..to].to_vec(), r.pos % cx.k.config.page_size as usize))
        }
    }
}

/// `*ppos += ret` after a splice from a regular file.
pub fn do_splice_read_done(cx: &Cx<'_>, filp: Id<File>, n: usize) {
    if let FileOps::Regular(r) = &cx.k.files.get(filp).f_op {
        r.lock().pos += n;
    }
}
