//! The oracle: checks over record streams and model state that run after
//! every step of every driver. Each check cites an invariant of
//! [`crate::invariant`], the home of every invariant's ID and statement.
//!
//! A violation panics with a stable first line,
//! `invariant I1 violated: ring occupancy (head=33 tail=0 ring_size=32)`,
//! so tests can match it exactly and drivers can parse it back.

pub use crate::catch::{catch_panic, catch_panic_value, catch_violation, last_panic_location};
pub use crate::invariant::{Inv, Violation, fail};

// ---------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::heap::Obj;
use crate::kernel::Kernel;
use crate::pipe::PipeBufOps;
use crate::spec::SpecFilter;
use crate::trace::{Event, Tid};
use crate::uapi::{self, WATCH_TYPE_META, WatchNotification};

/// A record the oracle expects in a queue, in acceptance order.
#[derive(Clone, Debug)]
struct Queued {
    bytes: Vec<u8>,
    /// A post was lost while this was the newest queued record.
    loss_after: bool,
}

#[derive(Debug, Default)]
struct QueueState {
    queue: VecDeque<Queued>,
    /// A consumed record carried a loss: a loss record is owed before the
    /// next record.
    owed_loss: bool,
    /// Bytes consumed or fabricated by each reader during its current read.
    in_flight: BTreeMap<Tid, Vec<u8>>,
}

/// A `poll()` or `epoll_wait()` in flight, and what its pipe end was at
/// the instants of the call so far (S9).
#[derive(Clone, Copy, Debug)]
struct PollWatch {
    file: u32,
    pipe: u32,
    write: bool,
    /// For each judged bit ([`judged`]): it was due at some instant of the
    /// call.
    seen_on: [bool; 2],
    /// For each judged bit: it was not due at some instant of the call.
    seen_off: [bool; 2],
}

/// The pipe as the poll oracle follows it: the fields `pipe_poll()` reads.
#[derive(Clone, Copy, Debug)]
struct PipeNow {
    occupancy: u32,
    max_usage: u32,
    readers: u32,
    writers: u32,
}

/// The bits S9 judges on a pipe end, each with its name and the state
/// that makes it due (`pipe_poll()`): on the read end `POLLIN` while the
/// ring holds a slot and `POLLHUP` once no writer is left (an anonymous
/// pipe's `f_pipe` never equals `w_counter`); on the write end `POLLOUT`
/// while the ring is below `max_usage` and `POLLERR` once no reader is
/// left.
fn judged(write: bool) -> [(u32, &'static str, &'static str); 2] {
    if write {
        [(uapi::POLLOUT, "POLLOUT", "below max_usage"), (uapi::POLLERR, "POLLERR", "without readers")]
    } else {
        [(uapi::POLLIN, "POLLIN", "non-empty"), (uapi::POLLHUP, "POLLHUP", "without writers")]
    }
}

/// Whether each of [`judged`]'s bits is due with the pipe at `p`.
fn due(write: bool, p: PipeNow) -> [bool; 2] {
    if write { [p.occupancy < p.max_usage, p.readers == 0] } else { [p.occupancy != 0, p.writers == 0] }
}

