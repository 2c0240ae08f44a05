//! Decoding: the bytes of an input into a program (operations, threads,
//! configuration) and the bytes that choose its interleaving.

use super::*;

/// Pipe slots and key slots a decoded program uses.
pub(super) const PIPES: u8 = 3;
pub(super) const KEYS: u8 = 3;
/// The bytes of a `trace` input's header and of each of its operations
/// ([`trace_case`]).
pub(super) const HEADER_BYTES: usize = 8;
pub(super) const OP_BYTES: usize = 16;
/// Key slots a repeated `add_key` or `watch_key` walks over ([`walked`]).
pub(super) const WALKED_KEYS: u8 = 8;

pub(super) fn pick(u: &mut Unstructured, n: usize) -> usize {
    if n <= 1 { 0 } else { u.choose_index(n).unwrap_or(0) }
}

pub(super) fn one_of<T: Clone>(u: &mut Unstructured, v: &[T]) -> T {
    v[pick(u, v.len())].clone()
}

pub(super) fn pipe_slot(u: &mut Unstructured) -> u8 {
    pick(u, PIPES as usize) as u8
}

pub(super) fn key_slot(u: &mut Unstructured) -> u8 {
    pick(u, KEYS as usize) as u8
}

pub(super) fn key_ref(u: &mut Unstructured) -> KeyRef {
    match pick(u, 8) {
        0 => KeyRef::Session,
        1 => KeyRef::Raw(0x7fff_0000),
        _ => KeyRef::Slot(key_slot(u)),
    }
}

pub(super) fn keyring_ref(u: &mut Unstructured) -> KeyRef {
    if pick(u, 3) == 0 { KeyRef::Session } else { KeyRef::Slot(key_slot(u)) }
}

pub(super) fn end(u: &mut Unstructured) -> FdRef {
    let p = pipe_slot(u);
    if pick(u, 4) == 0 { w(p) } else { r(p) }
}

/// A filter payload: mostly well formed (types and subtypes near the
/// edges), sometimes raw bytes.
pub(super) fn filter_payload(u: &mut Unstructured) -> Option<Vec<u8>> {
    match pick(u, 8) {
        0 => None,
        1 => {
            let n = pick(u, 64);
            Some((0..n).map(|_| u.arbitrary::<u8>().unwrap_or(0)).collect())
        }
        _ => {
            let n = 1 + pick(u, 3);
            let filters: Vec<WatchNotificationTypeFilter> = (0..n)
                .map(|_| {
                    let type_ = one_of(u, &[0u32, 1, 1, 1, 2, 31, 32, 63, 64, 100, 1023, 1024]);
                    let mut subtype_filter = [0u32; 8];
                    subtype_filter[0] = one_of(u, &[u32::MAX, 1 << 1, 1 << 2, 0x7e, 0]);
                    let info_mask = one_of(u, &[0u32, 0xff, 0xff00]);
                    let info_filter = one_of(u, &[0u32, 1, 0x100]);
                    WatchNotificationTypeFilter { type_, info_filter, info_mask, subtype_filter }
                })
                .collect();
            let count = if pick(u, 8) == 0 { one_of(u, &[0u32, 17, n as u32 + 1]) } else { n as u32 };
            Some(uapi::encode_filter_with_count(count, 0, &filters))
        }
    }
}

