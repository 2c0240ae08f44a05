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

use std::fmt;

use wqsim_model::Inv;
use wqsim_model::api::{End, FdRef, IoctlReq, KeyRef, Op};
use wqsim_model::bugs::Bug;
use wqsim_model::errno::Errno;
use wqsim_model::kernel::{Config, Variant};
use wqsim_model::uapi::{self, WatchNotificationTypeFilter};

use crate::explore::{Base, Kind};

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

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

/// A token of a line: its text and its 1-based column.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tok {
    text: String,
    col: usize,
    /// Characters the token spans in the source (quotes included).
    width: usize,
    /// A quoted string (its text is unescaped).
    quoted: bool,
}

struct Line<'a> {
    path: &'a str,
    no: usize,
    src: &'a str,
}

impl Line<'_> {
    fn err(&self, col: usize, len: usize, message: impl Into<String>, hint: Option<String>) -> ParseError {
        ParseError {
            path: self.path.to_string(),
            line: self.no,
            col,
            len,
            message: message.into(),
            hint,
            source_line: self.src.to_string(),
        }
    }
    fn err_at(&self, t: &Tok, message: impl Into<String>, hint: Option<String>) -> ParseError {
        self.err(t.col, t.width, message, hint)
    }
}

/// Split a line into tokens: words, `"quoted strings"` (escapes `\"`,
/// `\\`, `\n`, `\xNN`), `{...}` groups and `repeat(...)` as one token each.
/// A `#` outside quotes starts a comment.
fn tokenize(line: &Line<'_>) -> Result<Vec<Tok>, ParseError> {
    let chars: Vec<char> = line.src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            break;
        }
        let start = i;
        if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(&c) = chars.get(i) else {
                    return Err(line.err(
                        start + 1,
                        chars.len() - start,
                        "unterminated string",
                        Some("close it with `\"`".into()),
                    ));
                };
                match c {
                    '"' => {
                        i += 1;
                        break;
                    }
                    '\\' => {
                        let e = chars.get(i + 1).copied();
                        match e {
                            Some('"') => s.push('"'),
                            Some('\\') => s.push('\\'),
                            Some('n') => s.push('\n'),
                            Some('x') => {
                                let hex: String = chars.iter().skip(i + 2).take(2).collect();
                                let Ok(v) = u8::from_str_radix(&hex, 16) else {
                                    return Err(line.err(
                                        i + 1,
                                        4,
                                        "bad `\\x` escape",
                                        Some("write two hex digits: `\\x0a`".into()),
                                    ));
                                };
                                s.push(v as char);
                                i += 2;
                            }
                            _ => {
                                return Err(line.err(
                                    i + 1,
                                    2,
                                    "unknown escape",
                                    Some("strings know `\\\"`, `\\\\`, `\\n` and `\\xNN`".into()),
                                ));
                            }
                        }
                        i += 2;
                    }
                    c => {
                        s.push(c);
                        i += 1;
                    }
                }
            }
            toks.push(Tok { text: s, col: start + 1, width: i - start, quoted: true });
            continue;
        }
        let closer = if c == '{' {
            Some('}')
        } else if chars[i..].iter().collect::<String>().starts_with("repeat(") {
            Some(')')
        } else {
            None
        };
        if let Some(close) = closer {
            while i < chars.len() && chars[i] != close {
                i += 1;
            }
            if i == chars.len() {
                return Err(line.err(
                    start + 1,
                    chars.len() - start,
                    format!("unclosed `{}`", if close == ')' { "repeat(" } else { "{" }),
                    Some(format!("close it with `{close}`")),
                ));
            }
            i += 1;
        } else {
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '#' {
                i += 1;
            }
        }
        let text: String = chars[start..i].iter().collect();
        toks.push(Tok { text, col: start + 1, width: i - start, quoted: false });
    }
    Ok(toks)
}

// ---------------------------------------------------------------------------
// Operands
// ---------------------------------------------------------------------------

fn closest<'a>(word: &str, choices: &[&'a str]) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for i in 1..=a.len() {
            let mut cur = vec![i; b.len() + 1];
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            }
            prev = cur;
        }
        prev[b.len()]
    }
    choices.iter().map(|c| (dist(word, c), *c)).filter(|(d, c)| *d <= 2.max(c.len() / 3)).min().map(|(_, c)| c)
}

/// The choice nearest `word` by edit distance, if one is near enough.
pub fn closest_name<'a>(word: &str, choices: &[&'a str]) -> Option<&'a str> {
    closest(word, choices)
}

/// A positioned error on line `line` of `sc`'s file, at the first `what`
/// on it, rendered as the parser renders its own.
pub fn positioned(sc: &Scenario, line: usize, what: &str, message: String, hint: String) -> String {
    let text = std::fs::read(&sc.path).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
    let src = text.lines().nth(line.wrapping_sub(1)).unwrap_or("").to_string();
    let col = src.find(what).map_or(1, |b| src[..b].chars().count() + 1);
    ParseError {
        path: sc.path.clone(),
        line,
        col,
        len: what.chars().count().max(1),
        message,
        hint: Some(hint),
        source_line: src,
    }
    .to_string()
}

fn did_you_mean(word: &str, choices: &[&str]) -> Option<String> {
    closest(word, choices).map(|c| format!("did you mean `{c}`?"))
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.replace('_', "");
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = s.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else {
        s.parse().ok()
    }
}

fn parse_i64(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(rest) => parse_u64(rest).and_then(|v| i64::try_from(v).ok()).map(|v| -v),
        None => parse_u64(s).and_then(|v| i64::try_from(v).ok()),
    }
}

/// Operands of one operation line, consumed left to right.
struct Args<'l, 'a> {
    line: &'l Line<'a>,
    toks: Vec<Tok>,
    at: usize,
    /// The operation's keyword and usage, for messages.
    op: Tok,
    usage: &'static str,
}

