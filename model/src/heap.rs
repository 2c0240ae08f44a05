//! Object lifetimes, checked the way KASAN and kmemleak check them.
//!
//! Every model object the kernel allocates (pipe, ring array, watch_queue,
//! note pages and their array, the note bitmap, filters, watches, watch
//! lists, keys) lives behind a [`KHeader`]. Freeing marks the header; the
//! Rust memory stays until the run ends (a quarantine that never expires),
//! so a later access is *detected* rather than undefined:
//!
//! - [`Obj`] checks liveness on every field access (`Deref`, with the
//!   caller's file and line), reporting `H1 use-after-free`;
//! - [`Heap::kfree`] reports `H2 double-free`;
//! - [`KArray`] and [`KBitmap`] bound every index, reporting `H3 out-of-bounds`;
//! - dereferencing an absent pointer reports `H4 null-ptr-deref`;
//! - [`Heap::leaks`] lists what is still allocated at teardown (`H5 leak`).
//!
//! Objects point at one another through typed ids ([`Id`]) resolved in an
//! [`Arena`], so reference cycles in the model (pipe <-> watch_queue) never
//! leak Rust memory between runs.

use std::marker::PhantomData;
use std::panic::Location;

use crate::invariant::{Inv, fail};
use crate::sync::atomic::{AtomicU64 as FAtomicU64, Ordering as FOrdering};
use crate::sync::instr::{self, Arc, AtomicU32, Ordering};
use crate::trace;

const LIVE: u32 = 0;
const RCU_PENDING: u32 = 1;
const FREED: u32 = 2;

#[derive(Debug)]
struct HdrShared {
    id: u32,
    kind: &'static str,
    state: AtomicU32,
    alloc_by: &'static str,
    freed_by: instr::Mutex<Option<String>>,
    /// Whether this object must be gone when the model is torn down.
    tracked: bool,
    /// Under loom, the object's memory as its allocation initialised it:
    /// every field access reads it, so a task that reaches the object
    /// through a pointer published without an ordering (a relaxed store,
    /// a plain `rcu_assign_pointer`) reads memory whose initialisation it
    /// need not see, a data race (D1), as on a weakly ordered CPU.
    #[cfg(loom)]
    init: crate::sync::KCell<()>,
}

/// The allocation header of one model object: its kind, a run-unique id,
/// and whether it is live, queued for an RCU-deferred free, or freed.
#[derive(Clone, Debug)]
pub struct KHeader(Arc<HdrShared>);

impl KHeader {
    /// `kind#id`, for example `watch_queue#3`.
    pub fn name(&self) -> String {
        format!("{}#{}", self.0.kind, self.0.id)
    }
    pub fn kind(&self) -> &'static str {
        self.0.kind
    }
    pub fn id(&self) -> u32 {
        self.0.id
    }
    /// Live or waiting for an RCU grace period (still readable).
    pub fn is_live(&self) -> bool {
        self.0.state.load(Ordering::Relaxed) != FREED
    }
    /// Queued by `kfree_rcu()`/`call_rcu()` and not yet freed.
    pub fn is_rcu_pending(&self) -> bool {
        self.0.state.load(Ordering::Relaxed) == RCU_PENDING
    }
    /// Report `H1 use-after-free` if the object was freed.
    #[track_caller]
    pub fn check(&self) {
        if self.0.state.load(Ordering::Relaxed) == FREED {
            let loc = Location::caller();
            let by = self.0.freed_by.lock().clone().unwrap_or_default();
            trace::note_memory(trace::Event::Used {
                tid: trace::current_tid(),
                obj: self.name(),
                func: trace::current_fn(),
                at: format!("{}:{}", short_file(loc.file()), loc.line()),
            });
            fail(
                Inv::H1,
                format!(
                    "use-after-free: {} accessed in {} at {}:{} (freed by {by})",
                    self.name(),
                    trace::current_fn(),
                    short_file(loc.file()),
                    loc.line()
                ),
            );
        }
    }
    fn freed_by_here(&self, how: &str) -> String {
        format!("{how} in {}", trace::current_fn())
    }
}

/// A source location as the repository names it (`model/src/pipe.rs`),
/// whichever package compiled the file.
fn short_file(f: &str) -> String {
    f.rsplit_once("model/").map(|(_, r)| format!("model/{r}")).unwrap_or_else(|| f.to_string())
}

