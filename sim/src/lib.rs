//! wqsim: runs the notification-queue model and reports verdicts.
//!
//! The scenario file is the only unit of work: `check`, `run`, `explore`,
//! `replay`, `minimize`, `matrix`, `selfcheck` and the fuzz conversion all
//! take scenarios (`scenarios/`), and every failure prints one replay
//! token (`wq1:`).

// The commands (`cmd`) name this crate as their users do.
extern crate self as wqsim;

pub mod bench;
pub mod catalog;
pub mod cmd;
pub mod drive;
pub mod env;
pub mod error;
pub mod exit;
pub mod explore;
#[cfg(not(loom))]
pub mod fuzz;
pub mod kmap;
pub mod matrix;
pub mod minimize;
pub mod mutate;
pub mod qemu;
pub mod render;
pub mod run;
pub mod scenario;
pub mod selfcheck;
pub mod timeline;

pub use selfcheck::{Row, check_entry, render, selfcheck};
