//! Read sizes, blocking and non-blocking reads against bursts of posts
//! and loss on one watched queue, under the schedule the input spells.
//! `WQSIM_FUZZ_BUGS` turns catalog switches on.
#![no_main]

use std::sync::OnceLock;

use wqsim_model::kernel::Config;

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| wqsim::fuzz::config_from_env().unwrap_or_else(|e| panic!("{e}")))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = wqsim::fuzz::reader(config().clone(), data) {
        panic!("{e}");
    }
});
