//! Raw IOC_WATCH_QUEUE_SET_FILTER payloads: the model against the
//! reference, out-of-bounds accesses caught. `WQSIM_FUZZ_BUGS=W1` turns
//! catalog switches on (to measure how fast the fuzzer finds them).
#![no_main]

use std::sync::OnceLock;

use wqsim_model::kernel::Config;

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| wqsim::fuzz::config_from_env().unwrap_or_else(|e| panic!("{e}")))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = wqsim::fuzz::filter(config().clone(), data) {
        panic!("{e}");
    }
});
