//! The one synchronisation facade of the model.
//!
//! Every lock, atomic, shared cell and per-thread variable the model uses
//! comes from here, so the same kernel-shaped code runs sequentially under
//! `std`, exhaustively under loom (`--cfg loom`) and under shuttle's
//! schedulers (`--features shuttle`). No other file in `model/src` names
//! `std::sync`, `loom` or `shuttle` (enforced by `tests/tidy.rs`).
//!
//! What is exported, and which kernel object each stands for:
//!
//! | facade item | kernel object |
//! |---|---|
//! | [`SpinLock`] | `spinlock_t` (`pipe->rd_wait.lock`, `wqueue->lock`, `wlist->lock`) |
//! | [`KMutex`] | `struct mutex` (`pipe->mutex`) |
//! | [`RwSem`] | `struct rw_semaphore` (`key->sem`) |
//! | [`KCell`] | plain memory the kernel protects by a lock or an ordering |
//! | [`Kref`] | `struct kref` / `refcount_t` |
//! | [`WaitQueueHead`] | `wait_queue_head_t` (`pipe->rd_wait`, `pipe->wr_wait`) |
//! | [`atomic`] | `atomic_t`, `refcount_t`, bitops, `smp_load_acquire` / `smp_store_release` |
//!
//! Instrumentation that must never become a scheduling point (the heap
//! tracker, the trace, violation bookkeeping) uses [`instr`], which is plain
//! `std` in every backend.

// `--cfg loom` wins over the shuttle feature, so a loom build of a crate
// that depends on the shuttle build of the model gets the loom backend.

#[cfg(not(loom))]
mod std_cell;

#[cfg(not(any(loom, feature = "shuttle")))]
mod std_backend;
#[cfg(not(any(loom, feature = "shuttle")))]
use std_backend as backend;

#[cfg(loom)]
mod loom_backend;
#[cfg(loom)]
use loom_backend as backend;

#[cfg(all(feature = "shuttle", not(loom)))]
mod shuttle_backend;
#[cfg(all(feature = "shuttle", not(loom)))]
use shuttle_backend as backend;

pub use backend::atomic;
pub use backend::{BACKEND, blocking, cpu_relax};

/// Run the shuttle backend as one sequential execution while `on`: a
/// false wait condition ends at once, as in the std backend, and plain
/// accesses take no scheduling step. The explorers set it around a
/// sequential run; returns the previous setting.
#[cfg(all(feature = "shuttle", not(loom)))]
pub fn set_sequential(on: bool) -> bool {
    shuttle_backend::SEQ.swap(on, std::sync::atomic::Ordering::Relaxed)
}

/// Make every field access of a heap object a scheduling point under
/// shuttle (default off): the window between loading an object and using
/// it, where another task may free it, becomes one shuttle can schedule
/// into, as loom can. Each access costs a scheduling step, so explorations
/// run slower (about 20% for the race scenarios under random schedules:
/// `wqsim explore --explorer random --iterations 2000 scenarios/races`,
/// 4.8 s without, 5.8 s with). Returns the previous
/// setting; a no-op in the other backends.
pub fn set_heap_points(on: bool) -> bool {
    #[cfg(all(feature = "shuttle", not(loom)))]
    return shuttle_backend::HEAP_POINTS.swap(on, std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(all(feature = "shuttle", not(loom))))]
    {
        let _ = on;
        false
    }
}

/// A scheduling point before a heap object's field is used, when
/// [`set_heap_points`] turned them on.
pub fn heap_point() {
    backend::heap_point()
}

pub mod context;
pub mod mutation;

use mutation::Operator;

/// Threads of the backend (model threads under loom and shuttle).
pub mod thread {
    pub use super::backend::thread::{JoinHandle, spawn, yield_now};
}

/// Plain `std` primitives for instrumentation: never explored, never a
/// scheduling point. Holding one across a model lock is forbidden.
pub mod instr {
    pub use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    pub use std::sync::{Arc, Once};

