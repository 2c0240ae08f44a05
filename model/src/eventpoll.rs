//! Models `fs/eventpoll.c` for the way a program waits on one pipe end
//! with epoll: `epoll_create1()`, `EPOLL_CTL_ADD` of the descriptor,
//! `epoll_wait()` for one event, and the close of the epoll descriptor.
//!
//! `EPOLL_CTL_ADD` polls the pipe with epoll's poll table, so
//! `pipe_poll()`'s `poll_wait()` puts a function entry on the pipe's wait
//! queue (`ep_ptable_queue_proc()`); every wake-up of that queue then runs
//! `ep_poll_callback()`, which puts the item on the ready list and wakes
//! `epoll_wait()` sleeping on `ep->wq`. `epoll_wait()` polls the pipe again
//! for each ready item (`ep_send_events()`), so a wake-up with nothing
//! ready reports nothing and the caller sleeps again. A pipe end closed
//! while it is watched leaves the epoll instance in `__fput()`
//! (`eventpoll_release_file()`), racing the instance's own teardown
//! (`ep_clear_and_put()`); `epi->dying` and `ep->mtx` decide which side
//! removes the item, and the instance lives until both are done with it.
//!
//! APPROX: one item per instance, and the epitem lives inside the
//! instance (the kernel frees it with `kfree_rcu()`); `ep_poll_callback()`
//! does not filter by the wake-up's poll key (every wake-up marks the item
//! ready, and `ep_send_events()`'s poll drops it if nothing is), so only
//! spurious wake-ups of `epoll_wait()` are added; the epoll descriptor is
//! not in the descriptor table (it is closed before the operation returns).

use crate::errno::{Errno, KResult};
use crate::file::{self, FMODE_READ, File};
use crate::heap::{Id, Obj};
use crate::kernel::Cx;
use crate::pipe::{self, PipeInodeInfo};
use crate::sync::{KCell, KMutex, Kref, SpinLock, WaitQueueHead, WaitResult, WakeFunc, instr};
use crate::trace::{Event, kfn};
use crate::uapi::{POLLERR, POLLHUP};

/// Models `struct eventpoll` with its one `struct epitem`.
///
/// Mirrors fs/eventpoll.c struct eventpoll of 6.12, lines 307-377, fp ba53c1d8b26add4f.
#[derive(Debug)]
pub struct EventPoll {
    /// `mtx`: serialises inserting, scanning and removing items.
    pub mtx: KMutex,
    /// `lock`: guards the ready list (`rdllist`, `ovflist`).
    pub lock: SpinLock,
    /// `wq`: tasks asleep in `epoll_wait()`.
    pub wq: WaitQueueHead,
    /// The ready lists, under `lock`.
    pub rdl: KCell<ReadyList>,
    /// The item (`ep->rbr`), under `mtx`; `None` once removed.
    pub item: KCell<Option<EpItem>>,
    /// `epi->dying`, under the watched file's `f_lock`: the file's
    /// `__fput()` is removing the item.
    pub dying: KCell<bool>,
    /// `refcount`: the instance's own reference and one per item.
    pub refcount: Kref,
}

/// Where the one item is on the ready lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadyList {
    /// On `rdllist` (or on the scan's transfer list while `scanning`).
    pub linked: bool,
    /// `ovflist` is active: `ep_send_events()` is scanning.
    pub scanning: bool,
    /// Chained on `ovflist` by a wake-up during the scan.
    pub ovf: bool,
}

/// Models `struct epitem` and its `eppoll_entry` on the pipe's wait queue.
///
/// Mirrors fs/eventpoll.c struct epitem of 6.12, lines 257-300, fp 8dd0e840a5aca785.
#[derive(Clone, Debug)]
pub struct EpItem {
    pub file: Id<File>,
    /// `event.events` (with `EPOLLERR | EPOLLHUP`).
    pub events: u32,
    /// The function entry on the pipe's wait queue (`pwq->whead`): the
    /// pipe, whether it is `rd_wait` (else `wr_wait`), the entry's id.
    pub entry: Option<(Id<PipeInodeInfo>, bool, u32)>,
}

