//! The sequential runner: executes [`Op`]s one at a time on a fresh
//! machine and runs the oracle after every step. Violations the model
//! reports while running (use-after-free, out-of-bounds, ...) and those the
//! oracle finds afterwards both end the run as a [`Violation`].
//!
//! Deferred kernel work (the key collector, RCU callbacks) runs as it does
//! on a real kernel that is not made to wait: later. A syscall returns
//! before the work it scheduled has run, so an immediate read after
//! `KEYCTL_INVALIDATE` sees the INVALIDATED record and not yet the removal.
//! The work runs where the program waits for it (`key_gc`,
//! `rcu_barrier`), where a call would otherwise sleep (the sleeping task
//! lets the kworker run; the call is then tried again), and at the end.

use crate::api::*;
use crate::catch::catch_violation;
use crate::errno::Errno;
use crate::invariant::Violation;
use crate::kernel::{Config, Cx, Kernel};
use crate::keys::keyctl;
use crate::oracle::Oracle;
use crate::pipe::PipeIoctl;
use crate::syscalls::{self, Ioctl};
use crate::trace::Event;
use crate::uapi::*;

/// One sequential run of the model.
pub struct SeqRun {
    pub kernel: Kernel,
    pub oracle: Oracle,
    pub handles: Handles,
    steps: usize,
    /// Whether [`SeqRun::step`] runs the oracle (on unless
    /// [`SeqRun::unchecked`]).
    checked: bool,
    /// Whether no other thread can wake a sleeping call (off while
    /// [`run_threads`] runs threads): a `poll` with a timeout then lets
    /// time pass ([`exec_settling`]).
    alone: bool,
}

/// What userspace holds: descriptors of each pipe slot, serials of each
/// key slot, and the raw bytes it read.
#[derive(Clone, Debug, Default)]
pub struct Handles {
    names: Names,
    /// Raw bytes of every successful read of a notification pipe, in order.
    pub raw_reads: Vec<Vec<u8>>,
}

impl SeqRun {
    /// Boot a machine with `config`.
    pub fn new(config: Config) -> SeqRun {
        crate::probe::reset();
        let kernel = Kernel::boot(config);
        SeqRun { kernel, oracle: Oracle::default(), handles: Handles::default(), steps: 0, checked: true, alone: true }
    }

    /// A run whose steps make only the model's own checks (heap reports,
    /// assertions), not the oracle's: what userspace would see of a kernel
    /// past an invariant it breaks (the real-kernel comparison).
    pub fn unchecked(config: Config) -> SeqRun {
        SeqRun { checked: false, ..SeqRun::new(config) }
    }

    /// Steps executed so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The serial bound to a key slot.
    pub fn serial(&self, slot: u8) -> Option<i32> {
        self.handles.names.keys.get(&slot).copied()
    }

    /// Name a serial the way outcomes do (see [`Handles::name_of`]).
    pub fn name_of(&self, serial: u32) -> String {
        self.handles.name_of(&self.kernel, serial)
    }
}

impl Handles {
    /// The descriptors of pipe slot `p`.
    pub fn pipe_fds(&self, p: u8) -> Option<[i32; 2]> {
        self.names.pipes.get(&p).map(|(f, _)| *f)
    }

    /// Name a serial the way outcomes do: `@s`, `@u`, `k0`, or the hex serial.
    pub fn name_of(&self, k: &Kernel, serial: u32) -> String {
        let named = |id: Option<crate::heap::Id<crate::keys::Key>>| {
            id.map(|i| crate::heap::Obj::raw(&k.keys.get(i)).serial as u32)
        };
        let reg = &k.key_registry;
        let user = k.user(k.config.uid);
        let specials = [
            (reg.session.get(), SESSION_NAME),
            (user.uid_keyring.get(), USER_NAME),
            (user.session_keyring.get(), USER_SESSION_NAME),
            (reg.process.get(), PROCESS_NAME),
            (reg.threads.lock().get(&1).copied(), THREAD_NAME),
        ];
        self.names.name_of(serial, specials.into_iter().map(|(id, name)| (named(id), name)))
    }

