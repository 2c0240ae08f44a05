//! Models kernel/watch_queue.c (and the inline helpers of
//! include/linux/watch_queue.h), Linux 6.12: posting into the pipe ring,
//! filters, queue sizing, watches and watch lists, and teardown.
//!
//! Functions appear in the C file's order. Lock order as in the kernel:
//! `key->sem` -> `wqueue->lock` -> { `wlist->lock` (adding a watch) |
//! `pipe->rd_wait.lock` (posting) }. The remove and clear paths never nest
//! `wqueue->lock` and `wlist->lock`.

use crate::bugs::Bug;
use crate::errno::{Errno, KResult};
use crate::heap::{Id, KArray, KBitmap, Obj, bits_to_longs, deref};
use crate::invariant::{Inv, fail};
use crate::kernel::{Cred, Cx};
use crate::lsm;
use crate::mm::{self, Page};
use crate::pipe::{self, PipeBufOps, PipeBuffer, PipeInodeInfo, pipe_full};
use crate::probe::{self, State};
use crate::rcu::{self, RcuCallback, RcuId, RcuList, rcu_read_lock};
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::mutation::{self, Operator};
use crate::sync::{Arc, KCell, Kref, SpinGuard, SpinLock, smp_load_acquire, smp_store_release};
use crate::trace::{Event, kfn};
use crate::uapi::*;

/// `WATCH_QUEUE_NOTE_SIZE`: bytes per note; every record uses one note.
pub const WATCH_QUEUE_NOTE_SIZE: u32 = 128;
/// The hard limit on `IOC_WATCH_QUEUE_SET_SIZE` ("TODO: choose a better hard limit").
pub const WATCH_QUEUE_MAX_NOTES: u32 = 512;
/// Entries a filter may have.
pub const WATCH_QUEUE_MAX_FILTERS: u32 = 16;
/// `sizeof(struct rcu_head) / sizeof(long)`: `type_filter` shares a union
/// with the RCU head, so its storage is two words although it is declared
/// as `DECLARE_BITMAP(type_filter, WATCH_TYPE__NR)` (one word).
pub const TYPE_FILTER_UNION_WORDS: usize = 2;

/// Models `struct watch_type_filter` (internal; only `subtype_filter[0]`
/// of the UAPI's eight words is kept).
///
/// Mirrors include/linux/watch_queue.h struct watch_type_filter of 6.12, lines 21-26, fp 6b8f9ff7eebf04a6.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchTypeFilter {
    pub type_: u32,
    pub subtype_filter: [u32; 1],
    pub info_filter: u32,
    pub info_mask: u32,
}

/// Models `struct watch_filter`.
///
/// Mirrors include/linux/watch_queue.h struct watch_filter of 6.12, lines 28-36, fp 55d2e2688ad9ded4.
#[derive(Debug)]
pub struct WatchFilter {
    /// `type_filter` (in the RCU-head union).
    pub type_filter: KBitmap,
    /// `nr_filters`.
    pub nr_filters: u32,
    /// `filters[]`, allocated for `nr_filters` entries.
    pub filters: KArray<KCell<WatchTypeFilter>>,
}

/// The note page array (`wqueue->notes`, a `kcalloc` of page pointers).
pub type NotesArray = Obj<KArray<KCell<Option<Id<Page>>>>>;

/// Models `struct watch_queue`.
///
/// Mirrors include/linux/watch_queue.h struct watch_queue of 6.12, lines 38-49, fp 2c5751c56b0bade0.
#[derive(Debug)]
pub struct WatchQueue {
    /// `filter` (`__rcu`).
    pub filter: RcuId<WatchFilter>,
    /// `pipe`: NULL once `watch_queue_clear` has run.
    pub pipe: KCell<Option<Id<PipeInodeInfo>>>,
    /// `defunct` (v5.8-v6.4; the W16 switch brings it back).
    pub defunct: KCell<bool>,
    /// `watches`: contributory watches (hlist under `lock`), newest first.
    pub watches: KCell<Vec<Id<Watch>>>,
    /// `notes`: the note page array, once sized.
    pub notes: KCell<Option<Arc<NotesArray>>>,
    /// `notes_bitmap`: 1 = free note.
    pub notes_bitmap: KCell<Option<Arc<Obj<KBitmap>>>>,
    /// `usage`.
    pub usage: Kref,
    /// `lock`.
    pub lock: SpinLock,
    /// `nr_notes`: published last, with release (the kernel since
    /// 6.12.115; F4 is the plain store before it).
    pub nr_notes: AtomicU32,
    /// `nr_pages`.
    pub nr_pages: KCell<u32>,
}

/// Models `struct watch`.
///
/// Mirrors include/linux/watch_queue.h struct watch of 6.12, lines 54-67, fp 034de20f4f6fedc3.
#[derive(Debug)]
pub struct Watch {
    /// `info_id`: the tag shifted into `WATCH_INFO_ID`.
    pub info_id: u32,
    /// Whether `call_rcu()` has written `rcu.next`, the `rcu_head` in a
    /// union with `info_id`, which then reads 0 (F8; with F8 off, the fix,
    /// the two have their own storage and this is never touched).
    pub rcu_over_info_id: KCell<bool>,
    /// `queue` (`__rcu`, set by `init_watch` and never changed).
    pub queue: Id<WatchQueue>,
    /// `!hlist_unhashed(&watch->queue_node)`.
    pub queue_node: KCell<bool>,
    /// `watch_list` (`__rcu`).
    pub watch_list: RcuId<WatchList>,
    /// `!hlist_unhashed(&watch->list_node)`.
    pub list_node: KCell<bool>,
    /// `cred`: the watcher's credentials (taken by `add_one_watch`).
    pub cred: KCell<Option<Arc<Cred>>>,
    /// `id`: the watched object (a key serial).
    pub id: u64,
    /// `usage`.
    pub usage: Kref,
}

