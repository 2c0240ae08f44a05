//! Arbitrary text into the scenario parser: never a panic; a scenario that
//! parses prints back to text that parses to the same scenario.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wqsim::fuzz::fuzz_entry(wqsim::fuzz::Target::Parser, data));
