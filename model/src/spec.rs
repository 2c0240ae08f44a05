//! The sequential reference: what userspace must observe, written from the
//! documented behaviour (KERNEL.md sections 3.1-3.4, the keyctl man pages'
//! notification rules) and not from the model's code.
//!
//! There is no ring, no note bitmap, no lock and no reference count here:
//! a notification queue is a list of records with a capacity and a
//! "loss after this one" mark; a key is a node with links and watchers;
//! destruction is "no keyring links it and nothing holds it". The model and
//! this reference run the same [`Op`]s in `tests/spec_vs_model.rs` and must
//! report identical [`Outcome`]s.
//!
//! Scope: the configuration of [`Spec::new`] (privileged root, default
//! limits); `FailNth` and `Splice` between two plain pipes are outside it.

use std::collections::{BTreeMap, VecDeque};

use crate::api::*;
use crate::errno::Errno;
use crate::keys::KeyType;
use crate::uapi::*;

// ---- filters ---------------------------------------------------------------

/// A filter as userspace specified it (`IOC_WATCH_QUEUE_SET_FILTER`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecFilter {
    /// Entries of known types; the others are ignored.
    entries: Vec<WatchNotificationTypeFilter>,
}

impl SpecFilter {
    /// Validate the user's bytes: `EFAULT` when the header or the entries
    /// it announces are not all there, `EINVAL` for 0 or more than 16
    /// entries, a non-zero reserved word, `info_filter` bits outside
    /// `info_mask`, or a mask touching the length field.
    pub fn parse(b: &[u8]) -> Result<SpecFilter, Errno> {
        SpecFilter::parse_types(b, WATCH_TYPE__NR)
    }

    /// [`SpecFilter::parse`] where `nr_types` types are known (the
    /// patch series' variants know four).
    pub fn parse_types(b: &[u8], nr_types: u32) -> Result<SpecFilter, Errno> {
        if b.len() < 8 {
            return Err(Errno::EFAULT);
        }
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let n = word(0) as usize;
        if n == 0 || n > 16 || word(4) != 0 {
            return Err(Errno::EINVAL);
        }
        if b.len() < 8 + 44 * n {
            return Err(Errno::EFAULT);
        }
        let all: Vec<WatchNotificationTypeFilter> =
            (0..n).map(|i| WatchNotificationTypeFilter::decode(&b[8 + 44 * i..8 + 44 * (i + 1)])).collect();
        if all.iter().any(|e| e.info_filter & !e.info_mask != 0 || e.info_mask & WATCH_INFO_LENGTH != 0) {
            return Err(Errno::EINVAL);
        }
        Ok(SpecFilter { entries: all.into_iter().filter(|e| e.type_ < nr_types).collect() })
    }

    /// Whether a record of this type, subtype and info (tag included)
    /// passes: some entry of its type selects its subtype (0..31 only) and
    /// matches `info` under the mask. A filter with no known type passes
    /// nothing.
    pub fn accepts(&self, type_: u32, subtype: u8, info: u32) -> bool {
        self.entries.iter().any(|e| {
            e.type_ == type_
                && subtype < 32
                && e.subtype_filter[0] >> subtype & 1 == 1
                && info & e.info_mask == e.info_filter
        })
    }
}

// ---- state -----------------------------------------------------------------

/// A queued record, naming keys by index: userspace names them when it
/// reads.
#[derive(Clone, Debug)]
enum SRec {
    Key { key: usize, subtype: u8, aux: SAux, tag: u8 },
    Removal { key: usize, tag: u8 },
}

#[derive(Clone, Debug)]
enum SAux {
    Key(usize),
    Text(String),
}

#[derive(Clone, Debug)]
struct Item {
    rec: SRec,
    len: usize,
    /// A post was lost while this was the newest record.
    loss_after: bool,
}

#[derive(Clone, Debug)]
struct PlainBuf {
    data: Vec<u8>,
    /// Bytes already read from the front of `data`.
    read: usize,
    /// Whether a later write may add to it (written data, not data spliced
    /// in from a file).
    merge: bool,
}

/// A file that is not a pipe: what userspace knows of `/dev/null`, a
/// pseudo-terminal master nobody types into, and a regular file.
#[derive(Clone, Debug)]
struct SFile {
    kind: OpenKind,
    open: bool,
    /// The flags `F_GETFL` reports.
    flags: u32,
    data: Vec<u8>,
    pos: usize,
}

#[derive(Clone, Debug)]
struct SPipe {
    notify: bool,
    open: [bool; 2],
    nonblock: [bool; 2],
    /// Notes, once sized.
    capacity: Option<u32>,
    /// The writers' occupancy limit, in slots (what poll and
    /// F_GETPIPE_SZ report): 16, then the pages charged by sizing.
    max_usage: u32,
    queue: VecDeque<Item>,
    pending_loss: bool,
    filter: Option<SpecFilter>,
    bufs: VecDeque<PlainBuf>,
}

impl SPipe {
    fn alive(&self) -> bool {
        self.open[0] || self.open[1]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Constructing,
    Positive,
    Negative(Errno),
}

#[derive(Clone, Debug)]
struct SKey {
    type_: KeyType,
    desc: String,
    state: State,
    revoked: bool,
    invalidated: bool,
    alive: bool,
    /// Holds other than keyring links: the process (session keyring), the
    /// user (user keyring), a construction in progress.
    holds: u32,
    /// A keyring's links, in link order.
    links: Vec<usize>,
    /// Watchers, newest first: (pipe index, tag).
    watchers: Vec<(usize, u8)>,
    perm: u32,
    uid: u32,
    gid: u32,
    serial: Option<u32>,
    created: usize,
    /// The destination recorded when the key was requested.
    construction_dest: Option<usize>,
    /// A keyring that refuses every link (KEYCTL_RESTRICT_KEYRING with no
    /// type).
    restricted: bool,
}

/// The reference machine.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The collector tells a keyring's watchers of each link it removes
    /// (`NOTIFY_KEY_UNLINKED`): finding F9's fix; the kernel today posts
    /// nothing ([`Spec::with_gc_unlink_records`]).
    gc_unlink_records: bool,
    page_size: u32,
    rlimit_nofile: u64,
    pipes: Vec<SPipe>,
    pipe_slots: BTreeMap<u8, usize>,
    files: BTreeMap<u8, SFile>,
    keys: Vec<SKey>,
    key_slots: BTreeMap<u8, usize>,
    session: usize,
    user_keyring: Option<usize>,
    user_session_keyring: Option<usize>,
    thread_keyring: Option<usize>,
    process_keyring: Option<usize>,
    nr_watches: u64,
    /// Watches removed whose count the user gets back only after a grace
    /// period (the watch is freed by an RCU callback).
    unwatched: u64,
    /// Holds that end with the next grace period: links a keyring edit
    /// took out (the keyring's old nodes put their keys when RCU frees
    /// them), and session keyrings replaced by `join_session` (held by the
    /// old credentials until RCU frees them).
    rcu_puts: Vec<usize>,
}

const PIPE_DEF: u32 = 16;

type R<T> = Result<T, Errno>;

fn nr(r: R<i64>) -> Outcome {
    match r {
        Ok(v) => Outcome::Ok(v),
        Err(Errno::ERESTARTSYS) => Outcome::Blocked,
        Err(e) => Outcome::Err(e),
    }
}

/// `KEY_LOOKUP_CREATE`.
const CREATE: u8 = 1;
/// `KEY_LOOKUP_PARTIAL`.
const PARTIAL: u8 = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    View,
    Write,
    Search,
    Link,
    Setattr,
    Unlink,
}

impl Spec {
    /// A fresh reference for the default configuration with `page_size`.
    pub fn new(page_size: u32, rlimit_nofile: u64) -> Spec {
        Spec::with_gc_unlink_records(page_size, rlimit_nofile, true)
    }

    /// The reference for a run of the model configured with `c`: its page
    /// size and descriptor limit, and F9 as `c` has it.
    pub fn for_config(c: &crate::kernel::Config) -> Spec {
        Spec::with_gc_unlink_records(c.page_size, c.rlimit_nofile, !c.bugs.has(crate::bugs::Bug::F9))
    }