    /// A mutex for instrumentation state; poisoning is ignored because a
    /// violation panic is the expected way for a run to end.
    #[derive(Debug, Default)]
    pub struct Mutex<T>(std::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub const fn new(v: T) -> Self {
            Mutex(std::sync::Mutex::new(v))
        }
        /// Under loom and shuttle every model thread runs on one OS
        /// thread, so finding the lock taken means another model thread
        /// holds it across a scheduling point and will never run to
        /// release it: that ends the run as a harness failure, named,
        /// instead of a process that waits for ever.
        pub fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            if super::BACKEND == "std" {
                return self.0.lock().unwrap_or_else(|e| e.into_inner());
            }
            match self.0.try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => panic!(
                    "harness: an instrumentation lock (instr::Mutex<{}>) is held by a model thread across a \
                     scheduling point; take it after the atomic or model lock, not before",
                    std::any::type_name::<T>()
                ),
            }
        }
    }
}

pub use std::sync::Arc;

/// Models `spinlock_t`. The lock carries no data: like the kernel, the model
/// keeps protected fields in [`KCell`]s next to the lock, and the lock's
/// name is the kernel's (`"pipe->rd_wait.lock"`).
///
/// `spin_lock_irq`, `spin_lock_bh` and `spin_lock` all map to [`SpinLock::lock`];
/// interrupt context does not exist in the model.
#[derive(Debug)]
pub struct SpinLock {
    name: &'static str,
    raw: backend::RawLock,
}

/// Held while a [`SpinLock`] is locked; unlocks on drop.
#[must_use = "dropping the guard unlocks at once"]
pub struct SpinGuard<'a> {
    lock: &'a SpinLock,
    /// `None`: a mutant left the lock out ([`mutation::Operator::SkipLock`]),
    /// or has not taken it yet, or has dropped it early
    /// ([`mutation::Operator::NarrowLock`]).
    _raw: Option<backend::RawGuard<'a>>,
    /// A narrowing mutant takes the lock at the first step's end.
    late: bool,
}

impl SpinLock {
    pub fn new(name: &'static str) -> Self {
        SpinLock { name, raw: backend::RawLock::new() }
    }
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// `spin_lock*()`. A mutation site ([`Operator::SkipLock`]).
    pub fn lock(&self) -> SpinGuard<'_> {
        if mutation::hit(Operator::SkipLock, self.name) {
            return SpinGuard { lock: self, _raw: None, late: false };
        }
        self.lock_plain()
    }
    /// `spin_lock*()` at the start of a section whose first step the
    /// model marks (`site` names the lock and the step, and the step ends
    /// at [`SpinGuard::first_step_done`]). A mutation site
    /// ([`Operator::NarrowLock`]: the lock is taken one step late).
    pub fn lock_marked(&self, site: &'static str) -> SpinGuard<'_> {
        if mutation::hit(Operator::NarrowLock, site) {
            return SpinGuard { lock: self, _raw: None, late: true };
        }
        self.lock()
    }
    /// The lock as the wait queue's own code takes it: never mutated.
    fn lock_plain(&self) -> SpinGuard<'_> {
        SpinGuard { lock: self, _raw: Some(self.acquire_raw()), late: false }
    }
    fn acquire_raw(&self) -> backend::RawGuard<'_> {
        context::lock_acquiring(self.name, context::LockKind::Spin);
        let raw = self.raw.lock();
        context::lock_acquired(self.name);
        raw
    }
}

impl SpinGuard<'_> {
    /// The end of the first step of a section taken with
    /// [`SpinLock::lock_marked`]: a narrowing mutant takes the lock here.
    pub fn first_step_done(&mut self) {
        take_late(&mut self.late, &mut self._raw, || self.lock.acquire_raw());
    }
    /// The start of a section's last step (`site` names the lock and the
    /// step). A mutation site ([`Operator::NarrowLock`]: the lock is
    /// dropped here, one step early).
    pub fn last_step_next(&mut self, site: &'static str) {
        drop_early(&mut self._raw, self.lock.name, site);
    }
}

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        if self._raw.is_some() {
            context::lock_released(self.lock.name);
        }
    }
}

/// Models `struct mutex`, a sleeping lock (`pipe->mutex`).
#[derive(Debug)]
pub struct KMutex {
    name: &'static str,
    raw: backend::RawLock,
}

/// Held while a [`KMutex`] is locked; unlocks on drop.
#[must_use = "dropping the guard unlocks at once"]
pub struct KMutexGuard<'a> {
    lock: &'a KMutex,
    /// `None`: a mutant left the lock out, has not taken it yet, or has
    /// dropped it early.
    _raw: Option<backend::RawGuard<'a>>,
    /// A narrowing mutant takes the lock at the first step's end.
    late: bool,
}

