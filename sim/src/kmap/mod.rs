//! The kernel map: which kernel function each model function mirrors, in
//! which version, and that function's fingerprint there.
//!
//! The map lives next to the code, one doc-comment line per mirrored
//! kernel definition, above the model item that mirrors it:
//!
//! ```text
//! /// Mirrors kernel/watch_queue.c post_one_notification() of 6.12, lines 97-154, fp 5cd3b15dfd59c659.
//! /// Mirrors include/linux/watch_queue.h struct watch of 6.12, lines 54-67, fp 034de20f4f6fedc3.
//! /// Mirrors fs/mount_notify.c post_mount_notification() of series v5 (never merged: no source to fingerprint).
//! /// Mirrors no kernel function: the model's name for ... (why).
//! ```
//!
//! [`map`] reads those lines from the model's source ([`wqsim_model::kmap::SOURCES`]);
//! [`c::definitions`] finds and fingerprints the definitions of a kernel C
//! file; [`drift`] compares the two; [`review`] maps a patch's hunks
//! through them. `unmirrored.tsv` lists the definitions of the mirrored
//! files in 6.12 that the model leaves out, so a function new in a later
//! kernel shows as new.

pub mod c;
pub mod drift;
pub mod review;

use std::collections::BTreeSet;

/// The notification queue's own files: in these, every definition is
/// either mirrored or listed in `unmirrored.tsv`, so `wqsim drift` reports
/// a definition new since 6.12. The other mirrored files (fs/eventpoll.c,
/// fs/namespace.c, ...) are touch points: only their mirrored definitions
/// are compared.
pub const CORE: &[&str] = &[
    "fs/pipe.c",
    "include/linux/pipe_fs_i.h",
    "kernel/watch_queue.c",
    "include/linux/watch_queue.h",
    "security/keys/",
];

/// Whether `file` is one of the [`CORE`] files.
pub fn is_core(file: &str) -> bool {
    CORE.iter().any(|c| if c.ends_with('/') { file.starts_with(c) } else { file == *c })
}

/// The kernel version the map's fingerprints were taken from.
pub const MAP_VERSION: &str = "6.12";

/// What a mirror line says the model item follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A released kernel's source, with the definition's lines and
    /// fingerprint there.
    Release { version: String, lines: (u32, u32), fp: u64 },
    /// A revision of the patch series (`v1`, `v5`), never merged.
    Series(String),
}

/// One mirror line: a kernel definition and the model item that mirrors it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    /// `kernel/watch_queue.c`.
    pub kernel_file: String,
    /// `post_one_notification`, `sys_pipe2`, `struct watch`.
    pub kernel_name: String,
    pub source: Source,
    /// The model item: its file, line and `fn name` / `struct Name`.
    pub model: ModelItem,
}

/// A model item that carries mirror lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelItem {
    /// `model/src/watch_queue.rs`.
    pub file: &'static str,
    /// 1-based line of the item (`fn ...`).
    pub line: u32,
    /// `fn post_one_notification`, `struct Watch`.
    pub item: String,
    /// The `kfn("...")` and `reached("...")` labels inside the item, which
    /// runs report.
    pub labels: Vec<String>,
    /// 1-based line of the item's closing brace (its own line for a unit
    /// struct).
    pub end: u32,
}

impl ModelItem {
    /// `model/src/watch_queue.rs:171 fn post_one_notification`.
    pub fn place(&self) -> String {
        format!("{}:{} {}", self.file, self.line, self.item)
    }
}

/// The whole map: every mirror line, the model-only items (`Mirrors no
/// kernel function`), and the kfn labels of items with no mirror line.
#[derive(Clone, Debug, Default)]
pub struct Map {
    pub mirrors: Vec<Mirror>,
    /// Items that model no single kernel function, with the reason given.
    pub model_only: Vec<(ModelItem, String)>,
    /// kfn labels found in items that carry no mirror line at all.
    pub unmapped_labels: Vec<(String, String)>,
}

impl Map {
    /// The kernel files the map mirrors from released kernels, sorted.
    pub fn files(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .mirrors
            .iter()
            .filter(|m| matches!(m.source, Source::Release { .. }))
            .map(|m| m.kernel_file.clone())
            .collect();
        set.into_iter().collect()
    }
    /// The mirrors of `name` in `file`.
    pub fn of<'a>(&'a self, file: &'a str, name: &'a str) -> impl Iterator<Item = &'a Mirror> + 'a {
        self.mirrors.iter().filter(move |m| m.kernel_file == file && m.kernel_name == name)
    }
}

