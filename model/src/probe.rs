//! Protocol states a run reached: the places where the notification
//! queue's rare paths begin. The model marks them as it runs; the fuzz
//! targets turn each state (and each combination) into a branch of its
//! own, so coverage-guided search is rewarded for reaching them, and the
//! nightly summary lists which states a corpus reached.
//!
//! The marks are kept per OS thread: loom and shuttle run every modelled
//! task on the thread that started the exploration, and a run starts with
//! [`reset`].

use std::cell::Cell;
use std::fmt;

/// One protocol state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// `post_one_notification()` found the ring full (`pipe_full()`).
    RingFull,
    /// A lost post set `PIPE_BUF_FLAG_LOSS` on the newest slot.
    LossFlagged,
    /// `find_first_bit()` found no free note (`note >= nr_notes`).
    NotesExhausted,
    /// `watch_queue_clear()` began while a post was under way in
    /// `__post_watch_notification()`.
    TeardownDuringPost,
    /// `pipe_resize_ring()` moved queued slots into a new ring.
    ResizeWithRecords,
    /// `watch_queue_set_filter()` swapped the filter while a post was
    /// under way.
    FilterReplacedDuringPost,
}

impl State {
    pub const ALL: [State; 6] = [
        State::RingFull,
        State::LossFlagged,
        State::NotesExhausted,
        State::TeardownDuringPost,
        State::ResizeWithRecords,
        State::FilterReplacedDuringPost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::RingFull => "ring-full",
            State::LossFlagged => "loss-flag-set",
            State::NotesExhausted => "notes-exhausted",
            State::TeardownDuringPost => "teardown-during-post",
            State::ResizeWithRecords => "resize-with-records",
            State::FilterReplacedDuringPost => "filter-replaced-during-post",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct States(pub u8);

impl States {
    pub fn contains(self, s: State) -> bool {
        self.0 & s.bit() != 0
    }
    pub fn with(self, s: State) -> States {
        States(self.0 | s.bit())
    }
    pub fn union(self, o: States) -> States {
        States(self.0 | o.0)
    }
    pub fn list(self) -> Vec<State> {
        State::ALL.into_iter().filter(|s| self.contains(*s)).collect()
    }
}

impl fmt::Display for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.list().into_iter().map(State::name).collect();
        if names.is_empty() { f.write_str("(none)") } else { f.write_str(&names.join(" ")) }
    }
}

std::thread_local! {
    static REACHED: Cell<u8> = const { Cell::new(0) };
    static POSTING: Cell<u32> = const { Cell::new(0) };
}

/// Forget what earlier runs on this thread reached.
pub fn reset() {
    REACHED.with(|r| r.set(0));
    POSTING.with(|p| p.set(0));
}

/// Mark `s` reached.
pub fn reach(s: State) {
    REACHED.with(|r| r.set(r.get() | s.bit()));
}

/// What this thread's runs reached since the last [`reset`].
pub fn reached() -> States {
    States(REACHED.with(|r| r.get()))
}

/// Whether some task is inside `__post_watch_notification()`.
pub fn posting() -> bool {
    POSTING.with(|p| p.get() > 0)
}

/// Marks a task inside `__post_watch_notification()` until dropped.
pub struct Posting(());

impl Posting {
    pub fn enter() -> Posting {
        POSTING.with(|p| p.set(p.get() + 1));
        Posting(())
    }
}

impl Drop for Posting {
    fn drop(&mut self) {
        POSTING.with(|p| p.set(p.get().saturating_sub(1)));
    }
}
