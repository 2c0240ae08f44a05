//! Shared test harness: run a script of operations on the model and on the
//! reference, and compare both to the expected outcomes.

#![allow(dead_code)]

use wqsim_model::api::{Op, Outcome, Sys};
use wqsim_model::kernel::Config;
use wqsim_model::seq::SeqRun;
use wqsim_model::spec::Spec;

/// Feed the serials userspace saw into the reference.
pub fn bind(spec: &mut Spec, run: &SeqRun, op: &Op) {
    if let Op::AddKey { slot, .. } | Op::RequestKey { slot, .. } = op {
        if let Some(s) = run.serial(*slot) {
            spec.bind_serial(*slot, s as u32);
        }
    }
}

/// Run `steps` on the model (with the oracle after every step and the
/// teardown leak check at the end) and, when `with_spec`, on the
/// reference; every outcome must render as expected.
pub fn script_with(config: Config, with_spec: bool, steps: &[(Op, &str)]) -> SeqRun {
    let mut run = SeqRun::new(config.clone());
    let mut spec = Spec::for_config(&config);
    for (i, (op, want)) in steps.iter().enumerate() {
        let got = run.step(op).unwrap_or_else(|v| panic!("step {i} {op:?}: {v}"));
        assert_eq!(got.to_string(), *want, "model, step {i}: {op:?}");
        if with_spec {
            let s = spec.apply(op);
            bind(&mut spec, &run, op);
            assert_eq!(s.to_string(), *want, "spec, step {i}: {op:?}");
        }
    }
    run.finish().unwrap_or_else(|v| panic!("teardown: {v}"));
    run
}

/// [`script_with`] on the fixed kernel ([`Config::fixed`]), model and
/// reference: F6 (the collector keeps a keyring's link quota) breaks the
/// quota invariant A4 in a plain sequential run, and these scripts are
/// about records and errnos, which the findings' fixes do not change.
pub fn script(steps: &[(Op, &str)]) -> SeqRun {
    script_with(Config::fixed(), true, steps)
}

/// The model's outcome of `ops`, without expectations.
pub fn outcomes(config: Config, ops: &[Op]) -> Vec<Outcome> {
    let mut run = SeqRun::new(config);
    run.run(ops).unwrap()
}
