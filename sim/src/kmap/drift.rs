//! `wqsim drift SRC_TREE`: the kernel map against a kernel source tree.
//!
//! Three kinds of difference: a mirrored definition whose fingerprint
//! changed, one that is gone, and a definition of a mirrored file that
//! neither the map nor its list of left-out definitions knows (new since
//! 6.12, or gone since an older tree). Against a tree of a shipped kernel
//! ([`Shipped`]) each difference is explained by the catalog (a row that
//! kernel still has, whose site is the changed function), by a reviewed
//! difference ([`REVIEWED`]), or not at all; and a catalog row that says
//! the kernel differs in a function whose body matches is a disagreement
//! too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use wqsim_model::bugs::{BugSet, Shipped};

use super::c::{Def, definitions};
use super::{MAP_VERSION, Map, Mirror, Source, Unmirrored};

use crate::error::Error;

/// One difference between the map and a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Diff {
    /// The mirrored definition's fingerprint differs.
    Changed { mirror: Mirror, now: Def },
    /// The mirrored definition is not in the tree (`file_missing`: nor is
    /// its file).
    Gone { mirror: Mirror, file_missing: bool },
    /// A definition of a mirrored file the map does not know.
    New { file: String, def: Def },
}

impl Diff {
    /// `fs/pipe.c pipe_write()`.
    pub fn what(&self) -> String {
        let (file, name) = match self {
            Diff::Changed { mirror, .. } | Diff::Gone { mirror, .. } => (&mirror.kernel_file, &mirror.kernel_name),
            Diff::New { file, def } => (file, &def.name),
        };
        format!("{file} {}", display_name(name))
    }
    fn key(&self) -> (String, String) {
        match self {
            Diff::Changed { mirror, .. } | Diff::Gone { mirror, .. } => {
                (mirror.kernel_file.clone(), mirror.kernel_name.clone())
            }
            Diff::New { file, def } => (file.clone(), def.name.clone()),
        }
    }
}

/// `pipe_read()` for a function, `struct watch` as it is.
pub fn display_name(name: &str) -> String {
    if name.starts_with("struct ") { name.to_string() } else { format!("{name}()") }
}

/// A difference between a shipped kernel and 6.12 in a mirrored
/// definition that no catalog row accounts for, read and judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reviewed {
    /// The shipped kernel (`6.1`).
    pub series: &'static str,
    pub file: &'static str,
    /// As the map names it (`pipe_write`, `struct file`).
    pub name: &'static str,
    /// The kernel behaves differently there in a way a model of it would
    /// see, and the model of that kernel (6.12's code with the catalog
    /// switches `Shipped::bugs` turns on) does not follow: a disagreement
    /// the README lists. False: the same behaviour for everything the model
    /// mirrors (a refactor, a rename, a lockdep annotation, an unrelated
    /// feature).
    pub differs: bool,
    /// What differs, with the kernel's lines.
    pub why: &'static str,
}