/// The `release_watch` hook of a watch list (NULL for keys).
pub type ReleaseWatch = fn(&Cx<'_>, Id<Watch>);

/// Models `struct watch_list`.
///
/// Mirrors include/linux/watch_queue.h struct watch_list of 6.12, lines 72-77, fp 0e7f2ecbe710121b.
#[derive(Debug)]
pub struct WatchList {
    /// `watchers` (RCU-traversed by posters, changed under `lock`).
    pub watchers: RcuList<Watch>,
    /// `release_watch`.
    pub release_watch: Option<ReleaseWatch>,
    /// `lock`.
    pub lock: SpinLock,
}

/// Models `lock_wqueue()`: take `wqueue->lock`; fail if the queue was
/// cleared (`pipe == NULL`; with W16 on, the old `defunct` flag).
///
/// Mirrors kernel/watch_queue.c lock_wqueue() of 6.12, lines 42-50, fp a59390857330d0af.
fn lock_wqueue<'a>(cx: &Cx<'_>, wqueue: &'a WatchQueue) -> Option<SpinGuard<'a>> {
    crate::trace::reached("lock_wqueue");
    let g = wqueue.lock.lock();
    let gone = if cx.bug(Bug::W16) { wqueue.defunct.get() } else { wqueue.pipe.get().is_none() };
    if gone { None } else { Some(g) }
}

/// Models `watch_queue_pipe_buf_release()`: work out which note the buffer
/// held (the note may be full size, so back off one note when
/// `offset + len` lands on a note boundary), mark it free, drop the page.
///
/// Mirrors kernel/watch_queue.c watch_queue_pipe_buf_release() of 6.12, lines 57-78, fp cd30152b5d831364.
pub fn watch_queue_pipe_buf_release(cx: &Cx<'_>, _pipe: Id<PipeInodeInfo>, buf: &PipeBuffer) {
    let _f = kfn("watch_queue_pipe_buf_release");
    let wqueue = cx.k.wqueues.get(deref(buf.private.get(), "watch_queue_pipe_buf_release: buf->private"));
    // `unsigned int` arithmetic, as the kernel's: an empty buffer (offset
    // and len 0) wraps to a bit far past the bitmap.
    let mut bit = buf.offset.get().wrapping_add(buf.len.get());
    if bit & (WATCH_QUEUE_NOTE_SIZE - 1) == 0 {
        bit = bit.wrapping_sub(WATCH_QUEUE_NOTE_SIZE);
    }
    bit /= WATCH_QUEUE_NOTE_SIZE;
    let page = deref(buf.page.get(), "watch_queue_pipe_buf_release: buf->page");
    bit = bit.wrapping_add(cx.k.pages.get(page).private.get());

    let bitmap = deref(wqueue.notes_bitmap.get(), "watch_queue_pipe_buf_release: wqueue->notes_bitmap");
    // BUG(F2): set_bit() orders nothing: the reader's copy out of the note
    // is not ordered before a poster that sees the bit reuses the note.
    // The proposed fix releases it (smp_mb__before_atomic(); set_bit()).
    let order = if cx.bug(Bug::F2) { Ordering::Relaxed } else { mutation::release("wqueue->notes_bitmap") };
    if mutation::hit(Operator::AssignFlag, "set_bit(wqueue->notes_bitmap)") {
        bitmap.assign_bit_ordered(bit, order);
    } else {
        bitmap.set_bit_ordered(bit, order);
    }
    cx.k.trace.push(Event::NoteReleased {
        tid: crate::trace::tid(),
        wqueue: buf.private.get().map_or(0, |w| w.index()),
        note: bit,
    });
    // BUG(W6): the page reference taken by post_one_notification was never dropped.
    if !cx.bug(Bug::W6) {
        pipe::generic_pipe_buf_release(cx, buf);
    }
}

/// Models `post_one_notification()`, kernel/watch_queue.c, Linux 6.12.
///
/// Caller holds RCU and `wqueue->lock`, which pins `wqueue->pipe`. Under
/// `rd_wait.lock`: a full ring or no free note loses the post and marks
/// the newest queued slot with `PIPE_BUF_FLAG_LOSS`; otherwise copy the
/// record into a free note, fill slot `head` (flags *assigned*), publish
/// `head` with a store-release, take the note, wake readers.
///
/// Deviations: none. Catalog switches here: P12 (`flags |=`).
///
/// Mirrors kernel/watch_queue.c post_one_notification() of 6.12, lines 97-154, fp 5cd3b15dfd59c659.
fn post_one_notification(cx: &Cx<'_>, wqid: Id<WatchQueue>, n: &[u8]) -> bool {
    let _f = kfn("post_one_notification");
    let wqueue = cx.k.wqueues.get(wqid);
    // BUG(W13): `if (!pipe) return false;` then the defunct test under the
    // ring lock, instead of the caller's lock_wqueue().
    let pid = if cx.bug(Bug::W13) {
        match wqueue.pipe.get() {
            Some(p) => p,
            None => return false,
        }
    } else {
        deref(wqueue.pipe.get(), "post_one_notification: wqueue->pipe")
    };
    let pipe = cx.k.pipes.get(pid);
    let mut done = false;

    let mut g = pipe.rd_wait.lock.lock_marked("pipe->rd_wait.lock after step 2"); // 1.
    // Taking the lock wrote its word: if the pipe was freed while this
    // thread waited for it, that write was a use-after-free.
    Obj::hdr(&pipe).check();
    if cx.bug(Bug::W13) && wqueue.pipe.get().is_none() {
        return false;
    }

    let mask = mutation::ring_mask(pipe.ring_size.get()); // 2.
    let head = pipe.head.load(Ordering::Relaxed);
    let tail = pipe.tail.load(Ordering::Relaxed);
    g.first_step_done();
    let bufs = pipe.bufs.get();
    let lost = 'post: {
        if pipe_full(&pipe, head, tail, pipe.ring_size.get()) {
            probe::reach(State::RingFull);
            // S8: the ring is full as the holder of rd_wait.lock sees it.
            let (h, t) = (pipe.head.load(Ordering::Relaxed), pipe.tail.load(Ordering::Relaxed));
            crate::wq_assert!(
                S8,
                pipe::pipe_occupancy(&pipe, h, t) >= pipe.ring_size.get(),
                "post lost to a full ring in post_one_notification, but under rd_wait.lock the ring holds {} of {} slots (head={h} tail={t}; the post read head={head} tail={tail})",
                pipe::pipe_occupancy(&pipe, h, t),
                pipe.ring_size.get()
            );
            break 'post true;
        }

        // Pairs with the smp_store_release() in watch_queue_set_size().
        // BUG(F4): a plain load.
        let nr_notes =
            if cx.bug(Bug::F4) { wqueue.nr_notes.load(Ordering::Relaxed) } else { smp_load_acquire(&wqueue.nr_notes) }; // 3.
        // BUG(F2): plain loads. With the fix the memcpy below is ordered
        // after this load by its address dependency, which C11 (and so
        // loom) can only express as an acquire.
        let order = if cx.bug(Bug::F2) { Ordering::Relaxed } else { mutation::acquire("wqueue->notes_bitmap") };
        // BUG(F7), the kernel today: find_first_bit(wqueue->notes_bitmap,
        // nr_notes) loads the bitmap pointer whatever nr_notes is, so a
        // post that finds the queue unsized (0) still reads the pointer
        // watch_queue_set_size() is storing. FIX(F7): no note to look for
        // in an unsized queue, so no load.
        if !cx.bug(Bug::F7) && nr_notes == 0 {
            probe::reach(State::NotesExhausted);
            break 'post true;
        }
        let note = match wqueue.notes_bitmap.get() {
            Some(bm) => bm.find_first_bit_ordered(nr_notes, order),
            None if nr_notes == 0 => 0,
            None => crate::heap::null_deref("find_first_bit(wqueue->notes_bitmap == NULL)"),
        };
        if note >= nr_notes {
            probe::reach(State::NotesExhausted);
            break 'post true;
        }

        let npp = cx.k.config.notes_per_page(); // 4.
        let notes = deref(wqueue.notes.get(), "post_one_notification: wqueue->notes");
        let page = deref(notes.at((note / npp) as usize).get(), "post_one_notification: notes[]");
        let offset = note % npp * WATCH_QUEUE_NOTE_SIZE;
        mm::get_page(cx, page);
        let len = WatchNotification::decode(n).map_or(0, |h| h.len());
        cx.k.pages.get(page).write(offset as usize, &n[..len]);

        let buf = bufs.at((head & mask) as usize); // 5.
        let bitmap = deref(wqueue.notes_bitmap.get(), "post_one_notification: wqueue->notes_bitmap");
        let claim = || {
            if !bitmap.test_and_clear_bit(note) {
                // 7.
                fail(Inv::B1, format!("kernel BUG at post_one_notification: note {note} was already in use"));
            }
        };
        let fill = || {
            buf.page.set(Some(page));
            buf.private.set(Some(wqid));
            buf.ops.set(Some(PipeBufOps::WatchQueue));
            buf.offset.set(offset);
            buf.len.set(len as u32);
            // BUG(P12): a reused slot kept its old flags (a stale LOSS comes back).
            if cx.bug(Bug::P12) {
                buf.flags.with_mut(|f| *f |= PIPE_BUF_FLAG_WHOLE);
            } else {
                buf.flags.set(PIPE_BUF_FLAG_WHOLE);
            }
            // FIX(F3): claim the note before a reader can see the slot.
            if !cx.bug(Bug::F3) {
                claim();
            }
        };
        let publish = || {
            // 6. pairs with pipe_read's load-acquire.
            // BUG(W2): a plain store.
            let order = if cx.bug(Bug::W2) { Ordering::Relaxed } else { mutation::release("pipe->head") };
            pipe::store_index(cx, pid, &pipe, pipe::Index::Head, head.wrapping_add(1), order);
            // The record is accepted at this instant: a reader can take it
            // from here on, whatever the poster does next.
            cx.k.trace.push(Event::Post {
                tid: crate::trace::tid(),
                pipe: pid.index(),
                wqueue: wqid.index(),
                bytes: n[..len].to_vec(),
                queued: Some(((head & mask), note)),
            });
            // BUG(F3), the kernel today: the note is claimed after the head is
            // published, so a reader may already have consumed and released it.
            if cx.bug(Bug::F3) {
                claim();
            }
        };
        let wake = || {
            g.last_step_next("pipe->rd_wait.lock before step 8");
            pipe.rd_wait.wake_up_locked(&g); // 8.
        };
        // The marked steps: 5 (fill the slot) before 6 (publish the head)
        // before 8 (wake the readers).
        mutation::steps(Operator::SwapSteps, "5 fill the slot, 6 publish pipe->head", fill, || {
            mutation::steps(Operator::EarlyWakeup, "6 publish pipe->head, 8 wake_up_locked", publish, wake)
        });
        done = true;
        false
    };
    if lost {
        // 9. lost: mark the newest slot (a dead one if the ring is empty).
        let buf = bufs.at((head.wrapping_sub(1) & mask) as usize);
        buf.flags.with_mut(|f| *f = mutation::or_bits(*f, PIPE_BUF_FLAG_LOSS, "buf->flags |= PIPE_BUF_FLAG_LOSS"));
        probe::reach(State::LossFlagged);
        let len = WatchNotification::decode(n).map_or(0, |h| h.len()).min(n.len());
        cx.k.trace.push(Event::Post {
            tid: crate::trace::tid(),
            pipe: pid.index(),
            wqueue: wqid.index(),
            bytes: n[..len].to_vec(),
            queued: None,
        });
    }
    drop(g);
    done
}

