//! The model's layers, and imports that run one way: the invariant
//! vocabulary at the bottom, the sync facade and the checker machinery,
//! the kernel mirrors, then the oracle and the reference, then the runners
//! and the explorers.
//!
//! A plain-text scan of every `model/src/**/*.rs` (comments and doc links
//! included: a doc link is a dependency too) finds each `crate::x` path,
//! grouped ones (`use crate::{a, b::c}`) and `super::` paths that leave a
//! file's module, and maps each file to its top-level module (`keys/*` is
//! `keys`, `sync/*` is `sync`). Then:
//!
//! - every module has a rank in [`LAYER`], and every import goes to an
//!   equal or lower rank, except the kernel's own mutual calls listed in
//!   [`UPWARD`], each with its reason;
//! - the strongly connected components of more than one module are exactly
//!   [`ALLOWED_SCCS`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of `model/src`, bottom to top. An import may go to an
/// equal or lower rank; the tens digit is the layer.
const LAYER: &[(&str, u32)] = &[
    // 0: vocabulary, imported by everything, importing nothing above it.
    ("invariant", 0),
    ("errno", 0),
    ("uapi", 0),
    ("probe", 0),
    ("bugs", 0),
    // The model's own source text, for the kernel map; imports nothing.
    ("kmap", 0),
    // 1: the sync facade (std, loom and shuttle backends; the per-thread
    // kernel context its locks report to).
    ("sync", 10),
    // 2: checker machinery on the facade.
    ("catch", 20),
    ("trace", 20),
    ("heap", 20),
    // 3: kernel mirrors, one per kernel source. kernel.rs (the machine and
    // `Cx`, what C reaches through globals and `current`) is the lowest;
    // the others follow the order in which the kernel's files build on
    // each other.
    ("kernel", 30),
    ("lsm", 31),
    ("mm", 32),
    ("rcu", 33),
    ("file", 34),
    ("pipe", 35),
    ("fops", 35),
    ("eventpoll", 35),
    ("watch_queue", 36),
    ("keys", 37),
    ("device", 37),
    ("mount", 38),
    ("splice", 38),
    ("syscalls", 38),
    // 4: the operations vocabulary, the sequential reference, the oracle.
    ("api", 40),
    ("spec", 41),
    ("oracle", 42),
    // 5: runners.
    ("seq", 50),
    ("conc", 51),
    // 6: explorers, outside the sync facade.
    ("explore", 60),
];

/// Imports that go up, all between kernel mirrors: the kernel's own files
/// call each other so. (from, to, why).
const UPWARD: &[(&str, &str, &str)] = &[
    ("kernel", "lsm", "Config carries the LSM policy that security/security.c's hooks apply"),
    ("kernel", "mm", "the machine holds the page arena"),
    ("kernel", "rcu", "the machine holds RCU's state; settle() runs rcu_barrier()"),
    ("kernel", "file", "the machine holds the file table; do_exit() closes every descriptor"),
    ("kernel", "pipe", "the machine holds the pipe arena"),
    ("kernel", "watch_queue", "the machine holds the queue, watch, list and filter arenas"),
    ("kernel", "device", "the machine holds ver #1's static device watch list, made at boot by drivers/base/watch.c"),
    (
        "kernel",
        "mount",
        "the machine holds ver #5's mount tree and superblocks, made at boot, and do_exit() drops the namespace",
    ),
    ("kernel", "keys", "the machine holds the key registry; boot, settle and exit run the keyring code"),
    ("file", "pipe", "__fput() and the syscall entries dispatch to pipefifo_fops (pipe_release, ...)"),
    ("file", "eventpoll", "__fput() calls eventpoll_release() for a file an epoll instance watches"),
    ("file", "fops", "struct file holds what its f_op works on: a regular file's bytes and position"),
    ("kernel", "eventpoll", "the machine holds the epoll instances' arena"),
    (
        "pipe",
        "watch_queue",
        "fs/pipe.c calls kernel/watch_queue.c: watch_queue_init, watch_queue_set_size/_filter from pipe_ioctl, watch_queue_clear and put_watch_queue from free_pipe_info",
    ),
    (
        "rcu",
        "watch_queue",
        "call_rcu(&watch->rcu, free_watch): the model names its RCU callback instead of holding a function pointer",
    ),
];

