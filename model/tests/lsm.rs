//! The LSM hooks under Smack: a record reaches a queue only if its
//! originator's label may write the watcher's, and L1 (no record the LSM
//! forbids reaches a queue) judges every post by the oracle's own reading
//! of the labels. Shown holding on the model, and failing, with its exact
//! report, on the deliberate mutant `smack-post-lets-updates-through`.

use wqsim_model::Inv;
use wqsim_model::api::ops::*;
use wqsim_model::api::{KeyRef, Op};
use wqsim_model::kernel::{Config, Mutant};
use wqsim_model::lsm::{LsmModule, LsmPolicy};
use wqsim_model::seq::SeqRun;

fn smack() -> Config {
    let rule = |s: &str, o: &str, a: &str| (s.to_string(), o.to_string(), a.to_string());
    let module =
        LsmModule::Smack(vec![rule("writer", "_", "rw"), rule("writer", "watcher", "w"), rule("other", "_", "rw")]);
    Config { lsm: LsmPolicy { module, ..LsmPolicy::default() }, ..Config::fixed() }
}

fn label(l: &str) -> Op {
    Op::SetLabel { label: l.into() }
}

/// The program of scenarios/lsm/smack-post.wq, step by step.
fn program() -> Vec<(Op, &'static str)> {
    vec![
        (notification_pipe(0), "0"),
        (set_size(0, 4), "0"),
        (user_key(0, "ticket"), "k0"),
        (label("watcher"), "7"),
        (watch(0, 0, 1), "0"),
        (update(0), "EACCES"),
        (label("writer"), "6"),
        (update(0), "0"),
        (label("other"), "5"),
        (update(0), "0"),
        (label("watcher"), "7"),
        (read(0, 4096), "[key.updated(k0, tag=1)]"),
    ]
}

#[test]
fn smack_lets_through_only_what_its_rules_allow() {
    let mut run = SeqRun::new(smack());
    for (i, (op, want)) in program().iter().enumerate() {
        assert_eq!(run.step(op).unwrap().to_string(), *want, "step {i}: {op}");
    }
    run.finish().unwrap();
}

#[test]
fn a_hook_that_lets_one_forbidden_record_through_is_caught() {
    let config = Config { mutant: Some(Mutant::SmackPostLetsUpdatesThrough), ..smack() };
    let mut run = SeqRun::new(config);
    let steps = program();
    for (op, _) in &steps[..9] {
        run.step(op).unwrap();
    }
    // `other` updates the key: the mutant's hook lets the record through.
    let v = run.step(&steps[9].0).unwrap_err();
    assert_eq!(v.inv, Inv::L1, "{v}");
    let serial = run.serial(0).unwrap() as u32;
    assert_eq!(
        v.message,
        format!(
            "Key {{ tag: 1, subtype: 1, key_id: {serial}, aux: 0 }} reached watch_queue#0, but Smack forbids its originator (`other`) to write its watcher (`watcher`)"
        )
    );
}

/// Without a module the label cannot be set, and nothing is refused.
#[test]
fn no_module_no_labels() {
    let mut run = SeqRun::new(Config::fixed());
    assert_eq!(run.step(&label("desk")).unwrap().to_string(), "EINVAL");
    let _ = KeyRef::Session;
}
