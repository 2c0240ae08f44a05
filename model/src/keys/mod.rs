//! Models security/keys/, the upstream event source: keys and keyrings,
//! the keyctl operations that post key notifications, and the garbage
//! collector that destroys keys (posting removal records to their
//! watchers). One file per kernel source file:
//!
//! | kernel file | module |
//! |---|---|
//! | security/keys/internal.h (`notify_key`) | [`self`] |
//! | security/keys/key.c | [`key`] |
//! | security/keys/keyring.c | [`keyring`] |
//! | security/keys/keyctl.c | [`keyctl`] |
//! | security/keys/process_keys.c | [`process_keys`] |
//! | security/keys/permission.c | [`permission`] |
//! | security/keys/request_key.c | [`request_key`] |
//! | security/keys/gc.c | [`gc`] |
//!
//! Time is a virtual clock ([`crate::kernel::Kernel::now`]) that moves
//! only when a program sleeps: keys expire, and the collector unlinks
//! expired and revoked keys `key_gc_delay` seconds later, on that clock.
//!
//! Each user's key quota (`maxkeys`, `maxbytes`, and root's own) is
//! charged as the kernel charges it: a key and its description at
//! allocation, a `user` key's payload, 4 bytes for each link in a
//! keyring; released when the key's last reference goes.
//!
//! APPROX: possession is
//! reachability from the session keyring through keyrings, without search
//! permission checks; key types are `user`, `logon` and `keyring`.

pub mod gc;
pub mod key;
pub mod keyctl;
pub mod keyring;
pub mod permission;
pub mod process_keys;
pub mod request_key;

use std::collections::BTreeMap;

use crate::heap::Id;
use crate::kernel::{Cx, UserStruct};
use crate::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};
use crate::sync::mutation;
use crate::sync::{Arc, KCell, KWord, Kref, RwSem, SpinLock, instr};
use crate::uapi::*;
use crate::watch_queue::{self, WatchList};

/// `KEY_FLAG_*` bit numbers.
pub const KEY_FLAG_DEAD: u32 = 0;
pub const KEY_FLAG_REVOKED: u32 = 1;
pub const KEY_FLAG_IN_QUOTA: u32 = 2;
pub const KEY_FLAG_USER_CONSTRUCT: u32 = 3;
pub const KEY_FLAG_INVALIDATED: u32 = 5;
/// `KEY_FLAG_FINAL_PUT`: `key_put()` dropped the last reference and is done
/// with the key; the collector may reap it (6.12; 6.1 has no such flag).
pub const KEY_FLAG_FINAL_PUT: u32 = 10;

/// A key type (`struct key_type`), by the properties the model needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyType {
    /// `key_type_user`: updatable, readable.
    User,
    /// `key_type_logon`: updatable, not readable.
    Logon,
    /// `key_type_keyring`: holds links; no `->update`.
    Keyring,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::User => "user",
            KeyType::Logon => "logon",
            KeyType::Keyring => "keyring",
        }
    }
    /// `key_type_lookup()`: `ENOKEY` for an unknown type.
    pub fn lookup(name: &str) -> Option<KeyType> {
        match name {
            "user" => Some(KeyType::User),
            "logon" => Some(KeyType::Logon),
            "keyring" => Some(KeyType::Keyring),
            _ => None,
        }
    }
    /// Whether the type has `->update`.
    pub fn has_update(self) -> bool {
        !matches!(self, KeyType::Keyring)
    }
    /// Whether the type has `->read`.
    pub fn has_read(self) -> bool {
        !matches!(self, KeyType::Logon)
    }
}

/// `key->state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// `KEY_IS_UNINSTANTIATED`.
    Uninstantiated,
    /// `KEY_IS_POSITIVE`.
    Positive,
    /// Negatively instantiated: lookups fail with this error.
    Negative(crate::errno::Errno),
}

/// Models `key->state`: written by `mark_key_instantiated()` with
/// `smp_store_release()` after the payload, read locklessly by
/// `key_read_state()` with `smp_load_acquire()`.
#[derive(Debug)]
pub struct KeyStateWord(AtomicI32);

