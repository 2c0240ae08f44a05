//! Scenario files (`scenarios/*.wq`): a situation a reviewer writes down in
//! a few lines, and what must come of it.
//!
//! ```text
//! # W12: pipe_resize_ring without the ring lock (CVE-2022-2959).
//! base fixed
//! bugs W12
//!
//! setup:
//!     pipe2 p0 O_NOTIFICATION_PIPE
//!     add_key k0 "user" "k" "x" @s
//!     watch_key k0 p0.r 1
//!
//! thread sizer:
//!     ioctl p0.r SET_SIZE 1
//! thread poster:
//!     update k0 "a"
//!
//! run pct iterations=10000 expect H1
//! run pct without W12 expect holds
//! ```
//!
//! Operations are written as `wqsim` prints them ([`Op`]'s `Display`), so a
//! timeline, a transcript and a minimised scenario all read the same way.
//! Errors name the file, line and column, show the line, and give a hint.
//!
//! The language in parts: [`lex`] splits a line into tokens, [`ops`] reads
//! one operation and its operands, [`parse`] reads a file (its blocks, run
//! lines and the checks across them), [`write`] writes a scenario back in
//! the canonical layout; this module holds the types and how a scenario
//! becomes the model's program ([`Scenario::config`], [`Scenario::program`]).

use std::fmt;

use wqsim_model::Inv;
use wqsim_model::api::{End, FdRef, IoctlReq, KeyRef, Op, OpenKind};
use wqsim_model::bugs::Bug;
use wqsim_model::errno::Errno;
use wqsim_model::kernel::{Config, Variant};
use wqsim_model::lsm::LsmModule;
use wqsim_model::uapi::{self, WatchNotificationTypeFilter};

use crate::explore::{Base, Kind};

mod files;
mod lex;
mod ops;
mod parse;
mod write;

pub use files::{collect, load};
use lex::*;
use ops::*;
pub use ops::{closest_name, parse_op_text, parse_run_text, positioned};
use parse::*;
pub use parse::{parse, parse_bytes};
pub use write::{from_program, run_line, run_line_text, settings_of};

/// One operation and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub op: Op,
    pub line: usize,
    /// What the operation must return in a sequential run, as `wqsim`
    /// prints outcomes (`op => EBUSY`, `read p0.r 4096 => [meta.loss]`).
    pub expect: Option<String>,
}

/// A thread of the scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    pub name: String,
    /// May sleep with nothing left to wake it (`thread reader (blocking):`).
    pub blocking: bool,
    pub steps: Vec<Step>,
    pub line: usize,
}

/// One directive of an explicit schedule: run `thread` until it enters
/// the kernel function `until` (or, without one, until it ends or sleeps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub thread: String,
    pub until: Option<String>,
    pub line: usize,
}

/// What a run must give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Holds,
    Violation(Inv),
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Holds => f.write_str("holds"),
            Expect::Violation(i) => write!(f, "{i}"),
        }
    }
}

/// A driver of a `run` line: an explorer, or the scenario's own schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    Explorer(Kind),
    Schedule,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::Explorer(k) => k.name(),
            Driver::Schedule => "schedule",
        }
    }
}

/// A `run` line: a driver, its bounds, switches turned off for this run,
/// and the expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    pub driver: Driver,
    pub iterations: usize,
    pub seed: u64,
    pub depth: usize,
    pub preemptions: Option<usize>,
    /// Budgets of this run (`None`: the command's defaults; see
    /// [`RunLimits`]).
    pub limits: RunLimits,
    pub without: Vec<Bug>,
    pub expect: Expect,
    pub line: usize,
}

/// The budgets a `run` line may set: `steps_max=N` (scheduling steps of
/// one execution), `time_limit_ms=N` (the whole run), `memory_limit_mib=N`
/// (the process's heap). A run that exceeds one ends with the verdict
/// `budget`, naming what was exceeded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunLimits {
    pub steps_max: Option<u64>,
    pub time_limit_ms: Option<u64>,
    pub memory_limit_mib: Option<u64>,
}

impl RunLimits {
    /// These limits, each unset one taken from `defaults`.
    pub fn or(self, defaults: RunLimits) -> RunLimits {
        RunLimits {
            steps_max: self.steps_max.or(defaults.steps_max),
            time_limit_ms: self.time_limit_ms.or(defaults.time_limit_ms),
            memory_limit_mib: self.memory_limit_mib.or(defaults.memory_limit_mib),
        }
    }

