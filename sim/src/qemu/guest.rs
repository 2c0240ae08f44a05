//! The guest runner: `wqsim-guest`, the `/init` of the virtual machine
//! `wqsim kernel-check` boots. It reads `/program` ([`super::program`]),
//! runs every operation through the real system call (`pipe2`, `read`,
//! `write`, `close`, `ioctl`, `fcntl`, `poll`, `splice`, `tee`,
//! `vmsplice`, `add_key`, `keyctl`), and prints each outcome in the
//! model's canonical form, with key serials mapped back to the scenario's
//! names. Each scenario runs in its own process with a fresh session
//! keyring, so nothing leaks from one to the next.
//!
//! A call that would sleep with nothing to wake it is ended by a signal
//! from the watchdog, the parent runner (the handler has no `SA_RESTART`;
//! the test kernel has no POSIX timers), and reported as the model reports it:
//! `blocks`. Deferred kernel work (the key collector, RCU callbacks) runs
//! when the kernel gets to it, as the sequential model says: the runner
//! waits for it only where the scenario does (`key_gc`, `rcu_barrier`),
//! never after every operation, so the model's timing is checked too.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use wqsim_model::api::{
    End, FdRef, IoctlReq, KeyRef, Names, Op, OpenKind, Outcome, PROCESS_NAME, SESSION_NAME, THREAD_NAME, USER_NAME,
    USER_SESSION_NAME, Variant, canon_records,
};
use wqsim_model::errno::Errno;
use wqsim_model::uapi::*;

use super::program::{DONE, Limits, PREFIX, Program, SeqJob, StressJob};
use super::streams;
use crate::run::outcome_text;

const KEYCTL_GET_KEYRING_ID: i32 = 0;
const KEYCTL_JOIN_SESSION_KEYRING: i32 = 1;
const KEYCTL_UPDATE: i32 = 2;
const KEYCTL_REVOKE: i32 = 3;
const KEYCTL_CHOWN: i32 = 4;
const KEYCTL_SETPERM: i32 = 5;
const KEYCTL_CLEAR: i32 = 7;
const KEYCTL_READ: i32 = 11;
const KEYCTL_DESCRIBE: i32 = 6;
const KEYCTL_LINK: i32 = 8;
const KEYCTL_UNLINK: i32 = 9;
const KEYCTL_INSTANTIATE: i32 = 12;
const KEYCTL_SET_TIMEOUT: i32 = 15;
const KEYCTL_REJECT: i32 = 19;
const KEYCTL_INVALIDATE: i32 = 21;
const KEYCTL_RESTRICT_KEYRING: i32 = 29;

/// Print one line for the host, in one `write()` so lines from several
/// processes never interleave.
pub(super) fn say(line: &str) {
    let s = format!("{PREFIX}{line}\n");
    let mut b = s.as_bytes();
    while !b.is_empty() {
        // SAFETY: writing a live buffer to stdout.
        let n = unsafe { libc::write(1, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            return;
        }
        b = &b[n as usize..];
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

static TIMER_FIRED: AtomicBool = AtomicBool::new(false);
/// Ticks (10 ms each) a call may sleep before it counts as blocked and is
/// interrupted.
const BLOCK_TICKS: u32 = 20;

/// The ticks `op` may sleep before it counts as blocked: [`BLOCK_TICKS`],
/// more for a call that sleeps on purpose (a `poll` with a timeout).
fn ticks_for(op: &Op) -> u32 {
    let ms = u64::from(op.poll_timeout().unwrap_or(0));
    BLOCK_TICKS.saturating_add(u32::try_from(ms / 10).unwrap_or(u32::MAX))
}

extern "C" fn on_alarm(_: libc::c_int) {
    TIMER_FIRED.store(true, Ordering::SeqCst);
}

/// Install the timer handler without `SA_RESTART`: a sleeping call ends
/// with `EINTR`.
fn install_timer_handler() {
    // SAFETY: a plain sigaction with a handler that only stores a flag.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
    }
}

/// What the scenario's process tells its parent, the watchdog, in memory
/// they share: the operation in progress (its number from 1; 0: none) and
/// the ticks it may sleep. The parent, not a thread of the scenario's
/// process, keeps watch: such a thread would hold the scenario's first
/// credentials (and their session keyring) past a `join_session`, and the
/// test kernel has no POSIX timers.
struct Watch {
    armed: AtomicU64,
    ticks: AtomicU64,
}

/// The shared page, mapped once before the first fork.
fn watch() -> &'static Watch {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let addr = *PAGE.get_or_init(|| {
        // SAFETY: an anonymous shared mapping of one page, never unmapped.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(p != libc::MAP_FAILED, "mmap of the watchdog page failed");
        p as usize
    });
    // SAFETY: the page is zeroed, aligned, and lives for the process (and
    // its children); `Watch` is two atomics.
    unsafe { &*(addr as *const Watch) }
}