impl KMutex {
    pub fn new(name: &'static str) -> Self {
        KMutex { name, raw: backend::RawLock::new() }
    }
    /// `mutex_lock()`. A mutation site ([`Operator::SkipLock`]).
    pub fn lock(&self) -> KMutexGuard<'_> {
        if mutation::hit(Operator::SkipLock, self.name) {
            return KMutexGuard { lock: self, _raw: None, late: false };
        }
        KMutexGuard { lock: self, _raw: Some(self.acquire_raw()), late: false }
    }
    /// `mutex_lock()` at the start of a section whose first step the model
    /// marks, as [`SpinLock::lock_marked`].
    pub fn lock_marked(&self, site: &'static str) -> KMutexGuard<'_> {
        if mutation::hit(Operator::NarrowLock, site) {
            return KMutexGuard { lock: self, _raw: None, late: true };
        }
        self.lock()
    }
    fn acquire_raw(&self) -> backend::RawGuard<'_> {
        context::lock_acquiring(self.name, context::LockKind::Sleeping);
        let raw = self.raw.lock();
        context::lock_acquired_kind(self.name, context::LockKind::Sleeping);
        raw
    }
}

impl KMutexGuard<'_> {
    /// As [`SpinGuard::first_step_done`].
    pub fn first_step_done(&mut self) {
        take_late(&mut self.late, &mut self._raw, || self.lock.acquire_raw());
    }
    /// As [`SpinGuard::last_step_next`].
    pub fn last_step_next(&mut self, site: &'static str) {
        drop_early(&mut self._raw, self.lock.name, site);
    }
}

/// A narrowed lock taken late: at the first step's end, if it was not
/// taken at the start.
fn take_late<'a>(
    late: &mut bool,
    raw: &mut Option<backend::RawGuard<'a>>,
    acquire: impl FnOnce() -> backend::RawGuard<'a>,
) {
    if std::mem::take(late) {
        *raw = Some(acquire());
    }
}

/// A narrowed lock dropped early, at the last step's start
/// ([`Operator::NarrowLock`] on `site`).
fn drop_early(raw: &mut Option<backend::RawGuard<'_>>, name: &'static str, site: &'static str) {
    if mutation::hit(Operator::NarrowLock, site) && raw.is_some() {
        context::lock_released(name);
        *raw = None;
    }
}

impl Drop for KMutexGuard<'_> {
    fn drop(&mut self) {
        if self._raw.is_some() {
            context::lock_released(self.lock.name);
        }
    }
}

/// Models `struct rw_semaphore` (`key->sem`). Readers are modelled as
/// writers: the model never relies on reader concurrency under `key->sem`.
///
/// APPROX: `down_read` excludes other readers, so read-read overlap under
/// `key->sem` is not explored.
#[derive(Debug)]
pub struct RwSem {
    name: &'static str,
    raw: backend::RawLock,
}

/// Held while an [`RwSem`] is taken; released on drop.
#[must_use = "dropping the guard releases the semaphore at once"]
pub struct RwSemGuard<'a> {
    sem: &'a RwSem,
    /// `None`: a mutant left the semaphore out.
    _raw: Option<backend::RawGuard<'a>>,
}

impl RwSem {
    pub fn new(name: &'static str) -> Self {
        RwSem { name, raw: backend::RawLock::new() }
    }
    /// `down_write()`. A mutation site ([`Operator::SkipLock`]).
    pub fn down_write(&self) -> RwSemGuard<'_> {
        if mutation::hit(Operator::SkipLock, self.name) {
            return RwSemGuard { sem: self, _raw: None };
        }
        context::lock_acquiring(self.name, context::LockKind::Sleeping);
        let raw = self.raw.lock();
        context::lock_acquired_kind(self.name, context::LockKind::Sleeping);
        RwSemGuard { sem: self, _raw: Some(raw) }
    }
    /// `down_read()` (see the APPROX note on the type).
    pub fn down_read(&self) -> RwSemGuard<'_> {
        self.down_write()
    }
}

impl Drop for RwSemGuard<'_> {
    fn drop(&mut self) {
        if self._raw.is_some() {
            context::lock_released(self.sem.name);
        }
    }
}