/// Models `filter_watch_notification()`: the type bit must be set, then
/// some entry must match type, subtype bit and `(info & mask) == filter`.
///
/// Mirrors kernel/watch_queue.c filter_watch_notification() of 6.12, lines 159-180, fp 6916b4e502513e84.
fn filter_watch_notification(wf: &WatchFilter, n: &WatchNotification) -> bool {
    crate::trace::reached("filter_watch_notification");
    let st_bits = 32;
    let st_index = (n.subtype as u32 / st_bits) as usize;
    let st_bit = 1u32 << (n.subtype as u32 % st_bits);

    if !wf.type_filter.test_bit(n.type_) {
        return false;
    }
    for i in 0..wf.nr_filters as usize {
        let wt = wf.filters.at(i).get();
        if st_index >= wt.subtype_filter.len() {
            // Latent: a subtype >= 32 reads past the one-word internal array.
            fail(
                Inv::H3,
                format!("array-index-out-of-bounds: subtype_filter[{st_index}] of 1 in filter_watch_notification"),
            );
        }
        if n.type_ == wt.type_ && wt.subtype_filter[st_index] & st_bit != 0 && n.info & wt.info_mask == wt.info_filter {
            return true;
        }
    }
    false // If there is a filter, the default is to reject.
}

/// Models `__post_watch_notification()` (and `post_watch_notification()`,
/// which skips a NULL list): for every watch on `wlist` with this `id`,
/// write the watch's tag into the record's info ID field, apply the
/// queue's filter, ask the LSM, then post under `lock_wqueue()`.
///
/// `n` is the caller's record; like the kernel, this mutates its info
/// field per watch.
///
/// Mirrors kernel/watch_queue.c __post_watch_notification() of 6.12, lines 195-232, fp 5b5b228e129c6591.
/// Mirrors include/linux/watch_queue.h post_watch_notification() of 6.12, lines 102-109, fp 12a3e6c5528ef62a.
pub fn __post_watch_notification(cx: &Cx<'_>, wlist: Option<Id<WatchList>>, n: &mut [u8], cred: &Cred, id: u64) {
    let Some(wlist) = wlist else { return };
    let _f = kfn("__post_watch_notification");
    let mut h = WatchNotification::decode(n).expect("a record has a header");
    if h.is_empty() {
        cx.k.trace.push(Event::Warn { func: "__post_watch_notification", what: "zero-length notification".into() });
        return;
    }

    let _posting = probe::Posting::enter();
    let _rcu = rcu_read_lock(cx);
    let wl = cx.k.wlists.get(wlist);
    for wid in wl.watchers.for_each_rcu().iter().copied() {
        let watch = cx.k.watches.get(wid);
        if watch.id != id {
            continue;
        }
        // BUG(F8): info_id shares its bytes with the rcu_head that the
        // last put's call_rcu() writes at once; this walk holds only RCU.
        let info_id = if cx.bug(Bug::F8) && watch.rcu_over_info_id.get() { 0 } else { watch.info_id };
        h.info = (h.info & !WATCH_INFO_ID) | info_id;
        n[..8].copy_from_slice(&h.encode());

        let wqid = watch.queue;
        let wqueue = cx.k.wqueues.get(wqid);
        let wf = wqueue.filter.rcu_dereference();
        let passed = wf.is_none_or(|fid| filter_watch_notification(&cx.k.filters.get(fid), &h));
        cx.k.trace.push(Event::Filtered {
            tid: crate::trace::tid(),
            wqueue: wqid.index(),
            filter: wf.map(|f| f.index()),
            bytes: n.to_vec(),
            passed,
        });
        if !passed {
            continue;
        }

        let wcred = deref(watch.cred.get(), "__post_watch_notification: watch->cred");
        if matches!(cx.k.config.lsm.module, lsm::LsmModule::Smack(_)) {
            cx.k.trace.push(Event::PostLabels {
                tid: crate::trace::tid(),
                wqueue: wqid.index(),
                watcher: wcred.label.clone(),
                origin: cred.label.clone(),
            });
        }
        if lsm::security_post_notification(cx, &wcred, cred, n).is_err() {
            continue;
        }

        // BUG(W13): posted without wqueue->lock; post_one_notification
        // read wqueue->pipe unlocked and tested defunct only under the
        // pipe's own rd_wait.lock.
        if cx.bug(Bug::W13) {
            post_one_notification(cx, wqid, n);
            continue;
        }
        if let Some(g) = lock_wqueue(cx, &wqueue) {
            post_one_notification(cx, wqid, n);
            drop(g);
        }
    }
}

