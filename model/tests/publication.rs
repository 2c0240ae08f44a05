//! Publication and RCU ordering under loom, each seen failing and holding:
//!
//! - the heap's publication check: an object whose pointer reaches another
//!   task through a relaxed store is read without its initialisation
//!   ordered before the read, a data race (D1) even when the object has no
//!   field the kernel protects by a lock; published with a release store
//!   and read with an acquire load, it holds;
//! - RCU: read-side sections order nothing among themselves, and a section
//!   that starts after `call_rcu()` sees what the updater stored before it.
//!
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p wqsim-model --test publication`.

#![cfg(loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicU32, Ordering};
use wqsim_model::heap::{Arena, Id};
use wqsim_model::kernel::{Config, Kernel};

/// Explore `f` under loom: the panic it raised, if any.
fn explore(f: impl Fn() + Send + Sync + std::panic::UnwindSafe + 'static) -> Option<String> {
    let r = std::panic::catch_unwind(move || loom::model(f));
    r.err().map(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// One task allocates an object and publishes its pointer with `store`;
/// another loads it with `load` and reads the object. The panic loom
/// raised, if any.
fn publish(store: Ordering, load: Ordering) -> Option<String> {
    explore(move || {
        let k = Arc::new(Kernel::boot(Config::default()));
        let arena = Arc::new(Arena::<u32>::default());
        let slot = Arc::new(AtomicU32::new(0));
        let t = {
            let (k, arena, slot) = (k.clone(), arena.clone(), slot.clone());
            loom::thread::spawn(move || {
                let (id, _) = k.heap.alloc_in(&arena, "object", 7);
                slot.store(Id::to_word(Some(id)), store);
            })
        };
        if let Some(id) = Id::<u32>::from_word(slot.load(load)) {
            assert_eq!(**arena.get(id), 7);
        }
        t.join().unwrap();
    })
}

#[test]
fn a_pointer_published_relaxed_is_a_data_race() {
    let report = publish(Ordering::Relaxed, Ordering::Acquire).expect("the unordered read must be reported");
    assert!(report.contains("Causality violation"), "{report}");
}

#[test]
fn a_pointer_published_with_release_holds() {
    assert_eq!(publish(Ordering::Release, Ordering::Acquire), None);
}

/// RCU orders what its guarantee says and nothing more, seen both ways
/// under loom. Two tasks run `body(kernel, task)` at once; the panic loom
/// raised, if any.
fn two_tasks(body: fn(&Kernel, u32, &Shared)) -> Option<String> {
    explore(move || {
        let k = Arc::new(Kernel::boot(Config::default()));
        let shared = Arc::new(Shared { word: wqsim_model::sync::KCell::new(0), arena: Arena::default() });
        let t = {
            let (k, shared) = (k.clone(), shared.clone());
            loom::thread::spawn(move || body(&k, 2, &shared))
        };
        body(&k, 1, &shared);
        t.join().unwrap();
    })
}

/// What the two tasks share: a plain word, and where the updater
/// allocates the object it frees through RCU.
struct Shared {
    word: wqsim_model::sync::KCell<u32>,
    arena: Arena<u32>,
}

/// Read-side sections order nothing among themselves: a word one section
/// writes and a later section reads, with no other ordering, is a data
/// race (as two RCU readers racing on plain memory are in the kernel).
#[test]
fn read_side_sections_order_nothing() {
    let report = two_tasks(|k, task, s| {
        let cx = k.cx(task);
        let _rcu = wqsim_model::rcu::rcu_read_lock(&cx);
        if task == 1 {
            s.word.set(1);
        } else {
            s.word.get();
        }
    })
    .expect("two read-side sections do not order a plain word");
    assert!(report.contains("Causality violation"), "{report}");
}

/// A section that starts after `call_rcu()` (one its grace period does
/// not wait for) sees everything the updater stored before it.
#[test]
fn a_section_after_call_rcu_sees_the_updaters_stores() {
    let report = two_tasks(|k, task, s| {
        let cx = k.cx(task);
        if task == 1 {
            s.word.set(1);
            let (_, obj) = k.heap.alloc_in(&s.arena, "object", 7);
            wqsim_model::rcu::kfree_rcu(&cx, wqsim_model::heap::Obj::hdr(&obj));
        } else {
            let _rcu = wqsim_model::rcu::rcu_read_lock(&cx);
            if k.rcu.pending() > 0 {
                assert_eq!(s.word.get(), 1);
            }
        }
    });
    assert_eq!(report, None);
}
