//! The definitions in a kernel C file, and their fingerprints.
//!
//! Enough of C for the kernel's own style: comments, string and character
//! literals and preprocessor lines are set aside, then every top-level
//! `{ ... }` whose header has a parameter list is a function
//! (`SYSCALL_DEFINEn(name, ...)` is `sys_name`), and every top-level
//! `struct name { ... };` is a structure. A definition's fingerprint hashes
//! its text, header included, with comments and whitespace removed, so a
//! reindented or recommented function keeps its fingerprint and any change
//! of a token changes it.
//!
//! APPROX: braces are counted across `#if`/`#else` branches as if both were
//! compiled; a function whose branches open different numbers of braces
//! would swallow the definitions after it. None of the mirrored files of
//! 6.12 or 6.1 has one.

/// One definition in a C file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Def {
    /// `pipe_read`, `sys_pipe2`, `struct watch_queue`.
    pub name: String,
    /// First and last line, 1-based, inclusive (the header's first line to
    /// the closing brace).
    pub lines: (u32, u32),
    /// [`fingerprint`] of the definition's text.
    pub fp: u64,
}

/// FNV-1a over `text` without its whitespace: the map's fingerprint.
pub fn fingerprint(text: &str) -> u64 {
    text.bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The text with comments blanked (`code`, for fingerprints) and also
/// literals' contents and preprocessor lines blanked (`mask`, for the
/// structure). Both keep every byte offset and newline of the input.
fn blank(src: &str) -> (Vec<u8>, Vec<u8>) {
    let s = src.as_bytes();
    let mut code = s.to_vec();
    let mut mask = s.to_vec();
    let mut i = 0;
    let mut line_start = true;
    while i < s.len() {
        let c = s[i];
        if line_start && c == b'#' {
            // A preprocessor line, with its continuations.
            while i < s.len() && s[i] != b'\n' {
                if s[i] == b'\\' && i + 1 < s.len() && s[i + 1] == b'\n' {
                    mask[i] = b' ';
                    i += 2;
                    continue;
                }
                if s[i] == b'"' {
                    // A string in the directive (`#define X "/*"`).
                    mask[i] = b' ';
                    i += 1;
                    while i < s.len() && s[i] != b'"' && s[i] != b'\n' {
                        mask[i] = b' ';
                        i += if s[i] == b'\\' { 2 } else { 1 };
                    }
                    if i < s.len() && s[i] == b'"' {
                        mask[i] = b' ';
                        i += 1;
                    }
                    continue;
                }
                if s[i] == b'/' && s.get(i + 1) == Some(&b'/') {
                    // A line comment ends the directive's text.
                    while i < s.len() && s[i] != b'\n' {
                        code[i] = b' ';
                        mask[i] = b' ';
                        i += 1;
                    }
                    continue;
                }
                if s[i] == b'/' && s.get(i + 1) == Some(&b'*') {
                    // A comment inside the directive: blank it in both.
                    i = blank_block_comment(s, &mut code, &mut mask, i);
                    continue;
                }
                mask[i] = b' ';
                i += 1;
            }
            continue;
        }
        match c {
            b'\n' => {
                line_start = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'/' if s.get(i + 1) == Some(&b'*') => {
                i = blank_block_comment(s, &mut code, &mut mask, i);
                continue;
            }
            b'/' if s.get(i + 1) == Some(&b'/') => {
                while i < s.len() && s[i] != b'\n' {
                    code[i] = b' ';
                    mask[i] = b' ';
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let q = c;
                i += 1;
                while i < s.len() && s[i] != q && s[i] != b'\n' {
                    let step = if s[i] == b'\\' { 2 } else { 1 };
                    let end = (i + step).min(s.len());
                    mask[i..end].fill(b' ');
                    i += step;
                }
                i += 1;
            }
            _ => i += 1,
        }
        line_start = false;
    }
    (code, mask)
}

/// Blank the `/* ... */` comment opening at `at` in `code` and `mask`,
/// keeping its newlines; returns the offset after it.
fn blank_block_comment(s: &[u8], code: &mut [u8], mask: &mut [u8], at: usize) -> usize {
    let end = find(s, at + 2, b"*/").map_or(s.len(), |e| e + 2);
    for j in (at..end).filter(|&j| s[j] != b'\n') {
        code[j] = b' ';
        mask[j] = b' ';
    }
    end
}

fn find(s: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    (from..s.len().saturating_sub(pat.len() - 1)).find(|&j| &s[j..j + pat.len()] == pat)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The identifiers of `header`, in order, with the byte offset after each.
fn idents(header: &[u8]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < header.len() {
        if is_ident(header[i]) && !header[i].is_ascii_digit() {
            let start = i;
            while i < header.len() && is_ident(header[i]) {
                i += 1;
            }
            out.push((String::from_utf8_lossy(&header[start..i]).into_owned(), i));
        } else {
            i += 1;
        }
    }
    out
}

/// Attribute-like macros that take parentheses before a function's name.
const ATTRIBUTES: &[&str] =
    &["__attribute__", "__printf", "__section", "__aligned", "__must_hold", "__acquires", "__releases"];

/// The name a header defines: a function's, or a structure's (`struct
/// name`), or None for anything else (an initialiser, an enum, a macro
/// invocation's block). A function is named by its parameter list: the
/// last top-level parenthesised group that is not a trailing attribute
/// (`__acquires(x)`), so attributes and macro invocations before the
/// function (`__printf(2, 3)`, `DEFINE_CLASS(...)` with no `;`) do not
/// hide it; a function returning a function pointer (`void (*f(int))(int)`)
/// is named inside its declarator.
fn name_of(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    if text.trim().is_empty() {
        return None;
    }
    // `= {` opens an initialiser.
    if paren_level_has(header, b'=') {
        return None;
    }
    let groups = paren_groups(header);
    if groups.is_empty() {
        let ids = idents(header);
        return match ids.as_slice() {
            [.., (kw, _), (name, _)] if kw == "struct" => Some(format!("struct {name}")),
            _ => None,
        };
    }
    for (k, &(open, close)) in groups.iter().enumerate().rev() {
        match ident_before(header, open) {
            Some(id) if ATTRIBUTES.contains(&id.as_str()) => continue,
            Some(id) if id.starts_with("SYSCALL_DEFINE") || id.starts_with("COMPAT_SYSCALL_DEFINE") => {
                let ids = idents(&header[open + 1..close]);
                let (first, _) = ids.first()?;
                let prefix = if id.starts_with("COMPAT") { "compat_sys_" } else { "sys_" };
                return Some(format!("{prefix}{first}"));
            }
            // A macro that expands to a definition (DEFINE_..., LIST_HEAD...).
            Some(id) if id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') => return None,
            Some(id) => return Some(id),
            None => {
                // `(*name(params))(params)`: the name is inside the group
                // before, right before its own parameter list.
                let (o, c) = *groups.get(k.checked_sub(1)?)?;
                let inner = &header[o + 1..c];
                let p = inner.iter().position(|&b| b == b'(')?;
                return ident_before(inner, p);
            }
        }
    }
    None
}

/// The top-level parenthesised groups of `header`: (open, close) offsets.
fn paren_groups(header: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut open = 0usize;
    for (i, &b) in header.iter().enumerate() {
        match b {
            b'(' => {
                if depth == 0 {
                    open = i;
                }
                depth += 1;
            }
            b')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push((open, i));
                }
            }
            _ => {}
        }
    }
    out
}

/// The identifier that ends right before offset `at` (whitespace between
/// allowed), if any.
fn ident_before(header: &[u8], at: usize) -> Option<String> {
    let mut end = at;
    while end > 0 && header[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && is_ident(header[start - 1]) {
        start -= 1;
    }
    if start == end || header[start].is_ascii_digit() {
        return None;
    }
    Some(String::from_utf8_lossy(&header[start..end]).into_owned())
}

/// Whether `b` occurs in `header` outside parentheses.
fn paren_level_has(header: &[u8], b: u8) -> bool {
    let mut depth = 0i32;
    for &c in header {
        match c {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ if c == b && depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// Every function and structure defined at the top level of `src`, in
/// file order; a name defined twice (one per `#ifdef` branch) is one
/// definition spanning both, fingerprinted over both texts.
pub fn definitions(src: &str) -> Vec<Def> {
    let (code, mask) = blank(src);
    let line_of = {
        let mut starts = vec![0usize];
        starts.extend(src.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1));
        move |off: usize| starts.partition_point(|&s| s <= off) as u32
    };
    let mut defs: Vec<(String, usize, usize, Vec<u8>)> = Vec::new();
    let mut seg = 0usize;
    let mut i = 0usize;
    while i < mask.len() {
        match mask[i] {
            b';' => seg = i + 1,
            b'}' => seg = i + 1,
            b'{' => {
                let close = matching(&mask, i);
                let header = &mask[seg..i];
                if let Some(name) = name_of(header) {
                    // A definition's header holds no blank line: what stands
                    // before the last one (a macro invocation with no `;`)
                    // is not part of it.
                    let from = last_blank_line(header).unwrap_or(0);
                    let start = seg + from + header[from..].iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
                    let text: Vec<u8> = code[start..=close.min(code.len() - 1)].to_vec();
                    defs.push((name, start, close, text));
                }
                i = close;
                seg = close + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let mut out: Vec<Def> = Vec::new();
    let mut texts: Vec<Vec<u8>> = Vec::new();
    for (name, start, end, text) in defs {
        let (a, b) = (line_of(start), line_of(end));
        if let Some(k) = out.iter().position(|d| d.name == name) {
            out[k].lines.1 = b;
            texts[k].extend_from_slice(&text);
        } else {
            out.push(Def { name, lines: (a, b), fp: 0 });
            texts.push(text);
        }
    }
    for (d, t) in out.iter_mut().zip(&texts) {
        d.fp = fingerprint(&String::from_utf8_lossy(t));
    }
    out
}

/// The start of the last line of `header` that has code and follows a
/// line with none (a blank line, or the rest of the line that ended the
/// previous definition), if any.
fn last_blank_line(header: &[u8]) -> Option<usize> {
    let mut last = None;
    let mut line_start = 0;
    let mut this_blank = true;
    let mut prev_blank = false;
    for (i, &b) in header.iter().enumerate() {
        if b == b'\n' {
            prev_blank = this_blank;
            line_start = i + 1;
            this_blank = true;
        } else if !b.is_ascii_whitespace() && this_blank {
            this_blank = false;
            if prev_blank && line_start > 0 {
                last = Some(line_start);
            }
        }
    }
    last
}

/// The `}` that closes the `{` at `open` (the end of the text when none).
fn matching(mask: &[u8], open: usize) -> usize {
    let mut depth = 0i32;
    for (j, &c) in mask.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    mask.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
/* a file */
#include <x.h>
#define BRACE {
static const struct ops o = {
\t.read = r,
};

struct item {
\tint a; /* } */
};

static int __init helper(int a,
\t\t\t  char *b)
{
\tif (a) {
\t\treturn '}';
\t}
\treturn b[0] == \"{\"[0];
}

SYSCALL_DEFINE2(pipe2, int __user *, fildes, int, flags)
{
\treturn helper(flags, 0);
}
EXPORT_SYMBOL(helper);
DEFINE_CLASS(thing, int, x, y, int a)

__printf(2, 3) static void __cold report(int a, const char *fmt, ...)
{
}

static void (*handler(int sig))(int)
{
	return 0;
}
#define Q \"/*\"
static void lock_it(int a) __acquires(a)
{
}
";

    #[test]
    fn functions_structs_and_syscalls_are_found_with_their_lines() {
        let d = definitions(SAMPLE);
        let names: Vec<(&str, (u32, u32))> = d.iter().map(|d| (d.name.as_str(), d.lines)).collect();
        assert_eq!(
            names,
            vec![
                ("struct item", (8, 10)),
                ("helper", (12, 19)),
                ("sys_pipe2", (21, 24)),
                ("report", (28, 30)),
                ("handler", (32, 35)),
                ("lock_it", (37, 39)),
            ]
        );
    }

    #[test]
    fn fingerprints_ignore_whitespace_and_comments_but_not_tokens() {
        let base = definitions(SAMPLE);
        let reflowed = SAMPLE.replace("\treturn helper(flags, 0);", "  /* why */ return   helper(flags,0); // x");
        assert_eq!(
            definitions(&reflowed),
            base.iter()
                .cloned()
                .map(|mut d| {
                    if d.name == "sys_pipe2" {
                        d.lines = (21, 24);
                    }
                    d
                })
                .collect::<Vec<_>>()
        );
        let changed = SAMPLE.replace("helper(flags, 0)", "helper(flags, 1)");
        let after = definitions(&changed);
        assert_ne!(after[2].fp, base[2].fp);
        assert_eq!(after[1].fp, base[1].fp);
    }
}