/// A definition of a mirrored file that the model leaves out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmirrored {
    pub file: String,
    pub name: String,
    pub lines: (u32, u32),
}

/// The definitions of the mirrored files in 6.12 the model does not mirror.
const UNMIRRORED: &str = include_str!("unmirrored.tsv");

/// [`UNMIRRORED`], parsed: `file<TAB>name<TAB>A-B` per line, `#` comments.
pub fn unmirrored() -> Vec<Unmirrored> {
    UNMIRRORED
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (file, name, lines) = (f.next()?, f.next()?, f.next()?);
            Some(Unmirrored { file: file.into(), name: name.into(), lines: parse_lines(lines)? })
        })
        .collect()
}

fn parse_lines(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// The map read from the model's source.
pub fn map() -> Result<Map, String> {
    map_of(wqsim_model::kmap::SOURCES)
}

/// The map of `sources` (path, text); an ill-formed mirror line is an
/// error naming its file and line.
pub fn map_of(sources: &[(&'static str, &'static str)]) -> Result<Map, String> {
    let mut out = Map::default();
    for (file, text) in sources {
        let lines: Vec<&str> = text.lines().collect();
        let mut pending: Vec<(usize, &str)> = Vec::new();
        for (i, raw) in lines.iter().enumerate() {
            let t = raw.trim_start();
            if let Some(rest) = t.strip_prefix("/// Mirrors ") {
                pending.push((i + 1, rest));
                continue;
            }
            if t.starts_with("///") || t.starts_with("#[") {
                continue;
            }
            let item = item_of(t);
            if let Some(item) = item {
                let indent = raw.len() - t.len();
                let (labels, end) = labels_in(&lines, i, indent);
                let model = ModelItem { file, line: i as u32 + 1, item, labels, end: end as u32 + 1 };
                if pending.is_empty() {
                    for l in &model.labels {
                        out.unmapped_labels.push((l.clone(), model.place()));
                    }
                }
                for (at, rest) in pending.drain(..) {
                    if let Some(why) = rest.strip_prefix("no kernel function: ") {
                        out.model_only.push((model.clone(), why.trim_end_matches('.').to_string()));
                        continue;
                    }
                    let m = parse_mirror(rest, model.clone()).map_err(|e| format!("{file}:{at}: {e}"))?;
                    out.mirrors.push(m);
                }
            } else if !pending.is_empty() && !t.is_empty() && !t.starts_with("//") {
                return Err(format!(
                    "{file}:{}: a `/// Mirrors` line must stand above a fn or struct, not above {t:?}",
                    pending[0].0
                ));
            }
        }
    }
    Ok(out)
}

/// `fn name` or `struct Name` when `line` opens one.
fn item_of(line: &str) -> Option<String> {
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "pub" | "pub(crate)" | "pub(super)" | "const" | "unsafe" | "async" | "extern" => continue,
            "fn" | "struct" | "enum" => {
                let name: String = words.next()?.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                return Some(format!("{w} {name}"));
            }
            _ => return None,
        }
    }
    None
}

/// The `kfn("...")` labels of the item opened on line `at` (0-based),
/// up to its closing brace at the same indentation, and that brace's line.
fn labels_in(lines: &[&str], at: usize, indent: usize) -> (Vec<String>, usize) {
    let close = format!("{}}}", " ".repeat(indent));
    let mut out = Vec::new();
    if lines[at].trim_end().ends_with(';') {
        return (out, at);
    }
    for (k, l) in lines.iter().enumerate().skip(at) {
        for opener in ["kfn(\"", "reached(\""] {
            let mut rest = *l;
            while let Some(k) = rest.find(opener) {
                rest = &rest[k + opener.len()..];
                if let Some(e) = rest.find('"') {
                    let label = rest[..e].to_string();
                    if !out.contains(&label) {
                        out.push(label);
                    }
                }
            }
        }
        if l.trim_end() == close {
            return (out, k);
        }
    }
    (out, lines.len().saturating_sub(1))
}

