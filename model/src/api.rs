//! The operations userspace performs, with symbolic handles, and what it
//! observes. The model's sequential runner (`seq`), the reference (`spec`)
//! and the real-kernel runner all execute the same
//! [`Op`]s and report [`Outcome`]s in one canonical form, so they can be
//! compared directly: pipes are numbered slots, keys are named, and key
//! serials inside records are replaced by those names.

use std::collections::BTreeMap;
use std::fmt;

use crate::errno::Errno;
pub use crate::kernel::Variant;
use crate::uapi::*;

/// Which end of a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum End {
    Read,
    Write,
}

/// A file descriptor operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FdRef {
    /// An end of the pipe created in slot `n`.
    End(u8, End),
    /// The file opened in slot `n` (`open fN ...`).
    File(u8),
    /// A raw descriptor number (a closed or never-opened one).
    Raw(i32),
}

pub use crate::file::OpenKind;

impl OpenKind {
    /// The name a scenario gives the file: `null`, `tty`, `file`.
    pub fn name(self) -> &'static str {
        match self {
            OpenKind::Null => "null",
            OpenKind::Tty => "tty",
            OpenKind::Regular => "file",
        }
    }

    /// Every kind, in the order scenarios list them.
    pub const ALL: [OpenKind; 3] = [OpenKind::Null, OpenKind::Tty, OpenKind::Regular];
}

/// A key operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRef {
    /// The key created in slot `n`.
    Slot(u8),
    /// `KEY_SPEC_SESSION_KEYRING` (`@s`).
    Session,
    /// `KEY_SPEC_USER_KEYRING` (`@u`).
    User,
    /// A raw serial or special id.
    Raw(i32),
}

/// An ioctl request operand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IoctlReq {
    /// `FIONREAD`.
    Fionread,
    /// `FIONBIO`.
    Fionbio(bool),
    /// `IOC_WATCH_QUEUE_SET_SIZE`.
    SetSize(u64),
    /// `IOC_WATCH_QUEUE_SET_FILTER` (None: NULL pointer).
    SetFilter(Option<Vec<u8>>),
    /// Any other request number.
    Other(u32),
}

