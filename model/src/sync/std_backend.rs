//! The sequential backend: `std` primitives. Runs the model in one thread
//! (the `seq` driver and the conformance runs); it is sound with several
//! threads too, but explores nothing.

pub const BACKEND: &str = "std";

/// Nothing else can run while a thread sleeps: a false wait condition
/// ends at once, as a signal would end it.
pub fn blocking() -> bool {
    false
}

pub mod atomic {
    pub use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
}

/// `cpu_relax()`: a hint only in the std backend.
/// Field accesses of heap objects are no scheduling points here: std runs
/// one schedule, and loom already switches at every access it tracks.
pub fn heap_point() {}

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

pub use super::std_cell::Cell;

/// A condition variable the std backend never waits on (see [`blocking`]).
#[derive(Debug, Default)]
pub struct Condvar(std::sync::Condvar);

impl Condvar {
    pub fn new() -> Self {
        Condvar(std::sync::Condvar::new())
    }
    pub fn wait<'a>(&self, g: RawGuard<'a>) -> RawGuard<'a> {
        self.0.wait(g).unwrap_or_else(|e| e.into_inner())
    }
    pub fn notify_all(&self) {
        self.0.notify_all()
    }
}

/// Threads in the sequential backend run to completion when spawned, one
/// after another: one schedule, no real concurrency (the cells above would
/// refuse it).
pub mod thread {
    /// The result of a thread that has already run.
    pub struct JoinHandle<T>(std::thread::Result<T>);

    impl<T> JoinHandle<T> {
        pub fn join(self) -> std::thread::Result<T> {
            self.0
        }
    }

    /// Run `f` now, on this thread.
    pub fn spawn<F, T>(f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        JoinHandle(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)))
    }

    pub fn yield_now() {}
}