    /// [`Spec::new`], saying whether the collector posts the unlinks it
    /// makes (F9's fix) or not (the kernel today, F9 on).
    pub fn with_gc_unlink_records(page_size: u32, rlimit_nofile: u64, gc_unlink_records: bool) -> Spec {
        let session = SKey {
            type_: KeyType::Keyring,
            desc: "_ses".into(),
            state: State::Positive,
            revoked: false,
            invalidated: false,
            alive: true,
            holds: 1,
            links: Vec::new(),
            watchers: Vec::new(),
            perm: KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_LINK,
            uid: 0,
            gid: 0,
            serial: None,
            created: 0,
            construction_dest: None,
            restricted: false,
        };
        Spec {
            gc_unlink_records,
            page_size,
            rlimit_nofile,
            pipes: Vec::new(),
            pipe_slots: BTreeMap::new(),
            files: BTreeMap::new(),
            keys: vec![session],
            key_slots: BTreeMap::new(),
            session: 0,
            user_keyring: None,
            user_session_keyring: None,
            thread_keyring: None,
            process_keyring: None,
            nr_watches: 0,
            unwatched: 0,
            rcu_puts: Vec::new(),
        }
    }

    /// Tell the reference the serial userspace saw for the key in `slot`
    /// (the collector destroys keys in serial order).
    pub fn bind_serial(&mut self, slot: u8, serial: u32) {
        if let Some(&k) = self.key_slots.get(&slot) {
            self.keys[k].serial = Some(serial);
        }
    }

    fn name(&self, k: usize) -> String {
        if k == self.session {
            return SESSION_NAME.into();
        }
        if Some(k) == self.user_keyring {
            return USER_NAME.into();
        }
        if Some(k) == self.user_session_keyring {
            return USER_SESSION_NAME.into();
        }
        if Some(k) == self.thread_keyring {
            return THREAD_NAME.into();
        }
        if Some(k) == self.process_keyring {
            return PROCESS_NAME.into();
        }
        if let Some((s, _)) = self.key_slots.iter().find(|(_, v)| **v == k) {
            return slot_name(*s);
        }
        match self.keys[k].serial {
            Some(s) => format!("{s:08x}"),
            None => format!("?{k}"),
        }
    }

    // ---- keys ---------------------------------------------------------------

    fn linked_count(&self, k: usize) -> usize {
        self.keys.iter().filter(|x| x.alive).map(|x| x.links.iter().filter(|l| **l == k).count()).sum()
    }

    fn possessed(&self, k: usize) -> bool {
        let mut stack = vec![self.session];
        stack.extend(self.thread_keyring);
        stack.extend(self.process_keyring);
        let mut seen = vec![false; self.keys.len()];
        while let Some(x) = stack.pop() {
            if x == k {
                return true;
            }
            if std::mem::replace(&mut seen[x], true) {
                continue;
            }
            if self.keys[x].type_ == KeyType::Keyring {
                stack.extend(self.keys[x].links.iter().copied());
            }
        }
        false
    }

    fn permit(&self, k: usize, possessed: bool, need: Need) -> R<()> {
        let bit = match need {
            Need::View => 0x01,
            Need::Write => 0x04,
            Need::Search => 0x08,
            Need::Link => 0x10,
            Need::Setattr => 0x20,
            Need::Unlink => return Ok(()),
        };
        let key = &self.keys[k];
        let mut have = (key.perm >> 16) & 0x3f; // the caller (uid 0) owns every key here
        if key.uid != 0 {
            have = key.perm & 0x3f;
        }
        if possessed {
            have |= (key.perm >> 24) & 0x3f;
        }
        if have & bit == bit { Ok(()) } else { Err(Errno::EACCES) }
    }

    /// The user keyring and the user session keyring that links it,
    /// created together on first use.
    fn user_keyrings(&mut self) -> (usize, usize) {
        if let (Some(u), Some(us)) = (self.user_keyring, self.user_session_keyring) {
            return (u, us);
        }
        let perm = (KEY_POS_ALL & !KEY_POS_SETATTR) | KEY_USR_ALL;
        let u = self.new_key(KeyType::Keyring, "_uid.0", perm);
        let us = self.new_key(KeyType::Keyring, "_uid_ses.0", perm);
        for k in [u, us] {
            self.keys[k].state = State::Positive;
            self.keys[k].holds = 1;
        }
        self.keys[us].links.push(u);
        self.user_keyring = Some(u);
        self.user_session_keyring = Some(us);
        (u, us)
    }

    /// The thread or process keyring, installed on a lookup that may
    /// create it.
    fn installed(&mut self, thread: bool, create: bool) -> R<usize> {
        let slot = if thread { self.thread_keyring } else { self.process_keyring };
        if let Some(k) = slot {
            return Ok(k);
        }
        if !create {
            return Err(Errno::ENOKEY);
        }
        let k = self.new_key(KeyType::Keyring, if thread { "_tid" } else { "_pid" }, KEY_POS_ALL | KEY_USR_VIEW);
        self.keys[k].state = State::Positive;
        self.keys[k].holds = 1;
        if thread {
            self.thread_keyring = Some(k);
        } else {
            self.process_keyring = Some(k);
        }
        Ok(k)
    }

    fn new_key(&mut self, type_: KeyType, desc: &str, perm: u32) -> usize {
        let created = self.keys.len();
        self.keys.push(SKey {
            type_,
            desc: desc.into(),
            state: State::Constructing,
            revoked: false,
            invalidated: false,
            alive: true,
            holds: 0,
            links: Vec::new(),
            watchers: Vec::new(),
            perm,
            uid: 0,
            gid: 0,
            serial: None,
            created,
            construction_dest: None,
            restricted: false,
        });
        created
    }

    /// `lookup_user_key()` as userspace sees it.
    fn lookup(&mut self, r: KeyRef, flags: u8, need: Need) -> R<usize> {
        self.lookup_ref(r, flags, need).map(|(k, _)| k)
    }

    /// [`Spec::lookup`], with whether the reference is possessed: the
    /// special keyrings are; a serial is if the session keyring reaches it.
    fn lookup_ref(&mut self, r: KeyRef, flags: u8, need: Need) -> R<(usize, bool)> {
        let partial = flags & PARTIAL != 0;
        let create = flags & CREATE != 0;
        let k = match r {
            KeyRef::Session | KeyRef::Raw(KEY_SPEC_SESSION_KEYRING) => self.session,
            KeyRef::User | KeyRef::Raw(KEY_SPEC_USER_KEYRING) => self.user_keyrings().0,
            KeyRef::Raw(KEY_SPEC_USER_SESSION_KEYRING) => self.user_keyrings().1,
            KeyRef::Raw(KEY_SPEC_THREAD_KEYRING) => self.installed(true, create)?,
            KeyRef::Raw(KEY_SPEC_PROCESS_KEYRING) => self.installed(false, create)?,
            KeyRef::Raw(KEY_SPEC_REQKEY_AUTH_KEY | KEY_SPEC_REQUESTOR_KEYRING) => return Err(Errno::ENOKEY),
            KeyRef::Raw(n) if n < 1 => return Err(Errno::EINVAL),
            KeyRef::Raw(n) => {
                self.keys.iter().position(|k| k.alive && k.serial == Some(n as u32)).ok_or(Errno::ENOKEY)?
            }
            KeyRef::Slot(s) => *self.key_slots.get(&s).ok_or(Errno::ENOKEY)?,
        };
        let possessed =
            matches!(r, KeyRef::Session | KeyRef::User) || matches!(r, KeyRef::Raw(n) if n < 0) || self.possessed(k);
        if !self.referenced(k) {
            return Err(Errno::ENOKEY);
        }
        let key = &self.keys[k];
        if need != Need::Unlink {
            if !partial {
                match key.state {
                    State::Constructing => return Err(Errno::ERESTARTSYS),
                    State::Negative(e) => return Err(e),
                    State::Positive => {}
                }
            }
            if key.invalidated {
                return Err(Errno::ENOKEY);
            }
            if key.revoked {
                return Err(Errno::EKEYREVOKED);
            }
        }
        self.permit(k, possessed, need)?;
        Ok((k, possessed))
    }

    fn render(&self, r: &SRec) -> Canon {
        match r {
            SRec::Key { key, subtype, aux, tag } => Canon::Key {
                key: self.name(*key),
                subtype: *subtype,
                aux: match aux {
                    SAux::Key(k) => self.name(*k),
                    SAux::Text(t) => t.clone(),
                },
                tag: *tag,
            },
            SRec::Removal { key, tag } => Canon::Removal { tag: *tag, id: Some(self.name(*key)) },
        }
    }

