//! The guest side of `wqsim kernel-repro` ([`super::repro`]): one
//! reproducer per finding, run by `wqsim-guest` when its program is a
//! `repro` line. Each prints `repro-kernel`, `repro-progress` lines, at
//! most one `repro-first`, and `repro-done`; `repro-note` for anything the
//! host should show (a setup call that failed, a KCSAN report about
//! something else).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wqsim_model::uapi::*;

use super::repro::Job;

const KEYCTL_JOIN_SESSION_KEYRING: i32 = 1;
const KEYCTL_UPDATE: i32 = 2;
const KEYCTL_SET_TIMEOUT: i32 = 15;
const KEYCTL_INVALIDATE: i32 = 21;
const KEYCTL_WATCH_KEY: i32 = 32;
const KEY_SPEC_SESSION_KEYRING: i64 = -3;

fn say(line: &str) {
    super::guest::say(line);
}

fn keyctl(cmd: i32, a: i64, b: i64, c: i64, d: i64) -> i64 {
    // SAFETY: the keyctl syscall; pointer arguments are live buffers or 0.
    unsafe { libc::syscall(libc::SYS_keyctl, cmd as libc::c_long, a, b, c, d) as i64 }
}

fn errno_text() -> String {
    std::io::Error::last_os_error().to_string()
}

/// `add_key("user", desc, "x", @s)`.
fn add_user_key(desc: &std::ffi::CStr, keyring: i64) -> i64 {
    // SAFETY: add_key with live C strings and a one-byte payload.
    unsafe { libc::syscall(libc::SYS_add_key, c"user".as_ptr(), desc.as_ptr(), c"x".as_ptr(), 1usize, keyring) as i64 }
}

/// Run the calling thread on `cpu` only (the test machine has two).
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls only
    // read and write it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A notification pipe: `pipe2(O_NOTIFICATION_PIPE | O_NONBLOCK)`, sized
/// to `notes` notes unless 0.
fn notification_pipe(notes: u32) -> Result<[i32; 2], String> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 into a live two-int array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), (O_NOTIFICATION_PIPE | libc::O_NONBLOCK as u32) as i32) } < 0 {
        return Err(format!("pipe2(O_NOTIFICATION_PIPE): {}", errno_text()));
    }
    // SAFETY: an ioctl with an integer argument on our descriptor.
    if notes > 0 && unsafe { libc::ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE as _, notes as libc::c_ulong) } < 0 {
        return Err(format!("IOC_WATCH_QUEUE_SET_SIZE {notes}: {}", errno_text()));
    }
    Ok(fds)
}

fn close(fd: i32) {
    // SAFETY: closing a descriptor this program opened.
    unsafe { libc::close(fd) };
}

/// One record's header: (type, subtype, tag, length).
fn records(buf: &[u8]) -> impl Iterator<Item = (u32, u8, u8, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let head = buf.get(at..at + 8)?;
        let w = u32::from_ne_bytes([head[0], head[1], head[2], head[3]]);
        let info = u32::from_ne_bytes([head[4], head[5], head[6], head[7]]);
        let len = (info & WATCH_INFO_LENGTH) as usize;
        if len == 0 {
            return None;
        }
        at += len;
        Some((w & 0x00ff_ffff, (w >> 24) as u8, ((info & WATCH_INFO_ID) >> WATCH_INFO_ID__SHIFT) as u8, len))
    })
}

/// A record as the first hit's note shows it: `removal#3`, `setattr#3`.
fn record_name(ty: u32, sub: u8, tag: u8) -> String {
    let name = match (ty, sub) {
        (WATCH_TYPE_META, WATCH_META_REMOVAL_NOTIFICATION) => "removal",
        (WATCH_TYPE_META, WATCH_META_LOSS_NOTIFICATION) => "loss",
        (WATCH_TYPE_KEY_NOTIFY, NOTIFY_KEY_SETATTR) => "setattr",
        (WATCH_TYPE_KEY_NOTIFY, _) => "key",
        _ => "other",
    };
    format!("{name}#{tag}")
}

/// Read everything the pipe holds now; calls `each` on every record.
fn drain(fd: i32, mut each: impl FnMut(u32, u8, u8)) {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reading into a live buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
        for (ty, sub, tag, _) in records(&buf[..n as usize]) {
            each(ty, sub, tag);
        }
    }
}

