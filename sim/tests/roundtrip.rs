//! The text form of operations reads back to the same operation, and the
//! parser never panics, whatever it is given.

#![cfg(not(loom))]

use proptest::prelude::*;
use wqsim::scenario::{parse, parse_op_text};
use wqsim_model::api::{End, FdRef, IoctlReq, KeyRef, Op, OpenKind};

/// The events a poll asks for: any set of the flags a scenario can name.
fn poll_events() -> impl Strategy<Value = u32> {
    use wqsim_model::uapi::*;
    (0u32..128).prop_map(|bits| {
        [POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL, POLLRDNORM, POLLWRNORM]
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .fold(0, |m, (_, b)| m | b)
    })
}

fn fd() -> impl Strategy<Value = FdRef> {
    prop_oneof![
        (0u8..4, any::<bool>()).prop_map(|(p, r)| FdRef::End(p, if r { End::Read } else { End::Write })),
        (0u8..4).prop_map(FdRef::File),
        (-3i32..300).prop_map(FdRef::Raw),
    ]
}

fn key() -> impl Strategy<Value = KeyRef> {
    prop_oneof![
        (0u8..8).prop_map(KeyRef::Slot),
        Just(KeyRef::Session),
        Just(KeyRef::User),
        (-8i32..5000).prop_map(KeyRef::Raw),
    ]
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..24),
        "[ -~]{1,16}".prop_map(|s| s.into_bytes()),
        (any::<u8>(), 9usize..5000).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn filter_bytes() -> impl Strategy<Value = Vec<u8>> {
    use wqsim_model::uapi::{WatchNotificationTypeFilter, encode_filter};
    let entry = (0u32..130, any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(t, m, f, i)| {
        WatchNotificationTypeFilter { type_: t, info_filter: f, info_mask: i, subtype_filter: [m, 0, 0, 0, 0, 0, 0, 0] }
    });
    prop_oneof![proptest::collection::vec(entry, 1..4).prop_map(|e| encode_filter(0, &e)), data()]
}

