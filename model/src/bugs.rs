//! The bug catalog: every historical bug of the notification queue as a
//! runtime switch in the model, named by its fix.
//!
//! Each historical switch (`W`, `P` rows) is off by default: the model is
//! the fixed kernel, Linux 6.12. Switching one on restores the faulty line,
//! which the code marks with `BUG(<id>):`. Each entry says how the bug is
//! triggered and which invariant catches it. The program that triggers it
//! is a scenario file, `scenarios/catalog/<id>-<slug>.wq` (the model knows
//! nothing of scenarios: `wqsim` runs them), which shows it caught with
//! the switch on and holding with it off.
//!
//! The `X` rows are bugs of the patch series' unmerged revisions
//! (`variant v1`, `v5`), found in review before they could be merged: off
//! by default, like the historical rows.
//!
//! The `F` rows are findings: bugs this harness found in the kernel. While
//! the kernel has one it is on by default, since the model follows the
//! kernel, and off is the proposed fix (`FIX(<id>):` in the code); once
//! fixed upstream (F4) it is off by default and off is the fix that
//! landed. [`BugSet::none`] turns every switch off. See `docs/findings/`.

use std::fmt;

use crate::invariant::Inv;

macro_rules! catalog {
    ($($id:ident, $slug:expr, $title:expr, $hash:expr, $ver:expr, $cve:expr, $site:expr, $inv:ident,
       $trigger:expr;)*) => {
        /// A catalog switch.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Bug { $($id),* }

        /// Every catalog entry, in catalog order.
        pub const CATALOG: &[BugInfo] = &[$(BugInfo {
            bug: Bug::$id,
            id: stringify!($id),
            slug: $slug,
            fix_title: $title,
            fix_hash: $hash,
            fixed_in: $ver,
            cve: $cve,
            site: $site,
            caught_by: Inv::$inv,
            finding: stringify!($id).as_bytes()[0] == b'F',
            trigger: $trigger,
        }),*];
    };
}

/// What the catalog says about one switch.
#[derive(Clone, Copy, Debug)]
pub struct BugInfo {
    pub bug: Bug,
    /// Row ID (`W1`).
    pub id: &'static str,
    /// Short name (`filter-oob`).
    pub slug: &'static str,
    /// Title of the fixing commit.
    pub fix_title: &'static str,
    /// Abbreviated hash of the fixing commit.
    pub fix_hash: &'static str,
    /// First release with the fix.
    pub fixed_in: &'static str,
    /// CVE identifiers, if any were assigned.
    pub cve: Option<&'static str>,
    /// Kernel file and function the switch changes.
    pub site: &'static str,
    /// The invariant the oracle reports when the bug fires.
    pub caught_by: Inv,
    /// A finding of this harness (`F` rows): on by default while the
    /// kernel has it (`fixed_in` is `unfixed`), with the proposed fix as
    /// its off side; a finding fixed upstream since is off by default and
    /// its off side is the fix that landed.
    pub finding: bool,
    /// How the bug is triggered, and what goes wrong.
    pub trigger: &'static str,
}

