//! Operations: one line's operation and its operands (descriptors, keys,
//! flags, data, filters), with hints for what was meant.

use super::*;

pub(super) fn closest<'a>(word: &str, choices: &[&'a str]) -> Option<&'a str> {
    // Levenshtein distance over characters; a tie goes to the name that
    // sorts first.
    choices
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
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

pub(super) fn did_you_mean(word: &str, choices: &[&str]) -> Option<String> {
    closest(word, choices).map(|c| format!("did you mean `{c}`?"))
}

pub(super) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.replace('_', "");
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = s.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else {
        s.parse().ok()
    }
}

pub(super) fn parse_i64(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(rest) => parse_u64(rest).and_then(|v| i64::try_from(v).ok()).map(|v| -v),
        None => parse_u64(s).and_then(|v| i64::try_from(v).ok()),
    }
}

/// Operands of one operation line, consumed left to right.
pub(super) struct Args<'l, 'a> {
    pub(super) line: &'l Line<'a>,
    pub(super) toks: Vec<Tok>,
    pub(super) at: usize,
    /// The operation's keyword and usage, for messages.
    pub(super) op: Tok,
    pub(super) usage: &'static str,
}

impl Args<'_, '_> {
    pub(super) fn usage_hint(&self) -> Option<String> {
        Some(format!("usage: {}", self.usage))
    }
    pub(super) fn next(&mut self, what: &str) -> Result<Tok, ParseError> {
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
    pub(super) fn optional(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        if t.is_some() {
            self.at += 1;
        }
        t
    }
    pub(super) fn done(&self) -> Result<(), ParseError> {
        match self.toks.get(self.at) {
            None => Ok(()),
            Some(t) => {
                Err(self.line.err_at(t, format!("unexpected `{}` after `{}`", t.text, self.op.text), self.usage_hint()))
            }
        }
    }
    pub(super) fn num<T: TryFrom<u64>>(&mut self, what: &str) -> Result<T, ParseError> {
        let t = self.next(what)?;
        parse_u64(&t.text).and_then(|v| T::try_from(v).ok()).ok_or_else(|| {
            self.line.err_at(
                &t,
                format!("expected {what}, found `{}`", t.text),
                Some("write a number: `4096`, `0x1000`".into()),
            )
        })
    }
    pub(super) fn int(&mut self, what: &str) -> Result<i32, ParseError> {
        let t = self.next(what)?;
        parse_i64(&t.text).and_then(|v| i32::try_from(v).ok()).ok_or_else(|| {
            self.line.err_at(
                &t,
                format!("expected {what}, found `{}`", t.text),
                Some("write a number such as `-1` or `0`".into()),
            )
        })
    }
    pub(super) fn fd(&mut self) -> Result<FdRef, ParseError> {
        let t = self.next("a file descriptor")?;
        parse_fd(&t.text).ok_or_else(|| {
            self.line.err_at(
                &t,
                format!("expected a file descriptor, found `{}`", t.text),
                Some(
                    "write `p0.r` (read end of pipe p0), `p0.w` (write end), `f0` (the file opened as f0) or `fd:7` \
                     (a raw number)"
                        .into(),
                ),
            )
        })
    }
    pub(super) fn key(&mut self) -> Result<KeyRef, ParseError> {
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
    pub(super) fn slot(&mut self, prefix: char, what: &str) -> Result<u8, ParseError> {
        let t = self.next(what)?;
        t.text.strip_prefix(prefix).and_then(|n| n.parse::<u8>().ok()).ok_or_else(|| {
            self.line.err_at(
                &t,
                format!("expected {what}, found `{}`", t.text),
                Some(format!("write `{prefix}0` .. `{prefix}255`")),
            )
        })
    }
    pub(super) fn string(&mut self, what: &str) -> Result<String, ParseError> {
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
    pub(super) fn data(&mut self) -> Result<Vec<u8>, ParseError> {
        let t = self.next("data")?;
        parse_data(&t)
            .map_err(|m| self.line.err_at(&t, m, Some("data is \"text\", hex:0a0b or repeat(0x5a, 4096)".into())))
    }
}

pub(super) fn parse_fd(s: &str) -> Option<FdRef> {
    if let Some(n) = s.strip_prefix("fd:") {
        return parse_i64(n).and_then(|v| i32::try_from(v).ok()).map(FdRef::Raw);
    }
    if let Some(n) = s.strip_prefix('f') {
        return n.parse::<u8>().ok().map(FdRef::File);
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

pub(super) fn parse_key(s: &str) -> Option<KeyRef> {
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

pub(super) fn parse_data(t: &Tok) -> Result<Vec<u8>, String> {
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

pub(super) fn parse_flags(s: &str, names: &[(u32, &str)]) -> Result<u32, String> {
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

pub(super) const OPEN_FLAGS: [(u32, &str); 5] = [
    (uapi::O_NOTIFICATION_PIPE, "O_NOTIFICATION_PIPE"),
    (uapi::O_TMPFILE, "O_TMPFILE"),
    (uapi::O_NONBLOCK, "O_NONBLOCK"),
    (uapi::O_DIRECT, "O_DIRECT"),
    (uapi::O_CLOEXEC, "O_CLOEXEC"),
];
pub(super) const SPLICE_FLAGS: [(u32, &str); 4] =
    [(0x01, "SPLICE_F_MOVE"), (0x02, "SPLICE_F_NONBLOCK"), (0x04, "SPLICE_F_MORE"), (0x08, "SPLICE_F_GIFT")];

/// `{type=key subtypes=updated,linked info_filter=0 info_mask=0}` groups.
pub(super) fn parse_filter_groups(groups: &[Tok], line: &Line<'_>) -> Result<Vec<u8>, ParseError> {
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

pub(super) const OPS: &[(&str, &str)] = &[
    ("pipe2", "pipe2 pN FLAGS"),
    ("open", "open fN null|tty|file [FLAGS]"),
    ("close", "close FD"),
    ("read", "read FD LEN"),
    ("write", "write FD DATA"),
    (
        "ioctl",
        "ioctl FD FIONREAD | FIONBIO on|off | SET_SIZE N | SET_FILTER {...}... | SET_FILTER null | SET_FILTER hex:.. | NUMBER",
    ),
    ("fcntl", "fcntl FD F_SETPIPE_SZ|F_GETPIPE_SZ|F_GETFL|F_SETFL|NUMBER ARG"),
    ("poll", "poll FD [TIMEOUT_MS [EVENTS]]"),
    ("epoll", "epoll FD [0|-1]"),
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
    ("join_session", "join_session kN [\"NAME\"]"),
    ("restrict_keyring", "restrict_keyring KEYRING [TYPE RESTRICTION]"),
    ("instantiate", "instantiate KEY DATA [KEYRING]"),
    ("reject", "reject KEY TIMEOUT ERRNO [KEYRING]"),
    ("watch_key", "watch_key KEY FD TAG"),
    ("read_keyring", "read_keyring KEYRING"),
    ("setlabel", "setlabel \"LABEL\""),
    ("watch_devices", "watch_devices FD TAG [FLAGS]"),
    ("block_error", "block_error SUBTYPE DEV SECTOR"),
    ("usb_event", "usb_event SUBTYPE \"NAME\" [ERROR]"),
    ("watch_mount", "watch_mount \"PATH\" FD TAG [FLAGS]"),
    ("watch_sb", "watch_sb \"PATH\" FD TAG [FLAGS]"),
    ("mount", "mount \"PATH\""),
    ("umount", "umount \"PATH\""),
    ("move_mount", "move_mount \"FROM\" \"TO\""),
    ("mount_setattr", "mount_setattr \"PATH\" rw|ro|nosuid|ro,nosuid"),
    ("expire", "expire \"PATH\""),
    ("remount", "remount \"PATH\" ro|rw"),
    ("sb_event", "sb_event \"PATH\" error ERRNO|edquot|network"),
    ("mount_children", "mount_children \"PATH\""),
    ("fail_nth", "fail_nth N"),
    ("key_gc", "key_gc"),
    ("rcu_barrier", "rcu_barrier"),
    ("sleep", "sleep SECONDS"),
];

/// The longest `poll` timeout, in milliseconds (`int` in the syscall).
pub const MAX_POLL_TIMEOUT_MS: i64 = i32::MAX as i64;

/// The events a `poll` may name.
pub(super) const POLL_FLAGS: [(u32, &str); 7] = [
    (uapi::POLLIN, "POLLIN"),
    (uapi::POLLOUT, "POLLOUT"),
    (uapi::POLLERR, "POLLERR"),
    (uapi::POLLHUP, "POLLHUP"),
    (uapi::POLLNVAL, "POLLNVAL"),
    (uapi::POLLRDNORM, "POLLRDNORM"),
    (uapi::POLLWRNORM, "POLLWRNORM"),
];

/// The longest `sleep` (about 31 years of virtual time).
pub const MAX_SLEEP_SECS: u64 = 1_000_000_000;

/// Parse one operation from its tokens.
/// A record subtype operand: one of `names`, or a number 0..=255.
/// A path operand: a quoted absolute path (`"/"`, `"/mnt/a"`).
fn path_operand(a: &mut Args<'_, '_>) -> Result<String, ParseError> {
    let at = a.toks.get(a.at).cloned();
    let p = a.string("a path")?;
    if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
        let t = at.expect("string consumed a token");
        return Err(a.line.err_at(
            &t,
            format!("`{p}`: expected an absolute path without `..`"),
            Some("write a path from the root, such as \"/mnt\"".into()),
        ));
    }
    Ok(p)
}

fn subtype_operand(a: &mut Args<'_, '_>, names: &[&str]) -> Result<u8, ParseError> {
    let t = a.next("a subtype")?;
    if let Some(i) = names.iter().position(|n| *n == t.text) {
        return Ok(i as u8);
    }
    parse_u64(&t.text).and_then(|n| u8::try_from(n).ok()).ok_or_else(|| {
        let hint =
            did_you_mean(&t.text, names).unwrap_or_else(|| format!("subtypes are {}, or 0..=255", names.join(", ")));
        a.line.err_at(&t, format!("unknown subtype `{}`", t.text), Some(hint))
    })
}

pub(super) fn parse_op(toks: Vec<Tok>, line: &Line<'_>) -> Result<Op, ParseError> {
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
        "open" => {
            let file = a.slot('f', "a file name")?;
            let t = a.next("what to open")?;
            let names: Vec<&str> = OpenKind::ALL.iter().map(|k| k.name()).collect();
            let Some(kind) = OpenKind::ALL.into_iter().find(|k| k.name() == t.text) else {
                let hint = did_you_mean(&t.text, &names).unwrap_or_else(|| {
                    "write `null` (/dev/null), `tty` (a pseudo-terminal) or `file` (a new regular file)".into()
                });
                return Err(line.err_at(&t, format!("unknown file `{}`", t.text), Some(hint)));
            };
            let flags = match a.optional() {
                None => 0,
                Some(f) => {
                    let v = parse_flags(&f.text, &OPEN_FLAGS).map_err(|m| line.err_at(&f, m, None))?;
                    let known = OPEN_FLAGS.iter().fold(0, |m, (b, _)| m | b);
                    if v & !known != 0 {
                        return Err(line.err_at(
                            &f,
                            format!("`open` takes no flag {:#x}", v & !known),
                            Some("flags for open are O_NONBLOCK, O_CLOEXEC, O_DIRECT, O_NOTIFICATION_PIPE".into()),
                        ));
                    }
                    v
                }
            };
            Op::Open { file, kind, flags }
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
        "epoll" => {
            let fd = a.fd()?;
            let wait = match a.optional() {
                None => false,
                Some(t) if t.text == "0" => false,
                Some(t) if t.text == "-1" => true,
                Some(t) => {
                    return Err(line.err_at(
                        &t,
                        format!("expected a timeout, found `{}`", t.text),
                        Some(
                            "write `0` (the default: report the events ready now) or `-1` (sleep until one is)".into(),
                        ),
                    ));
                }
            };
            Op::Epoll { fd, wait }
        }
        "poll" => {
            let fd = a.fd()?;
            let timeout = match a.optional() {
                None => 0,
                Some(t) => match t.text.parse::<i64>() {
                    Ok(-1) => -1,
                    Ok(ms @ 0..=MAX_POLL_TIMEOUT_MS) => ms as i32,
                    _ => {
                        return Err(line.err_at(
                            &t,
                            format!("expected a timeout in milliseconds, found `{}`", t.text),
                            Some(format!(
                                "write `0` (the default: report the events ready now), `-1` (sleep until one is) or 1..={MAX_POLL_TIMEOUT_MS} (sleep until one is or the time has passed)"
                            )),
                        ));
                    }
                },
            };
            let events = match a.optional() {
                None => wqsim_model::api::POLL_EVENTS,
                Some(t) => parse_flags(&t.text, &POLL_FLAGS).map_err(|m| {
                    line.err_at(&t, m, Some("join poll events with `|`, as in POLLIN|POLLRDNORM; `0` for none".into()))
                })?,
            };
            Op::Poll { fd, events, timeout }
        }
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
        "join_session" => {
            let slot = a.slot('k', "a key name (for the session keyring until now)")?;
            let name = match a.toks.get(a.at).is_some() {
                true => Some(a.string("a keyring name")?),
                false => None,
            };
            Op::JoinSession { slot, name }
        }
        "restrict_keyring" => {
            let keyring = a.key()?;
            let type_restriction = match a.toks.get(a.at).is_some() {
                true => Some((a.string("a key type")?, a.string("a restriction")?)),
                false => None,
            };
            Op::Restrict { keyring, type_restriction }
        }
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
        "read_keyring" => Op::ReadKeyring { keyring: a.key()? },
        "setlabel" => Op::SetLabel { label: a.string("a label")? },
        "watch_devices" => {
            let (fd, tag) = (a.fd()?, a.int("a tag")?);
            let flags = match a.optional() {
                None => 0,
                Some(t) => parse_u64(&t.text).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                    a.line.err_at(&t, format!("expected flags (a 32-bit number), found `{}`", t.text), a.usage_hint())
                })?,
            };
            Op::WatchDevices { fd, tag, flags }
        }
        "block_error" => {
            let subtype = subtype_operand(&mut a, &uapi::BLOCK_SUBTYPE_NAMES)?;
            Op::BlockError { subtype, dev: a.num("a device number")?, sector: a.num("a sector")? }
        }
        "usb_event" => {
            let subtype = subtype_operand(&mut a, &uapi::USB_SUBTYPE_NAMES)?;
            let name = a.string("a device name")?;
            let error = match a.optional() {
                None => 0,
                Some(t) => parse_u64(&t.text).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                    a.line.err_at(
                        &t,
                        format!("expected an error (a 32-bit number), found `{}`", t.text),
                        a.usage_hint(),
                    )
                })?,
            };
            Op::UsbEvent { subtype, name, error }
        }
        "watch_mount" | "watch_sb" => {
            let path = path_operand(&mut a)?;
            let (fd, tag) = (a.fd()?, a.int("a tag")?);
            let flags = match a.optional() {
                None => 0,
                Some(t) => parse_u64(&t.text).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                    a.line.err_at(&t, format!("expected flags (a 32-bit number), found `{}`", t.text), a.usage_hint())
                })?,
            };
            if op.text == "watch_mount" {
                Op::WatchMount { path, fd, tag, flags }
            } else {
                Op::WatchSb { path, fd, tag, flags }
            }
        }
        "mount" => Op::Mount { path: path_operand(&mut a)? },
        "umount" => Op::Umount { path: path_operand(&mut a)? },
        "expire" => Op::Expire { path: path_operand(&mut a)? },
        "mount_children" => Op::MountChildren { path: path_operand(&mut a)? },
        "move_mount" => Op::MoveMount { from: path_operand(&mut a)?, to: path_operand(&mut a)? },
        "mount_setattr" => {
            let path = path_operand(&mut a)?;
            let t = a.next("mount flags")?;
            let mut mnt_flags = 0;
            for part in t.text.split(',') {
                mnt_flags |= match part {
                    "rw" => 0,
                    "ro" => wqsim_model::mount::MNT_READONLY,
                    "nosuid" => wqsim_model::mount::MNT_NOSUID,
                    _ => match parse_u64(part).and_then(|n| u32::try_from(n).ok()) {
                        Some(n) => n,
                        None => {
                            return Err(a.line.err_at(
                                &t,
                                format!("unknown mount flag `{part}`"),
                                Some("write rw, ro, nosuid or ro,nosuid (the mount's flags after the change)".into()),
                            ));
                        }
                    },
                };
            }
            Op::MountSetattr { path, mnt_flags }
        }
        "remount" => {
            let path = path_operand(&mut a)?;
            let t = a.next("ro or rw")?;
            let ro = match t.text.as_str() {
                "ro" => true,
                "rw" => false,
                _ => {
                    return Err(a.line.err_at(&t, format!("expected ro or rw, found `{}`", t.text), a.usage_hint()));
                }
            };
            Op::Remount { path, ro }
        }
        "sb_event" => {
            let path = path_operand(&mut a)?;
            let at = a.toks.get(a.at).cloned();
            let subtype = subtype_operand(&mut a, &uapi::SB_SUBTYPE_NAMES)?;
            if subtype == uapi::NOTIFY_SUPERBLOCK_READONLY {
                let t = at.expect("subtype_operand consumed a token");
                return Err(a.line.err_at(
                    &t,
                    "`sb_event ... readonly`: a superblock turns read-only by a remount",
                    Some("write `remount \"PATH\" ro`".into()),
                ));
            }
            let error = if subtype == uapi::NOTIFY_SUPERBLOCK_ERROR {
                let t = a.next("an error number")?;
                match Errno::from_name(&t.text) {
                    Some(e) => e.number() as u32,
                    None => parse_u64(&t.text).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                        a.line.err_at(
                            &t,
                            format!("expected an error number, found `{}`", t.text),
                            Some("write a name such as EIO or a number".into()),
                        )
                    })?,
                }
            } else {
                0
            };
            Op::SbEvent { path, subtype, error }
        }
        "fail_nth" => Op::FailNth { n: a.num("a count")? },
        "key_gc" => Op::KeyGc,
        "rcu_barrier" => Op::RcuBarrier,
        "sleep" => {
            let at = a.toks.get(a.at).cloned();
            let secs: u64 = a.num("seconds")?;
            if secs > MAX_SLEEP_SECS {
                let t = at.expect("num consumed a token");
                return Err(a.line.err_at(
                    &t,
                    format!("`sleep {secs}`: at most {MAX_SLEEP_SECS} seconds"),
                    Some("a virtual clock moves; write the seconds the program waits, 0 to 1000000000".into()),
                ));
            }
            Op::Sleep { secs }
        }
        _ => unreachable!("every name in OPS has a parser"),
    };
    a.done()?;
    Ok(out)
}

/// Split `op ... => OUTCOME`: the operation's tokens and the expected
/// outcome's text (the rest of the line, comment removed).
pub(super) fn split_expectation(toks: Vec<Tok>, line: &Line<'_>) -> Result<(Vec<Tok>, Option<String>), ParseError> {
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
