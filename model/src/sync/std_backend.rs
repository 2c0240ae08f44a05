//! The sequential backend: `std` primitives. Runs the model in one thread
//! (the `seq` driver and the conformance runs); it is sound with several
//! threads too, but explores nothing.

pub const BACKEND: &str = "std";

pub mod atomic {
    pub use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
}

/// `cpu_relax()`: a hint only in the std backend.
pub fn cpu_relax() {
    std::hint::spin_loop();
}

/// A lock without data.
#[derive(Debug, Default)]
pub struct RawLock(std::sync::Mutex<()>);

pub type RawGuard<'a> = std::sync::MutexGuard<'a, ()>;

impl RawLock {
    pub fn new() -> Self {
        RawLock(std::sync::Mutex::new(()))
    }
    pub fn lock(&self) -> RawGuard<'_> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Plain memory. In the std backend it is a mutex taken for the duration of
/// each access; a nested access to the same cell is a bug in the model and
/// panics rather than deadlocks.
#[derive(Debug, Default)]
pub struct Cell<T>(std::sync::Mutex<T>);

impl<T> Cell<T> {
    pub fn new(v: T) -> Self {
        Cell(std::sync::Mutex::new(v))
    }
    fn guard(&self) -> std::sync::MutexGuard<'_, T> {
        match self.0.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                panic!("model bug: nested or concurrent access to one KCell in the std backend")
            }
        }
    }
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.guard())
    }
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.guard())
    }
}

/// A sleep in the std backend: nobody else runs, so a false condition can
/// only end with a signal.
pub fn wait_event(_lock: &super::SpinLock, _wakeups: &atomic::AtomicU32, cond: &dyn Fn() -> bool) -> super::WaitResult {
    if cond() { super::WaitResult::Woken } else { super::WaitResult::Interrupted }
}

/// Nothing sleeps in the std backend.
pub fn wake(_wakeups: &atomic::AtomicU32) {}
