//! The model against the reference over random operation sequences
//! (proptest-state-machine, shrinking to a minimal sequence on failure).
//! Every step: the model runs with the oracle on, the reference runs on
//! its own, and the two outcomes must be identical; each case ends with
//! the model's teardown and leak check.
//!
//! `WQSIM_PROPTEST_CASES` sets the number of cases (5,000 by default; the
//! nightly tier raises it) and `WQSIM_SEED` the seed.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use wqsim_model::api::{End, FdRef, IoctlReq, KeyRef, Op, OpenKind, Sys};
use wqsim_model::kernel::Config;
use wqsim_model::seq::SeqRun;
use wqsim_model::spec::Spec;
use wqsim_model::uapi::*;

fn cases() -> u32 {
    std::env::var("WQSIM_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000)
}

/// A fixed seed (`WQSIM_SEED` overrides it): the same cases on every run.
fn seed() -> u64 {
    std::env::var("WQSIM_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_0001)
}

fn fd() -> impl Strategy<Value = FdRef> {
    prop_oneof![
        8 => (0u8..3).prop_map(|p| FdRef::End(p, End::Read)),
        3 => (0u8..3).prop_map(|p| FdRef::End(p, End::Write)),
        2 => (0u8..2).prop_map(FdRef::File),
        1 => Just(FdRef::Raw(77)),
    ]
}

/// What `open` makes.
fn open_kind() -> impl Strategy<Value = OpenKind> {
    prop_oneof![Just(OpenKind::Null), Just(OpenKind::Tty), Just(OpenKind::Regular)]
}

fn key() -> impl Strategy<Value = KeyRef> {
    prop_oneof![
        8 => (0u8..5).prop_map(KeyRef::Slot),
        2 => Just(KeyRef::Session),
        1 => Just(KeyRef::User),
        1 => Just(KeyRef::Raw(-1)),
    ]
}

fn filter_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    let entry = (
        prop_oneof![Just(0u32), Just(1), Just(2), Just(100)],
        prop_oneof![Just(0u32), Just(u32::MAX), Just(1 << 1), Just(1 << 2 | 1 << 7), Just(1 << 5)],
        prop_oneof![4 => Just(0u32), 2 => Just(0xff00), 1 => Just(0x7f), 1 => Just(0x1_0000)],
        prop_oneof![4 => Just(0u32), 1 => Just(0x100), 1 => Just(0x200)],
    )
        .prop_map(|(type_, st, mask, filt)| WatchNotificationTypeFilter {
            type_,
            info_filter: filt,
            info_mask: mask,
            subtype_filter: [st, 0, 0, 0, 0, 0, 0, 0],
        });
    prop_oneof![
        1 => Just(None),
        8 => (prop::collection::vec(entry, 0..3), prop_oneof![9 => Just(0u32), 1 => Just(1)], 0usize..3)
            .prop_map(|(es, reserved, cut)| {
                let mut b = encode_filter(reserved, &es);
                // Sometimes hand over less memory than the header announces.
                if cut == 2 && b.len() > 10 {
                    b.truncate(b.len() - 10);
                }
                Some(b)
            }),
    ]
}

/// The events a poll asks for: the default, or any set of the named ones.
fn poll_events() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(wqsim_model::api::POLL_EVENTS),
        1 => (0u32..128).prop_map(|bits| {
            [POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL, POLLRDNORM, POLLWRNORM]
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .fold(0, |m, (_, b)| m | b)
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let pipe_flags = prop_oneof![
        6 => Just(O_NOTIFICATION_PIPE | O_NONBLOCK),
        1 => Just(O_NOTIFICATION_PIPE),
        2 => Just(O_NONBLOCK),
        1 => Just(O_NOTIFICATION_PIPE | 0o100),
    ];
    let read_len = prop_oneof![
        Just(0usize),
        Just(4),
        Just(8),
        Just(12),
        Just(16),
        Just(20),
        Just(24),
        Just(32),
        Just(40),
        Just(4096)
    ];
    let size = prop_oneof![
        Just(0u64),
        Just(1),
        Just(2),
        Just(4),
        Just(32),
        Just(33),
        Just(64),
        Just(65),
        Just(512),
        Just(513)
    ];
    let desc = prop_oneof![Just("a"), Just("b"), Just("c")];
    let ktype = prop_oneof![4 => Just("user"), 3 => Just("keyring"), 1 => Just("logon")];
    let perm = prop_oneof![
        Just(0x3f01_0000u32),
        Just(KEY_POS_ALL),
        Just(KEY_POS_SETATTR | KEY_POS_WRITE),
        Just(KEY_POS_VIEW | KEY_POS_SETATTR),
        Just(0x4000_0000),
    ];
    prop_oneof![
        4 => ((0u8..3), pipe_flags).prop_map(|(pipe, flags)| Op::Pipe2 { pipe, flags }),
        2 => fd().prop_map(|fd| Op::Close { fd }),
        2 => (0u8..2, open_kind(), prop_oneof![Just(0u32), Just(O_NONBLOCK), Just(O_DIRECT), Just(O_CLOEXEC)])
            .prop_map(|(file, kind, flags)| Op::Open { file, kind, flags }),
        // F_GETFL and F_SETFL on the opened files (the reference keeps no
        // flags for pipes): O_APPEND (0o2000) among what may be set.
        1 => (0u8..2, prop_oneof![Just(3u32), Just(4)], prop_oneof![Just(0u32), Just(O_NONBLOCK), Just(O_DIRECT), Just(0o2000)])
            .prop_map(|(f, cmd, arg)| Op::Fcntl { fd: FdRef::File(f), cmd, arg }),
        1 => (fd(), fd(), prop_oneof![Just(0usize), Just(16)], prop_oneof![Just(0u32), Just(2)])
            .prop_map(|(fd_in, fd_out, len, flags)| Op::Tee { fd_in, fd_out, len, flags }),
        1 => (fd(), prop_oneof![Just(0usize), Just(16)], prop_oneof![Just(0u32), Just(2), Just(0x10)])
            .prop_map(|(fd, len, flags)| Op::Vmsplice { fd, len, flags }),
        10 => (fd(), read_len).prop_map(|(fd, len)| Op::Read { fd, len }),
        1 => (fd(), prop::collection::vec(any::<u8>(), 0..80)).prop_map(|(fd, data)| Op::Write { fd, data }),
        5 => (fd(), size).prop_map(|(fd, n)| Op::Ioctl { fd, req: IoctlReq::SetSize(n) }),
        3 => (fd(), filter_bytes()).prop_map(|(fd, f)| Op::Ioctl { fd, req: IoctlReq::SetFilter(f) }),
        2 => fd().prop_map(|fd| Op::Ioctl { fd, req: IoctlReq::Fionread }),
        1 => (fd(), any::<bool>()).prop_map(|(fd, b)| Op::Ioctl { fd, req: IoctlReq::Fionbio(b) }),
        1 => (fd(), prop_oneof![Just(F_GETPIPE_SZ), Just(F_SETPIPE_SZ)], prop_oneof![Just(0u32), Just(4096), Just(65536)])
            .prop_map(|(fd, cmd, arg)| Op::Fcntl { fd, cmd, arg }),
        // Timeout 0 only: the reference has no clock to end a sleep with.
        2 => (fd(), poll_events()).prop_map(|(fd, events)| Op::Poll { fd, events, timeout: 0 }),
        1 => (fd(), fd(), prop_oneof![Just(0usize), Just(16)], prop_oneof![Just(0u32), Just(2)])
            .prop_map(|(fd_in, fd_out, len, flags)| Op::Splice { fd_in, fd_out, len, flags }),
        6 => (0u8..5, ktype, desc.clone(), key()).prop_map(|(slot, t, d, keyring)| Op::AddKey {
            slot,
            type_: t.into(),
            desc: d.into(),
            payload: if t == "keyring" { vec![] } else { b"p".to_vec() },
            keyring,
        }),
        8 => (key(), prop_oneof![Just(vec![]), Just(b"v".to_vec())]).prop_map(|(key, payload)| Op::Update { key, payload }),
        1 => key().prop_map(|key| Op::Revoke { key }),
        1 => key().prop_map(|key| Op::Invalidate { key }),
        1 => key().prop_map(|keyring| Op::Clear { keyring }),
        3 => (key(), key()).prop_map(|(key, keyring)| Op::Link { key, keyring }),
        3 => (key(), key()).prop_map(|(key, keyring)| Op::Unlink { key, keyring }),
        1 => (key(), prop_oneof![Just(-1), Just(0)], prop_oneof![Just(-1), Just(0)]).prop_map(|(key, uid, gid)| Op::Chown { key, uid, gid }),
        1 => (key(), perm).prop_map(|(key, perm)| Op::Setperm { key, perm }),
        1 => key().prop_map(|key| Op::SetTimeout { key, secs: 5 }),
        8 => (key(), fd(), prop_oneof![Just(-1), Just(0), Just(1), Just(2), Just(255), Just(256)])
            .prop_map(|(key, fd, tag)| Op::WatchKey { key, fd, tag }),
        1 => (0u8..5, desc, key()).prop_map(|(slot, d, dest)| Op::RequestKey { slot, type_: "user".into(), desc: d.into(), dest }),
        1 => (key(), prop::option::of(key())).prop_map(|(key, keyring)| Op::Instantiate { key, payload: b"i".to_vec(), keyring }),
        1 => (key(), prop_oneof![Just(0), Just(126), Just(13)], prop::option::of(key()))
            .prop_map(|(key, error, keyring)| Op::Reject { key, timeout: 3, error, keyring }),
        1 => (key(), prop::option::of(prop_oneof![Just("user"), Just("nosuchtype"), Just(".dot")]))
            .prop_map(|(keyring, t)| Op::Restrict { keyring, type_restriction: t.map(|t| (t.to_string(), "r".to_string())) }),
        // Deferred work runs late: the collector and RCU callbacks wait
        // for these (or a call that would sleep).
        3 => Just(Op::KeyGc),
        1 => Just(Op::RcuBarrier),
    ]
}

/// Generation needs no state: every operand may name a handle that does
/// not exist yet, which tests the error paths too.
struct Ops;

impl ReferenceStateMachine for Ops {
    type State = ();
    type Transition = Op;
    fn init_state() -> BoxedStrategy<()> {
        Just(()).boxed()
    }
    fn transitions(_: &()) -> BoxedStrategy<Op> {
        op().boxed()
    }
    fn apply(_: (), _: &Op) {}
}

struct ModelVsSpec;

impl StateMachineTest for ModelVsSpec {
    type SystemUnderTest = (SeqRun, Spec);
    type Reference = Ops;

    fn init_test(_: &()) -> (SeqRun, Spec) {
        // The fixed kernel: F6 breaks the quota invariant (A4) in a plain
        // sequential run, and the comparison is about outcomes.
        let c = Config::fixed();
        (SeqRun::new(c.clone()), Spec::for_config(&c))
    }

    fn apply((mut run, mut spec): (SeqRun, Spec), _: &(), op: Op) -> (SeqRun, Spec) {
        let model = run.step(&op).unwrap_or_else(|v| panic!("model violated an invariant at {op:?}: {v}"));
        let reference = spec.apply(&op);
        if let Op::AddKey { slot, .. } | Op::RequestKey { slot, .. } = &op {
            if let Some(s) = run.serial(*slot) {
                spec.bind_serial(*slot, s as u32);
            }
        }
        assert_eq!(model, reference, "model and reference disagree at {op:?}");
        (run, spec)
    }

    fn teardown((mut run, _): (SeqRun, Spec), _: ()) {
        run.finish().unwrap_or_else(|v| panic!("teardown: {v}"));
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed()),
        .. ProptestConfig::default()
    })]

    #[test]
    fn model_matches_reference(sequential 1..40 => ModelVsSpec);
}

