//! Mutants: edits of the kind a kernel patch could make, applied at run
//! time at a site the model already names, so a sweep needs no rebuild.
//!
//! A site is an [`Operator`], the kernel function it edits (the innermost
//! [`super::context::kfn`] label, the kernel's own name) and the object
//! (a lock's kernel name, `smp_store_release`, `kref`, ...). The facade's
//! primitives, and the RCU code built on them, ask [`hit`] before they
//! act: while a census runs it records every site reached, and while a
//! mutant is active the one site that matches behaves as the edit says
//! (the lock is not taken, the release store is relaxed, the wake-up is
//! not sent, ...). Nothing else changes, so with no mutant active the
//! model is the kernel.
//!
//! The state is process-wide and plain `std`: it is configuration, not
//! modelled memory, and never a scheduling point.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What a mutant does at its site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// `spin_lock*()`, `mutex_lock()` or `down_write()` left out, with its
    /// unlock: the critical section runs unprotected.
    SkipLock,
    /// `smp_store_release()` as a plain store (`WRITE_ONCE`).
    RelaxRelease,
    /// `smp_load_acquire()` as a plain load (`READ_ONCE`).
    RelaxAcquire,
    /// `rcu_assign_pointer()` as a plain store.
    PlainPublish,
    /// `rcu_dereference()` as a plain load.
    PlainDereference,
    /// `call_rcu()` / `kfree_rcu()` freeing at once, with no grace period.
    NoGracePeriod,
    /// A `wake_up*()` left out.
    DropWakeup,
    /// A `kref_get()` / `refcount_inc()` left out.
    DropGet,
    /// A `kref_put()` / `refcount_dec_and_test()` left out.
    DropPut,
    /// A lock taken one marked step late, or dropped one marked step
    /// early (`SpinLock::lock_marked`, `SpinGuard::last_step_next`).
    NarrowLock,
    /// Two adjacent steps the model marks ([`steps`]) run in the other
    /// order.
    SwapSteps,
    /// A wake-up moved before the state change it announces (a marked
    /// pair of steps whose second is the wake-up).
    EarlyWakeup,
    /// Ring index arithmetic off by one: the mask `ring_size - 1` as
    /// `ring_size`, or `pipe_full()`'s `>=` as `>`.
    OffByOne,
    /// A flag assigned instead of OR-ed in (`flags = F` for `flags |= F`,
    /// a plain store for `set_bit()`), so the word's other flags are lost.
    AssignFlag,
}

impl Operator {
    pub const ALL: [Operator; 14] = [
        Operator::SkipLock,
        Operator::RelaxRelease,
        Operator::RelaxAcquire,
        Operator::PlainPublish,
        Operator::PlainDereference,
        Operator::NoGracePeriod,
        Operator::DropWakeup,
        Operator::DropGet,
        Operator::DropPut,
        Operator::NarrowLock,
        Operator::SwapSteps,
        Operator::EarlyWakeup,
        Operator::OffByOne,
        Operator::AssignFlag,
    ];

    /// Its name in reports and on the command line (`skip-lock`).
    pub fn name(self) -> &'static str {
        match self {
            Operator::SkipLock => "skip-lock",
            Operator::RelaxRelease => "relax-release",
            Operator::RelaxAcquire => "relax-acquire",
            Operator::PlainPublish => "plain-publish",
            Operator::PlainDereference => "plain-dereference",
            Operator::NoGracePeriod => "no-grace-period",
            Operator::DropWakeup => "drop-wakeup",
            Operator::DropGet => "drop-get",
            Operator::DropPut => "drop-put",
            Operator::NarrowLock => "narrow-lock",
            Operator::SwapSteps => "swap-steps",
            Operator::EarlyWakeup => "early-wakeup",
            Operator::OffByOne => "off-by-one",
            Operator::AssignFlag => "assign-flag",
        }
    }

    pub fn from_name(s: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|o| o.name() == s)
    }

    /// What the edit is, in the kernel's terms.
    pub fn about(self) -> &'static str {
        match self {
            Operator::SkipLock => "a lock and its unlock left out",
            Operator::RelaxRelease => "smp_store_release() as WRITE_ONCE()",
            Operator::RelaxAcquire => "smp_load_acquire() as READ_ONCE()",
            Operator::PlainPublish => "rcu_assign_pointer() as a plain store",
            Operator::PlainDereference => "rcu_dereference() as a plain load",
            Operator::NoGracePeriod => "call_rcu()/kfree_rcu() freeing at once",
            Operator::DropWakeup => "a wake_up*() left out",
            Operator::DropGet => "a kref_get() left out",
            Operator::DropPut => "a kref_put() left out",
            Operator::NarrowLock => "a lock's scope narrowed by one step",
            Operator::SwapSteps => "two adjacent steps swapped",
            Operator::EarlyWakeup => "a wake-up before the change it announces",
            Operator::OffByOne => "ring index arithmetic off by one",
            Operator::AssignFlag => "a flag assigned instead of OR-ed",
        }
    }
}