/// The clock, the budget and the lines every reproducer shares.
struct Run {
    job: Job,
    start: Instant,
    first: bool,
}

impl Run {
    fn new(job: Job) -> Run {
        // SAFETY: uname into a zeroed struct.
        let release = unsafe {
            let mut u: libc::utsname = std::mem::zeroed();
            libc::uname(&mut u);
            std::ffi::CStr::from_ptr(u.release.as_ptr()).to_string_lossy().into_owned()
        };
        say(&format!("repro-kernel {release}"));
        Run { job, start: Instant::now(), first: false }
    }
    fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    /// Whether the budget is spent.
    fn over(&self, ops: u64) -> bool {
        self.ms() >= self.job.secs * 1000 || (self.job.ops > 0 && ops >= self.job.ops)
    }
    fn progress(&mut self, ops: u64, hits: u64) {
        if hits > 0 && !self.first {
            self.first = true;
            say(&format!("repro-first ops={ops} ms={}", self.ms()));
        }
        say(&format!("repro-progress ops={ops} hits={hits} ms={}", self.ms()));
    }
    fn done(&mut self, ops: u64, hits: u64) {
        self.progress(ops, hits);
        say(&format!("repro-done ops={ops} hits={hits} ms={}", self.ms()));
    }
}

/// Run a repro job; the exit status of the guest.
pub fn run(job: Job) -> i32 {
    let id = job.id.to_ascii_uppercase();
    let mut run = Run::new(job);
    let r = match id.as_str() {
        "F1" => f1(&mut run),
        "F3" => f3(&mut run),
        "F6" => f6(&mut run),
        "F7" => kcsan_churn(&mut run, Kcsan::F7),
        "F8" => kcsan_churn(&mut run, Kcsan::F8),
        _ => Err(format!("no reproducer for `{id}`")),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            say(&format!("repro-note setup failed: {e}"));
            1
        }
    }
}

/// A fresh session keyring and a user key in it.
fn session_key(desc: &std::ffi::CStr) -> Result<i64, String> {
    keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0);
    let key = add_user_key(desc, KEY_SPEC_SESSION_KEYRING);
    if key < 0 { Err(format!("add_key: {}", errno_text())) } else { Ok(key) }
}

/// Start `f` on its own thread pinned to `cpu`, looping until `stop`.
fn spin_on(cpu: usize, stop: &Arc<AtomicBool>, mut f: impl FnMut() + Send + 'static) -> std::thread::JoinHandle<()> {
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        pin(cpu);
        while !stop.load(Ordering::Relaxed) {
            f();
        }
    })
}

/// F3: a one-page queue (32 notes) watches a key; a poster on CPU 0
/// updates the key while a reader on CPU 1 spins on non-blocking reads,
/// for phases of one second. After each phase both stop and the probe
/// posts 64 with nobody reading and counts the key records that come out:
/// 32 if no note leaked, fewer once some did (for good: `hits` is the
/// number leaked so far). Operations are the posts.
fn f3(run: &mut Run) -> Result<(), String> {
    const NOTES: u64 = 32;
    let fds = notification_pipe(NOTES as u32)?;
    let key = session_key(c"f3")?;
    if keyctl(KEYCTL_WATCH_KEY, key, i64::from(fds[0]), 1, 0) < 0 {
        return Err(format!("KEYCTL_WATCH_KEY: {}", errno_text()));
    }
    let rfd = fds[0];
    let probe = || {
        drain(rfd, |_, _, _| {});
        for _ in 0..2 * NOTES {
            keyctl(KEYCTL_UPDATE, key, c"x".as_ptr() as i64, 1, 0);
        }
        let mut got = 0;
        drain(rfd, |ty, _, _| got += u64::from(ty == WATCH_TYPE_KEY_NOTIFY));
        got
    };
    let start = probe();
    if start != NOTES {
        return Err(format!("the fresh queue delivered {start} of {NOTES} records"));
    }
    let posts = Arc::new(AtomicU64::new(0));
    let mut leaked = 0;
    while !run.over(posts.load(Ordering::Relaxed)) && leaked < NOTES {
        let stop = Arc::new(AtomicBool::new(false));
        let p = Arc::clone(&posts);
        let poster = spin_on(0, &stop, move || {
            keyctl(KEYCTL_UPDATE, key, c"x".as_ptr() as i64, 1, 0);
            p.fetch_add(1, Ordering::Relaxed);
        });
        let reader = spin_on(1, &stop, move || {
            let mut b = [0u8; 4096];
            // SAFETY: reading into a live buffer.
            unsafe { libc::read(rfd, b.as_mut_ptr().cast(), b.len()) };
        });
        std::thread::sleep(Duration::from_millis(1000));
        stop.store(true, Ordering::Relaxed);
        let _ = (poster.join(), reader.join());
        leaked = NOTES - probe().min(NOTES);
        run.progress(posts.load(Ordering::Relaxed), leaked);
    }
    run.done(posts.load(Ordering::Relaxed), leaked);
    Ok(())
}

