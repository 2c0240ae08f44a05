//! Models `include/uapi/linux/watch_queue.h` (and the parts of
//! `include/uapi/linux/keyctl.h`, `fcntl.h`, `poll.h` and
//! `include/linux/pipe_fs_i.h` userspace and the model share), Linux 6.12.
//!
//! Records are bytes in the kernel's layout. `struct watch_notification` is
//! `{ __u32 type:24; __u32 subtype:8; __u32 info; }`; on x86-64 (GCC,
//! little-endian) `type` takes the low 24 bits of the first word and
//! `subtype` the high 8, so the header is `type | subtype << 24` followed by
//! `info`, both little-endian.

use std::fmt::Write as _;

// ---- fcntl.h / pipe2 flags (x86-64 values) --------------------------------

/// `O_EXCL`, which `O_NOTIFICATION_PIPE` aliases.
pub const O_EXCL: u32 = 0o200;
/// `O_NOTIFICATION_PIPE = O_EXCL`: selects a notification pipe in `pipe2()`.
pub const O_NOTIFICATION_PIPE: u32 = O_EXCL;
/// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`): what the first pipe-based
/// revision of the series (`variant v1`) hacked `pipe2()` to take for a
/// notification pipe ("Note that O_TMPFILE is just hacked in atm").
pub const O_TMPFILE: u32 = 0o20200000;
/// `O_WRONLY`.
pub const O_WRONLY: u32 = 0o1;
/// `O_RDWR`.
pub const O_RDWR: u32 = 0o2;
/// `O_LARGEFILE` (x86-64), which `open(2)` forces on 64-bit kernels.
pub const O_LARGEFILE: u32 = 0o100000;
/// `O_NONBLOCK`.
pub const O_NONBLOCK: u32 = 0o4000;
/// `O_DIRECT`: packet-mode pipe.
pub const O_DIRECT: u32 = 0o40000;
/// `O_CLOEXEC`.
pub const O_CLOEXEC: u32 = 0o2000000;

/// `F_SETPIPE_SZ` (`F_LINUX_SPECIFIC_BASE + 7`).
pub const F_SETPIPE_SZ: u32 = 1031;
/// `F_GETPIPE_SZ` (`F_LINUX_SPECIFIC_BASE + 8`).
pub const F_GETPIPE_SZ: u32 = 1032;

// ---- ioctls ----------------------------------------------------------------

/// `IOC_WATCH_QUEUE_SET_SIZE = _IO('W', 0x60)`: the argument is a number of notes.
pub const IOC_WATCH_QUEUE_SET_SIZE: u32 = (b'W' as u32) << 8 | 0x60;
/// `IOC_WATCH_QUEUE_SET_FILTER = _IO('W', 0x61)`.
pub const IOC_WATCH_QUEUE_SET_FILTER: u32 = (b'W' as u32) << 8 | 0x61;
/// `FIONREAD` (x86).
pub const FIONREAD: u32 = 0x541B;

// ---- poll.h ----------------------------------------------------------------

pub const POLLIN: u32 = 0x0001;
pub const POLLOUT: u32 = 0x0004;
pub const POLLERR: u32 = 0x0008;
pub const POLLHUP: u32 = 0x0010;
/// `POLLNVAL`: the descriptor is not open.
pub const POLLNVAL: u32 = 0x0020;
pub const POLLRDNORM: u32 = 0x0040;
pub const POLLWRNORM: u32 = 0x0100;

/// Render a poll mask as `POLLIN|POLLRDNORM` (or `0`).
pub fn poll_mask_name(mask: u32) -> String {
    let names = [
        (POLLIN, "POLLIN"),
        (POLLOUT, "POLLOUT"),
        (POLLERR, "POLLERR"),
        (POLLHUP, "POLLHUP"),
        (POLLNVAL, "POLLNVAL"),
        (POLLRDNORM, "POLLRDNORM"),
        (POLLWRNORM, "POLLWRNORM"),
    ];
    let parts: Vec<&str> = names.iter().filter(|(b, _)| mask & b != 0).map(|(_, n)| *n).collect();
    if parts.is_empty() { "0".to_string() } else { parts.join("|") }
}