/// Arm the watchdog for operation `n` (from 1; 0 disarms), which may sleep
/// `ticks` ticks.
fn arm(n: u64, ticks: u32) {
    let w = watch();
    w.ticks.store(u64::from(ticks), Ordering::SeqCst);
    w.armed.store(n, Ordering::SeqCst);
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

fn keyctl(cmd: i32, a: i64, b: i64, c: i64, d: i64) -> i64 {
    // SAFETY: the keyctl syscall; pointer arguments are live buffers or 0.
    unsafe { libc::syscall(libc::SYS_keyctl, cmd as libc::c_long, a, b, c, d) as i64 }
}

/// Name a serial as the model does: `@s`, `@u`, `k0`, or hex (the
/// special keyrings' serials asked of the kernel).
fn name_of(names: &Names, serial: u32) -> String {
    let specials = [
        (KEY_SPEC_SESSION_KEYRING, SESSION_NAME),
        (KEY_SPEC_USER_KEYRING, USER_NAME),
        (KEY_SPEC_USER_SESSION_KEYRING, USER_SESSION_NAME),
        (KEY_SPEC_PROCESS_KEYRING, PROCESS_NAME),
        (KEY_SPEC_THREAD_KEYRING, THREAD_NAME),
    ];
    names.name_of(
        serial,
        specials
            .into_iter()
            .map(|(spec, name)| (u32::try_from(keyctl(KEYCTL_GET_KEYRING_ID, spec as i64, 0, 0, 0)).ok(), name)),
    )
}

/// A return value: negative means `errno`; an interrupted sleep is the
/// model's `blocks`.
fn val(r: i64) -> Outcome {
    if r >= 0 {
        return Outcome::Ok(r);
    }
    match errno() {
        libc::EINTR if TIMER_FIRED.load(Ordering::SeqCst) => Outcome::Blocked,
        e => Outcome::Err(Errno::from_any(e)),
    }
}

fn cstr(s: &str) -> Option<CString> {
    CString::new(s).ok()
}

fn ptr_or_null(b: &[u8]) -> i64 {
    if b.is_empty() { 0 } else { b.as_ptr() as i64 }
}

/// `open(2)` of what `open fN KIND` names, read-write and never as the
/// controlling terminal: `/dev/null`; `/dev/ptmx`, whose peer is then set
/// not to echo (termios set through the master act on the slave), so the
/// master's input stays empty as the model has it; a new regular file in
/// `/tmp`, unlinked at once. Returns the descriptor, or -1 with `errno`.
fn open_file(slot: u8, kind: OpenKind, flags: u32) -> i32 {
    let flags = (flags as i32) | libc::O_RDWR | libc::O_NOCTTY;
    // SAFETY (every block below): valid C strings and a termios buffer.
    match kind {
        OpenKind::Null => unsafe { libc::open(c"/dev/null".as_ptr(), flags) },
        OpenKind::Tty => {
            let fd = unsafe { libc::open(c"/dev/ptmx".as_ptr(), flags) };
            if fd >= 0 {
                let mut t: libc::termios = unsafe { std::mem::zeroed() };
                unsafe {
                    if libc::tcgetattr(fd, &mut t) == 0 {
                        t.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON);
                        libc::tcsetattr(fd, libc::TCSANOW, &t);
                    }
                }
            }
            fd
        }
        OpenKind::Regular => {
            let Some(path) = cstr(&format!("/tmp/wqsim-{}-f{slot}", std::process::id())) else {
                return -1;
            };
            let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CREAT | libc::O_TRUNC, 0o600) };
            let e = errno();
            unsafe { libc::unlink(path.as_ptr()) };
            // SAFETY: errno is thread-local; restore what open() set.
            unsafe { *libc::__errno_location() = e };
            fd
        }
    }
}