/// One operation of a `trace` program. Every descriptor is non-blocking
/// and every splice carries `SPLICE_F_NONBLOCK`, so a generated thread
/// sleeps only on a lock: a thread asleep at the end is a deadlock, never
/// a read that nothing was going to satisfy. Fault injection and the key
/// collector run in the setup only (`fail-nth` is per task).
pub(super) fn trace_op(u: &mut Unstructured, setup: bool) -> Op {
    let kinds = if setup { 24 } else { 22 };
    match pick(u, kinds) {
        0 | 1 => Op::Pipe2 { pipe: pipe_slot(u), flags: one_of(u, &[O_NOTIFICATION_PIPE | O_NONBLOCK, O_NONBLOCK]) },
        2 => Op::Close { fd: end(u) },
        3 | 4 => Op::Read { fd: r(pipe_slot(u)), len: one_of(u, &[0usize, 8, 16, 24, 32, 40, 64, 128, 4096, 5000]) },
        5 => Op::Write { fd: w(pipe_slot(u)), data: vec![b'x'; one_of(u, &[1usize, 16, 4096, 4097, 8192])] },
        6 | 7 => set_size(pipe_slot(u), one_of(u, &[0u64, 1, 2, 16, 31, 32, 33, 64, 65, 128, 129, 512, 1024, 1025])),
        8 => Op::Ioctl { fd: r(pipe_slot(u)), req: IoctlReq::SetFilter(filter_payload(u)) },
        9 => Op::Ioctl { fd: end(u), req: IoctlReq::Fionread },
        10 => Op::Fcntl {
            fd: end(u),
            cmd: one_of(u, &[uapi::F_SETPIPE_SZ, uapi::F_SETPIPE_SZ, uapi::F_GETPIPE_SZ]),
            arg: one_of(u, &[4096u32, 8192, 16384, 65536]),
        },
        11 => {
            let k = key_slot(u);
            if pick(u, 3) == 0 { keyring(k, &format!("r{k}")) } else { user_key(k, &format!("k{k}")) }
        }
        12 | 13 => Op::Update { key: key_ref(u), payload: b"x".to_vec() },
        14 => match pick(u, 5) {
            0 => Op::Revoke { key: key_ref(u) },
            1 => Op::Invalidate { key: key_ref(u) },
            2 => Op::Clear { keyring: keyring_ref(u) },
            3 => Op::JoinSession { slot: key_slot(u), name: one_of(u, &[None, Some("s".to_string())]) },
            _ => Op::SetTimeout { key: key_ref(u), secs: one_of(u, &[0u32, 1, 100]) },
        },
        15 => Op::Link { key: key_ref(u), keyring: keyring_ref(u) },
        16 => Op::Unlink { key: key_ref(u), keyring: keyring_ref(u) },
        17 => match pick(u, 2) {
            0 => Op::Setperm { key: key_ref(u), perm: one_of(u, &[uapi::KEY_POS_ALL | uapi::KEY_USR_ALL, 0]) },
            _ => Op::Chown { key: key_ref(u), uid: one_of(u, &[-1i32, 0, 1000]), gid: -1 },
        },
        18 | 19 => {
            let key = key_ref(u);
            let fd = if pick(u, 5) == 0 { FdRef::Raw(-1) } else { r(pipe_slot(u)) };
            Op::WatchKey { key, fd, tag: pick(u, 4) as i32 }
        }
        20 => {
            let (a, b) = (end(u), end(u));
            let len = one_of(u, &[1usize, 100, 4096, 65536]);
            if pick(u, 2) == 0 {
                Op::Splice { fd_in: a, fd_out: b, len, flags: 2 }
            } else {
                Op::Tee { fd_in: a, fd_out: b, len, flags: 2 }
            }
        }
        // poll(2) or epoll; a thread's may also sleep until its end is ready
        // (`poll FD -1`, `epoll FD -1`: on the pipe's wait queue, or on the
        // epoll instance that ep_poll_callback() wakes from it); in the
        // setup a sleep could only hang.
        // A poll with a timeout sleeps until its timer (alone, the virtual
        // clock moves to it); one for fewer events asks only for them.
        21 => match (pick(u, 6), setup) {
            (0, false) => Op::poll_wait(end(u)),
            (1, false) => Op::Epoll { fd: end(u), wait: true },
            (2, _) => Op::Epoll { fd: end(u), wait: false },
            (3, _) => Op::Poll {
                fd: end(u),
                events: one_of(u, &[uapi::POLLIN, uapi::POLLOUT, uapi::POLLIN | uapi::POLLRDNORM, 0]),
                timeout: one_of(u, &[0, 500, 1500]),
            },
            _ => Op::poll(end(u)),
        },
        22 => Op::FailNth { n: 1 + pick(u, 4) as u32 },
        _ => Op::KeyGc,
    }
}

/// The settings a decoded program runs with: the default machine, or one
/// of the settings the kernel's history made interesting (64 KiB pages,
/// a low `RLIMIT_NOFILE`, 16-bit ring indexes about to wrap, an
/// unprivileged user over the soft pipe quota).
pub(super) fn settings(u: &mut Unstructured, mut c: Config) -> Config {
    if pick(u, 2) == 0 {
        return c;
    }
    match pick(u, 5) {
        0 => c.page_size = 65536,
        // 2: not even a pipe (descriptors 0 to 2 are taken); 5: one pipe
        // and five watches; 8: two pipes and eight watches.
        1 => c.rlimit_nofile = one_of(u, &[2u64, 5, 8]),
        2 => {
            c.pipe_index_bits = 16;
            c.pipe_initial_index = one_of(u, &[65534u32, 65535]);
        }
        3 => {
            c.privileged = false;
            c.uid = 1000;
            c.pipe_user_pages_soft = one_of(u, &[1u64, 16]);
        }
        _ => {}
    }
    c
}