    /// The model explorer's limits.
    pub fn model(self) -> wqsim_model::explore::Limits {
        wqsim_model::explore::Limits {
            steps_max: self.steps_max.unwrap_or(wqsim_model::explore::Limits::STEPS_MAX_DEFAULT),
            time_limit_ms: self.time_limit_ms,
            memory_limit_bytes: self.memory_limit_mib.map(|m| m << 20),
        }
    }
}

/// The accepted range of each numeric run option: name, lowest, highest,
/// what it bounds.
pub const RUN_OPTIONS: &[(&str, u64, u64, &str)] = &[
    ("iterations", 1, 1_000_000_000, "schedules for random and pct, the cap for dfs"),
    ("seed", 0, u64::MAX, "the seed of random and pct"),
    ("depth", 1, 64, "pct's bug depth"),
    ("preemptions", 0, 10, "loom's preemption bound"),
    ("steps_max", 1_000, 1_000_000_000_000, "scheduling steps one execution may take"),
    ("time_limit_ms", 1, 86_400_000, "milliseconds the whole run may take"),
    ("memory_limit_mib", 16, 1 << 20, "MiB the process's heap may hold"),
];

/// The accepted range of each numeric `config` setting: name, lowest,
/// highest, why the bounds.
pub const CONFIG_RANGES: &[(&str, u64, u64, &str)] = &[
    ("page_size", 4096, 65536, "a power of two: PAGE_SIZE of the kernels the model covers (4 KiB to 64 KiB)"),
    (
        "pipe_max_size",
        4096,
        1 << 26,
        "/proc/sys/fs/pipe-max-size; the model allocates every slot of a ring, so it stops at 64 MiB",
    ),
    ("pipe_user_pages_soft", 0, 1 << 32, "/proc/sys/fs/pipe-user-pages-soft (0: no limit)"),
    ("pipe_user_pages_hard", 0, 1 << 32, "/proc/sys/fs/pipe-user-pages-hard (0: no limit)"),
    (
        "rlimit_nofile",
        0,
        65536,
        "RLIMIT_NOFILE; the model's file table stops at 65536 (the kernel's nr_open is 1048576)",
    ),
    ("uid", 0, 4_294_967_294, "a uid_t; 4294967295 is (uid_t)-1, which no task has"),
    ("pipe_index_bits", 16, 32, "16 (32-bit kernels) or 32 (64-bit kernels)"),
    ("pipe_initial_index", 0, u32::MAX as u64, "below 2^pipe_index_bits"),
    (
        "key_gc_delay",
        1,
        i32::MAX as u64,
        "/proc/sys/kernel/keys/gc_delay: seconds from a key's expiry or revocation to its reaping (default 300)",
    ),
    (
        "key_quota_maxkeys",
        1,
        i32::MAX as u64,
        "/proc/sys/kernel/keys/maxkeys: the keys a user other than root may own (default 200)",
    ),
    (
        "key_quota_maxbytes",
        1,
        i32::MAX as u64,
        "/proc/sys/kernel/keys/maxbytes: the bytes a user other than root may own (default 20000)",
    ),
    (
        "key_quota_root_maxkeys",
        1,
        i32::MAX as u64,
        "/proc/sys/kernel/keys/root_maxkeys: the keys root may own (default 1000000)",
    ),
    (
        "key_quota_root_maxbytes",
        1,
        i32::MAX as u64,
        "/proc/sys/kernel/keys/root_maxbytes: the bytes root may own (default 25000000)",
    ),
];

/// The largest scenario file, in bytes.
pub const FILE_BYTES_MAX: usize = 1 << 20;

/// The most operations a scenario may hold once `repeat`s are expanded.
pub const OPERATIONS_MAX: usize = 100_000;

/// The largest `repeat` count.
pub const REPEAT_MAX: u64 = 4096;

/// The most threads a scenario may have: each is a task of the explorers
/// with its own stack.
pub const THREADS_MAX: usize = 16;

/// The most threads a scenario with a `run loom` line may have: loom
/// tracks at most 5 threads, and the driver is one of them.
pub const LOOM_THREADS_MAX: usize = 4;

/// A parsed scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The file it came from, as given.
    pub path: String,
    /// FNV-1a of the file's bytes (replay tokens pin it).
    pub hash: u64,
    /// The leading comment, without `#`.
    pub about: Vec<String>,
    pub variant: Variant,
    pub base: Base,
    pub bugs: Vec<Bug>,
    /// `config` settings in file order (applied by [`Scenario::config`]).
    pub settings: Vec<(String, u64)>,
    pub deny_watch_key: Vec<String>,
    /// `lsm smack|selinux` and their rules.
    pub lsm_module: wqsim_model::lsm::LsmModule,
    pub setup: Vec<Step>,
    pub threads: Vec<Thread>,
    pub schedule: Option<Vec<Directive>>,
    pub runs: Vec<RunSpec>,
}