/// One userspace operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `pipe2(fds, flags)`, binding the ends to pipe slot `pipe`.
    Pipe2 {
        pipe: u8,
        flags: u32,
    },
    /// `open()` of `/dev/null`, `/dev/ptmx` (a pseudo-terminal master) or
    /// a new regular file, read-write, with `flags`; binds the descriptor
    /// to file slot `file` and reports 0 (the number is not the point).
    Open {
        file: u8,
        kind: OpenKind,
        flags: u32,
    },
    Close {
        fd: FdRef,
    },
    Read {
        fd: FdRef,
        len: usize,
    },
    Write {
        fd: FdRef,
        data: Vec<u8>,
    },
    Ioctl {
        fd: FdRef,
        req: IoctlReq,
    },
    Fcntl {
        fd: FdRef,
        cmd: u32,
        arg: u32,
    },
    /// `poll()` of one descriptor for `events` (`POLLERR` and `POLLHUP`
    /// are always reported), with a timeout in milliseconds: `0` reports
    /// the events ready now; `-1` sleeps on the pipe's wait queue until one
    /// is; a positive timeout sleeps until one is or the time has passed,
    /// then returns 0. [`POLL_EVENTS`] unless the scenario names others.
    Poll {
        fd: FdRef,
        events: u32,
        timeout: i32,
    },
    /// `epoll_create1()`, `EPOLL_CTL_ADD` of `fd` for `EPOLLIN | EPOLLOUT`,
    /// `epoll_wait()` for one event with a zero timeout, or none (`wait`:
    /// it sleeps on the epoll instance, woken through the pipe's wait
    /// queue), and `close()` of the epoll descriptor.
    Epoll {
        fd: FdRef,
        wait: bool,
    },
    Splice {
        fd_in: FdRef,
        fd_out: FdRef,
        len: usize,
        flags: u32,
    },
    Tee {
        fd_in: FdRef,
        fd_out: FdRef,
        len: usize,
        flags: u32,
    },
    Vmsplice {
        fd: FdRef,
        len: usize,
        flags: u32,
    },
    /// `add_key(type, desc, payload, keyring)`, binding the key to `slot`.
    AddKey {
        slot: u8,
        type_: String,
        desc: String,
        payload: Vec<u8>,
        keyring: KeyRef,
    },
    /// `request_key(type, desc, NULL, dest)`; the caller then holds the
    /// authority to instantiate the key.
    RequestKey {
        slot: u8,
        type_: String,
        desc: String,
        dest: KeyRef,
    },
    Update {
        key: KeyRef,
        payload: Vec<u8>,
    },
    Revoke {
        key: KeyRef,
    },
    Invalidate {
        key: KeyRef,
    },
    Clear {
        keyring: KeyRef,
    },
    Link {
        key: KeyRef,
        keyring: KeyRef,
    },
    Unlink {
        key: KeyRef,
        keyring: KeyRef,
    },
    Chown {
        key: KeyRef,
        uid: i32,
        gid: i32,
    },
    Setperm {
        key: KeyRef,
        perm: u32,
    },
    SetTimeout {
        key: KeyRef,
        secs: u32,
    },
    /// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: a new anonymous
    /// session keyring (no name), or the keyring of that name the caller
    /// may search, else a new one of that name. The session keyring until
    /// now is bound to `slot` first, so its records stay named once `@s`
    /// names the new one. Returns the new session keyring (`@s`), or 0 if
    /// the named keyring was already it.
    JoinSession {
        slot: u8,
        name: Option<String>,
    },
    /// `keyctl(KEYCTL_RESTRICT_KEYRING, keyring, type, restriction)`:
    /// without a type, no key may be linked into the keyring from now on;
    /// with one, the type's restriction (no type the model has offers
    /// one).
    Restrict {
        keyring: KeyRef,
        type_restriction: Option<(String, String)>,
    },
    Instantiate {
        key: KeyRef,
        payload: Vec<u8>,
        keyring: Option<KeyRef>,
    },
    Reject {
        key: KeyRef,
        timeout: u32,
        error: i32,
        keyring: Option<KeyRef>,
    },
    /// `keyctl(KEYCTL_READ, keyring)`: the keys a keyring links, by name
    /// and sorted (the kernel lists them in its associative array's order).
    /// A key that is not a keyring gives `ENOTDIR` (the operation reads
    /// keyrings only).
    ReadKeyring {
        keyring: KeyRef,
    },
    /// `keyctl(KEYCTL_WATCH_KEY, key, fd, tag)`.
    WatchKey {
        key: KeyRef,
        fd: FdRef,
        tag: i32,
    },
    /// A write of `label` to `/proc/self/attr/current`: the task's LSM
    /// label from now on (a Smack label, an SELinux type).
    SetLabel {
        label: String,
    },
    /// `watch_devices(fd, tag, flags)` (ver #1, `variant v1`): a watch on
    /// the global device list with `tag` (0..=255), or -1 to remove it.
    WatchDevices {
        fd: FdRef,
        tag: i32,
        flags: u32,
    },
    /// Not a syscall: the block layer reports an error of `subtype` on
    /// device `dev` at `sector` (`post_block_notification()`, ver #1).
    BlockError {
        subtype: u8,
        dev: u64,
        sector: u64,
    },
    /// Not a syscall: the USB core reports an event of `subtype` for the
    /// device (or bus) `name`, with `error` (`post_usb_notification()`,
    /// ver #1).
    UsbEvent {
        subtype: u8,
        name: String,
        error: u32,
    },
    /// `watch_mount(AT_FDCWD, path, flags, fd, tag)` (ver #5, `variant
    /// v5`): a watch on the dentry at `path`, seeing its mount and every
    /// mount below; -1 removes it.
    WatchMount {
        path: String,
        fd: FdRef,
        tag: i32,
        flags: u32,
    },
    /// `watch_sb(AT_FDCWD, path, flags, fd, tag)` (ver #5): a watch on the
    /// superblock holding `path`; -1 removes it.
    WatchSb {
        path: String,
        fd: FdRef,
        tag: i32,
        flags: u32,
    },
    /// `mount(2)` of a new filesystem at `path` (ver #5's VFS).
    Mount {
        path: String,
    },
    /// `umount(2)` of the mount whose root is at `path`.
    Umount {
        path: String,
    },
    /// `move_mount(2)` of the mount at `from` to `to`.
    MoveMount {
        from: String,
        to: String,
    },
    /// `mount -o remount,bind,FLAGS path`: the mount's flags become
    /// `mnt_flags` (`MNT_READONLY`, `MNT_NOSUID`).
    MountSetattr {
        path: String,
        mnt_flags: u32,
    },
    /// Not a syscall: the automounter's expiry of the unused mount at
    /// `path` (`mark_mounts_for_expiry()`, second pass).
    Expire {
        path: String,
    },
    /// `mount -o remount,ro|rw path`: the superblock's read-only state.
    Remount {
        path: String,
        ro: bool,
    },
    /// Not a syscall: the filesystem at `path` reports an event of
    /// `subtype` (`error` with its error number, `edquot`, `network`).
    SbEvent {
        path: String,
        subtype: u8,
        error: u32,
    },
    /// `fsinfo(path, FSINFO_ATTR_MOUNT_CHILDREN)`: `{id:change_counter}`
    /// of each child of the mount whose root is at `path`.
    MountChildren {
        path: String,
    },
    /// Write `n` to `/proc/thread-self/fail-nth`: the n-th allocation from
    /// now fails.
    FailNth {
        n: u32,
    },
    /// Not a syscall: wait for the key garbage collector (`key_gc_work`,
    /// which the kernel runs on a workqueue tens of milliseconds after a
    /// key dies). In a sequential run it waits until every piece of
    /// deferred work has finished (the collector's passes and the RCU
    /// callbacks they queue); in a thread it is one run of the collector,
    /// interleaved with the other threads as a kworker would be.
    KeyGc,
    /// Not a syscall: wait for RCU callbacks (`rcu_barrier()`; user space
    /// waits a grace period or more). Time passes, so in a sequential run
    /// every piece of deferred work finishes, as for `key_gc`; in a thread
    /// the callbacks whose grace period has ended run.
    RcuBarrier,
    /// Not a syscall: `secs` seconds pass (`sleep(3)`). The virtual clock
    /// moves on, keys expire, the collector's timer fires; then, as for
    /// `key_gc`, a sequential run lets the deferred work finish.
    Sleep {
        secs: u64,
    },
}

/// The mount flags `mount_setattr` takes, as its scenario text: `rw`, or
/// `ro`, `nosuid` joined by commas; other bits in hex.
pub fn mnt_flags_text(flags: u32) -> String {
    use crate::mount::{MNT_NOSUID, MNT_READONLY};
    let mut parts = Vec::new();
    if flags & MNT_READONLY != 0 {
        parts.push("ro".to_string());
    }
    if flags & MNT_NOSUID != 0 {
        parts.push("nosuid".to_string());
    }
    let other = flags & !(MNT_READONLY | MNT_NOSUID);
    if other != 0 {
        parts.push(format!("{other:#x}"));
    }
    if parts.is_empty() { "rw".into() } else { parts.join(",") }
}