/// A thread may sleep with nothing left to wake it if one of its
/// operations can wait on a pipe.
pub(super) fn may_block(ops: &[Op]) -> bool {
    ops.iter().any(|op| {
        matches!(
            op,
            Op::Read { .. }
                | Op::Write { .. }
                | Op::Splice { .. }
                | Op::Tee { .. }
                | Op::Poll { timeout: -1, .. }
                | Op::Epoll { wait: true, .. }
        )
    })
}

pub(super) const THREAD_NAMES: [&str; 3] = ["t1", "t2", "t3"];

/// `n` operations, each now and then repeated (2 to 33 times: enough to
/// fill a ring of 32 and lose one post), 64 at most.
pub(super) fn trace_ops(data: &mut &[u8], n: usize, setup: bool) -> Vec<Op> {
    let mut v = Vec::new();
    for _ in 0..n {
        if data.is_empty() {
            break;
        }
        let (chunk, rest) = data.split_at(OP_BYTES.min(data.len()));
        *data = rest;
        let mut u = Unstructured::new(chunk);
        let times = if pick(&mut u, 8) == 0 { one_of(&mut u, &[2usize, 8, 31, 32, 33]) } else { 1 };
        let op = trace_op(&mut u, setup);
        v.extend((0..times).map(|i| walked(&op, i)));
    }
    v.truncate(64);
    v
}

/// The `i`th repetition of `op`: an operation that creates or watches a
/// key moves on to the `i`th key slot after its own (of [`WALKED_KEYS`]),
/// so a repeated `add_key` makes several keys and a repeated `watch_key`
/// watches each (more watches than a low `RLIMIT_NOFILE` allows, several
/// watchers on one queue); any other operation repeats as it is.
pub(super) fn walked(op: &Op, i: usize) -> Op {
    let next = |s: u8| ((s as usize + i) % WALKED_KEYS as usize) as u8;
    match op {
        Op::AddKey { slot, type_, desc, payload, keyring } => Op::AddKey {
            slot: next(*slot),
            type_: type_.clone(),
            desc: format!("{}{}", desc.trim_end_matches(|c: char| c.is_ascii_digit()), next(*slot)),
            payload: payload.clone(),
            keyring: *keyring,
        },
        Op::WatchKey { key: KeyRef::Slot(s), fd, tag } => {
            Op::WatchKey { key: KeyRef::Slot(next(*s)), fd: *fd, tag: *tag }
        }
        _ => op.clone(),
    }
}

/// `trace`: an arbitrary program, then the schedule. A header of
/// [`HEADER_BYTES`] holds the settings, the number of setup steps (up to
/// 10), of threads (1 to 3) and of each thread's operations (up to 6);
/// then each operation, with how often it repeats, from [`OP_BYTES`] of
/// its own, so a mutation of one operation leaves the others as they
/// were; the bytes after the last operation are the schedule. The
/// operations stop where the input does.
pub fn trace_case(config: Config, data: &[u8]) -> Case {
    let (header, mut rest) = data.split_at(HEADER_BYTES.min(data.len()));
    let mut u = Unstructured::new(header);
    let config = settings(&mut u, config);
    let nsetup = pick(&mut u, 11);
    let nthreads = 1 + pick(&mut u, 3);
    let lens: Vec<usize> = (0..nthreads).map(|_| 1 + pick(&mut u, 6)).collect();
    let setup = trace_ops(&mut rest, nsetup, true);
    let actors = lens
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let ops = trace_ops(&mut rest, n, false);
            Actor { name: THREAD_NAMES[i].into(), may_block: may_block(&ops), ops }
        })
        .collect();
    Case { program: Program { config, setup, actors }, schedule: rest.to_vec(), scenario: None }
}