/// A model object: its header and its fields. Reading a field goes through
/// `Deref`, which reports `H1` if the object was freed.
#[derive(Debug)]
pub struct Obj<T> {
    hdr: KHeader,
    inner: T,
}

impl<T> std::ops::Deref for Obj<T> {
    type Target = T;
    #[track_caller]
    fn deref(&self) -> &T {
        crate::sync::heap_point();
        self.hdr.check();
        #[cfg(loom)]
        self.hdr.0.init.with(|_| ());
        &self.inner
    }
}

impl<T> Obj<T> {
    /// The header (not a field access: never reports).
    pub fn hdr(this: &Self) -> &KHeader {
        &this.hdr
    }
    /// The fields without the liveness check or a scheduling point, for
    /// the oracle's reports on freed objects and the trace's bookkeeping.
    /// Model code never uses it for what the kernel does.
    pub fn raw(this: &Self) -> &T {
        &this.inner
    }
}

/// A typed reference to an object in an [`Arena`] (a kernel pointer).
pub struct Id<T> {
    index: u32,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Id<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Id<T> {}
impl<T> PartialEq for Id<T> {
    fn eq(&self, o: &Self) -> bool {
        self.index == o.index
    }
}
impl<T> Eq for Id<T> {}
impl<T> PartialOrd for Id<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Id<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.index.cmp(&o.index)
    }
}
impl<T> std::hash::Hash for Id<T> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.index.hash(h)
    }
}
impl<T> std::fmt::Debug for Id<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.index)
    }
}

impl<T> Id<T> {
    /// The arena index (stable within a run).
    pub fn index(self) -> u32 {
        self.index
    }
    /// Encode as a non-zero word for an atomic pointer cell.
    pub fn to_word(this: Option<Self>) -> u32 {
        this.map_or(0, |i| i.index + 1)
    }
    /// Decode [`Id::to_word`].
    pub fn from_word(w: u32) -> Option<Self> {
        (w != 0).then(|| Id { index: w - 1, _t: PhantomData })
    }
}

/// Where objects of one type live for the length of a run.
#[derive(Debug)]
pub struct Arena<T> {
    items: instr::Mutex<Vec<Arc<Obj<T>>>>,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena { items: instr::Mutex::new(Vec::new()) }
    }
}

impl<T> Arena<T> {
    /// Resolve an id. Resolving never reports; touching a field of a freed
    /// object does.
    pub fn get(&self, id: Id<T>) -> Arc<Obj<T>> {
        self.items.lock()[id.index as usize].clone()
    }
    /// All objects ever allocated here, in allocation order.
    pub fn all(&self) -> Vec<(Id<T>, Arc<Obj<T>>)> {
        self.items
            .lock()
            .iter()
            .enumerate()
            .map(|(i, o)| (Id { index: i as u32, _t: PhantomData }, o.clone()))
            .collect()
    }
}