    /// Post a key notification about `k` to its watchers.
    fn notify(&mut self, k: usize, subtype: u8, aux: SAux) {
        for (p, tag) in self.keys[k].watchers.clone() {
            let info = (tag as u32) << 8 | 16;
            let rec = SRec::Key { key: k, subtype, aux: aux.clone(), tag };
            let pipe = &self.pipes[p];
            if let Some(f) = &pipe.filter {
                if !f.accepts(WATCH_TYPE_KEY_NOTIFY, subtype, info) {
                    continue;
                }
            }
            self.post(p, rec, 16);
        }
    }

    /// Queue a record, or lose it: a loss marks the newest queued record
    /// and is forgotten when nothing is queued.
    fn post(&mut self, p: usize, rec: SRec, len: usize) {
        let pipe = &mut self.pipes[p];
        let cap = pipe.capacity.unwrap_or(0) as usize;
        if pipe.queue.len() >= cap {
            if let Some(last) = pipe.queue.back_mut() {
                last.loss_after = true;
            }
            return;
        }
        pipe.queue.push_back(Item { rec, len, loss_after: false });
    }

    fn link(&mut self, ring: usize, k: usize) {
        let (t, d) = (self.keys[k].type_, self.keys[k].desc.clone());
        let pos = self.keys[ring].links.iter().position(|x| self.keys[*x].type_ == t && self.keys[*x].desc == d);
        let links = &mut self.keys[ring].links;
        match pos {
            Some(i) => {
                let old = std::mem::replace(&mut links[i], k);
                self.excise(vec![old]);
            }
            None => links.push(k),
        }
        self.notify(ring, NOTIFY_KEY_LINKED, SAux::Key(k));
    }

    fn remove_watch(&mut self, k: usize, p: usize) -> Option<u8> {
        let i = self.keys[k].watchers.iter().position(|(q, _)| *q == p)?;
        let (_, tag) = self.keys[k].watchers.remove(i);
        self.unwatched += 1;
        Some(tag)
    }

    /// Whether a key can still be looked up: the collector has not
    /// destroyed it and something holds it (a link from a keyring the
    /// collector has not destroyed, or a process's reference). A key
    /// nothing holds is gone for lookups at once, though its removal
    /// records wait for the collector.
    fn referenced(&self, k: usize) -> bool {
        self.keys[k].alive && (self.keys[k].holds > 0 || self.linked_count(k) > 0)
    }

    /// Deferred work, run to completion, as where userspace waits for it
    /// (`key_gc`, `rcu_barrier`, a call that would sleep): the collector,
    /// then the grace period that gives back the removed watches' count.
    fn settle(&mut self) {
        loop {
            self.collect();
            self.nr_watches -= std::mem::take(&mut self.unwatched);
            let puts = std::mem::take(&mut self.rcu_puts);
            if puts.is_empty() {
                return;
            }
            for k in puts {
                self.keys[k].holds -= 1;
            }
        }
    }

    /// Links taken out of a keyring: each key stays held until the next
    /// grace period.
    fn excise(&mut self, keys: Vec<usize>) {
        for k in keys {
            self.keys[k].holds += 1;
            self.rcu_puts.push(k);
        }
    }

    /// `KEYCTL_JOIN_SESSION_KEYRING`: the session keyring until now is
    /// bound to `slot`; the new one is an anonymous `_ses` keyring, or the
    /// first keyring made with that name (not revoked, still referenced,
    /// searchable without possession), or a new keyring of that name. The
    /// old one is held until a grace period ends (see `settle`).
    ///
    /// Not the kernel's whole rule: there the old credentials, and so the
    /// old keyring, are also held by every file opened and watch made
    /// before the join. The comparisons with the model (`spec_vs_model`,
    /// the `trace` fuzz target) leave programs that join to the oracle.
    fn join_session(&mut self, slot: u8, name: Option<&str>) -> Outcome {
        let old = self.session;
        self.key_slots.insert(slot, old);
        if name.is_some_and(|n| n.starts_with('.')) {
            return Outcome::Err(Errno::EPERM);
        }
        let new = match name {
            None => self.new_key(KeyType::Keyring, "_ses", KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ),
            Some("") => return Outcome::Err(Errno::EINVAL),
            Some(n) => {
                let found = (0..self.keys.len()).find(|k| {
                    let x = &self.keys[*k];
                    x.type_ == KeyType::Keyring
                        && x.state == State::Positive
                        && !x.revoked
                        && x.desc == n
                        && self.referenced(*k)
                        && self.permit(*k, false, Need::Search).is_ok()
                });
                match found {
                    Some(k) if k == old => return Outcome::Ok(0),
                    Some(k) => k,
                    None => self.new_key(KeyType::Keyring, n, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_LINK),
                }
            }
        };
        self.keys[new].state = State::Positive;
        self.keys[new].holds += 1;
        self.session = new;
        self.rcu_puts.push(old);
        Outcome::Key(self.name(new))
    }

    /// The key collector, run to completion: unlink invalidated keys, then
    /// destroy unreferenced keys pass by pass in serial order, each posting
    /// a removal record to every queue watching it.
    fn collect(&mut self) {
        loop {
            for r in 0..self.keys.len() {
                if self.keys[r].alive && self.keys[r].type_ == KeyType::Keyring {
                    let keys = &self.keys;
                    let (gone, kept): (Vec<usize>, Vec<usize>) =
                        keys[r].links.iter().copied().partition(|x| keys[*x].invalidated);
                    self.keys[r].links = kept;
                    // keyring_gc() leaves a revoked or invalidated keyring alone.
                    let skipped = self.keys[r].invalidated || self.keys[r].revoked;
                    if self.gc_unlink_records && !skipped {
                        for g in &gone {
                            self.notify(r, NOTIFY_KEY_UNLINKED, SAux::Key(*g));
                        }
                    }
                    self.excise(gone);
                }
            }
            let mut dead: Vec<usize> = (0..self.keys.len())
                .filter(|k| self.keys[*k].alive && self.keys[*k].holds == 0 && self.linked_count(*k) == 0)
                .collect();
            if dead.is_empty() {
                return;
            }
            dead.sort_by_key(|k| (self.keys[*k].serial.is_none(), self.keys[*k].serial, self.keys[*k].created));
            for k in &dead {
                self.keys[*k].alive = false;
            }
            for k in dead {
                for (p, tag) in std::mem::take(&mut self.keys[k].watchers) {
                    self.unwatched += 1;
                    self.post(p, SRec::Removal { key: k, tag }, 16);
                }
                self.keys[k].links.clear();
            }
        }
    }

    // ---- pipes --------------------------------------------------------------

    fn end(&self, fd: FdRef) -> R<(usize, End)> {
        match fd {
            FdRef::End(s, e) => {
                let p = *self.pipe_slots.get(&s).ok_or(Errno::EBADF)?;
                let idx = if e == End::Read { 0 } else { 1 };
                if !self.pipes[p].open[idx] {
                    return Err(Errno::EBADF);
                }
                Ok((p, e))
            }
            FdRef::File(_) | FdRef::Raw(_) => Err(Errno::EBADF),
        }
    }

    fn close_pipe_end(&mut self, p: usize, e: End) {
        let idx = if e == End::Read { 0 } else { 1 };
        self.pipes[p].open[idx] = false;
        if !self.pipes[p].alive() {
            // The queue is torn down: its watches go, silently.
            for k in 0..self.keys.len() {
                while self.remove_watch(k, p).is_some() {}
            }
        }
    }

    fn read(&mut self, p: usize, len: usize) -> Outcome {
        match self.read_items(p, len) {
            Ok(recs) => {
                Outcome::Records(recs.iter().map(|r| r.as_ref().map_or(Canon::Loss, |r| self.render(r))).collect())
            }
            Err(o) => o,
        }
    }