impl KeyStateWord {
    pub fn new(s: KeyState) -> Self {
        KeyStateWord(AtomicI32::new(Self::encode(s)))
    }
    fn encode(s: KeyState) -> i32 {
        match s {
            KeyState::Uninstantiated => 0,
            KeyState::Positive => 1,
            KeyState::Negative(e) => -e.number(),
        }
    }
    /// `key_read_state()`.
    pub fn get(&self) -> KeyState {
        match self.0.load(mutation::acquire("key->state")) {
            0 => KeyState::Uninstantiated,
            1 => KeyState::Positive,
            n => KeyState::Negative(crate::errno::Errno::from_any(-n)),
        }
    }
    /// `smp_store_release(&key->state, ...)`.
    pub fn set(&self, s: KeyState) {
        self.0.store(Self::encode(s), mutation::release("key->state"))
    }
}

/// Models `struct key`.
///
/// Mirrors include/linux/key.h struct key of 6.12, lines 198-287, fp 989ded62105cfc79.
#[derive(Debug)]
pub struct Key {
    /// `security`: the LSM's label of the key, its creator's
    /// (`smack_key_alloc()` takes `smk_of_task()` of the creating cred).
    pub security: String,
    /// `restrict_link` of a keyring: whether links into it are refused
    /// (`restrict_link_reject`, the only restriction the model's types
    /// give). Set under `key->sem` by `keyring_restrict()`, read under it
    /// by the link paths.
    pub restricted: KCell<bool>,
    /// `usage`: references (keyring links, the session, lookups in flight).
    pub usage: Kref,
    /// `serial`.
    pub serial: i32,
    /// `sem`.
    pub sem: RwSem,
    /// `user`: the owner's accounting (`struct key_user`); `chown`
    /// moves the key to the new owner's.
    ///
    /// APPROX: an instrumentation mutex, not explored: the kernel changes
    /// it under `key->sem` while holding a reference, and reads it only at
    /// the final `key_put()`, so no interleaving of the two can matter.
    pub user: instr::Mutex<Arc<UserStruct>>,
    /// `quotalen`: the bytes charged to the owner's quota for this key
    /// (its description, then its payload or, for a keyring, 4 bytes a
    /// link), and `datalen`: the payload's share of it.
    pub quotalen: instr::Mutex<u32>,
    pub datalen: instr::Mutex<u32>,
    /// `expiry`: when the key expires on the virtual clock
    /// ([`NO_EXPIRY`]: never, the kernel's `TIME64_MAX`). The kernel's
    /// `revoked_at` shares its storage (a union in `struct key`): revoking
    /// a key sets its expiry to the time of revocation, which is how the
    /// collector comes to reap revoked keys.
    pub expiry: KTime,
    /// Instrumentation, not kernel state: when the key was revoked (0:
    /// never), for the oracle's `G1`, which must not trust `expiry` to
    /// hold it.
    pub revoked_when: KTime,
    /// `uid`, `gid` and `perm`: changed under `key->sem`, read without it
    /// by `key_task_permission()`.
    pub uid: KWord,
    pub gid: KWord,
    pub perm: KWord,
    /// `flags`.
    pub flags: AtomicU32,
    /// `state`.
    pub state: KeyStateWord,
    /// `type`.
    pub type_: KeyType,
    /// `description`.
    pub description: String,
    /// The payload of `user`/`logon` keys.
    pub payload: KCell<Vec<u8>>,
    /// A keyring's links (its assoc array), in link order; at most one
    /// key per (type, description).
    pub keys: KeyringLinks,
    /// `watchers`: the watch list, created by the first watch.
    pub watchers: KeyWatchers,
    /// For a key under construction: the destination keyring recorded in
    /// its authorisation (`rka->dest_keyring`, holding a reference).
    pub construction_dest: KCell<Option<Id<Key>>>,
}

impl Key {
    pub fn test_flag(&self, bit: u32) -> bool {
        self.flags.load(Ordering::Acquire) & (1 << bit) != 0
    }
    /// `test_and_set_bit()`: true if it was already set.
    pub fn test_and_set_flag(&self, bit: u32) -> bool {
        let old = if mutation::hit(mutation::Operator::AssignFlag, "key->flags") {
            self.flags.swap(1 << bit, Ordering::AcqRel)
        } else {
            self.flags.fetch_or(1 << bit, Ordering::AcqRel)
        };
        old & (1 << bit) != 0
    }
    /// `smp_mb(); set_bit()`: publish everything done to the key before.
    pub fn set_flag_after_mb(&self, bit: u32) {
        self.flags.fetch_or(1 << bit, Ordering::SeqCst);
    }
    pub fn clear_flag(&self, bit: u32) {
        self.flags.fetch_and(!(1 << bit), Ordering::AcqRel);
    }
    /// `key_serial()`.
    pub fn key_serial(&self) -> u32 {
        self.serial as u32
    }
}