/// Execute one operation. Operands are resolved under the lock, the call
/// is made without it (another thread may sleep in its own call), and the
/// names are updated under it again.
fn exec(names: &Mutex<Names>, op: &Op) -> Outcome {
    let lock = || names.lock().unwrap_or_else(|e| e.into_inner());
    let (fd, key) = {
        let n = lock();
        let fdn = |r: FdRef| n.fd(r);
        let key = |r: KeyRef| n.key(r) as i64;
        // Resolve every operand an operation might name.
        let fds: Vec<i32> = match op {
            Op::Close { fd } | Op::Read { fd, .. } | Op::Write { fd, .. } | Op::Ioctl { fd, .. } => vec![fdn(*fd)],
            Op::Fcntl { fd, .. }
            | Op::Poll { fd, .. }
            | Op::Epoll { fd, .. }
            | Op::Vmsplice { fd, .. }
            | Op::WatchKey { fd, .. } => {
                vec![fdn(*fd)]
            }
            Op::Splice { fd_in, fd_out, .. } | Op::Tee { fd_in, fd_out, .. } => vec![fdn(*fd_in), fdn(*fd_out)],
            _ => vec![],
        };
        // Every key operand, then 0s: an absent destination keyring is 0.
        let mut keys: Vec<i64> = op.key_operands().into_iter().map(key).collect();
        keys.resize(keys.len().max(2), 0);
        (fds, keys)
    };
    // SAFETY (every block below): the system calls get descriptors and
    // pointers to live buffers of the lengths passed.
    match op {
        Op::Pipe2 { pipe, flags } => {
            let mut fds = [-1i32; 2];
            let r = unsafe { libc::pipe2(fds.as_mut_ptr(), *flags as i32) };
            if r < 0 {
                return val(-1);
            }
            lock().pipes.insert(*pipe, (fds, flags & O_NOTIFICATION_PIPE != 0));
            Outcome::Ok(0)
        }
        Op::Open { file, kind, flags } => {
            let fd = open_file(*file, *kind, *flags);
            if fd < 0 {
                return val(-1);
            }
            lock().files.insert(*file, fd);
            Outcome::Ok(0)
        }
        Op::Close { fd: r } => {
            let ret = unsafe { libc::close(fd[0]) };
            let out = val(ret as i64);
            if let Outcome::Ok(_) = out {
                lock().closed(*r);
            }
            out
        }
        Op::Read { fd: r, len } => {
            let mut buf = vec![0u8; (*len).min(4 << 20)];
            let n = unsafe { libc::read(fd[0], buf.as_mut_ptr().cast(), *len) };
            if n < 0 {
                return val(-1);
            }
            buf.truncate(n as usize);
            let n = lock();
            if n.is_notification(*r) {
                Outcome::Records(canon_records(&buf, Variant::Upstream, &|s| name_of(&n, s)))
            } else {
                Outcome::Bytes(buf)
            }
        }
        Op::Write { data, .. } => val(unsafe { libc::write(fd[0], data.as_ptr().cast(), data.len()) } as i64),
        Op::Ioctl { req, .. } => {
            let r = match req {
                IoctlReq::Fionread => {
                    let mut v: libc::c_int = 0;
                    let r = unsafe { libc::ioctl(fd[0], FIONREAD as _, &mut v) };
                    if r >= 0 { v as i64 } else { -1 }
                }
                IoctlReq::Fionbio(b) => {
                    let v: libc::c_int = *b as libc::c_int;
                    unsafe { libc::ioctl(fd[0], libc::FIONBIO as _, &v) as i64 }
                }
                IoctlReq::SetSize(n) => unsafe { libc::ioctl(fd[0], IOC_WATCH_QUEUE_SET_SIZE as _, *n) as i64 },
                IoctlReq::SetFilter(Some(b)) => match UserMem::new(b) {
                    Some(m) => unsafe { libc::ioctl(fd[0], IOC_WATCH_QUEUE_SET_FILTER as _, m.ptr) as i64 },
                    None => return Outcome::Err(Errno::ENOMEM),
                },
                IoctlReq::SetFilter(None) => unsafe {
                    libc::ioctl(fd[0], IOC_WATCH_QUEUE_SET_FILTER as _, std::ptr::null::<u8>()) as i64
                },
                IoctlReq::Other(n) => unsafe { libc::ioctl(fd[0], *n as _, 0usize) as i64 },
            };
            val(r)
        }
        Op::Fcntl { cmd, arg, .. } => val(unsafe { libc::fcntl(fd[0], *cmd as i32, *arg as libc::c_int) } as i64),
        Op::Poll { events, timeout, .. } => {
            let mut p = libc::pollfd { fd: fd[0], events: *events as u16 as i16, revents: 0 };
            // No timeout sleeps until an event, or until the alarm that ends
            // a sleep nothing will wake (`blocks`); a positive one sleeps
            // for real, at most that long.
            let r = unsafe { libc::poll(&mut p, 1, *timeout) };
            if r < 0 { val(-1) } else { Outcome::Poll(p.revents as u16 as u32) }
        }
        Op::Epoll { wait, .. } => {
            let ep = unsafe { libc::epoll_create1(0) };
            if ep < 0 {
                return val(-1);
            }
            let mut ev = libc::epoll_event { events: POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM, u64: 0 };
            let out = if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd[0], &mut ev) } < 0 {
                val(-1)
            } else {
                // As poll: no timeout sleeps until an event or the alarm.
                let mut got = libc::epoll_event { events: 0, u64: 0 };
                match unsafe { libc::epoll_wait(ep, &mut got, 1, if *wait { -1 } else { 0 }) } {
                    n if n < 0 => val(-1),
                    0 => Outcome::Poll(0),
                    _ => Outcome::Poll(got.events),
                }
            };
            unsafe { libc::close(ep) };
            out
        }
        Op::Splice { len, flags, .. } => {
            val(unsafe { libc::splice(fd[0], std::ptr::null_mut(), fd[1], std::ptr::null_mut(), *len, *flags) } as i64)
        }
        Op::Tee { len, flags, .. } => val(unsafe { libc::tee(fd[0], fd[1], *len, *flags) } as i64),
        Op::Vmsplice { len, flags, .. } => {
            let buf = vec![0u8; (*len).min(4 << 20)];
            let iov = libc::iovec { iov_base: buf.as_ptr() as *mut _, iov_len: *len };
            val(unsafe { libc::vmsplice(fd[0], &iov, 1, *flags) } as i64)
        }
        Op::AddKey { slot, type_, desc, payload, .. } => {
            let (Some(t), Some(d)) = (cstr(type_), cstr(desc)) else { return Outcome::Err(Errno::EINVAL) };
            let r = unsafe {
                libc::syscall(libc::SYS_add_key, t.as_ptr(), d.as_ptr(), ptr_or_null(payload), payload.len(), key[0])
            } as i64;
            if r < 0 {
                return val(-1);
            }
            let mut n = lock();
            n.keys.insert(*slot, r as i32);
            Outcome::Key(name_of(&n, r as u32))
        }
        Op::RequestKey { slot, type_, desc, .. } => {
            let (Some(t), Some(d)) = (cstr(type_), cstr(desc)) else { return Outcome::Err(Errno::EINVAL) };
            let r = unsafe { libc::syscall(libc::SYS_request_key, t.as_ptr(), d.as_ptr(), 0usize, key[0]) } as i64;
            if r < 0 {
                return val(-1);
            }
            let mut n = lock();
            n.keys.insert(*slot, r as i32);
            Outcome::Key(name_of(&n, r as u32))
        }
        Op::Update { payload, .. } => val(keyctl(KEYCTL_UPDATE, key[0], ptr_or_null(payload), payload.len() as i64, 0)),
        Op::Revoke { .. } => val(keyctl(KEYCTL_REVOKE, key[0], 0, 0, 0)),
        Op::Invalidate { .. } => val(keyctl(KEYCTL_INVALIDATE, key[0], 0, 0, 0)),
        Op::Clear { .. } => val(keyctl(KEYCTL_CLEAR, key[0], 0, 0, 0)),
        Op::Link { .. } => val(keyctl(KEYCTL_LINK, key[0], key[1], 0, 0)),
        Op::Unlink { .. } => val(keyctl(KEYCTL_UNLINK, key[0], key[1], 0, 0)),
        Op::Chown { uid, gid, .. } => val(keyctl(KEYCTL_CHOWN, key[0], *uid as i64, *gid as i64, 0)),
        Op::Setperm { perm, .. } => val(keyctl(KEYCTL_SETPERM, key[0], *perm as i64, 0, 0)),
        Op::SetTimeout { secs, .. } => val(keyctl(KEYCTL_SET_TIMEOUT, key[0], *secs as i64, 0, 0)),
        Op::JoinSession { slot, name } => {
            // The session keyring until now keeps a name.
            let old = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING as i64, 0, 0, 0);
            if old > 0 {
                lock().keys.insert(*slot, old as i32);
            }
            let name = match name.as_deref().map(cstr) {
                None => None,
                Some(Some(n)) => Some(n),
                Some(None) => return Outcome::Err(Errno::EINVAL),
            };
            let r = keyctl(KEYCTL_JOIN_SESSION_KEYRING, name.as_ref().map_or(0, |n| n.as_ptr() as i64), 0, 0, 0);
            match r {
                r if r < 0 => val(-1),
                0 => Outcome::Ok(0),
                serial => Outcome::Key(name_of(&lock(), serial as u32)),
            }
        }
        Op::Restrict { type_restriction: None, .. } => val(keyctl(KEYCTL_RESTRICT_KEYRING, key[0], 0, 0, 0)),
        Op::Restrict { type_restriction: Some((t, r)), .. } => {
            let (Some(t), Some(r)) = (cstr(t), cstr(r)) else { return Outcome::Err(Errno::EINVAL) };
            val(keyctl(KEYCTL_RESTRICT_KEYRING, key[0], t.as_ptr() as i64, r.as_ptr() as i64, 0))
        }
        Op::Instantiate { payload, .. } => {
            val(keyctl(KEYCTL_INSTANTIATE, key[0], ptr_or_null(payload), payload.len() as i64, key[1]))
        }
        Op::Reject { timeout, error, .. } => val(keyctl(KEYCTL_REJECT, key[0], *timeout as i64, *error as i64, key[1])),
        Op::WatchKey { tag, .. } => val(keyctl(KEYCTL_WATCH_KEY as i32, key[0], fd[0] as i64, *tag as i64, 0)),
        Op::ReadKeyring { .. } => {
            // The operation reads keyrings only (as the model's does).
            let mut buf = vec![0u8; 4096];
            let n = keyctl(KEYCTL_READ, key[0], buf.as_mut_ptr() as i64, buf.len() as i64, 0);
            if n < 0 {
                return val(n);
            }
            let mut desc = [0u8; 256];
            let d = keyctl(KEYCTL_DESCRIBE, key[0], desc.as_mut_ptr() as i64, desc.len() as i64, 0);
            if d >= 0 && !desc.starts_with(b"keyring;") {
                return Outcome::Err(Errno::ENOTDIR);
            }
            let names = lock();
            let mut l: Vec<String> = buf[..(n as usize).min(buf.len())]
                .chunks_exact(4)
                .map(|c| name_of(&names, u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
            l.sort();
            Outcome::Links(l)
        }
        Op::FailNth { .. } => Outcome::Err(Errno::from_any(libc::ENOSYS)),
        // The test kernel runs no LSM that takes labels: the write fails.
        Op::SetLabel { .. } => Outcome::Err(Errno::EINVAL),
        // The patch series' device sources: no such calls in Linux.
        Op::WatchDevices { .. } | Op::BlockError { .. } | Op::UsbEvent { .. } => Outcome::Err(Errno::ENOSYS),
        // Nor ver #5's mount and superblock sources; the guest mounts
        // nothing.
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
        Op::KeyGc => {
            wait_for_key_gc();
            Outcome::Ok(0)
        }
        Op::RcuBarrier => {
            sleep_ms(RCU_WAIT_MS);
            Outcome::Ok(0)
        }
        Op::Sleep { secs } => {
            sleep_ms(secs.saturating_mul(1000));
            wait_for_key_gc();
            Outcome::Ok(0)
        }
    }
}