/// Every difference between Debian's 6.1 and 6.12 in the mirrored
/// definitions that the catalog does not account for, each read in both
/// trees (`wqsim drift` on 6.1 prints them).
pub const REVIEWED: &[Reviewed] = &[
    Reviewed {
        series: "6.1",
        file: "fs/eventpoll.c",
        name: "struct eventpoll",
        differs: false,
        why: "6.1 lacks the seqcount_spinlock_t seq that 6.12 adds to guard rdllist/ovflist switches (its effect is reviewed under ep_events_available) and the busy_poll_usecs/busy_poll_budget/prefer_busy_poll fields; the model keeps none of these fields.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/eventpoll.c",
        name: "struct epitem",
        differs: false,
        why: "Rename only: 6.1 line 145 names the ovflist link `struct epitem *next` where 6.12 says ovflist_next, with reworded comments; same fields and meaning.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/eventpoll.c",
        name: "ep_poll_callback",
        differs: false,
        why: "Refactor only: 6.1 open-codes what 6.12 wraps in helpers (READ_ONCE(ep->ovflist) != EP_UNACTIVE_PTR for ep_is_scanning(), epi->next == EP_UNACTIVE_PTR for !epi_on_ovflist()); same locking and same ovflist/rdllist choice.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/eventpoll.c",
        name: "ep_events_available",
        differs: true,
        why: "6.1 lines 388-392 test !list_empty_careful(&ep->rdllist) || READ_ONCE(ep->ovflist) != EP_UNACTIVE_PTR with no seqcount, and ep_start_scan/ep_done_scan (632-633, 670-675) have no write_seqcount, so a lockless check can miss items mid-switch (timeout-0 epoll_wait returns 0).",
    },
    Reviewed {
        series: "6.1",
        file: "fs/eventpoll.c",
        name: "ep_alloc",
        differs: false,
        why: "Refactor: 6.1 calls get_current_user() before kzalloc (free_uid on failure) and has no seqcount_spinlock_init since 6.1 has no ep->seq; same init otherwise: refcount 1, ovflist = EP_UNACTIVE_PTR, same locks.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/eventpoll.c",
        name: "ep_insert",
        differs: false,
        why: "Refactor: 6.12 splits the start into ep_alloc_epitem()/ep_register_epitem(); 6.1 open-codes the same steps in the same order (quota check, zalloc, attach_epitem under tep->mtx, rbtree insert, ep_get) with the same -ENOSPC/-ENOMEM; rest is comments.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/eventpoll.c",
        name: "ep_remove_epi",
        differs: false,
        why: "6.1 line 793 frees the epitem with call_rcu(&epi->rcu, epi_rcu_free) (kmem_cache_free after a grace period) where 6.12 uses kfree_rcu(epi, rcu); same free-after-grace-period lifetime and locking.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/eventpoll.c",
        name: "ep_send_events",
        differs: false,
        why: "Refactor: 6.12 moves the per-item body into ep_deliver_event() and renames txlist to scan_batch; 6.1 open-codes the same steps (wakeup-source handoff, list_del_init, re-poll, -EFAULT re-add to txlist, ONESHOT/LT re-queue) under the same ep->mtx.",
    },
    Reviewed {
        series: "6.1",
        file: "include/linux/fs.h",
        name: "struct file",
        differs: false,
        why: "Layout/unrelated: 6.1 has f_version (6.12 f_pipe, same FIFO hang-up snapshot), embedded f_owner, f_llist/f_rcuhead union; 6.1 frees files via call_rcu (file_table.c:59) rather than SLAB_TYPESAFE_BY_RCU, but the model has no RCU reader of files.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/file_table.c",
        name: "__fput",
        differs: false,
        why: "Unrelated: 6.1 calls ima_file_free(file) (line 314) instead of security_file_release() and put_pid(file->f_owner.pid) (line 326) instead of file_f_owner_release(); eventpoll_release, f_op->release and file_free keep the same order.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/file.c",
        name: "close_fd",
        differs: false,
        why: "Rename: 6.1 line 648 calls pick_file(files, fd), whose body equals 6.12's file_close_fd_locked() (bounds check, clear slot, __put_unused_fd), under the same files->file_lock.",
    },
    Reviewed {
        series: "6.1",
        file: "kernel/exit.c",
        name: "do_exit",
        differs: false,
        why: "Unrelated: 6.1 calls validate_creds_for_do_exit() (lines 831, 920) and sync_mm_rss() (line 838) and lacks user_events_exit()/seccomp_filter_release(); the exit_files/exit_task_work order the model uses is unchanged.",
    },
    Reviewed {
        series: "6.1",
        file: "security/keys/key.c",
        name: "key_alloc",
        differs: false,
        why: "Locking mode only: 6.1 takes user->lock with plain spin_lock (lines 263, 331, 344) where 6.12 uses spin_lock_irqsave because its key_put also takes that lock (U1); same mutual exclusion, quota arithmetic and -EDQUOT; IRQ masking is not modelled.",
    },
    Reviewed {
        series: "6.1",
        file: "security/keys/key.c",
        name: "key_payload_reserve",
        differs: false,
        why: "Locking mode only: 6.1 line 385 takes key->user->lock with plain spin_lock instead of spin_lock_irqsave (6.12 needs irqsave since its key_put takes it, U1); same quota check and -EDQUOT.",
    },
    Reviewed {
        series: "6.1",
        file: "security/keys/key.c",
        name: "key_create_or_update",
        differs: false,
        why: "Refactor: 6.12 wraps __key_create_or_update(..., allow_update=true), whose body equals 6.1 lines 819-990 except ima_post_key_create_or_update vs security_key_post_create_or_update; same create-or-update behaviour.",
    },
    Reviewed {
        series: "6.1",
        file: "security/keys/keyctl.c",
        name: "keyctl_chown_key",
        differs: false,
        why: "Locking mode only: 6.1 lines 1014 and 1025 take newowner->lock and key->user->lock with plain spin_lock instead of spin_lock_irqsave; same quota transfer and -EDQUOT; IRQ masking is not modelled.",
    },
    Reviewed {
        series: "6.1",
        file: "security/keys/keyctl.c",
        name: "keyctl_instantiate_key",
        differs: false,
        why: "API rename: 6.1 line 1266 builds the iov_iter with import_single_range() and a local iovec where 6.12 uses import_ubuf(); same payload copy and errors.",
    },
    Reviewed {
        series: "6.1",
        file: "include/linux/key.h",
        name: "struct key",
        differs: false,
        why: "6.1 lacks KEY_FLAG_FINAL_PUT (bit 10) because its key_put never touches the key after the last decrement (catalog U1; the gc side is reviewed under key_garbage_collector); otherwise identical.",
    },
    Reviewed {
        series: "6.1",
        file: "include/linux/pipe_fs_i.h",
        name: "struct pipe_inode_info",
        differs: false,
        why: "Layout only: 6.1 line 66 places bool note_loss after ring_size instead of after poll_usage; same fields and types.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "pipe_lock",
        differs: false,
        why: "Lockdep only: 6.1 line 90 calls pipe_lock_nested(pipe, I_MUTEX_PARENT), i.e. mutex_lock_nested on pipe->mutex if pipe->files, where 6.12 uses mutex_lock plus lock_set_cmp_fn; same lock.",
    },
    Reviewed {
        series: "6.1",
        file: "mm/filemap.c",
        name: "filemap_splice_read",
        differs: false,
        why: "6.1 has no filemap_splice_read: regular files use generic_file_splice_read (fs/splice.c:297), filling the pipe via ITER_PIPE in filemap_read (page-cache page refs, head++ per page) under the same pipe->mutex; same slots and errors, nothing model-visible.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/splice.c",
        name: "copy_splice_read",
        differs: true,
        why: "6.1 has none; ttys use generic_file_splice_read (fs/splice.c:297) whose ITER_PIPE allocates pages inside read_iter after the data is taken, so a failed first page gives -EFAULT turned into -EAGAIN (line 320), not 6.12's -ENOMEM.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "pipe_update_tail",
        differs: true,
        why: "6.1 has no pipe_update_tail(); pipe_read (lines 323-333) releases the buffer then takes spin_lock_irq(&pipe->rd_wait.lock) to set note_loss and advance pipe->tail for every pipe, not only for watch-queue pipes as 6.12 does.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "pipe_read",
        differs: true,
        why: "6.1 line 325 advances the tail inline under spin_lock_irq(&pipe->rd_wait.lock) for all pipes (6.12: pipe_update_tail, spinlock only with a watch_queue); also 6.1 line 345 gives -EAGAIN only for O_NONBLOCK, not IOCB_NOWAIT.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "pipe_write",
        differs: true,
        why: "6.1 lines 514-523 take spin_lock_irq(&pipe->rd_wait.lock), re-read pipe->head, re-check pipe_full (continue if full) and store head+1 under it; 6.12 stores head under pipe->mutex only. 6.1 also ignores IOCB_NOWAIT (line 555).",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "pipe_ioctl",
        differs: false,
        why: "Same lock: 6.1 wraps FIONREAD and IOC_WATCH_QUEUE_SET_SIZE in __pipe_lock()/__pipe_unlock() (mutex_lock_nested on pipe->mutex, I_MUTEX_PARENT) where 6.12 calls mutex_lock/mutex_unlock; lockdep annotation only.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "pipe_poll",
        differs: false,
        why: "Field rename: 6.1 line 686 compares filp->f_version with pipe->w_counter for EPOLLHUP where 6.12 uses filp->f_pipe; same value and same lockless reads.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "pipe_release",
        differs: false,
        why: "Same lock: 6.1 takes __pipe_lock(pipe) (mutex_lock_nested, lockdep subclass) instead of mutex_lock(&pipe->mutex); same reader/writer counting and wake-ups.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "alloc_pipe_info",
        differs: false,
        why: "Lockdep only: 6.1 lacks lock_set_cmp_fn(&pipe->mutex, pipe_lock_cmp_fn, NULL), which 6.12 uses to order nested pipe mutexes for lockdep; no runtime effect.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "create_pipe_files",
        differs: false,
        why: "Cosmetic: 6.12 sets f->f_pipe = 0 and res[0]->f_pipe = 0 explicitly; 6.1 relies on the zero-filled f_version of newly allocated files; same initial value.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "round_pipe_size",
        differs: false,
        why: "Type only: 6.1 line 1241 takes unsigned long size (6.12 unsigned int), so an F_SETPIPE_SZ arg >= 2^32 gets -EINVAL in 6.1 but is truncated by 6.12's (int) cast in do_fcntl; the model's arg is u32, so nothing visible.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "pipe_set_size",
        differs: false,
        why: "Type only: 6.1 line 1329 takes unsigned long arg instead of unsigned int; body identical (differs only for 64-bit fcntl args >= 2^32, which the model's u32 arg cannot express).",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "pipe_fcntl",
        differs: false,
        why: "6.1 line 1391 takes unsigned long arg and uses __pipe_lock/__pipe_unlock (same pipe->mutex, lockdep subclass) instead of mutex_lock; same F_SETPIPE_SZ/F_GETPIPE_SZ results for 32-bit args.",
    },
    Reviewed {
        series: "6.1",
        file: "kernel/rcu/tree.c",
        name: "rcu_do_batch",
        differs: false,
        why: "Unrelated tuning: 6.1 line 2262 sizes the batch limit from all queued callbacks (rcu_segcblist_n_cbs) and lacks the jiffies/rcuc-kthread time checks; the same ready callbacks run after their grace period, and the model runs every ready one.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/splice.c",
        name: "do_splice",
        differs: false,
        why: "Refactor: 6.1 returns from each branch without fsnotify, checks rw_verify_area for file-to-pipe later in do_splice_to (line 794) and sets f_pos even on error (offset unchanged); same pipe locking and errno for the model's offset-less splices.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/splice.c",
        name: "do_tee",
        differs: false,
        why: "Unrelated: 6.1 uses long/int return types and lacks the fsnotify_access/fsnotify_modify calls 6.12 makes on success; same pipe locking and link_pipe behaviour.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/splice.c",
        name: "sys_vmsplice",
        differs: false,
        why: "Accessor only: 6.1 line 1346 uses f.file where 6.12 uses fd_file(f); same behaviour.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/read_write.c",
        name: "ksys_read",
        differs: false,
        why: "Accessor only: 6.1 uses f.file where 6.12 uses fd_file(f); same fdget_pos, vfs_read and f_pos update.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/read_write.c",
        name: "ksys_write",
        differs: false,
        why: "Accessor only: 6.1 uses f.file where 6.12 uses fd_file(f); same fdget_pos, vfs_write and f_pos update.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/ioctl.c",
        name: "do_vfs_ioctl",
        differs: false,
        why: "Unrelated: 6.1 lacks FS_IOC_GETFSUUID and FS_IOC_GETFSSYSFSPATH; on a pipe both kernels end in -ENOTTY (pipefs has no uuid or sysfs name), and the FIONREAD/IOC_WATCH_QUEUE_* paths are unchanged.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/fcntl.c",
        name: "do_fcntl",
        differs: false,
        why: "Unrelated plus arg width: 6.1 lacks F_DUPFD_QUERY/F_CREATED_QUERY and passes the full unsigned long arg (line 405: pipe_fcntl(filp, cmd, arg)) where 6.12 passes (int)arg; same for the model's F_GETFL/F_SETFL/F_*PIPE_SZ with u32 args.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/select.c",
        name: "do_sys_poll",
        differs: false,
        why: "Integer-type refactor: 6.1 line 982 keeps todo as unsigned long and subtracts before testing (line 998); same chunking of the pollfd array and same results.",
    },
    Reviewed {
        series: "6.1",
        file: "include/linux/watch_queue.h",
        name: "struct watch_filter",
        differs: false,
        why: "Annotation only: 6.1 line 35 declares filters[] without __counted_by(nr_filters); same layout.",
    },
    Reviewed {
        series: "6.1",
        file: "kernel/watch_queue.c",
        name: "post_one_notification",
        differs: false,
        why: "Refactor: 6.1 line 110 computes mask = ring_size - 1 and indexes pipe->bufs[head & mask] where 6.12 calls pipe_buf(); same rd_wait.lock, pipe_full check, smp_store_release of head and LOSS flag.",
    },
    Reviewed {
        series: "6.1",
        file: "kernel/watch_queue.c",
        name: "watch_queue_set_size",
        differs: false,
        why: "Cosmetic: 6.1 line 285 calls kcalloc(sizeof(struct page *), nr_pages, GFP_KERNEL) with the two count/size arguments swapped; same allocation and behaviour.",
    },
    Reviewed {
        series: "6.1",
        file: "kernel/watch_queue.c",
        name: "get_watch_queue",
        differs: false,
        why: "Refactor: 6.1 line 681 uses fdget()/fdput() explicitly where 6.12 uses CLASS(fd); the kref_get of the queue still happens before the file reference is dropped.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "pipe_lock_nested",
        differs: false,
        why: "Lockdep helper: 6.1 lines 79-83 do mutex_lock_nested(&pipe->mutex, subclass) if pipe->files, for pipe_lock and pipe_double_lock (PARENT/CHILD); 6.12 uses mutex_lock with lock_set_cmp_fn; same lock, no runtime difference.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "__pipe_lock",
        differs: false,
        why: "6.1 lines 101-104: unconditional mutex_lock_nested(&pipe->mutex, I_MUTEX_PARENT), which 6.12 open-codes as mutex_lock(&pipe->mutex) in pipe_read/write/ioctl/release/fcntl; lockdep subclass only.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "__pipe_unlock",
        differs: false,
        why: "6.1 lines 106-109: mutex_unlock(&pipe->mutex), which 6.12 open-codes at the same places; identical.",
    },
    Reviewed {
        series: "6.1",
        file: "kernel/cred.c",
        name: "__put_cred",
        differs: false,
        why: "Debugging only: 6.1 lines 141-145 keep the CONFIG_DEBUG_CREDENTIALS checks and print the subscriber count; the cred is freed after a grace period (call_rcu) in both.",
    },
    Reviewed {
        series: "6.1",
        file: "security/keys/key.c",
        name: "__key_create_or_update",
        differs: false,
        why: "6.1 has no __key_create_or_update(): key_create_or_update() (lines 819-990) holds the same body, which 6.12 moved into the helper to share it with key_create(); same behaviour.",
    },
    Reviewed {
        series: "6.1",
        file: "kernel/cred.c",
        name: "commit_creds",
        differs: false,
        why: "Debugging only: 6.1 keeps the CONFIG_DEBUG_CREDENTIALS subscriber counts (alter_cred_subscribers, lines 497 and 504) and drops the old cred with two put_cred() calls where 6.12 calls put_cred_many(old, 2); the same cred is installed and the same references dropped.",
    },
    Reviewed {
        series: "6.1",
        file: "fs/pipe.c",
        name: "__do_pipe_flags",
        differs: false,
        why: "6.1 does not set FMODE_NOWAIT on the two files (6.12 lines 992-994, pipes taking IOCB_NOWAIT); the model has no no-wait I/O, so nothing it mirrors differs.",
    },
];

