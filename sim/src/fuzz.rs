//! What the fuzz targets run (`fuzz/fuzz_targets/*.rs` are thin wrappers),
//! kept in the library so `cargo test` replays every committed seed and
//! crash input the same way (`sim/tests/fuzz_seeds.rs`), and so
//! `wqsim from-fuzz` can turn a crash input into a scenario.
//!
//! Each target function returns `Err` with a readable finding; the fuzz
//! target panics on it, so libFuzzer saves the input. Program targets
//! (`trace`, `schedule`, `reader`) decode an input into a [`Case`]: a
//! program and the bytes that choose its interleaving
//! ([`wqsim_model::explore::shuttle_bytes`]). Every run reports the
//! protocol states it reached ([`wqsim_model::probe`]) as branches of their
//! own ([`feedback`]), so coverage rewards reaching them.

use arbitrary::Unstructured;

use wqsim_model::api::{FdRef, IoctlReq, KeyRef, Op, Sys as _, ops::*};
use wqsim_model::bugs::Bug;
use wqsim_model::conc::{Actor, Program};
use wqsim_model::kernel::Config;
use wqsim_model::oracle::Violation;
use wqsim_model::probe::{State, States};
use wqsim_model::seq::SeqRun;
use wqsim_model::spec::Spec;
use wqsim_model::uapi::{self, O_NONBLOCK, O_NOTIFICATION_PIPE, WatchNotificationTypeFilter};

use crate::scenario::{Scenario, parse};

/// The fuzz targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Parser,
    Frontend,
    Filter,
    Trace,
    Schedule,
    Reader,
}

impl Target {
    pub const ALL: [Target; 6] =
        [Target::Parser, Target::Frontend, Target::Filter, Target::Trace, Target::Schedule, Target::Reader];

    pub fn name(self) -> &'static str {
        match self {
            Target::Parser => "parser",
            Target::Frontend => "frontend",
            Target::Filter => "filter",
            Target::Trace => "trace",
            Target::Schedule => "schedule",
            Target::Reader => "reader",
        }
    }

    pub fn from_name(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The target a crash file belongs to, from its path
    /// (`fuzz/artifacts/trace/crash-...`, `fuzz/crashes/reader/...`).
    pub fn of_path(p: &std::path::Path) -> Option<Target> {
        p.components().rev().skip(1).find_map(|c| Target::from_name(&c.as_os_str().to_string_lossy()))
    }
}

/// The configuration fuzz runs use: every catalog switch off (findings
/// get their proposed fixes), then the switches `ids` names (comma- or
/// space-separated catalog IDs or slugs) on.
pub fn config_with(ids: &str) -> Result<Config, String> {
    let mut c = Config::fixed();
    for id in ids.split([',', ' ']).filter(|s| !s.is_empty()) {
        let bug = Bug::from_name(id).ok_or_else(|| {
            let all: Vec<&str> = wqsim_model::bugs::CATALOG.iter().map(|b| b.id).collect();
            format!("no catalog switch `{id}`; the switches are: {}", all.join(" "))
        })?;
        c = c.with_bug(bug);
    }
    Ok(c)
}

/// [`config_with`] of `WQSIM_FUZZ_BUGS` (how a nightly run measures how
/// fast each switch is found).
pub fn config_from_env() -> Result<Config, String> {
    config_with(&std::env::var("WQSIM_FUZZ_BUGS").unwrap_or_default()).map_err(|e| format!("WQSIM_FUZZ_BUGS: {e}"))
}

/// `parser`: any text into the scenario parser. It must not panic; it
/// returns a positioned error, or a scenario that prints back to text
/// which parses to the same scenario.
pub fn parser(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    let Ok(sc) = parse("<fuzz>", &text) else { return Ok(()) };
    let printed = sc.to_text();
    let again = parse("<fuzz>", &printed).map_err(|e| format!("printed scenario does not parse: {e}\n{printed}"))?;
    let reprinted = again.to_text();
    if reprinted != printed {
        return Err(format!("print/parse is not stable:\n--- first\n{printed}--- second\n{reprinted}"));
    }
    Ok(())
}

/// The heap counter the `frontend` target installs, so its memory budget
/// holds in the fuzz binary too.
pub use wqsim_model::explore::CountingAlloc;

/// The budgets every `frontend` run gets at most: enough for any
/// committed scenario's first executions, small enough that an input
/// runs in well under libFuzzer's timeout.
pub const FRONTEND_LIMITS: crate::scenario::RunLimits =
    crate::scenario::RunLimits { steps_max: Some(200_000), time_limit_ms: Some(2_000), memory_limit_mib: Some(256) };