/// Models `key->watchers`, the key's watch list, installed by the first
/// `KEYCTL_WATCH_KEY` (under `key->sem`) and read by `notify_key()`.
///
/// BUG(F5), the kernel today: plain accesses. `notify_key()` from
/// `__key_instantiate_and_link()` and `key_reject_and_link()` runs without
/// `key->sem` once `key->state` is published, and a task that found the
/// key by its serial may be installing the list then: a data race, and on
/// a weakly ordered CPU the poster can follow the new pointer to a list
/// whose initialisation it does not see. FIX(F5): publish the list with
/// `smp_store_release()` (`rcu_assign_pointer()`) and read it with
/// `smp_load_acquire()` (`rcu_dereference()`).
#[derive(Debug)]
pub struct KeyWatchers {
    plain: KCell<Option<Id<WatchList>>>,
    published: AtomicU32,
}

impl KeyWatchers {
    pub fn new() -> Self {
        KeyWatchers { plain: KCell::new(None), published: AtomicU32::new(0) }
    }
    /// Read `key->watchers`.
    pub fn get(&self, cx: &Cx<'_>) -> Option<Id<WatchList>> {
        if cx.bug(crate::bugs::Bug::F5) {
            self.plain.get()
        } else {
            Id::from_word(self.published.load(Ordering::Acquire))
        }
    }
    /// Store `key->watchers`, returning the old value.
    pub fn replace(&self, cx: &Cx<'_>, v: Option<Id<WatchList>>) -> Option<Id<WatchList>> {
        if cx.bug(crate::bugs::Bug::F5) {
            self.plain.replace(v)
        } else {
            Id::from_word(self.published.swap(Id::to_word(v), Ordering::AcqRel))
        }
    }
}

impl Default for KeyWatchers {
    fn default() -> Self {
        Self::new()
    }
}

/// Models a keyring's `keys`, its `assoc_array` (security/keys/keyring.c,
/// lib/assoc_array.c). Changes are made under the keyring's `key->sem`
/// (`__key_link()`, `key_unlink()`, `keyring_clear()`, `keyring_gc()`)
/// and published by `assoc_array_apply_edit()`, which installs the new
/// root with `rcu_assign_pointer()`; searches that take no lock
/// (`search_process_keyrings_rcu()`, `keyring_detect_cycle()`) walk the
/// published root under RCU. The edit side is plain memory next to the
/// lock; each edit publishes a snapshot of it with a release store, and
/// an RCU reader loads the current snapshot with an acquire load.
///
/// APPROX: an old root is never freed, so a reader's snapshot stays valid
/// for good; the kernel frees it after a grace period, which a reader that
/// outlived its RCU section would notice and this model cannot.
#[derive(Debug)]
pub struct KeyringLinks {
    edit: KCell<Vec<Id<Key>>>,
    roots: instr::Mutex<Vec<Arc<Vec<Id<Key>>>>>,
    root: AtomicUsize,
}

impl KeyringLinks {
    pub fn new() -> Self {
        KeyringLinks {
            edit: KCell::new(Vec::new()),
            roots: instr::Mutex::new(vec![Arc::new(Vec::new())]),
            root: AtomicUsize::new(0),
        }
    }
    /// The links as a holder of `key->sem` sees them.
    pub fn get(&self) -> Vec<Id<Key>> {
        self.edit.get()
    }
    /// Edit the links (under `key->sem`), then publish the result
    /// (`assoc_array_apply_edit()`).
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut Vec<Id<Key>>) -> R) -> R {
        let (r, snapshot) = self.edit.with_mut(|v| {
            let r = f(v);
            (r, Arc::new(v.clone()))
        });
        let i = {
            let mut roots = self.roots.lock();
            roots.push(snapshot);
            roots.len() - 1
        };
        self.root.store(i, Ordering::Release);
        r
    }
    /// Replace every link (`assoc_array_clear()`), returning the old ones.
    pub fn replace(&self, v: Vec<Id<Key>>) -> Vec<Id<Key>> {
        self.with_mut(|links| std::mem::replace(links, v))
    }
    /// The published links, as an RCU reader that holds no lock sees them
    /// (`rcu_dereference()` of the root).
    pub fn rcu_get(&self) -> Vec<Id<Key>> {
        let i = self.root.load(Ordering::Acquire);
        self.roots.lock()[i].as_ref().clone()
    }
}