    fn val(r: Result<i64, Errno>) -> Outcome {
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(Errno::ERESTARTSYS) => Outcome::Blocked,
            Err(e) => Outcome::Err(e),
        }
    }

    /// Execute one operation as task `cx`.
    pub fn exec(&mut self, cx: &Cx<'_>, op: &Op) -> Outcome {
        match op {
            Op::Pipe2 { pipe, flags } => match syscalls::sys_pipe2(cx, *flags) {
                Ok(fds) => {
                    let nf = cx.k.config.variant.o_notification_pipe();
                    self.names.pipes.insert(*pipe, (fds, flags & nf == nf));
                    Outcome::Ok(0)
                }
                Err(e) => Outcome::Err(e),
            },
            Op::Open { file, kind, flags } => match syscalls::sys_open(cx, *kind, *flags) {
                Ok(fd) => {
                    self.names.files.insert(*file, fd);
                    Outcome::Ok(0)
                }
                Err(e) => Outcome::Err(e),
            },
            Op::Close { fd } => {
                let r = syscalls::sys_close(cx, self.names.fd(*fd));
                // A closed end stays closed: its number may be reused by a
                // later pipe, but the symbolic end no longer names it.
                if r.is_ok() {
                    self.names.closed(*fd);
                }
                Self::val(r)
            }
            Op::Read { fd, len } => match syscalls::ksys_read(cx, self.names.fd(*fd), *len) {
                Ok(bytes) if self.names.is_notification(*fd) => {
                    let recs = canon_records(&bytes, cx.k.config.variant, &|s| self.name_of(cx.k, s));
                    self.raw_reads.push(bytes);
                    Outcome::Records(recs)
                }
                Ok(bytes) => Outcome::Bytes(bytes),
                Err(Errno::ERESTARTSYS) => Outcome::Blocked,
                Err(e) => Outcome::Err(e),
            },
            Op::Write { fd, data } => Self::val(syscalls::ksys_write(cx, self.names.fd(*fd), data).map(|n| n as i64)),
            Op::Ioctl { fd, req } => {
                let req = match req {
                    IoctlReq::Fionread => Ioctl::Pipe(PipeIoctl::Fionread),
                    IoctlReq::Fionbio(b) => Ioctl::Fionbio(*b),
                    IoctlReq::SetSize(n) => Ioctl::Pipe(PipeIoctl::SetSize(*n)),
                    IoctlReq::SetFilter(f) => Ioctl::Pipe(PipeIoctl::SetFilter(f.clone())),
                    IoctlReq::Other(n) => Ioctl::Pipe(PipeIoctl::Other(*n)),
                };
                Self::val(syscalls::do_vfs_ioctl(cx, self.names.fd(*fd), &req))
            }
            Op::Fcntl { fd, cmd, arg } => Self::val(syscalls::do_fcntl(cx, self.names.fd(*fd), *cmd, *arg)),
            // A sleep ends as `Blocked` whatever the timeout: the caller
            // decides whether a timer ended it (`exec_settling`, the
            // thread runners).
            Op::Poll { fd, events, timeout } => {
                match syscalls::do_sys_poll(cx, self.names.fd(*fd), *events, *timeout) {
                    Ok(mask) => Outcome::Poll(mask),
                    Err(Errno::ERESTARTSYS) => Outcome::Blocked,
                    Err(e) => Outcome::Err(e),
                }
            }
            Op::Epoll { fd, wait } => {
                let events = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
                match crate::eventpoll::epoll_one(cx, self.names.fd(*fd), events, *wait) {
                    Ok(mask) => Outcome::Poll(mask),
                    Err(Errno::ERESTARTSYS) => Outcome::Blocked,
                    Err(e) => Outcome::Err(e),
                }
            }
            Op::Splice { fd_in, fd_out, len, flags } => {
                Self::val(crate::splice::do_splice(cx, self.names.fd(*fd_in), self.names.fd(*fd_out), *len, *flags))
            }
            Op::Tee { fd_in, fd_out, len, flags } => {
                Self::val(crate::splice::do_tee(cx, self.names.fd(*fd_in), self.names.fd(*fd_out), *len, *flags))
            }
            Op::Vmsplice { fd, len, flags } => Self::val(crate::splice::vmsplice(cx, self.names.fd(*fd), *len, *flags)),
            Op::AddKey { slot, type_, desc, payload, keyring } => {
                match keyctl::sys_add_key(cx, type_, desc, payload, self.names.key(*keyring)) {
                    Ok(serial) => {
                        self.names.keys.insert(*slot, serial as i32);
                        Outcome::Key(self.name_of(cx.k, serial as u32))
                    }
                    Err(e) => Self::val(Err(e)),
                }
            }
            Op::RequestKey { slot, type_, desc, dest } => {
                match keyctl::sys_request_key(cx, type_, desc, self.names.key(*dest)) {
                    Ok(serial) => {
                        self.names.keys.insert(*slot, serial as i32);
                        Outcome::Key(self.name_of(cx.k, serial as u32))
                    }
                    Err(e) => Self::val(Err(e)),
                }
            }
            Op::Update { key, payload } => Self::val(keyctl::keyctl_update_key(cx, self.names.key(*key), payload)),
            Op::Revoke { key } => Self::val(keyctl::keyctl_revoke_key(cx, self.names.key(*key))),
            Op::Invalidate { key } => Self::val(keyctl::keyctl_invalidate_key(cx, self.names.key(*key))),
            Op::Clear { keyring } => Self::val(keyctl::keyctl_keyring_clear(cx, self.names.key(*keyring))),
            Op::Link { key, keyring } => {
                Self::val(keyctl::keyctl_keyring_link(cx, self.names.key(*key), self.names.key(*keyring)))
            }
            Op::Unlink { key, keyring } => {
                Self::val(keyctl::keyctl_keyring_unlink(cx, self.names.key(*key), self.names.key(*keyring)))
            }
            Op::Chown { key, uid, gid } => Self::val(keyctl::keyctl_chown_key(cx, self.names.key(*key), *uid, *gid)),
            Op::Setperm { key, perm } => Self::val(keyctl::keyctl_setperm_key(cx, self.names.key(*key), *perm)),
            Op::SetTimeout { key, secs } => Self::val(keyctl::keyctl_set_timeout(cx, self.names.key(*key), *secs)),
            Op::JoinSession { slot, name } => {
                // The session keyring until now keeps a name.
                let old = cx.k.key_registry.session.get().map(|k| crate::heap::Obj::raw(&cx.k.keys.get(k)).serial);
                if let Some(serial) = old {
                    self.names.keys.insert(*slot, serial);
                }
                match keyctl::keyctl_join_session_keyring(cx, name.as_deref()) {
                    Ok(0) => Outcome::Ok(0),
                    Ok(serial) => Outcome::Key(self.name_of(cx.k, serial as u32)),
                    Err(e) => Self::val(Err(e)),
                }
            }
            Op::Restrict { keyring, type_restriction } => Self::val(keyctl::keyctl_restrict_keyring(
                cx,
                self.names.key(*keyring),
                type_restriction.as_ref().map(|(t, r)| (t.as_str(), r.as_str())),
            )),
            Op::Instantiate { key, payload, keyring } => {
                let ring = keyring.map_or(0, |r| self.names.key(r));
                Self::val(keyctl::keyctl_instantiate_key(cx, self.names.key(*key), payload, ring))
            }
            Op::Reject { key, timeout, error, keyring } => {
                let ring = keyring.map_or(0, |r| self.names.key(r));
                Self::val(keyctl::keyctl_reject_key(cx, self.names.key(*key), *timeout, *error, ring))
            }
            Op::WatchKey { key, fd, tag } => {
                Self::val(keyctl::keyctl_watch_key(cx, self.names.key(*key), self.names.fd(*fd), *tag))
            }
            Op::ReadKeyring { keyring } => match keyctl::keyctl_read_key(cx, self.names.key(*keyring)) {
                Ok(serials) => {
                    let mut names: Vec<String> = serials.into_iter().map(|s| self.name_of(cx.k, s)).collect();
                    names.sort();
                    Outcome::Links(names)
                }
                Err(e) => Outcome::Err(e),
            },
            Op::SetLabel { label } => Self::val(crate::lsm::security_setprocattr(cx, label)),
            Op::WatchDevices { fd, tag, flags } => {
                Self::val(crate::device::sys_watch_devices(cx, self.names.fd(*fd), *tag, *flags))
            }
            Op::BlockError { subtype, dev, sector } => {
                Self::val(crate::device::post_block_notification(cx, *subtype, *dev, *sector))
            }
            Op::UsbEvent { subtype, name, error } => {
                Self::val(crate::device::post_usb_notification(cx, name.as_bytes(), *subtype, *error))
            }
            Op::WatchMount { path, fd, tag, flags } => {
                Self::val(crate::mount::sys_watch_mount(cx, path, *flags, self.names.fd(*fd), *tag))
            }
            Op::WatchSb { path, fd, tag, flags } => {
                Self::val(crate::mount::sys_watch_sb(cx, path, *flags, self.names.fd(*fd), *tag))
            }
            Op::Mount { path } => Self::val(crate::mount::do_new_mount(cx, path)),
            Op::Umount { path } => Self::val(crate::mount::do_umount(cx, path)),
            Op::MoveMount { from, to } => Self::val(crate::mount::do_move_mount(cx, from, to)),
            Op::MountSetattr { path, mnt_flags } => Self::val(crate::mount::do_reconfigure_mnt(cx, path, *mnt_flags)),
            Op::Expire { path } => Self::val(crate::mount::expire_mount(cx, path)),
            Op::Remount { path, ro } => Self::val(crate::mount::reconfigure_super(cx, path, *ro)),
            Op::SbEvent { path, subtype, error } => Self::val(crate::mount::sb_event(cx, path, *subtype, *error)),
            Op::MountChildren { path } => match crate::mount::fsinfo_mount_children(cx, path) {
                Ok(v) => Outcome::Links(v.into_iter().map(|(id, c)| format!("{id}:{c}")).collect()),
                Err(e) => Outcome::Err(e),
            },
            Op::FailNth { n } => {
                cx.k.heap.fail_nth.arm(*n);
                Outcome::Ok(0)
            }
            Op::KeyGc => {
                // Waiting for the collector (as keyctl-based tests do)
                // also waits for the grace periods that end before it: a
                // key whose last link went is put by an RCU callback, and
                // only then is it the collector's to destroy.
                loop {
                    let ran = crate::rcu::rcu_do_batch(cx);
                    let reaped = crate::keys::gc::key_garbage_collector(cx);
                    if ran == 0 && !reaped {
                        break;
                    }
                }
                Outcome::Ok(0)
            }
            Op::RcuBarrier => {
                crate::rcu::rcu_do_batch(cx);
                Outcome::Ok(0)
            }
            Op::Sleep { secs } => {
                cx.k.sleep(cx, *secs);
                Outcome::Ok(0)
            }
        }
    }
}

