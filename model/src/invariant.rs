//! The invariant vocabulary: every invariant's ID, title and statement
//! (`I1` ring occupancy, `N1` note conservation, ...), the [`Violation`]
//! that reports one, [`fail`] and [`wq_assert!`](crate::wq_assert). The
//! bottom layer of the model: kernel mirrors and machinery cite these IDs,
//! and nothing here depends on any other module. The checks over record
//! streams and model state live in the oracle.
//!
//! A violation panics with a stable first line,
//! `invariant I1 violated: ring occupancy (head=33 tail=0 ring_size=32)`,
//! so tests can match it exactly and drivers can parse it back.

use std::fmt;

macro_rules! invariants {
    ($($(#[doc = $doc:expr])* $id:ident => $name:expr;)*) => {
        /// An invariant of the notification queue, by ID.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Inv { $($(#[doc = $doc])* $id),* }

        impl Inv {
            /// Every invariant.
            pub const ALL: &'static [Inv] = &[$(Inv::$id),*];
            /// The short noun phrase ("note conservation").
            pub fn title(self) -> &'static str { match self { $(Inv::$id => $name),* } }
            /// The ID as printed ("N1").
            pub fn id(self) -> &'static str { match self { $(Inv::$id => stringify!($id)),* } }
            /// Parse an ID.
            pub fn from_id(s: &str) -> Option<Inv> {
                match s { $(stringify!($id) => Some(Inv::$id),)* _ => None }
            }
        }
    };
}

invariants! {
    /// **Use-after-free.** No model object is touched after it was freed.
    /// Kernel: every pointer the code dereferences. Broken by W7, W13.
    H1 => "use-after-free";
    /// **Double free.** Every object is freed once.
    H2 => "double-free";
    /// **Out-of-bounds.** Every array index lies inside its allocation.
    /// Kernel: the filter array, the note bitmap. Broken by W1, W4 (64 KiB pages).
    H3 => "out-of-bounds";
    /// **NULL dereference.** Broken by W9.
    H4 => "null-ptr-deref";
    /// **No leak at teardown.** Once every file is closed, every key is
    /// destroyed and RCU has quiesced, nothing the notification queue
    /// allocated is still allocated. Broken by W3, W6, W10, W11.
    H5 => "no leak at teardown";
    /// **No kernel BUG.** `BUG()` is never reached (a note handed out twice
    /// in `post_one_notification`).
    B1 => "no kernel BUG";
    /// **No sleep in atomic context.** Nothing takes a sleeping lock or
    /// sleeps while holding a spinlock ("BUG: sleeping function called
    /// from invalid context").
    B2 => "no sleep under a spinlock";
    /// **Ring occupancy.** `0 <= head - tail <= ring_size` for notification
    /// pipes (`max_usage` bounds writers of plain pipes). Kernel: `pipe_full`.
    I1 => "ring occupancy";
    /// **Live slots.** Exactly the slots in `[tail, head)` have `ops` set.
    /// Kernel: `pipe_buf_release` clears `ops`; posting sets it.
    I2 => "live slots exactly [tail, head)";
    /// **Published slots.** A reader that sees `head` also sees the fields
    /// of every slot below it. Kernel: the store-release of `head` in
    /// `post_one_notification` pairs with the load-acquire in `pipe_read`.
    I3 => "slot published before head";
    /// **Power-of-two ring.** `ring_size` is a power of two, so
    /// `index & (ring_size - 1)` never aliases two live slots. Broken by W5.
    I4 => "power-of-two ring";
    /// **Note conservation.** Set bits in the whole note bitmap plus notes
    /// held by live slots equal `nr_notes`, and no note is held twice.
    /// Broken by W4.
    N1 => "note conservation";
    /// **FIFO.** Each queue's readers see accepted posts in the order they
    /// were accepted. Broken by W5.
    S1 => "FIFO per queue";
    /// **Nothing invented or duplicated.** Every record a reader sees was
    /// accepted exactly once by a post (or is a fabricated loss record).
    S2 => "nothing invented or duplicated";
    /// **Loss records.** Exactly one 8-byte loss record follows each record
    /// that was the newest queued one when a post was lost, before the next
    /// record; none appears otherwise (a loss on an empty ring is dropped).
    /// Broken by P12.
    S3 => "one loss record per flagged record";
    /// **Whole records.** Every `read()` returns whole records only, never
    /// more bytes than asked.
    S4 => "whole records only";
    /// **Filters respected.** A record is queued through a watch iff the
    /// queue's filter (as userspace specified it) accepts it.
    S5 => "filters respected";
    /// **Silence after removal.** No record of a watched object reaches a
    /// queue after that watch's removal record, until it is watched again.
    S6 => "no record for a watch after its removal";
    /// **One removal per destruction.** An object destroyed while a queue
    /// watches it posts exactly one removal record to that queue for each
    /// watch the queue had on it: one for a key or a superblock, one per
    /// watched dentry for a ver #5 mount (its records all carry the
    /// mount's ID).
    S7 => "one removal record per destroyed object per queue";
    /// **No spurious loss.** A post is lost to a full ring only when the
    /// ring is full: the decision `post_one_notification()` makes under
    /// `rd_wait.lock` agrees with `head` and `tail` as they are under that
    /// lock (readers move `tail` only under it). A loss the user sees
    /// (`PIPE_BUF_FLAG_LOSS`, the fabricated loss record) then means the
    /// queue had no room.
    S8 => "no loss while the ring has room";
    /// **Poll answers held.** Each bit `poll()` or `epoll_wait()` reports
    /// for a pipe end, and each it leaves out, was right at some instant of
    /// the call: on the read end `POLLIN` (the ring held a slot) and
    /// `POLLHUP` (no writer), on the write end `POLLOUT` (the ring was below
    /// `max_usage`) and `POLLERR` (no reader), checked against the pipe's
    /// history (every store of `head`, `tail`, `max_usage`, `readers` and
    /// `writers`). An epoll answer for a file whose last reference went
    /// during the call is not judged. Broken by P13.
    S9 => "poll answers held at some instant of the call";
    /// **No dangling pipe pointer.** A live `watch_queue` points at a live
    /// pipe or at nothing. Broken by W16.
    Q1 => "no dangling wqueue->pipe";
    /// **Refcount balance.** A live watch_queue's `usage` equals its
    /// pipe's reference plus one per live watch on it; a live watch's
    /// `usage` equals the lists that still hold it.
    R1 => "refcount balance";
    /// **Pipe accounting.** A user's `pipe_bufs` equals the sum of
    /// `nr_accounted` over that user's live pipes. Broken by W19.
    A1 => "pipe page accounting";
    /// **No data race.** Kernel memory that the kernel protects by a lock
    /// or an ordering is never accessed concurrently without it (loom's
    /// causality check, KCSAN's job in the kernel). Broken by W2, W12, W14.
    D1 => "no data race";
    /// **No deadlock or hang.** No run ends with threads blocked for good:
    /// all of them blocked on locks (a deadlock), or asleep in a wait queue
    /// once nobody is left to wake them. Broken by P8.
    V1 => "no deadlock or hang";
    /// **No lost wake-up.** Once the threads that could wake it are done,
    /// no reader sleeps while a record it could read is queued, no
    /// writer sleeps while there is room, and no `epoll_wait()` sleeps
    /// while the pipe end it watches is ready. Broken by P4.
    V2 => "no lost wake-up";
    /// **Lock order.** The lock-acquisition graph (lockdep) has no cycle,
    /// and no lock class is taken while already held, whether or not the
    /// explored schedule deadlocked. Broken by W18.
    K1 => "lock order";
    /// **Watch limit.** Adding a watch never takes a user's `nr_watches`
    /// past `RLIMIT_NOFILE`, and `nr_watches` counts the user's watches.
    /// Broken by W17.
    A2 => "watch count within RLIMIT_NOFILE";
    /// **Key quota accounting.** A user's key quota (`qnkeys`, `qnbytes`
    /// in `/proc/key-users`) counts exactly the keys charged to it that
    /// still have a reference, and their `quotalen` bytes: a key whose
    /// last reference is gone no longer holds its owner's quota. Broken by
    /// U1.
    A3 => "key quota counts the referenced keys";
    /// **Link quota.** A keyring whose last reference is not gone is
    /// charged 4 bytes (`KEYQUOTA_LINK_BYTES`) for each link it holds, no
    /// more: what a link costs goes back when the link goes. Broken by F6.
    A4 => "a keyring's link quota matches its links";
    /// **Dead keys reaped.** Once deferred work has run, no keyring the
    /// collector scans still links a key that is invalidated, or that
    /// expired or was revoked `key_gc_delay` seconds ago or more: the
    /// promise of `/proc/sys/kernel/keys/gc_delay` ("the number of seconds
    /// after a key expires or is revoked before it is garbage collected",
    /// Documentation/security/keys/core.rst). Broken by the mutant
    /// `revoke-keeps-expiry`.
    G1 => "dead keys unlinked after gc_delay";
    /// **A watcher's mirror converges.** The way these queues are meant to
    /// be used: a watcher keeps a mirror of a keyring's links current
    /// from its records (`LINKED` adds the key in `aux` and drops the key
    /// of the same type and description it displaces, `UNLINKED` removes
    /// it, `CLEARED` empties the mirror) and rescans the keyring
    /// when it reads a loss record. Once every record of a queue is read,
    /// with deferred work done, the mirror of each keyring still watched
    /// and alive equals the keyring's links: the kernel never sleeps to
    /// post, and a watcher can always repair what it lost. The mirror
    /// starts from a scan when the watch is set on a sized queue (the
    /// order the documentation gives: on an unsized queue every post is
    /// lost with no loss record, `scenarios/loss/loss-on-empty-ring-dropped.wq`).
    /// Broken by F9 and by the mutant `clear-unnotified`.
    M1 => "a watcher's mirror converges";
    /// **A mount watcher's mirror converges** (ver #5). A watcher of a
    /// mount's root (systemd's view of the mount table) mirrors the
    /// mounts below it, each with its parent and read-only state, from
    /// the records: `NEW_MOUNT` and `MOVE_TO` add the auxiliary mount
    /// under the trigger (and query what hangs below a moved one),
    /// `UNMOUNT` and `MOVE_FROM` drop it and its subtree, `READONLY` and
    /// `SETATTR` set the trigger's read-only state from
    /// `NOTIFY_MOUNT_IS_NOW_RO`, and each record's counters are the
    /// trigger's change counter. At a loss record it rescans as the cover
    /// letter says: `fsinfo()`'s `{id, change_counter}` of each mount's
    /// children, rereading a mount's attributes only when its counter
    /// moved. Once the queue is read to its end, the mirror equals the
    /// mounts below the watched one. Broken by X4 and by the mutant
    /// `mount-attr-counter-forgotten`.
    M2 => "a mount watcher's mirror converges";
    /// **The LSM's word holds.** No record other than a meta record
    /// reaches a queue whose watcher the policy forbids it to: under
    /// Smack, a record is queued only if its originator's label may write
    /// the watcher's (`smack_post_notification()`: rules, the same label,
    /// the star object `*`; a task labelled `*` writes nothing), judged by
    /// the oracle's own reading of the labels the poster saw. Removal
    /// records bypass the hook, as in the kernel; an allowed record's
    /// arrival is the S invariants' to check. Broken by the mutant
    /// `smack-post-lets-updates-through`.
    L1 => "no record the LSM forbids reaches a queue";
}

impl fmt::Display for Inv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A reported violation: which invariant, and the details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub inv: Inv,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {} violated: {}", self.inv, self.message)
    }
}

impl Violation {
    /// Parse the first line of a violation panic back.
    pub fn parse(s: &str) -> Option<Violation> {
        let rest = s.strip_prefix("invariant ")?;
        let (id, msg) = rest.split_once(" violated: ")?;
        Some(Violation { inv: Inv::from_id(id)?, message: msg.to_string() })
    }
}

/// Report a violation: panic with the stable first line.
#[track_caller]
pub fn fail(inv: Inv, message: impl Into<String>) -> ! {
    let v = Violation { inv, message: message.into() };
    std::panic::panic_any(v.to_string())
}

/// Assert an invariant: `wq_assert!(I1, occ <= ring_size, "head={head} tail={tail}")`.
/// Always on, in release builds too.
#[macro_export]
macro_rules! wq_assert {
    ($inv:ident, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $crate::invariant::fail($crate::invariant::Inv::$inv, format!($($fmt)+));
        }
    };
}