impl Args<'_, '_> {
    fn usage_hint(&self) -> Option<String> {
        Some(format!("usage: {}", self.usage))
    }
    fn next(&mut self, what: &str) -> Result<Tok, ParseError> {
        match self.toks.get(self.at) {
            Some(t) => {
                self.at += 1;
                Ok(t.clone())
            }
            None => {
                let end = self.toks.last().map_or(self.op.col + self.op.width, |t| t.col + t.width);
                Err(self.line.err(end + 1, 1, format!("`{}` needs {what}", self.op.text), self.usage_hint()))
            }
        }
    }
    fn optional(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        if t.is_some() {
            self.at += 1;
        }
        t
    }
    fn done(&self) -> Result<(), ParseError> {
        match self.toks.get(self.at) {
            None => Ok(()),
            Some(t) => {
                Err(self.line.err_at(t, format!("unexpected `{}` after `{}`", t.text, self.op.text), self.usage_hint()))
            }
        }
    }
    fn num<T: TryFrom<u64>>(&mut self, what: &str) -> Result<T, ParseError> {
        let t = self.next(what)?;
        parse_u64(&t.text).and_then(|v| T::try_from(v).ok()).ok_or_else(|| {
            self.line.err_at(
                &t,
                format!("expected {what}, found `{}`", t.text),
                Some("write a number: `4096`, `0x1000`".into()),
            )
        })
    }
    fn int(&mut self, what: &str) -> Result<i32, ParseError> {
        let t = self.next(what)?;
        parse_i64(&t.text).and_then(|v| i32::try_from(v).ok()).ok_or_else(|| {
            self.line.err_at(
                &t,
                format!("expected {what}, found `{}`", t.text),
                Some("write a number such as `-1` or `0`".into()),
            )
        })
    }
    fn fd(&mut self) -> Result<FdRef, ParseError> {
        let t = self.next("a file descriptor")?;
        parse_fd(&t.text).ok_or_else(|| {
            self.line.err_at(
                &t,
                format!("expected a file descriptor, found `{}`", t.text),
                Some("write `p0.r` (read end of pipe p0), `p0.w` (write end) or `fd:7` (a raw number)".into()),
            )
        })
    }
    fn key(&mut self) -> Result<KeyRef, ParseError> {
        let t = self.next("a key")?;
        parse_key(&t.text).ok_or_else(|| {
            self.line.err_at(
                &t,
                format!("expected a key, found `{}`", t.text),
                Some(
                    "write `k0` (the key added as k0), `@s`, `@u`, `@us`, `@t`, `@p` or `key:123` (a raw serial)"
                        .into(),
                ),
            )
        })
    }
    fn slot(&mut self, prefix: char, what: &str) -> Result<u8, ParseError> {
        let t = self.next(what)?;
        t.text.strip_prefix(prefix).and_then(|n| n.parse::<u8>().ok()).ok_or_else(|| {
            self.line.err_at(
                &t,
                format!("expected {what}, found `{}`", t.text),
                Some(format!("write `{prefix}0` .. `{prefix}255`")),
            )
        })
    }
    fn string(&mut self, what: &str) -> Result<String, ParseError> {
        let t = self.next(what)?;
        if !t.quoted {
            return Err(self.line.err_at(
                &t,
                format!("expected {what} in quotes, found `{}`", t.text),
                Some(format!("write \"{}\"", t.text)),
            ));
        }
        Ok(t.text)
    }
    fn data(&mut self) -> Result<Vec<u8>, ParseError> {
        let t = self.next("data")?;
        parse_data(&t)
            .map_err(|m| self.line.err_at(&t, m, Some("data is \"text\", hex:0a0b or repeat(0x5a, 4096)".into())))
    }
}

fn parse_fd(s: &str) -> Option<FdRef> {
    if let Some(n) = s.strip_prefix("fd:") {
        return parse_i64(n).and_then(|v| i32::try_from(v).ok()).map(FdRef::Raw);
    }
    let rest = s.strip_prefix('p')?;
    let (n, end) = rest.split_once('.')?;
    let n: u8 = n.parse().ok()?;
    match end {
        "r" => Some(FdRef::End(n, End::Read)),
        "w" => Some(FdRef::End(n, End::Write)),
        _ => None,
    }
}

fn parse_key(s: &str) -> Option<KeyRef> {
    match s {
        "@s" => return Some(KeyRef::Session),
        "@u" => return Some(KeyRef::User),
        "@t" => return Some(KeyRef::Raw(uapi::KEY_SPEC_THREAD_KEYRING)),
        "@p" => return Some(KeyRef::Raw(uapi::KEY_SPEC_PROCESS_KEYRING)),
        "@us" => return Some(KeyRef::Raw(uapi::KEY_SPEC_USER_SESSION_KEYRING)),
        _ => {}
    }
    if let Some(n) = s.strip_prefix("key:") {
        return parse_i64(n).and_then(|v| i32::try_from(v).ok()).map(KeyRef::Raw);
    }
    s.strip_prefix('k')?.parse::<u8>().ok().map(KeyRef::Slot)
}

fn parse_data(t: &Tok) -> Result<Vec<u8>, String> {
    if t.quoted {
        return Ok(t.text.chars().map(|c| c as u32 as u8).collect());
    }
    if let Some(h) = t.text.strip_prefix("hex:") {
        if h.len() % 2 != 0 {
            return Err(format!("`{}` has an odd number of hex digits", t.text));
        }
        return (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).map_err(|_| format!("`{}` is not hex", &h[i..i + 2])))
            .collect();
    }
    if let Some(inner) = t.text.strip_prefix("repeat(").and_then(|r| r.strip_suffix(')')) {
        let (b, n) = inner.split_once(',').ok_or("repeat needs a byte and a count: repeat(0x5a, 4096)")?;
        let b = parse_u64(b.trim()).and_then(|b| u8::try_from(b).ok()).ok_or("repeat's byte must be 0..255")?;
        let n = parse_u64(n.trim()).ok_or("repeat's count must be a number")?;
        if n > 1 << 20 {
            return Err(format!("repeat count {n} is larger than 1 MiB"));
        }
        return Ok(vec![b; n as usize]);
    }
    Err(format!("expected data, found `{}`", t.text))
}

fn parse_flags(s: &str, names: &[(u32, &str)]) -> Result<u32, String> {
    let mut v = 0;
    for part in s.split('|') {
        if let Some((bit, _)) = names.iter().find(|(_, n)| *n == part) {
            v |= bit;
        } else if let Some(n) = parse_u64(part).and_then(|n| u32::try_from(n).ok()) {
            v |= n;
        } else {
            let all: Vec<&str> = names.iter().map(|(_, n)| *n).collect();
            return Err(match closest(part, &all) {
                Some(c) => format!("unknown flag `{part}`; did you mean `{c}`?"),
                None => format!("unknown flag `{part}`; flags are {}, or a number", all.join(", ")),
            });
        }
    }
    Ok(v)
}

const OPEN_FLAGS: [(u32, &str); 4] = [
    (uapi::O_NOTIFICATION_PIPE, "O_NOTIFICATION_PIPE"),
    (uapi::O_NONBLOCK, "O_NONBLOCK"),
    (uapi::O_DIRECT, "O_DIRECT"),
    (uapi::O_CLOEXEC, "O_CLOEXEC"),
];
const SPLICE_FLAGS: [(u32, &str); 4] =
    [(0x01, "SPLICE_F_MOVE"), (0x02, "SPLICE_F_NONBLOCK"), (0x04, "SPLICE_F_MORE"), (0x08, "SPLICE_F_GIFT")];