/// The scenario front end as a user meets it: the bytes as a file
/// (`parse_bytes`: size, UTF-8, control characters, every range); a
/// scenario that parses then runs each of its `run` lines, and once under
/// every driver this build has (seq, random, PCT, DFS, its schedule), each
/// with at most four executions and [`FRONTEND_LIMITS`]. A verdict of any
/// kind is fine, a budget stop too; a harness failure (a panic that is no
/// check of the model) is the finding.
pub fn frontend(data: &[u8]) -> Result<(), String> {
    use crate::explore::Kind;
    use crate::scenario::{Driver, Expect, run_line};
    let Ok(sc) = crate::scenario::parse_bytes("<fuzz>", data) else { return Ok(()) };
    let mut runs = sc.runs.clone();
    for k in [Kind::Seq, Kind::Random, Kind::Pct, Kind::Dfs] {
        runs.push(run_line(Driver::Explorer(k), vec![], Expect::Holds));
    }
    if sc.schedule.is_some() {
        runs.push(run_line(Driver::Schedule, vec![], Expect::Holds));
    }
    let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    for mut r in runs {
        r.iterations = r.iterations.min(4);
        r.limits.steps_max = min(r.limits.steps_max, FRONTEND_LIMITS.steps_max);
        r.limits.time_limit_ms = min(r.limits.time_limit_ms, FRONTEND_LIMITS.time_limit_ms);
        r.limits.memory_limit_mib = min(r.limits.memory_limit_mib, FRONTEND_LIMITS.memory_limit_mib);
        let res = crate::run::execute(&sc, &r);
        if let Some(crate::run::Stop::Harness(m)) = res.stop {
            return Err(format!("harness failure on `run {}` (line {}): {m}", r.driver.name(), r.line));
        }
    }
    Ok(())
}

/// Run `ops` on the model (under `config`) and on the reference; the
/// first violation or disagreement is the finding.
pub fn model_vs_spec(config: Config, ops: Vec<Op>) -> Result<(), String> {
    match seq_check(&config, &ops) {
        None => Ok(()),
        Some(Found::Seq(v, at)) => Err(format!("{at}: {v}")),
        Some(Found::Disagree(what)) => Err(what),
        Some(Found::Conc(v, _)) => Err(v.to_string()),
    }
}

/// The reference's outcome of `op`, after which it learns the serial the
/// model gave a key `op` created (serials are the model's to choose).
fn spec_step(spec: &mut Spec, run: &SeqRun, op: &Op) -> wqsim_model::api::Outcome {
    let reference = spec.apply(op);
    if let Op::AddKey { slot, .. } | Op::RequestKey { slot, .. } = op {
        if let Some(s) = run.serial(*slot) {
            spec.bind_serial(*slot, s as u32);
        }
    }
    reference
}

/// The sequential check of `ops`: each step on the model with the oracle
/// after it, and on the reference where it models `config` (it knows no
/// fault injection); then teardown. The first violation or disagreement.
fn seq_check(config: &Config, ops: &[Op]) -> Option<Found> {
    let compare = spec_covers(config) && !ops.iter().any(|op| matches!(op, Op::FailNth { .. }));
    let (config, ops) = (config.clone(), ops.to_vec());
    wqsim_model::explore::shuttle_seq(move || {
        let mut run = SeqRun::new(config.clone());
        let mut spec = Spec::new(config.page_size, config.rlimit_nofile);
        for op in &ops {
            let model = match run.step(op) {
                Ok(o) => o,
                Err(v) => return Some(Found::Seq(v, format!("`{op}`"))),
            };
            if !compare {
                continue;
            }
            let reference = spec_step(&mut spec, &run, op);
            if model != reference {
                return Some(Found::Disagree(format!("`{op}`: the model returned {model}, the reference {reference}")));
            }
        }
        feedback(wqsim_model::probe::reached());
        run.finish().err().map(|v| Found::Seq(v, "teardown".to_string()))
    })
}

/// Whether the reference models `c`'s settings: it knows the page size,
/// and assumes a privileged task, the default descriptor limit and pipe
/// quotas, and 32-bit ring indexes starting at 0. Elsewhere only the
/// oracle judges the model.
pub fn spec_covers(c: &Config) -> bool {
    let d = Config::default();
    c.privileged == d.privileged
        && c.uid == d.uid
        && c.rlimit_nofile == d.rlimit_nofile
        && c.pipe_user_pages_soft == d.pipe_user_pages_soft
        && c.pipe_user_pages_hard == d.pipe_user_pages_hard
        && c.pipe_max_size == d.pipe_max_size
        && c.pipe_index_bits == d.pipe_index_bits
        && c.pipe_initial_index == d.pipe_initial_index
        && c.variant == d.variant
        && c.lsm == d.lsm
}

/// The operations of the `filter` target for a payload.
pub fn filter_ops(data: &[u8]) -> Vec<Op> {
    let mut ops = vec![notification_pipe(0), set_size(0, 4), user_key(0, "a"), watch(0, 0, 1)];
    ops.push(set_filter(0, data.to_vec()));
    ops.extend([update(0), read(0, 4096), update(0), read(0, 4096)]);
    ops
}