/// A parse error with its place and a hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub path: String,
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    /// How many characters to underline.
    pub len: usize,
    pub message: String,
    pub hint: Option<String>,
    pub source_line: String,
}

/// `s` with control characters written as escapes (`\x00`, `\u{202e}`),
/// so a message never puts raw control bytes on a terminal.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_control(c) {
            if (c as u32) < 0x100 {
                out += &format!("\\x{:02x}", c as u32);
            } else {
                out += &format!("\\u{{{:04x}}}", c as u32);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters a scenario may not hold raw: C0 and C1 controls (tab aside,
/// which has its own message), DEL, and the Unicode format characters
/// that reorder or hide text on a terminal (bidi overrides, zero-width).
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.line.to_string();
        let pad = " ".repeat(n.len());
        writeln!(f, "error: {}", visible(&self.message))?;
        writeln!(f, "{pad}--> {}:{}:{}", visible(&self.path), self.line, self.col)?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{n} | {}", visible(&self.source_line))?;
        // The caret sits under the escaped text.
        let before: String = self.source_line.chars().take(self.col.saturating_sub(1)).collect();
        let span: String = self.source_line.chars().skip(self.col.saturating_sub(1)).take(self.len.max(1)).collect();
        let width = visible(&span).chars().count().max(1);
        // A caret past the end of the line (a missing operand) stays there.
        let past_end = self.col.saturating_sub(1).saturating_sub(self.source_line.chars().count());
        let under = " ".repeat(visible(&before).chars().count() + past_end) + &"^".repeat(width);
        write!(f, "{pad} | {under}")?;
        if let Some(h) = &self.hint {
            write!(f, "\n{pad} = hint: {h}")?;
        }
        Ok(())
    }
}

/// FNV-1a, 64 bits: a content hash that is the same on every machine.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Scenario {
    /// The configuration of a run: the base, the settings, the switches,
    /// less the run's `without`.
    pub fn config(&self, run: Option<&RunSpec>) -> Config {
        let mut c = Config { bugs: self.base.bugs(), ..Config::default() };
        c.variant = self.variant;
        for (k, v) in &self.settings {
            match k.as_str() {
                "page_size" => c.page_size = *v as u32,
                "pipe_max_size" => c.pipe_max_size = *v as u32,
                "pipe_user_pages_soft" => c.pipe_user_pages_soft = *v,
                "pipe_user_pages_hard" => c.pipe_user_pages_hard = *v,
                "rlimit_nofile" => c.rlimit_nofile = *v,
                "uid" => c.uid = *v as u32,
                "privileged" => c.privileged = *v != 0,
                "pipe_index_bits" => c.pipe_index_bits = *v as u32,
                "pipe_initial_index" => c.pipe_initial_index = *v as u32,
                "key_gc_delay" => c.key_gc_delay = *v,
                "key_quota_maxkeys" => c.key_quota_maxkeys = *v as u32,
                "key_quota_maxbytes" => c.key_quota_maxbytes = *v as u32,
                "key_quota_root_maxkeys" => c.key_quota_root_maxkeys = *v as u32,
                "key_quota_root_maxbytes" => c.key_quota_root_maxbytes = *v as u32,
                _ => {}
            }
        }
        c.lsm.deny_watch_key = self.deny_watch_key.clone();
        c.lsm.module = self.lsm_module.clone();
        for b in &self.bugs {
            c = c.with_bug(*b);
        }
        if let Some(r) = run {
            let mut on = c.bugs.list();
            on.retain(|b| !r.without.contains(b));
            c.bugs = on.into_iter().fold(wqsim_model::bugs::BugSet::none(), |s, b| s.with(b));
        }
        c
    }

    /// The program of a run.
    pub fn program(&self, run: Option<&RunSpec>) -> wqsim_model::conc::Program {
        use wqsim_model::conc::{Actor, Program};
        Program {
            config: self.config(run),
            setup: self.setup.iter().map(|s| s.op.clone()).collect(),
            actors: self
                .threads
                .iter()
                .map(|t| {
                    let ops = t.steps.iter().map(|s| s.op.clone()).collect();
                    if t.blocking { Actor::blocking(&t.name, ops) } else { Actor::new(&t.name, ops) }
                })
                .collect(),
        }
    }
}