impl PollWatch {
    fn see(&mut self, p: PipeNow) {
        for (i, due) in due(self.write, p).into_iter().enumerate() {
            if due {
                self.seen_on[i] = true;
            } else {
                self.seen_off[i] = true;
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WatchLife {
    Live,
    Removed,
}

/// The oracle of one run: it follows the trace and the model's state and
/// reports the first invariant that fails.
#[derive(Debug, Default)]
pub struct Oracle {
    cursor: usize,
    queues: BTreeMap<u32, QueueState>,
    /// wqueue -> pipe.
    wq_pipe: BTreeMap<u32, u32>,
    /// Filter object -> the UAPI bytes it was built from.
    filter_uapi: BTreeMap<u32, Vec<u8>>,
    /// wqueue -> the filter installed now.
    wq_filter: BTreeMap<u32, Option<u32>>,
    /// (wqueue, poster) -> the last filter decision that passed, awaiting
    /// its post.
    passed: BTreeMap<(u32, Tid), Vec<u8>>,
    /// (wqueue, object id) -> watch state.
    watches: BTreeMap<(u32, u64), WatchLife>,
    /// Queues fenced by watch_queue_clear.
    cleared: BTreeSet<u32>,
    /// (wqueue, object id) -> the removal records owed: one per watch the
    /// queue had on the object (keys and superblocks allow one; a mount
    /// one per watched dentry in it, and its records carry its ID).
    removal_owed: BTreeMap<(u32, u64), u32>,
    /// (wqueue, object id) pairs whose removal record was posted.
    removal_seen: BTreeSet<(u32, u64)>,
    /// pipe -> the fields `pipe_poll()` reads, as they are now.
    rings: BTreeMap<u32, PipeNow>,
    /// Thread -> the poll it has in flight.
    polls: BTreeMap<Tid, PollWatch>,
    /// (wqueue, poster) -> the labels of the watcher and the originator
    /// of the record being posted (L1).
    post_labels: BTreeMap<(u32, Tid), (String, String)>,
    /// (wqueue, keyring serial) -> the mirror its watcher keeps (M1).
    mirrors: BTreeMap<(u32, u64), Mirror>,
    /// (wqueue, watched dentry) -> the mount mirror its watcher keeps (M2).
    mount_mirrors: BTreeMap<(u32, u64), MountMirror>,
    /// Records the oracle has matched so far (for reports and tests).
    pub records_checked: u64,
}

/// A watcher's view of one keyring's links, kept from the records it
/// reads through one pipe (M1).
#[derive(Clone, Debug)]
struct Mirror {
    pipe: u32,
    links: BTreeSet<u64>,
}

/// A watcher's view of the mounts below the mount whose root it watches,
/// kept from the records it reads through one pipe (M2).
#[derive(Clone, Debug)]
struct MountMirror {
    pipe: u32,
    /// The watch's tag: the watcher follows the records that came through
    /// it (another watch on the same queue sees other mounts).
    tag: u8,
    root: u32,
    mounts: BTreeMap<u32, MirroredMount>,
}

/// One mount in a [`MountMirror`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct MirroredMount {
    parent: u32,
    ro: bool,
    /// The change counter the watcher last saw for it.
    counter: u32,
}

impl MountMirror {
    fn in_scope(&self, id: u32) -> bool {
        id == self.root || self.mounts.contains_key(&id)
    }

    /// Query the mount `id` and everything below it as it is now
    /// (`fsinfo()` of its attributes and of its children, recursively).
    fn query(&mut self, k: &Kernel, id: u32, parent: u32) {
        use crate::mount::{change_counter, mount_children_counters, mount_is_readonly};
        self.mounts.insert(id, MirroredMount { parent, ro: mount_is_readonly(k, id), counter: change_counter(k, id) });
        for (c, _) in mount_children_counters(k, id) {
            self.query(k, c, id);
        }
    }

    /// Drop `id` and what the mirror holds below it.
    fn drop_subtree(&mut self, id: u32) {
        let mut todo = vec![id];
        while let Some(at) = todo.pop() {
            self.mounts.remove(&at);
            todo.extend(self.mounts.iter().filter(|(_, m)| m.parent == at).map(|(c, _)| *c));
        }
    }

    /// The rescan after a loss, as the cover letter has it: walk the
    /// children lists with their change counters, and reread a mount's
    /// attributes only when its counter differs from the one last seen.
    fn rescan(&mut self, k: &Kernel) {
        use crate::mount::{mount_children_counters, mount_is_readonly};
        let mut fresh = BTreeMap::new();
        let mut todo = vec![self.root];
        while let Some(at) = todo.pop() {
            for (c, counter) in mount_children_counters(k, at) {
                let ro = match self.mounts.get(&c) {
                    Some(old) if old.counter == counter => old.ro,
                    _ => mount_is_readonly(k, c),
                };
                fresh.insert(c, MirroredMount { parent: at, ro, counter });
                todo.push(c);
            }
        }
        self.mounts = fresh;
    }

    fn view(&self) -> BTreeMap<u32, crate::mount::MountView> {
        self.mounts.iter().map(|(id, m)| (*id, (m.parent, m.ro))).collect()
    }
}

fn show_mounts(m: &BTreeMap<u32, crate::mount::MountView>) -> String {
    let parts: Vec<String> =
        m.iter().map(|(id, (parent, ro))| format!("{id} under {parent} {}", if *ro { "ro" } else { "rw" })).collect();
    format!("{{{}}}", parts.join(", "))
}

/// The pipe whose queue is `wqueue`, if it is live and sized (`nr_notes`
/// set by `IOC_WATCH_QUEUE_SET_SIZE`).
fn sized_pipe_of(k: &Kernel, wqueue: u32) -> Option<u32> {
    k.pipes.all().into_iter().find_map(|(pid, pipe)| {
        let p = Obj::raw(&pipe);
        let wq = p.watch_queue.get().filter(|w| w.index() == wqueue)?;
        let w = k.wqueues.get(wq);
        let sized = Obj::hdr(&w).is_live() && Obj::raw(&w).nr_notes.load(crate::sync::atomic::Ordering::Relaxed) > 0;
        (Obj::hdr(&pipe).is_live() && sized).then(|| pid.index())
    })
}

/// The serials a live keyring neither revoked nor invalidated links now
/// (`keyctl read` of it); `None` for any other key or none.
fn keyring_links(k: &Kernel, serial: u64) -> Option<BTreeSet<u64>> {
    use crate::keys::{KEY_FLAG_INVALIDATED, KEY_FLAG_REVOKED, KeyType};
    let (_, kr) = k.keys.all().into_iter().find(|(_, o)| Obj::raw(o).key_serial() as u64 == serial)?;
    let ring = Obj::raw(&kr);
    if !Obj::hdr(&kr).is_live()
        || ring.type_ != KeyType::Keyring
        || ring.test_flag(KEY_FLAG_REVOKED)
        || ring.test_flag(KEY_FLAG_INVALIDATED)
    {
        return None;
    }
    Some(ring.keys.get().into_iter().map(|id| Obj::raw(&k.keys.get(id)).key_serial() as u64).collect())
}

/// A key's index in a keyring, its type and description (what
/// `KEYCTL_DESCRIBE` tells a watcher): a keyring links one key per index,
/// and a link of another displaces it (documented for `add_key(2)` and
/// `KEYCTL_LINK`), with only the new key's `LINKED` posted.
fn index_of(k: &Kernel, serial: u64) -> Option<(&'static str, String)> {
    k.keys.all().into_iter().find(|(_, o)| Obj::raw(o).key_serial() as u64 == serial).map(|(_, o)| {
        let key = Obj::raw(&o);
        (key.type_.name(), key.description.clone())
    })
}

/// Whether Smack lets `origin` write `watcher` (L1): the oracle's own
/// reading of `smk_access()`'s rules for `MAY_WRITE`.
fn smack_lets_write(rules: &[(String, String, String)], origin: &str, watcher: &str) -> bool {
    match (origin, watcher) {
        ("*", _) => false,
        (_, "*") => true,
        (o, w) if o == w => true,
        (o, w) => rules.iter().any(|r| r.0 == o && r.1 == w && r.2.contains('w')),
    }
}

fn show_links(links: &BTreeSet<u64>) -> String {
    let v: Vec<String> = links.iter().map(|s| format!("{s:#x}")).collect();
    format!("{{{}}}", v.join(", "))
}

fn show(k: &Kernel, bytes: &[u8]) -> String {
    let decoded = match k.config.variant {
        crate::kernel::Variant::V1 => crate::api::device_record(bytes),
        crate::kernel::Variant::V5 => crate::api::vfs_record(bytes),
        crate::kernel::Variant::Upstream => None,
    };
    if let Some(c) = decoded {
        return c.to_string();
    }
    match crate::uapi::split_records(bytes) {
        Ok(recs) if recs.len() == 1 => format!("{:?}", uapi::Record::decode(recs[0])),
        _ => format!("{bytes:02x?}"),
    }
}

/// The object ID a 16-byte removal record carries (`None` in the 8-byte
/// form, which `remove_watch_from_object()` posts for watch ID 0).
fn removal_id_of(bytes: &[u8]) -> Option<u64> {
    (bytes.len() >= 16).then(|| u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")))
}

/// `G1`: after deferred work has run, no keyring the collector scans (a
/// live keyring neither revoked nor invalidated) links a key that is
/// invalidated, or expired or was revoked `key_gc_delay` seconds ago or
/// more, as `/proc/sys/kernel/keys/gc_delay` promises.
fn check_dead_keys_reaped(k: &Kernel) -> Result<(), Violation> {
    use crate::keys::{KEY_FLAG_INVALIDATED, KEY_FLAG_REVOKED, KeyType, NO_EXPIRY};
    let now = k.now();
    let delay = k.config.key_gc_delay;
    for (_, kr) in k.keys.all() {
        if !Obj::hdr(&kr).is_live() {
            continue;
        }
        let ring = Obj::raw(&kr);
        if ring.type_ != KeyType::Keyring || ring.test_flag(KEY_FLAG_REVOKED) || ring.test_flag(KEY_FLAG_INVALIDATED) {
            continue;
        }
        for id in ring.keys.get() {
            let obj = k.keys.get(id);
            let key = Obj::raw(&obj);
            let expiry = key.expiry.get();
            let revoked = key.revoked_when.get();
            let why = if key.test_flag(KEY_FLAG_INVALIDATED) {
                Some("invalidated".to_string())
            } else if expiry != NO_EXPIRY && expiry.saturating_add(delay) <= now {
                Some(format!("expired {} s ago", now - expiry))
            } else if key.test_flag(KEY_FLAG_REVOKED) && revoked + delay <= now {
                Some(format!("revoked {} s ago", now - revoked))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Violation {
                    inv: Inv::G1,
                    message: format!(
                        "keyring {:#x} still links key {:#x}, {why}, with key_gc_delay {delay} s and the collector run",
                        ring.serial, key.serial
                    ),
                });
            }
        }
    }
    Ok(())
}

impl Oracle {
    /// Check every event since the last call, then the model's state.
    pub fn check(&mut self, k: &Kernel) -> Result<(), Violation> {
        let events = k.trace.since(self.cursor);
        self.cursor += events.len();
        for e in &events {
            self.event(k, e)?;
        }
        check_state(k)
    }

    /// At a quiescent point (every syscall finished, deferred work done):
    /// every removal record owed was posted.
    pub fn check_quiescent(&mut self, k: &Kernel) -> Result<(), Violation> {
        self.check(k)?;
        check_dead_keys_reaped(k)?;
        if let Some(((wq, id), _)) = self.removal_owed.iter().next() {
            return Err(Violation {
                inv: Inv::S7,
                message: format!("object {id:#x} was destroyed but watch_queue#{wq} got no removal record"),
            });
        }
        self.check_mirrors(k)?;
        self.check_mount_mirrors(k)
    }

    /// M2: every mount mirror whose queue has been read to its end equals
    /// the mounts below its root, while the watch and the root remain.
    fn check_mount_mirrors(&self, k: &Kernel) -> Result<(), Violation> {
        for ((wq, dentry), m) in &self.mount_mirrors {
            if self.watches.get(&(*wq, *dentry)) != Some(&WatchLife::Live) {
                continue;
            }
            if crate::mount::mount_rooted_at(k, *dentry) != Some(m.root) {
                continue;
            }
            let drained = self.queues.get(&m.pipe).is_none_or(|q| q.queue.is_empty() && !q.owed_loss);
            let real = crate::mount::subtree(k, m.root);
            if drained && real != m.view() {
                return Err(Violation {
                    inv: Inv::M2,
                    message: format!(
                        "pipe#{}'s watcher mirrors the mounts below mount {} as {} after its last record, but they are {}",
                        m.pipe,
                        m.root,
                        show_mounts(&m.view()),
                        show_mounts(&real)
                    ),
                });
            }
        }
        Ok(())
    }

    /// Follow one ver #5 mount record a reader took off `pipe` into its
    /// mount mirrors (M2).
    fn mount_mirror_record(&mut self, k: &Kernel, pipe: u32, bytes: &[u8]) {
        let Some(crate::api::Canon::Mount { subtype, on, aux, counters, ro, tag, .. }) = crate::api::vfs_record(bytes)
        else {
            return;
        };
        for m in self.mount_mirrors.values_mut().filter(|m| m.pipe == pipe && m.tag == tag) {
            match subtype {
                uapi::NOTIFY_MOUNT_NEW_MOUNT | uapi::NOTIFY_MOUNT_MOVE_TO if m.in_scope(on) => m.query(k, aux, on),
                // A mirrored mount leaves (the watched mount moving away
                // takes its subtree along: nothing below it changes).
                uapi::NOTIFY_MOUNT_UNMOUNT | uapi::NOTIFY_MOUNT_MOVE_FROM if m.mounts.contains_key(&aux) => {
                    m.drop_subtree(aux)
                }
                uapi::NOTIFY_MOUNT_READONLY | uapi::NOTIFY_MOUNT_SETATTR => {
                    if let Some(mm) = m.mounts.get_mut(&on) {
                        mm.ro = ro;
                    }
                }
                _ => {}
            }
            if let Some(mm) = m.mounts.get_mut(&on) {
                mm.counter = counters.topology.wrapping_add(counters.attr);
            }
        }
    }

    /// M1: every mirror whose queue has been read to its end equals its
    /// keyring's links.
    fn check_mirrors(&self, k: &Kernel) -> Result<(), Violation> {
        for ((wq, id), m) in &self.mirrors {
            if self.watches.get(&(*wq, *id)) != Some(&WatchLife::Live) {
                continue;
            }
            let drained = self.queues.get(&m.pipe).is_none_or(|q| q.queue.is_empty() && !q.owed_loss);
            let Some(real) = keyring_links(k, *id) else { continue };
            if drained && real != m.links {
                return Err(Violation {
                    inv: Inv::M1,
                    message: format!(
                        "pipe#{}'s watcher mirrors keyring {id:#x} as {} after its last record, but it links {}",
                        m.pipe,
                        show_links(&m.links),
                        show_links(&real)
                    ),
                });
            }
        }
        Ok(())
    }

    /// Follow one record a reader took off `pipe` into its mirrors (M1).
    fn mirror_record(&mut self, k: &Kernel, pipe: u32, bytes: &[u8]) {
        let Some(h) = WatchNotification::decode(bytes) else { return };
        let word = |at: usize| bytes.get(at..at + 4).map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")) as u64);
        if h.type_ == WATCH_TYPE_META {
            if h.subtype == uapi::WATCH_META_REMOVAL_NOTIFICATION {
                let id = removal_id_of(bytes).unwrap_or(0);
                self.mirrors.retain(|(_, i), m| !(m.pipe == pipe && *i == id));
                self.mount_mirrors.retain(|(_, d), m| !(m.pipe == pipe && (*d == id || m.root as u64 == id)));
            }
            return;
        }
        if k.config.variant == crate::kernel::Variant::V5 {
            self.mount_mirror_record(k, pipe, bytes);
        }
        if h.type_ != uapi::WATCH_TYPE_KEY_NOTIFY || bytes.len() != uapi::KEY_NOTIFICATION_SIZE {
            return;
        }
        let (Some(id), Some(aux)) = (word(8), word(12)) else { return };
        for ((_, i), m) in self.mirrors.iter_mut() {
            if m.pipe != pipe || *i != id {
                continue;
            }
            match h.subtype {
                uapi::NOTIFY_KEY_LINKED => {
                    // The new link displaces the one of the same index.
                    if let Some(index) = index_of(k, aux) {
                        m.links.retain(|x| *x == aux || index_of(k, *x).as_ref() != Some(&index));
                    }
                    m.links.insert(aux);
                }
                uapi::NOTIFY_KEY_UNLINKED => {
                    m.links.remove(&aux);
                }
                uapi::NOTIFY_KEY_CLEARED => m.links.clear(),
                _ => {}
            }
        }
        if matches!(h.subtype, uapi::NOTIFY_KEY_REVOKED | uapi::NOTIFY_KEY_INVALIDATED) {
            // The keyring is dead to its watcher: nothing left to mirror.
            self.mirrors.retain(|(_, i), m| !(m.pipe == pipe && *i == id));
        }
    }

    /// After teardown: nothing may remain allocated.
    pub fn check_teardown(&mut self, k: &Kernel) -> Result<(), Violation> {
        self.check_quiescent(k)?;
        let leaks = k.heap.leaks();
        if !leaks.is_empty() {
            return Err(Violation {
                inv: Inv::H5,
                message: format!(
                    "memory leak: {} object(s) unreferenced at teardown: {}",
                    leaks.len(),
                    leaks.join(", ")
                ),
            });
        }
        Ok(())
    }

    fn v(inv: Inv, message: String) -> Result<(), Violation> {
        Err(Violation { inv, message })
    }

    fn event(&mut self, k: &Kernel, e: &Event) -> Result<(), Violation> {
        match e {
            Event::FilterSet { wqueue, filter, uapi } => {
                if let (Some(f), Some(u)) = (filter, uapi) {
                    self.filter_uapi.insert(*f, u.clone());
                }
                self.wq_filter.insert(*wqueue, *filter);
                if filter.is_some() {
                    self.mount_mirrors.retain(|(w, _), _| w != wqueue);
                }
            }
            Event::Filtered { tid, wqueue, filter, bytes, passed } => {
                let h = WatchNotification::decode(bytes).expect("posted records have headers");
                let want = match filter {
                    None => true,
                    Some(fid) => match self.filter_uapi.get(fid) {
                        Some(uapi) => SpecFilter::parse_types(uapi, k.config.variant.watch_type_nr())
                            .map(|f| f.accepts(h.type_, h.subtype, h.info))
                            .unwrap_or(true),
                        None => *passed,
                    },
                };
                if want != *passed {
                    return Self::v(
                        Inv::S5,
                        format!(
                            "watch_queue#{wqueue}'s filter {} {} but userspace's filter {} it",
                            if *passed { "passed" } else { "rejected" },
                            show(k, bytes),
                            if want { "accepts" } else { "rejects" }
                        ),
                    );
                }
                if *passed {
                    self.passed.insert((*wqueue, *tid), bytes.clone());
                }
            }
            Event::PostLabels { tid, wqueue, watcher, origin } => {
                self.post_labels.insert((*wqueue, *tid), (watcher.clone(), origin.clone()));
            }
            Event::WatchAdded { wqueue, id, tag, .. } => {
                self.watches.insert((*wqueue, *id), WatchLife::Live);
                self.removal_seen.remove(&(*wqueue, *id));
                // The watcher scans the keyring once its watch is set.
                if let (Some(pipe), Some(links)) = (sized_pipe_of(k, *wqueue), keyring_links(k, *id)) {
                    self.mirrors.insert((*wqueue, *id), Mirror { pipe, links });
                }
                // A mount watcher (on a mount's root, with no filter to
                // hide records from it) scans the mounts below.
                let unfiltered = !matches!(self.wq_filter.get(wqueue), Some(Some(_)));
                if let (Some(pipe), Some(root), true) =
                    (sized_pipe_of(k, *wqueue), crate::mount::mount_rooted_at(k, *id), unfiltered)
                {
                    let mut m = MountMirror { pipe, tag: *tag, root, mounts: BTreeMap::new() };
                    m.rescan(k);
                    self.mount_mirrors.insert((*wqueue, *id), m);
                }
            }
            Event::WatchRemoved { wqueue, id, .. } => {
                if !self.cleared.contains(wqueue) {
                    *self.removal_owed.entry((*wqueue, *id)).or_default() += 1;
                }
                self.watches.insert((*wqueue, *id), WatchLife::Removed);
            }
            Event::ObjectDestroyed { .. } => {}
            Event::QueueCleared { wqueue } => {
                self.cleared.insert(*wqueue);
                self.removal_owed.retain(|(w, _), _| w != wqueue);
                for ((w, _), life) in self.watches.iter_mut() {
                    if w == wqueue {
                        *life = WatchLife::Removed;
                    }
                }
            }
            Event::Post { tid, pipe, wqueue, bytes, queued } => {
                self.wq_pipe.insert(*wqueue, *pipe);
                let h = WatchNotification::decode(bytes).expect("posted records have headers");
                let meta = h.type_ == WATCH_TYPE_META;
                if meta && h.subtype == uapi::WATCH_META_REMOVAL_NOTIFICATION {
                    let id = removal_id_of(bytes).unwrap_or(0);
                    match self.removal_owed.get_mut(&(*wqueue, id)) {
                        Some(n) => {
                            *n -= 1;
                            if *n == 0 {
                                self.removal_owed.remove(&(*wqueue, id));
                            }
                            self.removal_seen.insert((*wqueue, id));
                        }
                        None if !self.removal_seen.insert((*wqueue, id)) => {
                            return Self::v(
                                Inv::S7,
                                format!(
                                    "a second removal record for object {id:#x} was posted to watch_queue#{wqueue}"
                                ),
                            );
                        }
                        None => {}
                    }
                } else if !meta {
                    if let Some(id) = k.config.variant.object_id_of(bytes) {
                        if self.watches.get(&(*wqueue, id)) == Some(&WatchLife::Removed) {
                            return Self::v(
                                Inv::S6,
                                format!(
                                    "{} was posted to watch_queue#{wqueue} after its watch on {id:#x} was removed",
                                    show(k, bytes)
                                ),
                            );
                        }
                    }
                    let labels = self.post_labels.remove(&(*wqueue, *tid));
                    if let (Some((watcher, origin)), crate::lsm::LsmModule::Smack(rules)) =
                        (labels, &k.config.lsm.module)
                    {
                        if !smack_lets_write(rules, &origin, &watcher) {
                            return Self::v(
                                Inv::L1,
                                format!(
                                    "{} reached watch_queue#{wqueue}, but Smack forbids its originator (`{origin}`) to write its watcher (`{watcher}`)",
                                    show(k, bytes)
                                ),
                            );
                        }
                    }
                    if self.passed.remove(&(*wqueue, *tid)).as_deref() != Some(&bytes[..]) {
                        return Self::v(
                            Inv::S5,
                            format!("{} was posted to watch_queue#{wqueue} without passing its filter", show(k, bytes)),
                        );
                    }
                }
                let q = self.queues.entry(*pipe).or_default();
                match queued {
                    Some(_) => q.queue.push_back(Queued { bytes: bytes.clone(), loss_after: false }),
                    None => {
                        // A loss marks the newest queued record; on an empty
                        // ring it is dropped.
                        if let Some(last) = q.queue.back_mut() {
                            last.loss_after = true;
                        }
                    }
                }
            }
            Event::Consumed { tid, pipe, bytes, .. } => {
                let tid = *tid;
                let q = self.queues.entry(*pipe).or_default();
                if q.owed_loss {
                    return Self::v(
                        Inv::S3,
                        format!(
                            "pipe#{pipe}: {} was read before the loss record owed for the record before it",
                            show(k, bytes)
                        ),
                    );
                }
                match q.queue.front() {
                    Some(front) if front.bytes == *bytes => {
                        let front = q.queue.pop_front().unwrap();
                        q.owed_loss = front.loss_after;
                    }
                    _ => {
                        let pos = q.queue.iter().position(|x| x.bytes == *bytes);
                        return match pos {
                            Some(i) => Self::v(
                                Inv::S1,
                                format!(
                                    "pipe#{pipe}: {} was read before {} record(s) accepted earlier (first: {})",
                                    show(k, bytes),
                                    i,
                                    show(k, &q.queue[0].bytes)
                                ),
                            ),
                            None => Self::v(
                                Inv::S2,
                                format!(
                                    "pipe#{pipe}: {} was read but no post accepted it (or it was read before)",
                                    show(k, bytes)
                                ),
                            ),
                        };
                    }
                }
                q.in_flight.entry(tid).or_default().extend_from_slice(bytes);
                self.records_checked += 1;
                self.mirror_record(k, *pipe, bytes);
            }
            Event::LossFabricated { tid, pipe } => {
                let tid = *tid;
                let q = self.queues.entry(*pipe).or_default();
                if !q.owed_loss {
                    return Self::v(
                        Inv::S3,
                        format!("pipe#{pipe}: a loss record was read but no post was lost after the record before it"),
                    );
                }
                q.owed_loss = false;
                q.in_flight.entry(tid).or_default().extend_from_slice(&uapi::loss_notification());
                // A loss record: the watcher rescans what it mirrors.
                let pipe = *pipe;
                for ((_, id), m) in self.mirrors.iter_mut().filter(|(_, m)| m.pipe == pipe) {
                    if let Some(links) = keyring_links(k, *id) {
                        m.links = links;
                    }
                }
                for m in self.mount_mirrors.values_mut().filter(|m| m.pipe == pipe) {
                    m.rescan(k);
                }
            }
            Event::ReadReturned { tid, pipe, len, result } => {
                let q = self.queues.entry(*pipe).or_default();
                let got = q.in_flight.remove(tid).unwrap_or_default();
                match result {
                    Ok(bytes) => {
                        if bytes.len() > *len {
                            return Self::v(
                                Inv::S4,
                                format!("pipe#{pipe}: read({len}) returned {} bytes", bytes.len()),
                            );
                        }
                        if let Err(e) = uapi::split_records(bytes) {
                            return Self::v(
                                Inv::S4,
                                format!("pipe#{pipe}: read({len}) returned a partial record: {e}"),
                            );
                        }
                        if *bytes != got {
                            return Self::v(
                                Inv::S2,
                                format!(
                                    "pipe#{pipe}: read({len}) returned {} bytes but took {} bytes of records off the ring",
                                    bytes.len(),
                                    got.len()
                                ),
                            );
                        }
                    }
                    Err(err) => {
                        if !got.is_empty() {
                            return Self::v(
                                Inv::S4,
                                format!(
                                    "pipe#{pipe}: read({len}) failed with {err} after taking {} bytes off the ring",
                                    got.len()
                                ),
                            );
                        }
                    }
                }
            }
            Event::Ring { pipe, occupancy, max_usage, readers, writers } => {
                let now =
                    PipeNow { occupancy: *occupancy, max_usage: *max_usage, readers: *readers, writers: *writers };
                self.rings.insert(*pipe, now);
                for w in self.polls.values_mut().filter(|w| w.pipe == *pipe) {
                    w.see(now);
                }
            }
            Event::PollFileGone { file } => {
                // epoll drops a file whose last reference went: its answer
                // may then say nothing of the pipe.
                for w in self.polls.values_mut().filter(|w| w.file == *file) {
                    w.seen_on = [true; 2];
                    w.seen_off = [true; 2];
                }
            }
            Event::PollBegin { tid, file, pipe, write } => {
                // A pipe the trace never described: judge nothing.
                let unknown = !self.rings.contains_key(pipe);
                let mut w = PollWatch {
                    file: *file,
                    pipe: *pipe,
                    write: *write,
                    seen_on: [unknown; 2],
                    seen_off: [unknown; 2],
                };
                if let Some(now) = self.rings.get(pipe) {
                    w.see(*now);
                }
                self.polls.insert(*tid, w);
            }
            Event::PollEnd { tid, mask, events } => {
                let Some(w) = self.polls.remove(tid) else { return Ok(()) };
                let end = if w.write { "write" } else { "read" };
                for (i, (bit, name, state)) in judged(w.write).into_iter().enumerate() {
                    if events & bit == 0 {
                        continue;
                    }
                    if mask & bit != 0 && !w.seen_on[i] {
                        return Self::v(
                            Inv::S9,
                            format!(
                                "poll of pipe#{}'s {end} end returned {name} but the pipe was never {state} during the call",
                                w.pipe
                            ),
                        );
                    }
                    if mask & bit == 0 && !w.seen_off[i] {
                        return Self::v(
                            Inv::S9,
                            format!(
                                "poll of pipe#{}'s {end} end returned no {name} but the pipe was {state} at every instant of the call",
                                w.pipe
                            ),
                        );
                    }
                }
            }
            Event::SyscallEnter { .. }
            | Event::SyscallExit { .. }
            | Event::NoteReleased { .. }
            | Event::Lock { .. }
            | Event::Warn { .. }
            | Event::Freed { .. }
            | Event::Used { .. } => {}
        }
        let _ = k;
        Ok(())
    }
}

/// The invariants over the model's state (ring, notes, pointers,
/// references, accounting), checked after every step.
pub fn check_state(k: &Kernel) -> Result<(), Violation> {
    let v = |inv: Inv, message: String| Err(Violation { inv, message });
    let mut charged: BTreeMap<u32, i64> = BTreeMap::new();

    for (pid, pipe) in k.pipes.all() {
        if !Obj::hdr(&pipe).is_live() {
            continue;
        }
        let p = Obj::raw(&pipe);
        let ring_size = p.ring_size.get();
        let head = p.head.load(crate::sync::atomic::Ordering::Relaxed);
        let tail = p.tail.load(crate::sync::atomic::Ordering::Relaxed);
        *charged.entry(p.user.uid).or_default() += p.nr_accounted.get() as i64;

        if !ring_size.is_power_of_two() {
            return v(Inv::I4, format!("pipe#{}: ring_size {ring_size} is not a power of two", pid.index()));
        }
        // The oracle's own occupancy, not the model's (P10 breaks that one).
        let occ = head.wrapping_sub(tail) & p.index_mask;
        if occ > ring_size {
            return v(
                Inv::I1,
                format!("ring occupancy (head={head} tail={tail} ring_size={ring_size}) on pipe#{}", pid.index()),
            );
        }
        let bufs = p.bufs.get();
        let mask = ring_size - 1;
        let live_slots: BTreeSet<u32> = (0..occ).map(|j| tail.wrapping_add(j) & mask).collect();
        for i in 0..ring_size {
            let has_ops = Obj::raw(&bufs).at(i as usize).ops.get().is_some();
            if has_ops != live_slots.contains(&i) {
                return v(
                    Inv::I2,
                    format!(
                        "pipe#{}: slot {i} {} a buffer but [tail, head) = [{tail}, {head})",
                        pid.index(),
                        if has_ops { "holds" } else { "lacks" }
                    ),
                );
            }
        }

        // Note conservation for a sized notification pipe.
        let Some(wqid) = p.watch_queue.get() else {
            continue;
        };
        let wq = k.wqueues.get(wqid);
        if !Obj::hdr(&wq).is_live() {
            continue;
        }
        let w = Obj::raw(&wq);
        let Some(bitmap) = w.notes_bitmap.get() else {
            continue;
        };
        let nr_notes = w.nr_notes.load(crate::sync::atomic::Ordering::Relaxed);
        let npp = k.config.notes_per_page();
        let mut held = BTreeSet::new();
        for i in &live_slots {
            let b = Obj::raw(&bufs).at(*i as usize);
            if b.ops.get() != Some(PipeBufOps::WatchQueue) {
                continue;
            }
            let off = b.offset.get() + b.len.get();
            let mut note = off;
            if note % crate::watch_queue::WATCH_QUEUE_NOTE_SIZE == 0 {
                note -= crate::watch_queue::WATCH_QUEUE_NOTE_SIZE;
            }
            note /= crate::watch_queue::WATCH_QUEUE_NOTE_SIZE;
            let page = b.page.get().map(|p| Obj::raw(&k.pages.get(p)).private.get()).unwrap_or(0);
            let note = note + page;
            if !held.insert(note) {
                return v(Inv::N1, format!("watch_queue#{}: note {note} is held by two live slots", wqid.index()));
            }
            if note < npp * w.nr_pages.get() && Obj::raw(&bitmap).test_bit(note) {
                return v(
                    Inv::N1,
                    format!("watch_queue#{}: note {note} is held by a live slot but marked free", wqid.index()),
                );
            }
        }
        let free = Obj::raw(&bitmap).count_ones();
        if free + held.len() as u32 != nr_notes {
            let beyond = Obj::raw(&bitmap).ones_from(nr_notes);
            return v(
                Inv::N1,
                format!(
                    "note conservation: watch_queue#{}: {free} free bits + {} held notes != nr_notes {nr_notes}{}",
                    wqid.index(),
                    held.len(),
                    if beyond.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} free bits at or beyond nr_notes)", beyond.len())
                    }
                ),
            );
        }
    }

