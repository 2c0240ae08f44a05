//! Open files and the file table (fs/file.c, fs/file_table.c, fs/open.c):
//! enough to give pipe ends and the few other files a scenario opens
//! (`/dev/null`, a tty, a regular file) descriptors, reference-count them,
//! and release a file when its last reference goes.

use std::collections::BTreeMap;

use crate::errno::{Errno, KResult};
use crate::heap::{Id, Obj};
use crate::kernel::Cx;
use crate::pipe::{self, PipeInodeInfo};
use crate::sync::{KCell, SpinLock, instr};
use crate::trace;
use crate::uapi::{O_CLOEXEC, O_DIRECT, O_EXCL, O_LARGEFILE, O_RDWR};

/// `FMODE_READ`.
pub const FMODE_READ: u32 = 0x1;
/// `FMODE_WRITE`.
pub const FMODE_WRITE: u32 = 0x2;

/// What a file is: the `f_op` its calls reach, and the state behind it.
#[derive(Debug)]
pub enum FileOps {
    /// `pipefifo_fops`; `private_data` is the pipe.
    Pipe(Id<PipeInodeInfo>),
    /// `null_fops` (drivers/char/mem.c): reads find end of file, writes
    /// are taken whole, no `ioctl`, no `poll`, no `splice_read`.
    Null,
    /// `ptmx_fops`/`tty_fops` (drivers/tty/tty_io.c, pty.c): the master
    /// of a pseudo-terminal whose peer echoes nothing and sends nothing,
    /// so its input queue stays empty.
    Tty,
    /// A regular file on a filesystem without direct I/O (ramfs, the
    /// initramfs root): its bytes and `f_pos`, which the model keeps
    /// outside the explorers' view.
    Regular(instr::Mutex<crate::fops::RegularFile>),
}

/// The files `open(2)` makes in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpenKind {
    /// `/dev/null`.
    Null,
    /// `/dev/ptmx`: a pseudo-terminal master.
    Tty,
    /// A new, empty regular file.
    Regular,
}

/// Models `struct file`.
///
/// Mirrors include/linux/fs.h struct file of 6.12, lines 1077-1114, fp 96b7d47b44f81dc2.
#[derive(Debug)]
pub struct File {
    /// `f_mode`: `FMODE_READ` and/or `FMODE_WRITE`.
    pub f_mode: u32,
    /// `f_flags`: the access mode (`O_WRONLY`, `O_RDWR`), `O_NONBLOCK`,
    /// `O_DIRECT`, `O_LARGEFILE`.
    pub f_flags: KCell<u32>,
    /// `f_op` and what it works on.
    pub f_op: FileOps,
    /// `f_pipe` (the FIFO hang-up counter snapshot; 0 for pipes).
    pub f_pipe: u32,
    /// `f_count`.
    f_count: instr::AtomicI64,
    /// `f_lock`: guards `f_ep`.
    pub f_lock: SpinLock,
    /// `f_ep`: the epoll instance watching this file (one at most in the
    /// model), under `f_lock`.
    pub f_ep: KCell<Option<Id<crate::eventpoll::EventPoll>>>,
    /// Whether `f_ep` was ever set: `eventpoll_release()`'s lockless
    /// `READ_ONCE(file->f_ep)` test, kept outside the explorers' view. By
    /// the time `__fput()` runs nobody can set `f_ep` (that needs a
    /// reference to the file), only clear it, and the test is made again
    /// under `f_lock`; so a file never watched costs no step.
    pub f_ep_ever: instr::AtomicBool,
    /// `f_cred`: the opener's credentials, held until `__fput()`.
    pub f_cred: instr::Mutex<Option<crate::sync::Arc<crate::kernel::Cred>>>,
}

/// Models `struct files_struct`: descriptor -> file.
///
/// Mirrors include/linux/fdtable.h struct files_struct of 6.12, lines 38-57, fp ce5fc986a0df1896.
#[derive(Debug)]
pub struct Fdtable {
    pub file_lock: SpinLock,
    fds: KCell<BTreeMap<i32, Id<File>>>,
}

