//! Models fs/pipe.c and include/linux/pipe_fs_i.h, Linux 6.12: the pipe
//! ring and its head/tail protocol, `pipe_read` (read-whole-or-error and
//! the fabricated loss record), `pipe_write`, the ioctls, `pipe_poll`,
//! release and free, and ring resizing.
//!
//! Functions appear in the C file's order. Locks are the kernel's:
//! `pipe->mutex` serialises readers, writers, sizing and filter swaps;
//! `pipe->rd_wait.lock` is the ring lock of a notification pipe (posters
//! hold only it). `head` is published with a store-release that pairs
//! with the load-acquire in `pipe_read`.

use crate::bugs::Bug;
use crate::errno::{Errno, KResult};
use crate::file::{self, FMODE_READ, FMODE_WRITE, File};
use crate::heap::{Id, KArray, Obj, deref};
use crate::kernel::{Cx, UserStruct};
use crate::mm::{self, Page};
use crate::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use crate::sync::mutation::{self, Operator};
use crate::sync::{Arc, KCell, KMutex, SpinLock, WaitQueueHead, WaitResult, instr, read_once, smp_load_acquire};
use crate::trace::{self, Event, kfn};
use crate::uapi::*;
use crate::watch_queue::{self, WatchQueue};

/// `const struct pipe_buf_operations *` of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeBufOps {
    /// `anon_pipe_buf_ops`: data written by `pipe_write`.
    Anon,
    /// `watch_queue_pipe_buf_ops`: a note posted by `post_one_notification`.
    WatchQueue,
    /// `page_cache_pipe_buf_ops` / `default_pipe_buf_ops`: a page spliced
    /// in from a file.
    Spliced,
}

/// Models `struct pipe_buffer`: one ring slot. Each field is its own cell,
/// as each is its own word in the kernel.
///
/// Mirrors include/linux/pipe_fs_i.h struct pipe_buffer of 6.12, lines 26-32, fp 66199038e5d15b59.
#[derive(Debug, Default)]
pub struct PipeBuffer {
    pub page: KCell<Option<Id<Page>>>,
    pub offset: KCell<u32>,
    pub len: KCell<u32>,
    /// `ops`: `None` is a dead slot (`pipe_buf_release` clears it).
    pub ops: KCell<Option<PipeBufOps>>,
    pub flags: KCell<u32>,
    /// `private`: the watch queue that owns the note.
    pub private: KCell<Option<Id<WatchQueue>>>,
}

/// The ring array (`pipe->bufs`), a `kcalloc` of `ring_size` slots.
pub type Bufs = Obj<KArray<PipeBuffer>>;

/// Models `struct pipe_inode_info`.
///
/// Mirrors include/linux/pipe_fs_i.h struct pipe_inode_info of 6.12, lines 58-83, fp 037f90339faef88d.
#[derive(Debug)]
pub struct PipeInodeInfo {
    /// `pipe->mutex`.
    pub mutex: KMutex,
    /// `pipe->rd_wait`; its lock is the ring lock of notification pipes.
    pub rd_wait: WaitQueueHead,
    /// `pipe->wr_wait`.
    pub wr_wait: WaitQueueHead,
    /// `head`: free-running index of the next slot to fill (`pipe_index_t`).
    pub head: AtomicU32,
    /// `tail`: free-running index of the next slot to read.
    pub tail: AtomicU32,
    /// `max_usage`: the writers' occupancy limit.
    pub max_usage: AtomicU32,
    /// `ring_size`: slots in `bufs`, a power of two.
    pub ring_size: KCell<u32>,
    /// `nr_accounted`: pages charged to `user->pipe_bufs`.
    pub nr_accounted: KCell<u32>,
    /// `readers`, `writers`: open ends (read locklessly by the wait conditions).
    pub readers: AtomicU32,
    pub writers: AtomicU32,
    /// `files`: open files on the pipe (under `i_lock`).
    pub files: KCell<u32>,
    /// The pipe inode's `i_lock`, which guards `files`.
    pub i_lock: SpinLock,
    pub r_counter: KCell<u32>,
    pub w_counter: KCell<u32>,
    /// `poll_usage`: somebody polled (epoll's extra wake-ups).
    pub poll_usage: AtomicBool,
    /// `note_loss`: the next `read()` must start with a loss record.
    pub note_loss: KCell<bool>,
    /// `tmp_page`: a one-page cache for writers.
    pub tmp_page: KCell<Option<Id<Page>>>,
    /// `bufs`.
    pub bufs: KCell<Arc<Bufs>>,
    /// `user`.
    pub user: Arc<UserStruct>,
    /// `watch_queue`: set for `O_NOTIFICATION_PIPE`, never changed after.
    pub watch_queue: KCell<Option<Id<WatchQueue>>>,
    /// The values `pipe_index_t` can hold, minus one (`u32::MAX` on 64-bit).
    pub index_mask: u32,
    /// The P10 switch, fixed for the pipe's life.
    pub index_bug: bool,
    /// What `head`, `tail`, `max_usage`, `readers` and `writers` hold in
    /// memory now: every store of them updates it with no scheduling point
    /// in between, so it is the pipe at one instant. Instrumentation the explorers do not see;
    /// it stands for the single-word `READ_ONCE(pipe->head_tail)` of the
    /// lockless readers (since 3d252160b818), and each change is traced
    /// ([`Event::Ring`]) for the poll oracle (S9).
    pub now: instr::Mutex<RingNow>,
    /// The P13 switch, fixed for the pipe's life.
    pub torn_bug: bool,
}

/// A pipe's ring indexes, writers' limit and open ends at one instant
/// ([`PipeInodeInfo::now`]).
#[derive(Clone, Copy, Debug)]
pub struct RingNow {
    pub head: u32,
    pub tail: u32,
    pub max_usage: u32,
    pub readers: u32,
    pub writers: u32,
}

/// Which ring index a store changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    Head,
    Tail,
}

// ---- include/linux/pipe_fs_i.h ---------------------------------------------

/// `pipe_occupancy(head, tail)`: `(pipe_index_t)(head - tail)`, where
/// `pipe_index_t` is `unsigned int` on 64-bit kernels and `unsigned short`
/// on 32-bit ones (the pipe's `index_mask`). Catalog switches here: P10
/// (the difference taken in `unsigned int`, without the cast).
pub fn pipe_occupancy(pipe: &PipeInodeInfo, head: u32, tail: u32) -> u32 {
    // BUG(P10): no cast to pipe_index_t.
    if pipe.index_bug { head.wrapping_sub(tail) } else { head.wrapping_sub(tail) & pipe.index_mask }
}

/// `pipe_empty(head, tail)`: `!pipe_occupancy(head, tail)` (P10: the old
/// `head == tail`, which a locally incremented index defeats at the wrap).
pub fn pipe_empty(pipe: &PipeInodeInfo, head: u32, tail: u32) -> bool {
    // BUG(P10): compared the indexes as unsigned ints.
    if pipe.index_bug { head == tail } else { pipe_occupancy(pipe, head, tail) == 0 }
}

/// `pipe_full(head, tail, limit)`.
pub fn pipe_full(pipe: &PipeInodeInfo, head: u32, tail: u32, limit: u32) -> bool {
    mutation::at_limit(pipe_occupancy(pipe, head, tail), limit)
}