// ---------------------------------------------------------------------------
// The queue under pressure: the loss paths.
// ---------------------------------------------------------------------------

/// One step of a pressure sequence: a burst of posts (the queue fills
/// faster than it is read), a read, or a change to the watches.
#[derive(Clone, Debug)]
enum Pressure {
    Burst { key: u8, n: usize },
    Read { len: usize },
    Op(Op),
}

fn pressure_step() -> impl Strategy<Value = Pressure> {
    prop_oneof![
        6 => (0u8..2, 1usize..48).prop_map(|(key, n)| Pressure::Burst { key, n }),
        5 => prop_oneof![Just(4096usize), Just(16), Just(8), Just(24)].prop_map(|len| Pressure::Read { len }),
        1 => (0u8..2, prop_oneof![Just(-1), Just(1), Just(2)])
            .prop_map(|(k, tag)| Pressure::Op(Op::WatchKey { key: KeyRef::Slot(k), fd: FdRef::End(0, End::Read), tag })),
        1 => (0u8..2).prop_map(|k| Pressure::Op(Op::Revoke { key: KeyRef::Slot(k) })),
        1 => prop_oneof![Just(1u64), Just(65)]
            .prop_map(|n| Pressure::Op(Op::Ioctl { fd: FdRef::End(0, End::Read), req: IoctlReq::SetSize(n) })),
        1 => Just(Pressure::Op(Op::Ioctl { fd: FdRef::End(0, End::Read), req: IoctlReq::Fionread })),
    ]
}