// ---- pipe_fs_i.h -----------------------------------------------------------

/// `PIPE_DEF_BUFFERS`: slots in a new pipe's ring.
pub const PIPE_DEF_BUFFERS: u32 = 16;
/// `PIPE_MIN_DEF_BUFFERS` (fs/pipe.c): slots for a user over the soft quota.
pub const PIPE_MIN_DEF_BUFFERS: u32 = 2;
pub const PIPE_BUF_FLAG_LRU: u32 = 0x01;
pub const PIPE_BUF_FLAG_ATOMIC: u32 = 0x02;
pub const PIPE_BUF_FLAG_GIFT: u32 = 0x04;
pub const PIPE_BUF_FLAG_PACKET: u32 = 0x08;
pub const PIPE_BUF_FLAG_CAN_MERGE: u32 = 0x10;
/// `read()` must return the entire buffer or fail.
pub const PIPE_BUF_FLAG_WHOLE: u32 = 0x20;
/// A message was lost after this buffer.
pub const PIPE_BUF_FLAG_LOSS: u32 = 0x40;

// ---- watch_queue.h ---------------------------------------------------------

pub const WATCH_TYPE_META: u32 = 0;
pub const WATCH_TYPE_KEY_NOTIFY: u32 = 1;
/// `WATCH_TYPE__NR`: the number of known types (upstream).
pub const WATCH_TYPE__NR: u32 = 2;

pub const WATCH_META_REMOVAL_NOTIFICATION: u8 = 0;
pub const WATCH_META_LOSS_NOTIFICATION: u8 = 1;

pub const WATCH_INFO_LENGTH: u32 = 0x0000_007f;
pub const WATCH_INFO_LENGTH__SHIFT: u32 = 0;
pub const WATCH_INFO_ID: u32 = 0x0000_ff00;
pub const WATCH_INFO_ID__SHIFT: u32 = 8;
pub const WATCH_INFO_TYPE_INFO: u32 = 0xffff_0000;
pub const WATCH_INFO_TYPE_INFO__SHIFT: u32 = 16;

// ---- the patch series' sources (never merged) --------------------------------
//
// The pipe-based revisions numbered their types after the two merged
// ones: ver #1 (device events) `WATCH_TYPE_BLOCK_NOTIFY = 2`,
// `WATCH_TYPE_USB_NOTIFY = 3`; ver #5 (mounts) `WATCH_TYPE_MOUNT_NOTIFY =
// 2`, `WATCH_TYPE_SB_NOTIFY = 3`; both `WATCH_TYPE__NR = 4`. (The
// misc-device revisions before them used other numbers.)

/// ver #1: `WATCH_TYPE_BLOCK_NOTIFY`.
pub const WATCH_TYPE_BLOCK_NOTIFY: u32 = 2;
/// ver #1: `WATCH_TYPE_USB_NOTIFY`.
pub const WATCH_TYPE_USB_NOTIFY: u32 = 3;
/// ver #5: `WATCH_TYPE_MOUNT_NOTIFY`.
pub const WATCH_TYPE_MOUNT_NOTIFY: u32 = 2;
/// ver #5: `WATCH_TYPE_SB_NOTIFY`.
pub const WATCH_TYPE_SB_NOTIFY: u32 = 3;
/// `WATCH_TYPE__NR` in both revisions of the series.
pub const WATCH_TYPE__NR_SERIES: u32 = 4;

/// `enum block_notification_type` (ver #1, include/uapi/linux/watch_queue.h).
pub const BLOCK_SUBTYPE_NAMES: [&str; 10] = [
    "error_timeout",
    "error_no_space",
    "error_recoverable_transport",
    "error_critical_target",
    "error_critical_nexus",
    "error_critical_medium",
    "error_protection",
    "error_kernel_resource",
    "error_device_resource",
    "error_io",
];
/// `sizeof(struct block_notification)`: header, `__u64 dev`, `__u64 sector`.
pub const BLOCK_NOTIFICATION_SIZE: usize = 24;