/// Store a ring index as `pipe_index_t` holds it (`pipe->head = v` or
/// `pipe->tail = v`), with `order`, and record the ring as it now is.
pub fn store_index(cx: &Cx<'_>, pid: Id<PipeInodeInfo>, pipe: &PipeInodeInfo, which: Index, v: u32, order: Ordering) {
    let v = v & pipe.index_mask;
    match which {
        Index::Head => pipe.head.store(v, order),
        Index::Tail => pipe.tail.store(v, order),
    }
    note_ring(cx, pid, pipe, |r| match which {
        Index::Head => r.head = v,
        Index::Tail => r.tail = v,
    });
}

/// `pipe->max_usage = v`, recorded as [`store_index`] records an index.
pub fn store_max_usage(cx: &Cx<'_>, pid: Id<PipeInodeInfo>, pipe: &PipeInodeInfo, v: u32) {
    pipe.max_usage.store(v, Ordering::Relaxed);
    note_ring(cx, pid, pipe, |r| r.max_usage = v);
}

/// Update [`PipeInodeInfo::now`] after a store and trace the pipe's new
/// state (occupancy as the fixed kernel's `pipe_occupancy()` computes it).
fn note_ring(cx: &Cx<'_>, pid: Id<PipeInodeInfo>, pipe: &PipeInodeInfo, f: impl FnOnce(&mut RingNow)) {
    let r = {
        let mut now = pipe.now.lock();
        f(&mut now);
        *now
    };
    cx.k.trace.push(Event::Ring {
        pipe: pid.index(),
        occupancy: r.head.wrapping_sub(r.tail) & pipe.index_mask,
        max_usage: r.max_usage,
        readers: r.readers,
        writers: r.writers,
    });
}

/// The lockless readers' view of `head` and `tail`: two `READ_ONCE`
/// loads, head first. Since 3d252160b818 (6.14) the kernel loads both in
/// one word (`union pipe_index`), so they are the ring at one instant;
/// the model makes the same two loads (the explorers' scheduling points
/// stay where they were) and then takes both from [`PipeInodeInfo::now`]
/// at the instant of the second. Catalog switch P13: the values of the
/// two loads, which may come from different instants.
fn read_head_tail(pipe: &PipeInodeInfo) -> (u32, u32) {
    let head = read_once(&pipe.head);
    let tail = read_once(&pipe.tail);
    // BUG(P13): head and tail read separately.
    if pipe.torn_bug {
        return (head, tail);
    }
    let now = pipe.now.lock();
    (now.head, now.tail)
}

/// `pipe_has_watch_queue(pipe)`.
pub fn pipe_has_watch_queue(pipe: &PipeInodeInfo) -> bool {
    pipe.watch_queue.get().is_some()
}

/// `pipe_buf_release()`: clear `ops`, then call the release callback.
pub fn pipe_buf_release(cx: &Cx<'_>, pipe: Id<PipeInodeInfo>, buf: &PipeBuffer) {
    let ops = buf.ops.replace(None);
    match ops {
        Some(PipeBufOps::Anon) => anon_pipe_buf_release(cx, pipe, buf),
        Some(PipeBufOps::WatchQueue) => watch_queue::watch_queue_pipe_buf_release(cx, pipe, buf),
        Some(PipeBufOps::Spliced) => generic_pipe_buf_release(cx, buf),
        None => crate::heap::null_deref("pipe_buf_release: buf->ops"),
    }
}

// ---- fs/pipe.c -------------------------------------------------------------

/// Models `pipe_lock()`: `pipe->mutex`, if any file is open.
///
/// Mirrors fs/pipe.c pipe_lock() of 6.12, lines 89-93, fp 44ca3d60c13266d3.
pub fn pipe_lock<'a>(pipe: &'a PipeInodeInfo) -> Option<crate::sync::KMutexGuard<'a>> {
    crate::trace::reached("pipe_lock");
    (pipe.files.get() > 0).then(|| pipe.mutex.lock())
}

/// Models `anon_pipe_buf_release()`: keep the page as `tmp_page` if nobody
/// else holds it, else drop the reference.
///
/// Mirrors fs/pipe.c anon_pipe_buf_release() of 6.12, lines 115-129, fp 85166d84a51fdd87.
fn anon_pipe_buf_release(cx: &Cx<'_>, pipe: Id<PipeInodeInfo>, buf: &PipeBuffer) {
    let _f = kfn("anon_pipe_buf_release");
    let p = cx.k.pipes.get(pipe);
    let page = deref(buf.page.get(), "anon_pipe_buf_release: buf->page");
    if cx.k.pages.get(page).page_count() == 1 && p.tmp_page.get().is_none() {
        p.tmp_page.set(Some(page));
    } else {
        mm::put_page(cx, page);
    }
}

/// Models `generic_pipe_buf_release()`: `put_page(buf->page)`.
///
/// Mirrors fs/pipe.c generic_pipe_buf_release() of 6.12, lines 197-201, fp 18890ad3f181abe7.
pub fn generic_pipe_buf_release(cx: &Cx<'_>, buf: &PipeBuffer) {
    crate::trace::reached("generic_pipe_buf_release");
    mm::put_page(cx, deref(buf.page.get(), "generic_pipe_buf_release: buf->page"));
}

/// Models `__splice_from_pipe()`'s consumption of a plain pipe, with the
/// pipe locked and not empty: `splice_from_pipe_feed()` takes up to `len`
/// bytes from the buffers at the tail, releasing each it empties; then
/// `splice_from_pipe_end()` wakes writers if it released one. Returns the
/// bytes taken, for the output file's `splice_write` actor (which the
/// model runs after: `pipe_to_null()` drops them, a file write cannot
/// fail here).
///
/// Mirrors fs/splice.c splice_from_pipe_feed() of 6.12, lines 445-492, fp ec72a59a12cab713.
/// Mirrors fs/splice.c __splice_from_pipe() of 6.12, lines 601-616, fp a74a699f7478d5a1.
pub fn splice_from_pipe_feed(cx: &Cx<'_>, pid: Id<PipeInodeInfo>, len: usize) -> Vec<u8> {
    let _f = kfn("splice_from_pipe_feed");
    let pipe = cx.k.pipes.get(pid);
    let mut out = Vec::new();
    let mut need_wakeup = false;
    while out.len() < len {
        let head = pipe.head.load(Ordering::Relaxed);
        let tail = pipe.tail.load(Ordering::Relaxed);
        if pipe_empty(&pipe, head, tail) {
            break;
        }
        let bufs = pipe.bufs.get();
        let buf = bufs.at((tail & (pipe.ring_size.get() - 1)) as usize);
        let n = (buf.len.get() as usize).min(len - out.len());
        let page = deref(buf.page.get(), "splice_from_pipe_feed: buf->page");
        let off = buf.offset.get() as usize;
        let copied = cx.k.pages.get(page).read(off, n);
        out.extend_from_slice(&copied);
        // unsigned int arithmetic, as in the kernel: only a race can make
        // it wrap, and then the checks, not a panic, report it.
        buf.offset.set((off + n) as u32);
        buf.len.set(buf.len.get().wrapping_sub(n as u32));
        if buf.len.get() == 0 {
            pipe_update_tail(cx, pid, buf, tail, &copied);
            need_wakeup = true;
        }
    }
    if need_wakeup {
        pipe.wr_wait.wake_up();
    }
    out
}