impl Map {
    /// The kfn labels a run reports when it is inside `item`: its own, or
    /// when it has none (a helper the model does not label), those of the
    /// labelled items that call it, directly or through other unlabelled
    /// helpers.
    pub fn reach_labels(&self, item: &ModelItem) -> Vec<String> {
        if !item.labels.is_empty() {
            return item.labels.clone();
        }
        let items: Vec<&ModelItem> =
            self.mirrors.iter().map(|m| &m.model).chain(self.model_only.iter().map(|(m, _)| m)).collect();
        let mut out: BTreeSet<String> = BTreeSet::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut todo = vec![item.clone()];
        while let Some(it) = todo.pop() {
            if !seen.insert(it.place()) {
                continue;
            }
            let Some(name) = it.item.strip_prefix("fn ") else { continue };
            let call = format!("{name}(");
            for caller in &items {
                if caller.place() == it.place() || !body_of(caller).iter().skip(1).any(|l| calls(l, &call)) {
                    continue;
                }
                if caller.labels.is_empty() {
                    todo.push((*caller).clone());
                } else {
                    out.extend(caller.labels.iter().cloned());
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Whether `line` calls `call` (`name(`) as a function, not as a suffix of
/// a longer name or a method of another type.
fn calls(line: &str, call: &str) -> bool {
    let line = line.trim_start();
    if line.starts_with("//") {
        return false;
    }
    line.match_indices(call).any(|(k, _)| {
        let before = line[..k].chars().next_back();
        !matches!(before, Some(c) if c.is_alphanumeric() || c == '_')
    })
}

/// The source lines of `item`, from its first line to its closing brace.
fn body_of(item: &ModelItem) -> Vec<&'static str> {
    let Some((_, text)) = wqsim_model::kmap::SOURCES.iter().find(|(f, _)| *f == item.file) else {
        return Vec::new();
    };
    text.lines().skip(item.line as usize - 1).take((item.end + 1 - item.line) as usize).collect()
}

/// `FILE NAME() of 6.12, lines A-B, fp HEX.` or `FILE NAME() of series vN (...)`.
fn parse_mirror(rest: &str, model: ModelItem) -> Result<Mirror, String> {
    let form = "expected `/// Mirrors FILE NAME() of 6.12, lines A-B, fp HEX.` or `/// Mirrors FILE NAME() of series v5 (why).`";
    let (what, tail) = rest.split_once(" of ").ok_or_else(|| form.to_string())?;
    let (kernel_file, name) = what.split_once(' ').ok_or_else(|| form.to_string())?;
    let kernel_name = name.trim().trim_end_matches("()").to_string();
    if kernel_name.is_empty() || !kernel_file.contains('/') {
        return Err(form.into());
    }
    let source = if let Some(s) = tail.strip_prefix("series ") {
        Source::Series(s.split_whitespace().next().unwrap_or("").to_string())
    } else {
        let mut parts = tail.trim_end_matches('.').split(", ");
        let version = parts.next().ok_or_else(|| form.to_string())?.to_string();
        let lines = parts
            .next()
            .and_then(|p| p.strip_prefix("lines "))
            .and_then(parse_lines)
            .ok_or_else(|| format!("no `lines A-B`: {form}"))?;
        let fp = parts
            .next()
            .and_then(|p| p.strip_prefix("fp "))
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("no `fp HEX` (16 hex digits): {form}"))?;
        Source::Release { version, lines, fp }
    };
    Ok(Mirror { kernel_file: kernel_file.to_string(), kernel_name, source, model })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_lines_attach_to_the_item_below_them_with_its_labels() {
        let src: &'static str = "\
/// Models `pipe_read()`.
///
/// Mirrors fs/pipe.c pipe_read() of 6.12, lines 10-20, fp 00000000000000ff.
#[allow(x)]
pub fn pipe_read() {
    let _f = kfn(\"pipe_read\");
    inner();
}

/// Mirrors fs/mount_notify.c notify_mount() of series v5 (never merged).
fn notify_mount() {
    let _f = kfn(\"notify_mount\");
}

fn helper() {
    let _f = kfn(\"helper\");
}
";
        let m = map_of(&[("model/src/x.rs", src)]).unwrap();
        assert_eq!(m.mirrors.len(), 2);
        assert_eq!(m.mirrors[0].kernel_name, "pipe_read");
        assert_eq!(m.mirrors[0].source, Source::Release { version: "6.12".into(), lines: (10, 20), fp: 0xff });
        assert_eq!(m.mirrors[0].model.place(), "model/src/x.rs:5 fn pipe_read");
        assert_eq!(m.mirrors[0].model.labels, vec!["pipe_read"]);
        assert_eq!(m.mirrors[1].source, Source::Series("v5".into()));
        assert_eq!(m.unmapped_labels, vec![("helper".to_string(), "model/src/x.rs:15 fn helper".to_string())]);
    }

    #[test]
    fn an_ill_formed_mirror_line_is_an_error_naming_its_place() {
        let src: &'static str = "/// Mirrors fs/pipe.c pipe_read() of 6.12, lines 10-20.\nfn pipe_read() {\n}\n";
        let e = map_of(&[("model/src/x.rs", src)]).unwrap_err();
        assert!(e.starts_with("model/src/x.rs:1: no `fp HEX`"), "{e}");
    }
}