/// Models `watch_queue_set_size()` (`IOC_WATCH_QUEUE_SET_SIZE`; the caller
/// holds `pipe->mutex`): charge the pages, resize the ring to a power of
/// two no smaller than the page-rounded note count, allocate the note
/// pages and the free-note bitmap.
///
/// Catalog switches here: W4 (sizes from the unrounded count), W5 (no
/// power-of-two rounding), W9 (error path frees unallocated pages), W19
/// (`nr_accounted` not updated), F4 (the notes are published with plain
/// stores outside the ring lock, as the kernel did until 6.12.115).
///
/// Mirrors kernel/watch_queue.c watch_queue_set_size() of 6.12, lines 239-313, fp 3589e5e2aac701e1.
pub fn watch_queue_set_size(cx: &Cx<'_>, pid: Id<PipeInodeInfo>, nr_notes_arg: u32) -> KResult<i32> {
    let _f = kfn("watch_queue_set_size");
    let pipe = cx.k.pipes.get(pid);
    let wqid = pipe.watch_queue.get().ok_or(Errno::ENODEV)?;
    let wqueue = cx.k.wqueues.get(wqid);
    if wqueue.notes.get().is_some() {
        return Err(Errno::EBUSY);
    }
    let mut nr_notes = nr_notes_arg;
    if !(1..=WATCH_QUEUE_MAX_NOTES).contains(&nr_notes) {
        return Err(Errno::EINVAL);
    }

    let npp = cx.k.config.notes_per_page();
    let nr_pages = nr_notes.div_ceil(npp);
    let user_bufs = pipe::account_pipe_buffers(&pipe.user, pipe.nr_accounted.get() as u64, nr_pages as u64);

    let error = |e: Errno| -> KResult<i32> {
        pipe::account_pipe_buffers(&pipe.user, nr_pages as u64, pipe.nr_accounted.get() as u64);
        Err(e)
    };

    if nr_pages > pipe.max_usage.load(Ordering::Relaxed)
        && (pipe::too_many_pipe_buffers_hard(cx, user_bufs) || pipe::too_many_pipe_buffers_soft(cx, user_bufs))
        && pipe::pipe_is_unprivileged_user(cx)
    {
        return error(Errno::EPERM);
    }

    // BUG(W4): the ring and the bitmap were sized from the requested count.
    if !cx.bug(Bug::W4) {
        nr_notes = nr_pages * npp;
    }
    // BUG(W5): the ring size was not rounded up to a power of two.
    let nr_slots = if cx.bug(Bug::W5) { nr_notes } else { nr_notes.next_power_of_two() };
    if let Err(e) = pipe::pipe_resize_ring(cx, pid, nr_slots) {
        return error(e);
    }

    // pipe_resize_ring() does not update nr_accounted for watch_queue pipes
    // (it vastly overprovisions): record what was charged above.
    // BUG(W19): left out, so free_pipe_info uncharges the wrong amount.
    if !cx.bug(Bug::W19) {
        pipe::store_max_usage(cx, pid, &pipe, nr_pages);
        pipe.nr_accounted.set(nr_pages);
    }

    if cx.k.heap.fail_nth.should_fail("watch_queue_set_size: kcalloc") {
        return error(Errno::ENOMEM);
    }
    let pages: Arc<NotesArray> =
        cx.k.heap.alloc("notes[]", KArray::new("wqueue->notes", (0..nr_pages).map(|_| KCell::new(None)).collect()));

    let mut i = 0;
    let mut failed = false;
    while i < nr_pages {
        match mm::alloc_page(cx, "watch_queue_set_size: alloc_page") {
            Some(p) => {
                cx.k.pages.get(p).private.set(i * npp);
                pages.at(i as usize).set(Some(p));
            }
            None => {
                failed = true;
                break;
            }
        }
        i += 1;
    }

    let bitmap = if failed || cx.k.heap.fail_nth.should_fail("watch_queue_set_size: bitmap_alloc") {
        None
    } else if cx.bug(Bug::W4) {
        // Pre-fix: kmalloc(BITS_TO_LONGS(requested) longs), memset 0xff.
        let words = bits_to_longs(nr_notes);
        let bm = cx.k.heap.alloc("notes_bitmap", KBitmap::new("wqueue->notes_bitmap", words));
        bm.memset_ff(words);
        Some(bm)
    } else {
        let bm = cx.k.heap.alloc("notes_bitmap", KBitmap::new("wqueue->notes_bitmap", bits_to_longs(nr_notes)));
        bm.bitmap_fill(nr_notes);
        Some(bm)
    };

    let Some(bitmap) = bitmap else {
        // error_p:
        if cx.bug(Bug::W9) {
            // BUG(W9): freed every entry, including the NULL ones.
            for j in 0..nr_pages {
                mm::__free_page(cx, pages.at(j as usize).get());
            }
        } else {
            while i > 0 {
                i -= 1;
                mm::__free_page(cx, pages.at(i as usize).get());
            }
        }
        cx.k.heap.kfree(Obj::hdr(&pages));
        return error(Errno::ENOMEM);
    };

    // BUG(F4): plain stores that posters, which hold only the ring lock,
    // read. The fix (6.12.115, "watch_queue: Fix note pool publication
    // race in watch_queue_set_size()"): nr_notes last, with release,
    // paired with post_one_notification()'s acquire.
    wqueue.notes.set(Some(pages));
    wqueue.notes_bitmap.set(Some(bitmap));
    wqueue.nr_pages.set(nr_pages);
    let n = if cx.bug(Bug::W4) { nr_pages * npp } else { nr_notes };
    if cx.bug(Bug::F4) {
        wqueue.nr_notes.store(n, Ordering::Relaxed);
    } else {
        smp_store_release(&wqueue.nr_notes, n);
    }
    Ok(0)
}

