//! The machine: what one run of the model shares. Configuration (page
//! size, sysctls, limits, the catalog switches), the allocator and RCU, the
//! arenas every kernel object lives in, users and tasks, the process's file
//! table, and the key registry.
//!
//! Kernel code takes a [`Cx`], the pair (machine, current task): what C
//! reaches through globals and `current`.

use std::collections::BTreeMap;

use crate::bugs::{Bug, BugSet};
use crate::file::{Fdtable, File};
use crate::heap::{Arena, Heap, Id};
use crate::keys::{Key, KeyRegistry};
use crate::lsm::LsmPolicy;
use crate::mm::Page;
use crate::pipe::PipeInodeInfo;
use crate::rcu::Rcu;
use crate::sync::instr::{self, Arc};
use crate::sync::{KCell, atomic};
use crate::trace::{self, Tid, Trace};
use crate::watch_queue::{Watch, WatchFilter, WatchList, WatchQueue};

/// Which revision of the notification queue the run models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Linux 6.12 as merged (keys only).
    #[default]
    Upstream,
    /// The v1 series (device, block and USB events).
    V1,
    /// The ver #5 series (mount topology and superblock events).
    V5,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Upstream => "upstream",
            Variant::V1 => "v1",
            Variant::V5 => "v5",
        }
    }
    pub fn from_name(s: &str) -> Option<Variant> {
        match s {
            "upstream" => Some(Variant::Upstream),
            "v1" => Some(Variant::V1),
            "v5" => Some(Variant::V5),
            _ => None,
        }
    }

    /// The `pipe2()` flag that makes a notification pipe: `O_EXCL`
    /// (`O_NOTIFICATION_PIPE`) upstream and in ver #5 ("The special flag
    /// has the same value as O_EXCL"), the hacked-in `O_TMPFILE` in ver #1.
    pub fn o_notification_pipe(self) -> u32 {
        match self {
            Variant::V1 => crate::uapi::O_TMPFILE,
            Variant::Upstream | Variant::V5 => crate::uapi::O_NOTIFICATION_PIPE,
        }
    }

    /// `WATCH_TYPE__NR`: the types a filter may name (entries of other
    /// types are ignored).
    pub fn watch_type_nr(self) -> u32 {
        match self {
            Variant::Upstream => crate::uapi::WATCH_TYPE__NR,
            Variant::V1 | Variant::V5 => crate::uapi::WATCH_TYPE__NR_SERIES,
        }
    }

    /// The object a record of this type reports on, as its watches name
    /// it (`watch->id`): a key's serial; 0 for the device records of ver
    /// #1, which are all posted on the global device list with ID 0.
    /// `None` for meta records and types the variant does not have.
    pub fn object_id_of(self, record: &[u8]) -> Option<u64> {
        use crate::uapi::*;
        let h = WatchNotification::decode(record)?;
        match (self, h.type_) {
            (_, WATCH_TYPE_KEY_NOTIFY) if record.len() >= 12 => {
                Some(u32::from_le_bytes(record[8..12].try_into().ok()?) as u64)
            }
            (Variant::V1, WATCH_TYPE_BLOCK_NOTIFY | WATCH_TYPE_USB_NOTIFY) => Some(0),
            (Variant::V5, WATCH_TYPE_SB_NOTIFY) if record.len() >= 16 => {
                Some(u64::from_le_bytes(record[8..16].try_into().ok()?))
            }
            _ => None,
        }
    }
}