/// A notification queue of `size` notes with two watched keys: 1 gives
/// one page (32 notes, a 32-slot ring), 65 three pages (96 notes in a
/// 128-slot ring, so the notes run out before the ring fills).
fn pressure_setup(size: u64) -> Vec<Op> {
    let mut ops = vec![
        Op::Pipe2 { pipe: 0, flags: O_NOTIFICATION_PIPE | O_NONBLOCK },
        Op::Ioctl { fd: FdRef::End(0, End::Read), req: IoctlReq::SetSize(size) },
    ];
    for (slot, desc) in [(0u8, "a"), (1, "b")] {
        ops.push(Op::AddKey {
            slot,
            type_: "user".into(),
            desc: desc.into(),
            payload: b"p".to_vec(),
            keyring: KeyRef::Session,
        });
        ops.push(Op::WatchKey { key: KeyRef::Slot(slot), fd: FdRef::End(0, End::Read), tag: slot as i32 + 1 });
    }
    ops
}

/// Run `steps` on the model (oracle on) and the reference with `config`;
/// the first disagreement or violation, and the protocol states reached.
fn pressure_run(config: &Config, size: u64, steps: &[Pressure]) -> (Result<(), String>, wqsim_model::probe::States) {
    let mut run = SeqRun::new(config.clone());
    let mut spec = Spec::for_config(config);
    let mut ops = pressure_setup(size);
    for s in steps {
        match s {
            Pressure::Burst { key, n } => {
                ops.extend(std::iter::repeat_n(Op::Update { key: KeyRef::Slot(*key), payload: b"v".to_vec() }, *n))
            }
            Pressure::Read { len } => ops.push(Op::Read { fd: FdRef::End(0, End::Read), len: *len }),
            Pressure::Op(op) => ops.push(op.clone()),
        }
    }
    let mut result = Ok(());
    for op in &ops {
        let model = match run.step(op) {
            Ok(o) => o,
            Err(v) => {
                result = Err(format!("at {op:?}: {v}"));
                break;
            }
        };
        let reference = spec.apply(op);
        if let Op::AddKey { slot, .. } = op {
            if let Some(s) = run.serial(*slot) {
                spec.bind_serial(*slot, s as u32);
            }
        }
        if model != reference {
            result = Err(format!("at {op:?}: model {model}, reference {reference}"));
            break;
        }
    }
    if result.is_ok() {
        result = run.finish().map_err(|v| format!("teardown: {v}"));
    }
    (result, wqsim_model::probe::reached())
}