/// Models `watch_queue_set_filter()` (`IOC_WATCH_QUEUE_SET_FILTER`): parse
/// and validate the UAPI filter (without the pipe mutex), build the
/// internal filter from the entries of known types only, then swap it in
/// under `pipe->mutex` and free the old one after a grace period.
///
/// `arg` is the user memory: `None` for a NULL pointer (remove the
/// filter), otherwise the bytes the pointer reaches (reading past them is
/// `EFAULT`). Catalog switches here: W1 (mismatched loop bounds).
///
/// Mirrors kernel/watch_queue.c watch_queue_set_filter() of 6.12, lines 318-395, fp 571135ab632a1d9b.
pub fn watch_queue_set_filter(cx: &Cx<'_>, pid: Id<PipeInodeInfo>, arg: Option<&[u8]>) -> KResult<i32> {
    let _f = kfn("watch_queue_set_filter");
    let pipe = cx.k.pipes.get(pid);
    let wqid = pipe.watch_queue.get().ok_or(Errno::ENODEV)?;
    let wqueue = cx.k.wqueues.get(wqid);

    let wfilter: Option<Id<WatchFilter>> = match arg {
        None => None, // Remove the old filter.
        Some(user) => {
            // Grab the user's filter specification.
            if user.len() < WATCH_NOTIFICATION_FILTER_SIZE {
                return Err(Errno::EFAULT);
            }
            let nr_filters = u32::from_le_bytes(user[0..4].try_into().unwrap());
            let reserved = u32::from_le_bytes(user[4..8].try_into().unwrap());
            if nr_filters == 0 || nr_filters > WATCH_QUEUE_MAX_FILTERS || reserved != 0 {
                return Err(Errno::EINVAL);
            }

            // memdup_array_user()
            let need = WATCH_NOTIFICATION_FILTER_SIZE + nr_filters as usize * WATCH_NOTIFICATION_TYPE_FILTER_SIZE;
            if user.len() < need {
                return Err(Errno::EFAULT);
            }
            if cx.k.heap.fail_nth.should_fail("watch_queue_set_filter: memdup_array_user") {
                return Err(Errno::ENOMEM);
            }
            let tf: Vec<WatchNotificationTypeFilter> = (0..nr_filters as usize)
                .map(|i| {
                    let at = WATCH_NOTIFICATION_FILTER_SIZE + i * WATCH_NOTIFICATION_TYPE_FILTER_SIZE;
                    WatchNotificationTypeFilter::decode(&user[at..at + WATCH_NOTIFICATION_TYPE_FILTER_SIZE])
                })
                .collect();

            // BUG(W1): the two loops used different bounds.
            let nr_types = cx.k.config.variant.watch_type_nr(); // WATCH_TYPE__NR
            let (count_bound, fill_bound) = if cx.bug(Bug::W1) {
                let bits = (std::mem::size_of::<u64>() * bits_to_longs(nr_types)) as u32;
                (bits * 8, bits * 64)
            } else {
                (nr_types, nr_types)
            };

            let mut nr_filter = 0u32;
            for t in &tf {
                if t.info_filter & !t.info_mask != 0 || t.info_mask & WATCH_INFO_LENGTH != 0 {
                    return Err(Errno::EINVAL);
                }
                // Ignore any unknown types.
                if t.type_ >= count_bound {
                    continue;
                }
                nr_filter += 1;
            }

            // Build the internal filter from only the relevant entries.
            if cx.k.heap.fail_nth.should_fail("watch_queue_set_filter: kzalloc") {
                return Err(Errno::ENOMEM);
            }
            let filter = WatchFilter {
                type_filter: KBitmap::new("watch_filter.type_filter", TYPE_FILTER_UNION_WORDS),
                nr_filters: nr_filter,
                filters: KArray::new(
                    "watch_filter.filters",
                    (0..nr_filter).map(|_| KCell::new(WatchTypeFilter::default())).collect(),
                ),
            };
            let (fid, obj) = cx.k.heap.alloc_in(&cx.k.filters, "watch_filter", filter);
            let mut q = 0usize;
            for t in &tf {
                if t.type_ >= fill_bound {
                    continue;
                }
                obj.filters.at(q).set(WatchTypeFilter {
                    type_: t.type_,
                    info_filter: t.info_filter,
                    info_mask: t.info_mask,
                    subtype_filter: [t.subtype_filter[0]],
                });
                obj.type_filter.__set_bit(t.type_);
                q += 1;
            }
            Some(fid)
        }
    };

    // set:
    let old = {
        let _g = pipe::pipe_lock(&pipe);
        let old = wqueue.filter.rcu_replace_pointer(wfilter);
        if probe::posting() {
            probe::reach(State::FilterReplacedDuringPost);
        }
        cx.k.trace.push(Event::FilterSet {
            wqueue: wqid.index(),
            filter: wfilter.map(|f| f.index()),
            uapi: arg.map(|a| a.to_vec()),
        });
        old
    };
    if let Some(old) = old {
        rcu::kfree_rcu(cx, Obj::hdr(&cx.k.filters.get(old)));
    }
    Ok(0)
}