/// `filter`: raw `IOC_WATCH_QUEUE_SET_FILTER` payloads on a watched queue,
/// then events through the filter: model against reference, every
/// out-of-bounds access a violation.
pub fn filter(config: Config, data: &[u8]) -> Result<(), String> {
    model_vs_spec(config, filter_ops(data))
}

/// A decoded input of a program target: the program, and the bytes that
/// choose its interleaving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub program: Program,
    pub schedule: Vec<u8>,
    /// The committed scenario it came from (`schedule`).
    pub scenario: Option<String>,
}

/// What one run of a [`Case`] gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ran {
    pub result: Result<(), Violation>,
    /// The `s2:` schedule token of a failure.
    pub schedule: Option<String>,
    pub states: States,
}

/// Run a case once under its byte schedule.
pub fn run_case(case: &Case) -> Ran {
    let e = wqsim_model::explore::shuttle_bytes(&case.program, &case.schedule);
    let states = wqsim_model::probe::reached();
    feedback(states);
    Ran { result: e.result, schedule: e.schedule, states }
}

fn finding(case: &Case, ran: Ran) -> Result<(), String> {
    match ran.result {
        Ok(()) => Ok(()),
        Err(v) => Err(format!(
            "{v}\n  schedule: {}{}\n  turn this input into a scenario: cargo run --release -p wqsim -- from-fuzz ARTIFACT",
            ran.schedule.as_deref().unwrap_or("-"),
            case.scenario.as_deref().map(|s| format!("\n  scenario: {s}")).unwrap_or_default()
        )),
    }
}

/// Each reached state, and each pair of states, is a branch of its own:
/// coverage-guided search keeps an input that reaches a new one.
#[inline(never)]
pub fn feedback(s: States) {
    use std::hint::black_box;
    macro_rules! edge {
        ($($a:ident $(+ $b:ident)?),* $(,)?) => {$(
            if s.contains(State::$a) $(&& s.contains(State::$b))? {
                black_box(stringify!($a $($b)?));
            }
        )*};
    }
    edge!(
        RingFull,
        LossFlagged,
        NotesExhausted,
        TeardownDuringPost,
        ResizeWithRecords,
        FilterReplacedDuringPost,
        RingFull + LossFlagged,
        RingFull + NotesExhausted,
        RingFull + TeardownDuringPost,
        RingFull + ResizeWithRecords,
        RingFull + FilterReplacedDuringPost,
        LossFlagged + NotesExhausted,
        LossFlagged + TeardownDuringPost,
        LossFlagged + ResizeWithRecords,
        LossFlagged + FilterReplacedDuringPost,
        NotesExhausted + TeardownDuringPost,
        NotesExhausted + ResizeWithRecords,
        NotesExhausted + FilterReplacedDuringPost,
        TeardownDuringPost + ResizeWithRecords,
        TeardownDuringPost + FilterReplacedDuringPost,
        ResizeWithRecords + FilterReplacedDuringPost,
    );
}

// ---- decoding ----

/// Pipe slots and key slots a decoded program uses.
const PIPES: u8 = 3;
const KEYS: u8 = 3;
/// The bytes of a `trace` input's header and of each of its operations
/// ([`trace_case`]).
const HEADER_BYTES: usize = 8;
const OP_BYTES: usize = 16;
/// Key slots a repeated `add_key` or `watch_key` walks over ([`walked`]).
const WALKED_KEYS: u8 = 8;

fn pick(u: &mut Unstructured, n: usize) -> usize {
    if n <= 1 { 0 } else { u.choose_index(n).unwrap_or(0) }
}

fn one_of<T: Clone>(u: &mut Unstructured, v: &[T]) -> T {
    v[pick(u, v.len())].clone()
}

fn pipe_slot(u: &mut Unstructured) -> u8 {
    pick(u, PIPES as usize) as u8
}

fn key_slot(u: &mut Unstructured) -> u8 {
    pick(u, KEYS as usize) as u8
}

fn key_ref(u: &mut Unstructured) -> KeyRef {
    match pick(u, 8) {
        0 => KeyRef::Session,
        1 => KeyRef::Raw(0x7fff_0000),
        _ => KeyRef::Slot(key_slot(u)),
    }
}

fn keyring_ref(u: &mut Unstructured) -> KeyRef {
    if pick(u, 3) == 0 { KeyRef::Session } else { KeyRef::Slot(key_slot(u)) }
}

fn end(u: &mut Unstructured) -> FdRef {
    let p = pipe_slot(u);
    if pick(u, 4) == 0 { w(p) } else { r(p) }
}