/// `{type=key subtypes=updated,linked info_filter=0 info_mask=0}` groups.
fn parse_filter_groups(groups: &[Tok], line: &Line<'_>) -> Result<Vec<u8>, ParseError> {
    let mut filters = Vec::new();
    for g in groups {
        let inner = g.text.trim_start_matches('{').trim_end_matches('}');
        let mut f = WatchNotificationTypeFilter::default();
        let mut have_type = false;
        for field in inner.split_whitespace() {
            let bad = |m: String, h: &str| line.err_at(g, m, Some(h.to_string()));
            let Some((k, v)) = field.split_once('=') else {
                return Err(bad(
                    format!("filter field `{field}` has no value"),
                    "write key=value: type=key subtypes=updated",
                ));
            };
            match k {
                "type" => {
                    f.type_ = match v {
                        "key" => uapi::WATCH_TYPE_KEY_NOTIFY,
                        "meta" => uapi::WATCH_TYPE_META,
                        n => parse_u64(n).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                            bad(format!("unknown watch type `{n}`"), "types are key, meta or a number")
                        })?,
                    };
                    have_type = true;
                }
                "subtypes" => {
                    let names = wqsim_model::api::subtype_names(f.type_);
                    for s in v.split(',') {
                        if s == "all" {
                            f.subtype_filter[0] = u32::MAX;
                            continue;
                        }
                        let bit = match names.iter().position(|n| *n == s) {
                            Some(b) => b as u32,
                            None => parse_u64(s).and_then(|b| u32::try_from(b).ok()).filter(|b| *b < 256).ok_or_else(
                                || {
                                    let h = if names.is_empty() {
                                        "write subtype numbers (0..255); put type= first to use names".to_string()
                                    } else {
                                        format!("subtypes of this type: {}", names.join(", "))
                                    };
                                    bad(format!("unknown subtype `{s}`"), &h)
                                },
                            )?,
                        };
                        f.subtype_filter[(bit / 32) as usize] |= 1 << (bit % 32);
                    }
                }
                "info_filter" | "info_mask" => {
                    let n = parse_u64(v)
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| bad(format!("`{k}` needs a 32-bit number, found `{v}`"), "write 0x1234"))?;
                    if k == "info_filter" {
                        f.info_filter = n;
                    } else {
                        f.info_mask = n;
                    }
                }
                other => {
                    let h = did_you_mean(other, &["type", "subtypes", "info_filter", "info_mask"])
                        .unwrap_or_else(|| "fields are type, subtypes, info_filter, info_mask".into());
                    return Err(bad(format!("unknown filter field `{other}`"), &h));
                }
            }
        }
        if !have_type {
            return Err(line.err_at(g, "a filter entry needs a type", Some("write {type=key ...}".into())));
        }
        filters.push(f);
    }
    Ok(uapi::encode_filter(0, &filters))
}

const OPS: &[(&str, &str)] = &[
    ("pipe2", "pipe2 pN FLAGS"),
    ("close", "close FD"),
    ("read", "read FD LEN"),
    ("write", "write FD DATA"),
    (
        "ioctl",
        "ioctl FD FIONREAD | FIONBIO on|off | SET_SIZE N | SET_FILTER {...}... | SET_FILTER null | SET_FILTER hex:.. | NUMBER",
    ),
    ("fcntl", "fcntl FD F_SETPIPE_SZ|F_GETPIPE_SZ|F_GETFL|F_SETFL|NUMBER ARG"),
    ("poll", "poll FD"),
    ("splice", "splice FD_IN FD_OUT LEN FLAGS"),
    ("tee", "tee FD_IN FD_OUT LEN FLAGS"),
    ("vmsplice", "vmsplice FD LEN FLAGS"),
    ("add_key", "add_key kN \"TYPE\" \"DESCRIPTION\" DATA KEYRING"),
    ("request_key", "request_key kN \"TYPE\" \"DESCRIPTION\" KEYRING"),
    ("update", "update KEY DATA"),
    ("revoke", "revoke KEY"),
    ("invalidate", "invalidate KEY"),
    ("clear", "clear KEYRING"),
    ("link", "link KEY KEYRING"),
    ("unlink", "unlink KEY KEYRING"),
    ("chown", "chown KEY UID GID"),
    ("setperm", "setperm KEY PERM"),
    ("set_timeout", "set_timeout KEY SECONDS"),
    ("instantiate", "instantiate KEY DATA [KEYRING]"),
    ("reject", "reject KEY TIMEOUT ERRNO [KEYRING]"),
    ("watch_key", "watch_key KEY FD TAG"),
    ("fail_nth", "fail_nth N"),
    ("key_gc", "key_gc"),
];

/// Parse one operation from its tokens.
fn parse_op(toks: Vec<Tok>, line: &Line<'_>) -> Result<Op, ParseError> {
    let op = toks[0].clone();
    let Some((_, usage)) = OPS.iter().find(|(n, _)| *n == op.text) else {
        let names: Vec<&str> = OPS.iter().map(|(n, _)| *n).collect();
        let hint = did_you_mean(&op.text, &names).unwrap_or_else(|| format!("operations are: {}", names.join(", ")));
        return Err(line.err_at(&op, format!("unknown operation `{}`", op.text), Some(hint)));
    };
    let mut a = Args { line, toks: toks[1..].to_vec(), at: 0, op: op.clone(), usage };
    let opt_key = |a: &mut Args<'_, '_>| -> Result<Option<KeyRef>, ParseError> {
        match a.optional() {
            None => Ok(None),
            Some(t) => parse_key(&t.text)
                .map(Some)
                .ok_or_else(|| a.line.err_at(&t, format!("expected a keyring, found `{}`", t.text), a.usage_hint())),
        }
    };
    let flags = |a: &mut Args<'_, '_>, names: &[(u32, &str)]| -> Result<u32, ParseError> {
        let t = a.next("flags")?;
        parse_flags(&t.text, names).map_err(|m| a.line.err_at(&t, m, Some("join flags with `|`; `0` for none".into())))
    };
    let out = match op.text.as_str() {
        "pipe2" => {
            let pipe = a.slot('p', "a pipe name")?;
            Op::Pipe2 { pipe, flags: flags(&mut a, &OPEN_FLAGS)? }
        }
        "close" => Op::Close { fd: a.fd()? },
        "read" => Op::Read { fd: a.fd()?, len: a.num("a length")? },
        "write" => Op::Write { fd: a.fd()?, data: a.data()? },
        "ioctl" => {
            let fd = a.fd()?;
            let t = a.next("a request")?;
            let req = match t.text.as_str() {
                "FIONREAD" => IoctlReq::Fionread,
                "FIONBIO" => {
                    let v = a.next("on or off")?;
                    match v.text.as_str() {
                        "on" => IoctlReq::Fionbio(true),
                        "off" => IoctlReq::Fionbio(false),
                        _ => return Err(line.err_at(&v, format!("expected on or off, found `{}`", v.text), None)),
                    }
                }
                "SET_SIZE" => IoctlReq::SetSize(a.num("a note count")?),
                "SET_FILTER" => {
                    let first = a.next("a filter")?;
                    if first.text == "null" && !first.quoted {
                        IoctlReq::SetFilter(None)
                    } else if first.text.starts_with('{') {
                        let mut groups = vec![first];
                        while let Some(g) = a.optional() {
                            if !g.text.starts_with('{') {
                                return Err(line.err_at(
                                    &g,
                                    format!("expected another {{...}} filter entry, found `{}`", g.text),
                                    None,
                                ));
                            }
                            groups.push(g);
                        }
                        IoctlReq::SetFilter(Some(parse_filter_groups(&groups, line)?))
                    } else {
                        let b = parse_data(&first).map_err(|m| {
                            line.err_at(
                                &first,
                                m,
                                Some("a filter is {type=key subtypes=updated}..., null, or raw bytes (hex:..)".into()),
                            )
                        })?;
                        IoctlReq::SetFilter(Some(b))
                    }
                }
                other => match parse_u64(other).and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => IoctlReq::Other(n),
                    None => {
                        let hint = did_you_mean(other, &["FIONREAD", "FIONBIO", "SET_SIZE", "SET_FILTER"])
                            .unwrap_or_else(|| {
                                "requests are FIONREAD, FIONBIO, SET_SIZE, SET_FILTER or a number".into()
                            });
                        return Err(line.err_at(&t, format!("unknown ioctl request `{other}`"), Some(hint)));
                    }
                },
            };
            Op::Ioctl { fd, req }
        }
        "fcntl" => {
            let fd = a.fd()?;
            let t = a.next("a command")?;
            let cmd = match t.text.as_str() {
                "F_GETFL" => 3,
                "F_SETFL" => 4,
                "F_SETPIPE_SZ" => uapi::F_SETPIPE_SZ,
                "F_GETPIPE_SZ" => uapi::F_GETPIPE_SZ,
                other => parse_u64(other).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                    let hint = did_you_mean(other, &["F_GETFL", "F_SETFL", "F_SETPIPE_SZ", "F_GETPIPE_SZ"]);
                    line.err_at(&t, format!("unknown fcntl command `{other}`"), hint)
                })?,
            };
            let arg = if cmd == 4 {
                let f = a.next("flags")?;
                parse_flags(&f.text, &OPEN_FLAGS).map_err(|m| line.err_at(&f, m, None))?
            } else {
                a.num("an argument")?
            };
            Op::Fcntl { fd, cmd, arg }
        }
        "poll" => Op::Poll { fd: a.fd()? },
        "splice" => Op::Splice {
            fd_in: a.fd()?,
            fd_out: a.fd()?,
            len: a.num("a length")?,
            flags: flags(&mut a, &SPLICE_FLAGS)?,
        },
        "tee" => {
            Op::Tee { fd_in: a.fd()?, fd_out: a.fd()?, len: a.num("a length")?, flags: flags(&mut a, &SPLICE_FLAGS)? }
        }
        "vmsplice" => Op::Vmsplice { fd: a.fd()?, len: a.num("a length")?, flags: flags(&mut a, &SPLICE_FLAGS)? },
        "add_key" => Op::AddKey {
            slot: a.slot('k', "a key name")?,
            type_: a.string("a key type")?,
            desc: a.string("a description")?,
            payload: a.data()?,
            keyring: a.key()?,
        },
        "request_key" => Op::RequestKey {
            slot: a.slot('k', "a key name")?,
            type_: a.string("a key type")?,
            desc: a.string("a description")?,
            dest: a.key()?,
        },
        "update" => Op::Update { key: a.key()?, payload: a.data()? },
        "revoke" => Op::Revoke { key: a.key()? },
        "invalidate" => Op::Invalidate { key: a.key()? },
        "clear" => Op::Clear { keyring: a.key()? },
        "link" => Op::Link { key: a.key()?, keyring: a.key()? },
        "unlink" => Op::Unlink { key: a.key()?, keyring: a.key()? },
        "chown" => Op::Chown { key: a.key()?, uid: a.int("a uid")?, gid: a.int("a gid")? },
        "setperm" => Op::Setperm { key: a.key()?, perm: a.num("a permission mask")? },
        "set_timeout" => Op::SetTimeout { key: a.key()?, secs: a.num("seconds")? },
        "instantiate" => Op::Instantiate { key: a.key()?, payload: a.data()?, keyring: opt_key(&mut a)? },
        "reject" => {
            let key = a.key()?;
            let timeout = a.num("a timeout")?;
            let e = a.next("an errno")?;
            let error = match Errno::from_name(&e.text) {
                Some(e) => e.number(),
                None => match parse_i64(&e.text).and_then(|v| i32::try_from(v).ok()) {
                    Some(n) => n,
                    None => {
                        return Err(line.err_at(
                            &e,
                            format!("unknown errno `{}`", e.text),
                            Some("write a name such as EKEYREJECTED".into()),
                        ));
                    }
                },
            };
            Op::Reject { key, timeout, error, keyring: opt_key(&mut a)? }
        }
        "watch_key" => Op::WatchKey { key: a.key()?, fd: a.fd()?, tag: a.int("a tag")? },
        "fail_nth" => Op::FailNth { n: a.num("a count")? },
        "key_gc" => Op::KeyGc,
        _ => unreachable!("every name in OPS has a parser"),
    };
    a.done()?;
    Ok(out)
}

