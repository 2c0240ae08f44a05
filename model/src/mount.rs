//! Models the mount and superblock event sources of the patch series' ver
//! #5 ("pipe: Keyrings, mount and superblock notifications", `variant
//! v5`), never merged: `watch_mount()`, `notify_mount()` and
//! `post_mount_notification()` (fs/mount_notify.c), the calls into them
//! from fs/namespace.c (mount, umount, move, reconfigure, expiry), and
//! `watch_sb()`, `notify_sb()`, `notify_sb_error()` and
//! `post_sb_notification()` (fs/super.c, include/linux/fs.h).
//!
//! The VFS around them is as small as the sources need: one namespace, a
//! tree of mounts each with a superblock of its own (no bind mounts),
//! paths that all name directories, and dentries named by (superblock,
//! path inside it). A mount watch is on a dentry (`watch->id` is the
//! dentry's address); records walk from the changed mount towards the
//! root, so a watch sees its whole subtree.
//!
//! MODEL ORDER: the kernel changes the tree and posts its records under
//! `namespace_sem` held for writing, and a watcher's query of the tree
//! (`fsinfo()`) takes it for reading, so no query sees the tree between a
//! record and its change. The model has no `namespace_sem` and its oracle
//! reads the tree at any step, so each operation changes the tree first
//! and then posts the record that tells of the change (the kernel's
//! `notify_mount(UNMOUNT)` precedes `unhash_mnt()`, its `MOVE_TO`
//! precedes `attach_mnt()`): a query that runs between them sees the
//! change and the record that follows only confirms it. The records and
//! their order are the kernel's.
//!
//! APPROX: no renames, so `post_mount_notification()`'s `rename_lock`
//! retry never fires; path lookup is one atomic step (RCU path walk);
//! mount IDs count from 1 and superblock IDs from 100, in creation order.

use std::collections::{BTreeMap, BTreeSet};

use crate::bugs::Bug;
use crate::errno::{Errno, KResult};
use crate::heap::{Arena, Id, Obj, deref};
use crate::kernel::{Cx, Kernel, Mutant, Variant};
use crate::keys::KeyWatchers;
use crate::lsm;
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::{RwSem, SpinLock, instr};
use crate::trace::kfn;
use crate::uapi::*;
use crate::watch_queue::{
    __post_watch_notification, Watch, add_watch_to_object, get_watch_queue, init_watch, init_watch_list,
    put_watch_queue, remove_watch_from_object, remove_watch_list,
};

/// `MNT_NOSUID`.
pub const MNT_NOSUID: u32 = 0x01;
/// `MNT_READONLY`.
pub const MNT_READONLY: u32 = 0x40;
/// `SB_RDONLY`: the superblock flag, numerically `MNT_NOSUID`.
pub const SB_RDONLY: u32 = 0x01;
/// The dentry addresses the model hands out start here.
const DENTRY_BASE: u64 = 0xffff_8880_0000_1000;

/// Models `struct mount` (fs/mount.h) with ver #5's fields.
#[derive(Debug)]
pub struct Mount {
    pub mnt_id: u32,
    pub sb: Id<SuperBlock>,
    /// `mnt_watchers`: the watches on dentries within this mount, made on
    /// the first watch. Published as `key->watchers` is (F5).
    pub mnt_watchers: KeyWatchers,
    /// `mnt_topology_changes`: mounts added, moved or removed here, and
    /// this mount's own moves.
    pub topology_changes: AtomicU32,
    /// `mnt_attr_changes`: read-only, attribute and expiry changes.
    pub attr_changes: AtomicU32,
    /// `mnt.mnt_flags` (`MNT_READONLY`, `MNT_NOSUID`).
    pub mnt_flags: AtomicU32,
    /// `mnt_count`: the namespace's reference and each path held on it.
    pub mnt_count: AtomicU32,
}

/// Models `struct super_block` with ver #5's fields.
#[derive(Debug)]
pub struct SuperBlock {
    /// `s_unique_id`: never reused.
    pub s_unique_id: u64,
    /// `s_watchers`.
    pub s_watchers: KeyWatchers,
    /// `s_active`: the mounts of it.
    pub s_active: AtomicU32,
    /// `s_umount`.
    pub s_umount: RwSem,
    /// `SB_RDONLY` in `s_flags`.
    pub rdonly: AtomicU32,
}

/// Where a mount hangs: the tree `mnt_parent`, `mnt_mountpoint` and
/// `mnt_child` make. Changed under `mount_lock`.
#[derive(Clone, Debug)]
struct Node {
    mount: Id<Mount>,
    /// `mnt_parent`'s ID (its own for the root).
    parent: u32,
    /// The mountpoint: its path inside the parent's superblock.
    mountpoint: String,
    /// Hashed in the tree (not yet unmounted).
    attached: bool,
}

/// The namespace's bookkeeping. An instrumentation lock, held for single
/// steps only: the kernel's tree is changed under `mount_lock`.
#[derive(Debug, Default)]
struct Tree {
    nodes: BTreeMap<u32, Node>,
    next_mnt_id: u32,
    next_sb_id: u64,
    /// (sb ID, path inside it) -> the dentry's address.
    dentries: BTreeMap<(u64, String), u64>,
    /// `DCACHE_MOUNT_WATCH`: dentries a mount watch was ever set on.
    watched: BTreeSet<u64>,
}