/// Plain kernel memory: a field the kernel protects by a lock or by an
/// ordering rather than by an atomic type. Under loom this is a checked
/// `UnsafeCell`, so an access the kernel's locking does not order is
/// reported as a data race.
#[derive(Debug, Default)]
pub struct KCell<T>(backend::Cell<T>);

impl<T> KCell<T> {
    pub fn new(v: T) -> Self {
        KCell(backend::Cell::new(v))
    }
    /// Read access.
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        note_access();
        self.0.with(f)
    }
    /// Write access.
    #[track_caller]
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        note_access();
        self.0.with_mut(f)
    }
    /// A plain store.
    #[track_caller]
    pub fn set(&self, v: T) {
        note_access();
        self.0.with_mut(|x| *x = v)
    }
    /// Replace the value, returning the old one.
    #[track_caller]
    pub fn replace(&self, v: T) -> T {
        note_access();
        self.0.with_mut(|x| std::mem::replace(x, v))
    }
}

/// A word-sized field the kernel writes under a lock but reads without
/// one (`key->perm`, `key->uid` in `key_task_permission()`): an aligned
/// word's plain loads and stores are single-copy atomic on every
/// architecture the kernel runs on (KCSAN assumes so by default,
/// `CONFIG_KCSAN_ASSUME_PLAIN_WRITES_ATOMIC`), so the model makes them
/// `READ_ONCE()`/`WRITE_ONCE()`: relaxed atomics, which order nothing else.
#[derive(Debug)]
pub struct KWord(atomic::AtomicU32);

impl KWord {
    pub fn new(v: u32) -> Self {
        KWord(atomic::AtomicU32::new(v))
    }
    /// `READ_ONCE()`.
    pub fn get(&self) -> u32 {
        self.0.load(atomic::Ordering::Relaxed)
    }
    /// `WRITE_ONCE()`.
    pub fn set(&self, v: u32) {
        self.0.store(v, atomic::Ordering::Relaxed)
    }
}

impl<T: Clone> KCell<T> {
    /// A plain load.
    #[track_caller]
    pub fn get(&self) -> T {
        note_access();
        self.0.with(|x| x.clone())
    }
}

// Under loom, the site of the latest access to kernel memory, so that a
// data-race report can say where the racing access was (loom's own report
// names no place). One per OS thread: loom runs its threads on the
// caller's.
#[cfg(loom)]
std::thread_local! {
    static LAST_ACCESS: std::cell::Cell<Option<(&'static std::panic::Location<'static>, &'static str)>> =
        const { std::cell::Cell::new(None) };
}

#[cfg(loom)]
#[track_caller]
fn note_access() {
    // Accesses made while a race report unwinds (guards dropping) are not
    // the racing one.
    if std::thread::panicking() {
        return;
    }
    let loc = std::panic::Location::caller();
    let func = context::current_fn();
    LAST_ACCESS.with(|c| c.set(Some((loc, func))));
}

#[cfg(not(loom))]
#[inline(always)]
fn note_access() {}

/// Where the latest access to kernel memory happened (loom only):
/// `file:line (function)`.
pub fn last_access() -> Option<String> {
    #[cfg(loom)]
    {
        LAST_ACCESS.with(|c| c.get()).map(|(l, f)| {
            let file = l.file().rsplit_once("model/").map(|(_, r)| r).unwrap_or(l.file());
            format!("{file}:{} ({f})", l.line())
        })
    }
    #[cfg(not(loom))]
    {
        None
    }
}

/// What the driver of a concurrent run knows about each actor thread:
/// running, asleep in a wait queue, or done. Not a kernel object: the
/// driver waits on it (outside lockdep) until no actor is running.
#[derive(Debug)]
pub struct ActorStates {
    raw: backend::RawLock,
    cv: backend::Condvar,
    states: KCell<Vec<ActorState>>,
}

/// One actor's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorState {
    Running,
    Asleep,
    Done,
}