impl Default for Fdtable {
    fn default() -> Self {
        Fdtable { file_lock: SpinLock::new("files->file_lock"), fds: KCell::new(BTreeMap::new()) }
    }
}

impl Fdtable {
    /// Open descriptors, ascending.
    pub fn fds(&self) -> Vec<i32> {
        let _g = self.file_lock.lock();
        self.fds.with(|m| m.keys().copied().collect())
    }
}

impl File {
    /// The pipe of a pipe file. Only `fs/pipe.c`'s handlers call it, and
    /// only for files whose `f_op` is the pipe's.
    pub fn pipe(&self) -> Id<PipeInodeInfo> {
        match self.f_op {
            FileOps::Pipe(p) => p,
            _ => unreachable!("a pipe handler was called for a file that is not a pipe: {:?}", self.f_op),
        }
    }

    /// The pipe behind the file, if it is one.
    pub fn pipe_info(&self) -> Option<Id<PipeInodeInfo>> {
        match self.f_op {
            FileOps::Pipe(p) => Some(p),
            _ => None,
        }
    }
}

/// `alloc_file_pseudo()` / `alloc_file_clone()`: a pipe file with one
/// reference.
pub fn alloc_file(cx: &Cx<'_>, pipe: Id<PipeInodeInfo>, f_mode: u32, f_flags: u32) -> Id<File> {
    alloc_file_ops(cx, FileOps::Pipe(pipe), f_mode, f_flags)
}

/// `alloc_empty_file()` then `do_dentry_open()`: a file with one
/// reference.
fn alloc_file_ops(cx: &Cx<'_>, f_op: FileOps, f_mode: u32, f_flags: u32) -> Id<File> {
    let f = File {
        f_mode,
        f_flags: KCell::new(f_flags),
        f_op,
        f_pipe: 0,
        f_count: instr::AtomicI64::new(1),
        f_lock: SpinLock::new("file->f_lock"),
        f_ep: KCell::new(None),
        f_ep_ever: instr::AtomicBool::new(false),
        f_cred: instr::Mutex::new(Some({
            let c = cx.current_cred();
            c.get();
            c
        })),
    };
    cx.k.heap.alloc_in(&cx.k.files, "file", f).0
}

/// `get_unused_fd_flags()` + `fd_install()`: the lowest free descriptor,
/// `EMFILE` at `RLIMIT_NOFILE`.
pub fn fd_install(cx: &Cx<'_>, file: Id<File>) -> KResult<i32> {
    let limit = cx.task.rlimit_nofile.get();
    let t = &cx.k.fdtable;
    let _g = t.file_lock.lock();
    t.fds.with_mut(|m| {
        // Descriptors 0..=2 are stdio in a real process.
        let mut fd = 3;
        while m.contains_key(&fd) {
            fd += 1;
        }
        if fd as u64 >= limit {
            return Err(Errno::EMFILE);
        }
        m.insert(fd, file);
        Ok(fd)
    })
}

/// `get_unused_fd_flags()` twice, then `fd_install()` twice, under one
/// lock: both descriptors appear together or neither does.
pub fn fd_install_pair(cx: &Cx<'_>, a: Id<File>, b: Id<File>) -> KResult<[i32; 2]> {
    let limit = cx.task.rlimit_nofile.get();
    let t = &cx.k.fdtable;
    let _g = t.file_lock.lock();
    t.fds.with_mut(|m| {
        let mut free = (3..).filter(|fd| !m.contains_key(fd));
        let fa = free.next().expect("unbounded");
        let fb = free.next().expect("unbounded");
        if fa as u64 >= limit || fb as u64 >= limit {
            return Err(Errno::EMFILE);
        }
        m.insert(fa, a);
        m.insert(fb, b);
        Ok([fa, fb])
    })
}

/// `fget()`: the file behind `fd` with a new reference, or `EBADF`.
pub fn fget(cx: &Cx<'_>, fd: i32) -> KResult<Id<File>> {
    let t = &cx.k.fdtable;
    let _g = t.file_lock.lock();
    let f = t.fds.with(|m| m.get(&fd).copied()).ok_or(Errno::EBADF)?;
    cx.k.files.get(f).f_count.fetch_add(1, instr::Ordering::Relaxed);
    Ok(f)
}