/// Models `__put_watch_queue()`: the last reference frees the note pages,
/// the page array and the bitmap now, the filter and the queue after a
/// grace period. Catalog switches here: W3 (bitmap kept), W11 (array kept).
///
/// Mirrors kernel/watch_queue.c __put_watch_queue() of 6.12, lines 397-413, fp 387f652de1de47a3.
fn __put_watch_queue(cx: &Cx<'_>, wqid: Id<WatchQueue>) {
    let _f = kfn("__put_watch_queue");
    let wqueue = cx.k.wqueues.get(wqid);
    let notes = wqueue.notes.get();
    for i in 0..wqueue.nr_pages.get() as usize {
        let notes = deref(notes.as_ref(), "__put_watch_queue: wqueue->notes");
        mm::__free_page(cx, notes.at(i).get());
    }
    // BUG(W11): kfree(wqueue->notes) was missing.
    if !cx.bug(Bug::W11) {
        if let Some(n) = &notes {
            cx.k.heap.kfree(Obj::hdr(n));
        }
    }
    // BUG(W3): bitmap_free(wqueue->notes_bitmap) was missing.
    if !cx.bug(Bug::W3) {
        if let Some(bm) = wqueue.notes_bitmap.get() {
            cx.k.heap.kfree(Obj::hdr(&bm));
        }
    }
    if let Some(f) = wqueue.filter.rcu_access_pointer() {
        rcu::kfree_rcu(cx, Obj::hdr(&cx.k.filters.get(f)));
    }
    rcu::kfree_rcu(cx, Obj::hdr(&wqueue));
}

/// Models `put_watch_queue()`.
///
/// Mirrors kernel/watch_queue.c put_watch_queue() of 6.12, lines 419-422, fp 77f3c569830df3cc.
pub fn put_watch_queue(cx: &Cx<'_>, wqid: Id<WatchQueue>) {
    let _f = kfn("put_watch_queue");
    let wqueue = cx.k.wqueues.get(wqid);
    match wqueue.usage.put() {
        Ok(true) => __put_watch_queue(cx, wqid),
        Ok(false) => {}
        Err(_) => fail(Inv::R1, format!("refcount underflow: watch_queue#{} put with usage 0", wqid.index())),
    }
}

/// Models `free_watch()`, the RCU callback of a watch's last put: drop the
/// queue reference and the user's watch count, put the cred, free.
/// Catalog switches here: W10 (the watch was never freed).
///
/// Mirrors kernel/watch_queue.c free_watch() of 6.12, lines 425-433, fp 1b664d0e39fc54a4.
pub fn free_watch(cx: &Cx<'_>, wid: Id<Watch>) {
    let _f = kfn("free_watch");
    let watch = cx.k.watches.get(wid);
    put_watch_queue(cx, watch.queue);
    let cred = deref(watch.cred.get(), "free_watch: watch->cred");
    cred.user.nr_watches.fetch_sub(1, Ordering::AcqRel);
    // BUG(W10): kfree(watch) was missing.
    if !cx.bug(Bug::W10) {
        // put_cred(watch->cred).
        crate::kernel::put_cred(cx, &cred);
        cx.k.heap.rcu_free(Obj::hdr(&watch));
    }
}

/// Models `put_watch()` and `__put_watch()`: the last put frees the watch
/// after a grace period (`call_rcu(&watch->rcu, free_watch)`). Catalog
/// switches here: F8 (`call_rcu()` writes `rcu.next` at once, and it shares
/// `info_id`'s bytes, while posters may still read it).
///
/// Mirrors kernel/watch_queue.c put_watch() of 6.12, lines 445-448, fp f3098b20a3d05390.
/// Mirrors kernel/watch_queue.c __put_watch() of 6.12, lines 435-440, fp b1b64a94830906e5.
fn put_watch(cx: &Cx<'_>, wid: Id<Watch>) {
    crate::trace::reached("put_watch");
    let watch = cx.k.watches.get(wid);
    match watch.usage.put() {
        Ok(true) => {
            // BUG(F8), the kernel today: call_rcu() stores rcu.next = NULL
            // over info_id (a union) while a poster that found the watch
            // under RCU may still read it. FIX(F8): the rcu_head has its
            // own storage.
            if cx.bug(Bug::F8) {
                watch.rcu_over_info_id.set(true);
            }
            cx.k.heap.rcu_queue(Obj::hdr(&watch), "call_rcu(free_watch)");
            rcu::call_rcu(cx, RcuCallback::FreeWatch(wid));
        }
        Ok(false) => {}
        Err(_) => fail(Inv::R1, format!("refcount underflow: watch#{} put with usage 0", wid.index())),
    }
}