impl ActorStates {
    pub fn new(n: usize) -> Self {
        ActorStates {
            raw: backend::RawLock::new(),
            cv: backend::Condvar::new(),
            states: KCell::new(vec![ActorState::Running; n]),
        }
    }
    /// Record actor `i`'s state and wake the driver (under loom only when
    /// an actor is done or no actor runs, the moments it waits for).
    pub fn set(&self, i: usize, s: ActorState) {
        let _g = self.raw.lock();
        let idle = self.states.with_mut(|v| {
            v[i] = s;
            v.iter().all(|s| *s != ActorState::Running)
        });
        // Under loom every wake-up of the driver is an interleaving to
        // explore (and finds nothing): wake it only for what it waits for.
        // Shuttle keeps waking it on every change, the schedules its
        // catalog tests and fuzz seeds were recorded with.
        if idle || s == ActorState::Done || BACKEND != "loom" {
            self.cv.notify_all();
        }
    }
    /// Sleep until `done(states)` holds; `done` must hold only once an
    /// actor is done or no actor runs (see [`ActorStates::set`]).
    pub fn wait_until(&self, done: impl Fn(&[ActorState]) -> bool) -> Vec<ActorState> {
        let mut g = self.raw.lock();
        loop {
            let v = self.states.get();
            if done(&v) {
                return v;
            }
            g = self.cv.wait(g);
        }
    }
    /// The states now.
    pub fn snapshot(&self) -> Vec<ActorState> {
        let _g = self.raw.lock();
        self.states.get()
    }
}

/// `smp_store_release()`. A mutation site ([`Operator::RelaxRelease`]).
pub fn smp_store_release(a: &atomic::AtomicU32, v: u32) {
    let relaxed = mutation::hit(Operator::RelaxRelease, "smp_store_release");
    a.store(v, if relaxed { atomic::Ordering::Relaxed } else { atomic::Ordering::Release })
}

/// `smp_load_acquire()`. A mutation site ([`Operator::RelaxAcquire`]).
pub fn smp_load_acquire(a: &atomic::AtomicU32) -> u32 {
    let relaxed = mutation::hit(Operator::RelaxAcquire, "smp_load_acquire");
    a.load(if relaxed { atomic::Ordering::Relaxed } else { atomic::Ordering::Acquire })
}

/// `READ_ONCE()` of an index: a relaxed load.
pub fn read_once(a: &atomic::AtomicU32) -> u32 {
    a.load(atomic::Ordering::Relaxed)
}

/// A plain store of a value other CPUs read locklessly (`WRITE_ONCE()` or a
/// plain C store: both are relaxed here).
pub fn write_once(a: &atomic::AtomicU32, v: u32) {
    a.store(v, atomic::Ordering::Relaxed)
}

/// Declares a per-thread variable: a std `thread_local!` in the std
/// backend, a per-model-thread one under the explorers.
#[cfg(not(any(loom, feature = "shuttle")))]
#[macro_export]
macro_rules! facade_thread_local {
    ($($t:tt)*) => { std::thread_local!($($t)*); };
}

/// Declares a per-thread variable (loom: one per model thread).
#[cfg(loom)]
#[macro_export]
macro_rules! facade_thread_local {
    ($($t:tt)*) => { loom::thread_local!($($t)*); };
}

/// Declares a per-thread variable (shuttle: one per model thread).
#[cfg(all(feature = "shuttle", not(loom)))]
#[macro_export]
macro_rules! facade_thread_local {
    ($($t:tt)*) => { shuttle::thread_local!($($t)*); };
}

/// `refcount_t: underflow; use-after-free`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefcountUnderflow;

/// Models `struct kref` (a `refcount_t`): atomic, with the full barrier
/// `refcount_dec_and_test()` implies.
#[derive(Debug)]
pub struct Kref(atomic::AtomicU32);