/// The operations of a program in the order one thread would run them:
/// the setup, then each thread to its end.
pub fn flattened(p: &Program) -> Vec<Op> {
    p.setup.iter().chain(p.actors.iter().flat_map(|a| &a.ops)).cloned().collect()
}

/// `trace`: a decoded program run twice. First its operations one after
/// another against the reference, with the oracle after every step (so a
/// state that a later step would repair is still seen); then its threads
/// concurrently, under the schedule, with the oracle over the whole run
/// and the lifetime checks.
pub fn trace(config: Config, data: &[u8]) -> Result<(), String> {
    let case = trace_case(config, data);
    model_vs_spec(case.program.config.clone(), flattened(&case.program)).map_err(|e| format!("sequential: {e}"))?;
    let ran = run_case(&case);
    finding(&case, ran)
}

/// `reader`: a watched notification queue of a chosen size (blocking or
/// not, maybe filtered), a poster thread (bursts of key updates, links,
/// unlinks and timeouts, then closing the write end so a blocked read
/// ends), and a reader thread
/// mixing read sizes, blocking and non-blocking reads (`FIONBIO`) and
/// `FIONREAD`.
pub fn reader_case(config: Config, data: &[u8]) -> Case {
    let mut u = Unstructured::new(data);
    let blocking = pick(&mut u, 2) == 0;
    let flags = if blocking { O_NOTIFICATION_PIPE } else { O_NOTIFICATION_PIPE | O_NONBLOCK };
    let mut setup = vec![
        Op::Pipe2 { pipe: 0, flags },
        set_size(0, one_of(&mut u, &[1u64, 2, 16, 32, 33, 64])),
        user_key(0, "k0"),
        keyring(1, "r1"),
        watch(0, 0, 1),
    ];
    if pick(&mut u, 2) == 0 {
        setup.push(watch(1, 0, 2));
    }
    if pick(&mut u, 4) == 0 {
        setup.push(Op::Ioctl { fd: r(0), req: IoctlReq::SetFilter(filter_payload(&mut u)) });
    }
    // Bursts of one kind of post, so a few bytes fill and wrap the ring.
    let mut poster = Vec::new();
    for _ in 0..1 + pick(&mut u, 6) {
        let op = match pick(&mut u, 6) {
            0 => Op::Link { key: KeyRef::Slot(0), keyring: KeyRef::Slot(1) },
            1 => Op::Unlink { key: KeyRef::Slot(0), keyring: KeyRef::Slot(1) },
            2 => Op::SetTimeout { key: KeyRef::Slot(0), secs: 100 },
            _ => update(0),
        };
        let n = one_of(&mut u, &[1usize, 2, 5, 31, 32, 33, 40]);
        poster.extend(std::iter::repeat_n(op, n));
    }
    poster.push(Op::Close { fd: w(0) });
    let nreads = 1 + pick(&mut u, 12);
    let mut reads = Vec::new();
    for _ in 0..nreads {
        match pick(&mut u, 8) {
            0 => reads.push(Op::Ioctl { fd: r(0), req: IoctlReq::Fionbio(pick(&mut u, 2) == 0) }),
            1 => reads.push(Op::Ioctl { fd: r(0), req: IoctlReq::Fionread }),
            _ => {
                let len = match pick(&mut u, 4) {
                    0 => u.int_in_range(0usize..=200).unwrap_or(0),
                    _ => one_of(&mut u, &[8usize, 16, 24, 32, 40, 48, 4096]),
                };
                reads.push(read(0, len));
            }
        }
    }
    let actors = vec![Actor::new("poster", poster), Actor::blocking("reader", reads)];
    let schedule = u.take_rest().to_vec();
    Case { program: Program { config, setup, actors }, schedule, scenario: None }
}

/// `reader`: reads against posting and loss, under the oracle (FIFO,
/// nothing invented, one loss record per flagged record, whole records).
pub fn reader(config: Config, data: &[u8]) -> Result<(), String> {
    let case = reader_case(config, data);
    let ran = run_case(&case);
    finding(&case, ran)
}