/// Models `kzalloc(sizeof(*watch))` + `init_watch()`: one reference (later
/// owned by the watch list), the queue set, both list nodes unhashed.
///
/// Mirrors kernel/watch_queue.c init_watch() of 6.12, lines 457-463, fp e761f98e869f05ed.
pub fn init_watch(cx: &Cx<'_>, wqueue: Id<WatchQueue>, id: u64, info_id: u32) -> Option<Id<Watch>> {
    crate::trace::reached("init_watch");
    if cx.k.heap.fail_nth.should_fail("keyctl_watch_key: kzalloc(watch)") {
        return None;
    }
    let w = Watch {
        info_id,
        rcu_over_info_id: KCell::new(false),
        queue: wqueue,
        queue_node: KCell::new(false),
        watch_list: RcuId::new(None),
        list_node: KCell::new(false),
        cred: KCell::new(None),
        id,
        usage: Kref::new(),
    };
    Some(cx.k.heap.alloc_in(&cx.k.watches, "watch", w).0)
}

/// Models `kzalloc(sizeof(*wlist))` + `init_watch_list()`.
///
/// Mirrors include/linux/watch_queue.h init_watch_list() of 6.12, lines 94-100, fp 5380b1a94e96d4e4.
pub fn init_watch_list(cx: &Cx<'_>, release_watch: Option<ReleaseWatch>) -> Option<Id<WatchList>> {
    crate::trace::reached("init_watch_list");
    if cx.k.heap.fail_nth.should_fail("keyctl_watch_key: kzalloc(wlist)") {
        return None;
    }
    let wl = WatchList { watchers: RcuList::default(), release_watch, lock: SpinLock::new("wlist->lock") };
    Some(cx.k.heap.alloc_in(&cx.k.wlists, "watch_list", wl).0)
}

/// Models `add_one_watch()` (callers hold `wqueue->lock` and `wlist->lock`):
/// `EBUSY` if this queue already watches this object, `EAGAIN` past
/// `RLIMIT_NOFILE` watches, else take the cred and both references and
/// hash the watch on both lists. Catalog switches here: W17 (no limit).
///
/// Mirrors kernel/watch_queue.c add_one_watch() of 6.12, lines 465-490, fp a14f55ab5760ec91.
fn add_one_watch(cx: &Cx<'_>, wid: Id<Watch>, wlid: Id<WatchList>, wqid: Id<WatchQueue>) -> KResult<()> {
    let _f = kfn("add_one_watch");
    let watch = cx.k.watches.get(wid);
    let wlist = cx.k.wlists.get(wlid);
    let wqueue = cx.k.wqueues.get(wqid);
    for w in wlist.watchers.snapshot_locked().iter() {
        let w = cx.k.watches.get(*w);
        if w.queue == wqid && w.id == watch.id {
            return Err(Errno::EBUSY);
        }
    }

    let cred = cx.current_cred();
    let n = cred.user.nr_watches.fetch_add(1, Ordering::AcqRel) + 1;
    // BUG(W17): there was no per-user limit.
    if !cx.bug(Bug::W17) && n as u64 > cx.task.rlimit_nofile.get() {
        cred.user.nr_watches.fetch_sub(1, Ordering::AcqRel);
        return Err(Errno::EAGAIN);
    }

    cred.get();
    watch.cred.set(Some(cred.clone()));
    watch.watch_list.rcu_assign_pointer(Some(wlid));

    wqueue.usage.get();
    watch.usage.get();
    wqueue.watches.with_mut(|v| v.insert(0, wid));
    watch.queue_node.set(true);
    watch.list_node.set(true);
    wlist.watchers.update(|v| v.insert(0, wid));
    cx.k.trace.push(Event::WatchAdded {
        wqueue: wqid.index(),
        id: watch.id,
        tag: (watch.info_id >> WATCH_INFO_ID__SHIFT) as u8,
        uid: cred.uid,
    });
    Ok(())
}

/// Models `add_watch_to_object()`: under RCU, `lock_wqueue()` (`ENOENT` if
/// the queue is being torn down), then `wlist->lock`, then `add_one_watch`.
///
/// Mirrors kernel/watch_queue.c add_watch_to_object() of 6.12, lines 504-521, fp a16cc4dfbaf0acad.
pub fn add_watch_to_object(cx: &Cx<'_>, wid: Id<Watch>, wlid: Id<WatchList>) -> KResult<()> {
    let _f = kfn("add_watch_to_object");
    let _rcu = rcu_read_lock(cx);
    let wqid = cx.k.watches.get(wid).queue;
    let wqueue = cx.k.wqueues.get(wqid);
    let mut ret = Err(Errno::ENOENT);
    if let Some(g) = lock_wqueue(cx, &wqueue) {
        let wlist = cx.k.wlists.get(wlid);
        // BUG(W14): the watch list was changed without wlist->lock,
        // relying on key->sem, which watch_queue_clear does not take.
        let lg = (!cx.bug(Bug::W14)).then(|| wlist.lock.lock());
        ret = add_one_watch(cx, wid, wlid, wqid);
        drop(lg);
        drop(g);
    }
    ret
}

/// Models `remove_watch_from_object()`: detach one watch (`all == false`:
/// this queue's watch on `id`; `EBADSLT` if there is none) or every watch
/// (`all`: the object is being destroyed). Each detached watch posts a
/// removal record straight into its queue (no filter, no LSM), is
/// unhashed from the queue, and loses both references.
///
/// Mirrors kernel/watch_queue.c remove_watch_from_object() of 6.12, lines 534-597, fp 4db8086a50b3cba4.
pub fn remove_watch_from_object(
    cx: &Cx<'_>,
    wlid: Id<WatchList>,
    wq: Option<Id<WatchQueue>>,
    id: u64,
    all: bool,
) -> KResult<()> {
    let _f = kfn("remove_watch_from_object");
    let mut ret = Err(Errno::EBADSLT);
    let rcu = rcu_read_lock(cx);
    let wlist = cx.k.wlists.get(wlid);

    loop {
        // again:
        let lg = wlist.lock.lock();
        let found = wlist.watchers.snapshot_locked().iter().copied().find(|w| {
            let w = cx.k.watches.get(*w);
            all || (w.id == id && Some(w.queue) == wq)
        });
        let Some(wid) = found else {
            drop(lg);
            break;
        };

        ret = Ok(());
        let watch = cx.k.watches.get(wid);
        wlist.watchers.update(|v| v.retain(|x| *x != wid));
        watch.list_node.set(false);
        watch.watch_list.rcu_assign_pointer(None);
        drop(lg);

        // We now own the reference on watch that used to belong to wlist.
        let n = removal_notification(watch.info_id, id);

        let wqid = watch.queue;
        let wqueue = cx.k.wqueues.get(wqid);
        cx.k.trace.push(Event::WatchRemoved { wqueue: wqid.index(), id, all });
        if let Some(g) = lock_wqueue(cx, &wqueue) {
            post_one_notification(cx, wqid, &n);
            if watch.queue_node.get() {
                wqueue.watches.with_mut(|v| v.retain(|x| *x != wid));
                watch.queue_node.set(false);
                put_watch(cx, wid);
            }
            drop(g);
        }

        if let Some(release_watch) = wlist.release_watch {
            release_watch(cx, wid);
        }
        put_watch(cx, wid);

        // if (all && !hlist_empty(&wlist->watchers)) goto again;
        if !all || wlist.watchers.is_empty() {
            break;
        }
    }
    drop(rcu);
    ret
}