impl Kref {
    /// `kref_init()`: one reference.
    pub fn new() -> Self {
        Kref(atomic::AtomicU32::new(1))
    }
    /// `kref_get()`; returns the new count. A mutation site
    /// ([`Operator::DropGet`]).
    pub fn get(&self) -> u32 {
        if mutation::hit(Operator::DropGet, "kref") {
            return self.read();
        }
        self.0.fetch_add(1, atomic::Ordering::AcqRel) + 1
    }
    /// `refcount_inc_not_zero()` (`kref_get_unless_zero()`): take a
    /// reference unless the last one is already gone, in one atomic step.
    /// Returns whether it took one.
    pub fn get_unless_zero(&self) -> bool {
        let mut cur = self.0.load(atomic::Ordering::Relaxed);
        loop {
            if cur == 0 {
                return false;
            }
            match self.0.compare_exchange(cur, cur + 1, atomic::Ordering::AcqRel, atomic::Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }
    /// `kref_put()`: true when this dropped the last reference (the caller
    /// then runs the release function). An underflow, which `refcount_t`
    /// reports as a use-after-free, is an error.
    pub fn put(&self) -> Result<bool, RefcountUnderflow> {
        if mutation::hit(Operator::DropPut, "kref") {
            return Ok(false);
        }
        let old = self.0.fetch_sub(1, atomic::Ordering::AcqRel);
        if old == 0 {
            self.0.store(0, atomic::Ordering::Relaxed);
            return Err(RefcountUnderflow);
        }
        Ok(old == 1)
    }
    /// `kref_read()`.
    pub fn read(&self) -> u32 {
        self.0.load(atomic::Ordering::Relaxed)
    }
}

impl Default for Kref {
    fn default() -> Self {
        Self::new()
    }
}

/// The function of a wait-queue entry that is not a sleeping task
/// (`init_waitqueue_func_entry()`): epoll's `ep_poll_callback()`. It runs
/// under the wait queue's lock, at every wake-up, and the entry stays.
#[derive(Clone)]
pub struct WakeFunc(pub instr::Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for WakeFunc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WakeFunc")
    }
}

#[derive(Debug, Clone)]
struct Waiter {
    id: u32,
    exclusive: bool,
    woken: bool,
    asleep: bool,
    /// A function entry: called at each wake-up instead of being woken.
    func: Option<WakeFunc>,
    /// A poll entry's events (`poll_wait()` with the caller's key): what
    /// would end its sleep.
    poll_events: Option<u32>,
    /// The driver's record of the sleeping actor: a wake-up makes it
    /// runnable at once, as `try_to_wake_up()` sets `TASK_RUNNING` before
    /// the woken task gets a CPU.
    actor: Option<(instr::Arc<ActorStates>, usize)>,
}

#[derive(Debug, Default)]
struct WaitList {
    next_id: u32,
    waiters: Vec<Waiter>,
}

std::thread_local! {
    static WAITS_END: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with every wait on this thread ending at once when its
/// condition is false (`-ERESTARTSYS`), as in a sequential run, under
/// every backend: a program's setup runs so in the concurrent runner,
/// before any other thread exists, so a call that would sleep there is
/// seen (and deferred work let run) instead of sleeping for good.
pub fn with_waits_ending<R>(f: impl FnOnce() -> R) -> R {
    // Restored on the way out, a violation's panic included: the next run
    // on this thread must block again.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            WAITS_END.with(|w| w.set(self.0));
        }
    }
    let _restore = Restore(WAITS_END.with(|w| w.replace(true)));
    f()
}

fn waits_block() -> bool {
    blocking() && !WAITS_END.with(|w| w.get())
}

/// Models `wait_queue_head_t`: its spinlock (which notification pipes use
/// as the ring lock, `pipe->rd_wait.lock`) and its sleepers.
///
/// A sleeper enqueues under the lock, tests its condition, and sleeps
/// until a wake-up picks it; wakers hold the lock. Exclusive sleepers
/// (`pipe_read`, `pipe_write`) are woken one per wake-up, as
/// `__wake_up_common` does with `nr_exclusive = 1`. In the std backend
/// nobody else can run while a thread sleeps, so a wait whose condition is
/// false ends as if a signal interrupted it (`-ERESTARTSYS`).
#[derive(Debug)]
pub struct WaitQueueHead {
    /// The wait queue's own spinlock.
    pub lock: SpinLock,
    list: KCell<WaitList>,
    cv: backend::Condvar,
    /// A signal was delivered to every sleeper (the run is ending).
    signalled: atomic::AtomicBool,
    /// Wake-ups delivered so far.
    wakeups: atomic::AtomicU32,
}

/// The outcome of an interruptible wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitResult {
    /// The condition became true.
    Woken,
    /// The sleep was interrupted (`-ERESTARTSYS`).
    Interrupted,
}

impl WaitQueueHead {
    pub fn new(lock_name: &'static str) -> Self {
        WaitQueueHead {
            lock: SpinLock::new(lock_name),
            list: KCell::new(WaitList::default()),
            cv: backend::Condvar::new(),
            signalled: atomic::AtomicBool::new(false),
            wakeups: atomic::AtomicU32::new(0),
        }
    }

    /// `wait_event_interruptible_exclusive(wq, cond)`.
    pub fn wait_event_interruptible_exclusive(&self, cond: impl Fn() -> bool) -> WaitResult {
        self.wait_event(true, cond)
    }