fn op() -> impl Strategy<Value = Op> {
    let text = "[a-z]{1,8}";
    prop_oneof![
        (0u8..4, any::<u32>()).prop_map(|(pipe, flags)| Op::Pipe2 { pipe, flags }),
        (0u8..4, prop::sample::select(OpenKind::ALL.to_vec()), 0u32..16).prop_map(|(file, kind, bits)| {
            use wqsim_model::uapi::*;
            let flags = [O_NOTIFICATION_PIPE, O_NONBLOCK, O_DIRECT, O_CLOEXEC]
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .fold(0, |m, (_, b)| m | b);
            Op::Open { file, kind, flags }
        }),
        fd().prop_map(|fd| Op::Close { fd }),
        (fd(), 0usize..70000).prop_map(|(fd, len)| Op::Read { fd, len }),
        (fd(), data()).prop_map(|(fd, data)| Op::Write { fd, data }),
        (
            fd(),
            prop_oneof![
                Just(IoctlReq::Fionread),
                any::<bool>().prop_map(IoctlReq::Fionbio),
                (0u64..1000).prop_map(IoctlReq::SetSize),
                Just(IoctlReq::SetFilter(None)),
                filter_bytes().prop_map(|b| IoctlReq::SetFilter(Some(b))),
                any::<u32>().prop_map(IoctlReq::Other),
            ]
        )
            .prop_map(|(fd, req)| Op::Ioctl { fd, req }),
        (fd(), prop_oneof![Just(3u32), Just(1031u32), Just(1032u32), 0u32..2000], any::<u32>())
            .prop_map(|(fd, cmd, arg)| Op::Fcntl { fd, cmd, arg }),
        (fd(), poll_events(), prop_oneof![Just(-1i32), Just(0), 1..=i32::MAX])
            .prop_map(|(fd, events, timeout)| Op::Poll { fd, events, timeout }),
        (fd(), fd(), 0usize..9000, 0u32..32).prop_map(|(fd_in, fd_out, len, flags)| Op::Splice {
            fd_in,
            fd_out,
            len,
            flags
        }),
        (fd(), fd(), 0usize..9000, 0u32..32).prop_map(|(fd_in, fd_out, len, flags)| Op::Tee {
            fd_in,
            fd_out,
            len,
            flags
        }),
        (fd(), 0usize..9000, 0u32..32).prop_map(|(fd, len, flags)| Op::Vmsplice { fd, len, flags }),
        (0u8..8, text, text, data(), key()).prop_map(|(slot, t, desc, payload, keyring)| Op::AddKey {
            slot,
            type_: t,
            desc,
            payload,
            keyring
        }),
        (0u8..8, text, text, key()).prop_map(|(slot, t, desc, dest)| Op::RequestKey { slot, type_: t, desc, dest }),
        (key(), data()).prop_map(|(key, payload)| Op::Update { key, payload }),
        key().prop_map(|key| Op::Revoke { key }),
        key().prop_map(|key| Op::Invalidate { key }),
        key().prop_map(|keyring| Op::Clear { keyring }),
        (key(), key()).prop_map(|(key, keyring)| Op::Link { key, keyring }),
        (key(), key()).prop_map(|(key, keyring)| Op::Unlink { key, keyring }),
        (key(), -2i32..70000, -2i32..70000).prop_map(|(key, uid, gid)| Op::Chown { key, uid, gid }),
        (key(), any::<u32>()).prop_map(|(key, perm)| Op::Setperm { key, perm }),
        (key(), any::<u32>()).prop_map(|(key, secs)| Op::SetTimeout { key, secs }),
        (key(), data(), proptest::option::of(key())).prop_map(|(key, payload, keyring)| Op::Instantiate {
            key,
            payload,
            keyring
        }),
        (key(), any::<u32>(), prop_oneof![Just(126i32), Just(128i32), 1i32..200], proptest::option::of(key()))
            .prop_map(|(key, timeout, error, keyring)| Op::Reject { key, timeout, error, keyring }),
        (key(), fd(), -3i32..300).prop_map(|(key, fd, tag)| Op::WatchKey { key, fd, tag }),
        (0u8..8, proptest::option::of(text)).prop_map(|(slot, name)| Op::JoinSession { slot, name }),
        (key(), proptest::option::of((text, text)))
            .prop_map(|(keyring, type_restriction)| Op::Restrict { keyring, type_restriction }),
        Just(Op::RcuBarrier),
        (0u64..=1_000_000_000).prop_map(|secs| Op::Sleep { secs }),
        any::<u32>().prop_map(|n| Op::FailNth { n }),
        Just(Op::KeyGc),
        key().prop_map(|keyring| Op::ReadKeyring { keyring }),
        text.prop_map(|label| Op::SetLabel { label }),
        (fd(), -3i32..300, prop_oneof![Just(0u32), any::<u32>()]).prop_map(|(fd, tag, flags)| Op::WatchDevices {
            fd,
            tag,
            flags
        }),
        (any::<u8>(), any::<u64>(), any::<u64>()).prop_map(|(subtype, dev, sector)| Op::BlockError {
            subtype,
            dev,
            sector
        }),
        (any::<u8>(), text, prop_oneof![Just(0u32), any::<u32>()]).prop_map(|(subtype, name, error)| Op::UsbEvent {
            subtype,
            name,
            error
        }),
        (path(), fd(), -3i32..300, prop_oneof![Just(0u32), any::<u32>()])
            .prop_map(|(path, fd, tag, flags)| Op::WatchMount { path, fd, tag, flags }),
        (path(), fd(), -3i32..300, prop_oneof![Just(0u32), any::<u32>()])
            .prop_map(|(path, fd, tag, flags)| Op::WatchSb { path, fd, tag, flags }),
        path().prop_map(|path| Op::Mount { path }),
        path().prop_map(|path| Op::Umount { path }),
        path().prop_map(|path| Op::Expire { path }),
        path().prop_map(|path| Op::MountChildren { path }),
        (path(), path()).prop_map(|(from, to)| Op::MoveMount { from, to }),
        (path(), any::<u32>()).prop_map(|(path, mnt_flags)| Op::MountSetattr { path, mnt_flags }),
        (path(), any::<bool>()).prop_map(|(path, ro)| Op::Remount { path, ro }),
        (path(), 1u8..=255, any::<u32>()).prop_map(|(path, subtype, e)| Op::SbEvent {
            path,
            subtype,
            error: if subtype == wqsim_model::uapi::NOTIFY_SUPERBLOCK_ERROR { e } else { 0 }
        }),
    ]
}

/// An absolute path of up to three components.
fn path() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-z0-9._-]{1,4}", 0..3)
        .prop_filter("no ..", |v| !v.iter().any(|c| c == ".."))
        .prop_map(|v| format!("/{}", v.join("/")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]

    #[test]
    fn ops_read_back(op in op()) {
        let text = op.to_string();
        let back = parse_op_text(&text).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        prop_assert_eq!(&back, &op, "{}", text);
    }

    #[test]
    fn the_parser_never_panics(text in "(setup:|thread a:|run seq expect holds|    |pipe2 p0 0|\"|\\{|repeat\\(|=>|[ -~\\n]){0,40}") {
        let _ = parse("fuzz.wq", &text);
    }
}