/// `sources`: the patch series' event sources, which the other program
/// targets never generate. The first byte picks the variant (ver #1's
/// device list or ver #5's mounts and superblocks); a sized queue is set
/// up with its watches, then two source threads and a reader run
/// operations drawn from the variant's vocabulary (watches set and
/// removed, events, mounts changing under the watches, the queue closed),
/// under the schedule the rest of the input spells.
pub fn sources_case(config: Config, data: &[u8]) -> Case {
    use wqsim_model::kernel::Variant;
    let mut u = Unstructured::new(data);
    let v5 = pick(&mut u, 2) == 0;
    let variant = if v5 { Variant::V5 } else { Variant::V1 };
    let config = Config { variant, ..config };
    let flags = if v5 { O_NOTIFICATION_PIPE | O_NONBLOCK } else { uapi::O_TMPFILE | O_NONBLOCK };
    let mut setup = vec![Op::Pipe2 { pipe: 0, flags }, set_size(0, one_of(&mut u, &[1u64, 2, 32]))];
    let op = |u: &mut Unstructured| if v5 { mount_op(u) } else { device_op(u) };
    if v5 {
        setup.push(Op::Mount { path: "/a".into() });
        setup.push(Op::WatchMount { path: "/".into(), fd: r(0), tag: 1, flags: 0 });
        setup.push(Op::WatchSb { path: "/a".into(), fd: r(0), tag: 2, flags: 0 });
    } else {
        setup.push(Op::WatchDevices { fd: r(0), tag: 1, flags: 0 });
    }
    let mut actors = Vec::new();
    for name in ["left", "right"] {
        let n = 1 + pick(&mut u, 4);
        actors.push(Actor::new(name, (0..n).map(|_| op(&mut u)).collect()));
    }
    let mut reader = vec![read(0, 4096)];
    if pick(&mut u, 4) == 0 {
        reader.push(Op::Close { fd: r(0) });
    }
    actors.push(Actor::new("reader", reader));
    Case { program: Program { config, setup, actors }, schedule: u.take_rest().to_vec(), scenario: None }
}

/// A path of the small tree the `sources` target works on.
fn tree_path(u: &mut Unstructured) -> String {
    one_of(u, &["/", "/a", "/a", "/a/b", "/c", "/a/x"]).to_string()
}

/// One ver #5 operation for the `sources` target.
fn mount_op(u: &mut Unstructured) -> Op {
    use wqsim_model::mount::{MNT_NOSUID, MNT_READONLY};
    match pick(u, 12) {
        0 => Op::Mount { path: tree_path(u) },
        1 => Op::Umount { path: tree_path(u) },
        2 => Op::MoveMount { from: tree_path(u), to: tree_path(u) },
        3 => Op::MountSetattr { path: tree_path(u), mnt_flags: one_of(u, &[0, MNT_READONLY, MNT_NOSUID]) },
        4 => Op::Expire { path: tree_path(u) },
        5 => Op::Remount { path: tree_path(u), ro: pick(u, 2) == 0 },
        6 => Op::SbEvent {
            path: tree_path(u),
            subtype: one_of(
                u,
                &[uapi::NOTIFY_SUPERBLOCK_ERROR, uapi::NOTIFY_SUPERBLOCK_EDQUOT, uapi::NOTIFY_SUPERBLOCK_NETWORK],
            ),
            error: 5,
        },
        7 => Op::WatchMount { path: tree_path(u), fd: r(0), tag: one_of(u, &[-1, -1, 3]), flags: 0 },
        8 => Op::WatchSb { path: tree_path(u), fd: r(0), tag: one_of(u, &[-1, -1, 4]), flags: 0 },
        9 => Op::MountChildren { path: tree_path(u) },
        _ => read(0, one_of(u, &[16usize, 4096])),
    }
}

/// One ver #1 operation for the `sources` target.
fn device_op(u: &mut Unstructured) -> Op {
    match pick(u, 6) {
        0 => Op::WatchDevices { fd: r(0), tag: one_of(u, &[-1, 2]), flags: 0 },
        1 | 2 => Op::BlockError { subtype: pick(u, 10) as u8, dev: 0x800010, sector: 8 },
        3 | 4 => Op::UsbEvent {
            subtype: pick(u, 6) as u8,
            name: "1-".to_string() + &"9".repeat(one_of(u, &[1usize, 40, 62, 70])),
            error: 0,
        },
        _ => read(0, one_of(u, &[16usize, 4096])),
    }
}

/// `sources`: the series' sources under the oracle, the mirror included.
pub fn sources(config: Config, data: &[u8]) -> Result<(), String> {
    let case = sources_case(config, data);
    let ran = run_case(&case);
    finding(&case, ran)
}