/// `fput()`: drop a reference; the last one releases the file (`__fput`).
pub fn fput(cx: &Cx<'_>, file: Id<File>) {
    let f = cx.k.files.get(file);
    if f.f_count.fetch_sub(1, instr::Ordering::Relaxed) == 1 {
        __fput(cx, file);
    }
}

/// `__fput()`: leave any epoll instance watching the file
/// (`eventpoll_release()`), `f_op->release` (`pipe_release`), then free
/// the file.
///
/// Mirrors fs/file_table.c __fput() of 6.12, lines 442-482, fp 365a91a0818d9762.
fn __fput(cx: &Cx<'_>, file: Id<File>) {
    let _f = trace::kfn("__fput");
    crate::eventpoll::eventpoll_release(cx, file);
    let f = cx.k.files.get(file);
    // f_op->release: only a pipe's has an effect the model keeps
    // (tty_release() of a pty nobody else holds frees it silently).
    if let FileOps::Pipe(_) = f.f_op {
        pipe::pipe_release(cx, file);
    }
    // file_free(): put_cred(f_cred).
    if let Some(c) = f.f_cred.lock().take() {
        crate::kernel::put_cred(cx, &c);
    }
    cx.k.heap.kfree(Obj::hdr(&f));
}

/// `close_fd()`: remove `fd` from the table and drop its reference.
///
/// Mirrors fs/file.c close_fd() of 6.12, lines 654-666, fp 3ff1c8e34e836579.
pub fn close_fd(cx: &Cx<'_>, fd: i32) -> KResult<()> {
    let _f = trace::kfn("close_fd");
    let t = &cx.k.fdtable;
    let file = {
        let _g = t.file_lock.lock();
        t.fds.with_mut(|m| m.remove(&fd)).ok_or(Errno::EBADF)?
    };
    fput(cx, file);
    Ok(())
}

/// Models `do_sys_open()` of `/dev/null`, `/dev/ptmx` or a new regular
/// file (`O_CREAT | O_TRUNC`), read-write, with `flags` from the scenario:
/// `build_open_flags()` adds `O_LARGEFILE` and keeps `O_CLOEXEC` for the
/// descriptor only; `do_dentry_open()` drops `O_EXCL` (which
/// `O_NOTIFICATION_PIPE` is) and refuses `O_DIRECT` with `EINVAL`, as none
/// of the three has `FMODE_CAN_ODIRECT` (no `direct_IO` address-space op);
/// the descriptor is taken first (`get_unused_fd_flags()`: `EMFILE`
/// comes before any of that).
///
/// Mirrors fs/open.c do_sys_open() of 6.12, lines 1433-1437, fp e95133c2a02c816f.
pub fn do_sys_open(cx: &Cx<'_>, kind: OpenKind, flags: u32) -> KResult<i32> {
    let _f = trace::kfn("do_sys_open");
    {
        let t = &cx.k.fdtable;
        let _g = t.file_lock.lock();
        let lowest = t.fds.with(|m| (3..).find(|fd| !m.contains_key(fd)).expect("unbounded"));
        if lowest as u64 >= cx.task.rlimit_nofile.get() {
            return Err(Errno::EMFILE);
        }
    }
    let f_flags = O_RDWR | O_LARGEFILE | (flags & !(O_CLOEXEC | O_EXCL));
    if f_flags & O_DIRECT != 0 {
        return Err(Errno::EINVAL);
    }
    let f_op = match kind {
        OpenKind::Null => FileOps::Null,
        OpenKind::Tty => FileOps::Tty,
        OpenKind::Regular => FileOps::Regular(instr::Mutex::new(Default::default())),
    };
    let file = alloc_file_ops(cx, f_op, FMODE_READ | FMODE_WRITE, f_flags);
    fd_install(cx, file).inspect_err(|_| fput(cx, file))
}