/// Split `op ... => OUTCOME`: the operation's tokens and the expected
/// outcome's text (the rest of the line, comment removed).
fn split_expectation(toks: Vec<Tok>, line: &Line<'_>) -> Result<(Vec<Tok>, Option<String>), ParseError> {
    let Some(at) = toks.iter().position(|t| t.text == "=>" && !t.quoted) else {
        return Ok((toks, None));
    };
    let arrow = toks[at].clone();
    if at == 0 {
        return Err(line.err_at(&arrow, "`=>` needs an operation before it", None));
    }
    // The outcome is the raw text after the arrow (it may hold spaces).
    let chars: Vec<char> = line.src.chars().collect();
    let end = toks.last().map_or(chars.len(), |t| t.col - 1 + t.width);
    let text: String = chars[arrow.col + 1..end].iter().collect();
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(line.err(
            arrow.col + 2,
            1,
            "`=>` needs the outcome the operation must return",
            Some("write `=> 0`, `=> EBUSY` or `=> [key.updated(k0, tag=1)]`".into()),
        ));
    }
    Ok((toks[..at].to_vec(), Some(text)))
}

/// Parse one operation written as `wqsim` prints it (for tests and tools).
pub fn parse_op_text(text: &str) -> Result<Op, ParseError> {
    let line = Line { path: "<op>", no: 1, src: text };
    let toks = tokenize(&line)?;
    if toks.is_empty() {
        return Err(line.err(1, 1, "empty operation", None));
    }
    parse_op(toks, &line)
}

/// Parse a `run` line written as a scenario holds it (`run pct seed=2
/// without W13 expect holds`): the run of a replay token that names a run
/// given on the command line rather than a line of the file. Its `line`
/// is 0.
pub fn parse_run_text(text: &str) -> Result<RunSpec, ParseError> {
    let line = Line { path: "<run>", no: 0, src: text };
    let toks = tokenize(&line)?;
    match toks.split_first() {
        Some((kw, rest)) if kw.text == "run" => parse_run(rest, kw, &line),
        Some((kw, _)) => Err(line.err_at(kw, "expected `run`", None)),
        None => Err(line.err(1, 1, "empty run line", None)),
    }
}

// ---------------------------------------------------------------------------
// The file
// ---------------------------------------------------------------------------

const CONFIG_KEYS: &[&str] = &[
    "page_size",
    "pipe_max_size",
    "pipe_user_pages_soft",
    "pipe_user_pages_hard",
    "rlimit_nofile",
    "uid",
    "privileged",
    "pipe_index_bits",
    "pipe_initial_index",
];

const TOP: &[&str] = &["variant", "base", "bugs", "config", "lsm", "setup:", "thread", "schedule:", "run"];

enum Block {
    None,
    Setup,
    Thread(usize),
    Schedule,
}

/// Refuse a second value for a setting given once already (`what`), at
/// `t`; remember the first.
fn once(
    first_at: &mut std::collections::BTreeMap<String, (usize, usize)>,
    what: &str,
    line: &Line<'_>,
    t: &Tok,
) -> Result<(), ParseError> {
    if let Some((l, c)) = first_at.get(what) {
        return Err(line.err_at(
            t,
            format!("`{what}` is set twice (first at line {l}, column {c})"),
            Some("give each setting once; delete one of them".into()),
        ));
    }
    first_at.insert(what.to_string(), (line.no, t.col));
    Ok(())
}