/// The one wait queue `pipe_poll()` queues a poller on for this file
/// (see the APPROX of [`pipe::pipe_poll`]): `rd_wait` for a read end.
fn whead(pipe: &PipeInodeInfo, rd: bool) -> &WaitQueueHead {
    if rd { &pipe.rd_wait } else { &pipe.wr_wait }
}

/// Models `ep_poll_callback()`: the function entry's wake-up, under the
/// pipe's wait-queue lock. The item goes on the ready list (or, during a
/// scan, on `ovflist`), and `epoll_wait()` sleepers are woken.
///
/// Mirrors fs/eventpoll.c ep_poll_callback() of 6.12, lines 1429-1534, fp d422d7d9e5343e83.
fn ep_poll_callback(ep: &Obj<EventPoll>) {
    let _f = kfn("ep_poll_callback");
    {
        let _g = ep.lock.lock();
        ep.rdl.with_mut(|r| {
            if r.scanning {
                r.ovf = true;
            } else {
                r.linked = true;
            }
        });
    }
    ep.wq.wake_up();
}

/// Models `ep_events_available()`: something on `rdllist`, or a scan
/// running (`ovflist` active).
///
/// Mirrors fs/eventpoll.c ep_events_available() of 6.12, lines 576-582, fp 3089315682d8dced.
fn ep_events_available(ep: &EventPoll) -> bool {
    crate::trace::reached("ep_events_available");
    let _g = ep.lock.lock();
    let r = ep.rdl.get();
    r.linked || r.scanning
}

/// Models `ep_alloc()`: a new instance with its own reference.
///
/// Mirrors fs/eventpoll.c ep_alloc() of 6.12, lines 1327-1349, fp ee496cf482112f94.
fn ep_alloc(cx: &Cx<'_>) -> Id<EventPoll> {
    crate::trace::reached("ep_alloc");
    let ep = EventPoll {
        mtx: KMutex::new("ep->mtx"),
        lock: SpinLock::new("ep->lock"),
        wq: WaitQueueHead::new("ep->wq.lock"),
        rdl: KCell::new(ReadyList::default()),
        item: KCell::new(None),
        dying: KCell::new(false),
        refcount: Kref::new(),
    };
    let (id, ep) = cx.k.heap.alloc_in(&cx.k.eps, "eventpoll", ep);
    // Made after the driver signalled every sleeper: the signal is still
    // pending for its sleeps too.
    if cx.k.ending.load(instr::Ordering::SeqCst) {
        ep.wq.signal_all();
    }
    id
}

/// Models `ep_refcount_dec_and_test()` then `ep_free()`.
///
/// Mirrors fs/eventpoll.c ep_refcount_dec_and_test() of 6.12, lines 972-979, fp 608ecaf3bd30b066.
/// Mirrors fs/eventpoll.c ep_free() of 6.12, lines 981-988, fp b7babe951359d94d.
fn ep_put(cx: &Cx<'_>, epid: Id<EventPoll>) {
    crate::trace::reached("ep_refcount_dec_and_test");
    let ep = cx.k.eps.get(epid);
    match ep.refcount.put() {
        Ok(true) => cx.k.heap.kfree(Obj::hdr(&ep)),
        Ok(false) => {}
        Err(_) => crate::invariant::fail(
            crate::invariant::Inv::R1,
            format!("refcount underflow: eventpoll#{} put with refcount 0", epid.index()),
        ),
    }
}