/// `enum usb_notification_type` (ver #1).
pub const USB_SUBTYPE_NAMES: [&str; 6] =
    ["device_add", "device_remove", "bus_add", "bus_remove", "device_reset", "device_error"];
/// `USB_NOTIFICATION_MAX_NAME_LEN`: a device name is cut to 63 bytes.
pub const USB_NOTIFICATION_MAX_NAME_LEN: usize = 63;
/// `offsetof(struct usb_notification, name)`: header, `__u32 error`,
/// `__u32 reserved`, `__u8 name_len`.
pub const USB_NOTIFICATION_NAME_OFFSET: usize = 17;
/// `sizeof(struct usb_notification)` (padded to its `__u32` alignment).
pub const USB_NOTIFICATION_SIZE: usize = 20;
/// The on-stack record `post_usb_notification()` builds: the struct and
/// `more_name[USB_NOTIFICATION_MAX_NAME_LEN - (sizeof - offsetof(name))]`.
pub const USB_NOTIFICATION_BUF_SIZE: usize =
    USB_NOTIFICATION_SIZE + USB_NOTIFICATION_MAX_NAME_LEN - (USB_NOTIFICATION_SIZE - USB_NOTIFICATION_NAME_OFFSET);

/// Bytes of a `struct block_notification` as `post_block_notification()`
/// builds it: `info = watch_sizeof(n)`, no tag yet.
pub fn block_notification(subtype: u8, dev: u64, sector: u64) -> Vec<u8> {
    let mut b = WatchNotification { type_: WATCH_TYPE_BLOCK_NOTIFY, subtype, info: BLOCK_NOTIFICATION_SIZE as u32 }
        .encode()
        .to_vec();
    b.extend_from_slice(&dev.to_le_bytes());
    b.extend_from_slice(&sector.to_le_bytes());
    b
}

/// `AT_NO_AUTOMOUNT`.
pub const AT_NO_AUTOMOUNT: u32 = 0x800;
/// `AT_EMPTY_PATH`.
pub const AT_EMPTY_PATH: u32 = 0x1000;

/// `WATCH_INFO_FLAG_0` .. `_3`: the type-specific flags of the info word.
pub const WATCH_INFO_FLAG_0: u32 = 0x0001_0000;
pub const WATCH_INFO_FLAG_1: u32 = 0x0002_0000;
pub const WATCH_INFO_FLAG_2: u32 = 0x0004_0000;
pub const WATCH_INFO_FLAG_3: u32 = 0x0008_0000;

/// `enum mount_notification_subtype` (ver #5).
pub const MOUNT_SUBTYPE_NAMES: [&str; 7] =
    ["new_mount", "unmount", "expiry", "readonly", "setattr", "move_from", "move_to"];
pub const NOTIFY_MOUNT_NEW_MOUNT: u8 = 0;
pub const NOTIFY_MOUNT_UNMOUNT: u8 = 1;
pub const NOTIFY_MOUNT_EXPIRY: u8 = 2;
pub const NOTIFY_MOUNT_READONLY: u8 = 3;
pub const NOTIFY_MOUNT_SETATTR: u8 = 4;
pub const NOTIFY_MOUNT_MOVE_FROM: u8 = 5;
pub const NOTIFY_MOUNT_MOVE_TO: u8 = 6;
/// `NOTIFY_MOUNT_IN_SUBTREE`: the event is below the watched dentry, not
/// at it.
pub const NOTIFY_MOUNT_IN_SUBTREE: u32 = WATCH_INFO_FLAG_0;
/// `NOTIFY_MOUNT_IS_RECURSIVE`.
pub const NOTIFY_MOUNT_IS_RECURSIVE: u32 = WATCH_INFO_FLAG_1;
/// `NOTIFY_MOUNT_IS_NOW_RO`: the mount is read-only now.
pub const NOTIFY_MOUNT_IS_NOW_RO: u32 = WATCH_INFO_FLAG_2;
/// `NOTIFY_MOUNT_IS_SUBMOUNT`.
pub const NOTIFY_MOUNT_IS_SUBMOUNT: u32 = WATCH_INFO_FLAG_3;
/// `sizeof(struct mount_notification)` in ver #5: header, `__u32
/// triggered_on`, `auxiliary_mount`, `topology_changes`, `attr_changes`,
/// `aux_topology_changes`.
pub const MOUNT_NOTIFICATION_SIZE: usize = 28;