/// Random sequences that fill the ring and run out of notes: the model
/// agrees with the reference on every loss record, and the cases reach
/// the ring-full, notes-exhausted and loss-flag states (the sequences
/// above, one operation at a time, almost never do).
#[test]
fn under_pressure_the_model_matches_the_reference_on_the_loss_paths() {
    use proptest::test_runner::{TestCaseError, TestRng, TestRunner};
    let config = ProptestConfig { cases: cases() / 5, failure_persistence: None, ..ProptestConfig::default() };
    let rng = TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &seed_bytes());
    let mut runner = TestRunner::new_with_rng(config, rng);
    let reached = std::cell::Cell::new(wqsim_model::probe::States::default());
    runner
        .run(&pressure_case(), |(size, steps)| {
            let (r, s) = pressure_run(&Config::default(), size, &steps);
            reached.set(reached.get().union(s));
            r.map_err(TestCaseError::fail)
        })
        .unwrap();
    use wqsim_model::probe::State;
    for s in [State::RingFull, State::NotesExhausted, State::LossFlagged] {
        assert!(reached.get().contains(s), "no case reached {s}; reached: {}", reached.get());
    }
}

/// The pressure sequences have power on the loss paths: with P12 (a
/// reused slot kept its loss flag) switched on, some case disagrees with
/// the reference, while the one-at-a-time sequences above need luck.
#[test]
fn under_pressure_p12_is_caught() {
    use proptest::test_runner::{TestCaseError, TestRng, TestRunner};
    let config = ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() };
    let rng = TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &seed_bytes());
    let mut runner = TestRunner::new_with_rng(config, rng);
    let with_p12 = Config::default().with_bug(wqsim_model::bugs::Bug::P12);
    let r = runner
        .run(&pressure_case(), |(size, steps)| pressure_run(&with_p12, size, &steps).0.map_err(TestCaseError::fail));
    let e = r.expect_err("P12 must be caught").to_string();
    assert!(e.contains("meta.loss") || e.contains("S3"), "{e}");
}

/// A pressure case: the queue's size and the steps.
fn pressure_case() -> impl Strategy<Value = (u64, Vec<Pressure>)> {
    (prop_oneof![Just(1u64), Just(65)], prop::collection::vec(pressure_step(), 1..24))
}

fn seed_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&seed().to_le_bytes());
    b
}