/// Models the filling half of `filemap_splice_read()` (and of
/// `copy_splice_read()`) into a plain pipe, with the pipe locked and not
/// full: the bytes go into new slots at the head, one page each at most,
/// which later writes do not merge into (no `PIPE_BUF_FLAG_CAN_MERGE`),
/// until they or the room run out; the first starts at `offset` in its
/// page, as the file position does. Returns how many went in; `ENOMEM`
/// when no page could be had for the first.
///
/// Mirrors mm/filemap.c filemap_splice_read() of 6.12, lines 2906-2996, fp a405d319a4685d7e.
/// Mirrors fs/splice.c copy_splice_read() of 6.12, lines 321-401, fp e94e2c943f3985c0.
pub fn splice_into_pipe(cx: &Cx<'_>, pid: Id<PipeInodeInfo>, data: &[u8], mut offset: usize) -> KResult<usize> {
    let _f = kfn("splice_into_pipe");
    let pipe = cx.k.pipes.get(pid);
    let page_size = cx.k.config.page_size as usize;
    let mut done = 0;
    while done < data.len() {
        let head = pipe.head.load(Ordering::Relaxed);
        if pipe_full(&pipe, head, pipe.tail.load(Ordering::Relaxed), pipe.max_usage.load(Ordering::Relaxed)) {
            break;
        }
        let Some(page) = mm::alloc_page(cx, "splice_into_pipe: alloc_page") else {
            return if done == 0 { Err(Errno::ENOMEM) } else { Ok(done) };
        };
        let n = (data.len() - done).min(page_size - offset);
        cx.k.pages.get(page).write(offset, &data[done..done + n]);
        let bufs = pipe.bufs.get();
        let buf = bufs.at((head & (pipe.ring_size.get() - 1)) as usize);
        buf.page.set(Some(page));
        buf.ops.set(Some(PipeBufOps::Spliced));
        buf.offset.set(offset as u32);
        buf.len.set(n as u32);
        buf.flags.set(0);
        store_index(cx, pid, &pipe, Index::Head, head.wrapping_add(1), Ordering::Relaxed);
        done += n;
        offset = 0;
    }
    Ok(done)
}

/// Models `pipe_readable()` (6.12: separate `READ_ONCE` loads of head,
/// tail and writers), the lockless wait condition of readers.
///
/// Mirrors fs/pipe.c pipe_readable() of 6.12, lines 211-218, fp 007ef10900212ebf.
pub fn pipe_readable(pipe: &PipeInodeInfo) -> bool {
    crate::trace::reached("pipe_readable");
    let (head, tail) = read_head_tail(pipe);
    let writers = read_once(&pipe.writers);
    !pipe_empty(pipe, head, tail) || writers == 0
}

/// Models `pipe_update_tail()`: release the slot, then advance `tail`. For
/// watch-queue pipes the advance (and the read of `PIPE_BUF_FLAG_LOSS`)
/// happens under `rd_wait.lock`, because posters hold only that lock.
///
/// Deviation: `consumed` carries the bytes the reader copied from the
/// slot, for the trace.
///
/// Mirrors fs/pipe.c pipe_update_tail() of 6.12, lines 220-248, fp 944e030918be653e.
fn pipe_update_tail(cx: &Cx<'_>, pid: Id<PipeInodeInfo>, buf: &PipeBuffer, mut tail: u32, consumed: &[u8]) -> u32 {
    let _f = kfn("pipe_update_tail");
    let pipe = cx.k.pipes.get(pid);
    pipe_buf_release(cx, pid, buf);
    if pipe_has_watch_queue(&pipe) {
        let _g = pipe.rd_wait.lock.lock();
        let loss = buf.flags.get() & PIPE_BUF_FLAG_LOSS != 0;
        if loss {
            pipe.note_loss.set(true);
        }
        tail = tail.wrapping_add(1);
        store_index(cx, pid, &pipe, Index::Tail, tail, Ordering::Relaxed);
        cx.k.trace.push(Event::Consumed { tid: trace::tid(), pipe: pid.index(), bytes: consumed.to_vec(), loss });
        return tail;
    }
    tail = tail.wrapping_add(1);
    store_index(cx, pid, &pipe, Index::Tail, tail, Ordering::Relaxed);
    tail
}

/// Models `pipe_read()`: returns the bytes read (empty at EOF) or the errno.
///
/// Whole notification records only (`PIPE_BUF_FLAG_WHOLE`: a record that
/// does not fit fails with `ENOBUFS` if nothing was copied yet); a pending
/// loss is emitted as an 8-byte record at the top of the loop, so a loss
/// flagged on the last queued record waits for the next `read()`.
///
/// Deviations: the user buffer is a `Vec`; `copy_to_iter` cannot fault.
///
/// Mirrors fs/pipe.c pipe_read() of 6.12, lines 250-409, fp 3b14072098b5d035.
pub fn pipe_read(cx: &Cx<'_>, filp: Id<File>, len: usize) -> KResult<Vec<u8>> {
    let _f = kfn("pipe_read");
    let f = cx.k.files.get(filp);
    let pid = f.pipe();
    let pipe = cx.k.pipes.get(pid);
    let mut total_len = len;
    let mut to: Vec<u8> = Vec::new();
    let mut wake_next_reader = false;

    // Null read succeeds.
    if total_len == 0 {
        return Ok(to);
    }

    let mut ret: Result<usize, Errno> = Ok(0);
    let mut guard = Some(pipe.mutex.lock_marked("pipe->mutex after was_full"));

    // Wake writers only if the pipe was full when reading started.
    let mut was_full = pipe_full(
        &pipe,
        pipe.head.load(Ordering::Relaxed),
        pipe.tail.load(Ordering::Relaxed),
        pipe.max_usage.load(Ordering::Relaxed),
    );
    if let Some(g) = guard.as_mut() {
        g.first_step_done();
    }
    loop {
        // Read ->head with a barrier vs post_one_notification().
        // BUG(W2): a plain load.
        let head = if cx.bug(Bug::W2) { read_once(&pipe.head) } else { smp_load_acquire(&pipe.head) };
        let mut tail = pipe.tail.load(Ordering::Relaxed);
        let mask = mutation::ring_mask(pipe.ring_size.get());

        if pipe.note_loss.get() {
            if total_len < WATCH_NOTIFICATION_SIZE {
                if ret == Ok(0) {
                    ret = Err(Errno::ENOBUFS);
                }
                break;
            }
            to.extend_from_slice(&loss_notification());
            ret = ret.map(|r| r + WATCH_NOTIFICATION_SIZE);
            total_len -= WATCH_NOTIFICATION_SIZE;
            pipe.note_loss.set(false);
            cx.k.trace.push(Event::LossFabricated { tid: trace::tid(), pipe: pid.index() });
        }

        if !pipe_empty(&pipe, head, tail) {
            let bufs = pipe.bufs.get();
            let buf = bufs.at((tail & mask) as usize);
            let mut chars = buf.len.get() as usize;

            if chars > total_len {
                if buf.flags.get() & PIPE_BUF_FLAG_WHOLE != 0 {
                    if ret == Ok(0) {
                        // A deliberate mutant may get the errno wrong.
                        ret = Err(if cx.k.config.mutant == Some(crate::kernel::Mutant::ReadTooSmallEfault) {
                            Errno::EFAULT
                        } else {
                            Errno::ENOBUFS
                        });
                    }
                    break;
                }
                chars = total_len;
            }

            // pipe_buf_confirm(): both ops confirm trivially.
            crate::wq_assert!(
                I3,
                buf.ops.get().is_some(),
                "pipe_read found no buffer in slot {} below head (head={head} tail={tail})",
                tail & mask
            );
            let page = deref(buf.page.get(), "pipe_read: buf->page");
            let off = buf.offset.get() as usize;
            let copied = cx.k.pages.get(page).read(off, chars);
            to.extend_from_slice(&copied);
            ret = ret.map(|r| r + chars);
            buf.offset.set((off + chars) as u32);
            buf.len.set(buf.len.get().wrapping_sub(chars as u32)); // unsigned, as in the kernel

            // Was it a packet buffer? Clean up and exit.
            if buf.flags.get() & PIPE_BUF_FLAG_PACKET != 0 {
                total_len = chars;
                buf.len.set(0);
            }

            if buf.len.get() == 0 {
                tail = pipe_update_tail(cx, pid, buf, tail, &copied);
            }
            total_len -= chars;
            if total_len == 0 {
                break; // common path: read succeeded
            }
            if !pipe_empty(&pipe, head, tail) {
                continue; // more to do?
            }
        }

        if pipe.writers.load(Ordering::Relaxed) == 0 {
            break;
        }
        if ret != Ok(0) {
            break;
        }
        if f.f_flags.get() & O_NONBLOCK != 0 {
            ret = Err(Errno::EAGAIN);
            break;
        }
        drop(guard.take());

        // We only get here if we didn't actually read anything.
        if was_full {
            pipe.wr_wait.wake_up();
        }
        if pipe.rd_wait.wait_event_interruptible_exclusive(|| pipe_readable(&pipe)) == WaitResult::Interrupted {
            push_read_returned(cx, &pipe, pid, len, &Err(Errno::ERESTARTSYS));
            return Err(Errno::ERESTARTSYS);
        }

        // We only wake up writers if the pipe was full on entry and is no
        // longer so. Recompute after the sleep.
        guard = Some(pipe.mutex.lock());
        was_full = pipe_full(
            &pipe,
            pipe.head.load(Ordering::Relaxed),
            pipe.tail.load(Ordering::Relaxed),
            pipe.max_usage.load(Ordering::Relaxed),
        );
        wake_next_reader = true;
    }
    if pipe_empty(&pipe, pipe.head.load(Ordering::Relaxed), pipe.tail.load(Ordering::Relaxed)) {
        wake_next_reader = false;
    }
    drop(guard);

    if was_full {
        pipe.wr_wait.wake_up();
    }
    if wake_next_reader {
        pipe.rd_wait.wake_up();
    }
    let result = ret.map(|_| to);
    push_read_returned(cx, &pipe, pid, len, &result);
    result
}