/// `enum superblock_notification_type` (ver #5).
pub const SB_SUBTYPE_NAMES: [&str; 4] = ["readonly", "error", "edquot", "network"];
pub const NOTIFY_SUPERBLOCK_READONLY: u8 = 0;
pub const NOTIFY_SUPERBLOCK_ERROR: u8 = 1;
pub const NOTIFY_SUPERBLOCK_EDQUOT: u8 = 2;
pub const NOTIFY_SUPERBLOCK_NETWORK: u8 = 3;
/// `NOTIFY_SUPERBLOCK_IS_NOW_RO`.
pub const NOTIFY_SUPERBLOCK_IS_NOW_RO: u32 = WATCH_INFO_FLAG_0;
/// `sizeof(struct superblock_notification)`: header, `__u64 sb_id`.
pub const SB_NOTIFICATION_SIZE: usize = 16;
/// `sizeof(struct superblock_error_notification)`: the above, `__u32
/// error_number`, `__u32 error_cookie`.
pub const SB_ERROR_NOTIFICATION_SIZE: usize = 24;

/// The counters a ver #5 mount record carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountCounters {
    pub topology: u32,
    pub attr: u32,
    pub aux_topology: u32,
}

/// Bytes of a ver #5 `struct mount_notification` as `notify_mount()`
/// builds it: `info = info_flags | watch_sizeof(n)`, no tag yet.
pub fn mount_notification(subtype: u8, info_flags: u32, triggered_on: u32, aux: u32, c: MountCounters) -> Vec<u8> {
    let info = info_flags | MOUNT_NOTIFICATION_SIZE as u32;
    let mut b = WatchNotification { type_: WATCH_TYPE_MOUNT_NOTIFY, subtype, info }.encode().to_vec();
    for w in [triggered_on, aux, c.topology, c.attr, c.aux_topology] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    b
}