    // Watch queues: no dangling pipe pointer; reference balance.
    let pending_free: BTreeSet<u32> = k.rcu.pending_free_watches().into_iter().map(|w| w.index()).collect();
    let watches = k.watches.all();
    for (wqid, wq) in k.wqueues.all() {
        if !Obj::hdr(&wq).is_live() {
            continue;
        }
        let w = Obj::raw(&wq);
        if let Some(pid) = w.pipe.get() {
            if !Obj::hdr(&k.pipes.get(pid)).is_live() {
                return v(
                    Inv::Q1,
                    format!("watch_queue#{} points at pipe_inode_info#{}, which was freed", wqid.index(), pid.index()),
                );
            }
        }
        let pipe_ref = k
            .pipes
            .all()
            .iter()
            .filter(|(_, p)| Obj::hdr(p).is_live() && Obj::raw(p).watch_queue.get() == Some(wqid))
            .count() as u32;
        let watch_refs = watches
            .iter()
            .filter(|(wid, wa)| {
                Obj::hdr(wa).is_live()
                    && Obj::raw(wa).queue == wqid
                    && (Obj::raw(wa).usage.read() > 0 || pending_free.contains(&wid.index()))
            })
            .count() as u32;
        let usage = w.usage.read();
        if usage != pipe_ref + watch_refs {
            return v(
                Inv::R1,
                format!("watch_queue#{} usage {usage} != {pipe_ref} (pipe) + {watch_refs} (watches)", wqid.index()),
            );
        }
    }
    for (wid, wa) in &watches {
        if !Obj::hdr(wa).is_live() {
            continue;
        }
        let w = Obj::raw(wa);
        let hashed = w.queue_node.get() as u32 + w.list_node.get() as u32;
        if w.usage.read() != hashed {
            return v(
                Inv::R1,
                format!("watch#{} usage {} != {hashed} (lists holding it)", wid.index(), w.usage.read()),
            );
        }
    }