catalog! {
    W1, "filter-oob", "watch_queue: Fix filter limit check", "c993ee0f9f81", "5.17-rc8",
    Some("CVE-2022-0995"), "kernel/watch_queue.c watch_queue_set_filter", H3,
    "The counting loop skipped types >= sizeof(type_filter)*8 (64) but the fill loop only \
     skipped types >= sizeof(type_filter)*BITS_PER_LONG (512). SET_FILTER with one entry of \
     type 100 allocates a filter with room for no entries, then writes one past its end and \
     sets bit 100 of a one-word bitmap.";
    W3, "bitmap-leak", "watch_queue: Free the alloc bitmap when the watch_queue is torn down",
    "7ea1a0124b6d", "5.17-rc8", None, "kernel/watch_queue.c __put_watch_queue", H5,
    "__put_watch_queue never freed notes_bitmap. Create a notification pipe, size it, close \
     both ends: the bitmap leaks.";
    W4, "bitmap-size", "watch_queue: Fix the alloc bitmap size to reflect notes allocated",
    "3b4c0371928c", "5.17-rc8", None, "kernel/watch_queue.c watch_queue_set_size", N1,
    "The ring and the bitmap were sized from the requested note count while nr_notes was \
     rounded up to whole pages. SET_SIZE(1) on 4 KiB pages gives 64 free bits for 32 notes \
     (N1 at once). With 64 KiB pages SET_SIZE(129) gives a three-word bitmap for 512 notes, \
     and the 193rd post makes find_first_bit read past it (KASAN slab-out-of-bounds, H3).";
    W5, "ring-pow2", "watch_queue: Fix to always request a pow-of-2 pipe ring size",
    "96a4d8912b28", "5.17-rc8", None, "kernel/watch_queue.c watch_queue_set_size", I4,
    "pipe_resize_ring was asked for nr_notes slots, not a power of two: SET_SIZE(65) gives \
     96 slots and mask 95, so head & mask aliases live slots and records are overwritten, \
     lost or duplicated.";
    W6, "release-page", "watch_queue: Fix to release page in ->release()", "c1853fbadcba",
    "5.17-rc8", None, "kernel/watch_queue.c watch_queue_pipe_buf_release", H5,
    "Posting takes a page reference (get_page) but the buffer release only set the bitmap bit. \
     Post one record and read it: the note page's reference count never returns to zero.";
    W7, "free-order", "watch_queue, pipe: Free watchqueue state after clearing pipe ring",
    "db8facfc9faf", "5.17-rc8", None, "fs/pipe.c free_pipe_info", H1,
    "free_pipe_info dropped the pipe's watch_queue reference before releasing the ring, so the \
     release callback wrote the bitmap of a dismantled queue. Post a record, leave it unread, \
     close both ends.";
    W9, "errpath-null", "watch_queue: Fix NULL dereference in error cleanup", "a635415a064e",
    "5.18-rc1", None, "kernel/watch_queue.c watch_queue_set_size", H4,
    "When alloc_page failed part way, the error path freed all nr_pages entries, including the \
     NULL ones not yet allocated. SET_SIZE(33) (two pages) with the second page allocation \
     failed by fail-nth.";
    W10, "watch-leak", "watch_queue: Actually free the watch", "3d8dcf278b1e", "5.18-rc1", None,
    "kernel/watch_queue.c free_watch", H5,
    "The RCU callback that frees a watch dropped its references but never kfree'd the watch. \
     Watch a key, then unwatch it: the watch leaks.";
    W11, "pages-array-leak", "watch_queue: Free the page array when watch_queue is dismantled",
    "b490207017ba", "5.18-rc1", Some("CVE-2022-49148"), "kernel/watch_queue.c __put_watch_queue", H5,
    "__put_watch_queue freed the note pages but not the notes[] array. Size a queue and close it.";
    W16, "dangling-pipe", "watch_queue: prevent dangling pipe pointer", "943211c87427", "6.5-rc1",
    None, "kernel/watch_queue.c watch_queue_clear", Q1,
    "watch_queue_clear only set defunct, leaving wqueue->pipe pointing at the pipe that \
     free_pipe_info then frees. While a watch still holds the queue (until its RCU-deferred \
     free), the queue points at freed memory. Watch a key, close the pipe.";
    W17, "watch-limit", "watch_queue: Limit the number of watches a user can hold",
    "29e44f4535fa", "5.9-rc2", None, "kernel/watch_queue.c add_one_watch", A2,
    "No per-user cap on watches: with RLIMIT_NOFILE at 8, a ninth watch still succeeds.";
    W19, "acct-mismatch", "watch_queue: fix pipe accounting mismatch", "f13abc1e8e1a", "6.15-rc1",
    Some("CVE-2025-23138"), "kernel/watch_queue.c watch_queue_set_size", A1,
    "SET_SIZE recharged the user from nr_accounted (16 pages) to nr_pages but left \
     nr_accounted at 16, so free_pipe_info uncharged 16: user->pipe_bufs drifts from the \
     pages actually held. SET_SIZE(1) on a new notification pipe.";
    P12, "slot-reuse-flags", "lib/iov_iter: initialize \"flags\" in new pipe_buffer",
    "9d2231c5d74e", "5.17-rc6", Some("CVE-2022-0847"), "kernel/watch_queue.c post_one_notification", S3,
    "The Dirty Pipe class: a slot reused without resetting its flags. post_one_notification \
     assigns flags = WHOLE; with `|=` a LOSS flag left on a consumed slot comes back when the \
     ring wraps. Size to 32, post 33 (the last is lost), read everything (the loss record comes \
     with the second read), post 32 more, read twice: a loss record appears with no loss.";
    W2, "post-read-barrier", "watch_queue: Fix lack of barrier/sync/lock between post and read", "2ed147f015af",
    "5.17-rc8", None, "kernel/watch_queue.c post_one_notification, fs/pipe.c pipe_read", D1,
    "post_one_notification filled the slot and stored head with a plain store; pipe_read loaded head \
     plainly under pipe->mutex only. A reader that sees the new head may see the slot's old fields \
     (ops, len, page). Only weak orderings show it: loom reports the unordered slot access.";
    W12, "resize-nolock", "pipe: Fix missing lock in pipe_resize_ring()", "189b0ddc2451", "5.19-rc1",
    Some("CVE-2022-2959"), "fs/pipe.c pipe_resize_ring", H1,
    "pipe_resize_ring checked occupancy, copied the slots and freed the old array without \
     pipe->rd_wait.lock, which posters hold. Watch a key before SET_SIZE, then post while the queue \
     is sized: the post writes into the freed array.";
    W13, "defunct-race", "watchqueue: make sure to serialize 'wqueue->defunct' properly", "353f7988dd84",
    "5.19-rc8", Some("CVE-2022-1882"), "kernel/watch_queue.c __post_watch_notification", H1,
    "Posters read wqueue->pipe without wqueue->lock and checked defunct only under the pipe's \
     rd_wait.lock; a concurrent close cleared the queue and freed the pipe in between, so the poster \
     locked a freed pipe.";
    W14, "add-nolock", "watch_queue: Fix missing locking in add_watch_to_object()", "e64ab2dbd882", "5.19",
    None, "kernel/watch_queue.c add_watch_to_object", D1,
    "add_watch_to_object changed wlist->watchers under key->sem but not wlist->lock, while \
     watch_queue_clear of another queue watching the same key removes under wlist->lock only: the \
     two list updates race (hlist corruption).";
    W18, "write-lockdep", "fs/pipe: Fix lockdep false-positive in watchqueue pipe_write()", "055ca8355991",
    "6.8", None, "fs/pipe.c pipe_write", K1,
    "pipe_write took the notification pipe's mutex before refusing with EXDEV. splice() from a \
     plain pipe into a notification pipe holds the plain pipe's mutex there: two pipe->mutex \
     nested, which lockdep reports.";
    P1, "mask-cache", "pipe: Fix missing mask update after pipe_wait()", "8f868d68d335", "5.5-rc1", None,
    "fs/pipe.c pipe_write", H3,
    "pipe_write cached the ring mask and max_usage across its sleep; F_SETPIPE_SZ shrank the ring \
     meanwhile, so the woken writer wrote past the new, smaller array.";
    P4, "stale-empty", "pipe: fix empty pipe check in pipe_write()", "0dd1e3773ae8", "5.5-rc3", None,
    "fs/pipe.c pipe_write", V2,
    "After its sleep, pipe_write computed was_empty from the head it had before sleeping. When \
     another writer and the reader moved the ring on meanwhile, the pipe was empty but was_empty \
     said otherwise, so the write did not wake the sleeping reader.";
    P8, "min-2-slots", "pipe: increase minimum default pipe size to 2 pages", "46c4c9d1beb7", "5.14", None,
    "fs/pipe.c alloc_pipe_info", V1,
    "A user over the soft pipe-page quota got one-slot pipes. Once the one buffer's data reaches \
     the end of its page, a small write needs a second slot and blocks although the pipe holds a \
     byte or two: a jobserver whose members write tokens back before reading hangs.";
    P10, "u16-index", "fs/pipe: Fix pipe_occupancy() with 16-bit indexes", "c27c66afc449", "6.14-rc6", None,
    "include/linux/pipe_fs_i.h pipe_occupancy, pipe_empty", I1,
    "With 16-bit ring indexes (32-bit kernels, from 6.14), head - tail was computed in unsigned \
     int and pipe_empty compared indexes as unsigned ints, so a locally incremented tail (65536) \
     never equals the stored head (0): FIONREAD's walk over the ring never ends. Start a pipe two \
     slots before the wrap, write two pages, ask FIONREAD.";
    P13, "torn-head-tail", "fs/pipe: Read pipe->{head,tail} atomically outside pipe->mutex", "3d252160b818",
    "6.14-rc6", None, "fs/pipe.c pipe_poll, pipe_readable, pipe_writable", S9,
    "The lockless readers loaded head, then tail, with two READ_ONCE()s; in between, posts and \
     reads can move both. poll() with a zero timeout on a notification pipe holding one record, \
     while a post adds a second and a read takes the first: poll loads head 1, the post makes it \
     2, the read moves tail to 1, poll loads tail 1 and reports the queue empty although it held \
     a record at every instant of the call. In pipe_write()'s wait the same tear (tail past the \
     stale head) reads as a full ring and the writer sleeps on an empty pipe (the hackbench hang \
     that found it). Debian's 6.12 still has it.";
    U1, "quota-released-late", "keys: update key quotas in key_put()", "-", "6.12 (in it, not in 6.1)", None,
    "security/keys/key.c key_put, security/keys/gc.c key_gc_unused_keys, key_garbage_collector", A3,
    "A key's quota went back to its owner only when the collector destroyed the key, tens of \
     milliseconds after its last reference (or later, behind other work). A user at the key \
     quota who unlinks a key and at once adds another gets EDQUOT although it owns one key fewer: \
     two add_key calls at maxkeys with an unlink between. Debian's 6.1 still has it. (The fix's \
     commit is in 6.12's source and not in 6.1's; its hash was not looked up.)";
    F1, "settimeout-notify-unlocked", "keys: post KEYCTL_SET_TIMEOUT's notification under key->sem (proposed)",
    "-", "unfixed", None, "security/keys/keyctl.c keyctl_set_timeout", S6,
    "keyctl_set_timeout calls notify_key after key_set_timeout has released key->sem. An unwatch \
     (KEYCTL_WATCH_KEY -1, under key->sem) can remove the watch and post its removal record while \
     the poster, which already found the watch on the RCU list, has yet to post: the SETATTR \
     record arrives after the removal record. See docs/findings/F1-settimeout-notify-unlocked.md.";
    F2, "note-reuse-unordered", "watch_queue: order a note's release after the reader's copy (proposed)",
    "-", "unfixed", None, "kernel/watch_queue.c watch_queue_pipe_buf_release", D1,
    "The reader copies a record out of its note, then frees the note with set_bit(), which orders \
     nothing. A poster that sees the bit (outside any lock the reader holds) writes the next record \
     into the same note: on weakly ordered CPUs the reader's copy may read the new record. See \
     docs/findings/F2-note-reuse-unordered.md.";
    F3, "note-cleared-after-publish", "watch_queue: claim the note before publishing the slot (proposed)",
    "-", "unfixed", None, "kernel/watch_queue.c post_one_notification", N1,
    "post_one_notification publishes the new head, then test_and_clear_bit()s the note it used. A \
     reader holds pipe->mutex, not rd_wait.lock: it can see the head, copy the record and set the \
     note's bit in watch_queue_pipe_buf_release before the poster clears it. The clear then undoes \
     the release and the note is lost for the queue's lifetime; enough of them and every post is \
     lost. See docs/findings/F3-note-cleared-after-publish.md.";
    F4, "size-published-unlocked", "watch_queue: Fix note pool publication race in watch_queue_set_size()",
    "-", "6.12.115", Some("CVE-2026-99179"), "kernel/watch_queue.c watch_queue_set_size", D1,
    "watch_queue_set_size stored wqueue->notes, notes_bitmap and nr_notes with plain stores under \
     pipe->mutex only, after pipe_resize_ring had dropped rd_wait.lock. A key can be watched before \
     the queue is sized, and its posters read those fields under rd_wait.lock: a data race, and on \
     a weakly ordered CPU a poster could see nr_notes set and notes_bitmap still NULL. Found by this \
     harness and fixed independently upstream (stable 6.12.115 and 6.1.192: nr_notes published last \
     with smp_store_release(), read with smp_load_acquire()), so no longer on by default. See \
     docs/findings/F4-size-published-unlocked.md.";
    F5, "watchers-published-unordered", "keys: publish key->watchers with release (proposed)",
    "-", "unfixed", None, "security/keys/keyctl.c keyctl_watch_key", D1,
    "key_alloc() enters a key in the serial tree before add_key() instantiates it, so a task can \
     look it up by serial as soon as key->state says positive. KEYCTL_WATCH_KEY then installs \
     key->watchers under key->sem with a plain store, while __key_instantiate_and_link() posts \
     INSTANTIATED through notify_key(), which reads key->watchers with a plain load and without \
     key->sem: a data race, and on a weakly ordered CPU the poster can follow the pointer to a watch \
     list whose initialisation it does not see. See docs/findings/F5-watchers-published-unordered.md.";
    F6, "gc-link-quota-leak", "keys: give back the quota of the links keyring_gc() removes (proposed)",
    "-", "unfixed", None, "security/keys/keyring.c keyring_gc", A4,
    "A link in a keyring costs its owner 4 bytes of key quota (KEYQUOTA_LINK_BYTES), charged by \
     __key_link_begin() and given back by __key_unlink(), keyring_clear() and keyring_revoke(). \
     The collector's keyring_gc() removes the links to dead keys with assoc_array_gc() and gives \
     nothing back, so every key that expires, is revoked or invalidated while linked in a live \
     keyring leaves 4 bytes charged for good. A user keyring lives as long as its user namespace: \
     after a few thousand such keys (maxbytes is 20000) the user's add_key fails with EDQUOT \
     although it owns almost nothing. See docs/findings/F6-gc-link-quota-leak.md.";
    F7, "bitmap-read-unsized", "watch_queue: look for a note only in a sized queue (proposed)",
    "-", "unfixed", None, "kernel/watch_queue.c post_one_notification", D1,
    "The fix for F4 publishes nr_notes last with smp_store_release() and reads it with \
     smp_load_acquire(), but post_one_notification() still evaluates \
     find_first_bit(wqueue->notes_bitmap, nr_notes) when the acquire returned 0: the plain load of \
     the bitmap pointer races with watch_queue_set_size()'s plain store of it. The value is unused \
     then, so nothing goes wrong on any CPU, but it is a data race (KCSAN reports plain-plain \
     conflicts). See docs/findings/F7-bitmap-read-unsized.md.";
    F8, "info-id-clobbered-by-rcu", "watch_queue: keep a watch's info_id apart from its rcu_head (proposed)",
    "-", "unfixed", None, "kernel/watch_queue.c __put_watch", D1,
    "struct watch keeps info_id in a union with the rcu_head __put_watch() hands to call_rcu(), \
     which writes head->next at once. A poster walking the watch list under RCU that found the \
     watch before it was unlinked reads info_id after the last put: a data race, and the record \
     gets watch ID 0, or the low half of a kernel address ORed into its length, ID and flags (a \
     length up to 127 copies the poster's stack after its 16-byte notification to user space). \
     See docs/findings/F8-info-id-clobbered-by-rcu.md.";
    X1, "usb-name-overflow", "usb: Add USB subsystem notifications (copy name_len bytes of the name)",
    "-", "never merged", None, "drivers/usb/core/devio.c post_usb_notification", H3,
    "A bug of the patch series (variant v1), found in review (smatch) and agreed by the author: \
     post_usb_notification() copied the device name with memcpy(n.n.name, devname, n_len), n_len \
     being the record's length, round_up(offsetof(name) + name_len, 8), not the name's. Every USB \
     event reads at least 16 bytes past the end of the name string; a name longer than 46 bytes \
     also writes past the 80-byte record on the stack.";
    X2, "device-post-unlocked", "device notifications: post under device_watchers_lock (proposed)",
    "-", "unfixed", None, "drivers/base/watch.c post_device_notification", S6,
    "A bug of the patch series as posted (variant v1), found by this harness: watch_devices() adds \
     and removes watches under device_watchers_lock, but post_device_notification() walks the \
     global list under RCU alone. A block or USB event that found the watch before \
     watch_devices(fd, -1) unlinked it posts after the removal record, so the queue gets a device \
     record after being told its watch is gone. The key source has the same shape as F1, \
     where the poster's key->sem is the lock. The proposed fix takes the lock in the poster.";
    F9, "gc-unlink-unnotified", "keys: tell a keyring's watchers of the links the collector removes (proposed)",
    "-", "unfixed", None, "security/keys/keyring.c keyring_gc", M1,
    "The key collector's keyring_gc() removes the links to dead keys (expired, revoked, \
     invalidated) with assoc_array_gc() and posts nothing, while every other unlink posts \
     NOTIFY_KEY_UNLINKED to the keyring's watchers. A watcher that mirrors a keyring (a desktop's \
     view of its Kerberos tickets) keeps a key the keyring no longer links, with no loss record to \
     make it rescan: an expired key gives no record at all, an invalidated one only to the key's \
     own watchers. See docs/findings/F9-gc-unlink-unnotified.md.";
    X3, "watch-mount-remove-null", "watch_mount: EBADSLT when the mount has no watch list (as in 2018)",
    "-", "unfixed", None, "fs/mount_notify.c sys_watch_mount", H4,
    "A bug of the patch series as posted in 2020 (variant v5), found by this harness: watch_mount() \
     with watch ID -1 calls remove_watch_from_object(m->mnt_watchers, ...) whether or not the \
     mount ever had a watch. The list is made by the first watch, so removing a watch from a \
     mount never watched dereferences NULL (an unprivileged oops: any task may name any path). \
     The 2018 revision had the check (else if (m->mnt_watchers) ... else ret = -EBADSLT) and \
     watch_sb() keeps it; it was lost when the code was reworked.";
    X4, "setattr-ro-flag-misread", "mount notifications: test MNT_READONLY, not SB_RDONLY, in set_mount_attributes (proposed)",
    "-", "unfixed", None, "fs/namespace.c set_mount_attributes", M2,
    "A bug of the patch series as posted in 2020 (variant v5), found by this harness: \
     set_mount_attributes() posts NOTIFY_MOUNT_SETATTR with NOTIFY_MOUNT_IS_NOW_RO when \
     (mnt_flags & SB_RDONLY), but mnt_flags holds MNT_* flags and SB_RDONLY (1) is MNT_NOSUID. A \
     read-only bind remount posts READONLY (read-only) and then SETATTR saying read-write; a \
     nosuid one says read-only. A watcher mirroring the mount table (systemd) ends with the \
     wrong state and no loss record to make it look again.";
    X5, "sb-post-unlocked", "superblock notifications: report errors and quota events under s_umount (proposed)",
    "-", "unfixed", None, "include/linux/fs.h notify_sb_error", S6,
    "A bug of the patch series as posted (variant v5), found by this harness: watch_sb() adds and \
     removes watches under s_umount, and reconfigure_super() posts READONLY under it, but \
     notify_sb_error() and notify_sb_EDQUOT() post from I/O paths walking s_watchers under RCU \
     alone. An I/O error that found the watch before watch_sb(fd, -1) unlinked it posts after \
     the removal record. The shape of F1 and X2. The proposed fix reports under s_umount held \
     for reading (a reporter that cannot sleep needs the list's own lock around the walk \
     instead).";
}