    /// `wait_event_interruptible(wq, cond)`.
    pub fn wait_event_interruptible(&self, cond: impl Fn() -> bool) -> WaitResult {
        self.wait_event(false, cond)
    }

    /// A poll entry: `poll_wait()` queues the task (non-exclusive) and the
    /// file's `->poll` then reads its state (`cond`); `poll_schedule_timeout()`
    /// sleeps unless a wake-up came since, and `do_poll()` polls again.
    /// `early`: the state was read before the task was queued (a mutant's
    /// reordering of `->poll`), so a wake-up in between is lost.
    /// `events` are what the poller asks for (with `POLLERR`, `POLLHUP`).
    pub fn poll_wait_event(&self, early: bool, events: u32, cond: impl Fn() -> bool) -> WaitResult {
        self.wait_event_ordered(false, early, Some(events), cond)
    }

    fn wait_event(&self, exclusive: bool, cond: impl Fn() -> bool) -> WaitResult {
        self.wait_event_ordered(exclusive, false, None, cond)
    }

    fn wait_event_ordered(
        &self,
        exclusive: bool,
        early: bool,
        poll_events: Option<u32>,
        cond: impl Fn() -> bool,
    ) -> WaitResult {
        context::sleeping("wait_event");
        if !waits_block() {
            return if cond() { WaitResult::Woken } else { WaitResult::Interrupted };
        }
        // The first check of a reordered poll, made before the enqueue.
        let mut before = early.then(&cond);
        loop {
            // prepare_to_wait*(): enqueue under the wait-queue lock.
            let id = {
                let _g = self.lock.lock_plain();
                self.list.with_mut(|l| {
                    l.next_id += 1;
                    let id = l.next_id;
                    l.waiters.push(Waiter {
                        id,
                        exclusive,
                        woken: false,
                        asleep: false,
                        func: None,
                        poll_events,
                        actor: context::current_actor(),
                    });
                    id
                })
            };
            let ready = match before.take() {
                Some(r) => r,
                None => cond(),
            };
            let result = if ready {
                Some(WaitResult::Woken)
            } else if self.signalled.load(atomic::Ordering::Acquire) {
                Some(WaitResult::Interrupted)
            } else {
                None
            };
            let g = self.lock.lock_plain();
            if let Some(r) = result {
                // finish_wait()
                self.list.with_mut(|l| l.waiters.retain(|w| w.id != id));
                drop(g);
                return r;
            }
            // schedule(): sleep until a wake-up picks us or a signal
            // arrives. A wake-up that came between the enqueue and here
            // already made the task runnable: it does not sleep at all.
            let already = self.list.with(|l| l.waiters.iter().any(|w| w.id == id && w.woken));
            if !already {
                self.list.with_mut(|l| l.waiters.iter_mut().filter(|w| w.id == id).for_each(|w| w.asleep = true));
                context::note_sleep(true);
            }
            let mut g = g;
            loop {
                let woken = self.list.with(|l| l.waiters.iter().any(|w| w.id == id && w.woken));
                if woken || self.signalled.load(atomic::Ordering::Acquire) {
                    break;
                }
                g = g.wait(&self.cv);
            }
            self.list.with_mut(|l| l.waiters.retain(|w| w.id != id));
            drop(g);
            context::note_sleep(false);
            if self.signalled.load(atomic::Ordering::Acquire) {
                return WaitResult::Interrupted;
            }
            // Woken: loop and test the condition again.
        }
    }

    fn wake_locked(&self, nr_exclusive: u32) {
        self.wakeups.fetch_add(1, atomic::Ordering::Release);
        let mut nr = nr_exclusive;
        let (any, funcs) = self.list.with_mut(|l| {
            let funcs: Vec<WakeFunc> = l.waiters.iter().filter_map(|w| w.func.clone()).collect();
            let mut any = false;
            for w in l.waiters.iter_mut().filter(|w| !w.woken && w.func.is_none()) {
                if w.exclusive {
                    if nr == 0 {
                        continue;
                    }
                    nr -= 1;
                }
                w.woken = true;
                if let Some((states, i)) = &w.actor {
                    states.set(*i, ActorState::Running);
                }
                any = true;
            }
            (any, funcs)
        });
        if any {
            self.cv.notify_all();
        }
        // Function entries (epoll's), called with the lock held as
        // __wake_up_common() calls them; they stay queued.
        for f in funcs {
            (f.0)();
        }
    }

