//! The committed scenarios (those with threads): the first two bytes
//! pick one (`wqsim::fuzz::pick_scenario`), the rest choose its
//! interleaving. The scenarios are read from
//! `$WQSIM_SCENARIOS/scenarios`, else the source tree this was built from,
//! else beside the binary (a ClusterFuzzLite build ships them there).
//! `WQSIM_FUZZ_BUGS` turns catalog switches on.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wqsim::fuzz::fuzz_entry(wqsim::fuzz::Target::Schedule, data));
