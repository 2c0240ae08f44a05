//! Raw IOC_WATCH_QUEUE_SET_FILTER payloads: the model against the
//! reference, out-of-bounds accesses caught. `WQSIM_FUZZ_BUGS=W1` turns
//! catalog switches on (to measure how fast the fuzzer finds them).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wqsim::fuzz::fuzz_entry(wqsim::fuzz::Target::Filter, data));