    // Accounting.
    let users: Vec<_> = k.users.lock().values().cloned().collect();
    for u in users {
        let bufs = u.pipe_bufs.load(crate::sync::atomic::Ordering::Relaxed);
        let sum = charged.get(&u.uid).copied().unwrap_or(0);
        if bufs != sum {
            return v(
                Inv::A1,
                format!("uid {}: user->pipe_bufs {bufs} != {sum}, the pages its live pipes account", u.uid),
            );
        }
        let nr = u.nr_watches.load(crate::sync::atomic::Ordering::Relaxed);
        let counted = watches
            .iter()
            .filter(|(wid, wa)| {
                let w = Obj::raw(wa);
                let charged = w.cred.get().is_some_and(|c| c.user.uid == u.uid);
                Obj::hdr(wa).is_live() && charged && (w.usage.read() > 0 || pending_free.contains(&wid.index()))
            })
            .count() as i64;
        if nr != counted {
            return v(Inv::A2, format!("uid {}: nr_watches {nr} != {counted} watches it holds", u.uid));
        }
        let limit = k.config.rlimit_nofile as i64;
        if nr > limit {
            return v(Inv::A2, format!("uid {}: nr_watches {nr} > RLIMIT_NOFILE {limit}", u.uid));
        }
    }
    check_key_quota(k)
}