/// Where a mutant applies: the operator, the kernel function, the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site {
    pub func: &'static str,
    pub op: Operator,
    pub object: &'static str,
}

impl fmt::Display for Site {
    /// `skip-lock pipe->rd_wait.lock in post_one_notification`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} in {}", self.op.name(), self.object, self.func)
    }
}

impl Site {
    /// The site's ID: `post_one_notification:skip-lock:pipe->rd_wait.lock`
    /// (no spaces, so it is one command-line word).
    pub fn id(&self) -> String {
        format!("{}:{}:{}", self.func, self.op.name(), self.object)
    }
}

static ON: AtomicBool = AtomicBool::new(false);
static ACTIVE: Mutex<Option<Site>> = Mutex::new(None);
static CENSUS: Mutex<Option<BTreeSet<Site>>> = Mutex::new(None);
static APPLIED: AtomicU64 = AtomicU64::new(0);

fn refresh() {
    let on = lock(&ACTIVE).is_some() || lock(&CENSUS).is_some();
    ON.store(on, Ordering::Relaxed);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Make `site` the active mutant (`None`: the model as the kernel is).
pub fn activate(site: Option<Site>) {
    *lock(&ACTIVE) = site;
    APPLIED.store(0, Ordering::Relaxed);
    refresh();
}

/// The active mutant.
pub fn active() -> Option<Site> {
    *lock(&ACTIVE)
}

/// How often the active mutant's edit has been applied since
/// [`activate`]: 0 means the runs never reached its site.
pub fn applied() -> u64 {
    APPLIED.load(Ordering::Relaxed)
}

/// Start recording every site the model reaches.
pub fn start_census() {
    *lock(&CENSUS) = Some(BTreeSet::new());
    refresh();
}

/// Stop recording; the sites reached, in order (function, operator,
/// object).
pub fn finish_census() -> Vec<Site> {
    let sites = lock(&CENSUS).take().unwrap_or_default();
    refresh();
    sites.into_iter().collect()
}

/// The ordering of a release store on `object` (a store that publishes:
/// `smp_store_release(&pipe->head)`, `set_bit` after the fix): `Release`,
/// or `Relaxed` when the active mutant is [`Operator::RelaxRelease`] here.
pub fn release(object: &'static str) -> Ordering {
    if hit(Operator::RelaxRelease, object) { Ordering::Relaxed } else { Ordering::Release }
}

/// The ordering of an acquire load on `object`: `Acquire`, or `Relaxed`
/// when the active mutant is [`Operator::RelaxAcquire`] here.
pub fn acquire(object: &'static str) -> Ordering {
    if hit(Operator::RelaxAcquire, object) { Ordering::Relaxed } else { Ordering::Acquire }
}

/// The ring's index mask, `ring_size - 1` (`pipe->ring_size - 1` in
/// `pipe_read()`, `pipe_write()`, `post_one_notification()`, ...);
/// `ring_size` under [`Operator::OffByOne`].
pub fn ring_mask(ring_size: u32) -> u32 {
    if hit(Operator::OffByOne, "ring_size - 1") { ring_size } else { ring_size.wrapping_sub(1) }
}

/// `pipe_full()`'s comparison, `occupancy >= limit`; `>` under
/// [`Operator::OffByOne`].
pub fn at_limit(occupancy: u32, limit: u32) -> bool {
    if hit(Operator::OffByOne, "pipe_full") { occupancy > limit } else { occupancy >= limit }
}

/// `old | bits` (`flags |= bits`); `bits` alone under
/// [`Operator::AssignFlag`] on `object`.
pub fn or_bits(old: u32, bits: u32, object: &'static str) -> u32 {
    if hit(Operator::AssignFlag, object) { bits } else { old | bits }
}

/// Two adjacent steps of a kernel function, `first` then `second`, as the
/// kernel orders them; swapped under `op` ([`Operator::SwapSteps`], or
/// [`Operator::EarlyWakeup`] when `second` is the wake-up) on `object`,
/// which names the two steps.
pub fn steps<A, B>(
    op: Operator,
    object: &'static str,
    first: impl FnOnce() -> A,
    second: impl FnOnce() -> B,
) -> (A, B) {
    if hit(op, object) {
        let b = second();
        (first(), b)
    } else {
        let a = first();
        (a, second())
    }
}

/// Whether the active mutant edits this site (`op` on `object` in the
/// current kernel function); during a census, also records the site.
pub fn hit(op: Operator, object: &'static str) -> bool {
    if !ON.load(Ordering::Relaxed) {
        return false;
    }
    let func = super::context::current_fn();
    // Outside every kernel function (the model's own boot and checks)
    // there is no kernel line to edit.
    if func == "(userspace)" {
        return false;
    }
    let site = Site { func, op, object };
    if let Some(c) = lock(&CENSUS).as_mut() {
        c.insert(site);
    }
    if *lock(&ACTIVE) == Some(site) {
        APPLIED.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    false
}