/// Bytes of a ver #5 `struct superblock_notification` (`notify_sb()`), or
/// with `error` its `superblock_error_notification` (`notify_sb_error()`,
/// `error_cookie` 0).
pub fn sb_notification(subtype: u8, info_flags: u32, sb_id: u64, error: Option<u32>) -> Vec<u8> {
    let len = if error.is_some() { SB_ERROR_NOTIFICATION_SIZE } else { SB_NOTIFICATION_SIZE };
    let info = info_flags | len as u32;
    let mut b = WatchNotification { type_: WATCH_TYPE_SB_NOTIFY, subtype, info }.encode().to_vec();
    b.extend_from_slice(&sb_id.to_le_bytes());
    if let Some(e) = error {
        b.extend_from_slice(&e.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
    }
    b
}

/// `sizeof(struct watch_notification)`.
pub const WATCH_NOTIFICATION_SIZE: usize = 8;
/// `sizeof(struct key_notification)`.
pub const KEY_NOTIFICATION_SIZE: usize = 16;
/// `sizeof(struct watch_notification_removal)`.
pub const WATCH_NOTIFICATION_REMOVAL_SIZE: usize = 16;
/// `sizeof(struct watch_notification_filter)` (the header before `filters[]`).
pub const WATCH_NOTIFICATION_FILTER_SIZE: usize = 8;
/// `sizeof(struct watch_notification_type_filter)`.
pub const WATCH_NOTIFICATION_TYPE_FILTER_SIZE: usize = 44;

/// `enum key_notification_subtype`.
pub const NOTIFY_KEY_INSTANTIATED: u8 = 0;
pub const NOTIFY_KEY_UPDATED: u8 = 1;
pub const NOTIFY_KEY_LINKED: u8 = 2;
pub const NOTIFY_KEY_UNLINKED: u8 = 3;
pub const NOTIFY_KEY_CLEARED: u8 = 4;
pub const NOTIFY_KEY_REVOKED: u8 = 5;
pub const NOTIFY_KEY_INVALIDATED: u8 = 6;
pub const NOTIFY_KEY_SETATTR: u8 = 7;

/// The names `samples/watch_queue/watch_test.c` prints for key subtypes.
pub const KEY_SUBTYPE_NAMES: [&str; 8] =
    ["instantiated", "updated", "linked", "unlinked", "cleared", "revoked", "invalidated", "setattr"];

// ---- keyctl.h --------------------------------------------------------------

pub const KEY_SPEC_THREAD_KEYRING: i32 = -1;
pub const KEY_SPEC_PROCESS_KEYRING: i32 = -2;
pub const KEY_SPEC_SESSION_KEYRING: i32 = -3;
pub const KEY_SPEC_USER_KEYRING: i32 = -4;
pub const KEY_SPEC_USER_SESSION_KEYRING: i32 = -5;
pub const KEY_SPEC_GROUP_KEYRING: i32 = -6;
pub const KEY_SPEC_REQKEY_AUTH_KEY: i32 = -7;
pub const KEY_SPEC_REQUESTOR_KEYRING: i32 = -8;

pub const KEYCTL_WATCH_KEY: u32 = 32;
pub const KEYCTL_CAPS1_NOTIFICATIONS: u32 = 0x04;

/// Key permission bits (`include/linux/key.h`): possessor, user, group, other.
pub const KEY_POS_VIEW: u32 = 0x0100_0000;
pub const KEY_POS_READ: u32 = 0x0200_0000;
pub const KEY_POS_WRITE: u32 = 0x0400_0000;
pub const KEY_POS_SEARCH: u32 = 0x0800_0000;
pub const KEY_POS_LINK: u32 = 0x1000_0000;
pub const KEY_POS_SETATTR: u32 = 0x2000_0000;
pub const KEY_POS_ALL: u32 = 0x3f00_0000;
pub const KEY_USR_VIEW: u32 = 0x0001_0000;
pub const KEY_USR_READ: u32 = 0x0002_0000;
pub const KEY_USR_WRITE: u32 = 0x0004_0000;
pub const KEY_USR_SEARCH: u32 = 0x0008_0000;
pub const KEY_USR_LINK: u32 = 0x0010_0000;
pub const KEY_USR_SETATTR: u32 = 0x0020_0000;
pub const KEY_USR_ALL: u32 = 0x003f_0000;
pub const KEY_GRP_ALL: u32 = 0x0000_3f00;
pub const KEY_OTH_ALL: u32 = 0x0000_003f;

// ---- records ---------------------------------------------------------------

/// `struct watch_notification`, the 8-byte header of every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchNotification {
    /// `type:24`.
    pub type_: u32,
    /// `subtype:8`.
    pub subtype: u8,
    /// `info`: length (bits 0..7), watch tag (8..16), type info (16..32).
    pub info: u32,
}