/// A filter payload: mostly well formed (types and subtypes near the
/// edges), sometimes raw bytes.
fn filter_payload(u: &mut Unstructured) -> Option<Vec<u8>> {
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
fn trace_op(u: &mut Unstructured, setup: bool) -> Op {
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
        14 => match pick(u, 4) {
            0 => Op::Revoke { key: key_ref(u) },
            1 => Op::Invalidate { key: key_ref(u) },
            2 => Op::Clear { keyring: keyring_ref(u) },
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
        21 => Op::Poll { fd: end(u) },
        22 => Op::FailNth { n: 1 + pick(u, 4) as u32 },
        _ => Op::KeyGc,
    }
}

/// The settings a decoded program runs with: the default machine, or one
/// of the settings the kernel's history made interesting (64 KiB pages,
/// a low `RLIMIT_NOFILE`, 16-bit ring indexes about to wrap, an
/// unprivileged user over the soft pipe quota).
fn settings(u: &mut Unstructured, mut c: Config) -> Config {
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
fn may_block(ops: &[Op]) -> bool {
    ops.iter().any(|op| matches!(op, Op::Read { .. } | Op::Write { .. } | Op::Splice { .. } | Op::Tee { .. }))
}

const THREAD_NAMES: [&str; 3] = ["t1", "t2", "t3"];

/// `n` operations, each now and then repeated (2 to 33 times: enough to
/// fill a ring of 32 and lose one post), 64 at most.
fn trace_ops(data: &mut &[u8], n: usize, setup: bool) -> Vec<Op> {
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
fn walked(op: &Op, i: usize) -> Op {
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

/// The committed scenarios with threads, in path order: the `schedule`
/// target's programs. `root` is the directory holding
/// `scenarios/`.
pub fn committed_scenarios(root: &std::path::Path) -> Result<Vec<Scenario>, String> {
    let files = crate::cli::collect(&[root.join("scenarios")]).map_err(|e| e.0)?;
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f).to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{rel}: {e}"))?;
        let sc = parse(&rel, &text).map_err(|e| e.to_string())?;
        if !sc.threads.is_empty() {
            out.push(sc);
        }
    }
    Ok(out)
}

/// The repository root this build came from (where `scenarios/` is).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A scenario's key in the `schedule` target: the low 16 bits of the
/// FNV-1a hash of its path.
pub fn scenario_key(path: &str) -> u16 {
    crate::scenario::fnv1a(path.as_bytes()) as u16
}

/// The scenario whose key is the first at or after `key` (wrapping round):
/// adding a scenario takes over only the keys just below its own, so a
/// committed input keeps its scenario (a seed starts with its scenario's
/// exact key).
pub fn pick_scenario(scenarios: &[Scenario], key: u16) -> Option<&Scenario> {
    let by_key = |s: &&Scenario| (scenario_key(&s.path), s.path.clone());
    let at_or_after = scenarios.iter().filter(|s| scenario_key(&s.path) >= key).min_by_key(by_key);
    at_or_after.or_else(|| scenarios.iter().min_by_key(by_key))
}

/// The committed seed of the `schedule` target for a scenario: its key,
/// then 24 interleaving bytes drawn from its path's hash. Named after the
/// path (`races__post_vs_clear`).
pub fn schedule_seed(path: &str) -> (String, Vec<u8>) {
    let mut seed = scenario_key(path).to_le_bytes().to_vec();
    seed.extend(pseudo_random_inputs(1, 24, crate::scenario::fnv1a(path.as_bytes())).concat());
    let name = path.trim_start_matches("scenarios/").trim_end_matches(".wq").replace('/', "__");
    (name, seed)
}

/// `n` deterministic pseudo-random inputs of `len` bytes each (xorshift64
/// from `seed | 1`): committed seeds, and inputs for tests.
pub fn pseudo_random_inputs(n: usize, len: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    };
    (0..n).map(|_| (0..len).map(|_| next()).collect()).collect()
}

/// `schedule`: the first two bytes (little-endian) pick a committed
/// scenario ([`pick_scenario`]), the rest spell its interleaving. The
/// scenario keeps its settings and variant; the catalog switches are
/// `config`'s.
pub fn schedule_case(scenarios: &[Scenario], config: &Config, data: &[u8]) -> Option<Case> {
    let (key, rest) = data.split_first_chunk::<2>()?;
    let sc = pick_scenario(scenarios, u16::from_le_bytes(*key))?;
    let mut program = sc.program(None);
    program.config.bugs = config.bugs;
    Some(Case { program, schedule: rest.to_vec(), scenario: Some(sc.path.clone()) })
}

/// `schedule`: a committed scenario under the interleaving the input
/// spells.
pub fn schedule(scenarios: &[Scenario], config: &Config, data: &[u8]) -> Result<(), String> {
    let Some(case) = schedule_case(scenarios, config, data) else { return Ok(()) };
    let ran = run_case(&case);
    finding(&case, ran)
}

/// Run any target on one input: the finding, if any, and the protocol
/// states reached.
pub fn run_target(
    target: Target,
    config: &Config,
    scenarios: &[Scenario],
    data: &[u8],
) -> (Result<(), String>, States) {
    wqsim_model::probe::reset();
    let r = match target {
        Target::Parser => parser(data),
        Target::Frontend => frontend(data),
        Target::Filter => filter(config.clone(), data),
        Target::Trace => trace(config.clone(), data),
        Target::Reader => reader(config.clone(), data),
        Target::Schedule => schedule(scenarios, config, data),
    };
    (r, wqsim_model::probe::reached())
}

/// Where the `schedule` target reads `scenarios/` from:
/// `$WQSIM_SCENARIOS`, else the source tree this was built from, else
/// beside the binary (a ClusterFuzzLite build ships them there).
pub fn scenario_root() -> std::path::PathBuf {
    match std::env::var_os("WQSIM_SCENARIOS") {
        Some(r) => r.into(),
        None if repo_root().join("scenarios").is_dir() => repo_root(),
        None => std::env::current_exe().ok().and_then(|e| e.parent().map(|p| p.to_path_buf())).unwrap_or_default(),
    }
}

/// A fuzz target's body (`fuzz/fuzz_targets/*.rs`): `target` on `data`
/// with `WQSIM_FUZZ_BUGS`'s switches on. A finding panics, so libFuzzer
/// keeps the input; so does a bad `WQSIM_FUZZ_BUGS` or a missing
/// `scenarios/`, on the first input, with the reason.
pub fn fuzz_entry(target: Target, data: &[u8]) {
    use std::sync::OnceLock;
    static CONFIG: OnceLock<Config> = OnceLock::new();
    static SCENARIOS: OnceLock<Vec<Scenario>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| config_from_env().unwrap_or_else(|e| panic!("{e}")));
    let scenarios: &[Scenario] = if target == Target::Schedule {
        SCENARIOS.get_or_init(|| {
            let root = scenario_root();
            let s = committed_scenarios(&root).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.is_empty(), "no scenario with threads under {}/scenarios; set WQSIM_SCENARIOS", root.display());
            s
        })
    } else {
        &[]
    };
    let r = run_target(target, config, scenarios, data).0;
    if target == Target::Frontend {
        // An input may use its whole heap budget; give the freed memory
        // back, or the allocator's high-water marks add up to libFuzzer's
        // RSS limit over millions of inputs.
        // SAFETY: malloc_trim only returns free memory to the system.
        unsafe {
            libc::malloc_trim(0);
        }
    }
    if let Err(e) = r {
        panic!("{e}");
    }
}