/// Parse a scenario file's bytes: at most [`FILE_BYTES_MAX`], UTF-8 (a
/// bad byte is reported at its line and column), an optional byte-order
/// mark skipped.
pub fn parse_bytes(path: &str, bytes: &[u8]) -> Result<Scenario, ParseError> {
    let whole = |line: usize, message: String, hint: &str| ParseError {
        path: path.to_string(),
        line,
        col: 1,
        len: 1,
        message,
        hint: Some(hint.to_string()),
        source_line: String::new(),
    };
    if bytes.len() > FILE_BYTES_MAX {
        return Err(whole(
            1,
            format!("the file is {} bytes; a scenario is at most {FILE_BYTES_MAX} bytes (1 MiB)", bytes.len()),
            "one behaviour per file: split it, and use `repeat N OP` for long runs of one operation",
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() + 1;
            let start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            // The line up to the bad byte is valid UTF-8.
            let prefix = std::str::from_utf8(&bytes[start..e.valid_up_to()]).unwrap_or("");
            let col = prefix.chars().count() + 1;
            let bad = bytes[e.valid_up_to()];
            return Err(ParseError {
                path: path.to_string(),
                line,
                col,
                len: 1,
                message: format!("invalid UTF-8 (byte 0x{bad:02x})"),
                hint: Some("scenario files are UTF-8 text; write other bytes in strings as `\\xNN`".into()),
                source_line: prefix.to_string(),
            });
        }
    };
    parse(path, text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Parse a scenario. `path` is used in messages only.
pub fn parse(path: &str, text: &str) -> Result<Scenario, ParseError> {
    let mut sc = Scenario {
        path: path.to_string(),
        hash: fnv1a(text.as_bytes()),
        about: Vec::new(),
        variant: Variant::Upstream,
        base: Base::Kernel,
        bugs: Vec::new(),
        settings: Vec::new(),
        deny_watch_key: Vec::new(),
        setup: Vec::new(),
        threads: Vec::new(),
        schedule: None,
        runs: Vec::new(),
    };
    let mut block = Block::None;
    let mut in_header = true;
    let mut seen_setup = false;
    let mut total_ops = 0usize;
    // Where each single-valued setting was first given: a second one is
    // refused rather than silently winning.
    let mut first_at: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for (i, src) in text.lines().enumerate() {
        let line = Line { path, no: i + 1, src };
        let trimmed = src.trim();
        if let Some((col, c)) = src.chars().enumerate().find(|(_, c)| is_control(*c)) {
            return Err(line.err(
                col + 1,
                1,
                format!("a control character ({})", visible(&c.to_string())),
                Some("write it inside a string as `\\xNN`, or delete it".into()),
            ));
        }
        if in_header {
            if let Some(c) = trimmed.strip_prefix('#') {
                sc.about.push(c.strip_prefix(' ').unwrap_or(c).to_string());
                continue;
            }
            if !trimmed.is_empty() {
                in_header = false;
            }
        }
        if let Some((col, c)) = src.chars().enumerate().find(|(_, c)| is_control(*c)) {
            return Err(line.err(
                col + 1,
                1,
                format!("a control character ({})", visible(&c.to_string())),
                Some("write it inside a string as `\\xNN`, or delete it".into()),
            ));
        }
        if src.contains('\t') {
            let col = src.chars().position(|c| c == '\t').unwrap_or(0) + 1;
            return Err(line.err(col, 1, "a tab character", Some("indent with spaces".into())));
        }
        let toks = tokenize(&line)?;
        if toks.is_empty() {
            continue;
        }
        let indented = src.starts_with(' ');
        if indented {
            match block {
                Block::None => {
                    return Err(line.err_at(
                        &toks[0],
                        "an indented line outside a block",
                        Some("indented lines belong under `setup:`, `thread NAME:` or `schedule:`".into()),
                    ));
                }
                Block::Setup | Block::Thread(_) => {
                    let (mut toks, expect) = split_expectation(toks, &line)?;
                    // `repeat N OP`: the operation N times.
                    let mut times = 1;
                    if toks[0].text == "repeat" && !toks[0].quoted {
                        let n = toks.get(1).ok_or_else(|| {
                            line.err_at(
                                &toks[0],
                                "`repeat` needs a count and an operation",
                                Some("write `repeat 32 update k0 \"x\"`".into()),
                            )
                        })?;
                        times = parse_u64(&n.text).filter(|n| (1..=REPEAT_MAX).contains(n)).ok_or_else(|| {
                            line.err_at(
                                n,
                                format!("`{}` is not a repeat count", n.text),
                                Some(format!("write a count from 1 to {REPEAT_MAX}")),
                            )
                        })? as usize;
                        if toks.len() < 3 {
                            return Err(line.err_at(n, "`repeat` needs an operation after the count", None));
                        }
                        toks.drain(..2);
                    }
                    let step = Step { op: parse_op(toks, &line)?, line: line.no, expect };
                    total_ops += times;
                    if total_ops > OPERATIONS_MAX {
                        return Err(line.err(
                            1,
                            src.chars().count().max(1),
                            format!("more than {OPERATIONS_MAX} operations (repeats counted)"),
                            Some("a scenario is one behaviour: shorten it or lower its repeat counts".into()),
                        ));
                    }
                    for _ in 0..times {
                        match block {
                            Block::Thread(t) => sc.threads[t].steps.push(step.clone()),
                            _ => sc.setup.push(step.clone()),
                        }
                    }
                }
                Block::Schedule => {
                    let thread = toks[0].text.clone();
                    let until = match toks.get(1) {
                        None => None,
                        Some(u) if u.text == "until" => match toks.get(2) {
                            Some(f) => Some(f.text.clone()),
                            None => {
                                return Err(line.err_at(
                                    u,
                                    "`until` needs a kernel function",
                                    Some("write `poster until post_one_notification`".into()),
                                ));
                            }
                        },
                        Some(o) => {
                            return Err(line.err_at(
                                o,
                                format!("unexpected `{}`", o.text),
                                Some("write `THREAD` or `THREAD until KERNEL_FUNCTION`".into()),
                            ));
                        }
                    };
                    if let Some(extra) = toks.get(3) {
                        return Err(line.err_at(
                            extra,
                            format!("unexpected `{}`", extra.text),
                            Some("one directive per line".into()),
                        ));
                    }
                    sc.schedule.get_or_insert_with(Vec::new).push(Directive { thread, until, line: line.no });
                }
            }
            continue;
        }
        block = Block::None;
        let kw = &toks[0];
        let rest = &toks[1..];
        match kw.text.as_str() {
            "variant" => {
                let v = rest
                    .first()
                    .ok_or_else(|| line.err_at(kw, "`variant` needs a name", Some("upstream, v1 or v5".into())))?;
                once(&mut first_at, "variant", &line, kw)?;
                sc.variant = match v.text.as_str() {
                    "upstream" => Variant::Upstream,
                    "v1" => Variant::V1,
                    "v5" => Variant::V5,
                    o => {
                        return Err(line.err_at(
                            v,
                            format!("unknown variant `{o}`"),
                            Some("variants are upstream, v1 and v5".into()),
                        ));
                    }
                };
                if let Some(x) = rest.get(1) {
                    return Err(line.err_at(x, format!("unexpected `{}`", x.text), None));
                }
            }
            "base" => {
                let v = rest.first().ok_or_else(|| line.err_at(kw, "`base` needs `kernel` or `fixed`", None))?;
                once(&mut first_at, "base", &line, kw)?;
                if let Some(x) = rest.get(1) {
                    return Err(line.err_at(x, format!("unexpected `{}`", x.text), None));
                }
                sc.base = match v.text.as_str() {
                    "kernel" => Base::Kernel,
                    "fixed" => Base::Fixed,
                    o => {
                        return Err(line.err_at(
                            v,
                            format!("unknown base `{o}`"),
                            Some("`kernel` (the kernel today, findings on) or `fixed` (every switch off)".into()),
                        ));
                    }
                };
            }
            "bugs" => {
                if rest.is_empty() {
                    return Err(line.err_at(
                        kw,
                        "`bugs` needs at least one switch",
                        Some("write `bugs W12 F3`; `wqsim catalog` lists them".into()),
                    ));
                }
                for t in rest {
                    for name in t.text.split(',').filter(|s| !s.is_empty()) {
                        let b = Bug::from_name(name).ok_or_else(|| {
                            let ids: Vec<&str> = wqsim_model::bugs::CATALOG.iter().map(|b| b.id).collect();
                            line.err_at(
                                t,
                                format!("unknown catalog switch `{name}`"),
                                did_you_mean(name, &ids).or(Some("`wqsim catalog` lists the switches".into())),
                            )
                        })?;
                        if sc.bugs.contains(&b) {
                            return Err(line.err_at(
                                t,
                                format!("switch {} is listed twice", b.info().id),
                                Some("list each switch once".into()),
                            ));
                        }
                        sc.bugs.push(b);
                    }
                }
            }
            "config" => {
                if rest.is_empty() {
                    return Err(line.err_at(
                        kw,
                        "`config` needs settings",
                        Some("write `config uid=1000 privileged=no`".into()),
                    ));
                }
                for t in rest {
                    let Some((k, v)) = t.text.split_once('=') else {
                        return Err(line.err_at(
                            t,
                            format!("`{}` is not a setting", t.text),
                            Some("write key=value".into()),
                        ));
                    };
                    if !CONFIG_KEYS.contains(&k) {
                        let hint = did_you_mean(k, CONFIG_KEYS)
                            .unwrap_or_else(|| format!("settings are: {}", CONFIG_KEYS.join(", ")));
                        return Err(line.err_at(t, format!("unknown setting `{k}`"), Some(hint)));
                    }
                    once(&mut first_at, k, &line, t)?;
                    let n = match (k, v) {
                        ("privileged", "yes") => 1,
                        ("privileged", "no") => 0,
                        ("privileged", _) => {
                            return Err(line.err_at(t, "privileged is yes or no", Some("write privileged=no".into())));
                        }
                        _ => {
                            let (_, lo, hi, why) = CONFIG_RANGES
                                .iter()
                                .find(|(name, ..)| *name == k)
                                .copied()
                                .unwrap_or((k, 0, u64::MAX, ""));
                            let range = |found: &str| {
                                line.err_at(
                                    t,
                                    format!("`{k}` is {lo}..={hi}, found `{found}`"),
                                    Some(format!("{k}: {why}")),
                                )
                            };
                            let n = parse_u64(v).ok_or_else(|| range(v))?;
                            if n < lo || n > hi {
                                return Err(range(v));
                            }
                            if k == "page_size" && !n.is_power_of_two() {
                                return Err(line.err_at(
                                    t,
                                    format!("`page_size` must be a power of two, found `{v}`"),
                                    Some("write 4096, 16384 or 65536".into()),
                                ));
                            }
                            if k == "pipe_index_bits" && n != 16 && n != 32 {
                                return Err(line.err_at(
                                    t,
                                    format!("`pipe_index_bits` is 16 or 32, found `{v}`"),
                                    Some(
                                        "pipe_index_t is unsigned short on 32-bit kernels, unsigned int on 64-bit ones"
                                            .into(),
                                    ),
                                ));
                            }
                            n
                        }
                    };
                    sc.settings.push((k.to_string(), n));
                }
            }
            "lsm" => match (rest.first(), rest.get(1)) {
                (Some(r), Some(d)) if r.text == "deny_watch_key" && d.quoted && rest.len() == 2 => {
                    sc.deny_watch_key.push(d.text.clone())
                }
                _ => {
                    return Err(line.err_at(
                        kw,
                        "unknown lsm rule",
                        Some("write `lsm deny_watch_key \"description\"`".into()),
                    ));
                }
            },
            "setup:" => {
                if seen_setup {
                    return Err(line.err_at(
                        kw,
                        "a second `setup:` block",
                        Some("put every setup step in one block".into()),
                    ));
                }
                seen_setup = true;
                block = Block::Setup;
            }
            "setup" => return Err(line.err_at(kw, "`setup` needs a colon", Some("write `setup:`".into()))),
            "schedule:" => {
                if sc.schedule.is_some() {
                    return Err(line.err_at(kw, "a second `schedule:` block", None));
                }
                sc.schedule = Some(Vec::new());
                block = Block::Schedule;
            }
            "thread" => {
                let name_tok = rest
                    .first()
                    .ok_or_else(|| line.err_at(kw, "`thread` needs a name", Some("write `thread poster:`".into())))?;
                let mut name = name_tok.text.clone();
                let mut blocking = false;
                let last = rest.last().unwrap_or(name_tok);
                if !last.text.ends_with(':') {
                    return Err(line.err(
                        last.col + last.width,
                        1,
                        "a thread header ends with a colon",
                        Some(format!("write `thread {}:`", name.trim_end_matches(':'))),
                    ));
                }
                if rest.len() == 2 && rest[1].text == "(blocking):" {
                    blocking = true;
                } else if rest.len() != 1 {
                    return Err(line.err_at(
                        &rest[1],
                        format!("unexpected `{}`", rest[1].text),
                        Some("write `thread NAME:` or `thread NAME (blocking):`".into()),
                    ));
                }
                name = name.trim_end_matches(':').to_string();
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    return Err(line.err_at(
                        name_tok,
                        format!("`{name}` is not a thread name"),
                        Some("use letters, digits, `_` and `-`".into()),
                    ));
                }
                if sc.threads.iter().any(|t| t.name == name) {
                    return Err(line.err_at(
                        name_tok,
                        format!("a second thread named `{name}`"),
                        Some("thread names must differ".into()),
                    ));
                }
                sc.threads.push(Thread { name, blocking, steps: Vec::new(), line: line.no });
                block = Block::Thread(sc.threads.len() - 1);
            }
            "run" => sc.runs.push(parse_run(rest, kw, &line)?),
            other => {
                let hint = did_you_mean(other, TOP).unwrap_or_else(|| {
                    "lines start with variant, base, bugs, config, lsm, setup:, thread NAME:, schedule: or run; operations are indented".into()
                });
                return Err(line.err_at(kw, format!("unknown keyword `{other}`"), Some(hint)));
            }
        }
    }
    validate(&sc, text)?;
    Ok(sc)
}

fn parse_run(rest: &[Tok], kw: &Tok, line: &Line<'_>) -> Result<RunSpec, ParseError> {
    let drivers = ["seq", "random", "pct", "dfs", "loom", "schedule"];
    let d = rest
        .first()
        .ok_or_else(|| line.err_at(kw, "`run` needs a driver", Some(format!("drivers: {}", drivers.join(", ")))))?;
    let driver = match d.text.as_str() {
        "schedule" => Driver::Schedule,
        name => Driver::Explorer(Kind::from_name(name).ok_or_else(|| {
            line.err_at(
                d,
                format!("unknown driver `{name}`"),
                did_you_mean(name, &drivers).or(Some(format!("drivers: {}", drivers.join(", ")))),
            )
        })?),
    };
    let mut r = RunSpec { line: line.no, ..run_line(driver, Vec::new(), Expect::Holds) };
    let mut i = 1;
    let mut expect = None;
    let mut seen: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    while i < rest.len() {
        let t = &rest[i];
        if t.text == "expect" || t.text == "without" {
            once(&mut seen, &t.text, line, t)?;
        }
        if t.text == "expect" {
            let e = rest.get(i + 1).ok_or_else(|| {
                line.err_at(
                    t,
                    "`expect` needs `holds` or an invariant",
                    Some("write `expect holds` or `expect H1`".into()),
                )
            })?;
            expect = Some(if e.text == "holds" {
                Expect::Holds
            } else {
                Expect::Violation(Inv::from_id(&e.text).ok_or_else(|| {
                    line.err_at(
                        e,
                        format!("unknown invariant `{}`", e.text),
                        Some("invariants are listed in README.md (H1, N1, S6, D1, V1, ...)".into()),
                    )
                })?)
            });
            i += 2;
            continue;
        }
        if t.text == "without" {
            let list = rest
                .get(i + 1)
                .ok_or_else(|| line.err_at(t, "`without` needs switches", Some("write `without W12`".into())))?;
            for name in list.text.split(',').filter(|s| !s.is_empty()) {
                r.without.push(
                    Bug::from_name(name)
                        .ok_or_else(|| line.err_at(list, format!("unknown catalog switch `{name}`"), None))?,
                );
            }
            i += 2;
            continue;
        }
        let Some((k, v)) = t.text.split_once('=') else {
            return Err(line.err_at(
                t,
                format!("unexpected `{}`", t.text),
                Some("run DRIVER [iterations=N seed=N depth=N preemptions=N] [without IDS] expect holds|INV".into()),
            ));
        };
        let Some((_, lo, hi, what)) = RUN_OPTIONS.iter().find(|(name, ..)| *name == k).copied() else {
            let names: Vec<&str> = RUN_OPTIONS.iter().map(|o| o.0).collect();
            let hint = did_you_mean(k, &names).or(Some(format!("options are {}", names.join(", "))));
            return Err(line.err_at(t, format!("unknown run option `{k}`"), hint));
        };
        once(&mut seen, k, line, t)?;
        let n = parse_u64(v).filter(|n| (lo..=hi).contains(n)).ok_or_else(|| {
            line.err_at(t, format!("`{k}` is {lo}..={hi}, found `{v}`"), Some(format!("{k}: {what}")))
        })?;
        // An option the driver does not read is a mistake, not a no-op.
        let applies = match k {
            "iterations" => matches!(driver, Driver::Explorer(Kind::Random | Kind::Pct | Kind::Dfs)),
            "seed" => matches!(driver, Driver::Explorer(Kind::Random | Kind::Pct)),
            "depth" => driver == Driver::Explorer(Kind::Pct),
            "preemptions" => driver == Driver::Explorer(Kind::Loom),
            _ => true,
        };
        if !applies {
            return Err(line.err_at(
                t,
                format!("`{k}` does not apply to `run {}`", driver.name()),
                Some(
                    "iterations: random, pct, dfs; seed: random, pct; depth: pct; preemptions: loom; the budgets: every driver"
                        .into(),
                ),
            ));
        }
        match k {
            "iterations" => r.iterations = n as usize,
            "seed" => r.seed = n,
            "depth" => r.depth = n as usize,
            "preemptions" => r.preemptions = Some(n as usize),
            "steps_max" => r.limits.steps_max = Some(n),
            "time_limit_ms" => r.limits.time_limit_ms = Some(n),
            _ => r.limits.memory_limit_mib = Some(n),
        }
        i += 1;
    }
    r.expect = expect.ok_or_else(|| {
        line.err(
            line.src.trim_end().chars().count() + 1,
            1,
            "a run needs an expectation",
            Some("end the line with `expect holds` or `expect H1`".into()),
        )
    })?;
    Ok(r)
}

fn validate(sc: &Scenario, text: &str) -> Result<(), ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let line_at = |n: usize| Line { path: &sc.path, no: n, src: lines.get(n.wrapping_sub(1)).copied().unwrap_or("") };
    let last = lines.len().max(1);
    let setting = |k: &str| sc.settings.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    if let Some(start) = setting("pipe_initial_index") {
        let bits = setting("pipe_index_bits").unwrap_or(32);
        if bits < 32 && start >= 1 << bits {
            let n = lines.iter().position(|l| l.contains("pipe_initial_index")).map_or(1, |i| i + 1);
            let l = line_at(n);
            let col = l.src.find("pipe_initial_index").map_or(1, |c| c + 1);
            return Err(l.err(
                col,
                "pipe_initial_index".len(),
                format!("`pipe_initial_index` is {start}, past a {bits}-bit pipe index"),
                Some(format!("with pipe_index_bits={bits}, write 0..={}", (1u64 << bits) - 1)),
            ));
        }
    }
    if sc.runs.is_empty() {
        let l = line_at(last);
        return Err(l.err(
            1,
            1,
            "no `run` line",
            Some("say how to run it and what must happen: `run seq expect holds`".into()),
        ));
    }
    if let Some(t) = sc.threads.get(THREADS_MAX) {
        let l = line_at(t.line);
        return Err(l.err(
            1,
            l.src.chars().count().max(1),
            format!("more than {THREADS_MAX} threads"),
            Some("a race needs two or three threads; split the scenario".into()),
        ));
    }
    if sc.threads.len() > LOOM_THREADS_MAX {
        if let Some(r) = sc.runs.iter().find(|r| r.driver == Driver::Explorer(Kind::Loom)) {
            let l = line_at(r.line);
            return Err(l.err(
                5,
                4,
                format!("`run loom` takes at most {LOOM_THREADS_MAX} threads; this scenario has {}", sc.threads.len()),
                Some("loom tracks 5 threads and the driver is one: use random, pct or dfs for more".into()),
            ));
        }
    }
    for t in &sc.threads {
        if t.steps.is_empty() {
            let l = line_at(t.line);
            return Err(l.err(
                1,
                l.src.len(),
                format!("thread `{}` has no operations", t.name),
                Some("indent its operations under it".into()),
            ));
        }
    }
    if let Some(dirs) = &sc.schedule {
        for d in dirs {
            if !sc.threads.iter().any(|t| t.name == d.thread) {
                let l = line_at(d.line);
                let col = l.src.find(&d.thread).map_or(1, |c| c + 1);
                let names: Vec<&str> = sc.threads.iter().map(|t| t.name.as_str()).collect();
                return Err(l.err(
                    col,
                    d.thread.len(),
                    format!("no thread named `{}`", d.thread),
                    did_you_mean(&d.thread, &names).or(Some(format!("threads: {}", names.join(", ")))),
                ));
            }
        }
    }
    for r in &sc.runs {
        if r.driver == Driver::Schedule && sc.schedule.as_ref().is_none_or(|s| s.is_empty()) {
            let l = line_at(r.line);
            return Err(l.err(
                5,
                8,
                "`run schedule` needs a `schedule:` block",
                Some("list directives: `poster until post_one_notification`".into()),
            ));
        }
        for b in &r.without {
            let on = sc.bugs.contains(b) || (sc.base == Base::Kernel && b.info().finding);
            if !on {
                let l = line_at(r.line);
                let col = l.src.find("without").map_or(1, |c| c + 1);
                return Err(l.err(
                    col,
                    7,
                    format!("`without {}`: that switch is not on", b.info().id),
                    Some("list it under `bugs` first".into()),
                ));
            }
        }
    }
    Ok(())
}

impl Scenario {
    /// The configuration of a run: the base, the settings, the switches,
    /// less the run's `without`.
    pub fn config(&self, run: Option<&RunSpec>) -> Config {
        let mut c = Config::default();
        if self.base == Base::Fixed {
            c.bugs = wqsim_model::bugs::BugSet::none();
        }
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
                _ => {}
            }
        }
        c.lsm.deny_watch_key = self.deny_watch_key.clone();
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

    /// The scenario as text, in the canonical layout (what `minimize`
    /// writes back).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for a in &self.about {
            s += format!("# {a}").trim_end();
            s.push('\n');
        }
        let mut head = String::new();
        if self.variant != Variant::Upstream {
            head += &format!("variant {}\n", self.variant.name());
        }
        if self.base == Base::Fixed {
            head += "base fixed\n";
        }
        if !self.bugs.is_empty() {
            let ids: Vec<&str> = self.bugs.iter().map(|b| b.info().id).collect();
            head += &format!("bugs {}\n", ids.join(" "));
        }
        if !self.settings.is_empty() {
            let kv: Vec<String> = self
                .settings
                .iter()
                .map(|(k, v)| {
                    if k == "privileged" {
                        format!("{k}={}", if *v != 0 { "yes" } else { "no" })
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect();
            head += &format!("config {}\n", kv.join(" "));
        }
        for d in &self.deny_watch_key {
            head += &format!("lsm deny_watch_key {d:?}\n");
        }
        if !head.is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            s += &head;
        }
        if !self.setup.is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            s += "setup:\n";
            s += &steps_text(&self.setup);
        }
        for t in &self.threads {
            s += &format!("\nthread {}{}:\n", t.name, if t.blocking { " (blocking)" } else { "" });
            s += &steps_text(&t.steps);
        }
        if let Some(dirs) = &self.schedule {
            s += "\nschedule:\n";
            for d in dirs {
                match &d.until {
                    Some(u) => s += &format!("    {} until {u}\n", d.thread),
                    None => s += &format!("    {}\n", d.thread),
                }
            }
        }
        s.push('\n');
        for r in &self.runs {
            s += &run_line_text(r);
            s.push('\n');
        }
        s
    }
}