/// `A3`: each user's key quota is the keys charged to it that still have
/// a reference, and their bytes.
fn check_key_quota(k: &Kernel) -> Result<(), Violation> {
    let mut owed: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
    for (_, key) in k.keys.all() {
        if !Obj::hdr(&key).is_live() {
            continue;
        }
        let key = Obj::raw(&key);
        if key.type_ == crate::keys::KeyType::Keyring
            && key.test_flag(crate::keys::KEY_FLAG_IN_QUOTA)
            && key.usage.read() > 0
        {
            let links = key.keys.get().len() as u32;
            let charged = *key.datalen.lock();
            if charged != links * crate::keys::key::KEYQUOTA_LINK_BYTES {
                return Err(Violation {
                    inv: Inv::A4,
                    message: format!(
                        "keyring {:#x} holds {links} link(s) but charges uid {} {charged} bytes for links",
                        key.serial,
                        key.user.lock().uid
                    ),
                });
            }
        }
        if key.test_flag(crate::keys::KEY_FLAG_IN_QUOTA) && key.usage.read() > 0 {
            let e = owed.entry(key.user.lock().uid).or_default();
            e.0 += 1;
            e.1 += *key.quotalen.lock();
        }
    }
    let users: Vec<_> = k.users.lock().values().cloned().collect();
    for u in users {
        let (keys, bytes) = *u.key_quota.lock();
        let (want_keys, want_bytes) = owed.get(&u.uid).copied().unwrap_or_default();
        if (keys, bytes) != (want_keys, want_bytes) {
            return Err(Violation {
                inv: Inv::A3,
                message: format!(
                    "uid {}: key quota {keys} keys, {bytes} bytes != {want_keys} keys, {want_bytes} bytes its referenced keys hold",
                    u.uid
                ),
            });
        }
    }
    Ok(())
}