/// Execute `op` as task `cx` the way a sequential run does: traced as a
/// syscall; a wait (`key_gc`, `rcu_barrier`) lets every piece of deferred
/// work finish; a call that would sleep while deferred work is pending
/// lets that work finish and is tried again (the sleeping attempt changed
/// nothing). When `alone` (no other thread can wake the caller), a `poll`
/// with a positive timeout that would still sleep lets time pass until an
/// event or its deadline ([`poll_until_timeout`]). Returns the outcome and
/// whether deferred work ran.
pub fn exec_settling(cx: &Cx<'_>, handles: &mut Handles, op: &Op, alone: bool) -> (Outcome, bool) {
    let k = cx.k;
    let once = |handles: &mut Handles| {
        k.trace.push(Event::SyscallEnter { tid: cx.task.tid, what: op.to_string() });
        let out = handles.exec(cx, op);
        k.trace.push(Event::SyscallExit { tid: cx.task.tid, ret: out.to_string() });
        out
    };
    let mut out = once(handles);
    if op.waits_for_deferred_work() {
        k.settle(cx);
        return (out, true);
    }
    let mut settled = false;
    if out == Outcome::Blocked && k.has_deferred_work() {
        k.settle(cx);
        out = once(handles);
        settled = true;
    }
    if let (Outcome::Blocked, Some(ms), true) = (&out, op.poll_timeout(), alone) {
        out = poll_until_timeout(cx, ms, || once(handles));
        settled = true;
    }
    (out, settled)
}