/// A `run` line as a scenario writes it, without the newline (options at
/// their defaults left out).
pub fn run_line_text(r: &RunSpec) -> String {
    let mut s = String::new();
    s += &format!("run {}", r.driver.name());
    if matches!(r.driver, Driver::Explorer(Kind::Random | Kind::Pct | Kind::Dfs)) {
        if r.iterations != 10_000 {
            s += &format!(" iterations={}", r.iterations);
        }
        if r.seed != 1 {
            s += &format!(" seed={}", r.seed);
        }
    }
    if r.driver == Driver::Explorer(Kind::Pct) && r.depth != 3 {
        s += &format!(" depth={}", r.depth);
    }
    if let Some(p) = r.preemptions {
        s += &format!(" preemptions={p}");
    }
    if let Some(n) = r.limits.steps_max {
        s += &format!(" steps_max={n}");
    }
    if let Some(n) = r.limits.time_limit_ms {
        s += &format!(" time_limit_ms={n}");
    }
    if let Some(n) = r.limits.memory_limit_mib {
        s += &format!(" memory_limit_mib={n}");
    }
    if !r.without.is_empty() {
        let ids: Vec<&str> = r.without.iter().map(|b| b.info().id).collect();
        s += &format!(" without {}", ids.join(","));
    }
    s += &format!(" expect {}", r.expect);
    s
}