    /// The records one read takes (`None` for the loss record), or what
    /// the read returns instead.
    fn read_items(&mut self, p: usize, len: usize) -> Result<Vec<Option<SRec>>, Outcome> {
        let nonblock = self.pipes[p].nonblock[0];
        let writers = self.pipes[p].open[1];
        let pipe = &mut self.pipes[p];
        if len == 0 {
            return if pipe.notify { Ok(vec![]) } else { Err(Outcome::Bytes(vec![])) };
        }
        if !pipe.notify {
            let mut out = Vec::new();
            while out.len() < len {
                let Some(front) = pipe.bufs.front_mut() else {
                    break;
                };
                let n = (len - out.len()).min(front.data.len() - front.read);
                out.extend_from_slice(&front.data[front.read..front.read + n]);
                front.read += n;
                if front.read == front.data.len() {
                    pipe.bufs.pop_front();
                }
            }
            if !out.is_empty() || !writers {
                return Err(Outcome::Bytes(out));
            }
            return Err(if nonblock { Outcome::Err(Errno::EAGAIN) } else { Outcome::Blocked });
        }
        let mut out: Vec<Option<SRec>> = Vec::new();
        let mut left = len;
        loop {
            if pipe.pending_loss {
                if left < 8 {
                    if out.is_empty() {
                        return Err(Outcome::Err(Errno::ENOBUFS));
                    }
                    break;
                }
                out.push(None);
                left -= 8;
                pipe.pending_loss = false;
            }
            if let Some(front) = pipe.queue.front() {
                if front.len > left {
                    if out.is_empty() {
                        return Err(Outcome::Err(Errno::ENOBUFS));
                    }
                    break;
                }
                let item = pipe.queue.pop_front().unwrap();
                left -= item.len;
                out.push(Some(item.rec));
                if item.loss_after {
                    pipe.pending_loss = true;
                }
                if left == 0 {
                    break;
                }
                if !pipe.queue.is_empty() {
                    continue;
                }
            }
            if !writers || !out.is_empty() {
                break;
            }
            return Err(if nonblock { Outcome::Err(Errno::EAGAIN) } else { Outcome::Blocked });
        }
        Ok(out)
    }

    fn write(&mut self, p: usize, data: &[u8]) -> Outcome {
        let page = self.page_size as usize;
        let nonblock = self.pipes[p].nonblock[1];
        let pipe = &mut self.pipes[p];
        if pipe.notify {
            return Outcome::Err(Errno::EXDEV);
        }
        if data.is_empty() {
            return Outcome::Ok(0);
        }
        if !pipe.open[0] {
            return Outcome::Err(Errno::EPIPE);
        }
        let mut done = 0;
        let chars = data.len() & (page - 1);
        if chars != 0 {
            if let Some(last) = pipe.bufs.back_mut() {
                if last.merge && last.data.len() + chars <= page {
                    last.data.extend_from_slice(&data[..chars]);
                    done = chars;
                }
            }
        }
        while done < data.len() {
            if pipe.bufs.len() as u32 >= pipe.max_usage {
                if done > 0 {
                    break;
                }
                return if nonblock { Outcome::Err(Errno::EAGAIN) } else { Outcome::Blocked };
            }
            let n = (data.len() - done).min(page);
            pipe.bufs.push_back(PlainBuf { data: data[done..done + n].to_vec(), read: 0, merge: true });
            done += n;
        }
        Outcome::Ok(done as i64)
    }

    fn poll(&self, p: usize, e: End) -> u32 {
        let pipe = &self.pipes[p];
        let occ = if pipe.notify { pipe.queue.len() } else { pipe.bufs.len() } as u32;
        let mut m = 0;
        match e {
            End::Read => {
                if occ > 0 {
                    m |= POLLIN | POLLRDNORM;
                }
                if !pipe.open[1] {
                    m |= POLLHUP;
                }
            }
            End::Write => {
                if occ < pipe.max_usage {
                    m |= POLLOUT | POLLWRNORM;
                }
                if !pipe.open[0] {
                    m |= POLLERR;
                }
            }
        }
        m
    }

    fn ioctl(&mut self, p: usize, e: End, req: &IoctlReq) -> Outcome {
        let npp = self.page_size / 128;
        let pipe = &mut self.pipes[p];
        match req {
            IoctlReq::Fionbio(on) => {
                pipe.nonblock[if e == End::Read { 0 } else { 1 }] = *on;
                Outcome::Ok(0)
            }
            IoctlReq::Fionread => Outcome::Ok(if pipe.notify {
                pipe.queue.iter().map(|i| i.len as i64).sum()
            } else {
                pipe.bufs.iter().map(|b| (b.data.len() - b.read) as i64).sum()
            }),
            IoctlReq::SetSize(n) => {
                if !pipe.notify {
                    return Outcome::Err(Errno::ENODEV);
                }
                if pipe.capacity.is_some() {
                    return Outcome::Err(Errno::EBUSY);
                }
                let n = *n as u32;
                if !(1..=512).contains(&n) {
                    return Outcome::Err(Errno::EINVAL);
                }
                let pages = n.div_ceil(npp);
                pipe.capacity = Some(pages * npp);
                pipe.max_usage = pages;
                Outcome::Ok(0)
            }
            IoctlReq::SetFilter(arg) => {
                if !pipe.notify {
                    return Outcome::Err(Errno::ENODEV);
                }
                match arg {
                    None => {
                        pipe.filter = None;
                        Outcome::Ok(0)
                    }
                    Some(b) => match SpecFilter::parse(b) {
                        Ok(f) => {
                            pipe.filter = Some(f);
                            Outcome::Ok(0)
                        }
                        Err(e) => Outcome::Err(e),
                    },
                }
            }
            IoctlReq::Other(_) => Outcome::Err(Errno::ENOTTY),
        }
    }

    fn watch(&mut self, key: KeyRef, fd: FdRef, tag: i32) -> R<i64> {
        if !(-1..=255).contains(&tag) {
            return Err(Errno::EINVAL);
        }
        let k = self.lookup(key, CREATE, Need::View)?;
        let p = match self.end(fd) {
            Ok((p, _)) if self.pipes[p].notify => p,
            _ => return Err(Errno::EINVAL),
        };
        if tag >= 0 {
            if self.keys[k].watchers.iter().any(|(q, _)| *q == p) {
                return Err(Errno::EBUSY);
            }
            if self.nr_watches + 1 > self.rlimit_nofile {
                return Err(Errno::EAGAIN);
            }
            self.nr_watches += 1;
            self.keys[k].watchers.insert(0, (p, tag as u8));
            Ok(0)
        } else {
            let tag = self.remove_watch(k, p).ok_or(Errno::EBADSLT)?;
            self.post(p, SRec::Removal { key: k, tag }, 16);
            Ok(0)
        }
    }

