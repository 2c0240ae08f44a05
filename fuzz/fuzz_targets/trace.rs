//! An arbitrary program (settings, setup, one to three threads) run
//! against the reference step by step, then concurrently under the
//! schedule the rest of the input spells, checked by the oracle and the
//! lifetime tracker. `WQSIM_FUZZ_BUGS` turns catalog switches on.
#![no_main]

use std::sync::OnceLock;

use wqsim_model::kernel::Config;

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| wqsim::fuzz::config_from_env().unwrap_or_else(|e| panic!("{e}")))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = wqsim::fuzz::trace(config().clone(), data) {
        panic!("{e}");
    }
});