fn push_read_returned(
    cx: &Cx<'_>,
    pipe: &PipeInodeInfo,
    pid: Id<PipeInodeInfo>,
    len: usize,
    result: &KResult<Vec<u8>>,
) {
    if pipe_has_watch_queue(pipe) {
        cx.k.trace.push(Event::ReadReturned { tid: trace::tid(), pipe: pid.index(), len, result: result.clone() });
    }
}

/// Models `pipe_writable()`.
///
/// Mirrors fs/pipe.c pipe_writable() of 6.12, lines 417-425, fp 8da76dbcf4dee307.
pub fn pipe_writable(pipe: &PipeInodeInfo) -> bool {
    crate::trace::reached("pipe_writable");
    let (head, tail) = read_head_tail(pipe);
    let max_usage = read_once(&pipe.max_usage);
    !pipe_full(pipe, head, tail, max_usage) || read_once(&pipe.readers) == 0
}

/// Models `pipe_write()`. Notification pipes refuse with `EXDEV` before
/// anything else (since 055ca8355991). Plain pipes merge into the last
/// buffer when it can merge, then fill new slots a page at a time.
///
/// Deviations: the user buffer is a slice and cannot fault; no `SIGPIPE`
/// is delivered (the `EPIPE` return is modelled).
///
/// Mirrors fs/pipe.c pipe_write() of 6.12, lines 427-613, fp d89d00c332b246f1.
pub fn pipe_write(cx: &Cx<'_>, filp: Id<File>, data: &[u8]) -> KResult<usize> {
    let _f = kfn("pipe_write");
    let f = cx.k.files.get(filp);
    let pid = f.pipe();
    let pipe = cx.k.pipes.get(pid);
    let page_size = cx.k.config.page_size as usize;
    let total_len = data.len();
    let mut from = 0usize; // iov_iter position
    let mut ret: Result<usize, Errno> = Ok(0);
    let mut was_empty = false;
    let mut wake_next_writer = false;
    // signal_pending(current): a sleep ended by a signal.
    let mut signal_pending = false;
    // The `head` local of the write loop's latest round.
    #[allow(unused_assignments)]
    let mut loop_head = 0u32;

    // Reject writing to watch queue pipes before the point where we lock
    // the pipe (lockdep would complain about nested pipe locks otherwise).
    // BUG(W18): the check came after the lock (and after the zero-length
    // and no-reader checks).
    if !cx.bug(Bug::W18) && pipe_has_watch_queue(&pipe) {
        return Err(Errno::EXDEV);
    }

    // Null write succeeds.
    if total_len == 0 {
        return Ok(0);
    }

    let mut guard = Some(pipe.mutex.lock());
    // BUG(P1): the ring mask and max_usage read once, before any sleep.
    let cached_mask = mutation::ring_mask(pipe.ring_size.get());
    let cached_max_usage = pipe.max_usage.load(Ordering::Relaxed);
    let mask_now = |p1: bool| if p1 { cached_mask } else { mutation::ring_mask(pipe.ring_size.get()) };
    let max_usage_now = |p1: bool| if p1 { cached_max_usage } else { pipe.max_usage.load(Ordering::Relaxed) };
    let p1 = cx.bug(Bug::P1);

    'out: {
        if pipe.readers.load(Ordering::Relaxed) == 0 {
            ret = Err(Errno::EPIPE);
            break 'out;
        }
        if cx.bug(Bug::W18) && pipe_has_watch_queue(&pipe) {
            ret = Err(Errno::EXDEV);
            break 'out;
        }

        // If it wasn't empty we try to merge new data into the last buffer.
        let head = pipe.head.load(Ordering::Relaxed);
        was_empty = pipe_empty(&pipe, head, pipe.tail.load(Ordering::Relaxed));
        let chars = total_len & (page_size - 1);
        if chars != 0 && !was_empty {
            let mask = mask_now(p1);
            let bufs = pipe.bufs.get();
            let buf = bufs.at((head.wrapping_sub(1) & mask) as usize);
            let offset = (buf.offset.get() + buf.len.get()) as usize;
            if buf.flags.get() & PIPE_BUF_FLAG_CAN_MERGE != 0 && offset + chars <= page_size {
                let page = deref(buf.page.get(), "pipe_write: buf->page");
                cx.k.pages.get(page).write(offset, &data[from..from + chars]);
                from += chars;
                buf.len.set(buf.len.get() + chars as u32);
                ret = Ok(chars);
                if from == total_len {
                    break 'out;
                }
            }
        }

        loop {
            if pipe.readers.load(Ordering::Relaxed) == 0 {
                if ret == Ok(0) {
                    ret = Err(Errno::EPIPE);
                }
                break;
            }

            let head = pipe.head.load(Ordering::Relaxed);
            loop_head = head;
            if !pipe_full(&pipe, head, pipe.tail.load(Ordering::Relaxed), max_usage_now(p1)) {
                let mask = mask_now(p1);
                let page = match pipe.tmp_page.get() {
                    Some(p) => p,
                    None => match mm::alloc_page(cx, "pipe_write: alloc_page") {
                        Some(p) => {
                            pipe.tmp_page.set(Some(p));
                            p
                        }
                        None => {
                            if ret == Ok(0) {
                                ret = Err(Errno::ENOMEM);
                            }
                            break;
                        }
                    },
                };

                // Allocate a slot in the ring in advance and attach an empty
                // buffer.
                store_index(cx, pid, &pipe, Index::Head, head.wrapping_add(1), Ordering::Relaxed);
                let bufs = pipe.bufs.get();
                let buf = bufs.at((head & mask) as usize);
                buf.page.set(Some(page));
                buf.ops.set(Some(PipeBufOps::Anon));
                buf.offset.set(0);
                buf.len.set(0);
                if f.f_flags.get() & O_DIRECT != 0 {
                    buf.flags.set(PIPE_BUF_FLAG_PACKET);
                } else {
                    buf.flags.set(PIPE_BUF_FLAG_CAN_MERGE);
                }
                pipe.tmp_page.set(None);

                let copied = (total_len - from).min(page_size);
                cx.k.pages.get(page).write(0, &data[from..from + copied]);
                from += copied;
                ret = ret.map(|r| r + copied);
                buf.len.set(copied as u32);

                if from == total_len {
                    break;
                }
            }

            if !pipe_full(&pipe, head, pipe.tail.load(Ordering::Relaxed), max_usage_now(p1)) {
                continue;
            }

            // Wait for buffer space to become available.
            if f.f_flags.get() & O_NONBLOCK != 0 {
                if ret == Ok(0) {
                    ret = Err(Errno::EAGAIN);
                }
                break;
            }
            if signal_pending {
                if ret == Ok(0) {
                    ret = Err(Errno::ERESTARTSYS);
                }
                break;
            }

            // Release the lock, wake readers if needed, sleep; after the
            // wait, re-check whether the pipe became empty meanwhile.
            drop(guard.take());
            if was_empty {
                pipe.rd_wait.wake_up();
            }
            // The result is not checked here: a signal is seen by
            // signal_pending() at the top of the next round.
            if pipe.wr_wait.wait_event_interruptible_exclusive(|| pipe_writable(&pipe)) == WaitResult::Interrupted {
                signal_pending = true;
            }
            guard = Some(pipe.mutex.lock());
            // BUG(P4): the head from before the sleep.
            let head_now = if cx.bug(Bug::P4) { loop_head } else { pipe.head.load(Ordering::Relaxed) };
            was_empty = pipe_empty(&pipe, head_now, pipe.tail.load(Ordering::Relaxed));
            wake_next_writer = true;
        }
    }
    if pipe_full(
        &pipe,
        pipe.head.load(Ordering::Relaxed),
        pipe.tail.load(Ordering::Relaxed),
        pipe.max_usage.load(Ordering::Relaxed),
    ) {
        wake_next_writer = false;
    }
    drop(guard);

    // Wake a reader if the pipe was empty, or always when somebody polls
    // (epoll wants a wake-up per write; 3a34b13a88ca).
    if was_empty || pipe.poll_usage.load(Ordering::Relaxed) {
        pipe.rd_wait.wake_up();
    }
    if wake_next_writer {
        pipe.wr_wait.wake_up();
    }
    ret
}