/// Models the rest of a `poll()` whose sleep a timer ends
/// (`do_poll()`'s `schedule_hrtimeout_range()`) with nobody else to wake
/// it: the virtual clock moves to each kernel timer due by the deadline
/// (`key_gc_timer`), the work that timer schedules runs, and the call is
/// tried again (`retry`); when no timer is left before the deadline the
/// clock moves to it and the call returns 0.
///
/// APPROX: the clock counts whole seconds, so the deadline is `ms` rounded
/// down to one, and a timer due in the deadline's second fires first. A
/// scenario keeps its timeouts away from a timer's second.
///
/// Mirrors fs/select.c do_poll() of 6.12, lines 884-968, fp 9664de22368de8ec.
pub fn poll_until_timeout(cx: &Cx<'_>, ms: u32, mut retry: impl FnMut() -> Outcome) -> Outcome {
    crate::trace::reached("do_poll");
    let k = cx.k;
    let deadline = k.now().saturating_add(u64::from(ms / 1000));
    loop {
        let due = k.next_timer();
        if due > deadline {
            k.sleep(cx, deadline.saturating_sub(k.now()));
            return Outcome::Poll(0);
        }
        k.sleep(cx, due.saturating_sub(k.now()));
        k.settle(cx);
        let out = retry();
        if out != Outcome::Blocked {
            return out;
        }
    }
}