/// One record as userspace sees it, with key serials replaced by names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Canon {
    /// A key notification.
    Key { key: String, subtype: u8, aux: String, tag: u8 },
    /// A watch removal record (`id` named when the record carries one).
    Removal { tag: u8, id: Option<String> },
    /// The fabricated loss record.
    Loss,
    /// A block error record (ver #1).
    Block { subtype: u8, dev: u64, sector: u64, tag: u8 },
    /// A USB record (ver #1): the name as its `name_len` bytes give it.
    Usb { subtype: u8, name: String, error: u32, tag: u8 },
    /// A mount record (ver #5): the trigger, the auxiliary mount (0 for
    /// none), the counters and the info flags (`in subtree`, `ro`).
    Mount { subtype: u8, on: u32, aux: u32, counters: MountCounters, subtree: bool, ro: bool, tag: u8 },
    /// A superblock record (ver #5), with its error number for `error`.
    Sb { subtype: u8, sb: u64, ro: bool, error: Option<u32>, tag: u8 },
    /// Anything else, as bytes.
    Other(Vec<u8>),
}

impl fmt::Display for Canon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Canon::Key { key, subtype, aux, tag } => {
                let name = KEY_SUBTYPE_NAMES.get(*subtype as usize).copied().unwrap_or("?");
                write!(f, "key.{name}({key}")?;
                if !aux.is_empty() && aux != "0" {
                    write!(f, ", aux={aux}")?;
                }
                write!(f, ", tag={tag})")
            }
            Canon::Removal { tag, id: Some(id) } => write!(f, "meta.removal({id}, tag={tag})"),
            Canon::Removal { tag, id: None } => write!(f, "meta.removal(tag={tag})"),
            Canon::Loss => f.write_str("meta.loss"),
            Canon::Block { subtype, dev, sector, tag } => {
                let name =
                    BLOCK_SUBTYPE_NAMES.get(*subtype as usize).map_or_else(|| subtype.to_string(), |n| n.to_string());
                write!(f, "block.{name}(dev={dev:#x}, sector={sector}, tag={tag})")
            }
            Canon::Usb { subtype, name, error, tag } => {
                let st =
                    USB_SUBTYPE_NAMES.get(*subtype as usize).map_or_else(|| subtype.to_string(), |n| n.to_string());
                write!(f, "usb.{st}({}", Quoted(name))?;
                if *error != 0 {
                    write!(f, ", error={error}")?;
                }
                write!(f, ", tag={tag})")
            }
            Canon::Mount { subtype, on, aux, counters, subtree, ro, tag } => {
                let st =
                    MOUNT_SUBTYPE_NAMES.get(*subtype as usize).map_or_else(|| subtype.to_string(), |n| n.to_string());
                write!(f, "mount.{st}(on={on}")?;
                if *aux != 0 {
                    write!(f, ", aux={aux}")?;
                }
                write!(f, ", changes={}/{}/{}", counters.topology, counters.attr, counters.aux_topology)?;
                if *subtree {
                    f.write_str(", subtree")?;
                }
                if *ro {
                    f.write_str(", ro")?;
                }
                write!(f, ", tag={tag})")
            }
            Canon::Sb { subtype, sb, ro, error, tag } => {
                let st = SB_SUBTYPE_NAMES.get(*subtype as usize).map_or_else(|| subtype.to_string(), |n| n.to_string());
                write!(f, "sb.{st}(sb={sb}")?;
                if *ro {
                    f.write_str(", ro")?;
                }
                if let Some(e) = error {
                    write!(f, ", error={e}")?;
                }
                write!(f, ", tag={tag})")
            }
            Canon::Other(b) => write!(f, "other({b:02x?})"),
        }
    }
}

/// Decode what one `read()` returned into canonical records, naming key
/// serials with `name`; the device records of ver #1 decode in `v1` only
/// (the series' revisions gave the same type numbers to other sources). Bytes that do not split into whole records are
/// kept as one `Other`.
pub fn canon_records(buf: &[u8], variant: Variant, name: &dyn Fn(u32) -> String) -> Vec<Canon> {
    let Ok(recs) = split_records(buf) else {
        return vec![Canon::Other(buf.to_vec())];
    };
    recs.into_iter()
        .map(|r| match variant {
            Variant::V1 => device_record(r).unwrap_or_else(|| canon_record(r, name)),
            Variant::V5 => vfs_record(r).unwrap_or_else(|| canon_record(r, name)),
            Variant::Upstream => canon_record(r, name),
        })
        .collect()
}

/// A ver #1 block or USB record of the right size, decoded; `None` for
/// anything else.
pub fn device_record(r: &[u8]) -> Option<Canon> {
    let h = WatchNotification::decode(r)?;
    let word = |at: usize| u64::from_le_bytes(r[at..at + 8].try_into().expect("8 bytes"));
    match h.type_ {
        WATCH_TYPE_BLOCK_NOTIFY if r.len() == BLOCK_NOTIFICATION_SIZE => {
            Some(Canon::Block { subtype: h.subtype, dev: word(8), sector: word(16), tag: h.tag() })
        }
        WATCH_TYPE_USB_NOTIFY if r.len() >= USB_NOTIFICATION_NAME_OFFSET => {
            let name_len = r[USB_NOTIFICATION_NAME_OFFSET - 1] as usize;
            let bytes = r.get(USB_NOTIFICATION_NAME_OFFSET..USB_NOTIFICATION_NAME_OFFSET + name_len)?;
            Some(Canon::Usb {
                subtype: h.subtype,
                name: String::from_utf8_lossy(bytes).into_owned(),
                error: u32::from_le_bytes(r[8..12].try_into().expect("4 bytes")),
                tag: h.tag(),
            })
        }
        _ => None,
    }
}