impl WatchNotification {
    /// The header bytes in the kernel's layout.
    pub fn encode(&self) -> [u8; 8] {
        let w0 = (self.type_ & 0x00ff_ffff) | (self.subtype as u32) << 24;
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&w0.to_le_bytes());
        b[4..].copy_from_slice(&self.info.to_le_bytes());
        b
    }
    /// Decode a header; `None` if fewer than 8 bytes are given.
    pub fn decode(b: &[u8]) -> Option<WatchNotification> {
        if b.len() < WATCH_NOTIFICATION_SIZE {
            return None;
        }
        let w0 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let info = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        Some(WatchNotification { type_: w0 & 0x00ff_ffff, subtype: (w0 >> 24) as u8, info })
    }
    /// `info & WATCH_INFO_LENGTH`: the record length in bytes.
    pub fn len(&self) -> usize {
        (self.info & WATCH_INFO_LENGTH) as usize
    }
    /// True for a zero length field.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The watch tag (`(info & WATCH_INFO_ID) >> 8`).
    pub fn tag(&self) -> u8 {
        ((self.info & WATCH_INFO_ID) >> WATCH_INFO_ID__SHIFT) as u8
    }
}

/// Bytes of a `struct key_notification` as `notify_key()` builds it
/// (security/keys/internal.h): `info = watch_sizeof(n)` = 16, no tag yet.
pub fn key_notification(subtype: u8, key_id: u32, aux: u32) -> Vec<u8> {
    let mut b = WatchNotification { type_: WATCH_TYPE_KEY_NOTIFY, subtype, info: KEY_NOTIFICATION_SIZE as u32 }
        .encode()
        .to_vec();
    b.extend_from_slice(&key_id.to_le_bytes());
    b.extend_from_slice(&aux.to_le_bytes());
    b
}

/// Bytes of the removal record `remove_watch_from_object()` builds:
/// 8 bytes when `id == 0`, else 16 with the 64-bit id appended.
pub fn removal_notification(info_id: u32, id: u64) -> Vec<u8> {
    let len = if id != 0 { WATCH_NOTIFICATION_REMOVAL_SIZE } else { WATCH_NOTIFICATION_SIZE };
    let mut b = WatchNotification {
        type_: WATCH_TYPE_META,
        subtype: WATCH_META_REMOVAL_NOTIFICATION,
        info: info_id | len as u32,
    }
    .encode()
    .to_vec();
    if id != 0 {
        b.extend_from_slice(&id.to_le_bytes());
    }
    b
}

/// Bytes of the 8-byte loss record `pipe_read()` fabricates.
pub fn loss_notification() -> Vec<u8> {
    WatchNotification { type_: WATCH_TYPE_META, subtype: WATCH_META_LOSS_NOTIFICATION, info: 8 }.encode().to_vec()
}

/// A record decoded from the bytes a reader got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// `WATCH_META_REMOVAL_NOTIFICATION`; `id` is present in the 16-byte form.
    Removal { tag: u8, id: Option<u64> },
    /// `WATCH_META_LOSS_NOTIFICATION`.
    Loss,
    /// A key notification (`struct key_notification`).
    Key { tag: u8, subtype: u8, key_id: u32, aux: u32 },
    /// Any other record, kept as bytes.
    Other { header: WatchNotification, bytes: Vec<u8> },
}

impl Record {
    /// Decode one whole record (exactly `len` bytes).
    pub fn decode(b: &[u8]) -> Record {
        let h = WatchNotification::decode(b).expect("record shorter than its header");
        match (h.type_, h.subtype) {
            (WATCH_TYPE_META, WATCH_META_REMOVAL_NOTIFICATION) => {
                let id = (b.len() >= 16).then(|| u64::from_le_bytes(b[8..16].try_into().unwrap()));
                Record::Removal { tag: h.tag(), id }
            }
            (WATCH_TYPE_META, WATCH_META_LOSS_NOTIFICATION) => Record::Loss,
            (WATCH_TYPE_KEY_NOTIFY, st) if b.len() == KEY_NOTIFICATION_SIZE => Record::Key {
                tag: h.tag(),
                subtype: st,
                key_id: u32::from_le_bytes(b[8..12].try_into().unwrap()),
                aux: u32::from_le_bytes(b[12..16].try_into().unwrap()),
            },
            _ => Record::Other { header: h, bytes: b.to_vec() },
        }
    }
}