    /// `wake_up_interruptible*()` (one exclusive sleeper), from a caller
    /// that does not hold the lock.
    pub fn wake_up(&self) {
        if mutation::hit(Operator::DropWakeup, self.lock.name) {
            return;
        }
        let _g = self.lock.lock_plain();
        self.wake_locked(1);
    }

    /// `wake_up_interruptible_all()`. A mutation site, as every wake-up
    /// is ([`Operator::DropWakeup`]).
    pub fn wake_up_all(&self) {
        if mutation::hit(Operator::DropWakeup, self.lock.name) {
            return;
        }
        let _g = self.lock.lock_plain();
        self.wake_locked(u32::MAX);
    }

    /// `wake_up_*_locked()`: the caller holds [`WaitQueueHead::lock`].
    pub fn wake_up_locked(&self, _held: &SpinGuard<'_>) {
        if mutation::hit(Operator::DropWakeup, self.lock.name) {
            return;
        }
        self.wake_locked(1);
    }

    /// Deliver a signal to every sleeper, now and later (the driver ends a
    /// run this way once every other thread has finished).
    pub fn signal_all(&self) {
        let _g = self.lock.lock_plain();
        self.signalled.store(true, atomic::Ordering::Release);
        self.cv.notify_all();
    }

    /// `add_wait_queue()` of a function entry (`init_waitqueue_func_entry()`);
    /// returns the entry's id for [`WaitQueueHead::remove_wait_queue`].
    pub fn add_wait_queue(&self, func: WakeFunc) -> u32 {
        let _g = self.lock.lock_plain();
        self.list.with_mut(|l| {
            l.next_id += 1;
            let id = l.next_id;
            l.waiters.push(Waiter {
                id,
                exclusive: false,
                woken: false,
                asleep: false,
                func: Some(func),
                poll_events: None,
                actor: None,
            });
            id
        })
    }

    /// `remove_wait_queue()` of a function entry.
    pub fn remove_wait_queue(&self, id: u32) {
        let _g = self.lock.lock_plain();
        self.list.with_mut(|l| l.waiters.retain(|w| w.id != id));
    }

    /// Sleepers that are asleep and not picked by any wake-up.
    pub fn sleepers(&self) -> u32 {
        let _g = self.lock.lock_plain();
        self.list.with(|l| l.waiters.iter().filter(|w| w.asleep && !w.woken).count() as u32)
    }

    /// Tasks asleep here that are not polling (readers, writers).
    pub fn plain_sleepers(&self) -> u32 {
        let _g = self.lock.lock_plain();
        self.list.with(|l| l.waiters.iter().filter(|w| w.asleep && !w.woken && w.poll_events.is_none()).count() as u32)
    }

    /// The events of each poller asleep here.
    pub fn poll_sleepers(&self) -> Vec<u32> {
        let _g = self.lock.lock_plain();
        self.list.with(|l| l.waiters.iter().filter(|w| w.asleep && !w.woken).filter_map(|w| w.poll_events).collect())
    }

    /// Wake-ups delivered so far.
    pub fn wakeups(&self) -> u32 {
        self.wakeups.load(atomic::Ordering::Relaxed)
    }
}

impl<'a> SpinGuard<'a> {
    /// Sleep on `cv`, releasing the lock meanwhile (the tail of
    /// `schedule()` under a wait queue).
    fn wait(self, cv: &backend::Condvar) -> SpinGuard<'a> {
        let lock = self.lock;
        let raw = unsafe_take_raw(self);
        context::lock_released(lock.name);
        let raw = cv.wait(raw);
        context::lock_acquired(lock.name);
        SpinGuard { lock, _raw: Some(raw), late: false }
    }
}

/// Move the raw guard out of a `SpinGuard` without running its `Drop`.
fn unsafe_take_raw(g: SpinGuard<'_>) -> backend::RawGuard<'_> {
    let g = std::mem::ManuallyDrop::new(g);
    // SAFETY: `g` is never used or dropped again; the raw guard is moved
    // out exactly once.
    let raw = unsafe { std::ptr::read(&g._raw) };
    raw.expect("the wait queue's own lock is never left out by a mutant")
}
