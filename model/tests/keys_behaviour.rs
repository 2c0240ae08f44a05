//! Keyrings, the upstream event source: which records each key operation
//! posts (Linux 6.12), and the errnos userspace sees.

mod common;

use common::{script, script_with};
use wqsim_model::api::ops::*;
use wqsim_model::api::{KeyRef, Op};
use wqsim_model::kernel::Config;
use wqsim_model::seq::SeqRun;
use wqsim_model::uapi::*;

fn add(slot: u8, t: &str, desc: &str, payload: &[u8], keyring: KeyRef) -> Op {
    Op::AddKey { slot, type_: t.into(), desc: desc.into(), payload: payload.to_vec(), keyring }
}
fn s(k: u8) -> KeyRef {
    KeyRef::Slot(k)
}
fn base() -> Vec<(Op, &'static str)> {
    vec![(notification_pipe(0), "0"), (set_size(0, 1), "0")]
}

/// add_key of a new key posts LINKED on the keyring; add_key with an
/// existing description updates in place: UPDATED on the key, nothing on
/// the keyring.
#[test]
fn add_key_links_or_updates() {
    let mut st = base();
    st.extend([
        (Op::WatchKey { key: KeyRef::Session, fd: r(0), tag: 1 }, "0"),
        (user_key(0, "a"), "k0"),
        (watch(0, 0, 2), "0"),
        (add(1, "user", "a", b"new", KeyRef::Session), "k0"),
        (add(2, "logon", "a", b"x", KeyRef::Session), "EINVAL"),
        (add(2, "logon", "svc:a", b"x", KeyRef::Session), "k2"),
        (read(0, 4096), "[key.linked(@s, aux=k0, tag=1), key.updated(k0, tag=2), key.linked(@s, aux=k2, tag=1)]"),
    ]);
    script(&st);
}

/// A keyring has no ->update: add_key with the same description makes a
/// new keyring that displaces the old link silently; the old keyring,
/// unreferenced, is destroyed (a removal record to its watchers).
#[test]
fn add_keyring_again_displaces_the_old_one() {
    let mut st = base();
    st.extend([
        (keyring(0, "ring"), "k0"),
        (watch(0, 0, 4), "0"),
        (Op::WatchKey { key: KeyRef::Session, fd: r(0), tag: 1 }, "0"),
        (keyring(1, "ring"), "k1"),
        (read(0, 4096), "[key.linked(@s, aux=k1, tag=1)]"),
        (Op::KeyGc, "0"),
        (read(0, 4096), "[meta.removal(k0, tag=4)]"),
    ]);
    script(&st);
}

/// add_key's errnos.
#[test]
fn add_key_errors() {
    script(&[
        (add(0, ".internal", "a", b"x", KeyRef::Session), "EPERM"),
        (add(0, "", "a", b"x", KeyRef::Session), "EINVAL"),
        (add(0, "a_type_name_of_thirty_two_bytes!", "a", b"x", KeyRef::Session), "EINVAL"),
        (add(0, "nosuchtype", "a", b"x", KeyRef::Session), "ENODEV"),
        (add(0, "nosuchtype", "a", b"x", KeyRef::Raw(0x1234_5678)), "ENOKEY"),
        (add(0, "user", "", b"x", KeyRef::Session), "EINVAL"),
        (add(0, "keyring", ".dot", b"", KeyRef::Session), "EPERM"),
        (add(0, "user", "a", b"", KeyRef::Session), "EINVAL"),
        (add(0, "keyring", "r", b"x", KeyRef::Session), "EINVAL"),
        (user_key(1, "u"), "k1"),
        (add(2, "user", "a", b"x", s(1)), "ENOTDIR"),
        (add(2, "user", "a", b"x", KeyRef::Raw(0)), "EINVAL"),
        (add(2, "user", "a", b"x", KeyRef::Raw(-6)), "EINVAL"),
        (add(2, "user", "a", b"x", KeyRef::Raw(-7)), "ENOKEY"),
        (add(2, "user", "a", b"x", KeyRef::Raw(0x1234_5678)), "ENOKEY"),
        (add(2, "user", "a", b"x", KeyRef::User), "k2"),
    ]);
}

/// KEYCTL_UPDATE: UPDATED; EOPNOTSUPP on a keyring; EINVAL for an empty
/// or oversized payload; EKEYREVOKED once revoked.
#[test]
fn keyctl_update() {
    let mut st = base();
    st.extend([
        (user_key(0, "a"), "k0"),
        (keyring(1, "r"), "k1"),
        (watch(0, 0, 1), "0"),
        (update(0), "0"),
        (Op::Update { key: s(1), payload: b"x".to_vec() }, "EOPNOTSUPP"),
        (Op::Update { key: s(0), payload: vec![] }, "EINVAL"),
        (Op::Update { key: s(0), payload: vec![0; 4097] }, "EINVAL"),
        (Op::Revoke { key: s(0) }, "0"),
        (update(0), "EKEYREVOKED"),
        (Op::Revoke { key: s(0) }, "EKEYREVOKED"),
        (read(0, 4096), "[key.updated(k0, tag=1), key.revoked(k0, tag=1)]"),
    ]);
    script(&st);
}