impl Default for KeyringLinks {
    fn default() -> Self {
        Self::new()
    }
}

/// `key_serial_tree`: every key by serial, guarded by `key_serial_lock`
/// (security/keys/key.c). `key_alloc_serial()` enters a key, `key_lookup()`
/// finds one and takes a reference, and the collector removes the keys
/// whose last reference is gone, each under the lock, so a lookup never
/// revives a key the collector is reaping.
#[derive(Debug)]
pub struct KeySerialTree {
    key_serial_lock: SpinLock,
    tree: KCell<BTreeMap<i32, Id<Key>>>,
}

impl KeySerialTree {
    /// Run `f` on the tree with `key_serial_lock` held.
    pub fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<i32, Id<Key>>) -> R) -> R {
        let _g = self.key_serial_lock.lock();
        self.tree.with_mut(f)
    }
}

/// The key serial tree, the process's keyrings, the global key locks and
/// the collector's state.
#[derive(Debug)]
pub struct KeyRegistry {
    /// `key_serial_tree`, under `key_serial_lock`.
    pub tree: KeySerialTree,
    serial_state: instr::AtomicU32,
    /// The process's session keyring.
    pub session: KCell<Option<Id<Key>>>,
    /// The process keyring (`@p`), once installed.
    pub process: KCell<Option<Id<Key>>>,
    /// Thread keyrings (`@t`) by task.
    pub threads: instr::Mutex<BTreeMap<crate::trace::Tid, Id<Key>>>,
    /// `key_construction_mutex`: instantiation is checked and done under it.
    pub key_construction_mutex: crate::sync::KMutex,
    /// `keyring_serialise_link_lock`: links of keyrings into keyrings are
    /// serialised, so cycle detection sees a stable tree.
    pub keyring_serialise_link_lock: crate::sync::KMutex,
    /// Set by `key_put()` dropping a last reference and by
    /// `key_schedule_gc_links()`: the collector has work.
    pub gc_pending: AtomicBool,
    /// `key_gc_next_run`: when `key_gc_timer` fires ([`NO_EXPIRY`]: not
    /// set). Timer state, outside the explorers' view.
    pub gc_next_run: instr::AtomicU64,
}

/// `TIME64_MAX` as a key's expiry: it never expires.
pub const NO_EXPIRY: u64 = u64::MAX;

/// A `time64_t` of a key (`expiry`, alias `revoked_at`): written under
/// `key->sem`, read without it (`READ_ONCE()` in `key_validate()`, plain
/// in the collector). One word that orders nothing else, so it is no
/// scheduling point of its own: the locks around its accesses are.
#[derive(Debug)]
pub struct KTime(instr::AtomicU64);

impl KTime {
    pub fn new(v: u64) -> Self {
        KTime(instr::AtomicU64::new(v))
    }
    pub fn get(&self) -> u64 {
        self.0.load(instr::Ordering::SeqCst)
    }
    pub fn set(&self, v: u64) {
        self.0.store(v, instr::Ordering::SeqCst)
    }
}

/// Whether `key` has expired: `ktime_get_real_seconds() >= key->expiry`,
/// as `key_validate()` and the keyring search test it.
pub fn key_expired(cx: &Cx<'_>, key: Id<Key>) -> bool {
    cx.k.now() >= cx.k.keys.get(key).expiry.get()
}

impl Default for KeyRegistry {
    fn default() -> Self {
        KeyRegistry {
            tree: KeySerialTree {
                key_serial_lock: SpinLock::new("key_serial_lock"),
                tree: KCell::new(BTreeMap::new()),
            },
            serial_state: instr::AtomicU32::new(0),
            session: KCell::new(None),
            process: KCell::new(None),
            threads: instr::Mutex::new(BTreeMap::new()),
            key_construction_mutex: crate::sync::KMutex::new("key_construction_mutex"),
            keyring_serialise_link_lock: crate::sync::KMutex::new("keyring_serialise_link_lock"),
            gc_pending: AtomicBool::new(false),
            gc_next_run: instr::AtomicU64::new(NO_EXPIRY),
        }
    }
}