// ---- replaying inputs ----

/// The input files under `p` (a file, or a directory's files, sorted;
/// names starting with `.` left out).
pub fn input_files(p: &std::path::Path) -> Result<Vec<std::path::PathBuf>, String> {
    if p.is_file() {
        return Ok(vec![p.to_path_buf()]);
    }
    let rd = std::fs::read_dir(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut v: Vec<std::path::PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.is_file() && !f.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    v.sort();
    Ok(v)
}

/// What replaying a set of inputs gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub target: String,
    /// The switches on, as `--bugs` takes them (empty: none).
    pub bugs: String,
    pub inputs: usize,
    /// Inputs that reached each state, in [`State::ALL`] order.
    pub reached: Vec<(State, usize)>,
    /// Each finding and the input that gave it.
    pub findings: Vec<(String, String)>,
}

impl Replayed {
    pub fn render(&self) -> String {
        let mut s = format!("{}: {} inputs replayed\nprotocol states reached:\n", self.target, self.inputs);
        for (st, n) in &self.reached {
            s += &format!(
                "  {:<28} {}\n",
                st.name(),
                if *n == 0 { "not reached".to_string() } else { format!("{n} inputs") }
            );
        }
        let hit = self.reached.iter().filter(|(_, n)| *n > 0).count();
        s += &format!("{hit} of {} states reached; {} findings\n", self.reached.len(), self.findings.len());
        for (f, e) in &self.findings {
            let first = e.lines().next().unwrap_or("");
            let bugs = if self.bugs.is_empty() { String::new() } else { format!(" --bugs {}", self.bugs) };
            s += &format!(
                "  {f}: {first}\n    convert: cargo run --release -p wqsim -- from-fuzz {f} --target {}{bugs}\n",
                self.target
            );
        }
        s
    }
}