/// Models `ep_insert()` under `ep->mtx`: attach the item to the file
/// (`file->f_ep`, under `f_lock`), take the item's reference on the
/// instance, poll the file with epoll's poll table (the function entry
/// goes on the pipe's wait queue), and put the item on the ready list if
/// an event is ready now.
///
/// Mirrors fs/eventpoll.c ep_insert() of 6.12, lines 1827-1904, fp b6031626df76540d.
fn ep_insert(cx: &Cx<'_>, epid: Id<EventPoll>, filp: Id<File>, events: u32) {
    let _f = kfn("ep_insert");
    let ep = cx.k.eps.get(epid);
    let f = cx.k.files.get(filp);
    {
        let _g = f.f_lock.lock();
        f.f_ep.set(Some(epid));
        f.f_ep_ever.store(true, instr::Ordering::Relaxed);
    }
    ep.item.set(Some(EpItem { file: filp, events, entry: None }));
    ep.refcount.get();

    // ep_item_poll() with ep_ptable_queue_proc(): poll_wait() queues the
    // entry, then pipe_poll() reads the state. A pty's entries would go
    // on its read and write queues, which nothing the model does wakes.
    if let Some(pid) = f.pipe_info() {
        let pipe = cx.k.pipes.get(pid);
        let rd = f.f_mode & FMODE_READ != 0;
        let hook = ep.clone();
        let id = whead(&pipe, rd).add_wait_queue(WakeFunc(instr::Arc::new(move || ep_poll_callback(&hook))));
        ep.item.with_mut(|i| {
            if let Some(i) = i {
                i.entry = Some((pid, rd, id));
            }
        });
    }
    let revents = item_poll(cx, filp) & events;

    let ready = {
        let _g = ep.lock.lock();
        ep.rdl.with_mut(|r| {
            if revents != 0 && !r.linked {
                r.linked = true;
                true
            } else {
                false
            }
        })
    };
    if ready {
        ep.wq.wake_up();
    }
}

/// Models `ep_unregister_pollwait()`: take the function entry off the
/// pipe's wait queue.
///
/// Mirrors fs/eventpoll.c ep_unregister_pollwait() of 6.12, lines 844-854, fp 8c60efa88e7f0655.
fn ep_unregister_pollwait(cx: &Cx<'_>, ep: &EventPoll) {
    crate::trace::reached("ep_unregister_pollwait");
    let entry = ep.item.with_mut(|i| i.as_mut().and_then(|i| i.entry.take()));
    if let Some((pid, rd, id)) = entry {
        whead(&cx.k.pipes.get(pid), rd).remove_wait_queue(id);
    }
}

/// Models `__ep_remove()` under `ep->mtx`: unless the file's side is
/// removing the item (`dying`) and this is not it (`force`), detach the
/// item from the file and the ready list. True when the item was removed
/// (the caller drops the item's reference on the instance).
///
/// Mirrors fs/eventpoll.c ep_remove() of 6.12, lines 1074-1100, fp 8c5dc286ab884843.
/// Mirrors fs/eventpoll.c ep_remove_file() of 6.12, lines 1022-1044, fp af63cda52d02cbb2.
/// Mirrors fs/eventpoll.c ep_remove_epi() of 6.12, lines 1046-1069, fp f497805c982b5a48.
/// DEVIATION: one function with a `force` flag where 6.12 has `ep_remove()` (gives up when the item is `dying` or the file's last reference is gone) and `eventpoll_release_file()` calling `ep_remove_file()` and `ep_remove_epi()` itself; the item leaves the file and the ready list under the same locks either way.
fn __ep_remove(cx: &Cx<'_>, epid: Id<EventPoll>, force: bool) -> bool {
    let _f = kfn("__ep_remove");
    let ep = cx.k.eps.get(epid);
    let Some(item) = ep.item.get() else { return false };
    ep_unregister_pollwait(cx, &ep);
    let f = cx.k.files.get(item.file);
    {
        let _g = f.f_lock.lock();
        if ep.dying.get() && !force {
            return false;
        }
        f.f_ep.set(None);
    }
    ep.item.set(None);
    let _g = ep.lock.lock();
    ep.rdl.with_mut(|r| {
        r.linked = false;
        r.ovf = false;
    });
    true
}