impl BugInfo {
    /// A row of the patch series' unmerged revisions (`X`): it acts only
    /// in its variant (`v1`, `v5`), never on Linux as merged.
    pub fn series_only(&self) -> bool {
        self.id.starts_with('X')
    }
}

impl Bug {
    /// The catalog entry.
    pub fn info(self) -> &'static BugInfo {
        CATALOG.iter().find(|b| b.bug == self).expect("every switch has a catalog row")
    }
    /// Look a switch up by ID (`W1`) or by `ID slug` / slug.
    pub fn from_name(s: &str) -> Option<Bug> {
        let s = s.trim();
        CATALOG
            .iter()
            .find(|b| b.id.eq_ignore_ascii_case(s) || b.slug == s || format!("{} {}", b.id, b.slug) == s)
            .map(|b| b.bug)
    }
    fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.info();
        write!(f, "{} {}", i.id, i.slug)
    }
}

/// The switches a run has on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BugSet(u64);

impl BugSet {
    /// No switch on: every historical bug fixed and every finding given
    /// its proposed fix.
    pub const fn none() -> BugSet {
        BugSet(0)
    }
    /// The kernel as it is today (Linux 6.12): the findings still unfixed
    /// upstream on; and the patch series as it was posted: its `X` rows
    /// that no later revision fixed (they act only in their variant).
    pub fn kernel_today() -> BugSet {
        CATALOG.iter().filter(|b| b.fixed_in == "unfixed").map(|b| b.bug).collect()
    }
    /// The findings still unfixed upstream: what a shipped kernel has of
    /// the catalog besides the historical rows its source still carries.
    pub fn findings_unfixed() -> BugSet {
        CATALOG.iter().filter(|b| b.finding && b.fixed_in == "unfixed").map(|b| b.bug).collect()
    }
    pub fn with(mut self, b: Bug) -> BugSet {
        self.0 |= b.bit();
        self
    }
    pub fn has(&self, b: Bug) -> bool {
        self.0 & b.bit() != 0
    }
    /// The switches on, in catalog order.
    pub fn list(&self) -> Vec<Bug> {
        CATALOG.iter().map(|b| b.bug).filter(|b| self.has(*b)).collect()
    }
}

