//! The patch series' event sources (ver #1's devices, ver #5's mounts and
//! superblocks) in threads around one watched queue, under the schedule
//! the rest of the input spells, checked by the oracle (the mount
//! mirror included). `WQSIM_FUZZ_BUGS` turns catalog switches on.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wqsim::fuzz::fuzz_entry(wqsim::fuzz::Target::Sources, data));