/// ver #5's VFS: made at boot with the root mount (ID 1, superblock 1).
#[derive(Debug)]
pub struct Vfs {
    /// `mount_lock`: notifications post under it.
    pub mount_lock: SpinLock,
    tree: instr::Mutex<Tree>,
    pub mounts: Arena<Mount>,
    pub sbs: Arena<SuperBlock>,
}

/// The root mount's ID.
pub const ROOT_MNT_ID: u32 = 1;
/// The root superblock's `s_unique_id`; later ones count up from it.
/// Mount IDs and superblock IDs are separate spaces in the kernel; the
/// model keeps them apart so that a removal record's ID names one object.
pub const FIRST_SB_ID: u64 = 100;

impl Vfs {
    /// Boot: the root mount on its superblock.
    pub fn boot(k: &Kernel) -> Vfs {
        let v = Vfs {
            mount_lock: SpinLock::new("mount_lock"),
            tree: instr::Mutex::new(Tree { next_mnt_id: ROOT_MNT_ID, next_sb_id: FIRST_SB_ID, ..Tree::default() }),
            mounts: Arena::default(),
            sbs: Arena::default(),
        };
        let m = v.alloc_mount(k);
        let id = v.mounts.get(m).mnt_id;
        v.tree.lock().nodes.insert(id, Node { mount: m, parent: id, mountpoint: String::new(), attached: true });
        v
    }

    /// `alloc_vfsmnt()` and `sget_fc()`: a mount (one reference, the
    /// namespace's) on a new superblock (one active reference).
    fn alloc_mount(&self, k: &Kernel) -> Id<Mount> {
        let (mnt_id, sb_id) = {
            let mut t = self.tree.lock();
            let ids = (t.next_mnt_id, t.next_sb_id);
            t.next_mnt_id += 1;
            t.next_sb_id += 1;
            ids
        };
        let sb = SuperBlock {
            s_unique_id: sb_id,
            s_watchers: KeyWatchers::new(),
            s_active: AtomicU32::new(1),
            s_umount: RwSem::new("sb->s_umount"),
            rdonly: AtomicU32::new(0),
        };
        let sb = k.heap.static_in(&self.sbs, "super_block", sb);
        let m = Mount {
            mnt_id,
            sb,
            mnt_watchers: KeyWatchers::new(),
            topology_changes: AtomicU32::new(0),
            attr_changes: AtomicU32::new(0),
            mnt_flags: AtomicU32::new(0),
            mnt_count: AtomicU32::new(1),
        };
        k.heap.static_in(&self.mounts, "mount", m)
    }

    /// The attached mount with `mnt_id`.
    fn node(&self, mnt_id: u32) -> Option<Node> {
        self.tree.lock().nodes.get(&mnt_id).cloned()
    }

    fn sb_id_of(&self, m: Id<Mount>) -> u64 {
        self.sbs.get(self.mounts.get(m).sb).s_unique_id
    }

    /// The dentry `path` (inside the superblock of `m`), made on first
    /// use: its address.
    fn dentry(&self, m: Id<Mount>, path: &str) -> u64 {
        let sb = self.sb_id_of(m);
        let mut t = self.tree.lock();
        let n = t.dentries.len() as u64;
        *t.dentries.entry((sb, path.to_string())).or_insert(DENTRY_BASE + n * 0xc0)
    }

    /// Where the mount with `mnt_id` is, as an absolute path; `None` once
    /// it is unmounted.
    pub fn path_of(&self, mnt_id: u32) -> Option<String> {
        let t = self.tree.lock();
        let mut parts = Vec::new();
        let mut at = mnt_id;
        loop {
            let n = t.nodes.get(&at)?;
            if !n.attached {
                return None;
            }
            if n.parent == at {
                break;
            }
            if !n.mountpoint.is_empty() {
                parts.push(n.mountpoint.clone());
            }
            at = n.parent;
        }
        parts.reverse();
        Some(format!("/{}", parts.join("/")))
    }

    /// Path lookup (`user_path_at()` following mounts): the attached mount
    /// holding `path` and the path inside its superblock. Every path names
    /// a directory.
    fn lookup(&self, path: &str) -> KResult<(u32, String)> {
        if !path.starts_with('/') {
            return Err(Errno::EINVAL);
        }
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        if comps.contains(&"..") {
            return Err(Errno::EINVAL);
        }
        let t = self.tree.lock();
        let mut at = ROOT_MNT_ID;
        let mut i = 0;
        let mut rel: Vec<&str> = Vec::new();
        while i < comps.len() {
            rel.push(comps[i]);
            i += 1;
            let here = rel.join("/");
            let child =
                t.nodes.iter().find(|(id, n)| n.attached && n.parent == at && **id != at && n.mountpoint == here);
            if let Some((id, _)) = child {
                at = *id;
                rel.clear();
            }
        }
        Ok((at, rel.join("/")))
    }

    /// The attached children of `mnt_id`.
    fn children(&self, mnt_id: u32) -> Vec<u32> {
        let t = self.tree.lock();
        t.nodes.iter().filter(|(id, n)| n.attached && n.parent == mnt_id && **id != mnt_id).map(|(id, _)| *id).collect()
    }
}