/// `PAGE_SIZE` on x86-64.
pub const PAGE_SIZE_DEFAULT: u32 = 4096;
/// `INR_OPEN_CUR`: the default `RLIMIT_NOFILE` soft limit.
pub const INR_OPEN_CUR: u64 = 1024;
/// `key_gc_delay` default (`/proc/sys/kernel/keys/gc_delay`): 5 minutes.
pub const KEY_GC_DELAY_DEFAULT: u64 = 300;
/// `key_quota_maxkeys` default (`/proc/sys/kernel/keys/maxkeys`).
pub const KEY_QUOTA_MAXKEYS_DEFAULT: u32 = 200;
/// `key_quota_maxbytes` default (`/proc/sys/kernel/keys/maxbytes`).
pub const KEY_QUOTA_MAXBYTES_DEFAULT: u32 = 20_000;
/// `key_quota_root_maxkeys` default (`/proc/sys/kernel/keys/root_maxkeys`).
pub const KEY_QUOTA_ROOT_MAXKEYS_DEFAULT: u32 = 1_000_000;
/// `key_quota_root_maxbytes` default (`/proc/sys/kernel/keys/root_maxbytes`).
pub const KEY_QUOTA_ROOT_MAXBYTES_DEFAULT: u32 = 25_000_000;
/// The virtual clock at boot, in seconds (`ktime_get_real_seconds()`):
/// any fixed value; only differences matter.
pub const CLOCK_AT_BOOT: u64 = 1_000_000;
/// `pipe_max_size` default (`/proc/sys/fs/pipe-max-size`).
pub const PIPE_MAX_SIZE_DEFAULT: u32 = 1_048_576;

/// What a run is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `PAGE_SIZE` (4096 on x86-64; 65536 shows the 64 KiB-page bugs).
    pub page_size: u32,
    /// `/proc/sys/fs/pipe-max-size`.
    pub pipe_max_size: u32,
    /// `/proc/sys/fs/pipe-user-pages-soft` (`PIPE_DEF_BUFFERS * INR_OPEN_CUR`).
    pub pipe_user_pages_soft: u64,
    /// `/proc/sys/fs/pipe-user-pages-hard` (0: unlimited).
    pub pipe_user_pages_hard: u64,
    /// `RLIMIT_NOFILE` of the tasks (file descriptors and watches).
    pub rlimit_nofile: u64,
    /// The tasks' uid.
    pub uid: u32,
    /// Whether the tasks hold `CAP_SYS_ADMIN` and `CAP_SYS_RESOURCE`.
    pub privileged: bool,
    /// Bits of `pipe_index_t`: 32 on 64-bit kernels, 16 on 32-bit ones.
    pub pipe_index_bits: u32,
    /// Where new pipes' head and tail start (0 in the kernel; a value near
    /// the wrap point stands for a pipe that has already moved that much).
    pub pipe_initial_index: u32,
    /// The event-source revision.
    pub variant: Variant,
    /// Catalog switches on.
    pub bugs: BugSet,
    /// The LSM's decisions at its hook points.
    pub lsm: LsmPolicy,
    /// A deliberate wrong behaviour (never set by scenarios): shows that a
    /// comparison against the real kernel fails when the model is wrong.
    pub mutant: Option<Mutant>,
    /// `/proc/sys/kernel/keys/gc_delay`: seconds after a key expires or is
    /// revoked before the collector unlinks it (`key_gc_delay`, 300).
    pub key_gc_delay: u64,
    /// `/proc/sys/kernel/keys/maxkeys` and `maxbytes`: the keys and bytes
    /// a user other than root may own (`key_quota_maxkeys`, 200;
    /// `key_quota_maxbytes`, 20000).
    pub key_quota_maxkeys: u32,
    pub key_quota_maxbytes: u32,
    /// `/proc/sys/kernel/keys/root_maxkeys` and `root_maxbytes`: the same
    /// for root (1000000 and 25000000).
    pub key_quota_root_maxkeys: u32,
    pub key_quota_root_maxbytes: u32,
}

/// Deliberately wrong behaviours, not from the kernel's history: each
/// exists to show that a check fails when the model is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutant {
    /// `pipe_read()` fails a read too small for the next record with
    /// `EFAULT` instead of `ENOBUFS`.
    ReadTooSmallEfault,
    /// `key_revoke()` leaves the key's expiry alone, as if `revoked_at`
    /// were a field of its own (in `struct key` it shares a union with
    /// `expiry`): revoked keys are then never reaped.
    RevokeKeepsExpiry,
    /// `keyring_clear()` posts no `NOTIFY_KEY_CLEARED`: a keyring's
    /// watcher never learns its mirror should be emptied.
    ClearUnnotified,
    /// Smack's `post_notification` hook lets every `NOTIFY_KEY_UPDATED`
    /// record through, whatever the labels: one kind of forbidden record
    /// reaches its queue.
    SmackPostLetsUpdatesThrough,
    /// `notify_mount()` leaves `mnt_attr_changes` alone (read-only,
    /// attribute and expiry changes go uncounted): a read-only change
    /// whose records are lost is invisible to a watcher's rescan by
    /// change counters.
    MountAttrCounterForgotten,
}