/// A ver #5 mount or superblock record of the right size, decoded;
/// `None` for anything else.
pub fn vfs_record(r: &[u8]) -> Option<Canon> {
    let h = WatchNotification::decode(r)?;
    let word = |at: usize| u32::from_le_bytes(r[at..at + 4].try_into().expect("4 bytes"));
    match h.type_ {
        // A removal record's ID is a mount's or a superblock's ID, or a
        // watched dentry's address: shown whole, in hex.
        WATCH_TYPE_META if h.subtype == WATCH_META_REMOVAL_NOTIFICATION && r.len() == 16 => {
            let id = u64::from_le_bytes(r[8..16].try_into().expect("8 bytes"));
            Some(Canon::Removal { tag: h.tag(), id: Some(format!("{id:#x}")) })
        }
        WATCH_TYPE_MOUNT_NOTIFY if r.len() == MOUNT_NOTIFICATION_SIZE => Some(Canon::Mount {
            subtype: h.subtype,
            on: word(8),
            aux: word(12),
            counters: MountCounters { topology: word(16), attr: word(20), aux_topology: word(24) },
            subtree: h.info & NOTIFY_MOUNT_IN_SUBTREE != 0,
            ro: h.info & NOTIFY_MOUNT_IS_NOW_RO != 0,
            tag: h.tag(),
        }),
        WATCH_TYPE_SB_NOTIFY if r.len() == SB_NOTIFICATION_SIZE || r.len() == SB_ERROR_NOTIFICATION_SIZE => {
            Some(Canon::Sb {
                subtype: h.subtype,
                sb: u64::from_le_bytes(r[8..16].try_into().expect("8 bytes")),
                ro: h.info & NOTIFY_SUPERBLOCK_IS_NOW_RO != 0,
                error: (r.len() == SB_ERROR_NOTIFICATION_SIZE).then(|| word(16)),
                tag: h.tag(),
            })
        }
        _ => None,
    }
}

/// One upstream record, canonical.
fn canon_record(r: &[u8], name: &dyn Fn(u32) -> String) -> Canon {
    match Record::decode(r) {
        Record::Loss => Canon::Loss,
        Record::Removal { tag, id } => Canon::Removal { tag, id: id.map(|i| name(i as u32)) },
        Record::Key { tag, subtype, key_id, aux } => {
            let aux = match subtype {
                NOTIFY_KEY_LINKED | NOTIFY_KEY_UNLINKED => name(aux),
                NOTIFY_KEY_INSTANTIATED if aux != 0 => {
                    let e = (aux as i32).wrapping_neg();
                    format!("-{}", Errno::from_any(e))
                }
                _ => aux.to_string(),
            };
            Canon::Key { key: name(key_id), subtype, aux, tag }
        }
        Record::Other { bytes, .. } => Canon::Other(bytes),
    }
}

/// What userspace observes from one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A plain non-negative return value.
    Ok(i64),
    /// `add_key`/`request_key` returned the serial of this named key.
    Key(String),
    /// `read()` returned these records (empty at EOF) on a notification pipe.
    Records(Vec<Canon>),
    /// `read()` returned these bytes on a plain pipe.
    Bytes(Vec<u8>),
    /// `poll()` reported this mask.
    Poll(u32),
    /// `KEYCTL_READ` of a keyring returned these keys, named and sorted.
    Links(Vec<String>),
    /// The call failed.
    Err(Errno),
    /// The call would sleep with nothing to wake it (the sequential model
    /// ends the sleep as a signal would: `ERESTARTSYS`).
    Blocked,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(v) => write!(f, "{v}"),
            Outcome::Key(k) => f.write_str(k),
            Outcome::Records(r) if r.is_empty() => f.write_str("EOF"),
            Outcome::Records(r) => {
                let parts: Vec<String> = r.iter().map(|c| c.to_string()).collect();
                write!(f, "[{}]", parts.join(", "))
            }
            Outcome::Bytes(b) => write!(f, "{} bytes", b.len()),
            Outcome::Poll(m) => f.write_str(&poll_mask_name(*m)),
            Outcome::Links(l) => write!(f, "{{{}}}", l.join(", ")),
            Outcome::Err(e) => write!(f, "{e}"),
            Outcome::Blocked => f.write_str("blocks"),
        }
    }
}

/// What userspace calls the descriptors and keys it made: pipe slot ->
/// ([read fd, write fd], notification pipe?), key slot -> serial. The
/// model's runs (the sequential runner's `Handles`) and the guest that runs
/// scenarios on a real kernel resolve operands with it.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub pipes: BTreeMap<u8, ([i32; 2], bool)>,
    /// File slot -> descriptor (-1 once closed).
    pub files: BTreeMap<u8, i32>,
    pub keys: BTreeMap<u8, i32>,
}

impl Names {
    /// The descriptor an operand names (-1 for a slot never created).
    pub fn fd(&self, r: FdRef) -> i32 {
        match r {
            FdRef::Raw(n) => n,
            FdRef::End(p, end) => match self.pipes.get(&p) {
                Some((fds, _)) => fds[if end == End::Read { 0 } else { 1 }],
                None => -1,
            },
            FdRef::File(n) => self.files.get(&n).copied().unwrap_or(-1),
        }
    }

