//! The operations userspace performs, with symbolic handles, and what it
//! observes. The model ([`crate::seq::SeqRun`]), the reference
//! ([`crate::spec::Spec`]) and the real-kernel runner all execute the same
//! [`Op`]s and report [`Outcome`]s in one canonical form, so they can be
//! compared directly: pipes are numbered slots, keys are named, and key
//! serials inside records are replaced by those names.

use std::fmt;

use crate::errno::Errno;
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
    /// A raw descriptor number (a closed or never-opened one).
    Raw(i32),
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
    /// `poll()` with `POLLIN | POLLOUT` and a zero timeout.
    Poll {
        fd: FdRef,
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
    /// `keyctl(KEYCTL_WATCH_KEY, key, fd, tag)`.
    WatchKey {
        key: KeyRef,
        fd: FdRef,
        tag: i32,
    },
    /// Write `n` to `/proc/thread-self/fail-nth`: the n-th allocation from
    /// now fails.
    FailNth {
        n: u32,
    },
    /// Not a syscall: the key garbage collector's work item runs once (in
    /// the kernel it runs on a workqueue, tens of milliseconds later).
    KeyGc,
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
            Canon::Other(b) => write!(f, "other({b:02x?})"),
        }
    }
}

/// Decode what one `read()` returned into canonical records, naming key
/// serials with `name`. Bytes that do not split into whole records are
/// kept as one `Other`.
pub fn canon_records(buf: &[u8], name: &dyn Fn(u32) -> String) -> Vec<Canon> {
    let Ok(recs) = split_records(buf) else {
        return vec![Canon::Other(buf.to_vec())];
    };
    recs.into_iter()
        .map(|r| match Record::decode(r) {
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
        })
        .collect()
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
            Outcome::Err(e) => write!(f, "{e}"),
            Outcome::Blocked => f.write_str("blocks"),
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

/// Short constructors for programs written in Rust (catalog triggers,
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