/// What one attached mount looks like to a watcher: (parent ID, read-only).
pub type MountView = (u32, bool);

/// The attached mounts below `mnt_id` (not itself), as a watcher's mirror
/// keeps them: ID -> (parent, read-only). The oracle's view of the truth.
pub fn subtree(k: &Kernel, mnt_id: u32) -> BTreeMap<u32, MountView> {
    let mut out = BTreeMap::new();
    let Some(v) = &k.vfs else { return out };
    let mut todo = vec![mnt_id];
    while let Some(at) = todo.pop() {
        for c in v.children(at) {
            out.insert(c, (at, mount_is_readonly(k, c)));
            todo.push(c);
        }
    }
    out
}

/// `fsinfo(FSINFO_ATTR_MOUNT_CHILDREN)`'s answer: `{id, change_counter}`
/// for each child of `mnt_id`, the counter being the mount's topology and
/// attribute changes together.
pub fn mount_children_counters(k: &Kernel, mnt_id: u32) -> Vec<(u32, u32)> {
    let Some(v) = &k.vfs else { return Vec::new() };
    v.children(mnt_id).into_iter().map(|c| (c, change_counter(k, c))).collect()
}

/// A mount's change counter as `fsinfo()` reports it.
pub fn change_counter(k: &Kernel, mnt_id: u32) -> u32 {
    let Some(v) = &k.vfs else { return 0 };
    let Some(n) = v.node(mnt_id) else { return 0 };
    let m = v.mounts.get(n.mount);
    m.topology_changes.load(Ordering::Relaxed).wrapping_add(m.attr_changes.load(Ordering::Relaxed))
}

/// Whether the mount is read-only (`MNT_READONLY`).
pub fn mount_is_readonly(k: &Kernel, mnt_id: u32) -> bool {
    let Some(v) = &k.vfs else { return false };
    let Some(n) = v.node(mnt_id) else { return false };
    v.mounts.get(n.mount).mnt_flags.load(Ordering::Relaxed) & MNT_READONLY != 0
}

/// The mount whose root dentry has address `dentry`, if it is attached.
pub fn mount_rooted_at(k: &Kernel, dentry: u64) -> Option<u32> {
    let v = k.vfs.as_ref()?;
    let sb = {
        let t = v.tree.lock();
        t.dentries.iter().find(|(_, d)| **d == dentry).and_then(|((sb, p), _)| p.is_empty().then_some(*sb))?
    };
    let t = v.tree.lock();
    t.nodes.iter().find(|(_, n)| n.attached && v.sbs.get(v.mounts.get(n.mount).sb).s_unique_id == sb).map(|(id, _)| *id)
}

fn vfs<'k>(cx: &Cx<'k>) -> KResult<&'k Vfs> {
    cx.k.vfs.as_ref().ok_or(Errno::ENOSYS)
}

/// `mntget()` on the mount a lookup found (the path's reference).
fn mntget(v: &Vfs, m: Id<Mount>) {
    v.mounts.get(m).mnt_count.fetch_add(1, Ordering::AcqRel);
}

/// Models `user_path_at()`: the lookup and the reference on the mount it
/// ends in, one step against unmounting (the RCU walk's
/// `legitimize_mnt()` retries under `mount_lock`'s sequence count; the
/// model takes the lock). The caller's [`mntput`] is `path_put()`.
fn user_path_at(v: &Vfs, path: &str) -> KResult<(Id<Mount>, String)> {
    let _g = v.mount_lock.lock();
    let (mnt_id, rel) = v.lookup(path)?;
    let m = deref(v.node(mnt_id), "path.mnt").mount;
    mntget(v, m);
    Ok((m, rel))
}

/// Models `mntput()` and, for the last reference, `mntput_no_expire()`
/// and `cleanup_mnt()` (fs/namespace.c with ver #5's hunk): the mount's
/// watches are removed with removal records carrying its ID, then the
/// superblock loses an active reference.
///
/// Mirrors fs/namespace.c mntput() of series v5 (never merged: no source to fingerprint).
/// Mirrors fs/namespace.c mntput_no_expire() of series v5 (never merged: no source to fingerprint).
/// Mirrors fs/namespace.c cleanup_mnt() of series v5 (never merged: no source to fingerprint).
fn mntput(cx: &Cx<'_>, m: Id<Mount>) {
    let v = vfs(cx).expect("mounts exist only in v5");
    let mnt = v.mounts.get(m);
    if mnt.mnt_count.fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    let _f = kfn("mntput");
    remove_watch_list(cx, mnt.mnt_watchers.replace(cx, None), mnt.mnt_id as u64);
    deactivate_super(cx, mnt.sb);
}

/// Models `deactivate_locked_super()` with ver #5's hunk: the last active
/// reference removes the superblock's watches (records carry its ID).
///
/// Mirrors fs/super.c deactivate_super() of series v5 (never merged: no source to fingerprint).
/// Mirrors fs/super.c deactivate_locked_super() of series v5 (never merged: no source to fingerprint).
fn deactivate_super(cx: &Cx<'_>, sb: Id<SuperBlock>) {
    let v = vfs(cx).expect("superblocks exist only in v5");
    let s = v.sbs.get(sb);
    let _g = s.s_umount.down_write();
    if s.s_active.fetch_sub(1, Ordering::AcqRel) == 1 {
        let _f = kfn("deactivate_super");
        remove_watch_list(cx, s.s_watchers.replace(cx, None), s.s_unique_id);
    }
}

