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
                if s[i] == b'/' && s.get(i + 1) == Some(&b'*') {
                    // A comment inside the directive: blank it in both.
                    let end = find(s, i + 2, b"*/").map_or(s.len(), |e| e + 2);
                    for j in i..end {
                        if s[j] != b'\n' {
                            code[j] = b' ';
                            mask[j] = b' ';
                        }
                    }
                    i = end;
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
                let end = find(s, i + 2, b"*/").map_or(s.len(), |e| e + 2);
                for j in i..end {
                    if s[j] != b'\n' {
                        code[j] = b' ';
                        mask[j] = b' ';
                    }
                }
                i = end;
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

/// The name a header defines: a function's (`Some(false)` kind) or a
/// structure's (`struct name`), or None for anything else (an initialiser,
/// an enum, a macro invocation's block).
fn name_of(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    // `= {` opens an initialiser.
    if paren_level_has(header, b'=') {
        return None;
    }
    if let Some(open) = first_paren(header) {
        // The identifier right before the first parenthesis that is not
        // an attribute's.
        let before = &header[..open];
        let ids = idents(before);
        let (name, _) = ids.iter().rev().find(|(id, end)| {
            header[*end..open].iter().all(|b| b.is_ascii_whitespace()) && !ATTRIBUTES.contains(&id.as_str())
        })?;
        if name.starts_with("SYSCALL_DEFINE") || name.starts_with("COMPAT_SYSCALL_DEFINE") {
            let args = &header[open + 1..];
            let ids = idents(args);
            let (first, _) = ids.first()?;
            let prefix = if name.starts_with("COMPAT") { "compat_sys_" } else { "sys_" };
            return Some(format!("{prefix}{first}"));
        }
        if name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
            // A macro that expands to a definition (DEFINE_..., LIST_HEAD...).
            return None;
        }
        return Some(name.clone());
    }
    let ids = idents(header);
    match ids.as_slice() {
        [.., (kw, _), (name, _)] if kw == "struct" => Some(format!("struct {name}")),
        _ => None,
    }
}

/// The first `(` of `header`, if any.
fn first_paren(header: &[u8]) -> Option<usize> {
    header.iter().position(|&b| b == b'(')
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
                    let start = seg + header.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
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
";

    #[test]
    fn functions_structs_and_syscalls_are_found_with_their_lines() {
        let d = definitions(SAMPLE);
        let names: Vec<(&str, (u32, u32))> = d.iter().map(|d| (d.name.as_str(), d.lines)).collect();
        assert_eq!(names, vec![("struct item", (8, 10)), ("helper", (12, 19)), ("sys_pipe2", (21, 24))]);
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