/// Revoking a keyring drops its links silently; a watched member that
/// loses its last link is destroyed and its watchers get a removal record.
#[test]
fn revoke_keyring_drops_members() {
    let mut st = base();
    st.extend([
        (keyring(0, "r"), "k0"),
        (add(1, "user", "m", b"x", s(0)), "k1"),
        (watch(0, 0, 1), "0"),
        (watch(1, 0, 2), "0"),
        (Op::Revoke { key: s(0) }, "0"),
        (read(0, 4096), "[key.revoked(k0, tag=1)]"),
        (Op::KeyGc, "0"),
        (read(0, 4096), "[meta.removal(k1, tag=2)]"),
        (Op::Link { key: s(1), keyring: s(0) }, "EKEYREVOKED"),
        (Op::Link { key: s(1), keyring: KeyRef::Session }, "ENOKEY"),
    ]);
    script(&st);
}

/// KEYCTL_INVALIDATE posts INVALIDATED; the collector then unlinks the key
/// everywhere and destroys it (a removal record, only once the collector
/// has run). The kernel unlinks silently (finding F9, shown in
/// tests/mirror.rs); with its proposed fix, which these scripts run, the
/// keyring's watchers get UNLINKED.
#[test]
fn invalidate() {
    let mut st = base();
    st.extend([
        (Op::WatchKey { key: KeyRef::Session, fd: r(0), tag: 1 }, "0"),
        (user_key(0, "a"), "k0"),
        (watch(0, 0, 2), "0"),
        (Op::Invalidate { key: s(0) }, "0"),
        (Op::Invalidate { key: s(0) }, "ENOKEY"),
        (read(0, 4096), "[key.linked(@s, aux=k0, tag=1), key.invalidated(k0, tag=2)]"),
        (Op::KeyGc, "0"),
        (read(0, 4096), "[key.unlinked(@s, aux=k0, tag=1), meta.removal(k0, tag=2)]"),
    ]);
    script(&st);
}

/// KEYCTL_CLEAR posts CLEARED, even on an empty keyring, and drops the
/// links silently; ENOTDIR on a key that is not a keyring.
#[test]
fn clear() {
    let mut st = base();
    st.extend([
        (keyring(0, "r"), "k0"),
        (watch(0, 0, 1), "0"),
        (Op::Clear { keyring: s(0) }, "0"),
        (add(1, "user", "m", b"x", s(0)), "k1"),
        (watch(1, 0, 5), "0"),
        (Op::Clear { keyring: s(0) }, "0"),
        // k1 lost its last link, but keyring_clear() puts it only after
        // an RCU grace period (assoc_array_apply_edit()): still alive, not
        // possessed, and without write permission for its owner.
        (Op::Clear { keyring: s(1) }, "EACCES"),
        (user_key(2, "u"), "k2"),
        (Op::Clear { keyring: s(2) }, "ENOTDIR"),
        (read(0, 4096), "[key.cleared(k0, tag=1), key.linked(k0, aux=k1, tag=1), key.cleared(k0, tag=1)]"),
        (Op::KeyGc, "0"),
        (read(0, 4096), "[meta.removal(k1, tag=5)]"),
    ]);
    script(&st);
}

/// KEYCTL_LINK posts LINKED, again for a key already linked; ENOTDIR into
/// a non-keyring; EDEADLK for a cycle. KEYCTL_UNLINK posts UNLINKED with
/// the key's serial; ENOENT when the key is not linked there.
#[test]
fn link_and_unlink() {
    let mut st = base();
    st.extend([
        (keyring(0, "r"), "k0"),
        (keyring(1, "inner"), "k1"),
        (user_key(2, "u"), "k2"),
        (watch(0, 0, 1), "0"),
        (Op::Link { key: s(2), keyring: s(0) }, "0"),
        (Op::Link { key: s(2), keyring: s(0) }, "0"),
        (Op::Link { key: s(2), keyring: s(2) }, "ENOTDIR"),
        (Op::Link { key: s(1), keyring: s(0) }, "0"),
        (Op::Link { key: s(0), keyring: s(1) }, "EDEADLK"),
        (Op::Link { key: s(0), keyring: s(0) }, "EDEADLK"),
        (Op::Unlink { key: s(2), keyring: s(0) }, "0"),
        (Op::Unlink { key: s(2), keyring: s(0) }, "ENOENT"),
        (
            read(0, 4096),
            "[key.linked(k0, aux=k2, tag=1), key.linked(k0, aux=k2, tag=1), key.linked(k0, aux=k1, tag=1), key.unlinked(k0, aux=k2, tag=1)]",
        ),
    ]);
    script(&st);
}