impl KeyRegistry {
    /// `key_alloc_serial()`: a serial of at least 3 not in use. The kernel
    /// draws random serials; the model draws from a fixed pseudo-random
    /// sequence, so serial order differs from creation order as it does in
    /// the kernel, and runs are reproducible.
    pub fn alloc_serial(&self) -> i32 {
        self.tree.with(|tree| self.next_serial(tree))
    }

    fn next_serial(&self, tree: &BTreeMap<i32, Id<Key>>) -> i32 {
        loop {
            let serial = drawn_serial(self.serial_state.fetch_add(1, instr::Ordering::Relaxed).wrapping_add(1));
            if serial >= 3 && !tree.contains_key(&serial) {
                return serial;
            }
        }
    }
}

/// The `n`th serial the model draws (from 1).
fn drawn_serial(n: u32) -> i32 {
    let mut x = n.wrapping_mul(0x9E37_79B9) ^ 0x5bd1_e995;
    x ^= x >> 15;
    x = x.wrapping_mul(0x2c1b_3c6d);
    x ^= x >> 12;
    (x & 0x3fff_ffff) as i32 | 0x1000_0000
}

/// Whether `serial` is one the model gives one of the first `count` keys
/// it makes: a scenario that names a key by such a serial (`key:N`)
/// relies on the model's deterministic serials, which a real kernel's
/// random ones do not follow.
pub fn is_drawn_serial(serial: i32, count: u32) -> bool {
    (1..=count).any(|n| drawn_serial(n) == serial)
}

/// Models `notify_key()` (security/keys/internal.h): build a 16-byte
/// `key_notification` about `key` and post it to the key's watchers.
///
/// Mirrors security/keys/internal.h notify_key() of 6.12, lines 179-194, fp 4ec1ac361ac16107.
pub fn notify_key(cx: &Cx<'_>, key: Id<Key>, subtype: u8, aux: u32) {
    crate::trace::reached("notify_key");
    let k = cx.k.keys.get(key);
    let mut n = key_notification(subtype, k.key_serial(), aux);
    let cred = cx.current_cred();
    watch_queue::__post_watch_notification(cx, k.watchers.get(cx), &mut n, &cred, k.key_serial() as u64);
}

/// Boot, as the real-kernel runner starts each scenario's process: the
/// process's own session keyring (`_ses`, joined after dropping to the
/// scenario's uid, so charged to that user's quota), then the user's
/// keyrings (`_uid.N` and `_uid_ses.N`, which that runner empties with
/// `KEYCTL_CLEAR` of `@u`, creating them if needed).
pub fn boot_session_keyring(cx: &Cx<'_>) {
    let cred = cx.current_cred();
    let perm = KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_LINK;
    let ses = key::key_alloc(cx, KeyType::Keyring, "_ses", cred.uid, cred.gid, perm, key::Quota::In)
        .expect("booting the session keyring cannot fail");
    key::mark_key_instantiated(cx, ses, None);
    cx.k.key_registry.session.set(Some(ses));
    process_keys::look_up_user_keyrings(cx).expect("booting the user keyrings cannot fail");
}

/// Process exit: constructions the process never finished end negatively
/// (`complete_request_key(authkey, -ENOKEY)` when the helper exits), the
/// process drops its session keyring, and the users drop their user
/// keyrings.
pub fn exit_keys(cx: &Cx<'_>) {
    let all: Vec<Id<Key>> = cx.k.key_registry.tree.with(|t| t.values().copied().collect());
    for k in all {
        if cx.k.keys.get(k).test_flag(KEY_FLAG_USER_CONSTRUCT) {
            let _ = key::key_reject_and_link(cx, k, 0, crate::errno::Errno::ENOKEY, None);
            request_key::end_construction(cx, k);
        }
    }
    if let Some(ses) = cx.k.key_registry.session.replace(None) {
        key::key_put(cx, ses);
    }
    if let Some(p) = cx.k.key_registry.process.replace(None) {
        key::key_put(cx, p);
    }
    let threads: Vec<Id<Key>> = std::mem::take(&mut *cx.k.key_registry.threads.lock()).into_values().collect();
    for t in threads {
        key::key_put(cx, t);
    }
    let users: Vec<Arc<UserStruct>> = cx.k.users.lock().values().cloned().collect();
    for u in users {
        if let Some(kr) = u.session_keyring.replace(None) {
            key::key_put(cx, kr);
        }
        if let Some(kr) = u.uid_keyring.replace(None) {
            key::key_put(cx, kr);
        }
    }
}