fn step_text(st: &Step) -> String {
    match &st.expect {
        Some(e) => format!("    {} => {e}\n", st.op),
        None => format!("    {}\n", st.op),
    }
}

/// Steps as text, runs of one operation written `repeat N OP`.
fn steps_text(steps: &[Step]) -> String {
    let mut s = String::new();
    let mut i = 0;
    while i < steps.len() {
        let same = |a: &Step, b: &Step| a.op == b.op && a.expect == b.expect;
        // A run longer than a `repeat` may be is written as several.
        let n = steps[i..].iter().take_while(|x| same(x, &steps[i])).count().min(REPEAT_MAX as usize);
        if n > 2 {
            s += &step_text(&steps[i]).replacen("    ", &format!("    repeat {n} "), 1);
        } else {
            for st in &steps[i..i + n] {
                s += &step_text(st);
            }
        }
        i += n;
    }
    s
}

/// The `config` settings that turn `Config::default()` into `c` (bugs and
/// the LSM policy aside).
pub fn settings_of(c: &Config) -> Vec<(String, u64)> {
    let d = Config::default();
    let mut v = Vec::new();
    let mut put = |k: &str, a: u64, b: u64| {
        if a != b {
            v.push((k.to_string(), a));
        }
    };
    put("page_size", c.page_size as u64, d.page_size as u64);
    put("pipe_max_size", c.pipe_max_size as u64, d.pipe_max_size as u64);
    put("pipe_user_pages_soft", c.pipe_user_pages_soft, d.pipe_user_pages_soft);
    put("pipe_user_pages_hard", c.pipe_user_pages_hard, d.pipe_user_pages_hard);
    put("rlimit_nofile", c.rlimit_nofile, d.rlimit_nofile);
    put("uid", c.uid as u64, d.uid as u64);
    put("privileged", c.privileged as u64, d.privileged as u64);
    put("pipe_index_bits", c.pipe_index_bits as u64, d.pipe_index_bits as u64);
    put("pipe_initial_index", c.pipe_initial_index as u64, d.pipe_initial_index as u64);
    v
}