/// Unlinking a watched key from its last keyring: UNLINKED on the keyring
/// now, the removal record when the collector destroys the key.
#[test]
fn unlink_last_link_destroys() {
    let mut st = base();
    st.extend([
        (Op::WatchKey { key: KeyRef::Session, fd: r(0), tag: 1 }, "0"),
        (user_key(0, "u"), "k0"),
        (watch(0, 0, 2), "0"),
        (Op::Unlink { key: s(0), keyring: KeyRef::Session }, "0"),
        (read(0, 4096), "[key.linked(@s, aux=k0, tag=1), key.unlinked(@s, aux=k0, tag=1)]"),
        (Op::KeyGc, "0"),
        (read(0, 4096), "[meta.removal(k0, tag=2)]"),
        (update(0), "ENOKEY"),
    ]);
    script(&st);
}

/// SETATTR: chown (even to the same owner; not when both ids are -1),
/// setperm (EINVAL for unknown bits), set_timeout.
#[test]
fn setattr() {
    let mut st = base();
    st.extend([
        (user_key(0, "u"), "k0"),
        (watch(0, 0, 1), "0"),
        (Op::Chown { key: s(0), uid: -1, gid: -1 }, "0"),
        (Op::Chown { key: s(0), uid: 0, gid: -1 }, "0"),
        (Op::Setperm { key: s(0), perm: 0x4000_0000 }, "EINVAL"),
        (Op::Setperm { key: s(0), perm: KEY_POS_ALL | KEY_USR_VIEW }, "0"),
        (Op::SetTimeout { key: s(0), secs: 100 }, "0"),
        (read(0, 4096), "[key.setattr(k0, tag=1), key.setattr(k0, tag=1), key.setattr(k0, tag=1)]"),
    ]);
    script(&st);
}

/// Without view permission a key cannot be watched (EACCES).
#[test]
fn watch_needs_view_permission() {
    let mut st = base();
    st.extend([
        (user_key(0, "u"), "k0"),
        (Op::Setperm { key: s(0), perm: KEY_POS_SETATTR | KEY_POS_WRITE }, "0"),
        (watch(0, 0, 1), "EACCES"),
        (Op::Setperm { key: s(0), perm: KEY_POS_ALL }, "0"),
        (watch(0, 0, 1), "0"),
    ]);
    script(&st);
}

/// Instantiation: request_key links the key under construction into its
/// destination (LINKED); nobody can watch it until it is instantiated;
/// KEYCTL_INSTANTIATE / KEYCTL_REJECT link it again where asked; a
/// negative key fails lookups with its error.
#[test]
fn instantiate_and_negate() {
    let mut st = base();
    st.extend([
        (keyring(0, "dest"), "k0"),
        (watch(0, 0, 1), "0"),
        (Op::RequestKey { slot: 1, type_: "user".into(), desc: "wanted".into(), dest: s(0) }, "k1"),
        (watch(1, 0, 2), "blocks"),
        (Op::Instantiate { key: s(1), payload: b"v".to_vec(), keyring: Some(s(0)) }, "0"),
        (Op::Instantiate { key: s(1), payload: b"v".to_vec(), keyring: None }, "EPERM"),
        (watch(1, 0, 2), "0"),
        (Op::RequestKey { slot: 2, type_: "user".into(), desc: "missing".into(), dest: s(0) }, "k2"),
        (Op::Reject { key: s(2), timeout: 10, error: 0, keyring: None }, "EINVAL"),
        (Op::Reject { key: s(2), timeout: 10, error: 126, keyring: None }, "0"),
        (watch(2, 0, 3), "ENOKEY"),
        (
            read(0, 4096),
            "[key.linked(k0, aux=k1, tag=1), key.linked(k0, aux=k1, tag=1), key.linked(k0, aux=k2, tag=1)]",
        ),
    ]);
    script(&st);
}

/// Time on the virtual clock. A revoked key is reaped `key_gc_delay`
/// after its revocation (`revoked_at` shares its storage with `expiry`,
/// which the collector's `key_is_dead()` reads), and its watcher gets the
/// removal record then, not before. With a model that keeps the expiry
/// apart (the deliberate mutant `revoke-keeps-expiry`), nothing is reaped,
/// and the oracle reports the broken promise of gc_delay (G1).
#[test]
fn revoked_key_reaped_after_gc_delay() {
    let config = Config { key_gc_delay: 10, ..Config::fixed() };
    let mut st = base();
    st.extend([
        (user_key(0, "u"), "k0"),
        (watch(0, 0, 2), "0"),
        (Op::Revoke { key: s(0) }, "0"),
        (read(0, 4096), "[key.revoked(k0, tag=2)]"),
        (Op::Sleep { secs: 9 }, "0"),
        (read(0, 4096), "EAGAIN"),
        (Op::Sleep { secs: 1 }, "0"),
        (read(0, 4096), "[meta.removal(k0, tag=2)]"),
    ]);
    script_with(config.clone(), false, &st);

    let mutant = Config { mutant: Some(wqsim_model::kernel::Mutant::RevokeKeepsExpiry), ..config };
    let mut run = SeqRun::new(mutant);
    for (op, _) in &st[..st.len() - 3] {
        run.step(op).unwrap();
    }
    let v = run.step(&Op::Sleep { secs: 1 }).unwrap_err();
    assert_eq!(v.inv, wqsim_model::Inv::G1, "{v}");
    assert!(v.message.contains("revoked 10 s ago, with key_gc_delay 10 s and the collector run"), "{v}");
}
