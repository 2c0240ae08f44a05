//! The shuttle backend: locks, condition variables, atomics and threads
//! are shuttle's, so its random, PCT and DFS schedulers choose every
//! interleaving at those points. Shuttle treats every ordering as SeqCst,
//! so memory-ordering bugs are loom's to find.

pub const BACKEND: &str = "shuttle";

/// Set while an explorer runs a program as one sequential execution
/// (see [`super::set_sequential`]): waits then end at once, as in the std
/// backend.
pub static SEQ: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Explorers block for real (a false wait condition sleeps), except in a
/// sequential run.
pub fn blocking() -> bool {
    !SEQ.load(std::sync::atomic::Ordering::Relaxed)
}

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

/// Plain memory. Every access is a scheduling point, taken just before the
/// access: shuttle may run another thread between two plain accesses, as
/// a CPU may, so a missing lock shows up as an interleaving (a poster
/// writing into a ring another thread just freed), not only as an
/// ordering. Shuttle runs one thread at a time and never switches inside
/// the access itself, so the std cell underneath is sound.
#[derive(Debug, Default)]
pub struct Cell<T>(super::std_cell::Cell<T>);

impl<T> Cell<T> {
    pub fn new(v: T) -> Self {
        Cell(super::std_cell::Cell::new(v))
    }
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        switch();
        self.0.with(f)
    }
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        switch();
        self.0.with_mut(f)
    }
}

/// A scheduling point that is not a yield (shuttle's `sleep` is a plain
/// context switch; time is not modelled). A sequential run has no other
/// thread to switch to at a plain access, so it takes no step there: a
/// scheduling point per access would make the oracle's sweep over every
/// pipe after every operation cost a recorded step each, quadratic in a
/// long `repeat`.
/// Whether a field access of a heap object is a scheduling point too
/// ([`super::set_heap_points`]).
pub static HEAP_POINTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A scheduling point before a heap object's field is used, when turned on.
pub fn heap_point() {
    if HEAP_POINTS.load(std::sync::atomic::Ordering::Relaxed) {
        switch();
    }
}

fn switch() {
    if SEQ.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    shuttle::thread::sleep(std::time::Duration::ZERO);
}

pub mod thread {
    pub use shuttle::thread::{JoinHandle, spawn, yield_now};
}