/// Allocation failure injection, after the kernel's `fail-nth`
/// (`/proc/thread-self/fail-nth`): the n-th fault-injection point from now
/// fails, once.
#[derive(Debug, Default)]
pub struct FailNth {
    armed: AtomicU32,
    /// Every fault point reached, for reports: (site, failed).
    pub log: instr::Mutex<Vec<(&'static str, bool)>>,
}

impl FailNth {
    /// Arm: the `n`-th allocation from now fails (0 disarms).
    pub fn arm(&self, n: u32) {
        self.armed.store(n, Ordering::Relaxed);
    }
    /// Called at every fault-injection point (`should_failslab`,
    /// `should_fail_alloc_page`). True means "fail this allocation".
    pub fn should_fail(&self, site: &'static str) -> bool {
        let n = self.armed.load(Ordering::Relaxed);
        let fail = n == 1;
        if n > 0 {
            self.armed.store(n - 1, Ordering::Relaxed);
        }
        self.log.lock().push((site, fail));
        fail
    }
}

/// The allocator and its bookkeeping.
#[derive(Debug, Default)]
pub struct Heap {
    next_id: AtomicU32,
    registry: instr::Mutex<Vec<KHeader>>,
    /// Allocation failure injection.
    pub fail_nth: FailNth,
}

impl Heap {
    /// Allocate a header for an object of `kind`; `tracked` objects must be
    /// freed by teardown.
    pub fn header(&self, kind: &'static str, tracked: bool) -> KHeader {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let h = KHeader(Arc::new(HdrShared {
            id,
            kind,
            state: AtomicU32::new(LIVE),
            alloc_by: trace::current_fn(),
            freed_by: instr::Mutex::new(None),
            tracked,
            #[cfg(loom)]
            init: crate::sync::KCell::new(()),
        }));
        self.registry.lock().push(h.clone());
        h
    }

    /// `kmalloc()`/`kzalloc()` of a standalone object (not in an arena).
    pub fn alloc<T>(&self, kind: &'static str, v: T) -> Arc<Obj<T>> {
        Arc::new(Obj { hdr: self.header(kind, true), inner: v })
    }

    /// Allocate into an arena and return the id.
    pub fn alloc_in<T>(&self, arena: &Arena<T>, kind: &'static str, v: T) -> (Id<T>, Arc<Obj<T>>) {
        let obj = self.alloc(kind, v);
        let mut items = arena.items.lock();
        let id = Id { index: items.len() as u32, _t: PhantomData };
        items.push(obj.clone());
        (id, obj)
    }

    /// A static kernel object in an arena (`static struct watch_list
    /// device_wlist`): never freed, so teardown does not count it a leak.
    pub fn static_in<T>(&self, arena: &Arena<T>, kind: &'static str, v: T) -> Id<T> {
        let obj = Arc::new(Obj { hdr: self.header(kind, false), inner: v });
        let mut items = arena.items.lock();
        let id = Id { index: items.len() as u32, _t: PhantomData };
        items.push(obj);
        id
    }

    /// `kfree()`: report `H2 double-free` if already freed or queued.
    #[track_caller]
    pub fn kfree(&self, hdr: &KHeader) {
        self.free_with(hdr, "kfree", true)
    }

    #[track_caller]
    fn free_with(&self, hdr: &KHeader, how: &str, from_live_only: bool) {
        let loc = Location::caller();
        let prev = hdr.0.state.swap(FREED, Ordering::Relaxed);
        if prev == FREED || (from_live_only && prev == RCU_PENDING) {
            let by = hdr.0.freed_by.lock().clone().unwrap_or_default();
            fail(
                Inv::H2,
                format!(
                    "double-free: {} freed again by {how} in {} at {}:{} (first freed by {by})",
                    hdr.name(),
                    trace::current_fn(),
                    short_file(loc.file()),
                    loc.line()
                ),
            );
        }
        if prev == LIVE {
            *hdr.0.freed_by.lock() = Some(hdr.freed_by_here(how));
            trace::note_memory(trace::Event::Freed {
                tid: trace::current_tid(),
                obj: hdr.name(),
                how: how.to_string(),
                func: trace::current_fn(),
                at: format!("{}:{}", short_file(loc.file()), loc.line()),
            });
        }
    }

    /// The queueing half of `kfree_rcu()` / `call_rcu()`: the object stays
    /// readable until [`Heap::rcu_free`] runs after a grace period.
    #[track_caller]
    pub fn rcu_queue(&self, hdr: &KHeader, how: &str) {
        let loc = Location::caller();
        let prev = hdr.0.state.swap(RCU_PENDING, Ordering::Relaxed);
        if prev != LIVE {
            let by = hdr.0.freed_by.lock().clone().unwrap_or_default();
            fail(
                Inv::H2,
                format!(
                    "double-free: {} queued by {how} in {} at {}:{} (already freed by {by})",
                    hdr.name(),
                    trace::current_fn(),
                    short_file(loc.file()),
                    loc.line()
                ),
            );
        }
        *hdr.0.freed_by.lock() = Some(hdr.freed_by_here(how));
    }

    /// The grace-period half: the object is gone.
    pub fn rcu_free(&self, hdr: &KHeader) {
        hdr.0.state.store(FREED, Ordering::Relaxed);
    }

    /// Tracked objects still allocated, as kmemleak would list them:
    /// `watch#7 (allocated by keyctl_watch_key)`.
    pub fn leaks(&self) -> Vec<String> {
        self.registry
            .lock()
            .iter()
            .filter(|h| h.0.tracked && h.is_live())
            .map(|h| format!("{} (allocated by {})", h.name(), h.0.alloc_by))
            .collect()
    }

    /// Live objects of one kind (for the oracle's state checks).
    pub fn live_of_kind(&self, kind: &str) -> Vec<KHeader> {
        self.registry.lock().iter().filter(|h| h.0.kind == kind && h.is_live()).cloned().collect()
    }
}

/// `H4 null-ptr-deref`: the kernel dereferenced a NULL pointer.
#[track_caller]
pub fn null_deref(what: &str) -> ! {
    let loc = Location::caller();
    fail(
        Inv::H4,
        format!("null-ptr-deref: {what} in {} at {}:{}", trace::current_fn(), short_file(loc.file()), loc.line()),
    )
}