/// F1: a SET_TIMEOUT storm on CPU 0 posts SETATTR records for a key; on
/// CPU 1 each round watches the key with a new tag, unwatches it, and
/// reads the queue: a key record whose tag's removal record has already
/// been read is a hit. A filter of 16 entries, the one that passes
/// SETATTR last, lengthens the poster's walk from finding the watch to
/// posting. Operations are the rounds.
fn f1(run: &mut Run) -> Result<(), String> {
    raise_nofile();
    let fds = notification_pipe(256)?;
    let key = session_key(c"f1")?;
    let mut filter = vec![0u8; 8 + 16 * 44];
    filter[0..4].copy_from_slice(&16u32.to_ne_bytes());
    for i in 0..16 {
        let at = 8 + i * 44;
        filter[at..at + 4].copy_from_slice(&WATCH_TYPE_KEY_NOTIFY.to_ne_bytes());
        // subtype_filter[0]: entry 15 passes every key subtype, the others
        // only NOTIFY_KEY_INSTANTIATED (0), which this key never posts.
        let subtypes: u32 = if i == 15 { u32::MAX } else { 1 };
        filter[at + 12..at + 16].copy_from_slice(&subtypes.to_ne_bytes());
    }
    // SAFETY: the filter ioctl reads the live buffer.
    if unsafe { libc::ioctl(fds[0], IOC_WATCH_QUEUE_SET_FILTER as _, filter.as_ptr()) } < 0 {
        say(&format!("repro-note IOC_WATCH_QUEUE_SET_FILTER: {} (running without the filter)", errno_text()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sets = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&sets);
    let setter = spin_on(0, &stop, move || {
        keyctl(KEYCTL_SET_TIMEOUT, key, 0, 0, 0);
        s.fetch_add(1, Ordering::Relaxed);
    });
    pin(1);
    let (mut rounds, mut hits, mut removals, mut clobbered) = (0u64, 0u64, 0u64, 0u64);
    // removed[tag]: the removal record of the watch with this tag was read.
    let mut removed = [false; 256];
    let mut last = 0;
    let mut waits = 0u64;
    while !run.over(rounds) {
        let tag = (rounds % 255 + 1) as u8;
        removed[usize::from(tag)] = false;
        // A watch counts against RLIMIT_NOFILE until the grace period
        // after its removal frees it: EAGAIN says wait for one.
        while keyctl(KEYCTL_WATCH_KEY, key, i64::from(fds[0]), i64::from(tag), 0) < 0 {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) || waits > 1_000_000 {
                return Err(format!("KEYCTL_WATCH_KEY tag {tag}: {}", errno_text()));
            }
            waits += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        if keyctl(KEYCTL_WATCH_KEY, key, i64::from(fds[0]), -1, 0) < 0 {
            return Err(format!("KEYCTL_WATCH_KEY -1: {}", errno_text()));
        }
        let before = hits;
        let mut seen: Vec<String> = Vec::new();
        drain(fds[0], |ty, sub, t| {
            if seen.len() < 16 {
                seen.push(record_name(ty, sub, t));
            }
            if ty == WATCH_TYPE_META && sub == WATCH_META_REMOVAL_NOTIFICATION {
                removed[usize::from(t)] = true;
                removals += 1;
            } else if ty == WATCH_TYPE_KEY_NOTIFY && t == 0 {
                // No watch had tag 0: the ID came from a clobbered
                // info_id (F8).
                clobbered += 1;
            } else if ty == WATCH_TYPE_KEY_NOTIFY && removed[usize::from(t)] {
                hits += 1;
            }
        });
        if before == 0 && hits > 0 {
            say(&format!("repro-note the first hit, round {rounds} (tag {tag}) read: {}", seen.join(" ")));
        }
        rounds += 1;
        if run.ms() / 5000 != last {
            last = run.ms() / 5000;
            run.progress(rounds, hits);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = setter.join();
    if removals < rounds / 2 {
        say(&format!("repro-note only {removals} removal records read in {rounds} rounds"));
    }
    say(&format!(
        "repro-note {} SET_TIMEOUT calls, {removals} removal records, {waits} waits for freed watches, \
         {clobbered} key records with watch ID 0 (F8)",
        sets.load(Ordering::Relaxed)
    ));
    run.done(rounds, hits);
    Ok(())
}

/// Raise RLIMIT_NOFILE as far as the kernel lets root (`nr_open`): each
/// watch counts against it until it is freed.
fn raise_nofile() {
    let max =
        std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(1 << 20);
    let lim = libc::rlimit { rlim_cur: max, rlim_max: max };
    // SAFETY: setting our own limit from a live struct.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}

/// `/proc/key-users` for uid 0: (keys, bytes) charged.
fn root_quota() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/key-users").ok()?;
    // "    0:     5 5/5 5/1000000 151/25000000"
    let line = text.lines().find(|l| l.trim_start().starts_with("0:"))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let num = |s: &str| s.split('/').next()?.parse().ok();
    Some((num(f.get(3)?)?, num(f.get(4)?)?))
}

/// F6: rounds of ten user keys linked into the session keyring and
/// invalidated; after the key collector has destroyed them (root's key
/// count back where it was), root's charged bytes should be too. Each
/// 4 bytes more is a link whose quota the collector kept: a hit.
/// Operations are the keys.
fn f6(run: &mut Run) -> Result<(), String> {
    keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0);
    let (keys0, bytes0) = root_quota().ok_or("no /proc/key-users line for uid 0")?;
    let (mut ops, mut hits) = (0u64, 0u64);
    while !run.over(ops) {
        for i in 0..10 {
            let desc = std::ffi::CString::new(format!("f6-{ops}-{i}")).map_err(|e| e.to_string())?;
            let k = add_user_key(&desc, KEY_SPEC_SESSION_KEYRING);
            if k < 0 {
                return Err(format!("add_key: {}", errno_text()));
            }
            keyctl(KEYCTL_INVALIDATE, k, 0, 0, 0);
        }
        ops += 10;
        let deadline = Instant::now() + Duration::from_secs(5);
        let (keys, bytes) = loop {
            let now = root_quota().ok_or("no /proc/key-users line for uid 0")?;
            if now.0 <= keys0 || Instant::now() > deadline {
                break now;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if keys > keys0 {
            return Err(format!("the collector left {} keys after 5 s", keys - keys0));
        }
        hits = bytes.saturating_sub(bytes0) / 4;
        run.progress(ops, hits);
    }
    run.done(ops, hits);
    Ok(())
}

/// The racing pairs the KCSAN reproducer counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kcsan {
    /// F7: the poster's load of `notes_bitmap` against
    /// `watch_queue_set_size()`'s store.
    F7,
    /// F8: the poster's load of `watch->info_id` against `call_rcu()`'s
    /// store of `watch->rcu.next` over it (the last `put_watch()` of a
    /// closing queue).
    F8,
}

impl Kcsan {
    /// Whether a report's title ("BUG: KCSAN: data-race in A / B") is
    /// this finding's pair.
    fn names(self, title: &str) -> bool {
        let poster = title.contains("post_one_notification") || title.contains("post_watch_notification");
        match self {
            Kcsan::F7 => poster && title.contains("watch_queue_set_size"),
            Kcsan::F8 => poster && (title.contains("call_rcu") || title.contains("__put_watch")),
        }
    }
}

/// F7 and F8 (KCSAN kernel): a poster on CPU 0 updates a key; on CPU 1
/// each round makes a notification pipe, has it watch the key before it
/// has notes, sizes it, and closes it. The sizer's store of the note
/// bitmap meets the poster's load of it (F7), and the last put of the
/// watch, as the closing pipe clears its queue, has `call_rcu()` write
/// over the `info_id` the poster reads (F8). The detector reads the
/// kernel's log (`/dev/kmsg`) for KCSAN's reports: one naming the
/// finding's pair is a hit; others are noted. Operations are the rounds.
fn kcsan_churn(run: &mut Run, which: Kcsan) -> Result<(), String> {
    // SAFETY: opening the kernel log.
    let kmsg = unsafe { libc::open(c"/dev/kmsg".as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK) };
    if kmsg < 0 {
        return Err(format!("/dev/kmsg: {}", errno_text()));
    }
    raise_nofile();
    let key = session_key(c"kcsan")?;
    let stop = Arc::new(AtomicBool::new(false));
    let poster = spin_on(0, &stop, move || {
        keyctl(KEYCTL_UPDATE, key, c"x".as_ptr() as i64, 1, 0);
    });
    pin(1);
    let (mut rounds, mut hits) = (0u64, 0u64);
    let mut others: Vec<String> = Vec::new();
    let mut boot_log = true;
    let mut last = 0;
    let mut scan = |hits: &mut u64, boot_log: bool| {
        for title in kcsan_titles(kmsg) {
            if which.names(&title) {
                *hits += 1;
            } else if !others.contains(&title) && others.len() < 8 {
                say(&format!("repro-note {}other KCSAN report: {title}", if boot_log { "at boot, " } else { "" }));
                others.push(title);
            }
        }
    };
    while !run.over(rounds) {
        let fds = notification_pipe(0)?;
        while keyctl(KEYCTL_WATCH_KEY, key, i64::from(fds[0]), 1, 0) < 0 {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
                return Err(format!("KEYCTL_WATCH_KEY: {}", errno_text()));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: an ioctl with an integer argument on our descriptor.
        unsafe { libc::ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE as _, 1 as libc::c_ulong) };
        close(fds[0]);
        close(fds[1]);
        rounds += 1;
        if rounds % 64 == 0 || boot_log {
            let before = hits;
            scan(&mut hits, boot_log);
            boot_log = false;
            if hits > before {
                run.progress(rounds, hits);
            }
        }
        if run.ms() / 5000 != last {
            last = run.ms() / 5000;
            run.progress(rounds, hits);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poster.join();
    // Reports of the last rounds reach the log a little later.
    std::thread::sleep(Duration::from_millis(500));
    scan(&mut hits, false);
    run.done(rounds, hits);
    close(kmsg);
    Ok(())
}

/// The titles of the KCSAN reports logged since the last call
/// ("BUG: KCSAN: data-race in A / B").
fn kcsan_titles(kmsg: i32) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        // SAFETY: reading one log record into a live buffer.
        let n = unsafe { libc::read(kmsg, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPIPE) {
            continue; // records were overwritten; go on with the next
        }
        if n <= 0 {
            return out;
        }
        let rec = String::from_utf8_lossy(&buf[..n as usize]);
        let msg = rec.split_once(';').map_or(&*rec, |(_, m)| m);
        let msg = msg.lines().next().unwrap_or("");
        if let Some(at) = msg.find("BUG: KCSAN:") {
            out.push(msg[at..].trim().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_headers_give_type_subtype_tag_and_length() {
        let mut b = Vec::new();
        // A 16-byte removal record for tag 7, then an 8-byte loss record.
        b.extend_from_slice(&(u32::from(WATCH_META_REMOVAL_NOTIFICATION) << 24).to_ne_bytes());
        b.extend_from_slice(&((7 << WATCH_INFO_ID__SHIFT) | 16u32).to_ne_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&(u32::from(WATCH_META_LOSS_NOTIFICATION) << 24).to_ne_bytes());
        b.extend_from_slice(&8u32.to_ne_bytes());
        let got: Vec<_> = records(&b).collect();
        assert_eq!(
            got,
            vec![
                (WATCH_TYPE_META, WATCH_META_REMOVAL_NOTIFICATION, 7, 16),
                (WATCH_TYPE_META, WATCH_META_LOSS_NOTIFICATION, 0, 8)
            ]
        );
    }
}
