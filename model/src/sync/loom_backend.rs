//! The loom backend: every lock and atomic is a loom primitive, so loom
//! explores their interleavings under the C11 memory model, and `KCell` is
//! a loom `UnsafeCell`, so an access the kernel's locking does not order is
//! reported as a causality violation (a data race).

pub const BACKEND: &str = "loom";

/// Explorers block for real: a false wait condition sleeps.
pub fn blocking() -> bool {
    true
}

pub mod atomic {
    pub use loom::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize};
    pub use std::sync::atomic::Ordering;
}

/// `cpu_relax()`: a yield, which spin loops need under loom.
/// Field accesses of heap objects are no scheduling points here: std runs
/// one schedule, and loom already switches at every access it tracks.
pub fn heap_point() {}

pub fn cpu_relax() {
    loom::thread::yield_now();
}

#[derive(Debug)]
pub struct RawLock(loom::sync::Mutex<()>);

pub type RawGuard<'a> = loom::sync::MutexGuard<'a, ()>;

impl RawLock {
    pub fn new() -> Self {
        RawLock(loom::sync::Mutex::new(()))
    }
    pub fn lock(&self) -> RawGuard<'_> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for RawLock {
    fn default() -> Self {
        Self::new()
    }
}

/// A condition variable over a [`RawLock`].
#[derive(Debug)]
pub struct Condvar(loom::sync::Condvar);

impl Condvar {
    pub fn new() -> Self {
        Condvar(loom::sync::Condvar::new())
    }
    pub fn wait<'a>(&self, g: RawGuard<'a>) -> RawGuard<'a> {
        self.0.wait(g).unwrap_or_else(|e| e.into_inner())
    }
    pub fn notify_all(&self) {
        self.0.notify_all()
    }
}

/// Plain memory, checked for races by loom.
#[derive(Debug)]
pub struct Cell<T>(loom::cell::UnsafeCell<T>);

// SAFETY: loom serialises its threads and reports every unordered access;
// the kernel code the model follows provides the ordering.
unsafe impl<T: Send> Sync for Cell<T> {}

impl<T: Default> Default for Cell<T> {
    fn default() -> Self {
        Cell::new(T::default())
    }
}

impl<T> Cell<T> {
    pub fn new(v: T) -> Self {
        Cell(loom::cell::UnsafeCell::new(v))
    }
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: loom checks that no write is concurrent with this read.
        self.0.with(|p| f(unsafe { &*p }))
    }
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: loom checks that no access is concurrent with this write.
        self.0.with_mut(|p| f(unsafe { &mut *p }))
    }
}

pub mod thread {
    pub use loom::thread::{JoinHandle, spawn, yield_now};
}
