//! Arbitrary text into the scenario parser: never a panic; a scenario that
//! parses prints back to text that parses to the same scenario.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = wqsim::fuzz::parser(data) {
        panic!("{e}");
    }
});
