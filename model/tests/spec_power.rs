//! The reference has power of its own: with a catalog bug switched on and
//! the oracle off, the model's outcomes stop matching the reference.

mod common;

use wqsim_model::api::ops::*;
use wqsim_model::api::{Op, Sys};
use wqsim_model::bugs::Bug;
use wqsim_model::kernel::Config;
use wqsim_model::seq::SeqRun;
use wqsim_model::spec::Spec;

/// The first step at which model and reference disagree, if any.
fn first_divergence(config: Config, ops: &[Op]) -> Option<(usize, String, String)> {
    let mut run = SeqRun::new(config.clone());
    let mut spec = Spec::for_config(&config);
    for (i, op) in ops.iter().enumerate() {
        let m = match run.step_unchecked(op) {
            Ok(o) => o.to_string(),
            Err(v) => v.to_string(),
        };
        let s = spec.apply(op).to_string();
        common::bind(&mut spec, &run, op);
        if m != s {
            return Some((i, m, s));
        }
    }
    None
}

#[test]
fn p12_shows_as_a_spurious_loss_record() {
    // The program of scenarios/catalog/p12-slot-reuse-flags.wq: 33 posts
    // into a 32-note queue (one lost), two reads, 32 more posts, two reads.
    let mut ops = vec![notification_pipe(0), set_size(0, 1), user_key(0, "wq-test"), watch(0, 0, 1)];
    ops.extend(std::iter::repeat_n(update(0), 33));
    ops.extend([read(0, 4096), read(0, 4096)]);
    ops.extend(std::iter::repeat_n(update(0), 32));
    ops.extend([read(0, 4096), read(0, 4096)]);
    assert_eq!(first_divergence(Config::default(), &ops), None);
    let (i, model, spec) = first_divergence(Config::default().with_bug(Bug::P12), &ops).expect("P12 must diverge");
    assert_eq!(model, "[meta.loss]", "step {i}");
    assert_eq!(spec, "EAGAIN", "step {i}");
}

#[test]
fn w5_shows_as_lost_or_reordered_records() {
    let mut ops =
        vec![notification_pipe(0), set_size(0, 65), user_key(0, "a"), user_key(1, "b"), watch(0, 0, 1), watch(1, 0, 2)];
    for i in 0..100 {
        ops.push(update(i % 2));
        if i % 7 == 6 {
            ops.push(read(0, 48));
        }
    }
    ops.push(read(0, 4096));
    assert_eq!(first_divergence(Config::default(), &ops), None);
    assert!(first_divergence(Config::default().with_bug(Bug::W5), &ops).is_some(), "W5 must diverge");
}

#[test]
fn w4_shows_as_a_smaller_capacity() {
    let mut ops = vec![notification_pipe(0), set_size(0, 4), user_key(0, "a"), watch(0, 0, 1)];
    for _ in 0..10 {
        ops.push(update(0));
    }
    ops.push(read(0, 4096));
    assert_eq!(first_divergence(Config::default(), &ops), None);
    // The ring got the requested 4 slots instead of a page of 32 notes.
    let (_, model, spec) = first_divergence(Config::default().with_bug(Bug::W4), &ops).expect("W4 must diverge");
    assert_eq!(model.matches("key.updated").count(), 4, "{model}");
    assert_eq!(spec.matches("key.updated").count(), 10, "{spec}");
}