/// Replay `files` through `target`: the states they reach and the
/// findings.
pub fn replay_inputs(
    target: Target,
    config: &Config,
    scenarios: &[Scenario],
    files: &[std::path::PathBuf],
) -> Replayed {
    let mut counts = [0usize; State::ALL.len()];
    let mut findings = Vec::new();
    for f in files {
        let Ok(data) = std::fs::read(f) else { continue };
        let (r, states) = run_target(target, config, scenarios, &data);
        for (i, st) in State::ALL.iter().enumerate() {
            counts[i] += states.contains(*st) as usize;
        }
        if let Err(e) = r {
            findings.push((f.display().to_string(), e));
        }
    }
    let ids: Vec<&str> = config.bugs.list().iter().map(|b| b.info().id).collect();
    Replayed {
        target: target.name().to_string(),
        bugs: ids.join(","),
        inputs: files.len(),
        reached: State::ALL.iter().copied().zip(counts).collect(),
        findings,
    }
}

// ---- crash inputs into scenarios ----

/// A crash input turned into a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Converted {
    /// The scenario file's text.
    pub text: String,
    /// The snapshot (`snapshots/NAME.snap`) of its transcript, for the
    /// path it is written to.
    pub snapshot: String,
    /// What was found and how it was reduced.
    pub summary: String,
}

/// How a converted scenario reproduces a finding.
enum Found {
    /// A violation in one sequential run, and where (the operation, or
    /// teardown).
    Seq(Violation, String),
    /// A violation under some interleaving.
    Conc(Violation, Option<String>),
    /// The model and the reference disagree on an operation's result.
    Disagree(String),
}

/// The first finding of the sequential check of `ops`.
fn seq_finding(config: &Config, ops: &[Op]) -> Option<Found> {
    crate::explore::silenced(|| seq_check(config, ops))
}

/// The reference's outcome of each operation (`None` where the reference
/// does not model the configuration).
fn reference_outcomes(config: &Config, ops: &[Op]) -> Vec<String> {
    let (config, ops) = (config.clone(), ops.to_vec());
    crate::explore::silenced(|| {
        wqsim_model::explore::shuttle_seq(move || {
            let mut run = SeqRun::new(config.clone());
            let mut spec = Spec::new(config.page_size, config.rlimit_nofile);
            let mut out = Vec::new();
            for op in &ops {
                let _ = run.step_unchecked(op);
                out.push(crate::run::outcome_text(&spec_step(&mut spec, &run, op)));
            }
            out
        })
    })
}

/// A schedule token for a message: long ones cut, with their length.
fn short_schedule(s: Option<&str>) -> String {
    match s {
        None => "-".to_string(),
        Some(s) if s.len() <= 160 => s.to_string(),
        Some(s) => {
            let cut = s.char_indices().take_while(|(i, _)| *i < 160).last().map_or(0, |(i, c)| i + c.len_utf8());
            format!("{}... ({} segments)", &s[..cut], s.split('.').count())
        }
    }
}