/// Models `eventpoll_release_file()`, from `__fput()` when the file is
/// watched: mark the item dying under `f_lock`, then remove it under the
/// instance's `mtx` (the item's reference keeps the instance alive).
///
/// Mirrors include/linux/eventpoll.h eventpoll_release() of 6.12, lines 34-67, fp 2c473ca497326d58.
/// Mirrors fs/eventpoll.c eventpoll_release_file() of 6.12, lines 1287-1325, fp 2bb6ca03adbe32f6.
pub fn eventpoll_release(cx: &Cx<'_>, filp: Id<File>) {
    let f = cx.k.files.get(filp);
    if !f.f_ep_ever.load(instr::Ordering::Relaxed) {
        return;
    }
    cx.k.trace.push(Event::PollFileGone { file: filp.index() });
    let epid = {
        let _g = f.f_lock.lock();
        let Some(epid) = f.f_ep.get() else { return };
        cx.k.eps.get(epid).dying.set(true);
        epid
    };
    let _f = kfn("eventpoll_release");
    let ep = cx.k.eps.get(epid);
    let dispose = {
        let _m = ep.mtx.lock();
        __ep_remove(cx, epid, true)
    };
    if dispose {
        ep_put(cx, epid);
    }
}

/// `ep_item_poll()` without a poll table: the file's ready events.
fn item_poll(cx: &Cx<'_>, filp: Id<File>) -> u32 {
    if cx.k.files.get(filp).pipe_info().is_some() {
        pipe::pipe_poll_mask(cx, filp)
    } else {
        crate::fops::vfs_poll(cx, filp)
    }
}

/// Models `ep_send_events()` for one event: scan the ready list under
/// `mtx` (wake-ups meanwhile go on `ovflist`), poll the file again, and
/// put a still-ready item back (level-triggered). Returns the events.
///
/// Mirrors fs/eventpoll.c ep_send_events() of 6.12, lines 2058-2102, fp 5686eedb214235f7.
fn ep_send_events(cx: &Cx<'_>, epid: Id<EventPoll>) -> u32 {
    let _f = kfn("ep_send_events");
    let ep = cx.k.eps.get(epid);
    let _m = ep.mtx.lock();
    // ep_start_scan()
    let taken = {
        let _g = ep.lock.lock();
        ep.rdl.with_mut(|r| {
            let t = r.linked;
            r.linked = false;
            r.scanning = true;
            r.ovf = false;
            t
        })
    };
    let mut revents = 0;
    if taken && let Some(item) = ep.item.get() {
        revents = item_poll(cx, item.file) & item.events;
    }
    // ep_done_scan()
    let wake = {
        let _g = ep.lock.lock();
        ep.rdl.with_mut(|r| {
            r.scanning = false;
            if r.ovf || revents != 0 {
                r.linked = true;
            }
            r.ovf = false;
            r.linked
        })
    };
    if wake {
        ep.wq.wake_up();
    }
    revents
}

/// Models `ep_poll()` with one event and a timeout of 0 or forever: send
/// the ready events; with none and a timeout, sleep on `ep->wq` until the
/// ready list has something, and send again. `ERESTARTSYS` when a signal
/// ends the sleep.
///
/// Mirrors fs/eventpoll.c ep_poll() of 6.12, lines 2161-2283, fp 5d493625ba5ca308.
fn ep_poll(cx: &Cx<'_>, epid: Id<EventPoll>, wait: bool) -> KResult<u32> {
    let _f = kfn("ep_poll");
    let ep = cx.k.eps.get(epid);
    let mut eavail = ep_events_available(&ep);
    loop {
        if eavail {
            let revents = ep_send_events(cx, epid);
            if revents != 0 {
                return Ok(revents);
            }
        }
        if !wait {
            return Ok(0);
        }
        if ep.wq.wait_event_interruptible_exclusive(|| ep_events_available(&ep)) == WaitResult::Interrupted {
            return Err(Errno::ERESTARTSYS);
        }
        eavail = true;
    }
}

