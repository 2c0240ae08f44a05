//! What the fuzz targets run (`fuzz/fuzz_targets/*.rs` are thin wrappers),
//! kept in the library so `cargo test` replays every committed seed and
//! crash input the same way (`sim/tests/fuzz_seeds.rs`).
//!
//! Each function returns `Err` with a readable finding; the fuzz target
//! panics on it, so libFuzzer saves the input.

use wqsim_model::api::{Op, Sys as _, ops::*};
use wqsim_model::kernel::Config;
use wqsim_model::seq::SeqRun;
use wqsim_model::spec::Spec;

use crate::scenario::parse;

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

/// Run `ops` on the model (under `config`) and on the reference; the
/// first violation or disagreement is the finding.
pub fn model_vs_spec(config: Config, ops: Vec<Op>) -> Result<(), String> {
    wqsim_model::explore::shuttle_seq(move || {
        let mut run = SeqRun::new(config.clone());
        let mut spec = Spec::new(config.page_size, config.rlimit_nofile);
        for op in &ops {
            let model = run.step(op).map_err(|v| format!("`{op}`: {v}"))?;
            let reference = spec.apply(op);
            if let Op::AddKey { slot, .. } | Op::RequestKey { slot, .. } = op {
                if let Some(s) = run.serial(*slot) {
                    spec.bind_serial(*slot, s as u32);
                }
            }
            if model != reference {
                return Err(format!("`{op}`: the model returned {model}, the reference {reference}"));
            }
        }
        run.finish().map_err(|v| format!("teardown: {v}"))
    })
}

/// `filter`: raw `IOC_WATCH_QUEUE_SET_FILTER` payloads on a watched queue,
/// then events through the filter: model against reference, every
/// out-of-bounds access a violation.
pub fn filter(config: Config, data: &[u8]) -> Result<(), String> {
    let mut ops = vec![notification_pipe(0), set_size(0, 4), user_key(0, "a"), watch(0, 0, 1)];
    ops.push(set_filter(0, data.to_vec()));
    ops.extend([update(0), read(0, 4096), update(0), read(0, 4096)]);
    model_vs_spec(config, ops)
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