/// An ioctl request on a pipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipeIoctl {
    /// `FIONREAD`: bytes queued.
    Fionread,
    /// `IOC_WATCH_QUEUE_SET_SIZE` with a number of notes.
    SetSize(u64),
    /// `IOC_WATCH_QUEUE_SET_FILTER`: `None` is a NULL pointer (remove the
    /// filter); `Some(bytes)` is the user memory the pointer reaches.
    SetFilter(Option<Vec<u8>>),
    /// Any other request number.
    Other(u32),
}

/// Models `pipe_ioctl()`. Unknown requests return `ENOIOCTLCMD`, which
/// `vfs_ioctl` turns into `ENOTTY`.
///
/// Mirrors fs/pipe.c pipe_ioctl() of 6.12, lines 615-653, fp a40e6c75608b15be.
pub fn pipe_ioctl(cx: &Cx<'_>, filp: Id<File>, req: &PipeIoctl) -> KResult<i64> {
    let _f = kfn("pipe_ioctl");
    let pid = cx.k.files.get(filp).pipe();
    let pipe = cx.k.pipes.get(pid);
    match req {
        PipeIoctl::Fionread => {
            let _g = pipe.mutex.lock();
            let mut count: u32 = 0;
            let head = pipe.head.load(Ordering::Relaxed);
            let mut tail = pipe.tail.load(Ordering::Relaxed);
            let mask = pipe.ring_size.get() - 1;
            let bufs = pipe.bufs.get();
            // 6.12 loops `while (tail != head)`; with 16-bit indexes the
            // loop must be `while (!pipe_empty(head, tail))` (as from 6.14),
            // which is the same test at 32 bits.
            let mut walked = 0;
            while !pipe_empty(&pipe, head, tail) {
                count = count.wrapping_add(bufs.at((tail & mask) as usize).len.get());
                tail = tail.wrapping_add(1);
                walked += 1;
                crate::wq_assert!(
                    I1,
                    walked <= pipe.ring_size.get(),
                    "ring occupancy: FIONREAD walked {walked} slots of a {}-slot ring (head={head} tail={})",
                    pipe.ring_size.get(),
                    pipe.tail.load(Ordering::Relaxed)
                );
            }
            Ok(count as i32 as i64)
        }
        PipeIoctl::SetSize(n) => {
            let _g = pipe.mutex.lock();
            // The ioctl argument is an unsigned long truncated to unsigned int.
            watch_queue::watch_queue_set_size(cx, pid, *n as u32).map(|v| v as i64)
        }
        PipeIoctl::SetFilter(arg) => watch_queue::watch_queue_set_filter(cx, pid, arg.as_deref()).map(|v| v as i64),
        PipeIoctl::Other(_) => Err(Errno::ENOIOCTLCMD),
    }
}

/// The state half of `pipe_poll()`, after its `poll_wait()` calls (6.12:
/// head and tail are two `READ_ONCE` loads). Returns the ready mask.
pub fn pipe_poll_mask(cx: &Cx<'_>, filp: Id<File>) -> u32 {
    let f = cx.k.files.get(filp);
    let pipe = cx.k.pipes.get(f.pipe());

    // Epoll has some historical nasty semantics; this enables them.
    pipe.poll_usage.store(true, Ordering::Relaxed);

    let (head, tail) = read_head_tail(&pipe);

    let mut mask = 0;
    if f.f_mode & FMODE_READ != 0 {
        if !pipe_empty(&pipe, head, tail) {
            mask |= POLLIN | POLLRDNORM;
        }
        if pipe.writers.load(Ordering::Relaxed) == 0 && f.f_pipe != pipe.w_counter.get() {
            mask |= POLLHUP;
        }
    }
    if f.f_mode & FMODE_WRITE != 0 {
        if !pipe_full(&pipe, head, tail, pipe.max_usage.load(Ordering::Relaxed)) {
            mask |= POLLOUT | POLLWRNORM;
        }
        // Most Unices do not set EPOLLERR for FIFOs but on Linux they
        // behave exactly like pipes for poll().
        if pipe.readers.load(Ordering::Relaxed) == 0 {
            mask |= POLLERR;
        }
    }
    mask
}