impl SeqRun {
    /// Execute `op` (see [`exec_settling`]) and check; where deferred work
    /// ran, check the quiescent state too. A violation ends the run.
    pub fn step(&mut self, op: &Op) -> Result<Outcome, Violation> {
        self.steps += 1;
        let (kernel, handles, alone) = (&self.kernel, &mut self.handles, self.alone);
        let (out, settled) = catch_violation(|| exec_settling(&kernel.cx(1), handles, op, alone))?;
        if !self.checked {
            return Ok(out);
        }
        self.oracle.check(&self.kernel)?;
        if settled {
            self.oracle.check_quiescent(&self.kernel)?;
        }
        Ok(out)
    }

    /// Execute `op` as [`SeqRun::step`] does, with only the checks the
    /// model makes as it runs (the KASAN-style heap reports and its
    /// assertions), not the oracle: to show what a bug does past the first
    /// invariant it breaks.
    pub fn step_unchecked(&mut self, op: &Op) -> Result<Outcome, Violation> {
        self.steps += 1;
        let (kernel, handles, alone) = (&self.kernel, &mut self.handles, self.alone);
        catch_violation(|| exec_settling(&kernel.cx(1), handles, op, alone).0)
    }

    /// Let the key collector and RCU finish, then check.
    pub fn settle(&mut self) -> Result<(), Violation> {
        let kernel = &self.kernel;
        catch_violation(|| {
            let cx = kernel.cx(1);
            kernel.settle(&cx);
        })?;
        self.oracle.check_quiescent(&self.kernel)
    }

    /// Run every op; stop at the first violation.
    pub fn run(&mut self, ops: &[Op]) -> Result<Vec<Outcome>, Violation> {
        ops.iter().map(|op| self.step(op)).collect()
    }

    /// Let deferred work finish and check the quiescent state the program
    /// leaves (as the concurrent runner does after its threads), then
    /// tear down (close everything, drop every key) and run the teardown
    /// checks, including leaks.
    pub fn finish(&mut self) -> Result<(), Violation> {
        if self.checked {
            self.settle()?;
        }
        catch_violation(|| {
            let cx = self.kernel.cx(1);
            self.kernel.do_exit(&cx);
        })?;
        if !self.checked {
            return Ok(());
        }
        self.oracle.check_teardown(&self.kernel)
    }
}

/// Run a program on a fresh machine: every op, then (if `teardown`) the
/// teardown and its leak check. The first violation ends it.
pub fn run_program(config: Config, ops: &[Op], teardown: bool) -> Result<Vec<Outcome>, Violation> {
    let mut run = SeqRun::new(config);
    let outs = run.run(ops)?;
    if teardown {
        run.finish()?;
    }
    Ok(outs)
}

/// One thread of a sequential run over threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqThread {
    pub name: String,
    /// May sleep with nothing left to wake it (as an actor's `may_block`
    /// in the concurrent runner, `conc`).
    pub may_block: bool,
    pub ops: Vec<Op>,
}

