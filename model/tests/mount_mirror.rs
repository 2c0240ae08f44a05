//! M2, a mount watcher's mirror converges (ver #5): a watcher of the root
//! mount keeps the mounts below it from its records and, at a loss
//! record, rescans by the change counters, rereading a mount's attributes
//! only when its counter moved. Shown holding on the fixed model, and
//! failing with its exact report on the deliberate mutant
//! `mount-attr-counter-forgotten` (a `notify_mount()` that forgets the
//! attribute counter) and on X4 (a SETATTR record that misreports the
//! read-only state).

use wqsim_model::api::ops::*;
use wqsim_model::api::{Op, Outcome};
use wqsim_model::bugs::Bug;
use wqsim_model::kernel::{Config, Mutant, Variant};
use wqsim_model::mount::MNT_READONLY;
use wqsim_model::seq::SeqRun;
use wqsim_model::uapi::NOTIFY_SUPERBLOCK_EDQUOT;
use wqsim_model::{Inv, Violation};

fn v5(config: Config) -> Config {
    Config { variant: Variant::V5, ..config }
}

/// /mnt mounted, then a 32-record queue watching `/` (mount 1) and its
/// superblock, filled, so /mnt's read-only remount is lost. (Were /mnt
/// mounted after the watch, the watcher's query at its NEW_MOUNT record,
/// made when it reads it, would already see it read-only.)
fn lost_remount() -> Vec<Op> {
    let mut ops = vec![
        notification_pipe(0),
        set_size(0, 1),
        Op::Mount { path: "/mnt".into() },
        Op::WatchMount { path: "/".into(), fd: r(0), tag: 1, flags: 0 },
        Op::WatchSb { path: "/".into(), fd: r(0), tag: 2, flags: 0 },
    ];
    ops.extend((0..32).map(|_| Op::SbEvent { path: "/".into(), subtype: NOTIFY_SUPERBLOCK_EDQUOT, error: 0 }));
    ops.extend([
        Op::MountSetattr { path: "/mnt".into(), mnt_flags: MNT_READONLY },
        read(0, 8192),
        read(0, 4096),
        Op::MountChildren { path: "/".into() },
    ]);
    ops
}

fn run(config: Config, ops: &[Op]) -> (Vec<Outcome>, Result<(), Violation>) {
    let mut run = SeqRun::new(config);
    let out = run.run(ops).expect("no violation before the end");
    (out, run.finish())
}

#[test]
fn the_rescan_repairs_a_lost_remount_on_the_fixed_model() {
    let (out, end) = run(v5(Config::fixed()), &lost_remount());
    assert_eq!(out[out.len() - 2].to_string(), "[meta.loss]");
    // Two attribute changes moved /mnt's counter from 1 to 3.
    assert_eq!(out[out.len() - 1].to_string(), "{2:3}");
    end.unwrap();
}

#[test]
fn a_forgotten_attribute_counter_hides_the_lost_remount() {
    let mutant = Config { mutant: Some(Mutant::MountAttrCounterForgotten), ..v5(Config::fixed()) };
    let (out, end) = run(mutant, &lost_remount());
    assert_eq!(out[out.len() - 2].to_string(), "[meta.loss]");
    assert_eq!(out[out.len() - 1].to_string(), "{2:1}");
    let v = end.unwrap_err();
    assert_eq!(v.inv, Inv::M2, "{v}");
    assert_eq!(
        v.message,
        "pipe#0's watcher mirrors the mounts below mount 1 as {2 under 1 rw} after its last record, but they are {2 under 1 ro}"
    );
}

#[test]
fn a_setattr_record_that_misreads_the_flags_misleads_the_mirror() {
    let ops = [
        notification_pipe(0),
        set_size(0, 1),
        Op::Mount { path: "/mnt".into() },
        Op::WatchMount { path: "/".into(), fd: r(0), tag: 1, flags: 0 },
        Op::MountSetattr { path: "/mnt".into(), mnt_flags: MNT_READONLY },
        read(0, 4096),
    ];
    let (out, end) = run(v5(Config::fixed().with_bug(Bug::X4)), &ops);
    assert_eq!(
        out[5].to_string(),
        "[mount.readonly(on=2, changes=1/1/0, subtree, ro, tag=1), mount.setattr(on=2, changes=1/2/0, subtree, tag=1)]"
    );
    let v = end.unwrap_err();
    assert_eq!(v.inv, Inv::M2, "{v}");
    let (out, end) = run(v5(Config::fixed()), &ops);
    assert_eq!(
        out[5].to_string(),
        "[mount.readonly(on=2, changes=1/1/0, subtree, ro, tag=1), mount.setattr(on=2, changes=1/2/0, subtree, ro, tag=1)]"
    );
    end.unwrap();
}