impl Mutant {
    /// Every mutant with its command-line name.
    pub const ALL: &[(Mutant, &str)] = &[
        (Mutant::ReadTooSmallEfault, "read-too-small-efault"),
        (Mutant::RevokeKeepsExpiry, "revoke-keeps-expiry"),
        (Mutant::ClearUnnotified, "clear-unnotified"),
        (Mutant::SmackPostLetsUpdatesThrough, "smack-post-lets-updates-through"),
        (Mutant::MountAttrCounterForgotten, "mount-attr-counter-forgotten"),
    ];

    /// The mutant named `s`.
    pub fn from_name(s: &str) -> Option<Mutant> {
        Mutant::ALL.iter().find(|(_, n)| *n == s).map(|(m, _)| *m)
    }
}

impl Default for Config {
    /// Linux 6.12 on x86-64, run as root (the real-kernel runner's setting).
    fn default() -> Self {
        Config {
            page_size: PAGE_SIZE_DEFAULT,
            pipe_max_size: PIPE_MAX_SIZE_DEFAULT,
            pipe_user_pages_soft: crate::uapi::PIPE_DEF_BUFFERS as u64 * INR_OPEN_CUR,
            pipe_user_pages_hard: 0,
            rlimit_nofile: INR_OPEN_CUR,
            uid: 0,
            privileged: true,
            pipe_index_bits: 32,
            pipe_initial_index: 0,
            variant: Variant::Upstream,
            bugs: BugSet::kernel_today(),
            lsm: LsmPolicy::default(),
            mutant: None,
            key_gc_delay: KEY_GC_DELAY_DEFAULT,
            key_quota_maxkeys: KEY_QUOTA_MAXKEYS_DEFAULT,
            key_quota_maxbytes: KEY_QUOTA_MAXBYTES_DEFAULT,
            key_quota_root_maxkeys: KEY_QUOTA_ROOT_MAXKEYS_DEFAULT,
            key_quota_root_maxbytes: KEY_QUOTA_ROOT_MAXBYTES_DEFAULT,
        }
    }
}

impl Config {
    /// `WATCH_QUEUE_NOTES_PER_PAGE = PAGE_SIZE / WATCH_QUEUE_NOTE_SIZE`.
    pub fn notes_per_page(&self) -> u32 {
        self.page_size / crate::watch_queue::WATCH_QUEUE_NOTE_SIZE
    }
    /// Linux 6.12 with the fixes the harness proposes for its own findings
    /// (the catalog's `F` rows off): what every explorer must pass.
    pub fn fixed() -> Config {
        Config { bugs: BugSet::none(), ..Config::default() }
    }

    /// The same configuration with `bug` switched on.
    pub fn with_bug(mut self, bug: Bug) -> Config {
        self.bugs = self.bugs.with(bug);
        self
    }
}

/// Models `struct user_struct`: per-user accounting.
#[derive(Debug)]
pub struct UserStruct {
    pub uid: u32,
    /// `pipe_bufs`: pages charged to this user's pipes.
    pub pipe_bufs: atomic::AtomicI64,
    /// `nr_watches`: watches this user holds.
    pub nr_watches: atomic::AtomicI64,
    /// The user keyring (`@u`), created on first use.
    pub uid_keyring: KCell<Option<Id<Key>>>,
    /// The user session keyring (`@us`), created with the user keyring.
    pub session_keyring: KCell<Option<Id<Key>>>,
    /// `struct key_user`'s quota, (`qnkeys`, `qnbytes`): the keys and
    /// bytes charged to this user, under its `lock`.
    ///
    /// APPROX: that lock is not a scheduling point (an instrumentation
    /// mutex): each quota update is one atomic step, as under the kernel's
    /// spinlock, and no interleaving inside one can matter.
    pub key_quota: instr::Mutex<(u32, u32)>,
}

