//! The committed scenarios (those with threads): the first two bytes
//! pick one (`wqsim::fuzz::pick_scenario`), the rest choose its
//! interleaving. The scenarios are read from
//! `$WQSIM_SCENARIOS/scenarios`, else the source tree this was built from,
//! else beside the binary (a ClusterFuzzLite build ships them there).
//! `WQSIM_FUZZ_BUGS` turns catalog switches on.
#![no_main]

use std::sync::OnceLock;

use wqsim::scenario::Scenario;
use wqsim_model::kernel::Config;

fn setup() -> &'static (Config, Vec<Scenario>) {
    static S: OnceLock<(Config, Vec<Scenario>)> = OnceLock::new();
    S.get_or_init(|| {
        let config = wqsim::fuzz::config_from_env().unwrap_or_else(|e| panic!("{e}"));
        let beside = || std::env::current_exe().ok().and_then(|e| e.parent().map(|p| p.to_path_buf()));
        let root: std::path::PathBuf = match std::env::var_os("WQSIM_SCENARIOS") {
            Some(r) => r.into(),
            None if wqsim::fuzz::repo_root().join("scenarios").is_dir() => wqsim::fuzz::repo_root(),
            None => beside().unwrap_or_default(),
        };
        let scenarios = wqsim::fuzz::committed_scenarios(&root).unwrap_or_else(|e| panic!("{e}"));
        assert!(!scenarios.is_empty(), "no scenario with threads under {}", root.display());
        (config, scenarios)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (config, scenarios) = setup();
    if let Err(e) = wqsim::fuzz::schedule(scenarios, config, data) {
        panic!("{e}");
    }
});