/// A kernel as Debian ships it: the kernels the real-kernel comparison
/// boots, built from Debian's `linux-source-*` packages. Debian carries
/// stable backports, so which catalog bugs a shipped kernel still has was
/// decided by reading its source, not from the fixing commit's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shipped {
    /// `linux-source-6.12` (6.12.118-1~deb12u1 when last read).
    Debian612,
    /// `linux-source-6.1` (6.1.192-3 when last read).
    Debian61,
}

impl Shipped {
    /// Every shipped kernel, newest first.
    pub const ALL: &[Shipped] = &[Shipped::Debian612, Shipped::Debian61];

    /// The series, as `ci/kernel/build.sh` and `--series` name it.
    pub fn series(self) -> &'static str {
        match self {
            Shipped::Debian612 => "6.12",
            Shipped::Debian61 => "6.1",
        }
    }

    /// The kernel named by its series (`6.12`, `6.1`).
    pub fn from_series(s: &str) -> Option<Shipped> {
        Shipped::ALL.iter().copied().find(|k| k.series() == s)
    }

    /// The catalog's historical bugs this kernel's source still has, each
    /// decided by reading it:
    ///
    /// - P13 (head and tail loaded apart): both. `pipe_poll()`,
    ///   `pipe_readable()` and `pipe_writable()` still load `pipe->head`
    ///   and `pipe->tail` with two `READ_ONCE()`s (6.12's `fs/pipe.c`
    ///   lines 213-214, 419-420, 682-683; 6.1's lines 223-224, 407-408,
    ///   679-680).
    /// - Every other row is fixed in both: W16 (`watch_queue_clear()` sets
    ///   `wqueue->pipe = NULL`), W18 (`pipe_write()` refuses a
    ///   notification pipe before `pipe->mutex`), W19
    ///   (`watch_queue_set_size()` sets `nr_accounted`) were backported to
    ///   6.1; P10 needs 16-bit indexes, which 6.1 does not have; the rest
    ///   were fixed before 6.1.
    ///
    /// - U1 (the key quota given back by the collector): 6.1 only. Its
    ///   `key_put()` (security/keys/key.c line 652) only schedules the
    ///   collector, and `key_gc_unused_keys()` (gc.c line 161) gives the
    ///   quota back; 6.12's `key_put()` (key.c line 658) gives it back.
    ///
    /// Every other difference in code the model mirrors is listed by
    /// `wqsim drift` on 6.1's tree with its review (sim/src/kmap/drift.rs,
    /// `REVIEWED`): most are the same behaviour; five are 6.1 behaviour the
    /// model keeps 6.12's code for, with no catalog row (6.1's
    /// `pipe_write()` and `pipe_read()` move the head and tail under
    /// `rd_wait.lock`, `ep_events_available()` has no `ep->seq`, and a tty
    /// splice whose page allocation fails gives `EAGAIN`).
    pub fn still_present(self) -> &'static [Bug] {
        match self {
            Shipped::Debian612 => &[Bug::P13],
            Shipped::Debian61 => &[Bug::P13, Bug::U1],
        }
    }

    /// The switches that make the model this kernel: the kernel today's
    /// (the findings) and the historical bugs it still has.
    pub fn bugs(self) -> BugSet {
        self.still_present().iter().fold(BugSet::findings_unfixed(), |s, b| s.with(*b))
    }
}