impl Config {
    /// The key quota limits for `uid`, (keys, bytes): root's or everyone
    /// else's (`key_alloc()`, `key_payload_reserve()`, `keyctl_chown_key()`).
    pub fn key_quota(&self, uid: u32) -> (u32, u32) {
        if uid == 0 {
            (self.key_quota_root_maxkeys, self.key_quota_root_maxbytes)
        } else {
            (self.key_quota_maxkeys, self.key_quota_maxbytes)
        }
    }
}

/// Models `struct cred` (the parts that matter here). The session keyring
/// it holds is the key registry's `session`; credentials a join replaced
/// keep theirs as `put_cred_rcu`, the put their freeing makes.
#[derive(Debug)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    pub user: Arc<UserStruct>,
    /// `CAP_SYS_ADMIN` and `CAP_SYS_RESOURCE`.
    pub privileged: bool,
    /// The LSM's label of the task (`cred->security`: a Smack label, an
    /// SELinux type): `_` (Smack's floor, the label of `init_cred` and of
    /// every task nobody relabelled) unless the program set one.
    pub label: String,
    /// `usage`: the task that runs with them, and each open file
    /// (`f_cred`) and watch (`watch->cred`) made under them.
    /// Instrumentation: nothing in the model races on it.
    pub holds: instr::AtomicUsize,
    /// What `put_cred_rcu()` does when the last hold has gone: put the
    /// session keyring that a join replaced (set by the join, on the
    /// credentials it replaced).
    pub put_cred_rcu: instr::Mutex<Option<crate::rcu::RcuCallback>>,
}

impl Cred {
    /// Credentials held by their task alone.
    pub fn new(uid: u32, gid: u32, user: Arc<UserStruct>, privileged: bool) -> Cred {
        Cred {
            uid,
            gid,
            user,
            privileged,
            label: crate::lsm::FLOOR_LABEL.to_string(),
            holds: instr::AtomicUsize::new(1),
            put_cred_rcu: instr::Mutex::new(None),
        }
    }
    /// `prepare_creds()`: a copy to modify and commit.
    pub fn copy(&self) -> Cred {
        Cred { label: self.label.clone(), ..Cred::new(self.uid, self.gid, self.user.clone(), self.privileged) }
    }
    /// `get_cred()`.
    pub fn get(&self) {
        self.holds.fetch_add(1, instr::Ordering::Relaxed);
    }
    /// `put_cred()`; whether that was the last hold.
    pub fn put(&self) -> bool {
        self.holds.fetch_sub(1, instr::Ordering::Relaxed) == 1
    }
}

/// Models `put_cred()` and `__put_cred()`: the last hold frees the
/// credentials after an RCU grace period (`call_rcu(put_cred_rcu)`), and
/// `put_cred_rcu()` puts the keys they hold.
///
/// Mirrors kernel/cred.c __put_cred() of 6.12, lines 98-111, fp a0c846e6eab827dc.
pub fn put_cred(cx: &Cx<'_>, cred: &Cred) {
    crate::trace::reached("__put_cred");
    if cred.put() {
        if let Some(cb) = cred.put_cred_rcu.lock().take() {
            crate::rcu::call_rcu(cx, cb);
        }
    }
}

/// Models `struct task_struct`: a thread of the one modelled process.
#[derive(Debug)]
pub struct Task {
    pub tid: Tid,
    pub cred: KCell<Arc<Cred>>,
    /// `task_rlimit(current, RLIMIT_NOFILE)`.
    pub rlimit_nofile: KCell<u64>,
}

/// Machine and current task: what kernel code reaches through globals and
/// `current`.
#[derive(Clone)]
pub struct Cx<'k> {
    pub k: &'k Kernel,
    pub task: Arc<Task>,
}

impl<'k> Cx<'k> {
    /// `current_cred()`.
    pub fn current_cred(&self) -> Arc<Cred> {
        self.task.cred.get()
    }
    /// Whether a catalog switch is on.
    pub fn bug(&self, b: Bug) -> bool {
        self.k.config.bugs.has(b)
    }
}