/// A scenario for a program (the catalog's triggers and families are
/// written out this way): `about` lines, the base, the switches on, the
/// program's setup and actors, and the run lines.
pub fn from_program(
    about: Vec<String>,
    base: Base,
    bugs: Vec<Bug>,
    p: &wqsim_model::conc::Program,
    runs: Vec<RunSpec>,
) -> Scenario {
    let mut sc = Scenario {
        path: String::new(),
        hash: 0,
        about,
        variant: p.config.variant,
        base,
        bugs,
        settings: settings_of(&p.config),
        deny_watch_key: p.config.lsm.deny_watch_key.clone(),
        setup: p.setup.iter().map(|op| Step { op: op.clone(), line: 0, expect: None }).collect(),
        threads: p
            .actors
            .iter()
            .map(|a| Thread {
                name: a.name.clone(),
                blocking: a.may_block,
                steps: a.ops.iter().map(|op| Step { op: op.clone(), line: 0, expect: None }).collect(),
                line: 0,
            })
            .collect(),
        schedule: None,
        runs,
    };
    sc.hash = fnv1a(sc.to_text().as_bytes());
    sc
}

/// A `run` line.
pub fn run_line(driver: Driver, without: Vec<Bug>, expect: Expect) -> RunSpec {
    RunSpec {
        driver,
        iterations: 10_000,
        seed: 1,
        depth: 3,
        preemptions: None,
        limits: RunLimits::default(),
        without,
        expect,
        line: 0,
    }
}
