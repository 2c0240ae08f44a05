//! The cell of the std and shuttle backends: a mutex taken for the
//! duration of each access, so a nested access (a model bug) panics instead
//! of deadlocking.

/// Plain memory, one mutex per cell.
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
