//! The shuttle backend: locks, condition variables, atomics and threads
//! are shuttle's, so its random, PCT and DFS schedulers choose every
//! interleaving at those points. Shuttle treats every ordering as SeqCst,
//! so memory-ordering bugs are loom's to find.

pub const BACKEND: &str = "shuttle";

/// Explorers block for real: a false wait condition sleeps.
pub const BLOCKING: bool = true;

pub mod atomic {
    pub use shuttle::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize};
    pub use std::sync::atomic::Ordering;
}

/// `cpu_relax()`: a yield, so a spinning thread lets others run.
pub fn cpu_relax() {
    shuttle::thread::yield_now();
}

#[derive(Debug, Default)]
pub struct RawLock(shuttle::sync::Mutex<()>);

pub type RawGuard<'a> = shuttle::sync::MutexGuard<'a, ()>;

impl RawLock {
    pub fn new() -> Self {
        RawLock(shuttle::sync::Mutex::new(()))
    }
    pub fn lock(&self) -> RawGuard<'_> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A condition variable over a [`RawLock`].
#[derive(Debug, Default)]
pub struct Condvar(shuttle::sync::Condvar);

impl Condvar {
    pub fn new() -> Self {
        Condvar(shuttle::sync::Condvar::new())
    }
    pub fn wait<'a>(&self, g: RawGuard<'a>) -> RawGuard<'a> {
        self.0.wait(g).unwrap_or_else(|e| e.into_inner())
    }
    pub fn notify_all(&self) {
        self.0.notify_all()
    }
}

/// Plain memory. Shuttle runs one thread at a time and switches only at
/// its own operations, none of which happen inside an access, so the std
/// cell is sound here.
pub use super::std_cell::Cell;

pub mod thread {
    pub use shuttle::thread::{JoinHandle, spawn, yield_now};
}