/// Bytes placed so that user memory ends right after them (a
/// `PROT_NONE` page follows): the kernel reading past the payload faults,
/// as the model's `EFAULT` says.
struct UserMem {
    base: *mut libc::c_void,
    size: usize,
    ptr: *const u8,
}

impl UserMem {
    fn new(b: &[u8]) -> Option<UserMem> {
        let page = 4096;
        let pages = b.len().div_ceil(page).max(1);
        let size = (pages + 1) * page;
        // SAFETY: a fresh anonymous mapping, written only inside its
        // accessible part.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return None;
            }
            let guard = (base as *mut u8).add(pages * page);
            libc::mprotect(guard.cast(), page, libc::PROT_NONE);
            let ptr = guard.sub(b.len());
            std::ptr::copy_nonoverlapping(b.as_ptr(), ptr, b.len());
            Some(UserMem { base, size, ptr })
        }
    }
}

impl Drop for UserMem {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `new`.
        unsafe { libc::munmap(self.base, self.size) };
    }
}

/// Time a grace period, and the RCU callbacks behind it, surely take on
/// the test kernel (tens of milliseconds at most under emulation).
const RCU_WAIT_MS: u64 = 100;

/// Give the kernel's deferred work time to finish: the key garbage
/// collector (a work item) and RCU callbacks (`free_watch()` gives back
/// the user's watch count only after a grace period). Between scenarios.
fn settle_keys() {
    sleep_ms(RCU_WAIT_MS);
}

