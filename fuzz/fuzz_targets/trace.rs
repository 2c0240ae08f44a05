//! An arbitrary program (settings, setup, one to three threads) run
//! against the reference step by step, then concurrently under the
//! schedule the rest of the input spells, checked by the oracle and the
//! lifetime tracker. `WQSIM_FUZZ_BUGS` turns catalog switches on.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wqsim::fuzz::fuzz_entry(wqsim::fuzz::Target::Trace, data));