/// The cycles the model may have: its strongly connected components of
/// more than one module. (members, why).
const ALLOWED_SCCS: &[(&[&str], &str)] = &[(
    &["device", "eventpoll", "file", "fops", "kernel", "keys", "lsm", "mm", "mount", "pipe", "rcu", "watch_queue"],
    "the kernel mirrors: each runs in kernel.rs's machine, which holds their objects, and fs/pipe.c, fs/file.c, the other files' f_op, fs/eventpoll.c, kernel/watch_queue.c and the RCU callback call each other as in the kernel (see UPWARD)",
)];

// ---------------------------------------------------------------------------
// The scan.
// ---------------------------------------------------------------------------

/// Module graph: from -> to -> the first place (`file:line`) it is imported.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// One source file: its path under `src/` and its text.
struct Source {
    rel: String,
    text: String,
}

fn sources() -> Vec<Source> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| Source {
            rel: f.strip_prefix(&src).unwrap().to_str().unwrap().replace('\\', "/"),
            text: std::fs::read_to_string(&f).unwrap(),
        })
        .collect()
}

/// The top-level module a file belongs to (`None` for the crate root).
fn module_of(rel: &str) -> Option<String> {
    if rel == "lib.rs" {
        return None;
    }
    let first = rel.split('/').next().unwrap();
    Some(first.strip_suffix(".rs").unwrap_or(first).to_string())
}

/// How deep a file's module sits below the crate root (`pipe.rs` and
/// `keys/mod.rs` 1, `keys/key.rs` 2).
fn file_depth(rel: &str) -> usize {
    let parts: Vec<&str> = rel.split('/').collect();
    parts.len() - usize::from(parts.last() == Some(&"mod.rs") || rel == "lib.rs")
}

