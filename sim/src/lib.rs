//! wqsim: runs the notification-queue model and reports verdicts.
//!
//! `selfcheck` runs every catalog trigger with its switch off (the fixed
//! kernel must hold) and on (the oracle must report the catalog's
//! invariant) and prints a verdict table; `explore` and `replay` run race
//! families under the explorers; `matrix` measures the detection matrix.

// The commands (`cmd`) name this crate as their users do.
extern crate self as wqsim;

pub mod cli;
pub mod cmd;
pub mod env;
pub mod exit;
pub mod explore;
#[cfg(not(loom))]
pub mod fuzz;
pub mod matrix;
pub mod qemu;
pub mod run;
pub mod scenario;
#[cfg(not(loom))]
pub mod selfcheck;
pub mod timeline;

#[cfg(not(loom))]
pub use selfcheck::{Row, check_entry, render, run_program, selfcheck};