/// Models `pipe_poll()`. Without a poll table (`wait` is `None`: poll(2)
/// with a zero timeout) it reads the state and returns the ready mask.
/// With one (`Some(events)`: no timeout), it also stands for `do_poll()`'s
/// sleep around it: `poll_wait()` queues the task on the pipe's wait queue,
/// then the state is read; the task sleeps
/// until a wake-up and polls again, until one of `events` is ready. The
/// order is the kernel's warning in `pipe_poll()`: the entry goes on the
/// queue first, so a change made after the state was read still wakes the
/// poller. A mutation site ([`Operator::SwapSteps`]: the state read before
/// the entry is queued). `ERESTARTSYS` when a signal ends the sleep.
///
/// APPROX: the read end's entry goes on `rd_wait` only and the write end's
/// on `wr_wait` only, where the kernel queues every polled file on both; a
/// wake-up on the other queue changes none of the events that end waits
/// for, so only a poller's spurious wake-ups are missing.
///
/// Mirrors fs/pipe.c pipe_poll() of 6.12, lines 656-705, fp 40785f9e41861043.
pub fn pipe_poll(cx: &Cx<'_>, filp: Id<File>, wait: Option<u32>) -> KResult<u32> {
    let _f = kfn("pipe_poll");
    let Some(events) = wait else {
        return Ok(pipe_poll_mask(cx, filp));
    };
    let f = cx.k.files.get(filp);
    let pipe = cx.k.pipes.get(f.pipe());
    let wq = if f.f_mode & FMODE_READ != 0 { &pipe.rd_wait } else { &pipe.wr_wait };
    let early = mutation::hit(Operator::SwapSteps, "poll_wait, read pipe->head and pipe->tail");
    // The events of the pass that found one ready (do_poll()'s count).
    let mask = std::cell::Cell::new(0);
    let ready = || {
        mask.set(pipe_poll_mask(cx, filp) & events);
        mask.get() != 0
    };
    match wq.poll_wait_event(early, events, ready) {
        WaitResult::Woken => Ok(mask.get()),
        WaitResult::Interrupted => Err(Errno::ERESTARTSYS),
    }
}

/// Trace the start of a poll of `filp` (`poll()`, `epoll_wait()`) for the
/// oracle (S9): the pipe and the end, read outside the explorers' view
/// (instrumentation, not a kernel access).
pub fn trace_poll_begin(cx: &Cx<'_>, filp: Id<File>) {
    let f = cx.k.files.get(filp);
    let f = Obj::raw(&f);
    cx.k.trace.push(Event::PollBegin {
        tid: trace::tid(),
        file: filp.index(),
        pipe: f.pipe().index(),
        write: f.f_mode & FMODE_WRITE != 0,
    });
}

/// Trace the end of that poll: it returned `mask` of `events`.
pub fn trace_poll_end(cx: &Cx<'_>, mask: u32, events: u32) {
    cx.k.trace.push(Event::PollEnd { tid: trace::tid(), mask, events });
}

/// Models `put_pipe_info()`: the last file frees the pipe (the count is
/// under the inode's `i_lock`).
///
/// Mirrors fs/pipe.c put_pipe_info() of 6.12, lines 707-720, fp 08a315a412227f85.
fn put_pipe_info(cx: &Cx<'_>, pid: Id<PipeInodeInfo>) {
    crate::trace::reached("put_pipe_info");
    let pipe = cx.k.pipes.get(pid);
    let kill = {
        let _g = pipe.i_lock.lock();
        let files = pipe.files.get() - 1;
        pipe.files.set(files);
        files == 0
    };
    if kill {
        free_pipe_info(cx, pid);
    }
}

/// Models `pipe_release()`: drop this end, wake the other side if it was
/// the last reader or writer, and put the pipe.
///
/// Mirrors fs/pipe.c pipe_release() of 6.12, lines 722-744, fp ff6b92cc7368452f.
pub fn pipe_release(cx: &Cx<'_>, filp: Id<File>) {
    let _f = kfn("pipe_release");
    let f = cx.k.files.get(filp);
    let pid = f.pipe();
    let pipe = cx.k.pipes.get(pid);
    {
        let _g = pipe.mutex.lock();
        if f.f_mode & FMODE_READ != 0 {
            let n = pipe.readers.fetch_sub(1, Ordering::Relaxed) - 1;
            note_ring(cx, pid, &pipe, |r| r.readers = n);
        }
        if f.f_mode & FMODE_WRITE != 0 {
            let n = pipe.writers.fetch_sub(1, Ordering::Relaxed) - 1;
            note_ring(cx, pid, &pipe, |r| r.writers = n);
        }
        // Was that the last reader or writer, but not the other side?
        if (pipe.readers.load(Ordering::Relaxed) == 0) != (pipe.writers.load(Ordering::Relaxed) == 0) {
            pipe.rd_wait.wake_up_all();
            pipe.wr_wait.wake_up_all();
        }
    }
    put_pipe_info(cx, pid);
}

/// Models `account_pipe_buffers()`: add `new - old` pages to the user's
/// charge; returns the new total.
///
/// Mirrors fs/pipe.c account_pipe_buffers() of 6.12, lines 767-771, fp 524ae3189b07cf73.
pub fn account_pipe_buffers(user: &UserStruct, old: u64, new: u64) -> u64 {
    crate::trace::reached("account_pipe_buffers");
    let delta = new as i64 - old as i64;
    (user.pipe_bufs.fetch_add(delta, Ordering::AcqRel) + delta) as u64
}

/// Models `too_many_pipe_buffers_soft()`.
///
/// Mirrors fs/pipe.c too_many_pipe_buffers_soft() of 6.12, lines 773-778, fp e646e79c686b26f2.
pub fn too_many_pipe_buffers_soft(cx: &Cx<'_>, user_bufs: u64) -> bool {
    crate::trace::reached("too_many_pipe_buffers_soft");
    let soft = cx.k.config.pipe_user_pages_soft;
    soft != 0 && user_bufs > soft
}

/// Models `too_many_pipe_buffers_hard()`.
///
/// Mirrors fs/pipe.c too_many_pipe_buffers_hard() of 6.12, lines 780-785, fp 86d7759e8a1b9477.
pub fn too_many_pipe_buffers_hard(cx: &Cx<'_>, user_bufs: u64) -> bool {
    crate::trace::reached("too_many_pipe_buffers_hard");
    let hard = cx.k.config.pipe_user_pages_hard;
    hard != 0 && user_bufs > hard
}

/// Models `pipe_is_unprivileged_user()`: neither `CAP_SYS_RESOURCE` nor
/// `CAP_SYS_ADMIN`.
///
/// Mirrors fs/pipe.c pipe_is_unprivileged_user() of 6.12, lines 787-790, fp 17dae08ba625bef2.
pub fn pipe_is_unprivileged_user(cx: &Cx<'_>) -> bool {
    crate::trace::reached("pipe_is_unprivileged_user");
    !cx.current_cred().privileged
}

fn new_bufs(cx: &Cx<'_>, nr_slots: u32) -> Arc<Bufs> {
    cx.k.heap.alloc("pipe_buffer[]", KArray::new("pipe->bufs", (0..nr_slots).map(|_| PipeBuffer::default()).collect()))
}