/// Turn a crash input of `target` into a minimised scenario whose run
/// line gives the finding, checked by running it as `wqsim check` does.
/// `config` is the configuration the fuzz run had (`WQSIM_FUZZ_BUGS`);
/// `path` is where the scenario will live (`scenarios/fuzz/NAME.wq`),
/// `origin` names the input in the scenario's comment.
pub fn from_fuzz(
    target: Target,
    config: &Config,
    scenarios: &[Scenario],
    data: &[u8],
    path: &str,
    origin: &str,
) -> Result<Converted, String> {
    use crate::explore::{Base, Kind};
    use crate::scenario::{Driver, Expect, from_program, run_line};

    let bugs = config.bugs.list();
    let bug_ids: Vec<&str> = bugs.iter().map(|b| b.info().id).collect();
    let switches = if bug_ids.is_empty() { "no catalog switch".to_string() } else { bug_ids.join(" ") };
    let (program, schedule_bytes, from_scenario) = match target {
        Target::Parser => {
            return Err(match parser(data) {
                Ok(()) => format!("{origin}: the parser handles this input; nothing to convert"),
                Err(e) => format!(
                    "{origin}: a parser finding is a bug in wqsim's scenario format, not in the model, so it has no scenario: \
                     keep the input under fuzz/crashes/parser/ (cargo test replays it) and fix the parser.\n{e}"
                ),
            });
        }
        Target::Frontend => {
            return Err(match frontend(data) {
                Ok(()) => format!("{origin}: the front end handles this input; nothing to convert"),
                Err(e) => format!(
                    "{origin}: a front-end finding is a bug in wqsim itself, not in the model, so it has no scenario: \
                     keep the input under fuzz/crashes/frontend/ (cargo test replays it) and fix the harness.\n{e}"
                ),
            });
        }
        Target::Filter => (Program { config: config.clone(), setup: filter_ops(data), actors: vec![] }, vec![], None),
        Target::Trace => {
            let c = trace_case(config.clone(), data);
            (c.program, c.schedule, None)
        }
        Target::Reader => {
            let c = reader_case(config.clone(), data);
            (c.program, c.schedule, None)
        }
        Target::Schedule => {
            let c = schedule_case(scenarios, config, data)
                .ok_or_else(|| format!("{origin}: an empty input picks no scenario"))?;
            (c.program, c.schedule, c.scenario)
        }
    };

    // What the input finds: the sequential check first (the order the
    // trace target runs them), then the interleaving it spells.
    let found = match seq_finding(&program.config, &flattened(&program)) {
        Some(f) if target != Target::Schedule && target != Target::Reader => f,
        _ if program.actors.is_empty() => {
            return Err(format!(
                "{origin}: this input finds nothing with {switches} on; pass the switches the fuzz run had (--bugs, as in WQSIM_FUZZ_BUGS)"
            ));
        }
        _ => {
            let case = Case { program: program.clone(), schedule: schedule_bytes.clone(), scenario: None };
            let ran = crate::explore::silenced(|| run_case(&case));
            match ran.result {
                Err(v) => Found::Conc(v, ran.schedule),
                Ok(()) => {
                    return Err(format!(
                        "{origin}: this input finds nothing with {switches} on; pass the switches the fuzz run had (--bugs, as in WQSIM_FUZZ_BUGS)"
                    ));
                }
            }
        }
    };

    let mut about = vec![
        format!("Found by the fuzz target `{}` from {origin}, with {switches} on.", target.name()),
        "Converted and minimised by wqsim from-fuzz.".to_string(),
    ];
    if let Some(s) = &from_scenario {
        about.push(format!("The interleaving is of {s}."));
    }
    let seq_program = |ops: Vec<Op>| Program { config: program.config.clone(), setup: ops, actors: vec![] };
    let mut summary;
    let sc = match found {
        Found::Seq(v, _) => {
            about.push(format!("Sequentially: {v}"));
            let p = seq_program(flattened(&program));
            let mut sc = from_program(
                about,
                Base::Fixed,
                bugs.clone(),
                &p,
                vec![run_line(Driver::Explorer(Kind::Seq), vec![], Expect::Violation(v.inv))],
            );
            sc.path = path.to_string();
            let before = sc.setup.len();
            let (min, _) = crate::minimize::minimize_scenario(&sc)?;
            summary = format!("{}: {before} operations -> {}; run seq gives {}", target.name(), min.setup.len(), v.inv);
            min
        }
        Found::Disagree(what) => {
            // Keep the operations up to the disagreement, drop each one
            // whose removal keeps a disagreement, and write the
            // reference's outcomes as expectations.
            let mut ops = flattened(&program);
            let disagrees = |ops: &[Op]| matches!(seq_finding(&program.config, ops), Some(Found::Disagree(_)));
            let mut i = 0;
            while i < ops.len() {
                let mut c = ops.clone();
                c.remove(i);
                if disagrees(&c) { ops = c } else { i += 1 }
            }
            let want = reference_outcomes(&program.config, &ops);
            about.push(format!("The model disagrees with the reference: {what}"));
            about.push(
                "Each `=>` is the reference's outcome; the run fails (outcome) until the model agrees.".to_string(),
            );
            let mut sc = from_program(
                about,
                Base::Fixed,
                bugs.clone(),
                &seq_program(ops),
                vec![run_line(Driver::Explorer(Kind::Seq), vec![], Expect::Holds)],
            );
            for (s, w) in sc.setup.iter_mut().zip(want) {
                s.expect = Some(w);
            }
            sc.path = path.to_string();
            summary = format!(
                "{}: {} operations; the model disagrees with the reference: {what}",
                target.name(),
                sc.setup.len()
            );
            sc
        }
        Found::Conc(v, schedule) => {
            about.push(format!("Under the fuzzer's interleaving ({}): {v}", short_schedule(schedule.as_deref())));
            // Shrink under the input's own schedule first (one execution per
            // candidate) and look for an explorer run that gives it; failing
            // that, search on the whole program (the explorers then
            // minimise it).
            let find_run = |base: &Scenario, tries: &[(Kind, u64, usize)]| {
                tries.iter().find_map(|&(kind, seed, iterations)| {
                    let mut run = run_line(Driver::Explorer(kind), vec![], Expect::Violation(v.inv));
                    run.seed = seed;
                    run.iterations = iterations;
                    let mut c = base.clone();
                    c.runs = vec![run.clone()];
                    let r = crate::run::execute(&c, &run);
                    match &r.result {
                        Some(Err(got)) if got.inv == v.inv => {
                            run.iterations = (r.executions as usize * 2).clamp(100, iterations);
                            Some(run)
                        }
                        _ => None,
                    }
                })
            };
            let mut whole = from_program(about.clone(), Base::Fixed, bugs.clone(), &program, vec![]);
            whole.path = path.to_string();
            let under_bytes = |c: &Scenario| {
                let case = Case { program: c.program(None), schedule: schedule_bytes.clone(), scenario: None };
                matches!(run_case(&case).result, Err(got) if got.inv == v.inv)
            };
            let mut base = crate::minimize::shrink(&whole, under_bytes);
            let mut chosen = find_run(&base, &[(Kind::Random, 1, 2_000), (Kind::Pct, 1, 2_000)]);
            if chosen.is_none() {
                base = whole;
                chosen = find_run(&base, &[(Kind::Random, 1, 20_000), (Kind::Pct, 1, 20_000), (Kind::Dfs, 1, 20_000)]);
            }
            let run = chosen.ok_or_else(|| {
                format!(
                    "{origin}: {v}\nbut no explorer run (random, PCT, DFS; 20,000 schedules each) gives {} on this program, \
                     so a scenario could not reproduce it; the fuzzer's schedule was {}",
                    v.inv,
                    short_schedule(schedule.as_deref())
                )
            })?;
            base.runs = vec![run];
            let size = crate::minimize::size;
            let before = (flattened(&program).len(), program.actors.len());
            let (mut min, _) = crate::minimize::minimize_scenario(&base)?;
            // The fewest schedules that still find it, doubled.
            let r = crate::run::execute(&min, &min.runs[0]);
            if matches!(r.result, Some(Err(_))) {
                min.runs[0].iterations = (r.executions as usize * 2).clamp(100, min.runs[0].iterations);
            }
            summary = format!(
                "{}: {} operations in {} threads -> {} in {}; run {} gives {}",
                target.name(),
                before.0,
                before.1,
                size(&min),
                min.threads.len(),
                min.runs[0].driver.name(),
                v.inv
            );
            min
        }
    };

    // The other side: with the switches off the same run must hold.
    let mut sc = sc;
    sc.about.retain(|a| !a.starts_with("Minimised from"));
    if !bugs.is_empty() && sc.runs.len() == 1 && sc.runs[0].expect != Expect::Holds {
        let mut fixed = sc.runs[0].clone();
        fixed.without = bugs.clone();
        fixed.expect = Expect::Holds;
        if matches!(fixed.driver, Driver::Explorer(Kind::Random | Kind::Pct | Kind::Dfs)) {
            fixed.iterations = 10_000;
        }
        if crate::run::execute(&sc, &fixed).matches() {
            sc.runs.push(fixed);
        } else {
            summary += "; with the switches off it still fails, so no `without` run line was added";
        }
    }
    // Check the text as `wqsim check` will read it.
    let text = sc.to_text();
    let again = parse(path, &text).map_err(|e| format!("the converted scenario does not parse back: {e}\n{text}"))?;
    for run in &again.runs {
        let r = crate::run::execute(&again, run);
        let ok = if again.setup.iter().any(|s| s.expect.is_some()) { !r.mismatches.is_empty() } else { r.matches() };
        if !ok {
            return Err(format!(
                "the converted scenario's run on line {} gave {}, not {}:\n{text}",
                run.line,
                r.result_text(),
                run.expect
            ));
        }
    }
    let t = crate::run::transcript(&again, None);
    let snapshot = format!("---\nsource: sim/tests/snapshots.rs\n---\n{path}\n{}", t.render());
    summary += &format!("; checked: {path} gives what its run line expects");
    Ok(Converted { text, snapshot, summary })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wqsim_model::bugs::Bug;

    /// A filter of one entry (`watch_notification_filter` then one
    /// 44-byte `watch_notification_type_filter`): `type_`, every subtype.
    fn one_filter(type_: u32) -> Vec<u8> {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&type_.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&[0xff; 32]);
        b
    }

    #[test]
    fn program_targets_hold_on_the_fixed_model() {
        let c = Config::fixed();
        let scenarios = committed_scenarios(&repo_root()).unwrap();
        let mut reached = States::default();
        for (i, data) in pseudo_random_inputs(300, 96, 0x9e37_79b9_7f4a_7c15).iter().enumerate() {
            for t in [Target::Trace, Target::Reader, Target::Schedule] {
                let (r, s) = crate::explore::silenced(|| run_target(t, &c, &scenarios, data));
                reached = reached.union(s);
                assert_eq!(r, Ok(()), "{} input {i}: {data:02x?}", t.name());
            }
        }
        eprintln!("reached: {reached}");
    }

    #[test]
    fn parser_round_trips_a_scenario() {
        let text = std::fs::read("../scenarios/errno/read-whole.wq").unwrap();
        assert_eq!(parser(&text), Ok(()));
        assert_eq!(parser(b"\xff\xfe garbage"), Ok(()));
    }

    #[test]
    fn filter_holds_on_the_fixed_model_and_finds_w1() {
        assert_eq!(filter(Config::fixed(), &one_filter(1)), Ok(()));
        assert_eq!(filter(Config::fixed(), &one_filter(100)), Ok(()));
        let err = filter(Config::fixed().with_bug(Bug::W1), &one_filter(100)).unwrap_err();
        assert!(err.contains("H3"), "{err}");
    }
}