/// Run `setup`, then `threads` as one CPU runs them without preemption:
/// the current thread runs until it ends or its call would sleep; a call
/// that would sleep is parked (its `-ERESTARTSYS` attempt has no effect
/// and is not reported) and the lowest-numbered thread that can run goes
/// on; after any call completes every parked call is retried, as a woken
/// task re-checks its wait condition.
///
/// A call that would sleep while deferred work is pending lets it finish
/// first (see [`exec_settling`]). When every unfinished thread sleeps,
/// nobody is left to wake them. A `poll` with a timeout then returns 0:
/// its timer ends the sleep (APPROX: among threads the virtual clock does
/// not move; alone, the setup's poll lets time pass, [`exec_settling`]).
/// A thread marked `may_block` gets a signal: its call returns `blocks`
/// and it goes on. Any other thread, or the setup, is a
/// hang (`V1`), the verdict the explorers give for the same program (the
/// concurrent runner, `conc`, judges it so). `each(thread, index, op,
/// outcome)` sees every completed call in the order it ran (`thread` is
/// `None` for the setup); when it returns a reason (a budget ran out), the
/// run stops there and returns it.
pub fn run_threads(
    run: &mut SeqRun,
    setup: &[Op],
    threads: &[SeqThread],
    mut each: impl FnMut(Option<usize>, usize, &Op, &Outcome) -> Option<String>,
) -> Result<Option<String>, Violation> {
    for (k, op) in setup.iter().enumerate() {
        let out = run.step(op)?;
        if out == Outcome::Blocked {
            return Err(hang("the setup", op));
        }
        if let Some(stop) = each(None, k, op, &out) {
            return Ok(Some(stop));
        }
    }
    let n = threads.len();
    run.alone = n == 0;
    let r = run_threads_loop(run, threads, &mut each);
    run.alone = true;
    r
}

fn run_threads_loop(
    run: &mut SeqRun,
    threads: &[SeqThread],
    each: &mut impl FnMut(Option<usize>, usize, &Op, &Outcome) -> Option<String>,
) -> Result<Option<String>, Violation> {
    let n = threads.len();
    let mut cursor = vec![0usize; n];
    let mut parked = vec![false; n];
    let done = |cursor: &[usize], i: usize| cursor[i] >= threads[i].ops.len();
    let mut cur = 0;
    loop {
        let runnable = |i: usize, cursor: &[usize], parked: &[bool]| !done(cursor, i) && !parked[i];
        let pick = if n > 0 && runnable(cur, &cursor, &parked) {
            Some(cur)
        } else {
            (0..n).find(|i| runnable(*i, &cursor, &parked))
        };
        if let Some(i) = pick {
            let op = &threads[i].ops[cursor[i]];
            let out = run.step(op)?;
            if out == Outcome::Blocked {
                parked[i] = true;
                continue;
            }
            if let Some(stop) = each(Some(i), cursor[i], op, &out) {
                return Ok(Some(stop));
            }
            cursor[i] += 1;
            parked.iter_mut().for_each(|p| *p = false);
            cur = i;
            continue;
        }
        // Every unfinished thread sleeps: nobody is left to wake them.
        let sleepers: Vec<usize> = (0..n).filter(|i| !done(&cursor, *i)).collect();
        if sleepers.is_empty() {
            return Ok(None);
        }
        // A poll with a timeout is ended by its timer, not a signal.
        let timed = |i: usize, cursor: &[usize]| threads[i].ops[cursor[i]].poll_timeout().is_some();
        if let Some(i) = sleepers.iter().copied().find(|i| !threads[*i].may_block && !timed(*i, &cursor)) {
            return Err(hang(&format!("thread `{}`", threads[i].name), &threads[i].ops[cursor[i]]));
        }
        for i in sleepers {
            let out = if timed(i, &cursor) { Outcome::Poll(0) } else { Outcome::Blocked };
            if let Some(stop) = each(Some(i), cursor[i], &threads[i].ops[cursor[i]], &out) {
                return Ok(Some(stop));
            }
            cursor[i] += 1;
        }
        parked.iter_mut().for_each(|p| *p = false);
    }
}

fn hang(who: &str, op: &Op) -> Violation {
    Violation {
        inv: crate::invariant::Inv::V1,
        message: format!(
            "hang: {who} sleeps in `{op}` with nothing left to wake it (a thread that may sleep for good is marked `(blocking)`)"
        ),
    }
}