/// Models `alloc_pipe_info()`: 16 slots (fewer if `pipe-max-size` is
/// smaller), 2 when an unprivileged user is over the soft page quota,
/// none past the hard quota.
///
/// Mirrors fs/pipe.c alloc_pipe_info() of 6.12, lines 792-839, fp 4ad63cb20dc054e7.
pub fn alloc_pipe_info(cx: &Cx<'_>) -> Option<Id<PipeInodeInfo>> {
    let _f = kfn("alloc_pipe_info");
    if cx.k.heap.fail_nth.should_fail("alloc_pipe_info: kzalloc") {
        return None;
    }
    let cred = cx.current_cred();
    let user = cred.user.clone();
    let page_size = cx.k.config.page_size;
    let mut pipe_bufs = PIPE_DEF_BUFFERS;
    let max_size = cx.k.config.pipe_max_size;
    if pipe_bufs as u64 * page_size as u64 > max_size as u64 && !cred.privileged {
        pipe_bufs = max_size / page_size;
    }

    let mut user_bufs = account_pipe_buffers(&user, 0, pipe_bufs as u64);

    if too_many_pipe_buffers_soft(cx, user_bufs) && pipe_is_unprivileged_user(cx) {
        // BUG(P8): one slot, not two.
        let min = if cx.bug(Bug::P8) { 1 } else { PIPE_MIN_DEF_BUFFERS };
        user_bufs = account_pipe_buffers(&user, pipe_bufs as u64, min as u64);
        pipe_bufs = min;
    }

    if (too_many_pipe_buffers_hard(cx, user_bufs) && pipe_is_unprivileged_user(cx))
        || cx.k.heap.fail_nth.should_fail("alloc_pipe_info: kcalloc")
    {
        account_pipe_buffers(&user, pipe_bufs as u64, 0);
        return None;
    }

    let index_mask =
        if cx.k.config.pipe_index_bits >= 32 { u32::MAX } else { (1u32 << cx.k.config.pipe_index_bits) - 1 };
    let start = cx.k.config.pipe_initial_index & index_mask;
    let pipe = PipeInodeInfo {
        mutex: KMutex::new("pipe->mutex"),
        rd_wait: WaitQueueHead::new("pipe->rd_wait.lock"),
        wr_wait: WaitQueueHead::new("pipe->wr_wait.lock"),
        head: AtomicU32::new(start),
        tail: AtomicU32::new(start),
        max_usage: AtomicU32::new(pipe_bufs),
        ring_size: KCell::new(pipe_bufs),
        nr_accounted: KCell::new(pipe_bufs),
        readers: AtomicU32::new(0),
        writers: AtomicU32::new(0),
        files: KCell::new(0),
        i_lock: SpinLock::new("inode->i_lock"),
        r_counter: KCell::new(1),
        w_counter: KCell::new(1),
        poll_usage: AtomicBool::new(false),
        note_loss: KCell::new(false),
        tmp_page: KCell::new(None),
        bufs: KCell::new(new_bufs(cx, pipe_bufs)),
        user,
        watch_queue: KCell::new(None),
        index_mask,
        index_bug: cx.bug(Bug::P10),
        now: instr::Mutex::new(RingNow { head: start, tail: start, max_usage: pipe_bufs, readers: 0, writers: 0 }),
        torn_bug: cx.bug(Bug::P13),
    };
    let (id, p) = cx.k.heap.alloc_in(&cx.k.pipes, "pipe_inode_info", pipe);
    cx.k.trace.push(Event::Ring { pipe: id.index(), occupancy: 0, max_usage: pipe_bufs, readers: 0, writers: 0 });
    // Made after the driver signalled every sleeper: the signal is still
    // pending for its sleeps too.
    if cx.k.ending.load(crate::sync::instr::Ordering::SeqCst) {
        p.rd_wait.signal_all();
        p.wr_wait.signal_all();
    }
    Some(id)
}

/// Models `free_pipe_info()`: fence and detach the watch queue, uncharge
/// the pages, release every slot still holding a buffer, then drop the
/// pipe's reference on the queue (after the ring: the release callback
/// needs the queue's bitmap), and free.
///
/// Mirrors fs/pipe.c free_pipe_info() of 6.12, lines 841-865, fp c89869dd5e1b9745.
pub fn free_pipe_info(cx: &Cx<'_>, pid: Id<PipeInodeInfo>) {
    let _f = kfn("free_pipe_info");
    let pipe = cx.k.pipes.get(pid);
    let wq = pipe.watch_queue.get();

    if let Some(wq) = wq {
        watch_queue::watch_queue_clear(cx, wq);
    }

    account_pipe_buffers(&pipe.user, pipe.nr_accounted.get() as u64, 0);

    // BUG(W7): the queue reference was dropped before the ring release.
    if cx.bug(Bug::W7) {
        if let Some(wq) = wq {
            watch_queue::put_watch_queue(cx, wq);
        }
    }
    let bufs = pipe.bufs.get();
    for i in 0..pipe.ring_size.get() as usize {
        let buf = bufs.at(i);
        if buf.ops.get().is_some() {
            pipe_buf_release(cx, pid, buf);
        }
    }
    if !cx.bug(Bug::W7) {
        if let Some(wq) = wq {
            watch_queue::put_watch_queue(cx, wq);
        }
    }
    if let Some(p) = pipe.tmp_page.get() {
        mm::__free_page(cx, Some(p));
    }
    cx.k.heap.kfree(Obj::hdr(&bufs));
    cx.k.heap.kfree(Obj::hdr(&pipe));
}

/// Models `create_pipe_files()` and `__do_pipe_flags()` / `do_pipe2()`
/// (`pipe2(2)`): returns `[read fd, write fd]`. The notification flag is
/// the variant's ([`crate::kernel::Variant::o_notification_pipe`]).
///
/// APPROX: `O_CLOEXEC` is accepted and not recorded (nothing in the model
/// execs); fasync (`O_ASYNC`, `SIGIO`) is not modelled.
///
/// Mirrors fs/pipe.c do_pipe2() of 6.12, lines 1020-1040, fp 1c856576270266c7.
/// Mirrors fs/pipe.c create_pipe_files() of 6.12, lines 922-965, fp 9ac34ae4c424e6f5.
/// Mirrors fs/pipe.c __do_pipe_flags() of 6.12, lines 967-1003, fp e828751380496c85.
pub fn do_pipe2(cx: &Cx<'_>, flags: u32) -> KResult<[i32; 2]> {
    let _f = kfn("do_pipe2");
    // O_NOTIFICATION_PIPE, or ver #1's hacked-in O_TMPFILE.
    let notification = cx.k.config.variant.o_notification_pipe();
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT | notification) != 0 {
        return Err(Errno::EINVAL);
    }

    // create_pipe_files(): get_pipe_inode() -> alloc_pipe_info().
    let pid = alloc_pipe_info(cx).ok_or(Errno::ENFILE)?;
    let pipe = cx.k.pipes.get(pid);
    pipe.files.set(2);
    pipe.readers.store(1, Ordering::Relaxed);
    pipe.writers.store(1, Ordering::Relaxed);
    note_ring(cx, pid, &pipe, |r| {
        r.readers = 1;
        r.writers = 1;
    });

    if flags & notification == notification {
        if let Err(e) = watch_queue::watch_queue_init(cx, pid) {
            free_pipe_info(cx, pid);
            return Err(e);
        }
    }

    let wfile = file::alloc_file(cx, pid, FMODE_WRITE, O_WRONLY | (flags & (O_NONBLOCK | O_DIRECT)));
    let rfile = file::alloc_file(cx, pid, FMODE_READ, flags & O_NONBLOCK);

    // Reserve both descriptors, then install both (get_unused_fd_flags
    // twice, then fd_install twice).
    let fds = match file::fd_install_pair(cx, rfile, wfile) {
        Ok(fds) => fds,
        Err(e) => {
            file::fput(cx, rfile);
            file::fput(cx, wfile);
            return Err(e);
        }
    };
    let [fdr, fdw] = fds;
    Ok([fdr, fdw])
}