/// The text with comments, strings and character literals blanked (same
/// length, newlines kept): what the structure (braces, `mod x {`) is read
/// from.
fn code_only(text: &[char]) -> Vec<char> {
    let mut out = text.to_vec();
    let n = text.len();
    let blank = |out: &mut Vec<char>, a: usize, b: usize| {
        for c in &mut out[a..b.min(n)] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < n {
        let c = text[i];
        let next = text.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            let end = (i..n).find(|&j| text[j] == '\n').unwrap_or(n);
            blank(&mut out, i, end);
            i = end;
        } else if c == '/' && next == Some('*') {
            let (mut depth, mut j) = (0usize, i);
            while j < n {
                if text[j] == '/' && text.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if text[j] == '*' && text.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (c == 'r' || c == 'b') && (i == 0 || !ident(text[i - 1])) && raw_string_start(text, i).is_some() {
            let (hashes, open) = raw_string_start(text, i).unwrap();
            let mut j = open + 1;
            while j < n && !(text[j] == '"' && (0..hashes).all(|h| text.get(j + 1 + h) == Some(&'#'))) {
                j += 1;
            }
            let end = (j + 1 + hashes).min(n);
            blank(&mut out, i, end);
            i = end;
        } else if c == '"' {
            let mut j = i + 1;
            while j < n && text[j] != '"' {
                j += if text[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '{'), not a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..n).find(|&j| text[j] == '\'').map(|j| j + 1)
            } else if text.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(e) => {
                    blank(&mut out, i, e);
                    i = e;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    out
}

/// At `r"`, `r#"`, `br"`...: the number of `#` and the index of the `"`.
fn raw_string_start(text: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if text[j] == 'b' {
        j += 1;
    }
    if text.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = (j..text.len()).take_while(|&k| text[k] == '#').count();
    (text.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes))
}

/// For each position, how many inline modules (`mod x { ... }`) enclose it.
fn inline_mod_depth(code: &[char]) -> Vec<usize> {
    let mut depth = Vec::with_capacity(code.len());
    let mut stack: Vec<bool> = Vec::new();
    let mut mods = 0;
    for (i, &c) in code.iter().enumerate() {
        if c == '{' {
            let (name, before) = word_before(code, i);
            let (keyword, _) = word_before(code, before);
            let is_mod = !name.is_empty() && keyword == "mod";
            stack.push(is_mod);
            mods += usize::from(is_mod);
        } else if c == '}' {
            if stack.pop() == Some(true) {
                mods -= 1;
            }
        }
        depth.push(mods);
    }
    depth
}

/// The identifier that ends just before `end` (after whitespace), and
/// where it starts.
fn word_before(code: &[char], end: usize) -> (String, usize) {
    let mut j = end;
    while j > 0 && code[j - 1].is_whitespace() {
        j -= 1;
    }
    let stop = j;
    while j > 0 && (code[j - 1].is_alphanumeric() || code[j - 1] == '_') {
        j -= 1;
    }
    (code[j..stop].iter().collect(), j)
}

/// The identifier starting at `i` (after whitespace), and where it ends.
fn ident_at(text: &[char], mut i: usize) -> (String, usize) {
    while i < text.len() && text[i].is_whitespace() {
        i += 1;
    }
    let start = i;
    while i < text.len() && (text[i].is_alphanumeric() || text[i] == '_') {
        i += 1;
    }
    (text[start..i].iter().collect(), i)
}

/// The first segment of each path in the group opening at `text[open]`
/// (`{a, b::c, d::{e, f}}` gives a, b, d).
fn group_heads(text: &[char], open: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect = true;
    let mut i = open;
    while i < text.len() {
        match text[i] {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect = true,
            c if expect && depth == 1 && !c.is_whitespace() => {
                let (id, end) = ident_at(text, i);
                if !id.is_empty() {
                    heads.push(id);
                }
                expect = false;
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    heads
}

/// One path found in a file: its line, the name it starts with below the
/// crate root, and whether it names a macro (`crate::x!`).
#[derive(Debug, PartialEq, Eq)]
struct Reference {
    line: usize,
    name: String,
    macro_call: bool,
}

/// Every path of `text` (a file at `rel`) that names something at the
/// crate root: `crate::x`, `$crate::x`, `crate::{x, y}`, and `super::`
/// paths that climb to the root. Paths inside the file's own module are
/// left out.
fn references(rel: &str, text: &str) -> Vec<Reference> {
    let chars: Vec<char> = text.chars().collect();
    let code = code_only(&chars);
    let mods = inline_mod_depth(&code);
    let line_of = |i: usize| chars[..i].iter().filter(|c| **c == '\n').count() + 1;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let starts_word = |i: usize| i == 0 || !ident(chars[i - 1]);
    let at = |i: usize, s: &str| s.chars().enumerate().all(|(k, c)| chars.get(i + k) == Some(&c));
    let mut out = Vec::new();
    let push_path = |out: &mut Vec<Reference>, line: usize, after: usize| {
        let mut j = after;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if chars.get(j) == Some(&'{') {
            for name in group_heads(&chars, j) {
                out.push(Reference { line, name, macro_call: false });
            }
        } else {
            let (name, end) = ident_at(&chars, j);
            out.push(Reference { line, name, macro_call: chars.get(end) == Some(&'!') });
        }
    };
    let mut i = 0;
    while i < chars.len() {
        if starts_word(i) && at(i, "crate::") {
            push_path(&mut out, line_of(i), i + "crate::".len());
            i += "crate::".len();
        } else if starts_word(i) && at(i, "super::") {
            let mut k = 0;
            let mut j = i;
            while at(j, "super::") {
                k += 1;
                j += "super::".len();
            }
            let depth = file_depth(rel) + mods[i];
            assert!(k <= depth, "{rel}:{}: super:: climbs above the crate root", line_of(i));
            if k == depth {
                push_path(&mut out, line_of(i), j);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The module graph of the sources.
fn graph(sources: &[Source]) -> Graph {
    let modules: BTreeSet<String> = sources.iter().filter_map(|s| module_of(&s.rel)).collect();
    // Macros (`#[macro_export]`, called as `crate::x!`) belong to the
    // module that defines them; items re-exported at the root, to the
    // module they come from.
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for s in sources {
        let Some(m) = module_of(&s.rel) else { continue };
        for part in s.text.split("macro_rules!").skip(1) {
            let (name, _) = ident_at(&part.chars().collect::<Vec<_>>(), 0);
            owner.insert(name, m.clone());
        }
    }
    if let Some(root) = sources.iter().find(|s| s.rel == "lib.rs") {
        for line in root.text.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("pub use ") else { continue };
            let Some((m, items)) = rest.trim_end_matches(';').split_once("::") else { continue };
            for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
                let item = item.split(" as ").last().unwrap().trim();
                owner.insert(item.to_string(), m.to_string());
            }
        }
    }
    let mut g = Graph::new();
    let mut unresolved = Vec::new();
    for s in sources {
        let Some(from) = module_of(&s.rel) else { continue };
        g.entry(from.clone()).or_default();
        for r in references(&s.rel, &s.text) {
            let to = if modules.contains(&r.name) && !r.macro_call {
                r.name.clone()
            } else if let Some(m) = owner.get(&r.name) {
                m.clone()
            } else {
                unresolved.push(format!("{}:{}: crate::{}", s.rel, r.line, r.name));
                continue;
            };
            if to != from {
                g.entry(from.clone()).or_default().entry(to).or_insert_with(|| format!("{}:{}", s.rel, r.line));
            }
        }
    }
    assert!(unresolved.is_empty(), "paths the scan cannot place:\n{}", unresolved.join("\n"));
    g
}

// ---------------------------------------------------------------------------
// Strongly connected components (Tarjan).
// ---------------------------------------------------------------------------

/// The strongly connected components of `g` with more than one node, each
/// sorted, in sorted order.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        g: &'g Graph,
        next: usize,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.g.get(v).into_iter().flat_map(|e| e.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on_stack.remove(w);
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.out.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        g,
        next: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    let mut nodes: BTreeSet<&str> = g.keys().map(String::as_str).collect();
    nodes.extend(g.values().flat_map(|e| e.keys().map(String::as_str)));
    for v in nodes {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out.sort();
    t.out
}

// ---------------------------------------------------------------------------
// The rules.
// ---------------------------------------------------------------------------

/// What a graph does against the rules: imports that go up without a
/// reason, stale or misplaced exceptions, cycles not allowed or allowed
/// and gone. Empty when the graph keeps to the layers.
fn violations(
    g: &Graph,
    layer: &[(&str, u32)],
    upward: &[(&str, &str, &str)],
    allowed: &[(&[&str], &str)],
) -> Vec<String> {
    let rank: BTreeMap<&str, u32> = layer.iter().copied().collect();
    let mut bad = Vec::new();
    for m in g.keys() {
        if !rank.contains_key(m.as_str()) {
            bad.push(format!("module `{m}` has no rank in LAYER"));
        }
    }
    for (m, _) in layer {
        if !g.contains_key(*m) {
            bad.push(format!("LAYER lists `{m}`, which is no module of model/src: remove it"));
        }
    }
    for (a, edges) in g {
        let Some(&ra) = rank.get(a.as_str()) else { continue };
        for (b, at) in edges {
            let Some(&rb) = rank.get(b.as_str()) else { continue };
            if rb > ra && !upward.iter().any(|(x, y, _)| x == a && y == b) {
                bad.push(format!("{at}: `{a}` (rank {ra}) imports `{b}` (rank {rb}), a layer above it"));
            }
        }
    }
    for (a, b, why) in upward {
        assert!(!why.is_empty());
        if !g.get(*a).is_some_and(|e| e.contains_key(*b)) {
            bad.push(format!("UPWARD lists `{a}` -> `{b}`, which no longer exists: remove it"));
        }
        match (rank.get(a), rank.get(b)) {
            (Some(ra), Some(rb)) if ra / 10 == 3 && rb / 10 == 3 => {}
            _ => bad.push(format!("UPWARD lists `{a}` -> `{b}`: only kernel mirrors may call each other up")),
        }
    }
    let found = cycles(g);
    let mut want: Vec<Vec<String>> = allowed
        .iter()
        .map(|(m, why)| {
            assert!(!why.is_empty());
            let mut v: Vec<String> = m.iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        })
        .collect();
    want.sort();
    for c in &found {
        if !want.contains(c) {
            let edges: Vec<String> = c
                .iter()
                .flat_map(|a| {
                    g[a].iter().filter(|(b, _)| c.contains(b)).map(move |(b, at)| format!("  {a} -> {b} ({at})"))
                })
                .collect();
            bad.push(format!("import cycle not in ALLOWED_SCCS: {{{}}}\n{}", c.join(", "), edges.join("\n")));
        }
    }
    for w in &want {
        if !found.contains(w) {
            bad.push(format!("ALLOWED_SCCS lists {{{}}}, which is no longer a cycle: update it", w.join(", ")));
        }
    }
    bad
}

#[test]
fn model_imports_follow_the_layers() {
    let src = sources();
    assert!(src.len() > 20, "found the sources");
    let g = graph(&src);
    let bad = violations(&g, LAYER, UPWARD, ALLOWED_SCCS);
    assert!(bad.is_empty(), "the model's imports break its layers:\n{}", bad.join("\n"));
}

/// The vocabulary imports nothing but vocabulary, the facade nothing but
/// the vocabulary, and no kernel mirror imports the oracle, the
/// reference or a runner.
#[test]
fn the_low_layers_import_nothing_above_them() {
    let g = graph(&sources());
    let rank: BTreeMap<&str, u32> = LAYER.iter().copied().collect();
    for (a, edges) in &g {
        let ra = rank[a.as_str()];
        for (b, at) in edges {
            let rb = rank[b.as_str()];
            assert!(rb / 10 <= ra / 10, "{at}: `{a}` (layer {}) imports `{b}` (layer {})", ra / 10, rb / 10);
        }
    }
}

// ---------------------------------------------------------------------------
// The checker checks.
// ---------------------------------------------------------------------------

fn synthetic(edges: &[(&str, &str)]) -> Graph {
    let mut g = Graph::new();
    for (a, b) in edges {
        g.entry(a.to_string()).or_default().insert(b.to_string(), format!("{a}.rs:1"));
        g.entry(b.to_string()).or_default();
    }
    g
}

/// Tarjan finds a deliberate cycle, and only it.
#[test]
fn the_scc_finder_reports_a_cycle() {
    let g = synthetic(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "d"), ("f", "a")]);
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"], vec!["d", "e"]]);
    assert!(cycles(&synthetic(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
}

/// The rules reject a cycle nobody allowed and an import that goes up,
/// and accept the same graph once the cycle's upward import is listed.
#[test]
fn the_rules_reject_an_unlisted_cycle_and_an_upward_import() {
    let layer = &[("vocab", 0), ("kernel", 30), ("pipe", 31), ("runner", 50)];
    let g = synthetic(&[("pipe", "kernel"), ("kernel", "pipe"), ("vocab", "runner"), ("runner", "pipe")]);
    let bad = violations(&g, layer, &[], &[]);
    assert_eq!(bad.len(), 3, "{bad:#?}");
    assert!(bad[0].starts_with("kernel.rs:1: `kernel` (rank 30) imports `pipe` (rank 31)"), "{bad:#?}");
    assert!(bad[1].starts_with("vocab.rs:1: `vocab` (rank 0) imports `runner`"), "{bad:#?}");
    assert!(bad[2].starts_with("import cycle not in ALLOWED_SCCS: {kernel, pipe}"), "{bad:#?}");
    let upward = &[("kernel", "pipe", "why")];
    let allowed: &[(&[&str], &str)] = &[(&["pipe", "kernel"], "why")];
    let mut g = synthetic(&[("pipe", "kernel"), ("kernel", "pipe"), ("runner", "pipe")]);
    g.entry("vocab".to_string()).or_default();
    assert!(violations(&g, layer, upward, allowed).is_empty());
    // An exception that no longer applies is reported too.
    let mut g = synthetic(&[("pipe", "kernel"), ("runner", "vocab")]);
    assert_eq!(violations(&g, layer, upward, allowed).len(), 2);
    // So is a rank for a module that is gone.
    g.remove("vocab");
    g.get_mut("runner").unwrap().clear();
    let bad = violations(&g, layer, upward, allowed);
    assert!(bad.iter().any(|b| b == "LAYER lists `vocab`, which is no module of model/src: remove it"), "{bad:#?}");
}

/// The scan reads plain, grouped, multi-line, macro and `$crate` paths,
/// doc links, and `super::` only where it leaves the file's module.
#[test]
fn the_scan_reads_every_form_of_path() {
    let text = r#"
use crate::a::X;
use crate::{b, c::{D, E},
    d::F};
/// See [`crate::e::G`].
fn f() { crate::wq_assert!(I1, true, "x"); let s = "crate::notapath"; $crate::h::y(); }
mod tests {
    use super::*;
    use crate::i;
}
"#;
    let names: Vec<(usize, String, bool)> =
        references("pipe.rs", text).into_iter().map(|r| (r.line, r.name, r.macro_call)).collect();
    let want = [(2, "a", false), (3, "b", false), (3, "c", false), (3, "d", false), (5, "e", false)];
    let mut want: Vec<(usize, String, bool)> = want.iter().map(|(l, n, m)| (*l, n.to_string(), *m)).collect();
    want.extend([(6, "wq_assert".to_string(), true), (6, "notapath".to_string(), false), (6, "h".to_string(), false)]);
    want.push((9, "i".to_string(), false));
    assert_eq!(names, want);
    // super:: in keys/key.rs is keys; at the top of keys/mod.rs it is the
    // crate root.
    assert!(references("keys/key.rs", "use super::key::X;\nmod t { use super::super::Y; }").is_empty());
    let r = references("keys/mod.rs", "use super::heap::Id;\nmod t { use super::Key; }");
    assert_eq!(r, vec![Reference { line: 1, name: "heap".to_string(), macro_call: false }]);
    // Braces in strings, characters and comments do not open modules.
    let r = references("pipe.rs", "mod t { let c = '{'; // {\n let s = \"{\"; }\nuse super::errno::E;");
    assert_eq!(r, vec![Reference { line: 3, name: "errno".to_string(), macro_call: false }]);
}
