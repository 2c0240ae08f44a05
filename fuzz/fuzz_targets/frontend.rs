//! Arbitrary bytes as a scenario file, then every run line and every
//! driver under small budgets: a verdict or a positioned error, never a
//! harness failure.
#![no_main]

#[global_allocator]
static ALLOC: wqsim::fuzz::CountingAlloc = wqsim::fuzz::CountingAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| wqsim::fuzz::fuzz_entry(wqsim::fuzz::Target::Frontend, data));
