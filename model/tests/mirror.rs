//! M1, a watcher's mirror converges: a watcher that keeps a keyring's
//! links from its records and rescans at each loss record ends, once it
//! has read every record, with the keyring's links. Shown holding on the
//! fixed model, and failing, with its exact report, on the deliberate
//! mutant `clear-unnotified` (a keyring clear that posts nothing) and on
//! finding F9 (the collector's unlinks post nothing).

use wqsim_model::api::ops::*;
use wqsim_model::api::{KeyRef, Op, Outcome};
use wqsim_model::kernel::{Config, Mutant};
use wqsim_model::seq::SeqRun;
use wqsim_model::{Inv, Violation};

/// `add_key("user", desc, "x", k0)` into slot `slot`.
fn into_k0(slot: u8, desc: &str) -> Op {
    Op::AddKey { slot, type_: "user".into(), desc: desc.into(), payload: b"x".to_vec(), keyring: KeyRef::Slot(0) }
}

/// A sized queue watching the keyring `k0`.
fn watched_keyring() -> Vec<Op> {
    vec![notification_pipe(0), set_size(0, 1), keyring(0, "tickets"), watch(0, 0, 1)]
}

fn program() -> Vec<Op> {
    let mut ops = watched_keyring();
    ops.extend([
        into_k0(1, "a"),
        into_k0(2, "b"),
        Op::Clear { keyring: KeyRef::Slot(0) },
        into_k0(3, "c"),
        read(0, 4096),
    ]);
    ops
}

/// Run `ops` and finish; the first violation.
fn run(config: Config, ops: &[Op]) -> Result<Vec<Outcome>, Violation> {
    let mut run = SeqRun::new(config);
    let out = run.run(ops)?;
    run.finish()?;
    Ok(out)
}

#[test]
fn the_mirror_converges_on_the_fixed_model() {
    let out = run(Config::fixed(), &program()).unwrap();
    assert_eq!(
        out.last().unwrap().to_string(),
        "[key.linked(k0, aux=k1, tag=1), key.linked(k0, aux=k2, tag=1), key.cleared(k0, tag=1), key.linked(k0, aux=k3, tag=1)]"
    );
}

#[test]
fn a_clear_posted_to_nobody_leaves_the_mirror_stale() {
    let mutant = Config { mutant: Some(Mutant::ClearUnnotified), ..Config::fixed() };
    let mut r = SeqRun::new(mutant);
    let out = r.run(&program()).unwrap();
    assert_eq!(
        out.last().unwrap().to_string(),
        "[key.linked(k0, aux=k1, tag=1), key.linked(k0, aux=k2, tag=1), key.linked(k0, aux=k3, tag=1)]"
    );
    let (k0, k1, k2, k3) = (r.serial(0).unwrap(), r.serial(1).unwrap(), r.serial(2).unwrap(), r.serial(3).unwrap());
    let v = r.finish().unwrap_err();
    assert_eq!(v.inv, Inv::M1, "{v}");
    let mut stale = [k1, k2, k3];
    stale.sort();
    let want = format!(
        "pipe#0's watcher mirrors keyring {:#x} as {{{:#x}, {:#x}, {:#x}}} after its last record, but it links {{{:#x}}}",
        k0, stale[0], stale[1], stale[2], k3
    );
    assert_eq!(v.message, want);
}

/// F9, the kernel today: the collector unlinks an invalidated key and
/// tells the keyring's watcher nothing.
#[test]
fn the_collector_unlinks_silently_on_the_kernel_today() {
    let mut ops = watched_keyring();
    ops.extend([
        into_k0(1, "a"),
        Op::Invalidate { key: KeyRef::Slot(1) },
        Op::KeyGc,
        Op::ReadKeyring { keyring: KeyRef::Slot(0) },
        read(0, 4096),
    ]);
    let f9 = Config::fixed().with_bug(wqsim_model::bugs::Bug::F9);
    let mut r = SeqRun::new(f9);
    let out = r.run(&ops).unwrap();
    assert_eq!(out[7].to_string(), "{}");
    assert_eq!(out[8].to_string(), "[key.linked(k0, aux=k1, tag=1)]");
    let v = r.finish().unwrap_err();
    assert_eq!(v.inv, Inv::M1, "{v}");
    // With the proposed fix the collector posts the unlink.
    let out = run(Config::fixed(), &ops).unwrap();
    assert_eq!(out[8].to_string(), "[key.linked(k0, aux=k1, tag=1), key.unlinked(k0, aux=k1, tag=1)]");
}
