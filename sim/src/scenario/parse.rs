//! The file: its header lines, `setup:`, `thread` and `schedule:` blocks,
//! `run` lines, and the checks across them.

use super::*;

pub(super) const CONFIG_KEYS: &[&str] = &[
    "page_size",
    "pipe_max_size",
    "pipe_user_pages_soft",
    "pipe_user_pages_hard",
    "rlimit_nofile",
    "uid",
    "privileged",
    "pipe_index_bits",
    "pipe_initial_index",
    "key_gc_delay",
    "key_quota_maxkeys",
    "key_quota_maxbytes",
    "key_quota_root_maxkeys",
    "key_quota_root_maxbytes",
];

pub(super) const TOP: &[&str] = &["variant", "base", "bugs", "config", "lsm", "setup:", "thread", "schedule:", "run"];

pub(super) enum Block {
    None,
    Setup,
    Thread(usize),
    Schedule,
}

/// Refuse a second value for a setting given once already (`what`), at
/// `t`; remember the first.
pub(super) fn once(
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

/// The state of a parse: the scenario so far and where the reader is.
struct Parser {
    sc: Scenario,
    /// The block indented lines belong to.
    block: Block,
    /// Still in the leading comment (the scenario's `about`).
    in_header: bool,
    seen_setup: bool,
    /// Operations so far, repeats counted.
    total_ops: usize,
    /// Where each single-valued setting was first given: a second one is
    /// refused rather than silently winning.
    first_at: std::collections::BTreeMap<String, (usize, usize)>,
}

/// Parse a scenario. `path` is used in messages only.
pub fn parse(path: &str, text: &str) -> Result<Scenario, ParseError> {
    let mut p = Parser {
        sc: Scenario {
            path: path.to_string(),
            hash: fnv1a(text.as_bytes()),
            about: Vec::new(),
            variant: Variant::Upstream,
            base: Base::Kernel,
            bugs: Vec::new(),
            settings: Vec::new(),
            deny_watch_key: Vec::new(),
            lsm_module: LsmModule::None,
            setup: Vec::new(),
            threads: Vec::new(),
            schedule: None,
            runs: Vec::new(),
        },
        block: Block::None,
        in_header: true,
        seen_setup: false,
        total_ops: 0,
        first_at: Default::default(),
    };
    for (i, src) in text.lines().enumerate() {
        p.line(&Line { path, no: i + 1, src })?;
    }
    validate(&p.sc, text)?;
    Ok(p.sc)
}

impl Parser {
    /// One line of the file.
    fn line(&mut self, line: &Line<'_>) -> Result<(), ParseError> {
        let src = line.src;
        let trimmed = src.trim();
        if let Some((col, c)) = src.chars().enumerate().find(|(_, c)| is_control(*c)) {
            return Err(line.err(
                col + 1,
                1,
                format!("a control character ({})", visible(&c.to_string())),
                Some("write it inside a string as `\\xNN`, or delete it".into()),
            ));
        }
        if self.in_header {
            if let Some(c) = trimmed.strip_prefix('#') {
                self.sc.about.push(c.strip_prefix(' ').unwrap_or(c).to_string());
                return Ok(());
            }
            if !trimmed.is_empty() {
                self.in_header = false;
            }
        }
        if src.contains('\t') {
            let col = src.chars().position(|c| c == '\t').unwrap_or(0) + 1;
            return Err(line.err(col, 1, "a tab character", Some("indent with spaces".into())));
        }
        let toks = tokenize(line)?;
        if toks.is_empty() {
            return Ok(());
        }
        if src.starts_with(' ') {
            return match self.block {
                Block::None => Err(line.err_at(
                    &toks[0],
                    "an indented line outside a block",
                    Some("indented lines belong under `setup:`, `thread NAME:` or `schedule:`".into()),
                )),
                Block::Setup | Block::Thread(_) => self.step(toks, line),
                Block::Schedule => self.directive(toks, line),
            };
        }
        self.block = Block::None;
        let kw = &toks[0];
        let rest = &toks[1..];
        match kw.text.as_str() {
            "variant" => self.variant(kw, rest, line),
            "base" => self.base(kw, rest, line),
            "bugs" => self.bugs(kw, rest, line),
            "config" => self.config(kw, rest, line),
            "lsm" => self.lsm(kw, rest, line),
            "setup:" => {
                if self.seen_setup {
                    return Err(line.err_at(
                        kw,
                        "a second `setup:` block",
                        Some("put every setup step in one block".into()),
                    ));
                }
                self.seen_setup = true;
                self.block = Block::Setup;
                Ok(())
            }
            "setup" => Err(line.err_at(kw, "`setup` needs a colon", Some("write `setup:`".into()))),
            "schedule:" => {
                if self.sc.schedule.is_some() {
                    return Err(line.err_at(kw, "a second `schedule:` block", None));
                }
                self.sc.schedule = Some(Vec::new());
                self.block = Block::Schedule;
                Ok(())
            }
            "thread" => self.thread(kw, rest, line),
            "run" => {
                self.sc.runs.push(parse_run(rest, kw, line)?);
                Ok(())
            }
            other => {
                let hint = did_you_mean(other, TOP).unwrap_or_else(|| {
                    "lines start with variant, base, bugs, config, lsm, setup:, thread NAME:, schedule: or run; operations are indented".into()
                });
                Err(line.err_at(kw, format!("unknown keyword `{other}`"), Some(hint)))
            }
        }
    }

    /// An operation of `setup:` or a thread, perhaps `repeat N OP`, perhaps
    /// with its expected outcome (`=> EBUSY`).
    fn step(&mut self, toks: Vec<Tok>, line: &Line<'_>) -> Result<(), ParseError> {
        let (mut toks, expect) = split_expectation(toks, line)?;
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
        let step = Step { op: parse_op(toks, line)?, line: line.no, expect };
        self.total_ops += times;
        if self.total_ops > OPERATIONS_MAX {
            return Err(line.err(
                1,
                line.src.chars().count().max(1),
                format!("more than {OPERATIONS_MAX} operations (repeats counted)"),
                Some("a scenario is one behaviour: shorten it or lower its repeat counts".into()),
            ));
        }
        for _ in 0..times {
            match self.block {
                Block::Thread(t) => self.sc.threads[t].steps.push(step.clone()),
                _ => self.sc.setup.push(step.clone()),
            }
        }
        Ok(())
    }

    /// A line of `schedule:`: `THREAD` or `THREAD until KERNEL_FUNCTION`.
    fn directive(&mut self, toks: Vec<Tok>, line: &Line<'_>) -> Result<(), ParseError> {
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
        self.sc.schedule.get_or_insert_with(Vec::new).push(Directive { thread, until, line: line.no });
        Ok(())
    }

    /// `variant upstream|v1|v5`.
    fn variant(&mut self, kw: &Tok, rest: &[Tok], line: &Line<'_>) -> Result<(), ParseError> {
        let v =
            rest.first().ok_or_else(|| line.err_at(kw, "`variant` needs a name", Some("upstream, v1 or v5".into())))?;
        once(&mut self.first_at, "variant", line, kw)?;
        self.sc.variant = match v.text.as_str() {
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
        Ok(())
    }

    /// `base kernel|fixed`.
    fn base(&mut self, kw: &Tok, rest: &[Tok], line: &Line<'_>) -> Result<(), ParseError> {
        let accepted = "`kernel` (the kernel today, findings on), `fixed` (every switch off), `debian-6.12` or `debian-6.1` (that kernel as Debian ships it: the findings and the historical bugs its source still has)";
        let v = rest.first().ok_or_else(|| line.err_at(kw, "`base` needs a base", Some(accepted.into())))?;
        once(&mut self.first_at, "base", line, kw)?;
        if let Some(x) = rest.get(1) {
            return Err(line.err_at(x, format!("unexpected `{}`", x.text), None));
        }
        self.sc.base = match Base::from_name(&v.text) {
            Some(b) => b,
            None => return Err(line.err_at(v, format!("unknown base `{}`", v.text), Some(accepted.into()))),
        };
        Ok(())
    }

    /// `bugs ID...`: catalog switches on.
    fn bugs(&mut self, kw: &Tok, rest: &[Tok], line: &Line<'_>) -> Result<(), ParseError> {
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
                if self.sc.bugs.contains(&b) {
                    return Err(line.err_at(
                        t,
                        format!("switch {} is listed twice", b.info().id),
                        Some("list each switch once".into()),
                    ));
                }
                self.sc.bugs.push(b);
            }
        }
        Ok(())
    }

    /// `config key=value...`, each in its range ([`CONFIG_RANGES`]).
    fn config(&mut self, kw: &Tok, rest: &[Tok], line: &Line<'_>) -> Result<(), ParseError> {
        if rest.is_empty() {
            return Err(line.err_at(
                kw,
                "`config` needs settings",
                Some("write `config uid=1000 privileged=no`".into()),
            ));
        }
        for t in rest {
            let Some((k, v)) = t.text.split_once('=') else {
                return Err(line.err_at(t, format!("`{}` is not a setting", t.text), Some("write key=value".into())));
            };
            if !CONFIG_KEYS.contains(&k) {
                let hint =
                    did_you_mean(k, CONFIG_KEYS).unwrap_or_else(|| format!("settings are: {}", CONFIG_KEYS.join(", ")));
                return Err(line.err_at(t, format!("unknown setting `{k}`"), Some(hint)));
            }
            once(&mut self.first_at, k, line, t)?;
            let n = match (k, v) {
                ("privileged", "yes") => 1,
                ("privileged", "no") => 0,
                ("privileged", _) => {
                    return Err(line.err_at(t, "privileged is yes or no", Some("write privileged=no".into())));
                }
                _ => {
                    let (_, lo, hi, why) =
                        CONFIG_RANGES.iter().find(|(name, ..)| *name == k).copied().unwrap_or((k, 0, u64::MAX, ""));
                    let range = |found: &str| {
                        line.err_at(t, format!("`{k}` is {lo}..={hi}, found `{found}`"), Some(format!("{k}: {why}")))
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
                                "pipe_index_t is unsigned short on 32-bit kernels, unsigned int on 64-bit ones".into(),
                            ),
                        ));
                    }
                    n
                }
            };
            self.sc.settings.push((k.to_string(), n));
        }
        Ok(())
    }

    /// `lsm deny_watch_key "description"`, `lsm smack`, `lsm smack_rule
    /// SUBJECT OBJECT ACCESS`, `lsm selinux`, `lsm selinux_allow SOURCE
    /// TARGET CLASS PERMISSION`. A rule names its module; one module per
    /// scenario.
    fn lsm(&mut self, kw: &Tok, rest: &[Tok], line: &Line<'_>) -> Result<(), ParseError> {
        let usage = "write `lsm deny_watch_key \"description\"`, `lsm smack`, `lsm smack_rule SUBJECT OBJECT ACCESS` (access letters of rwxat), `lsm selinux` or `lsm selinux_allow SOURCE TARGET CLASS PERMISSION`";
        let Some(r) = rest.first() else {
            return Err(line.err_at(kw, "`lsm` needs a rule", Some(usage.into())));
        };
        let words: Vec<String> = rest[1..].iter().map(|t| t.text.clone()).collect();
        let want = |n: usize| -> Result<(), ParseError> {
            if words.len() == n {
                return Ok(());
            }
            let at = rest.get(n + 1).unwrap_or(r);
            Err(line.err_at(
                at,
                format!("`lsm {}` takes {n} word(s), found {}", r.text, words.len()),
                Some(usage.into()),
            ))
        };
        let smack = matches!(r.text.as_str(), "smack" | "smack_rule");
        let selinux = matches!(r.text.as_str(), "selinux" | "selinux_allow");
        let clash = (smack && matches!(self.sc.lsm_module, LsmModule::Selinux(_)))
            || (selinux && matches!(self.sc.lsm_module, LsmModule::Smack(_)));
        if clash {
            return Err(line.err_at(
                r,
                "a scenario runs one LSM: Smack or SELinux",
                Some("keep the lines of one module".into()),
            ));
        }
        match r.text.as_str() {
            "deny_watch_key" if rest.len() == 2 && rest[1].quoted => self.sc.deny_watch_key.push(rest[1].text.clone()),
            "smack" | "selinux" => {
                want(0)?;
                if self.sc.lsm_module == LsmModule::None {
                    self.sc.lsm_module =
                        if smack { LsmModule::Smack(Vec::new()) } else { LsmModule::Selinux(Vec::new()) };
                }
            }
            "smack_rule" => {
                want(3)?;
                if let Some(bad) = words[2].chars().find(|c| !"rwxat-".contains(*c)) {
                    return Err(line.err_at(
                        &rest[3],
                        format!("unknown Smack access `{bad}`"),
                        Some("access letters are r, w, x, a, t (or - for none)".into()),
                    ));
                }
                let rule = (words[0].clone(), words[1].clone(), words[2].clone());
                match &mut self.sc.lsm_module {
                    LsmModule::Smack(rules) => rules.push(rule),
                    m => *m = LsmModule::Smack(vec![rule]),
                }
            }
            "selinux_allow" => {
                want(4)?;
                let rule = (words[0].clone(), words[1].clone(), words[2].clone(), words[3].clone());
                match &mut self.sc.lsm_module {
                    LsmModule::Selinux(allow) => allow.push(rule),
                    m => *m = LsmModule::Selinux(vec![rule]),
                }
            }
            _ => return Err(line.err_at(r, "unknown lsm rule", Some(usage.into()))),
        }
        Ok(())
    }

    /// `thread NAME:` or `thread NAME (blocking):`.
    fn thread(&mut self, kw: &Tok, rest: &[Tok], line: &Line<'_>) -> Result<(), ParseError> {
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
        if self.sc.threads.iter().any(|t| t.name == name) {
            return Err(line.err_at(
                name_tok,
                format!("a second thread named `{name}`"),
                Some("thread names must differ".into()),
            ));
        }
        self.sc.threads.push(Thread { name, blocking, steps: Vec::new(), line: line.no });
        self.block = Block::Thread(self.sc.threads.len() - 1);
        Ok(())
    }
}

pub(super) fn parse_run(rest: &[Tok], kw: &Tok, line: &Line<'_>) -> Result<RunSpec, ParseError> {
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

pub(super) fn validate(sc: &Scenario, text: &str) -> Result<(), ParseError> {
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
            let on = sc.bugs.contains(b) || sc.base.bugs().has(*b);
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