/// Models `notify_mount(trigger, aux, subtype, info_flags)` as ver #5 has
/// it: count the change on the trigger (topology or attributes) and, for
/// topology changes, on the mount added, moved or removed too ("Increment
/// the topology change counter on the added, moved or removed object as
/// well as the parent(s)"), then post a record carrying the counters.
/// Callers hold `mount_lock`.
///
/// Mirrors fs/mount_notify.c notify_mount() of series v5 (never merged: no source to fingerprint).
fn notify_mount(cx: &Cx<'_>, trigger: Id<Mount>, aux: Option<Id<Mount>>, subtype: u8, info_flags: u32) {
    let _f = kfn("notify_mount");
    let v = vfs(cx).expect("mounts exist only in v5");
    let t = v.mounts.get(trigger);
    let a = aux.map(|a| v.mounts.get(a));
    match subtype {
        NOTIFY_MOUNT_EXPIRY | NOTIFY_MOUNT_READONLY | NOTIFY_MOUNT_SETATTR => {
            // MUTANT(mount-attr-counter-forgotten): attribute changes
            // left uncounted.
            if cx.k.config.mutant != Some(Mutant::MountAttrCounterForgotten) {
                t.attr_changes.fetch_add(1, Ordering::AcqRel);
            }
        }
        _ => {
            t.topology_changes.fetch_add(1, Ordering::AcqRel);
            if let Some(a) = &a {
                a.topology_changes.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
    let c = MountCounters {
        topology: t.topology_changes.load(Ordering::Acquire),
        attr: t.attr_changes.load(Ordering::Acquire),
        aux_topology: a.as_ref().map_or(0, |a| a.topology_changes.load(Ordering::Acquire)),
    };
    let mut n = mount_notification(subtype, info_flags, t.mnt_id, a.as_ref().map_or(0, |a| a.mnt_id), c);
    post_mount_notification(cx, trigger, &mut n);
}

/// Models `post_mount_notification(changed, notify)`
/// (fs/mount_notify.c): walk from the changed mount's root towards the
/// global root, dentry by dentry and across mountpoints, posting to each
/// mount's watchers with the dentry as the ID where a watch was set
/// (`DCACHE_MOUNT_WATCH`); a mount with no watchers is skipped to its
/// root. Every post but the first carries `NOTIFY_MOUNT_IN_SUBTREE`.
///
/// Mirrors fs/mount_notify.c post_mount_notification() of series v5 (never merged: no source to fingerprint).
fn post_mount_notification(cx: &Cx<'_>, changed: Id<Mount>, n: &mut [u8]) {
    let _f = kfn("post_mount_notification");
    let v = vfs(cx).expect("mounts exist only in v5");
    let cred = cx.current_cred();
    let _rcu = crate::rcu::rcu_read_lock(cx);
    let mut mnt = changed;
    let mut dentry = String::new();
    set_info_flag(n, NOTIFY_MOUNT_IN_SUBTREE, false);
    loop {
        let m = v.mounts.get(mnt);
        let wlist = m.mnt_watchers.get(cx);
        let has_watchers = wlist.is_some_and(|w| !cx.k.wlists.get(w).watchers.is_empty());
        if has_watchers {
            let d = v.dentry(mnt, &dentry);
            if v.tree.lock().watched.contains(&d) {
                __post_watch_notification(cx, wlist, n, &cred, d);
            }
        } else {
            dentry.clear();
        }
        set_info_flag(n, NOTIFY_MOUNT_IN_SUBTREE, true);
        if dentry.is_empty() {
            let Some(node) = v.node(m.mnt_id) else { break };
            // Global root?
            if node.parent == m.mnt_id {
                break;
            }
            let Some(parent) = v.node(node.parent) else { break };
            dentry = node.mountpoint.clone();
            mnt = parent.mount;
        } else {
            dentry = match dentry.rfind('/') {
                Some(i) => dentry[..i].to_string(),
                None => String::new(),
            };
        }
    }
}

fn set_info_flag(n: &mut [u8], flag: u32, on: bool) {
    let mut info = u32::from_le_bytes(n[4..8].try_into().expect("a header"));
    if on {
        info |= flag;
    } else {
        info &= !flag;
    }
    n[4..8].copy_from_slice(&info.to_le_bytes());
}

/// Models `release_mount_watch()`: `dput()` of the watched dentry (the
/// model keeps dentries forever, so nothing to do).
///
/// Mirrors fs/mount_notify.c sys_watch_mount() of series v5 (never merged: no source to fingerprint).
fn release_mount_watch(_cx: &Cx<'_>, _w: Id<Watch>) {}

/// Models `SYSCALL_DEFINE5(watch_mount, dfd, filename, at_flags,
/// watch_fd, watch_id)` (fs/mount_notify.c): a watch on the dentry at
/// `path` with tag `watch_id`, reporting on its mount and every mount
/// below it; -1 removes this queue's watch on that dentry.
///
/// Catalog switches here: X3 (the removal calls
/// `remove_watch_from_object(m->mnt_watchers, ...)` whether or not the
/// mount has a watch list: NULL for a mount never watched; the 2018
/// revision checked it and returned `EBADSLT`).
///
/// Mirrors fs/mount_notify.c sys_watch_mount() of series v5 (never merged: no source to fingerprint).
pub fn sys_watch_mount(cx: &Cx<'_>, path: &str, at_flags: u32, watch_fd: i32, watch_id: i32) -> KResult<i64> {
    let v = vfs(cx)?;
    let _f = kfn("sys_watch_mount");
    if !(-1..=0xff).contains(&watch_id) {
        return Err(Errno::EINVAL);
    }
    if at_flags & !(AT_NO_AUTOMOUNT | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let (m, rel) = user_path_at(v, path)?;
    let ret = watch_mount_locked(cx, v, m, &rel, watch_fd, watch_id);
    mntput(cx, m); // path_put()
    ret
}

fn watch_mount_locked(cx: &Cx<'_>, v: &Vfs, m: Id<Mount>, rel: &str, watch_fd: i32, watch_id: i32) -> KResult<i64> {
    let wqueue = get_watch_queue(cx, watch_fd)?;
    let mnt = v.mounts.get(m);
    let sb = v.sbs.get(mnt.sb);
    let dentry = v.dentry(m, rel);
    let ret = if watch_id >= 0 {
        let mut wlist = None;
        let r = (|| {
            if mnt.mnt_watchers.get(cx).is_none() {
                wlist = Some(init_watch_list(cx, Some(release_mount_watch)).ok_or(Errno::ENOMEM)?);
            }
            let watch =
                init_watch(cx, wqueue, dentry, (watch_id as u32) << WATCH_INFO_ID__SHIFT).ok_or(Errno::ENOMEM)?;
            let r = lsm::security_watch_mount(cx).and_then(|()| {
                let _g = sb.s_umount.down_write();
                if mnt.mnt_watchers.get(cx).is_none() {
                    mnt.mnt_watchers.replace(cx, wlist.take());
                }
                let r = add_watch_to_object(cx, watch, deref(mnt.mnt_watchers.get(cx), "m->mnt_watchers"));
                if r.is_ok() {
                    v.tree.lock().watched.insert(dentry);
                }
                r
            });
            if r.is_err() {
                cx.k.heap.kfree(Obj::hdr(&cx.k.watches.get(watch)));
            }
            r
        })();
        if let Some(wl) = wlist {
            cx.k.heap.kfree(Obj::hdr(&cx.k.wlists.get(wl)));
        }
        r.map(|()| 0)
    } else {
        let wl = mnt.mnt_watchers.get(cx);
        // BUG(X3): no check that the mount has a watch list.
        let wl = if cx.bug(Bug::X3) { Some(deref(wl, "m->mnt_watchers")) } else { wl };
        match wl {
            None => Err(Errno::EBADSLT),
            Some(wl) => {
                let _g = sb.s_umount.down_write();
                remove_watch_from_object(cx, wl, Some(wqueue), dentry, false).map(|()| 0)
            }
        }
    };
    put_watch_queue(cx, wqueue);
    ret
}

/// Models `SYSCALL_DEFINE5(watch_sb, dfd, filename, at_flags, watch_fd,
/// watch_id)` (fs/super.c): a watch on the superblock holding `path`,
/// with its `s_unique_id` as the ID; `EIO` once the superblock is no
/// longer active; -1 removes it (`EBADSLT` if none).
///
/// Mirrors fs/super.c sys_watch_sb() of series v5 (never merged: no source to fingerprint).
pub fn sys_watch_sb(cx: &Cx<'_>, path: &str, at_flags: u32, watch_fd: i32, watch_id: i32) -> KResult<i64> {
    let v = vfs(cx)?;
    let _f = kfn("sys_watch_sb");
    if !(-1..=0xff).contains(&watch_id) {
        return Err(Errno::EINVAL);
    }
    if at_flags & !(AT_NO_AUTOMOUNT | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let (m, _) = user_path_at(v, path)?;
    let wqueue = match get_watch_queue(cx, watch_fd) {
        Ok(w) => w,
        Err(e) => {
            mntput(cx, m);
            return Err(e);
        }
    };
    let s = v.sbs.get(v.mounts.get(m).sb);
    let ret = if watch_id >= 0 {
        let mut wlist = None;
        let r = (|| {
            if s.s_watchers.get(cx).is_none() {
                wlist = Some(init_watch_list(cx, None).ok_or(Errno::ENOMEM)?);
            }
            let watch = init_watch(cx, wqueue, s.s_unique_id, (watch_id as u32) << WATCH_INFO_ID__SHIFT)
                .ok_or(Errno::ENOMEM)?;
            let r = lsm::security_watch_sb(cx).and_then(|()| {
                let _g = s.s_umount.down_write();
                if s.s_active.load(Ordering::Acquire) == 0 {
                    return Err(Errno::EIO);
                }
                if s.s_watchers.get(cx).is_none() {
                    s.s_watchers.replace(cx, wlist.take());
                }
                add_watch_to_object(cx, watch, deref(s.s_watchers.get(cx), "s->s_watchers"))
            });
            if r.is_err() {
                cx.k.heap.kfree(Obj::hdr(&cx.k.watches.get(watch)));
            }
            r
        })();
        if let Some(wl) = wlist {
            cx.k.heap.kfree(Obj::hdr(&cx.k.wlists.get(wl)));
        }
        r.map(|()| 0)
    } else {
        match s.s_watchers.get(cx) {
            None => Err(Errno::EBADSLT),
            Some(wl) => {
                let _g = s.s_umount.down_write();
                remove_watch_from_object(cx, wl, Some(wqueue), s.s_unique_id, false).map(|()| 0)
            }
        }
    };
    put_watch_queue(cx, wqueue);
    mntput(cx, m);
    ret
}

/// The mount whose root is at `path`: `EINVAL` for a path inside a mount.
fn mount_root_at(v: &Vfs, path: &str) -> KResult<(u32, Id<Mount>)> {
    let (mnt_id, rel) = v.lookup(path)?;
    if !rel.is_empty() {
        return Err(Errno::EINVAL);
    }
    Ok((mnt_id, deref(v.node(mnt_id), "path.mnt").mount))
}

/// Models `do_new_mount()` and `attach_recursive_mnt()` with ver #5's
/// hunk: a new mount, on a new superblock, at `path`; `NEW_MOUNT` is
/// posted on the parent with the new mount as auxiliary.
///
/// APPROX: a mountpoint holds one mount (`EBUSY`, where the kernel would
/// stack them).
///
/// Mirrors fs/namespace.c do_new_mount() of series v5 (never merged: no source to fingerprint).
/// Mirrors fs/namespace.c attach_recursive_mnt() of series v5 (never merged: no source to fingerprint).
pub fn do_new_mount(cx: &Cx<'_>, path: &str) -> KResult<i64> {
    let v = vfs(cx)?;
    let _f = kfn("do_new_mount");
    let (parent_id, rel) = v.lookup(path)?;
    if rel.is_empty() {
        return Err(Errno::EBUSY);
    }
    let parent = deref(v.node(parent_id), "dest_mnt").mount;
    let m = v.alloc_mount(cx.k);
    let _g = v.mount_lock.lock();
    let id = v.mounts.get(m).mnt_id;
    v.tree.lock().nodes.insert(id, Node { mount: m, parent: parent_id, mountpoint: rel, attached: true });
    notify_mount(cx, parent, Some(m), NOTIFY_MOUNT_NEW_MOUNT, 0);
    Ok(0)
}

/// Models `do_umount()` with ver #5's hunk: see [`umount_tree`].
/// `EINVAL` for a path that is no mount's root or for the root.
///
/// Mirrors fs/namespace.c do_umount() of series v5 (never merged: no source to fingerprint).
pub fn do_umount(cx: &Cx<'_>, path: &str) -> KResult<i64> {
    let v = vfs(cx)?;
    let _f = kfn("do_umount");
    umount_tree(cx, v, path, false)
}

/// Models `mark_mounts_for_expiry()` on its second pass with ver #5's
/// hunk: an unused mount marked on the first pass gets `EXPIRY` on itself
/// and is unmounted ([`umount_tree`]).
///
/// Mirrors fs/namespace.c mark_mounts_for_expiry() of series v5 (never merged: no source to fingerprint).
pub fn expire_mount(cx: &Cx<'_>, path: &str) -> KResult<i64> {
    let v = vfs(cx)?;
    let _f = kfn("expire_mount");
    umount_tree(cx, v, path, true)
}

/// Models `umount_tree()` and `umount_mnt()` with ver #5's hunk, as
/// `do_umount()` and the expiry reach them: under `mount_lock`, `EBUSY`
/// while the mount has mounts below it or a path held in it
/// (`propagate_mount_busy()`); else (`EXPIRY` on the mount first when it
/// `expired`) the mount leaves the tree, `UNMOUNT` goes to its parent with
/// the mount as auxiliary, and the namespace's reference is dropped (the
/// last one destroys the mount: [`mntput`]). `EINVAL` for a path that is
/// no mount's root or for the root.
///
/// Mirrors fs/namespace.c umount_tree() of series v5 (never merged: no source to fingerprint).
/// Mirrors fs/namespace.c umount_mnt() of series v5 (never merged: no source to fingerprint).
fn umount_tree(cx: &Cx<'_>, v: &Vfs, path: &str, expired: bool) -> KResult<i64> {
    crate::trace::reached("umount_tree");
    let (id, m) = mount_root_at(v, path)?;
    if id == ROOT_MNT_ID {
        return Err(Errno::EINVAL);
    }
    let g = v.mount_lock.lock();
    let busy = !v.children(id).is_empty() || v.mounts.get(m).mnt_count.load(Ordering::Acquire) > 1;
    let Some(node) = v.node(id).filter(|n| n.attached && !busy) else {
        drop(g);
        return Err(Errno::EBUSY);
    };
    if expired {
        notify_mount(cx, m, None, NOTIFY_MOUNT_EXPIRY, 0);
    }
    let parent = deref(v.node(node.parent), "mnt->mnt_parent").mount;
    // The tree changes before the record: see MODEL ORDER on the module.
    v.tree.lock().nodes.get_mut(&id).expect("attached").attached = false;
    notify_mount(cx, parent, Some(m), NOTIFY_MOUNT_UNMOUNT, 0);
    drop(g);
    mntput(cx, m);
    Ok(0)
}

/// Models `do_move_mount()` and `attach_recursive_mnt(moving)` with ver
/// #5's hunk: `MOVE_FROM` on the old parent, then `MOVE_TO` on the new
/// one, the moved mount auxiliary in both. `EINVAL` for the root or a
/// path inside a mount; `ELOOP` into the mount's own subtree; `EBUSY` onto
/// a mountpoint in use.
///
/// Mirrors fs/namespace.c do_move_mount() of series v5 (never merged: no source to fingerprint).
pub fn do_move_mount(cx: &Cx<'_>, from: &str, to: &str) -> KResult<i64> {
    let v = vfs(cx)?;
    let _f = kfn("do_move_mount");
    let (m, rel_from) = user_path_at(v, from)?;
    let (dest, rel_to) = match user_path_at(v, to) {
        Ok(d) => d,
        Err(e) => {
            mntput(cx, m);
            return Err(e);
        }
    };
    let ret = move_mount_locked(cx, v, m, &rel_from, dest, rel_to);
    mntput(cx, dest);
    mntput(cx, m);
    ret
}

fn move_mount_locked(
    cx: &Cx<'_>,
    v: &Vfs,
    m: Id<Mount>,
    rel_from: &str,
    dest: Id<Mount>,
    rel_to: String,
) -> KResult<i64> {
    let id = v.mounts.get(m).mnt_id;
    let dest_id = v.mounts.get(dest).mnt_id;
    if !rel_from.is_empty() || id == ROOT_MNT_ID {
        return Err(Errno::EINVAL);
    }
    if rel_to.is_empty() {
        return Err(Errno::EBUSY);
    }
    let _g = v.mount_lock.lock();
    let attached = |id: u32| v.node(id).filter(|n| n.attached);
    let (Some(node), Some(_)) = (attached(id), attached(dest_id)) else {
        return Err(Errno::EINVAL);
    };
    if dest_id == id || subtree(cx.k, id).contains_key(&dest_id) {
        return Err(Errno::ELOOP);
    }
    let old_parent = deref(v.node(node.parent), "source_mnt->mnt_parent").mount;
    // unhash_mnt(), MOVE_FROM, attach_mnt(), MOVE_TO: see MODEL ORDER on
    // the module.
    v.tree.lock().nodes.get_mut(&id).expect("attached").attached = false;
    notify_mount(cx, old_parent, Some(m), NOTIFY_MOUNT_MOVE_FROM, 0);
    {
        let mut t = v.tree.lock();
        let n = t.nodes.get_mut(&id).expect("listed");
        n.parent = dest_id;
        n.mountpoint = rel_to;
        n.attached = true;
    }
    notify_mount(cx, dest, Some(m), NOTIFY_MOUNT_MOVE_TO, 0);
    Ok(0)
}

/// Models `do_reconfigure_mnt()` (`mount -o remount,bind,FLAGS`) with ver
/// #5's hunks: `change_mount_ro_state()` posts `READONLY` on the mount
/// when read-only changes (`mnt_make_readonly()`,
/// `__mnt_unmake_readonly()`), then `set_mount_attributes()` always posts
/// `SETATTR` with `NOTIFY_MOUNT_IS_NOW_RO` taken from the new flags.
///
/// Catalog switches here: X4 (that flag tested `mnt_flags & SB_RDONLY`:
/// `SB_RDONLY` is a superblock flag with `MNT_NOSUID`'s value, so a
/// read-only mount reports read-write and a nosuid one read-only).
///
/// Mirrors fs/namespace.c do_reconfigure_mnt() of series v5 (never merged: no source to fingerprint).
pub fn do_reconfigure_mnt(cx: &Cx<'_>, path: &str, mnt_flags: u32) -> KResult<i64> {
    let v = vfs(cx)?;
    let _f = kfn("do_reconfigure_mnt");
    let (m, rel) = user_path_at(v, path)?;
    if !rel.is_empty() {
        mntput(cx, m);
        return Err(Errno::EINVAL);
    }
    let mnt = v.mounts.get(m);
    let g = v.mount_lock.lock();
    let ro = mnt_flags & MNT_READONLY != 0;
    let was_ro = mnt.mnt_flags.load(Ordering::Acquire) & MNT_READONLY != 0;
    if ro != was_ro {
        mnt.mnt_flags
            .store(mnt_flags & MNT_READONLY | mnt.mnt_flags.load(Ordering::Acquire) & !MNT_READONLY, Ordering::Release);
        notify_mount(cx, m, None, NOTIFY_MOUNT_READONLY, if ro { NOTIFY_MOUNT_IS_NOW_RO } else { 0 });
    }
    mnt.mnt_flags.store(mnt_flags, Ordering::Release);
    // BUG(X4): the superblock's read-only bit tested in mount flags.
    let now_ro = if cx.bug(Bug::X4) { mnt_flags & SB_RDONLY != 0 } else { ro };
    notify_mount(cx, m, None, NOTIFY_MOUNT_SETATTR, if now_ro { NOTIFY_MOUNT_IS_NOW_RO } else { 0 });
    drop(g);
    mntput(cx, m);
    Ok(0)
}

/// Models `reconfigure_super()` (`mount -o remount,ro|rw`) with ver #5's
/// hunk: the superblock's read-only state changes and `notify_sb()` posts
/// `READONLY` with `NOTIFY_SUPERBLOCK_IS_NOW_RO` when it is now
/// read-only.
///
/// Mirrors fs/super.c reconfigure_super() of series v5 (never merged: no source to fingerprint).
pub fn reconfigure_super(cx: &Cx<'_>, path: &str, ro: bool) -> KResult<i64> {
    let v = vfs(cx)?;
    let _f = kfn("reconfigure_super");
    let (m, _) = user_path_at(v, path)?;
    let s = v.sbs.get(v.mounts.get(m).sb);
    let g = s.s_umount.down_write();
    s.rdonly.store(ro as u32, Ordering::Release);
    notify_sb(cx, &s, NOTIFY_SUPERBLOCK_READONLY, if ro { NOTIFY_SUPERBLOCK_IS_NOW_RO } else { 0 }, None);
    drop(g);
    mntput(cx, m);
    Ok(0)
}

/// A superblock event a filesystem reports (not a syscall): an I/O error
/// (`notify_sb_error()`), a quota overrun (`notify_sb_EDQUOT()`) or a
/// network change (`notify_sb(NOTIFY_SUPERBLOCK_NETWORK)`), on the
/// superblock holding `path`, from an operation that holds the path.
///
/// Catalog switches here: X5 (on as posted: reported with no lock, so a
/// record can follow the removal record of the watch it came through;
/// the proposed fix holds `s_umount` for reading, as `watch_sb()` holds it
/// to remove).
///
/// Mirrors include/linux/fs.h notify_sb_error() of series v5 (never merged: no source to fingerprint).
/// Mirrors include/linux/fs.h notify_sb_EDQUOT() of series v5 (never merged: no source to fingerprint).
pub fn sb_event(cx: &Cx<'_>, path: &str, subtype: u8, error: u32) -> KResult<i64> {
    let v = vfs(cx)?;
    let _f = kfn("sb_event");
    let (m, _) = user_path_at(v, path)?;
    let s = v.sbs.get(v.mounts.get(m).sb);
    let err = (subtype == NOTIFY_SUPERBLOCK_ERROR).then_some(error);
    // BUG(X5): reported without s_umount.
    let g = (!cx.bug(Bug::X5)).then(|| s.s_umount.down_read());
    notify_sb(cx, &s, subtype, 0, err);
    drop(g);
    mntput(cx, m);
    Ok(0)
}

/// Models `notify_sb()` and `notify_sb_error()` (include/linux/fs.h, ver
/// #5): if the superblock has watchers, build the record and
/// `post_sb_notification()` it with the current task's credentials and
/// the superblock's ID.
///
/// Mirrors include/linux/fs.h notify_sb() of series v5 (never merged: no source to fingerprint).
fn notify_sb(cx: &Cx<'_>, s: &SuperBlock, subtype: u8, info: u32, error: Option<u32>) {
    let _f = kfn("notify_sb");
    if let Some(wl) = s.s_watchers.get(cx) {
        let mut n = sb_notification(subtype, info, s.s_unique_id, error);
        let cred = cx.current_cred();
        __post_watch_notification(cx, Some(wl), &mut n, &cred, s.s_unique_id);
    }
}

/// `fsinfo(path, FSINFO_ATTR_MOUNT_CHILDREN)`: `{id, change_counter}` of
/// each child of the mount whose root is at `path`, sorted by ID.
pub fn fsinfo_mount_children(cx: &Cx<'_>, path: &str) -> KResult<Vec<(u32, u32)>> {
    let v = vfs(cx)?;
    let (id, _) = mount_root_at(v, path)?;
    Ok(mount_children_counters(cx.k, id))
}

/// Models `put_mnt_ns()` at the exit of the program, which runs in a
/// mount namespace of its own: `umount_tree()` of the whole namespace,
/// deepest mounts first, each losing the namespace's reference (the last
/// one destroys it: its watches and its superblock's go, with their
/// lists).
///
/// APPROX: the `UNMOUNT` records the tree's teardown posts are left out;
/// every queue is closed by then.
///
/// Mirrors fs/namespace.c put_mnt_ns() of series v5 (never merged: no source to fingerprint).
pub fn put_mnt_ns(cx: &Cx<'_>) {
    let Some(v) = &cx.k.vfs else { return };
    let _f = kfn("put_mnt_ns");
    let mut order: Vec<(usize, u32)> = Vec::new();
    let ids: Vec<u32> = v.tree.lock().nodes.iter().filter(|(_, n)| n.attached).map(|(id, _)| *id).collect();
    for id in ids {
        let mut depth = 0;
        let mut at = id;
        while let Some(n) = v.node(at).filter(|n| n.parent != at) {
            depth += 1;
            at = n.parent;
        }
        order.push((depth, id));
    }
    order.sort_by(|a, b| b.cmp(a));
    for (_, id) in order {
        let m = {
            let mut t = v.tree.lock();
            let n = t.nodes.get_mut(&id).expect("listed");
            n.attached = false;
            n.mount
        };
        mntput(cx, m);
    }
}

/// Whether the run's variant has mounts to watch.
pub fn has_mounts(variant: Variant) -> bool {
    variant == Variant::V5
}