    /// The type string check of `add_key` and `request_key`.
    fn type_string(t: &str) -> R<()> {
        if t.is_empty() || t.len() >= 32 {
            return Err(Errno::EINVAL);
        }
        if t.starts_with('.') {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    fn default_perm(t: KeyType) -> u32 {
        let mut perm = KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_LINK | KEY_POS_SETATTR | KEY_POS_WRITE | KEY_USR_VIEW;
        if t != KeyType::Logon {
            perm |= KEY_POS_READ;
        }
        perm
    }

    /// A `logon` description needs a `service:` prefix.
    fn vet(t: KeyType, desc: &str) -> R<()> {
        if t == KeyType::Logon && !matches!(desc.find(':'), Some(i) if i > 0) {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn bound(&mut self, slot: u8, r: R<usize>) -> Outcome {
        match r {
            Ok(k) => {
                self.key_slots.insert(slot, k);
                Outcome::Key(self.name(k))
            }
            Err(Errno::ERESTARTSYS) => Outcome::Blocked,
            Err(e) => Outcome::Err(e),
        }
    }

    /// `add_key`: update a live key of an updatable type with the same
    /// description in place (UPDATED), else make a new key and link it
    /// (LINKED), displacing a same-description link.
    fn add_key(&mut self, slot: u8, t: &str, desc: &str, payload: &[u8], ring: KeyRef) -> Outcome {
        let r: R<usize> = (|| {
            if payload.len() > 1024 * 1024 - 1 {
                return Err(Errno::EINVAL);
            }
            Self::type_string(t)?;
            if desc.starts_with('.') && t.starts_with("keyring") {
                return Err(Errno::EPERM);
            }
            let (ring, ring_possessed) = self.lookup_ref(ring, CREATE, Need::Write)?;
            let t = KeyType::lookup(t).ok_or(Errno::ENODEV)?;
            if self.keys[ring].type_ != KeyType::Keyring {
                return Err(Errno::ENOTDIR);
            }
            let valid = match t {
                KeyType::Keyring => payload.is_empty(),
                _ => !payload.is_empty() && payload.len() <= 32767,
            };
            if !valid || desc.is_empty() {
                return Err(Errno::EINVAL);
            }
            if self.keys[ring].restricted {
                return Err(Errno::EPERM);
            }
            if t.has_update() {
                let existing = self.keys[ring].links.iter().copied().find(|x| {
                    self.keys[*x].type_ == t
                        && self.keys[*x].desc == desc
                        && !self.keys[*x].revoked
                        && !self.keys[*x].invalidated
                });
                if let Some(e) = existing {
                    if self.keys[e].state == State::Constructing {
                        return Err(Errno::ERESTARTSYS);
                    }
                    // Update in place: write permission on the key, through
                    // the keyring's possession.
                    self.permit(e, ring_possessed, Need::Write)?;
                    self.keys[e].state = State::Positive;
                    self.notify(e, NOTIFY_KEY_UPDATED, SAux::Text("0".into()));
                    return Ok(e);
                }
            }
            Self::vet(t, desc)?;
            let k = self.new_key(t, desc, Self::default_perm(t));
            self.keys[k].state = State::Positive;
            self.key_slots.insert(slot, k);
            self.link(ring, k);
            Ok(k)
        })();
        self.bound(slot, r)
    }

    /// The keyrings `request_key` searches (thread, process, session), in
    /// order, each depth first, direct links before nested keyrings.
    fn search(&self, t: KeyType, desc: &str) -> Option<usize> {
        let mut roots: Vec<usize> = Vec::new();
        roots.extend(self.thread_keyring);
        roots.extend(self.process_keyring);
        roots.push(self.session);
        let mut seen = vec![false; self.keys.len()];
        for root in roots {
            let mut stack = vec![root];
            while let Some(r) = stack.pop() {
                if std::mem::replace(&mut seen[r], true) {
                    continue;
                }
                for &c in &self.keys[r].links {
                    let k = &self.keys[c];
                    if k.type_ == t && k.desc == desc && !k.revoked && !k.invalidated {
                        return Some(c);
                    }
                }
                let nested: Vec<usize> = self.keys[r]
                    .links
                    .iter()
                    .rev()
                    .copied()
                    .filter(|c| self.keys[*c].type_ == KeyType::Keyring)
                    .collect();
                stack.extend(nested);
            }
        }
        None
    }

    /// `request_key` with callout information: an existing key is linked
    /// into the destination; otherwise a key under construction is made
    /// and linked there (the session keyring by default).
    fn request_key(&mut self, slot: u8, t: &str, desc: &str, dest: KeyRef) -> Outcome {
        let r: R<usize> = (|| {
            Self::type_string(t)?;
            let dest = if dest == KeyRef::Raw(0) { None } else { Some(self.lookup(dest, CREATE, Need::Write)?) };
            let t = KeyType::lookup(t).ok_or(Errno::ENOKEY)?;
            if let Some(k) = self.search(t, desc) {
                match self.keys[k].state {
                    State::Constructing => return Err(Errno::ERESTARTSYS),
                    State::Negative(e) => return Err(e),
                    State::Positive => {}
                }
                if let Some(d) = dest {
                    self.permit(k, true, Need::Link)?;
                    self.key_link(d, k)?;
                }
                return Ok(k);
            }
            let d = dest.unwrap_or(self.session);
            if self.keys[d].type_ != KeyType::Keyring {
                return Err(Errno::ENOTDIR);
            }
            Self::vet(t, desc)?;
            let k = self.new_key(t, desc, Self::default_perm(t));
            self.keys[k].holds = 1; // the construction
            self.keys[k].construction_dest = Some(d);
            self.keys[d].holds += 1;
            self.key_slots.insert(slot, k);
            self.link(d, k);
            Ok(k)
        })();
        self.bound(slot, r)
    }

    /// `key_link()`: `ENOTDIR`, a cycle (`EDEADLK`), too deep (`ELOOP`),
    /// else link (LINKED).
    fn key_link(&mut self, ring: usize, k: usize) -> R<()> {
        if self.keys[ring].type_ != KeyType::Keyring {
            return Err(Errno::ENOTDIR);
        }
        if self.keys[ring].restricted {
            return Err(Errno::EPERM);
        }
        if self.keys[k].type_ == KeyType::Keyring {
            self.detect_cycle(ring, k, 0)?;
        }
        self.link(ring, k);
        Ok(())
    }

    /// Searching `at`'s tree for `target`: `EDEADLK` when found, `ELOOP`
    /// when more than six keyrings deep.
    fn detect_cycle(&self, target: usize, at: usize, depth: usize) -> R<()> {
        if at == target {
            return Err(Errno::EDEADLK);
        }
        for &c in &self.keys[at].links {
            if c == target {
                return Err(Errno::EDEADLK);
            }
            if self.keys[c].type_ == KeyType::Keyring {
                if depth >= 6 {
                    return Err(Errno::ELOOP);
                }
                self.detect_cycle(target, c, depth + 1)?;
            }
        }
        Ok(())
    }

    fn keyctl(&mut self, op: &Op) -> R<i64> {
        match op {
            Op::Update { key, payload } => {
                if payload.len() > self.page_size as usize {
                    return Err(Errno::EINVAL);
                }
                let k = self.lookup(*key, 0, Need::Write)?;
                if !self.keys[k].type_.has_update() {
                    return Err(Errno::EOPNOTSUPP);
                }
                if payload.is_empty() || payload.len() > 32767 {
                    return Err(Errno::EINVAL);
                }
                self.notify(k, NOTIFY_KEY_UPDATED, SAux::Text("0".into()));
                Ok(0)
            }
            Op::Revoke { key } => {
                let k = match self.lookup(*key, 0, Need::Write) {
                    Err(Errno::EACCES) => self.lookup(*key, 0, Need::Setattr)?,
                    r => r?,
                };
                self.keys[k].revoked = true;
                self.notify(k, NOTIFY_KEY_REVOKED, SAux::Text("0".into()));
                if self.keys[k].type_ == KeyType::Keyring {
                    let old = std::mem::take(&mut self.keys[k].links);
                    self.excise(old);
                }
                Ok(0)
            }
            Op::Invalidate { key } => {
                let k = self.lookup(*key, 0, Need::Search)?;
                self.keys[k].invalidated = true;
                self.notify(k, NOTIFY_KEY_INVALIDATED, SAux::Text("0".into()));
                Ok(0)
            }
            Op::Clear { keyring } => {
                let k = self.lookup(*keyring, CREATE, Need::Write)?;
                if self.keys[k].type_ != KeyType::Keyring {
                    return Err(Errno::ENOTDIR);
                }
                let old = std::mem::take(&mut self.keys[k].links);
                self.excise(old);
                self.notify(k, NOTIFY_KEY_CLEARED, SAux::Text("0".into()));
                Ok(0)
            }
            Op::Link { key, keyring } => {
                let ring = self.lookup(*keyring, CREATE, Need::Write)?;
                let k = self.lookup(*key, CREATE, Need::Link)?;
                self.key_link(ring, k)?;
                Ok(0)
            }
            Op::Unlink { key, keyring } => {
                let ring = self.lookup(*keyring, 0, Need::Write)?;
                let k = self.lookup(*key, PARTIAL, Need::Unlink)?;
                if self.keys[ring].type_ != KeyType::Keyring {
                    return Err(Errno::ENOTDIR);
                }
                let (t, d) = (self.keys[k].type_, self.keys[k].desc.clone());
                let keys = &self.keys;
                let i = keys[ring]
                    .links
                    .iter()
                    .position(|x| keys[*x].type_ == t && keys[*x].desc == d)
                    .ok_or(Errno::ENOENT)?;
                let old = self.keys[ring].links.remove(i);
                self.excise(vec![old]);
                self.notify(ring, NOTIFY_KEY_UNLINKED, SAux::Key(k));
                Ok(0)
            }
            Op::Chown { key, uid, gid } => {
                if *uid == -1 && *gid == -1 {
                    return Ok(0);
                }
                let k = self.lookup(*key, CREATE | PARTIAL, Need::Setattr)?;
                if *uid != -1 {
                    self.keys[k].uid = *uid as u32;
                }
                if *gid != -1 {
                    self.keys[k].gid = *gid as u32;
                }
                self.notify(k, NOTIFY_KEY_SETATTR, SAux::Text("0".into()));
                Ok(0)
            }
            Op::Setperm { key, perm } => {
                if perm & !(KEY_POS_ALL | KEY_USR_ALL | KEY_GRP_ALL | KEY_OTH_ALL) != 0 {
                    return Err(Errno::EINVAL);
                }
                let k = self.lookup(*key, CREATE | PARTIAL, Need::Setattr)?;
                self.keys[k].perm = *perm;
                self.notify(k, NOTIFY_KEY_SETATTR, SAux::Text("0".into()));
                Ok(0)
            }
            Op::SetTimeout { key, .. } => {
                let k = self.lookup(*key, CREATE | PARTIAL, Need::Setattr)?;
                self.notify(k, NOTIFY_KEY_SETATTR, SAux::Text("0".into()));
                Ok(0)
            }
            Op::Instantiate { key, keyring, .. } => self.construct(*key, keyring, None, op),
            Op::Reject { key, error, keyring, .. } => {
                let Some(e) =
                    Errno::from_number(*error).filter(|e| *error > 0 && *error < 4095 && *e != Errno::ERESTARTSYS)
                else {
                    return Err(Errno::EINVAL);
                };
                self.construct(*key, keyring, Some(e), op)
            }
            Op::WatchKey { key, fd, tag } => self.watch(*key, *fd, *tag),
            Op::Restrict { keyring, type_restriction } => {
                let k = self.lookup(*keyring, 0, Need::Setattr)?;
                if let Some((t, _)) = type_restriction {
                    Self::type_string(t)?;
                }
                if self.keys[k].type_ != KeyType::Keyring {
                    return Err(Errno::ENOTDIR);
                }
                if let Some((t, _)) = type_restriction {
                    // No type here offers a restriction.
                    return Err(if KeyType::lookup(t).is_none() { Errno::ENOKEY } else { Errno::ENOENT });
                }
                if self.keys[k].restricted {
                    return Err(Errno::EEXIST);
                }
                self.keys[k].restricted = true;
                self.notify(k, NOTIFY_KEY_SETATTR, SAux::Text("0".into()));
                Ok(0)
            }
            _ => unreachable!("not a keyctl operation"),
        }
    }

    /// The ring id userspace passes for a destination operand.
    fn ring_id(&self, r: KeyRef) -> i32 {
        match r {
            KeyRef::Session => KEY_SPEC_SESSION_KEYRING,
            KeyRef::User => KEY_SPEC_USER_KEYRING,
            KeyRef::Raw(n) => n,
            KeyRef::Slot(s) => {
                self.key_slots.get(&s).and_then(|k| self.keys[*k].serial).map_or(0x7fff_fff0, |x| x as i32)
            }
        }
    }

    /// Instantiate or reject a key under construction.
    fn construct(&mut self, key: KeyRef, keyring: &Option<KeyRef>, reject: Option<Errno>, op: &Op) -> R<i64> {
        let k = match key {
            KeyRef::Slot(s) => self.key_slots.get(&s).copied().filter(|k| self.keys[*k].alive).ok_or(Errno::EPERM)?,
            _ => return Err(Errno::EPERM),
        };
        if self.keys[k].state != State::Constructing {
            return Err(Errno::EPERM);
        }
        // get_instantiation_keyring()
        let ringid = keyring.map_or(0, |r| self.ring_id(r));
        let dest = if ringid == 0 {
            None
        } else if ringid > 0 {
            Some(self.lookup(keyring.expect("nonzero"), CREATE, Need::Write)?)
        } else if ringid == KEY_SPEC_REQKEY_AUTH_KEY {
            return Err(Errno::EINVAL);
        } else if ringid >= KEY_SPEC_REQUESTOR_KEYRING {
            self.keys[k].construction_dest
        } else {
            return Err(Errno::ENOKEY);
        };
        if let Op::Instantiate { payload, .. } = op {
            let ok = match self.keys[k].type_ {
                KeyType::Keyring => payload.is_empty(),
                _ => !payload.is_empty() && payload.len() <= 32767,
            };
            if !ok {
                return Err(Errno::EINVAL);
            }
        }
        // A rejection into a restricted keyring ends before the rejection;
        // an instantiation, after the keyring's other checks. A rejection
        // whose destination cannot be linked into (not a keyring, revoked)
        // still rejects the key, and returns that error.
        let mut link_err = None;
        if let Some(d) = dest {
            if reject.is_some() && self.keys[d].type_ == KeyType::Keyring && self.keys[d].restricted {
                return Err(Errno::EPERM);
            }
            if self.keys[d].type_ != KeyType::Keyring {
                link_err = Some(Errno::ENOTDIR);
            } else if self.keys[d].revoked {
                link_err = Some(Errno::EKEYREVOKED);
            } else if self.keys[d].restricted {
                link_err = Some(Errno::EPERM);
            }
            if let (Some(e), None) = (link_err, reject) {
                return Err(e);
            }
        }
        self.keys[k].state = match reject {
            None => State::Positive,
            Some(e) => State::Negative(e),
        };
        if let (Some(d), None) = (dest, link_err) {
            self.link(d, k);
        }
        // The construction (and its hold on the destination) ends.
        self.keys[k].holds -= 1;
        if let Some(d) = self.keys[k].construction_dest.take() {
            self.keys[d].holds -= 1;
        }
        link_err.map_or(Ok(0), Err)
    }

    fn splice(&mut self, fd_in: FdRef, fd_out: FdRef, len: usize, flags: u32) -> R<i64> {
        if len == 0 {
            return Ok(0);
        }
        if flags & !0x0f != 0 {
            return Err(Errno::EINVAL);
        }
        let (pi, ei) = self.end(fd_in)?;
        let (po, eo) = self.end(fd_out)?;
        if ei != End::Read || eo != End::Write {
            return Err(Errno::EBADF);
        }
        let (ni, no) = (self.pipes[pi].notify, self.pipes[po].notify);
        match (ni, no) {
            (false, true) => {
                let p = &self.pipes[pi];
                if p.bufs.is_empty() {
                    if !p.open[1] {
                        return Ok(0);
                    }
                    if flags & 0x02 != 0 || p.nonblock[0] {
                        return Err(Errno::EAGAIN);
                    }
                    return Err(Errno::ERESTARTSYS);
                }
                Err(Errno::EXDEV)
            }
            (true, false) => {
                let p = &self.pipes[po];
                if !p.open[0] {
                    return Err(Errno::EPIPE);
                }
                if p.bufs.len() as u32 >= p.max_usage {
                    return Err(if flags & 0x02 != 0 { Errno::EAGAIN } else { Errno::ERESTARTSYS });
                }
                Err(Errno::EINVAL)
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

// ---- files that are not pipes ------------------------------------------------

/// Either side of a splice: an open file, or a pipe end.
#[derive(Clone, Copy)]
enum Side {
    File(u8),
    Pipe(usize, End),
}

/// `F_SETFL` may change these: `O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME`.
const SETFL_MASK: u32 = 0o2000 | O_NONBLOCK | O_DIRECT | 0o1000000;

impl Spec {
    /// The open file an operand names.
    fn open_file(&self, fd: FdRef) -> Option<u8> {
        match fd {
            FdRef::File(n) if self.files.get(&n).is_some_and(|f| f.open) => Some(n),
            _ => None,
        }
    }

    fn side(&self, fd: FdRef) -> R<Side> {
        match self.open_file(fd) {
            Some(n) => Ok(Side::File(n)),
            None => self.end(fd).map(|(p, e)| Side::Pipe(p, e)),
        }
    }

    /// What a poll finds ready: `/dev/null` and a regular file have no
    /// poll of their own and are always ready both ways; a terminal nobody
    /// types into can be written, never read.
    fn file_mask(kind: OpenKind) -> u32 {
        match kind {
            OpenKind::Tty => POLLOUT | POLLWRNORM,
            _ => POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM,
        }
    }

    /// Read up to `len` bytes at the file position.
    fn file_read(&mut self, n: u8, len: usize) -> Outcome {
        let f = self.files.get_mut(&n).expect("open file");
        match f.kind {
            OpenKind::Null => Outcome::Bytes(vec![]),
            OpenKind::Tty if len == 0 => Outcome::Bytes(vec![]),
            OpenKind::Tty if f.flags & O_NONBLOCK != 0 => Outcome::Err(Errno::EAGAIN),
            OpenKind::Tty => Outcome::Blocked,
            OpenKind::Regular => {
                let from = f.pos.min(f.data.len());
                let to = from.saturating_add(len).min(f.data.len());
                f.pos = f.pos.max(to);
                Outcome::Bytes(f.data[from..to].to_vec())
            }
        }
    }

    /// Write at the file position: all of it, always.
    fn file_write(&mut self, n: u8, data: &[u8]) -> i64 {
        let f = self.files.get_mut(&n).expect("open file");
        if f.kind == OpenKind::Regular {
            let end = f.pos + data.len();
            if f.data.len() < end {
                f.data.resize(end, 0);
            }
            f.data[f.pos..end].copy_from_slice(data);
            f.pos = end;
        }
        data.len() as i64
    }

    /// An operation on a file that is not a pipe; `None` when the
    /// operation names no open file.
    fn file_op(&mut self, op: &Op) -> Option<Outcome> {
        let out = match op {
            Op::Open { file, kind, flags } => {
                if flags & O_DIRECT != 0 {
                    return Some(Outcome::Err(Errno::EINVAL));
                }
                let f = SFile {
                    kind: *kind,
                    open: true,
                    flags: O_RDWR | O_LARGEFILE | (flags & O_NONBLOCK),
                    data: vec![],
                    pos: 0,
                };
                self.files.insert(*file, f);
                Outcome::Ok(0)
            }
            Op::Close { fd } => {
                let n = self.open_file(*fd)?;
                self.files.get_mut(&n).expect("open file").open = false;
                Outcome::Ok(0)
            }
            Op::Read { fd, len } => {
                let n = self.open_file(*fd)?;
                self.file_read(n, *len)
            }
            Op::Write { fd, data } => {
                let n = self.open_file(*fd)?;
                Outcome::Ok(self.file_write(n, data))
            }
            Op::Ioctl { fd, req } => {
                let f = self.files.get_mut(&self.open_file(*fd)?).expect("open file");
                match (req, f.kind) {
                    (IoctlReq::Fionbio(on), _) => {
                        f.flags = if *on { f.flags | O_NONBLOCK } else { f.flags & !O_NONBLOCK };
                        Outcome::Ok(0)
                    }
                    (IoctlReq::Fionread, OpenKind::Regular) => Outcome::Ok(f.data.len() as i64 - f.pos as i64),
                    (IoctlReq::Fionread, OpenKind::Tty) => Outcome::Ok(0),
                    _ => Outcome::Err(Errno::ENOTTY),
                }
            }
            Op::Fcntl { fd, cmd, arg } => {
                let f = self.files.get_mut(&self.open_file(*fd)?).expect("open file");
                match *cmd {
                    3 => Outcome::Ok(f.flags as i64),
                    4 if arg & O_DIRECT != 0 => Outcome::Err(Errno::EINVAL),
                    4 => {
                        f.flags = (arg & SETFL_MASK) | (f.flags & !SETFL_MASK);
                        Outcome::Ok(0)
                    }
                    F_GETPIPE_SZ | F_SETPIPE_SZ => Outcome::Err(Errno::EBADF),
                    _ => Outcome::Err(Errno::EINVAL),
                }
            }
            Op::Poll { fd, events, timeout } => {
                let n = self.open_file(*fd)?;
                match (Self::file_mask(self.files[&n].kind) & (events | POLLERR | POLLHUP), *timeout) {
                    (0, t) if t < 0 => Outcome::Blocked,
                    (0, t) if t > 0 => {
                        self.settle();
                        Outcome::Poll(0)
                    }
                    (m, _) => Outcome::Poll(m),
                }
            }
            Op::Epoll { fd, .. } => match self.files[&self.open_file(*fd)?].kind {
                OpenKind::Tty => Outcome::Poll(POLLOUT | POLLWRNORM),
                _ => Outcome::Err(Errno::EPERM),
            },
            Op::Splice { fd_in, fd_out, len, flags } => {
                self.open_file(*fd_in).or(self.open_file(*fd_out))?;
                nr(self.file_splice(*fd_in, *fd_out, *len, *flags))
            }
            Op::Tee { fd_in, fd_out, len, flags } => {
                self.open_file(*fd_in).or(self.open_file(*fd_out))?;
                nr((|| {
                    if flags & !0x0f != 0 {
                        return Err(Errno::EINVAL);
                    }
                    if *len == 0 {
                        return Ok(0);
                    }
                    let (i, o) = (self.side(*fd_in)?, self.side(*fd_out)?);
                    if matches!(i, Side::Pipe(_, End::Write)) || matches!(o, Side::Pipe(_, End::Read)) {
                        return Err(Errno::EBADF);
                    }
                    Err(Errno::EINVAL)
                })())
            }
            Op::Vmsplice { fd, len, flags } => {
                self.open_file(*fd)?;
                nr(if flags & !0x0f != 0 {
                    Err(Errno::EINVAL)
                } else if *len == 0 {
                    Ok(0)
                } else {
                    Err(Errno::EBADF)
                })
            }
            _ => return None,
        };
        Some(out)
    }

    /// `splice` with a file on one side: a plain pipe drains into a file
    /// or fills from one; every other pairing is `EINVAL`.
    fn file_splice(&mut self, fd_in: FdRef, fd_out: FdRef, len: usize, flags: u32) -> R<i64> {
        if len == 0 {
            return Ok(0);
        }
        if flags & !0x0f != 0 {
            return Err(Errno::EINVAL);
        }
        let (i, o) = (self.side(fd_in)?, self.side(fd_out)?);
        if matches!(i, Side::Pipe(_, End::Write)) || matches!(o, Side::Pipe(_, End::Read)) {
            return Err(Errno::EBADF);
        }
        let page = self.page_size as usize;
        match (i, o) {
            (Side::Pipe(p, _), Side::File(n)) if !self.pipes[p].notify => {
                if self.files[&n].flags & 0o2000 != 0 {
                    return Err(Errno::EINVAL);
                }
                let pipe = &mut self.pipes[p];
                if pipe.bufs.is_empty() {
                    if !pipe.open[1] {
                        return Ok(0);
                    }
                    return Err(if flags & 0x02 != 0 || pipe.nonblock[0] { Errno::EAGAIN } else { Errno::ERESTARTSYS });
                }
                let mut out = Vec::new();
                while out.len() < len {
                    let Some(front) = pipe.bufs.front_mut() else { break };
                    let k = (len - out.len()).min(front.data.len() - front.read);
                    out.extend_from_slice(&front.data[front.read..front.read + k]);
                    front.read += k;
                    if front.read == front.data.len() {
                        pipe.bufs.pop_front();
                    }
                }
                self.file_write(n, &out);
                Ok(out.len() as i64)
            }
            (Side::File(n), Side::Pipe(p, _)) if !self.pipes[p].notify => {
                let nonblock = flags & 0x02 != 0 || self.pipes[p].nonblock[1];
                let pipe = &self.pipes[p];
                if !pipe.open[0] {
                    return Err(Errno::EPIPE);
                }
                let room = pipe.max_usage.saturating_sub(pipe.bufs.len() as u32) as usize;
                if room == 0 {
                    return Err(if nonblock { Errno::EAGAIN } else { Errno::ERESTARTSYS });
                }
                let f = &self.files[&n];
                match f.kind {
                    OpenKind::Null => return Err(Errno::EINVAL),
                    OpenKind::Tty if f.flags & O_NONBLOCK != 0 => return Err(Errno::EAGAIN),
                    OpenKind::Tty => return Err(Errno::ERESTARTSYS),
                    OpenKind::Regular => {}
                }
                // The file's pages go in as they are, one slot each.
                let from = f.pos.min(f.data.len());
                let to = from.saturating_add(len.min(room * page)).min(f.data.len());
                let mut at = from;
                let mut slots = 0;
                let mut bufs = Vec::new();
                while at < to && slots < room {
                    let end = to.min((at / page + 1) * page);
                    bufs.push(PlainBuf { data: f.data[at..end].to_vec(), read: 0, merge: false });
                    at = end;
                    slots += 1;
                }
                let done = at - from;
                self.files.get_mut(&n).expect("open file").pos += done;
                self.pipes[p].bufs.extend(bufs);
                Ok(done as i64)
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

impl Spec {
    fn apply_once(&mut self, op: &Op) -> Outcome {
        if let Some(out) = self.file_op(op) {
            return out;
        }
        let out = match op {
            Op::Pipe2 { pipe, flags } => {
                if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT | O_NOTIFICATION_PIPE) != 0 {
                    Outcome::Err(Errno::EINVAL)
                } else {
                    let nb = flags & O_NONBLOCK != 0;
                    self.pipes.push(SPipe {
                        notify: flags & O_NOTIFICATION_PIPE != 0,
                        open: [true, true],
                        nonblock: [nb, nb],
                        capacity: None,
                        max_usage: PIPE_DEF,
                        queue: VecDeque::new(),
                        pending_loss: false,
                        filter: None,
                        bufs: VecDeque::new(),
                    });
                    self.pipe_slots.insert(*pipe, self.pipes.len() - 1);
                    Outcome::Ok(0)
                }
            }
            Op::Close { fd } => match self.end(*fd) {
                Ok((p, e)) => {
                    self.close_pipe_end(p, e);
                    Outcome::Ok(0)
                }
                Err(e) => Outcome::Err(e),
            },
            Op::Read { fd, len } => match self.end(*fd) {
                Ok((p, End::Read)) => self.read(p, *len),
                Ok(_) => Outcome::Err(Errno::EBADF),
                Err(e) => Outcome::Err(e),
            },
            Op::Write { fd, data } => match self.end(*fd) {
                Ok((p, End::Write)) => self.write(p, data),
                Ok(_) => Outcome::Err(Errno::EBADF),
                Err(e) => Outcome::Err(e),
            },
            Op::Ioctl { fd, req } => match self.end(*fd) {
                Ok((p, e)) => self.ioctl(p, e, req),
                Err(e) => Outcome::Err(e),
            },
            Op::Fcntl { fd, cmd, .. } => match self.end(*fd) {
                Ok((p, _)) => match *cmd {
                    F_GETPIPE_SZ => Outcome::Ok(self.pipes[p].max_usage as i64 * self.page_size as i64),
                    F_SETPIPE_SZ if self.pipes[p].notify => Outcome::Err(Errno::EBUSY),
                    F_SETPIPE_SZ => {
                        let arg = match op {
                            Op::Fcntl { arg, .. } => *arg,
                            _ => 0,
                        };
                        let page = self.page_size;
                        let size = if arg > 1 << 31 {
                            0
                        } else if arg < page {
                            page
                        } else {
                            arg.next_power_of_two()
                        };
                        let slots = size / page;
                        let pipe = &mut self.pipes[p];
                        if slots == 0 {
                            Outcome::Err(Errno::EINVAL)
                        } else if (slots as usize) < pipe.bufs.len() {
                            Outcome::Err(Errno::EBUSY)
                        } else {
                            pipe.max_usage = slots;
                            Outcome::Ok(slots as i64 * page as i64)
                        }
                    }
                    _ => Outcome::Err(Errno::EINVAL),
                },
                Err(e) => Outcome::Err(e),
            },
            // poll(2) ignores a negative descriptor (a closed or never
            // opened end is -1): no events. It reports the events asked
            // for, with POLLERR and POLLHUP. Nothing ready: a zero timeout
            // returns 0; no timeout sleeps (nothing else runs in a
            // sequential run until the call is retried); a positive one
            // sleeps until its timer (the reference has no clock or
            // deferred work to end it sooner) and returns 0.
            Op::Poll { fd, events, timeout } => {
                let mask = match self.end(*fd) {
                    Ok((p, e)) => self.poll(p, e) & (events | POLLERR | POLLHUP),
                    Err(_) if negative(*fd) => 0,
                    Err(_) => POLLNVAL,
                };
                match (mask, *timeout) {
                    (0, t) if t < 0 => Outcome::Blocked,
                    // A poll that sleeps until its timer: deferred work
                    // (RCU callbacks, the collector) runs meanwhile.
                    (0, t) if t > 0 => {
                        self.settle();
                        Outcome::Poll(0)
                    }
                    (m, _) => Outcome::Poll(m),
                }
            }
            // epoll reports what poll does; EPOLL_CTL_ADD of a descriptor
            // that is not open is EBADF.
            Op::Epoll { fd, wait } => match self.end(*fd) {
                Ok((p, e)) => match self.poll(p, e) {
                    0 if *wait => Outcome::Blocked,
                    m => Outcome::Poll(m),
                },
                Err(e) => Outcome::Err(e),
            },
            Op::Splice { fd_in, fd_out, len, flags } => nr(self.splice(*fd_in, *fd_out, *len, *flags)),
            Op::Tee { fd_in, fd_out, len, flags } => nr((|| {
                if flags & !0x0f != 0 {
                    return Err(Errno::EINVAL);
                }
                if *len == 0 {
                    return Ok(0);
                }
                let (_, ei) = self.end(*fd_in)?;
                let (_, eo) = self.end(*fd_out)?;
                if ei != End::Read || eo != End::Write {
                    return Err(Errno::EBADF);
                }
                Err(Errno::EINVAL)
            })()),
            Op::Vmsplice { fd, len, flags } => nr((|| {
                if flags & !0x0f != 0 {
                    return Err(Errno::EINVAL);
                }
                let (p, _) = self.end(*fd)?;
                if *len == 0 {
                    return Ok(0);
                }
                Err(if self.pipes[p].notify { Errno::EBADF } else { Errno::EINVAL })
            })()),
            Op::AddKey { slot, type_, desc, payload, keyring } => self.add_key(*slot, type_, desc, payload, *keyring),
            Op::JoinSession { slot, name } => self.join_session(*slot, name.as_deref()),
            Op::RequestKey { slot, type_, desc, dest } => self.request_key(*slot, type_, desc, *dest),
            // The reference has no clock: a sleep is a wait for deferred
            // work, and no key expires (its scope: programs that do not
            // sleep past a timeout).
            Op::FailNth { .. } | Op::KeyGc | Op::RcuBarrier | Op::Sleep { .. } => Outcome::Ok(0),
            // Outside the reference's scope (it models no read
            // permission): comparisons leave programs with it out.
            Op::ReadKeyring { .. } => Outcome::Err(Errno::ENOSYS),
            // The reference has no LSM (its scope: no policy), where the
            // write fails.
            Op::SetLabel { .. } => Outcome::Err(Errno::EINVAL),
            // Linux has none of the patch series' device sources.
            Op::WatchDevices { .. } | Op::BlockError { .. } | Op::UsbEvent { .. } => Outcome::Err(Errno::ENOSYS),
            // Nor the mount and superblock sources (its scope: one pseudo
            // filesystem, no mounts).
            Op::WatchMount { .. }
            | Op::WatchSb { .. }
            | Op::Mount { .. }
            | Op::Umount { .. }
            | Op::MoveMount { .. }
            | Op::MountSetattr { .. }
            | Op::Expire { .. }
            | Op::Remount { .. }
            | Op::SbEvent { .. }
            | Op::MountChildren { .. } => Outcome::Err(Errno::ENOSYS),
            other => nr(self.keyctl(other)),
        };
        if op.waits_for_deferred_work() {
            self.settle();
        }
        out
    }
}

impl Sys for Spec {
    /// Run one operation as the sequential model does: deferred work (the
    /// key collector, RCU callbacks) stays pending until a wait for it
    /// (`key_gc`, `rcu_barrier`); a call that would sleep lets it finish
    /// and is tried again.
    fn apply(&mut self, op: &Op) -> Outcome {
        match self.apply_once(op) {
            Outcome::Blocked => {
                self.settle();
                self.apply_once(op)
            }
            out => out,
        }
    }
}

/// Whether an operand is a negative descriptor: an end that is closed or
/// was never opened (-1), or a negative raw number.
fn negative(fd: FdRef) -> bool {
    match fd {
        FdRef::End(..) | FdRef::File(_) => true,
        FdRef::Raw(n) => n < 0,
    }
}