/// Models `watch_queue_clear()`: fence the queue (`pipe = NULL` under
/// `wqueue->lock`: no later post or add gets through), then detach every
/// watch feeding it, never holding `wqueue->lock` and `wlist->lock`
/// together. Posts nothing. Catalog switches here: W16 (only `defunct` set).
///
/// Mirrors kernel/watch_queue.c watch_queue_clear() of 6.12, lines 605-667, fp 39a6bf2416403e63.
pub fn watch_queue_clear(cx: &Cx<'_>, wqid: Id<WatchQueue>) {
    let _f = kfn("watch_queue_clear");
    if probe::posting() {
        probe::reach(State::TeardownDuringPost);
    }
    let rcu = rcu_read_lock(cx);
    let wqueue = cx.k.wqueues.get(wqid);
    let mut g = wqueue.lock.lock();

    // This pipe can be freed by callers like free_pipe_info(); removing
    // this reference also prevents new notifications.
    // BUG(W16): only `defunct` was set; the pipe pointer was left dangling.
    if cx.bug(Bug::W16) {
        wqueue.defunct.set(true);
    } else {
        wqueue.pipe.set(None);
    }
    cx.k.trace.push(Event::QueueCleared { wqueue: wqid.index() });

    while let Some(wid) = wqueue.watches.with(|v| v.first().copied()) {
        let watch = cx.k.watches.get(wid);
        wqueue.watches.with_mut(|v| v.retain(|x| *x != wid));
        watch.queue_node.set(false);
        // We now own a ref on the watch.
        drop(g);

        if let Some(wlid) = watch.watch_list.rcu_dereference() {
            let wlist = cx.k.wlists.get(wlid);
            let lg = wlist.lock.lock();
            let release = watch.list_node.get();
            if release {
                wlist.watchers.update(|v| v.retain(|x| *x != wid));
                watch.list_node.set(false);
                watch.watch_list.rcu_assign_pointer(None);
                // We now own a second ref on the watch.
            }
            let release_watch = wlist.release_watch;
            drop(lg);
            if release {
                if let Some(rw) = release_watch {
                    rw(cx, wid);
                }
                put_watch(cx, wid);
            }
        }

        put_watch(cx, wid);
        g = wqueue.lock.lock();
    }
    drop(g);
    drop(rcu);
}

/// Models `get_watch_queue(fd)`: the notification queue behind `fd`, with a
/// reference; `EINVAL` for a bad descriptor or any other kind of file.
///
/// Mirrors kernel/watch_queue.c get_watch_queue() of 6.12, lines 673-688, fp 060d864c0a80942c.
pub fn get_watch_queue(cx: &Cx<'_>, fd: i32) -> KResult<Id<WatchQueue>> {
    let _f = kfn("get_watch_queue");
    let Ok(file) = crate::file::fget(cx, fd) else {
        return Err(Errno::EINVAL);
    };
    let mut ret = Err(Errno::EINVAL);
    if let Some(pid) = pipe::get_pipe_info(cx, file, false) {
        if let Some(wq) = cx.k.pipes.get(pid).watch_queue.get() {
            cx.k.wqueues.get(wq).usage.get();
            ret = Ok(wq);
        }
    }
    crate::file::fput(cx, file);
    ret
}

/// Models `watch_queue_init()`: attach a new queue to `pipe` (one
/// reference, owned by the pipe).
///
/// Mirrors kernel/watch_queue.c watch_queue_init() of 6.12, lines 694-709, fp 2947e78df6c4928f.
pub fn watch_queue_init(cx: &Cx<'_>, pid: Id<PipeInodeInfo>) -> KResult<()> {
    let _f = kfn("watch_queue_init");
    if cx.k.heap.fail_nth.should_fail("watch_queue_init: kzalloc") {
        return Err(Errno::ENOMEM);
    }
    let wq = WatchQueue {
        filter: RcuId::new(None),
        pipe: KCell::new(Some(pid)),
        defunct: KCell::new(false),
        watches: KCell::new(Vec::new()),
        notes: KCell::new(None),
        notes_bitmap: KCell::new(None),
        usage: Kref::new(),
        lock: SpinLock::new("wqueue->lock"),
        nr_notes: AtomicU32::new(0),
        nr_pages: KCell::new(0),
    };
    let (wqid, _) = cx.k.heap.alloc_in(&cx.k.wqueues, "watch_queue", wq);
    cx.k.pipes.get(pid).watch_queue.set(Some(wqid));
    Ok(())
}

/// Models `remove_watch_list()` (include/linux/watch_queue.h): the object
/// is being destroyed; detach every watch, then free the list after a
/// grace period.
///
/// Mirrors include/linux/watch_queue.h remove_watch_list() of 6.12, lines 111-117, fp c1737f9708775d9a.
pub fn remove_watch_list(cx: &Cx<'_>, wlist: Option<Id<WatchList>>, id: u64) {
    if let Some(wlid) = wlist {
        let _f = kfn("remove_watch_list");
        cx.k.trace.push(Event::ObjectDestroyed { id });
        let _ = remove_watch_from_object(cx, wlid, None, id, true);
        rcu::kfree_rcu(cx, Obj::hdr(&cx.k.wlists.get(wlid)));
    }
}
