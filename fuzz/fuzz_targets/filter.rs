//! Raw IOC_WATCH_QUEUE_SET_FILTER payloads: the model against the
//! reference, out-of-bounds accesses caught. `WQSIM_FUZZ_BUGS=W1` turns
//! catalog switches on (to measure how fast the fuzzer finds them).
#![no_main]

use std::sync::OnceLock;

use wqsim_model::kernel::Config;

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| {
        let mut c = Config::fixed();
        for id in std::env::var("WQSIM_FUZZ_BUGS").unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
            let bug = wqsim_model::bugs::Bug::from_name(id).unwrap_or_else(|| panic!("WQSIM_FUZZ_BUGS: no switch `{id}`"));
            c = c.with_bug(bug);
        }
        c
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = wqsim::fuzz::filter(config().clone(), data) {
        panic!("{e}");
    }
});
