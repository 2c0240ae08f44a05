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
use wqsim_model::api::{End, FdRef, IoctlReq, KeyRef, Op, Sys};
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
        1 => Just(FdRef::Raw(77)),
    ]
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
        10 => (fd(), read_len).prop_map(|(fd, len)| Op::Read { fd, len }),
        1 => (fd(), prop::collection::vec(any::<u8>(), 0..80)).prop_map(|(fd, data)| Op::Write { fd, data }),
        5 => (fd(), size).prop_map(|(fd, n)| Op::Ioctl { fd, req: IoctlReq::SetSize(n) }),
        3 => (fd(), filter_bytes()).prop_map(|(fd, f)| Op::Ioctl { fd, req: IoctlReq::SetFilter(f) }),
        2 => fd().prop_map(|fd| Op::Ioctl { fd, req: IoctlReq::Fionread }),
        1 => (fd(), any::<bool>()).prop_map(|(fd, b)| Op::Ioctl { fd, req: IoctlReq::Fionbio(b) }),
        1 => (fd(), prop_oneof![Just(F_GETPIPE_SZ), Just(F_SETPIPE_SZ)], prop_oneof![Just(0u32), Just(4096), Just(65536)])
            .prop_map(|(fd, cmd, arg)| Op::Fcntl { fd, cmd, arg }),
        2 => fd().prop_map(|fd| Op::Poll { fd }),
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
        let c = Config::default();
        (SeqRun::new(c.clone()), Spec::new(c.page_size, c.rlimit_nofile))
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