impl FromIterator<Bug> for BugSet {
    fn from_iter<I: IntoIterator<Item = Bug>>(it: I) -> Self {
        it.into_iter().fold(BugSet::none(), BugSet::with)
    }
}

/// Invariants other than [`BugInfo::caught_by`] that a switch's scenario can
/// also trip, because the bug has more than one symptom: an explorer may
/// reach either first. The catalog's own invariant is still the one each
/// switch must be caught by somewhere.
pub fn also_caught_by(bug: Bug) -> &'static [Inv] {
    match bug {
        // The unlocked resize races the posters' ring accesses (a data
        // race under loom) before it can become a use-after-free.
        Bug::W12 => &[Inv::D1],
        // wqueue->pipe is read unlocked (a data race under loom); and a
        // post that passed the defunct test can land after the clear
        // removed its watch (S6).
        Bug::W13 => &[Inv::D1, Inv::S6],
        // The corrupted watch list keeps a watch the clear freed.
        Bug::W14 => &[Inv::H1],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row has a unique ID and can be looked up by ID and slug.
    #[test]
    fn catalog_rows_are_unique_and_named() {
        let mut ids: Vec<_> = CATALOG.iter().map(|b| b.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len());
        for b in CATALOG {
            assert_eq!(Bug::from_name(b.id), Some(b.bug));
            assert_eq!(Bug::from_name(b.slug), Some(b.bug));
            assert_eq!(b.bug.info().id, b.id);
        }
        let set: BugSet = [Bug::W1, Bug::P12].into_iter().collect();
        assert!(set.has(Bug::W1) && set.has(Bug::P12) && !set.has(Bug::W3));
    }
}