    /// A descriptor closed through its name: the name no longer names it
    /// (its number may be reused by a later file).
    pub fn closed(&mut self, r: FdRef) {
        match r {
            FdRef::End(p, end) => {
                if let Some((fds, _)) = self.pipes.get_mut(&p) {
                    fds[if end == End::Read { 0 } else { 1 }] = -1;
                }
            }
            FdRef::File(n) => {
                if let Some(fd) = self.files.get_mut(&n) {
                    *fd = -1;
                }
            }
            FdRef::Raw(_) => {}
        }
    }

    /// Whether an operand is an end of a notification pipe (whose reads
    /// are records).
    pub fn is_notification(&self, r: FdRef) -> bool {
        match r {
            FdRef::End(p, _) => self.pipes.get(&p).is_some_and(|(_, n)| *n),
            FdRef::File(_) => false,
            FdRef::Raw(fd) => self.pipes.values().any(|(fds, n)| *n && fds.contains(&fd)),
        }
    }

    /// The key serial (or special keyring ID) an operand names; a slot
    /// never filled names a serial no key has.
    pub fn key(&self, r: KeyRef) -> i32 {
        match r {
            KeyRef::Slot(s) => self.keys.get(&s).copied().unwrap_or(0x7fff_fff0),
            KeyRef::Session => KEY_SPEC_SESSION_KEYRING,
            KeyRef::User => KEY_SPEC_USER_KEYRING,
            KeyRef::Raw(n) => n,
        }
    }

    /// Name a serial the way outcomes do: the name of the first special
    /// keyring in `specials` (its serial, if it has one, and name) with
    /// that serial, else the slot holding it (`k0`), else the serial in
    /// hex.
    pub fn name_of(&self, serial: u32, specials: impl IntoIterator<Item = (Option<u32>, &'static str)>) -> String {
        if let Some((_, name)) = specials.into_iter().find(|(s, _)| *s == Some(serial)) {
            return name.to_string();
        }
        match self.keys.iter().find(|(_, s)| **s as u32 == serial) {
            Some((slot, _)) => slot_name(*slot),
            None => format!("{serial:08x}"),
        }
    }
}

/// The name of the key in slot `n`.
pub fn slot_name(n: u8) -> String {
    format!("k{n}")
}

/// The name of the session keyring.
pub const SESSION_NAME: &str = "@s";
/// The name of the user keyring.
pub const USER_NAME: &str = "@u";
/// The name of the user session keyring.
pub const USER_SESSION_NAME: &str = "@us";
/// The name of the thread keyring.
pub const THREAD_NAME: &str = "@t";
/// The name of the process keyring.
pub const PROCESS_NAME: &str = "@p";

/// Something that executes operations: the model, the spec, the kernel.
pub trait Sys {
    /// Execute one operation and report what userspace saw.
    fn apply(&mut self, op: &Op) -> Outcome;
}

/// Short constructors for operations written in Rust (the model's own
/// tests).
pub mod ops {
    use super::*;

    /// `pipe2(O_NOTIFICATION_PIPE | O_NONBLOCK)` into slot `p`.
    pub fn notification_pipe(p: u8) -> Op {
        Op::Pipe2 { pipe: p, flags: O_NOTIFICATION_PIPE | O_NONBLOCK }
    }
    /// The read end of pipe `p`.
    pub fn r(p: u8) -> FdRef {
        FdRef::End(p, End::Read)
    }
    /// The write end of pipe `p`.
    pub fn w(p: u8) -> FdRef {
        FdRef::End(p, End::Write)
    }
    /// `ioctl(IOC_WATCH_QUEUE_SET_SIZE, n)` on pipe `p`.
    pub fn set_size(p: u8, n: u64) -> Op {
        Op::Ioctl { fd: r(p), req: IoctlReq::SetSize(n) }
    }
    /// `ioctl(IOC_WATCH_QUEUE_SET_FILTER, bytes)` on pipe `p`.
    pub fn set_filter(p: u8, bytes: Vec<u8>) -> Op {
        Op::Ioctl { fd: r(p), req: IoctlReq::SetFilter(Some(bytes)) }
    }
    /// `add_key("user", desc, "x", @s)` into slot `k`.
    pub fn user_key(k: u8, desc: &str) -> Op {
        Op::AddKey {
            slot: k,
            type_: "user".into(),
            desc: desc.into(),
            payload: b"x".to_vec(),
            keyring: KeyRef::Session,
        }
    }
    /// `add_key("keyring", desc, NULL, @s)` into slot `k`.
    pub fn keyring(k: u8, desc: &str) -> Op {
        Op::AddKey { slot: k, type_: "keyring".into(), desc: desc.into(), payload: vec![], keyring: KeyRef::Session }
    }
    /// `keyctl_watch_key(k, p, tag)`.
    pub fn watch(k: u8, p: u8, tag: i32) -> Op {
        Op::WatchKey { key: KeyRef::Slot(k), fd: r(p), tag }
    }
    /// `keyctl_update(k, "x")`: one UPDATED notification.
    pub fn update(k: u8) -> Op {
        Op::Update { key: KeyRef::Slot(k), payload: b"x".to_vec() }
    }
    /// `read(p, len)`.
    pub fn read(p: u8, len: usize) -> Op {
        Op::Read { fd: r(p), len }
    }
    /// `close()` both ends of pipe `p` (two ops).
    pub fn close_both(p: u8) -> [Op; 2] {
        [Op::Close { fd: r(p) }, Op::Close { fd: w(p) }]
    }
}

// The text form of operations: one line each, as scenario files write
// them and timelines show them. `sim`'s parser reads exactly this form
// back (a round-trip property test holds them together).

impl fmt::Display for FdRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdRef::End(n, End::Read) => write!(f, "p{n}.r"),
            FdRef::End(n, End::Write) => write!(f, "p{n}.w"),
            FdRef::File(n) => write!(f, "f{n}"),
            FdRef::Raw(n) => write!(f, "fd:{n}"),
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Slot(n) => write!(f, "k{n}"),
            KeyRef::Session => f.write_str(SESSION_NAME),
            KeyRef::User => f.write_str(USER_NAME),
            KeyRef::Raw(-1) => f.write_str(THREAD_NAME),
            KeyRef::Raw(-2) => f.write_str(PROCESS_NAME),
            KeyRef::Raw(-5) => f.write_str(USER_SESSION_NAME),
            KeyRef::Raw(n) => write!(f, "key:{n}"),
        }
    }
}

