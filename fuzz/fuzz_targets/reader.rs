//! Read sizes, blocking and non-blocking reads against bursts of posts
//! and loss on one watched queue, under the schedule the input spells.
//! `WQSIM_FUZZ_BUGS` turns catalog switches on.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wqsim::fuzz::fuzz_entry(wqsim::fuzz::Target::Reader, data));