/// The definitions of every mirrored file in `tree`, by file (None: the
/// file is not there).
pub fn scan(tree: &Path, files: &[String]) -> Result<BTreeMap<String, Option<Vec<Def>>>, Error> {
    if !tree.is_dir() {
        return Err(Error::malformed(format!(
            "{}: not a directory; give the top of a kernel source tree (ci/kernel/source.sh 6.12 unpacks one and prints its path)",
            tree.display()
        )));
    }
    let mut out = BTreeMap::new();
    for f in files {
        let p = tree.join(f);
        let defs = match std::fs::read(&p) {
            Ok(bytes) => Some(definitions(&String::from_utf8_lossy(&bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::environment(format!("{}: {e}", p.display()))),
        };
        out.insert(f.clone(), defs);
    }
    Ok(out)
}

/// The differences between `map` (with its left-out list) and `tree`.
pub fn drift(tree: &Path, map: &Map, left_out: &[Unmirrored]) -> Result<Vec<Diff>, Error> {
    let files = map.files();
    let found = scan(tree, &files)?;
    let mut out = Vec::new();
    for m in &map.mirrors {
        let Source::Release { fp, .. } = m.source else { continue };
        match found.get(&m.kernel_file) {
            Some(Some(defs)) => match defs.iter().find(|d| d.name == m.kernel_name) {
                Some(d) if d.fp == fp => {}
                Some(d) => out.push(Diff::Changed { mirror: m.clone(), now: d.clone() }),
                None => out.push(Diff::Gone { mirror: m.clone(), file_missing: false }),
            },
            _ => out.push(Diff::Gone { mirror: m.clone(), file_missing: true }),
        }
    }
    for (file, defs) in found.iter().filter(|(f, _)| super::is_core(f)) {
        for d in defs.iter().flatten() {
            let known =
                map.of(file, &d.name).next().is_some() || left_out.iter().any(|u| &u.file == file && u.name == d.name);
            if !known {
                out.push(Diff::New { file: file.clone(), def: d.clone() });
            }
        }
    }
    // One entry per definition even when two model items mirror it.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|d| seen.insert(d.key()));
    Ok(out)
}

/// The kernel version of a source tree, from its Makefile (`6.1.192`).
pub fn tree_version(tree: &Path) -> Option<String> {
    let text = std::fs::read_to_string(tree.join("Makefile")).ok()?;
    let field = |k: &str| {
        text.lines().find_map(|l| l.strip_prefix(k).map(|v| v.trim_start_matches([' ', '=']).trim().to_string()))
    };
    Some(format!("{}.{}.{}", field("VERSION")?, field("PATCHLEVEL")?, field("SUBLEVEL")?))
}

/// How one difference is accounted for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Catalog rows this kernel has and 6.12 does not (or the reverse),
    /// whose site is the definition.
    Catalog(Vec<&'static str>),
    /// A reviewed difference with no catalog row.
    Reviewed(&'static Reviewed),
    /// Nothing accounts for it.
    Unexplained,
}

/// Catalog rows whose presence differs between `kernel` and 6.12, by the
/// (file, function) of their sites.
fn catalog_sites(kernel: Shipped) -> Vec<(&'static str, String, String)> {
    let here: BugSet = kernel.still_present().iter().copied().collect();
    let base: BugSet = Shipped::Debian612.still_present().iter().copied().collect();
    let mut out = Vec::new();
    for b in wqsim_model::bugs::CATALOG {
        if here.has(b.bug) == base.has(b.bug) {
            continue;
        }
        for (file, func) in site_functions(b.site) {
            out.push((b.id, file, func));
        }
    }
    out
}

/// The (file, function) pairs of a catalog site: `security/keys/key.c
/// key_put, security/keys/gc.c key_gc_unused_keys`, or one file with
/// several functions (`fs/pipe.c pipe_poll, pipe_readable`).
pub fn site_functions(site: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut file = String::new();
    for part in site.split(", ") {
        let words: Vec<&str> = part.split_whitespace().collect();
        match words.as_slice() {
            [f, func] => {
                file = f.to_string();
                out.push((file.clone(), func.to_string()));
            }
            [func] if !file.is_empty() => out.push((file.clone(), func.to_string())),
            _ => {}
        }
    }
    out
}

/// Each difference with its explanation against `kernel`, and the
/// catalog's claims the tree contradicts (a row that says `kernel` differs
/// in a definition whose fingerprint matches).
pub fn explain(diffs: &[Diff], kernel: Option<Shipped>, map: &Map) -> (Vec<(Diff, Why)>, Vec<String>) {
    let sites = kernel.map(catalog_sites).unwrap_or_default();
    let series = kernel.map(Shipped::series).unwrap_or("");
    let mut out = Vec::new();
    for d in diffs {
        let (file, name) = d.key();
        let rows: Vec<&'static str> =
            sites.iter().filter(|(_, f, n)| *f == file && *n == name).map(|(id, _, _)| *id).collect();
        let why = if !rows.is_empty() {
            Why::Catalog(rows)
        } else if let Some(r) = REVIEWED.iter().find(|r| r.series == series && r.file == file && r.name == name) {
            Why::Reviewed(r)
        } else {
            Why::Unexplained
        };
        out.push((d.clone(), why));
    }
    let mut contradicted = Vec::new();
    for (id, file, name) in &sites {
        let differs = diffs.iter().any(|d| d.key() == (file.clone(), name.clone()));
        let mirrored = map.of(file, name).next().is_some();
        if mirrored && !differs {
            contradicted.push(format!(
                "the catalog says {series} differs from 6.12 in {file} {} ({id}), but its fingerprint matches 6.12's",
                display_name(name)
            ));
        }
    }
    (out, contradicted)
}

/// The drift report: every difference with its explanation, the
/// contradictions, and a closing count. Returns the text and whether
/// everything is accounted for.
pub fn report(tree: &Path, map: &Map, left_out: &[Unmirrored]) -> Result<(String, bool), Error> {
    let diffs = drift(tree, map, left_out)?;
    let version = tree_version(tree);
    let kernel = version.as_deref().and_then(|v| {
        let series: String = v.split('.').take(2).collect::<Vec<_>>().join(".");
        Shipped::from_series(&series)
    });
    let (explained, contradicted) = explain(&diffs, kernel, map);
    let distinct = |release: bool| {
        map.mirrors
            .iter()
            .filter(|m| matches!(m.source, Source::Release { .. }) == release)
            .map(|m| (&m.kernel_file, &m.kernel_name))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    let (released, series_only) = (distinct(true), distinct(false));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "kernel map: {released} definitions mirrored from {} files of Linux {MAP_VERSION} (fingerprinted), {series_only} from the patch series (not compared)",
        map.files().len()
    );
    let _ = writeln!(
        s,
        "source tree: {} ({})",
        tree.display(),
        version.as_deref().map_or("no version in its Makefile".to_string(), |v| format!("Linux {v}"))
    );
    if diffs.is_empty() && contradicted.is_empty() {
        let _ = writeln!(
            s,
            "no drift: every mirrored definition has its {MAP_VERSION} fingerprint, and no definition is new"
        );
        return Ok((s, true));
    }
    let mut unexplained = 0;
    for (d, why) in &explained {
        let head = match d {
            Diff::Changed { mirror, now } => {
                let was = match mirror.source {
                    Source::Release { lines: (a, b), .. } => format!("{a}-{b}"),
                    Source::Series(_) => String::new(),
                };
                format!(
                    "changed  {} (lines {was} in {MAP_VERSION}, {}-{} here), mirrored by {}",
                    d.what(),
                    now.lines.0,
                    now.lines.1,
                    mirror.model.place()
                )
            }
            Diff::Gone { mirror, file_missing } => format!(
                "gone     {}{}, mirrored by {}",
                d.what(),
                if *file_missing { " (the file is missing)" } else { "" },
                mirror.model.place()
            ),
            Diff::New { def, .. } => {
                format!(
                    "new      {} (lines {}-{}), not mirrored and not in the {MAP_VERSION} list",
                    d.what(),
                    def.lines.0,
                    def.lines.1
                )
            }
        };
        let _ = writeln!(s, "{head}");
        match why {
            Why::Catalog(rows) => {
                let _ = writeln!(
                    s,
                    "         explained by the catalog: {} (this kernel's bugs differ from 6.12's there)",
                    rows.join(", ")
                );
            }
            Why::Reviewed(r) if r.differs => {
                let _ = writeln!(
                    s,
                    "         reviewed, BEHAVES DIFFERENTLY and the model of {} keeps 6.12's code (README, \"The kernel map\"): {}",
                    r.series, r.why
                );
            }
            Why::Reviewed(r) => {
                let _ = writeln!(s, "         reviewed, same behaviour for the model: {}", r.why);
            }
            Why::Unexplained => {
                unexplained += 1;
                let _ = writeln!(
                    s,
                    "         NOT EXPLAINED: review it, then mirror the change (a catalog switch if it is a bug) or list it in sim/src/kmap/drift.rs REVIEWED"
                );
            }
        }
    }
    for c in &contradicted {
        let _ = writeln!(s, "DISAGREES {c}");
    }
    let by_catalog = explained.iter().filter(|(_, w)| matches!(w, Why::Catalog(_))).count();
    let same = explained.iter().filter(|(_, w)| matches!(w, Why::Reviewed(r) if !r.differs)).count();
    let differs = explained.iter().filter(|(_, w)| matches!(w, Why::Reviewed(r) if r.differs)).count();
    let _ = writeln!(
        s,
        "{} differences: {by_catalog} explained by the catalog, {same} reviewed as the same behaviour, {differs} reviewed as behaviour the model does not follow, {unexplained} not explained; {} catalog claims contradicted",
        diffs.len(),
        contradicted.len()
    );
    Ok((s, unexplained == 0 && contradicted.is_empty()))
}