/// Bytes as an operand: a quoted string when printable, `repeat(0xNN, n)`
/// for a run of one byte, else `hex:...`.
pub struct DataText<'a>(pub &'a [u8]);

impl fmt::Display for DataText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b.len() > 8 && b.iter().all(|&x| x == b[0]) {
            return write!(f, "repeat(0x{:02x}, {})", b[0], b.len());
        }
        if !b.is_empty() && b.iter().all(|&x| (0x20..0x7f).contains(&x)) {
            f.write_str("\"")?;
            for &x in b {
                match x {
                    b'"' => f.write_str("\\\"")?,
                    b'\\' => f.write_str("\\\\")?,
                    _ => write!(f, "{}", x as char)?,
                }
            }
            return f.write_str("\"");
        }
        f.write_str("hex:")?;
        for x in b {
            write!(f, "{x:02x}")?;
        }
        Ok(())
    }
}

/// A string operand, quoted with the scenario syntax's escapes only
/// (`\"`, `\\`, `\n`, `\xNN` for other control characters), so any
/// string prints to text that parses back to it.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// `open(2)`-style flags by name (`O_NOTIFICATION_PIPE|O_NONBLOCK`), any
/// remainder in hex; `0` when empty.
pub fn open_flags_text(flags: u32) -> String {
    let names = [
        (O_NOTIFICATION_PIPE, "O_NOTIFICATION_PIPE"),
        (O_TMPFILE, "O_TMPFILE"),
        (O_NONBLOCK, "O_NONBLOCK"),
        (O_DIRECT, "O_DIRECT"),
        (O_CLOEXEC, "O_CLOEXEC"),
    ];
    flag_text(flags, &names)
}

/// `splice(2)` flags by name.
pub fn splice_flags_text(flags: u32) -> String {
    let names =
        [(0x01, "SPLICE_F_MOVE"), (0x02, "SPLICE_F_NONBLOCK"), (0x04, "SPLICE_F_MORE"), (0x08, "SPLICE_F_GIFT")];
    flag_text(flags, &names)
}