/// `key_gc`: wait until the key collector has run. User space cannot see
/// the work item, only its effects, so wait a grace period's time (the
/// collector runs about 20 ms after a key dies on the test kernel), then
/// until `/proc/key-users` (each user's key count, which the collector
/// lowers as it destroys keys) has held still for three samples, for at
/// most two seconds.
fn wait_for_key_gc() {
    sleep_ms(RCU_WAIT_MS);
    let sample = || std::fs::read_to_string("/proc/key-users").unwrap_or_default();
    let (mut last, mut still) = (sample(), 0);
    for _ in 0..100 {
        if still == 3 {
            return;
        }
        sleep_ms(20);
        let now = sample();
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
}

/// Take on the scenario's credentials and limits, and a fresh session
/// keyring. Runs in the scenario's own process.
fn enter(l: &Limits) -> Result<(), String> {
    // SAFETY: credential and limit calls on the current process.
    unsafe {
        let lim = libc::rlimit { rlim_cur: l.rlimit_nofile, rlim_max: l.rlimit_nofile };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) < 0 {
            return Err(format!("setrlimit(RLIMIT_NOFILE, {}): errno {}", l.rlimit_nofile, errno()));
        }
        if l.uid != 0 {
            if libc::setgroups(0, std::ptr::null()) < 0
                || libc::setresgid(l.uid, l.uid, l.uid) < 0
                || libc::setresuid(l.uid, l.uid, l.uid) < 0
            {
                return Err(format!("cannot become uid {}: errno {}", l.uid, errno()));
            }
        } else if !l.privileged {
            // Drop every capability, keep uid 0.
            #[repr(C)]
            struct Header {
                version: u32,
                pid: i32,
            }
            let h = Header { version: 0x2008_0522, pid: 0 };
            let data = [0u32; 6];
            if libc::syscall(libc::SYS_capset, &h, data.as_ptr()) < 0 {
                return Err(format!("capset: errno {}", errno()));
            }
        }
    }
    if keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0) < 0 {
        return Err(format!("cannot join a new session keyring: errno {}", errno()));
    }
    keyctl(KEYCTL_CLEAR, KEY_SPEC_USER_KEYRING as i64, 0, 0, 0);
    Ok(())
}