std::thread_local! {
    static INJECT_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Make every machine booted on this thread panic with a message that is
/// no check of the model: a deliberate harness bug, so the harness's own
/// failure path (`harness failure`, exit status 5) can be seen working
/// (`wqsim check --inject-harness-panic`).
pub fn set_inject_panic(on: bool) {
    INJECT_PANIC.with(|i| i.set(on));
}

/// Panic if [`set_inject_panic`] asked for it.
pub fn injected_panic() {
    if INJECT_PANIC.with(|i| i.get()) {
        panic!("injected harness panic (--inject-harness-panic): the harness must report this, not die");
    }
}

/// One run's machine.
#[derive(Debug)]
pub struct Kernel {
    pub config: Config,
    pub heap: Heap,
    pub trace: Arc<Trace>,
    pub rcu: Rcu,
    pub pipes: Arena<PipeInodeInfo>,
    pub wqueues: Arena<WatchQueue>,
    pub watches: Arena<Watch>,
    pub wlists: Arena<WatchList>,
    pub filters: Arena<WatchFilter>,
    pub pages: Arena<Page>,
    pub files: Arena<File>,
    pub keys: Arena<Key>,
    pub eps: Arena<crate::eventpoll::EventPoll>,
    /// The concurrent driver has signalled every sleeper to end the run:
    /// wait queues made from now on start signalled too (driver state,
    /// outside the explorers' view).
    pub ending: instr::AtomicBool,
    /// The process's file table.
    pub fdtable: Fdtable,
    /// Users by uid.
    pub users: instr::Mutex<BTreeMap<u32, Arc<UserStruct>>>,
    /// Tasks by tid.
    pub tasks: instr::Mutex<BTreeMap<Tid, Arc<Task>>>,
    /// The key serial tree, the session keyring and the garbage collector.
    pub key_registry: KeyRegistry,
    /// ver #1's global device watch list (`device_wlist` in
    /// drivers/base/watch.c), a static object in the kernel: made at boot
    /// when the variant is `v1`.
    pub device_wlist: Option<Id<WatchList>>,
    /// ver #1's `device_watchers_lock`, taken around adding and removing
    /// device watches.
    pub device_watchers_lock: crate::sync::SpinLock,
    /// ver #5's VFS (fs/namespace.c, fs/super.c): the mount tree and its
    /// superblocks, made at boot when the variant is `v5`.
    pub vfs: Option<crate::mount::Vfs>,
    /// The virtual clock, in seconds (`ktime_get_real_seconds()`). It moves
    /// only when a program sleeps: no wall clock anywhere. Driver state,
    /// outside the explorers' view, as time is no memory location.
    pub clock: instr::AtomicU64,
}

impl Kernel {
    /// Boot a machine: one user, one task (tid 1) and its session keyring.
    pub fn boot(config: Config) -> Kernel {
        injected_panic();
        let k = Kernel {
            config,
            heap: Heap::default(),
            trace: Arc::new(Trace::default()),
            rcu: Rcu::default(),
            pipes: Arena::default(),
            wqueues: Arena::default(),
            watches: Arena::default(),
            wlists: Arena::default(),
            filters: Arena::default(),
            pages: Arena::default(),
            files: Arena::default(),
            keys: Arena::default(),
            eps: Arena::default(),
            ending: instr::AtomicBool::new(false),
            fdtable: Fdtable::default(),
            users: instr::Mutex::new(BTreeMap::new()),
            tasks: instr::Mutex::new(BTreeMap::new()),
            key_registry: KeyRegistry::default(),
            clock: instr::AtomicU64::new(CLOCK_AT_BOOT),
            device_wlist: None,
            device_watchers_lock: crate::sync::SpinLock::new("device_watchers_lock"),
            vfs: None,
        };
        let mut k = k;
        if k.config.variant == Variant::V1 {
            k.device_wlist = Some(crate::device::device_wlist_init(&k));
        }
        if k.config.variant == Variant::V5 {
            let vfs = crate::mount::Vfs::boot(&k);
            k.vfs = Some(vfs);
        }
        let task = k.spawn_task(1);
        let cx = Cx { k: &k, task };
        trace::bind(k.trace.clone(), 1);
        crate::keys::boot_session_keyring(&cx);
        k
    }

    /// Create task `tid` with the configured credentials.
    pub fn spawn_task(&self, tid: Tid) -> Arc<Task> {
        let user = self.user(self.config.uid);
        let cred = Arc::new(Cred::new(self.config.uid, self.config.uid, user, self.config.privileged));
        let task = Arc::new(Task { tid, cred: KCell::new(cred), rlimit_nofile: KCell::new(self.config.rlimit_nofile) });
        self.tasks.lock().insert(tid, task.clone());
        task
    }

    /// The `user_struct` for `uid` (`alloc_uid`).
    pub fn user(&self, uid: u32) -> Arc<UserStruct> {
        self.users
            .lock()
            .entry(uid)
            .or_insert_with(|| {
                Arc::new(UserStruct {
                    uid,
                    pipe_bufs: atomic::AtomicI64::new(0),
                    nr_watches: atomic::AtomicI64::new(0),
                    uid_keyring: KCell::new(None),
                    session_keyring: KCell::new(None),
                    key_quota: instr::Mutex::new((0, 0)),
                })
            })
            .clone()
    }

    /// A context for task `tid` (created on first use), with this thread
    /// bound to the run's trace as that task.
    pub fn cx(&self, tid: Tid) -> Cx<'_> {
        let existing = self.tasks.lock().get(&tid).cloned();
        let task = existing.unwrap_or_else(|| self.spawn_task(tid));
        trace::bind(self.trace.clone(), tid);
        Cx { k: self, task }
    }

    /// `ktime_get_real_seconds()`: the virtual clock.
    pub fn now(&self) -> u64 {
        self.clock.load(instr::Ordering::SeqCst)
    }

    /// Let `secs` seconds pass: the clock moves on and the timers due by
    /// then fire (the key collector's, `key_gc_timer`). The work they
    /// schedule runs as deferred work does.
    pub fn sleep(&self, cx: &Cx<'_>, secs: u64) {
        self.clock.fetch_add(secs, instr::Ordering::SeqCst);
        crate::keys::gc::key_gc_timer_expired(cx);
    }

    /// When the next kernel timer fires (`key_gc_timer`, the only one the
    /// model has), on the virtual clock; `u64::MAX` when none is armed.
    pub fn next_timer(&self) -> u64 {
        self.key_registry.gc_next_run.load(instr::Ordering::SeqCst)
    }

    /// Whether deferred kernel work is pending: the key collector has been
    /// scheduled (`key_schedule_gc_links()`, a key's last `key_put()`) or
    /// an RCU callback waits for its grace period.
    pub fn has_deferred_work(&self) -> bool {
        self.key_registry.gc_pending.load(atomic::Ordering::Acquire) || self.rcu.pending() > 0
    }

    /// Let deferred kernel work finish: the key garbage collector and RCU
    /// grace periods, until neither has anything left. In the kernel this
    /// work runs on its own (a kworker, RCU's softirq) tens of milliseconds
    /// later; a sequential run lets it run only where the program waits for
    /// it (`key_gc`, `rcu_barrier`), where a call would otherwise sleep,
    /// and at the end.
    pub fn settle(&self, cx: &Cx<'_>) {
        loop {
            let reaped = crate::keys::gc::key_garbage_collector(cx);
            let pending = self.rcu.pending();
            crate::rcu::rcu_barrier(cx);
            if !reaped && pending == 0 {
                break;
            }
        }
    }

    /// Tear everything down as process exit would: close every file,
    /// unlink everything from the session keyring, drop the session
    /// keyring, then settle. Afterwards nothing the notification queue
    /// allocated may remain (invariant H5).
    ///
    /// Mirrors kernel/exit.c do_exit() of 6.12, lines 883-998, fp 50f797e4bbf85325.
    pub fn do_exit(&self, cx: &Cx<'_>) {
        let _f = trace::kfn("do_exit");
        for fd in self.fdtable.fds() {
            let _ = crate::file::close_fd(cx, fd);
        }
        self.settle(cx);
        crate::mount::put_mnt_ns(cx);
        crate::keys::exit_keys(cx);
        self.settle(cx);
    }
}