/// Models `ep_clear_and_put()`, the close of the epoll descriptor: under
/// `mtx`, take the item's entry off the pipe's wait queue and remove the
/// item unless its file's `__fput()` is doing so; then drop the
/// instance's own reference.
///
/// Mirrors fs/eventpoll.c ep_clear_and_put() of 6.12, lines 1102-1141, fp a4de23ac115557b7.
fn ep_clear_and_put(cx: &Cx<'_>, epid: Id<EventPoll>) {
    let _f = kfn("ep_clear_and_put");
    let ep = cx.k.eps.get(epid);
    let dispose = {
        let _m = ep.mtx.lock();
        ep_unregister_pollwait(cx, &ep);
        __ep_remove(cx, epid, false)
    };
    if dispose {
        ep_put(cx, epid);
    }
    ep_put(cx, epid);
}

/// `epoll_create1(0)`, `epoll_ctl(EPOLL_CTL_ADD, fd, events)`,
/// `epoll_wait(1 event, timeout 0 or -1)` and `close()` of the epoll
/// descriptor, as `do_epoll_ctl()` and `do_epoll_wait()` run them: the
/// events ready (`EPOLLERR | EPOLLHUP` always included), 0 when none is
/// with a zero timeout, `EBADF` when `fd` is not open, `EPERM` when its
/// file has no `poll` (`/dev/null`, a regular file).
pub fn epoll_one(cx: &Cx<'_>, fd: i32, events: u32, wait: bool) -> KResult<u32> {
    let events = events | POLLERR | POLLHUP;
    let epid = ep_alloc(cx);
    // do_epoll_ctl(): the target file is held for the call only.
    let filp = match file::fget(cx, fd) {
        Ok(f) => f,
        Err(e) => {
            ep_clear_and_put(cx, epid);
            return Err(e);
        }
    };
    // do_epoll_ctl(): a file without f_op->poll cannot be watched.
    if !crate::fops::file_can_poll(cx, filp) {
        file::fput(cx, filp);
        ep_clear_and_put(cx, epid);
        return Err(Errno::EPERM);
    }
    {
        let ep = cx.k.eps.get(epid);
        let _m = ep.mtx.lock();
        ep_insert(cx, epid, filp, events);
    }
    let traced = cx.k.files.get(filp).pipe_info().is_some();
    if traced {
        pipe::trace_poll_begin(cx, filp);
    }
    file::fput(cx, filp);
    let r = ep_poll(cx, epid, wait);
    if let (Ok(mask), true) = (&r, traced) {
        pipe::trace_poll_end(cx, *mask, events);
    }
    ep_clear_and_put(cx, epid);
    r
}

/// `V2` for epoll: a task asleep in `epoll_wait()` whose item is ready.
pub fn lost_wakeup(cx: &Cx<'_>) -> Option<String> {
    for (epid, ep) in cx.k.eps.all() {
        if !Obj::hdr(&ep).is_live() {
            continue;
        }
        let sleepers = ep.wq.sleepers();
        if sleepers == 0 {
            continue;
        }
        let Some(item) = ep.item.get() else { continue };
        let f = cx.k.files.get(item.file);
        if !Obj::hdr(&f).is_live() {
            continue;
        }
        let Some(pid) = f.pipe_info() else { continue };
        let p = cx.k.pipes.get(pid);
        let ready = if f.f_mode & FMODE_READ != 0 { pipe::pipe_readable(&p) } else { pipe::pipe_writable(&p) };
        if ready {
            return Some(format!(
                "lost wake-up: {sleepers} task(s) asleep in epoll_wait on eventpoll#{} with pipe#{} ready",
                epid.index(),
                pid.index()
            ));
        }
    }
    None
}