fn flag_text(flags: u32, names: &[(u32, &str)]) -> String {
    let mut parts = Vec::new();
    let mut rest = flags;
    for (bit, name) in names {
        if rest & bit == *bit {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if parts.is_empty() && rest == 0 {
        return "0".into();
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

/// The names of a type's subtypes in filters: key events, and the meta
/// records (0 removal, 1 loss).
pub fn subtype_names(type_: u32) -> &'static [&'static str] {
    match type_ {
        WATCH_TYPE_KEY_NOTIFY => &KEY_SUBTYPE_NAMES,
        WATCH_TYPE_META => &["removal", "loss"],
        _ => &[],
    }
}

/// A well-formed filter (`nr_filters` entries, reserved fields zero,
/// subtypes within the first word) as `{type=key subtypes=updated,linked}`
/// groups; `None` for anything else, which prints as bytes.
pub fn filter_text(b: &[u8]) -> Option<String> {
    let word = |i: usize| b.get(i..i + 4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    let n = word(0)? as usize;
    if word(4)? != 0 || n == 0 || b.len() != 8 + 44 * n {
        return None;
    }
    let mut groups = Vec::new();
    for i in 0..n {
        let at = 8 + 44 * i;
        let (type_, info_filter, info_mask) = (word(at)?, word(at + 4)?, word(at + 8)?);
        if (1..8).any(|j| word(at + 12 + 4 * j) != Some(0)) {
            return None;
        }
        let mask = word(at + 12)?;
        let names = subtype_names(type_);
        let mut g = match type_ {
            WATCH_TYPE_KEY_NOTIFY => "{type=key".to_string(),
            WATCH_TYPE_META => "{type=meta".to_string(),
            t => format!("{{type={t}"),
        };
        let subs: Vec<String> = if mask == u32::MAX {
            vec!["all".to_string()]
        } else {
            (0..32)
                .filter(|s| mask & (1 << s) != 0)
                .map(|s| names.get(s).map_or(s.to_string(), |n| n.to_string()))
                .collect()
        };
        if !subs.is_empty() {
            g += &format!(" subtypes={}", subs.join(","));
        }
        if info_filter != 0 {
            g += &format!(" info_filter={info_filter:#x}");
        }
        if info_mask != 0 {
            g += &format!(" info_mask={info_mask:#x}");
        }
        g.push('}');
        groups.push(g);
    }
    Some(groups.join(" "))
}

/// `fcntl(2)` commands by name.
pub fn fcntl_cmd_text(cmd: u32) -> String {
    match cmd {
        3 => "F_GETFL".into(),
        4 => "F_SETFL".into(),
        F_SETPIPE_SZ => "F_SETPIPE_SZ".into(),
        F_GETPIPE_SZ => "F_GETPIPE_SZ".into(),
        n => n.to_string(),
    }
}

impl fmt::Display for IoctlReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoctlReq::Fionread => f.write_str("FIONREAD"),
            IoctlReq::Fionbio(on) => write!(f, "FIONBIO {}", if *on { "on" } else { "off" }),
            IoctlReq::SetSize(n) => write!(f, "SET_SIZE {n}"),
            IoctlReq::SetFilter(None) => f.write_str("SET_FILTER null"),
            IoctlReq::SetFilter(Some(b)) => match filter_text(b) {
                Some(t) => write!(f, "SET_FILTER {t}"),
                // Bytes that would print as a quoted `{...}` read back as a
                // filter group: print them in hex.
                None if b.first() == Some(&b'{') => {
                    f.write_str("SET_FILTER hex:")?;
                    b.iter().try_for_each(|x| write!(f, "{x:02x}"))
                }
                None => write!(f, "SET_FILTER {}", DataText(b)),
            },
            IoctlReq::Other(n) => write!(f, "{n:#x}"),
        }
    }
}

/// The events a `poll` asks for unless the scenario names others:
/// `POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM`.
pub const POLL_EVENTS: u32 = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

impl Op {
    /// `poll FD`: [`POLL_EVENTS`], ready now.
    pub fn poll(fd: FdRef) -> Op {
        Op::Poll { fd, events: POLL_EVENTS, timeout: 0 }
    }

    /// `poll FD -1`: [`POLL_EVENTS`], sleeping until one is ready.
    pub fn poll_wait(fd: FdRef) -> Op {
        Op::Poll { fd, events: POLL_EVENTS, timeout: -1 }
    }

    /// A `poll` whose sleep a timer ends: its timeout in milliseconds.
    pub fn poll_timeout(&self) -> Option<u32> {
        match self {
            Op::Poll { timeout, .. } if *timeout > 0 => Some(*timeout as u32),
            _ => None,
        }
    }

    /// Whether the operation is a wait for deferred kernel work (`key_gc`,
    /// `rcu_barrier`): where a sequential run lets it finish.
    pub fn waits_for_deferred_work(&self) -> bool {
        matches!(self, Op::KeyGc | Op::RcuBarrier | Op::Sleep { .. })
    }

    /// The keys the operation names, as written.
    pub fn key_operands(&self) -> Vec<KeyRef> {
        match self {
            Op::AddKey { keyring, .. } => vec![*keyring],
            Op::RequestKey { dest, .. } => vec![*dest],
            Op::Update { key: k, .. }
            | Op::Revoke { key: k }
            | Op::Invalidate { key: k }
            | Op::Clear { keyring: k }
            | Op::Chown { key: k, .. }
            | Op::Setperm { key: k, .. }
            | Op::SetTimeout { key: k, .. }
            | Op::Restrict { keyring: k, .. }
            | Op::ReadKeyring { keyring: k }
            | Op::WatchKey { key: k, .. } => vec![*k],
            Op::Link { key: k, keyring } | Op::Unlink { key: k, keyring } => vec![*k, *keyring],
            Op::Instantiate { key: k, keyring, .. } | Op::Reject { key: k, keyring, .. } => {
                std::iter::once(*k).chain(*keyring).collect()
            }
            _ => vec![],
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |k: &Option<KeyRef>| k.map(|k| format!(" {k}")).unwrap_or_default();
        match self {
            Op::Pipe2 { pipe, flags } => write!(f, "pipe2 p{pipe} {}", open_flags_text(*flags)),
            Op::Open { file, kind, flags: 0 } => write!(f, "open f{file} {}", kind.name()),
            Op::Open { file, kind, flags } => write!(f, "open f{file} {} {}", kind.name(), open_flags_text(*flags)),
            Op::Close { fd } => write!(f, "close {fd}"),
            Op::Read { fd, len } => write!(f, "read {fd} {len}"),
            Op::Write { fd, data } => write!(f, "write {fd} {}", DataText(data)),
            Op::Ioctl { fd, req } => write!(f, "ioctl {fd} {req}"),
            Op::Fcntl { fd, cmd, arg } => write!(f, "fcntl {fd} {} {arg}", fcntl_cmd_text(*cmd)),
            Op::Poll { fd, events: POLL_EVENTS, timeout: 0 } => write!(f, "poll {fd}"),
            Op::Poll { fd, events: POLL_EVENTS, timeout } => write!(f, "poll {fd} {timeout}"),
            Op::Poll { fd, events, timeout } => {
                // Bits without a name are written as a number, so the text
                // parses back to the same operation.
                let named = POLLIN | POLLOUT | POLLERR | POLLHUP | POLLNVAL | POLLRDNORM | POLLWRNORM;
                let (known, other) = (events & named, events & !named);
                let mut text = if known != 0 || other == 0 { poll_mask_name(known) } else { String::new() };
                if other != 0 {
                    text = if text.is_empty() { format!("{other:#x}") } else { format!("{text}|{other:#x}") };
                }
                write!(f, "poll {fd} {timeout} {text}")
            }
            Op::Epoll { fd, wait: false } => write!(f, "epoll {fd}"),
            Op::Epoll { fd, wait: true } => write!(f, "epoll {fd} -1"),
            Op::Splice { fd_in, fd_out, len, flags } => {
                write!(f, "splice {fd_in} {fd_out} {len} {}", splice_flags_text(*flags))
            }
            Op::Tee { fd_in, fd_out, len, flags } => {
                write!(f, "tee {fd_in} {fd_out} {len} {}", splice_flags_text(*flags))
            }
            Op::Vmsplice { fd, len, flags } => write!(f, "vmsplice {fd} {len} {}", splice_flags_text(*flags)),
            Op::AddKey { slot, type_, desc, payload, keyring } => {
                write!(f, "add_key k{slot} {} {} {} {keyring}", Quoted(type_), Quoted(desc), DataText(payload))
            }
            Op::RequestKey { slot, type_, desc, dest } => {
                write!(f, "request_key k{slot} {} {} {dest}", Quoted(type_), Quoted(desc))
            }
            Op::Update { key, payload } => write!(f, "update {key} {}", DataText(payload)),
            Op::Revoke { key } => write!(f, "revoke {key}"),
            Op::Invalidate { key } => write!(f, "invalidate {key}"),
            Op::Clear { keyring } => write!(f, "clear {keyring}"),
            Op::Link { key, keyring } => write!(f, "link {key} {keyring}"),
            Op::Unlink { key, keyring } => write!(f, "unlink {key} {keyring}"),
            Op::Chown { key, uid, gid } => write!(f, "chown {key} {uid} {gid}"),
            Op::Setperm { key, perm } => write!(f, "setperm {key} {perm:#010x}"),
            Op::SetTimeout { key, secs } => write!(f, "set_timeout {key} {secs}"),
            Op::JoinSession { slot, name: None } => write!(f, "join_session k{slot}"),
            Op::JoinSession { slot, name: Some(n) } => write!(f, "join_session k{slot} {}", Quoted(n)),
            Op::Restrict { keyring, type_restriction: None } => write!(f, "restrict_keyring {keyring}"),
            Op::Restrict { keyring, type_restriction: Some((t, r)) } => {
                write!(f, "restrict_keyring {keyring} {} {}", Quoted(t), Quoted(r))
            }
            Op::Instantiate { key, payload, keyring } => {
                write!(f, "instantiate {key} {}{}", DataText(payload), opt(keyring))
            }
            Op::Reject { key, timeout, error, keyring } => {
                let e = Errno::from_number(*error).map(|e| e.name().to_string()).unwrap_or_else(|| error.to_string());
                write!(f, "reject {key} {timeout} {e}{}", opt(keyring))
            }
            Op::WatchKey { key, fd, tag } => write!(f, "watch_key {key} {fd} {tag}"),
            Op::ReadKeyring { keyring } => write!(f, "read_keyring {keyring}"),
            Op::SetLabel { label } => write!(f, "setlabel {}", Quoted(label)),
            Op::WatchDevices { fd, tag, flags: 0 } => write!(f, "watch_devices {fd} {tag}"),
            Op::WatchDevices { fd, tag, flags } => write!(f, "watch_devices {fd} {tag} {flags:#x}"),
            Op::BlockError { subtype, dev, sector } => {
                let name =
                    BLOCK_SUBTYPE_NAMES.get(*subtype as usize).map_or_else(|| subtype.to_string(), |n| n.to_string());
                write!(f, "block_error {name} {dev:#x} {sector}")
            }
            Op::UsbEvent { subtype, name, error } => {
                let st =
                    USB_SUBTYPE_NAMES.get(*subtype as usize).map_or_else(|| subtype.to_string(), |n| n.to_string());
                write!(f, "usb_event {st} {}", Quoted(name))?;
                if *error != 0 {
                    write!(f, " {error}")?;
                }
                Ok(())
            }
            Op::WatchMount { path, fd, tag, flags: 0 } => write!(f, "watch_mount {} {fd} {tag}", Quoted(path)),
            Op::WatchMount { path, fd, tag, flags } => {
                write!(f, "watch_mount {} {fd} {tag} {flags:#x}", Quoted(path))
            }
            Op::WatchSb { path, fd, tag, flags: 0 } => write!(f, "watch_sb {} {fd} {tag}", Quoted(path)),
            Op::WatchSb { path, fd, tag, flags } => write!(f, "watch_sb {} {fd} {tag} {flags:#x}", Quoted(path)),
            Op::Mount { path } => write!(f, "mount {}", Quoted(path)),
            Op::Umount { path } => write!(f, "umount {}", Quoted(path)),
            Op::MoveMount { from, to } => write!(f, "move_mount {} {}", Quoted(from), Quoted(to)),
            Op::MountSetattr { path, mnt_flags } => {
                write!(f, "mount_setattr {} {}", Quoted(path), mnt_flags_text(*mnt_flags))
            }
            Op::Expire { path } => write!(f, "expire {}", Quoted(path)),
            Op::Remount { path, ro } => write!(f, "remount {} {}", Quoted(path), if *ro { "ro" } else { "rw" }),
            Op::SbEvent { path, subtype, error } => {
                let st = SB_SUBTYPE_NAMES.get(*subtype as usize).map_or_else(|| subtype.to_string(), |n| n.to_string());
                write!(f, "sb_event {} {st}", Quoted(path))?;
                if *subtype == NOTIFY_SUPERBLOCK_ERROR {
                    write!(f, " {error}")?;
                }
                Ok(())
            }
            Op::MountChildren { path } => write!(f, "mount_children {}", Quoted(path)),
            Op::FailNth { n } => write!(f, "fail_nth {n}"),
            Op::KeyGc => f.write_str("key_gc"),
            Op::RcuBarrier => f.write_str("rcu_barrier"),
            Op::Sleep { secs } => write!(f, "sleep {secs}"),
        }
    }
}