/// Set the pipe quotas (`/proc/sys/fs/pipe-user-pages-*`), the key
/// collector's delay (`/proc/sys/kernel/keys/gc_delay`) and the key quotas
/// (`/proc/sys/kernel/keys/*maxkeys`, `*maxbytes`); from the parent,
/// as root, before the scenario's process starts.
fn set_pipe_quotas(l: &Limits) {
    let _ = std::fs::write("/proc/sys/fs/pipe-user-pages-soft", l.pipe_user_pages_soft.to_string());
    let _ = std::fs::write("/proc/sys/fs/pipe-user-pages-hard", l.pipe_user_pages_hard.to_string());
    let _ = std::fs::write("/proc/sys/kernel/keys/gc_delay", l.key_gc_delay.to_string());
    for (name, v) in ["maxkeys", "maxbytes", "root_maxkeys", "root_maxbytes"].iter().zip(l.key_quota) {
        let _ = std::fs::write(format!("/proc/sys/kernel/keys/{name}"), v.to_string());
    }
}

/// Run `f` in a child process; wait at most `secs` seconds. Returns
/// `None` when it exited 0, or why it did not.
fn in_child(secs: u64, f: impl FnOnce() -> i32) -> Option<String> {
    // The child must share the parent's watchdog page: map it first.
    arm(0, 0);
    // SAFETY: fork in a single-threaded parent; the child runs `f` and
    // exits without returning.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Some(format!("fork failed: errno {}", errno()));
    }
    if pid == 0 {
        let code = f();
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    let (mut last, mut ticks) = (0u64, 0u64);
    for _ in 0..secs * 100 {
        // The watchdog: an operation armed for its ticks gets SIGALRM.
        let w = watch();
        let a = w.armed.load(Ordering::SeqCst);
        if a != 0 && a == last {
            ticks += 1;
            if ticks == w.ticks.load(Ordering::SeqCst) {
                // SAFETY: signal our own child.
                unsafe { libc::kill(pid, libc::SIGALRM) };
            }
        } else {
            (last, ticks) = (a, 0);
        }
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                return None;
            }
            if libc::WIFSIGNALED(status) {
                return Some(format!("killed by signal {}", libc::WTERMSIG(status)));
            }
            return Some(format!("exited with status {}", libc::WEXITSTATUS(status)));
        }
        sleep_ms(10);
    }
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, &mut status, 0);
    }
    Some(format!("hung for {secs} s"))
}

