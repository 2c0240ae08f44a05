//! Tokens: a line split into words, quoted strings, `{...}` groups and
//! `repeat(...)`, each with its column.

use super::*;

/// A token of a line: its text and its 1-based column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tok {
    pub(super) text: String,
    pub(super) col: usize,
    /// Characters the token spans in the source (quotes included).
    pub(super) width: usize,
    /// A quoted string (its text is unescaped).
    pub(super) quoted: bool,
}

pub(super) struct Line<'a> {
    pub(super) path: &'a str,
    pub(super) no: usize,
    pub(super) src: &'a str,
}

impl Line<'_> {
    pub(super) fn err(&self, col: usize, len: usize, message: impl Into<String>, hint: Option<String>) -> ParseError {
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
    pub(super) fn err_at(&self, t: &Tok, message: impl Into<String>, hint: Option<String>) -> ParseError {
        self.err(t.col, t.width, message, hint)
    }
}

/// Split a line into tokens: words, `"quoted strings"` (escapes `\"`,
/// `\\`, `\n`, `\xNN`), `{...}` groups and `repeat(...)` as one token each.
/// A `#` outside quotes starts a comment.
pub(super) fn tokenize(line: &Line<'_>) -> Result<Vec<Tok>, ParseError> {
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
