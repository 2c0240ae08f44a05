//! The real kernel as oracle: the same scenarios run through real system
//! calls on a small Linux kernel booted under qemu, and the record streams
//! are compared with the model's.
//!
//! - [`program`]: the text the host hands the guest (which operations to
//!   run, with which credentials and limits) and the lines the guest
//!   prints back.
//! - [`guest`]: the runner inside the virtual machine (`wqsim-guest`, a
//!   static binary that is the machine's `/init`).
//! - [`streams`]: the checks applied to record streams the real kernel
//!   produced under concurrency (torn, duplicated, unaccounted records;
//!   losses without a loss record).
//! - [`host`]: `wqsim kernel-check`: picks the scenarios, packs the
//!   initramfs, boots qemu, compares, prints the table.
//! - [`repro`]: `wqsim kernel-repro`: the findings reproduced on the real
//!   kernel and on the same source with their patches, and
//!   [`repro_guest`], the reproducers the guest runs.

#[cfg(target_os = "linux")]
pub mod guest;
#[cfg(not(loom))]
pub mod host;
pub mod program;
pub mod repro;
#[cfg(target_os = "linux")]
pub mod repro_guest;
pub mod streams;