/// Why a read buffer did not split into whole records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// Fewer than 8 bytes left at `offset` (watch_test: "Short message header").
    ShortHeader { offset: usize, left: usize },
    /// The length field is below 8 or runs past the buffer ("Bad message length").
    BadLength { offset: usize, len: usize, left: usize },
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::ShortHeader { offset, left } => {
                write!(f, "short message header at offset {offset}: {left} bytes left")
            }
            SplitError::BadLength { offset, len, left } => {
                write!(f, "bad message length at offset {offset}: length {len}, {left} bytes left")
            }
        }
    }
}

/// Split what one `read()` returned into whole records, the way
/// `samples/watch_queue/watch_test.c` walks its buffer.
pub fn split_records(buf: &[u8]) -> Result<Vec<&[u8]>, SplitError> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let left = buf.len() - off;
        let h = match WatchNotification::decode(&buf[off..]) {
            Some(h) => h,
            None => return Err(SplitError::ShortHeader { offset: off, left }),
        };
        let len = h.len();
        if len < WATCH_NOTIFICATION_SIZE || len > left {
            return Err(SplitError::BadLength { offset: off, len, left });
        }
        out.push(&buf[off..off + len]);
        off += len;
    }
    Ok(out)
}

/// Print what one `read()` returned exactly as `watch_test.c`'s `consumer()`
/// does. `serial` renders a 32-bit key serial (`{:08x}` in the sample; the
/// harness maps serials to symbolic names).
pub fn format_read(buf: &[u8], serial: &dyn Fn(u32) -> String) -> String {
    let mut s = String::new();
    if buf.is_empty() {
        s.push_str("-- END --\n");
        return s;
    }
    let _ = writeln!(s, "read() = {}", buf.len());
    let mut off = 0;
    while off < buf.len() {
        let left = buf.len() - off;
        let largest = left.min(128);
        let Some(h) = WatchNotification::decode(&buf[off..]) else {
            let _ = writeln!(s, "Short message header: {largest}");
            return s;
        };
        let _ = writeln!(s, "NOTIFY[{:03x}]: ty={:06x} sy={:02x} i={:08x}", off, h.type_, h.subtype, h.info);
        let len = h.len();
        if len < WATCH_NOTIFICATION_SIZE || len > largest {
            let _ = writeln!(s, "Bad message length: {len}/{largest}");
            return s;
        }
        let rec = &buf[off..off + len];
        match h.type_ {
            WATCH_TYPE_META => match h.subtype {
                WATCH_META_REMOVAL_NOTIFICATION => {
                    let _ = writeln!(s, "REMOVAL of watchpoint {:08x}", h.tag());
                }
                WATCH_META_LOSS_NOTIFICATION => s.push_str("-- LOSS --\n"),
                _ => s.push_str("other meta record\n"),
            },
            WATCH_TYPE_KEY_NOTIFY => {
                if len != KEY_NOTIFICATION_SIZE {
                    s.push_str("Incorrect key message length\n");
                } else {
                    let key_id = u32::from_le_bytes(rec[8..12].try_into().unwrap());
                    let aux = u32::from_le_bytes(rec[12..16].try_into().unwrap());
                    let name = KEY_SUBTYPE_NAMES.get(h.subtype as usize).copied().unwrap_or("(null)");
                    let _ = writeln!(s, "KEY {} change={}[{}] aux={}", serial(key_id), h.subtype, name, aux);
                }
            }
            _ => s.push_str("other type\n"),
        }
        off += len;
    }
    s
}

/// The sample's own rendering of a serial: `%08x`.
pub fn serial_hex(v: u32) -> String {
    format!("{v:08x}")
}

// ---- filters ---------------------------------------------------------------

/// `struct watch_notification_type_filter` (44 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchNotificationTypeFilter {
    pub type_: u32,
    pub info_filter: u32,
    pub info_mask: u32,
    pub subtype_filter: [u32; 8],
}