/// Models `pipe_resize_ring()`: allocate the new array outside the locks,
/// then under `rd_wait.lock` check occupancy (`EBUSY`), copy the live slots
/// to index 0 (`head = n, tail = 0`), swap and free the old array.
///
/// Mirrors fs/pipe.c pipe_resize_ring() of 6.12, lines 1268-1331, fp 47990c496076d277.
pub fn pipe_resize_ring(cx: &Cx<'_>, pid: Id<PipeInodeInfo>, nr_slots: u32) -> KResult<()> {
    let _f = kfn("pipe_resize_ring");
    let pipe = cx.k.pipes.get(pid);
    if cx.k.heap.fail_nth.should_fail("pipe_resize_ring: kcalloc") {
        return Err(Errno::ENOMEM);
    }
    let bufs = new_bufs(cx, nr_slots);

    // BUG(W12): no lock: posters, which hold only rd_wait.lock, race the swap.
    let guard = (!cx.bug(Bug::W12)).then(|| pipe.rd_wait.lock.lock());
    let mask = mutation::ring_mask(pipe.ring_size.get());
    let head = pipe.head.load(Ordering::Relaxed);
    let tail = pipe.tail.load(Ordering::Relaxed);

    let n = pipe_occupancy(&pipe, head, tail);
    if nr_slots < n {
        drop(guard);
        cx.k.heap.kfree(Obj::hdr(&bufs));
        return Err(Errno::EBUSY);
    }

    if n > 0 {
        crate::probe::reach(crate::probe::State::ResizeWithRecords);
    }
    // The ring wraps, so start the new one at zero and adjust the indices.
    let old = pipe.bufs.get();
    for i in 0..n {
        let from = old.at((tail.wrapping_add(i) & mask) as usize);
        let to = bufs.at(i as usize);
        to.page.set(from.page.get());
        to.offset.set(from.offset.get());
        to.len.set(from.len.get());
        to.ops.set(from.ops.get());
        to.flags.set(from.flags.get());
        to.private.set(from.private.get());
    }

    cx.k.heap.kfree(Obj::hdr(&old));
    pipe.bufs.set(bufs);
    pipe.ring_size.set(nr_slots);
    if pipe.max_usage.load(Ordering::Relaxed) > nr_slots {
        store_max_usage(cx, pid, &pipe, nr_slots);
    }
    store_index(cx, pid, &pipe, Index::Tail, 0, Ordering::Relaxed);
    store_index(cx, pid, &pipe, Index::Head, n, Ordering::Relaxed);

    if !pipe_has_watch_queue(&pipe) {
        store_max_usage(cx, pid, &pipe, nr_slots);
        pipe.nr_accounted.set(nr_slots);
    }
    drop(guard);

    // This might have made more room for writers.
    pipe.wr_wait.wake_up();
    Ok(())
}

/// Models `round_pipe_size()`.
///
/// Mirrors fs/pipe.c round_pipe_size() of 6.12, lines 1249-1259, fp 01bf9f5cec94830f.
pub fn round_pipe_size(cx: &Cx<'_>, size: u32) -> u32 {
    crate::trace::reached("round_pipe_size");
    if size > (1u32 << 31) {
        return 0;
    }
    if size < cx.k.config.page_size {
        return cx.k.config.page_size;
    }
    size.next_power_of_two()
}

/// Models `pipe_set_size()` (`F_SETPIPE_SZ`): `EBUSY` on notification pipes.
///
/// Mirrors fs/pipe.c pipe_set_size() of 6.12, lines 1337-1382, fp 4611999f4e4907b9.
fn pipe_set_size(cx: &Cx<'_>, pid: Id<PipeInodeInfo>, arg: u32) -> KResult<i64> {
    let _f = kfn("pipe_set_size");
    let pipe = cx.k.pipes.get(pid);
    if pipe_has_watch_queue(&pipe) {
        return Err(Errno::EBUSY);
    }
    let size = round_pipe_size(cx, arg);
    let page_size = cx.k.config.page_size;
    let nr_slots = size / page_size;
    if nr_slots == 0 {
        return Err(Errno::EINVAL);
    }
    let privileged = cx.current_cred().privileged;
    if nr_slots > pipe.max_usage.load(Ordering::Relaxed) && size > cx.k.config.pipe_max_size && !privileged {
        return Err(Errno::EPERM);
    }
    let user_bufs = account_pipe_buffers(&pipe.user, pipe.nr_accounted.get() as u64, nr_slots as u64);
    if nr_slots > pipe.max_usage.load(Ordering::Relaxed)
        && (too_many_pipe_buffers_hard(cx, user_bufs) || too_many_pipe_buffers_soft(cx, user_bufs))
        && pipe_is_unprivileged_user(cx)
    {
        account_pipe_buffers(&pipe.user, nr_slots as u64, pipe.nr_accounted.get() as u64);
        return Err(Errno::EPERM);
    }
    if let Err(e) = pipe_resize_ring(cx, pid, nr_slots) {
        account_pipe_buffers(&pipe.user, nr_slots as u64, pipe.nr_accounted.get() as u64);
        return Err(e);
    }
    Ok(pipe.max_usage.load(Ordering::Relaxed) as i64 * page_size as i64)
}

/// Models `get_pipe_info(file, for_splice)`: NULL for a file that is not
/// a pipe; splice treats notification pipes as non-pipes too.
pub fn get_pipe_info(cx: &Cx<'_>, filp: Id<File>, for_splice: bool) -> Option<Id<PipeInodeInfo>> {
    let pid = cx.k.files.get(filp).pipe_info()?;
    if for_splice && pipe_has_watch_queue(&cx.k.pipes.get(pid)) {
        return None;
    }
    Some(pid)
}

/// Models `pipe_fcntl()`: `F_SETPIPE_SZ` and `F_GETPIPE_SZ`.
///
/// Mirrors fs/pipe.c pipe_fcntl() of 6.12, lines 1399-1424, fp e2677291649b5143.
pub fn pipe_fcntl(cx: &Cx<'_>, filp: Id<File>, cmd: u32, arg: u32) -> KResult<i64> {
    let _f = kfn("pipe_fcntl");
    let pid = get_pipe_info(cx, filp, false).ok_or(Errno::EBADF)?;
    let pipe = cx.k.pipes.get(pid);
    let _g = pipe.mutex.lock();
    match cmd {
        F_SETPIPE_SZ => pipe_set_size(cx, pid, arg),
        F_GETPIPE_SZ => Ok(pipe.max_usage.load(Ordering::Relaxed) as i64 * cx.k.config.page_size as i64),
        _ => Err(Errno::EINVAL),
    }
}