/// Unwrap a kernel pointer, reporting `H4` for NULL.
#[track_caller]
pub fn deref<T>(p: Option<T>, what: &str) -> T {
    match p {
        Some(v) => v,
        None => null_deref(what),
    }
}

/// A kernel array allocation (`kcalloc`): every index is bounds-checked
/// against the allocated length, and every access checks liveness.
#[derive(Debug)]
pub struct KArray<T> {
    what: &'static str,
    items: Vec<T>,
}

impl<T> KArray<T> {
    pub fn new(what: &'static str, items: Vec<T>) -> Self {
        KArray { what, items }
    }
    /// Allocated length in elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Element `i`, reporting `H3` past the allocation.
    #[track_caller]
    pub fn at(&self, i: usize) -> &T {
        match self.items.get(i) {
            Some(v) => v,
            None => {
                let loc = Location::caller();
                fail(
                    Inv::H3,
                    format!(
                        "slab-out-of-bounds: {}[{i}] of {} elements accessed in {} at {}:{}",
                        self.what,
                        self.items.len(),
                        trace::current_fn(),
                        short_file(loc.file()),
                        loc.line()
                    ),
                )
            }
        }
    }
    /// Iterate the allocated elements.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

/// `BITS_TO_LONGS(n)`.
pub fn bits_to_longs(nbits: u32) -> usize {
    nbits.div_ceil(64) as usize
}

/// An `unsigned long` bitmap allocation with the kernel's bitops, with
/// the kernel's orderings: `set_bit` is an unordered atomic RMW,
/// `test_and_clear_bit` a fully ordered one (it returns a value),
/// `find_first_bit` plain loads. Every word access is bounds-checked.
#[derive(Debug)]
pub struct KBitmap {
    words: KArray<FAtomicU64>,
}

impl KBitmap {
    /// `bitmap_alloc(nbits)` (uninitialised in the kernel; zero here).
    pub fn new(what: &'static str, nwords: usize) -> Self {
        KBitmap { words: KArray::new(what, (0..nwords).map(|_| FAtomicU64::new(0)).collect()) }
    }
    /// Words allocated.
    pub fn nwords(&self) -> usize {
        self.words.len()
    }
    /// `bitmap_fill(map, nbits)`: all full words, then the low bits of the last.
    #[track_caller]
    pub fn bitmap_fill(&self, nbits: u32) {
        let full = (nbits / 64) as usize;
        for i in 0..full {
            self.words.at(i).store(u64::MAX, FOrdering::Relaxed);
        }
        let rem = nbits % 64;
        if rem != 0 {
            self.words.at(full).store((1u64 << rem) - 1, FOrdering::Relaxed);
        }
    }
    /// `memset(map, 0xff, bytes)` over whole words (the pre-fix sizing code).
    #[track_caller]
    pub fn memset_ff(&self, nwords: usize) {
        for i in 0..nwords {
            self.words.at(i).store(u64::MAX, FOrdering::Relaxed);
        }
    }
    /// `find_first_bit(map, size)`: the first set bit below `size`, else
    /// `size`. `order` is `Relaxed` for the kernel's plain loads.
    #[track_caller]
    pub fn find_first_bit_ordered(&self, size: u32, order: FOrdering) -> u32 {
        let mut idx = 0u32;
        while idx * 64 < size {
            let w = self.words.at(idx as usize).load(order);
            if w != 0 {
                return (idx * 64 + w.trailing_zeros()).min(size);
            }
            idx += 1;
        }
        size
    }
    /// `find_first_bit(map, size)`.
    #[track_caller]
    pub fn find_first_bit(&self, size: u32) -> u32 {
        self.find_first_bit_ordered(size, FOrdering::Relaxed)
    }
    /// `set_bit(nr, map)` with the given ordering (`Relaxed`: the kernel's
    /// unordered `set_bit`).
    #[track_caller]
    pub fn set_bit_ordered(&self, nr: u32, order: FOrdering) {
        self.words.at((nr / 64) as usize).fetch_or(1 << (nr % 64), order);
    }
    /// `set_bit(nr, map)` written as a plain assignment of the word
    /// (`map[nr / 64] = 1 << nr % 64`): the word's other bits are lost. Only
    /// a mutant does this ([`crate::sync::mutation::Operator::AssignFlag`]).
    #[track_caller]
    pub fn assign_bit_ordered(&self, nr: u32, order: FOrdering) {
        self.words.at((nr / 64) as usize).store(1 << (nr % 64), order);
    }
    /// `set_bit(nr, map)`.
    #[track_caller]
    pub fn set_bit(&self, nr: u32) {
        self.set_bit_ordered(nr, FOrdering::Relaxed)
    }
    /// `__set_bit(nr, map)` (non-atomic; the same here).
    #[track_caller]
    pub fn __set_bit(&self, nr: u32) {
        self.set_bit(nr)
    }
    /// `test_bit(nr, map)`.
    #[track_caller]
    pub fn test_bit(&self, nr: u32) -> bool {
        self.words.at((nr / 64) as usize).load(FOrdering::Relaxed) & (1 << (nr % 64)) != 0
    }
    /// `test_and_clear_bit(nr, map)`: true if the bit was set (fully ordered).
    #[track_caller]
    pub fn test_and_clear_bit(&self, nr: u32) -> bool {
        let old = self.words.at((nr / 64) as usize).fetch_and(!(1 << (nr % 64)), FOrdering::SeqCst);
        old & (1 << (nr % 64)) != 0
    }
    /// Set bits in the whole allocation (the oracle's note count).
    pub fn count_ones(&self) -> u32 {
        self.words.iter().map(|w| w.load(FOrdering::Relaxed).count_ones()).sum()
    }
    /// Set bits at or above `nbits` within the allocation.
    pub fn ones_from(&self, nbits: u32) -> Vec<u32> {
        let mut v = Vec::new();
        for (i, w) in self.words.iter().enumerate() {
            let w = w.load(FOrdering::Relaxed);
            for b in 0..64 {
                let n = i as u32 * 64 + b;
                if n >= nbits && w & (1 << b) != 0 {
                    v.push(n);
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catch::catch_violation;

    /// Touching a freed object reports H1 naming the object.
    #[test]
    fn use_after_free_is_reported() {
        let heap = Heap::default();
        let o = heap.alloc("pipe_inode_info", 5u32);
        assert_eq!(**o, 5);
        heap.kfree(Obj::hdr(&o));
        let v = catch_violation(|| **o).unwrap_err();
        assert_eq!(v.inv, Inv::H1);
        assert!(v.message.contains("pipe_inode_info#1"), "{}", v.message);
    }

    /// Freeing twice reports H2; a leak is listed by kind and allocator.
    #[test]
    fn double_free_and_leak() {
        let heap = Heap::default();
        let a = heap.alloc("watch", ());
        let b = heap.alloc("watch_list", ());
        heap.kfree(Obj::hdr(&a));
        let v = catch_violation(|| heap.kfree(Obj::hdr(&a))).unwrap_err();
        assert_eq!(v.inv, Inv::H2);
        assert_eq!(heap.leaks().len(), 1);
        assert!(heap.leaks()[0].starts_with("watch_list#2"));
        heap.rcu_queue(Obj::hdr(&b), "kfree_rcu");
        assert_eq!(heap.leaks().len(), 1, "an RCU-pending object is still allocated");
        heap.rcu_free(Obj::hdr(&b));
        assert!(heap.leaks().is_empty());
    }

    /// Indexing past an allocation reports H3; bitops are bounded too.
    #[test]
    fn out_of_bounds_is_reported() {
        let bm = KBitmap::new("notes_bitmap", 1);
        bm.bitmap_fill(32);
        assert_eq!(bm.count_ones(), 32);
        assert_eq!(bm.find_first_bit(32), 0);
        assert!(bm.test_and_clear_bit(0));
        assert_eq!(bm.find_first_bit(32), 1);
        let v = catch_violation(|| bm.find_first_bit(512 + 1)).err();
        assert!(v.is_none(), "bit 1 is found in word 0 before any out-of-bounds word is read");
        let empty = KBitmap::new("notes_bitmap", 1);
        let v = catch_violation(|| empty.find_first_bit(512)).unwrap_err();
        assert_eq!(v.inv, Inv::H3);
        assert!(v.message.contains("notes_bitmap[1] of 1 elements"), "{}", v.message);
    }

    /// fail-nth fails exactly the n-th fault point, once.
    #[test]
    fn fail_nth_fails_once() {
        let f = FailNth::default();
        f.arm(2);
        assert!(!f.should_fail("a"));
        assert!(f.should_fail("b"));
        assert!(!f.should_fail("c"));
    }
}