impl WatchNotificationTypeFilter {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.type_.to_le_bytes());
        out.extend_from_slice(&self.info_filter.to_le_bytes());
        out.extend_from_slice(&self.info_mask.to_le_bytes());
        for w in self.subtype_filter {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    /// Decode from exactly 44 bytes.
    pub fn decode(b: &[u8]) -> WatchNotificationTypeFilter {
        let w = |i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        let mut subtype_filter = [0u32; 8];
        for (i, s) in subtype_filter.iter_mut().enumerate() {
            *s = w(3 + i);
        }
        WatchNotificationTypeFilter { type_: w(0), info_filter: w(1), info_mask: w(2), subtype_filter }
    }
}

/// Encode a `struct watch_notification_filter` with its entries, as a
/// program would pass it to `IOC_WATCH_QUEUE_SET_FILTER`.
pub fn encode_filter(reserved: u32, filters: &[WatchNotificationTypeFilter]) -> Vec<u8> {
    encode_filter_with_count(filters.len() as u32, reserved, filters)
}

/// As [`encode_filter`], with a `nr_filters` that may disagree with the
/// entries actually present (for the validation paths).
pub fn encode_filter_with_count(nr_filters: u32, reserved: u32, filters: &[WatchNotificationTypeFilter]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + 44 * filters.len());
    b.extend_from_slice(&nr_filters.to_le_bytes());
    b.extend_from_slice(&reserved.to_le_bytes());
    for f in filters {
        f.encode(&mut b);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header packs type into the low 24 bits and subtype into the top 8.
    #[test]
    fn header_layout_matches_the_kernel_bitfields() {
        let h = WatchNotification { type_: 1, subtype: 2, info: 0x110 };
        assert_eq!(h.encode(), [1, 0, 0, 2, 0x10, 0x01, 0, 0]);
        assert_eq!(WatchNotification::decode(&h.encode()), Some(h));
        assert_eq!(h.tag(), 1);
        assert_eq!(h.len(), 16);
    }

    /// The removal record is 16 bytes with the id, 8 without.
    #[test]
    fn removal_record_lengths() {
        assert_eq!(removal_notification(0x100, 7).len(), 16);
        assert_eq!(removal_notification(0x100, 0).len(), 8);
        assert_eq!(Record::decode(&removal_notification(0x300, 9)), Record::Removal { tag: 3, id: Some(9) });
        assert_eq!(Record::decode(&loss_notification()), Record::Loss);
    }

    /// The ioctl numbers are `_IO('W', 0x60)` and `_IO('W', 0x61)`.
    #[test]
    fn ioctl_numbers() {
        assert_eq!(IOC_WATCH_QUEUE_SET_SIZE, 0x5760);
        assert_eq!(IOC_WATCH_QUEUE_SET_FILTER, 0x5761);
        assert_eq!(O_NOTIFICATION_PIPE, 0x80);
    }

    /// A read buffer prints the way watch_test.c prints it.
    #[test]
    fn watch_test_format() {
        let mut rec = key_notification(NOTIFY_KEY_LINKED, 0x1234, 0x5678);
        rec[5] = 1; // tag 1
        let mut buf = rec.clone();
        buf.extend(loss_notification());
        let out = format_read(&buf, &serial_hex);
        assert_eq!(
            out,
            "read() = 24\n\
             NOTIFY[000]: ty=000001 sy=02 i=00000110\n\
             KEY 00001234 change=2[linked] aux=22136\n\
             NOTIFY[010]: ty=000000 sy=01 i=00000008\n\
             -- LOSS --\n"
        );
        assert_eq!(format_read(&[], &serial_hex), "-- END --\n");
    }

    /// A truncated record is a split error, never a panic.
    #[test]
    fn split_rejects_partial_records() {
        let rec = key_notification(NOTIFY_KEY_UPDATED, 1, 0);
        assert!(matches!(split_records(&rec[..12]), Err(SplitError::BadLength { offset: 0, len: 16, left: 12 })));
        assert!(matches!(split_records(&rec[..4]), Err(SplitError::ShortHeader { offset: 0, left: 4 })));
        assert_eq!(split_records(&rec).unwrap().len(), 1);
    }
}