/// Run one sequential scenario: each operation's outcome on its own line.
fn run_seq(job: &SeqJob) {
    set_pipe_quotas(&job.limits);
    say(&format!("begin {}", job.name));
    let why = in_child(60, || {
        if let Err(e) = enter(&job.limits) {
            say(&format!("failed {}: {e}", job.name));
            return 1;
        }
        install_timer_handler();
        let names = Mutex::new(Names::default());
        for (i, op) in job.ops.iter().enumerate() {
            TIMER_FIRED.store(false, Ordering::SeqCst);
            // A sleep sleeps on: it is no call that can block.
            arm(if matches!(op, Op::Sleep { .. }) { 0 } else { i as u64 + 1 }, ticks_for(op));
            let out = exec(&names, op);
            arm(0, 0);
            say(&format!("= {}", outcome_text(&out)));
        }
        0
    });
    if let Some(why) = why {
        say(&format!("failed {}: {why}", job.name));
    }
    // The scenario's process closed its queues on exit: let the frees
    // finish before the next scenario counts watches.
    settle_keys();
}

/// One iteration of a stress scenario, in its own process: setup, the
/// threads at once, then drain every queue and check the streams.
fn stress_iteration(job: &StressJob) -> Result<streams::Checked, String> {
    enter(&job.limits)?;
    let names = Arc::new(Mutex::new(Names::default()));
    let mut ran: Vec<(Op, Outcome)> = Vec::new();
    for op in &job.setup {
        ran.push((op.clone(), exec(&names, op)));
    }
    let setup_len = ran.len();
    let barrier = Arc::new(Barrier::new(job.threads.len()));
    let handles: Vec<_> = job
        .threads
        .iter()
        .map(|(_, ops)| {
            let (names, barrier, ops) = (names.clone(), barrier.clone(), ops.clone());
            std::thread::spawn(move || {
                barrier.wait();
                ops.iter().map(|op| (op.clone(), exec(&names, op))).collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        ran.extend(h.join().map_err(|_| "a thread panicked".to_string())?);
    }
    // Let the key collector finish, then drain every open queue.
    settle_keys();
    let pipes: Vec<(u8, i32)> = {
        let n = names.lock().unwrap_or_else(|e| e.into_inner());
        n.pipes.iter().filter(|(_, (fds, notif))| *notif && fds[0] >= 0).map(|(p, (fds, _))| (*p, fds[0])).collect()
    };
    let mut drained = Vec::new();
    for (p, fd) in pipes {
        // SAFETY: fcntl on a descriptor this process owns.
        unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
        for _ in 0..4096 {
            let op = Op::Read { fd: FdRef::End(p, End::Read), len: 4096 };
            let out = exec(&names, &op);
            let stop = match &out {
                Outcome::Err(Errno::EAGAIN) => {
                    drained.push(p);
                    true
                }
                Outcome::Records(r) if r.is_empty() => {
                    drained.push(p);
                    true
                }
                Outcome::Records(_) => false,
                _ => true,
            };
            ran.push((op, out));
            if stop {
                break;
            }
        }
    }
    streams::check(&ran, setup_len, &drained).map_err(|v| {
        let mut s = v.to_string();
        for (op, out) in &ran {
            s += &format!(" | {op} = {}", outcome_text(out));
        }
        s
    })
}

/// Run a stress scenario `iterations` times; report how many ran and
/// each violation.
fn run_stress(job: &StressJob) {
    set_pipe_quotas(&job.limits);
    say(&format!("stress {} {}", job.name, job.iterations));
    let mut shown = 0;
    // The children report what they checked through a shared page.
    // SAFETY: an anonymous shared mapping of two counters.
    let shared = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            16,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        ) as *mut u64
    };
    let (mut records, mut loss_checked) = (0u64, 0u64);
    for i in 0..job.iterations {
        let why = in_child(20, || match stress_iteration(job) {
            Ok(c) => {
                if shared as *mut libc::c_void != libc::MAP_FAILED {
                    // SAFETY: the mapping holds two u64s.
                    unsafe {
                        *shared = c.records as u64;
                        *shared.add(1) = c.loss_checked as u64;
                    }
                }
                0
            }
            Err(e) => {
                say(&format!("violation iteration {i}: {e}"));
                2
            }
        });
        match why {
            None if shared as *mut libc::c_void != libc::MAP_FAILED => {
                // SAFETY: the child wrote them before exiting.
                unsafe {
                    records += *shared;
                    loss_checked += *shared.add(1);
                }
            }
            None => {}
            Some(w) if w == "exited with status 2" => shown += 1,
            Some(w) => {
                say(&format!("violation iteration {i}: {w}"));
                shown += 1;
            }
        }
        if shown >= 20 {
            say(&format!("violation stopped after {shown} violations"));
            break;
        }
    }
    say(&format!("checked records={records} loss_checked={loss_checked}"));
}

/// Mount what the runner needs when it is the machine's `/init`.
fn boot_setup() {
    for (src, target, fstype) in
        [(c"proc", c"/proc", c"proc"), (c"devtmpfs", c"/dev", c"devtmpfs"), (c"devpts", c"/dev/pts", c"devpts")]
    {
        let _ = std::fs::create_dir_all(target.to_str().unwrap_or("/"));
        // SAFETY: mount with valid C strings.
        unsafe { libc::mount(src.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    }
    // Regular files for any user (`open fN file`).
    let _ = std::fs::create_dir_all("/tmp");
    // SAFETY: a valid C string.
    unsafe { libc::chmod(c"/tmp".as_ptr(), 0o1777) };
}

/// The runner's entry point. As `/init` (pid 1) it reads `/program` and
/// powers the machine off when done; otherwise it reads the file named by
/// its first argument.
pub fn main() -> i32 {
    let pid1 = std::process::id() == 1;
    if pid1 {
        boot_setup();
    }
    let path = if pid1 { "/program".to_string() } else { std::env::args().nth(1).unwrap_or("/program".to_string()) };
    let code = match std::fs::read_to_string(&path) {
        Ok(text) => match super::repro::Job::parse(&text) {
            // A `repro` line: one finding's reproducer (`wqsim kernel-repro`).
            Some(Ok(job)) => super::repro_guest::run(job),
            Some(Err(e)) => {
                say(&format!("repro-note failed program: {e}"));
                1
            }
            None => run_program(&text),
        },
        Err(e) => {
            say(&format!("failed program: {path}: {e}"));
            1
        }
    };
    if pid1 {
        // SAFETY: sync and power off; nothing runs after /init.
        unsafe {
            libc::sync();
            libc::reboot(libc::RB_POWER_OFF);
        }
    }
    code
}

/// Run a `kernel-check` program: every sequential job, then every stress job.
fn run_program(text: &str) -> i32 {
    match Program::parse(text) {
        Ok(p) => {
            say("start");
            for j in &p.seq {
                run_seq(j);
            }
            for j in &p.stress {
                run_stress(j);
            }
            say(DONE);
            0
        }
        Err(e) => {
            say(&format!("failed program: {e}"));
            1
        }
    }
}
