//! `wqsim kernel-repro`: the findings (docs/findings) on a real kernel.
//!
//! For each finding with a reproducer, the guest runner ([`super::repro_guest`])
//! makes the finding's window as likely as it can (threads pinned to the two
//! CPUs, tight loops) and measures the symptom from user space: notes that
//! never come back (F3), records after their watch's removal record (F1),
//! quota the key collector never gives back (F6), or the Kernel Concurrency
//! Sanitizer's report of the racing pair, read from `/dev/kmsg` (F7, F8). Each
//! runs on Debian's kernel as it is and on the same source with
//! `docs/findings/patches/*.patch` applied; the patched kernel runs until
//! it has done at least ten times the operations the unmodified one needed
//! for its first hit. `ci/kernel/repro` builds the kernels and the guest and
//! runs this.
//!
//! The guest gets one line, `repro ID secs=S ops=N`, as its program and
//! answers with `wq| repro-*` lines ([`parse`]).

use std::fmt::Write as _;
use std::path::PathBuf;

/// What a reproducer needs of the kernel it boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// The kernel `ci/kernel/build.sh` builds (tinyconfig + watch queues).
    Plain,
    /// The same with CONFIG_KCSAN (`ci/kernel/build.sh --kcsan`).
    Kcsan,
}

/// One finding's reproduction on the real kernel.
#[derive(Clone, Copy, Debug)]
pub struct Repro {
    /// The catalog id (docs/findings).
    pub id: &'static str,
    /// The kernels it boots.
    pub build: Build,
    /// What it counts (the symptom).
    pub symptom: &'static str,
    /// What one operation is.
    pub op: &'static str,
    /// Whether the unmodified kernel must show it (exit 1 if it does not):
    /// the findings measured to reproduce on this kind of machine.
    pub required: bool,
}

/// The findings with a reproducer, in catalog order.
pub const REPROS: &[Repro] = &[
    Repro {
        id: "F1",
        build: Build::Plain,
        symptom: "records after their watch's removal record",
        op: "watch+unwatch rounds, a SET_TIMEOUT storm on the other CPU",
        required: false,
    },
    Repro {
        id: "F3",
        build: Build::Plain,
        symptom: "notes leaked (of 32)",
        op: "key updates posted, a non-blocking reader spinning on the other CPU",
        required: true,
    },
    Repro {
        id: "F6",
        build: Build::Plain,
        symptom: "links whose 4 bytes of quota the collector kept",
        op: "keys linked, invalidated and collected",
        required: true,
    },
    Repro {
        id: "F7",
        build: Build::Kcsan,
        symptom: "KCSAN reports: the poster vs watch_queue_set_size",
        op: "pipes watched, sized and closed while a key update posts to them",
        required: false,
    },
    Repro {
        id: "F8",
        build: Build::Kcsan,
        symptom: "KCSAN reports: the poster vs call_rcu of the watch",
        op: "pipes watched, sized and closed while a key update posts to them",
        required: false,
    },
];

/// The findings without a reproducer, and why.
pub const NO_REPRO: &[(&str, &str)] = &[
    (
        "F2",
        "needs a weakly ordered CPU: qemu's x86 emulation keeps x86's order (TSO), under which the \
         reader's loads cannot pass its own later set_bit(); KCSAN's weak-memory model only reorders \
         within one function, and the copy and the set_bit() are in different ones",
    ),
    (
        "F4",
        "fixed upstream (6.12.115, 6.1.192) and in Debian's sources; F7 with --kcsan set to the kernel \
         `ci/kernel/build.sh --kcsan 6.12 ci/kernel/f4-before-the-fix.patch` builds shows it (F4.md)",
    ),
    (
        "F5",
        "the watcher must name a key add_key() is still instantiating: its serial is random \
         (key_alloc_serial()) and not yet linked anywhere a search could find it",
    ),
    (
        "F9",
        "no race to reproduce: one sequential program shows it every time, and `ci/kernel/check \
         scenarios/watches/gc-unlink-silent.wq` runs it on the real kernel (the records the keyring's \
         watcher reads, and KEYCTL_READ of the keyring after the collector)",
    ),
];

/// The reproducer of `id`.
pub fn find(id: &str) -> Option<&'static Repro> {
    REPROS.iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// What the host asks of one boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    /// Stop after this many seconds of reproduction.
    pub secs: u64,
    /// Stop once this many operations are done (0: run for `secs`).
    pub ops: u64,
}

impl Job {
    /// The program text the guest reads.
    pub fn to_text(&self) -> String {
        format!("repro {} secs={} ops={}\n", self.id, self.secs, self.ops)
    }

    /// Parse [`Job::to_text`]'s form; `None` for any other program.
    pub fn parse(text: &str) -> Option<Result<Job, String>> {
        let line = text.lines().next()?;
        let rest = line.strip_prefix("repro ")?;
        let mut words = rest.split_whitespace();
        let Some(id) = words.next() else { return Some(Err("repro: no finding".into())) };
        let mut job = Job { id: id.to_string(), secs: 60, ops: 0 };
        for w in words {
            let parsed = match w.split_once('=') {
                Some(("secs", v)) => v.parse().map(|v| job.secs = v).ok(),
                Some(("ops", v)) => v.parse().map(|v| job.ops = v).ok(),
                _ => None,
            };
            if parsed.is_none() {
                return Some(Err(format!("repro: bad word `{w}` (accepted: secs=N ops=N)")));
            }
        }
        Some(Ok(job))
    }
}

/// What one boot measured, from the guest's `repro-*` lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Boot {
    /// `uname -r` of the guest.
    pub release: String,
    pub ops: u64,
    pub hits: u64,
    /// Operations and milliseconds at the first hit.
    pub first: Option<(u64, u64)>,
    pub ms: u64,
    /// Whether the guest printed its last line.
    pub done: bool,
    /// The guest's own notes (setup failures, other KCSAN reports).
    pub notes: Vec<String>,
}

/// Read a boot's console: only `wq| repro-*` lines count.
pub fn parse(console: &str) -> Boot {
    let mut b = Boot::default();
    for (word, rest) in super::program::guest_lines(console) {
        let num = |key: &str| -> Option<u64> {
            rest.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        };
        match word {
            "repro-kernel" => b.release = rest.to_string(),
            "repro-first" => b.first = num("ops").zip(num("ms")),
            "repro-progress" | "repro-done" => {
                b.ops = num("ops").unwrap_or(b.ops);
                b.hits = num("hits").unwrap_or(b.hits);
                b.ms = num("ms").unwrap_or(b.ms);
                b.done |= word == "repro-done";
            }
            "repro-note" => b.notes.push(rest.to_string()),
            _ => {}
        }
    }
    b
}

/// One row of the table: a finding on one kernel, over its boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub id: &'static str,
    /// `6.12.118` or `6.12.118+fix`, with ` kcsan` for the sanitizer build.
    pub kernel: String,
    pub patched: bool,
    pub boots: u32,
    pub ops: u64,
    pub hits: u64,
    /// The earliest first hit of any boot: operations, seconds.
    pub first: Option<(u64, u64)>,
    /// Boots that did not print their last line.
    pub lost_boots: u32,
    pub notes: Vec<String>,
}

impl Row {
    /// Fold the boots of one finding on one kernel.
    pub fn of(repro: &Repro, patched: bool, boots: &[Boot]) -> Row {
        let release = boots.iter().map(|b| b.release.as_str()).find(|r| !r.is_empty()).unwrap_or("?");
        let mut kernel = release.to_string();
        if patched {
            kernel.push_str("+fix");
        }
        if repro.build == Build::Kcsan {
            kernel.push_str(" kcsan");
        }
        let mut notes: Vec<String> = Vec::new();
        for n in boots.iter().flat_map(|b| &b.notes) {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
        Row {
            id: repro.id,
            kernel,
            patched,
            boots: boots.len() as u32,
            ops: boots.iter().map(|b| b.ops).sum(),
            hits: boots.iter().map(|b| b.hits).sum(),
            first: boots.iter().filter_map(|b| b.first).min_by_key(|&(ops, _)| ops).map(|(o, ms)| (o, ms / 1000)),
            lost_boots: boots.iter().filter(|b| !b.done).count() as u32,
            notes,
        }
    }
}

/// How a finding came out on the real kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Shown on the unmodified kernel, and the patched one stayed clean
    /// for at least ten times the operations of the first hit.
    Reproduced { ratio_x10: u64 },
    /// Not shown on the unmodified kernel (`required`: it should have been).
    NotShown { required: bool },
    /// The patched kernel showed the symptom too.
    PatchedHit,
    /// The patched kernel ran fewer than ten times the operations of the
    /// first hit.
    BudgetShort { ratio_x10: u64 },
    /// A boot ended without the guest's last line.
    LostBoot,
}

impl Verdict {
    /// Whether the run fails (`kernel-repro` exits 1).
    pub fn fails(&self) -> bool {
        !matches!(self, Verdict::Reproduced { .. } | Verdict::NotShown { required: false })
    }
}

/// Judge a finding from its two rows.
pub fn judge(repro: &Repro, unmodified: &Row, patched: &Row) -> Verdict {
    if unmodified.lost_boots > 0 || patched.lost_boots > 0 {
        return Verdict::LostBoot;
    }
    if patched.hits > 0 {
        return Verdict::PatchedHit;
    }
    let Some((first_ops, _)) = unmodified.first.filter(|_| unmodified.hits > 0) else {
        return Verdict::NotShown { required: repro.required };
    };
    let ratio_x10 = patched.ops.saturating_mul(10) / first_ops.max(1);
    if ratio_x10 < 100 { Verdict::BudgetShort { ratio_x10 } } else { Verdict::Reproduced { ratio_x10 } }
}

/// The operations the patched kernel must reach: ten times the first
/// hit's, or as many as the unmodified kernel ran when it showed nothing.
pub fn patched_budget(unmodified: &Row) -> u64 {
    match unmodified.first.filter(|_| unmodified.hits > 0) {
        Some((ops, _)) => ops.saturating_mul(10),
        None => unmodified.ops,
    }
}

/// The table `kernel-repro` prints, with a verdict line per finding.
pub fn render(results: &[(&Repro, Row, Row, Verdict)], skipped: &[&str]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<8} {:<18} {:>5} {:>12} {:>6} {:>14} {:>8}  symptom",
        "finding", "kernel", "boots", "ops", "hits", "first_hit_ops", "first_s"
    );
    for (repro, u, p, _) in results {
        for r in [u, p] {
            let (fo, fs) = match r.first {
                Some((o, s)) => (o.to_string(), s.to_string()),
                None => ("-".to_string(), "-".to_string()),
            };
            let _ = writeln!(
                s,
                "{:<8} {:<18} {:>5} {:>12} {:>6} {:>14} {:>8}  {}",
                r.id, r.kernel, r.boots, r.ops, r.hits, fo, fs, repro.symptom
            );
        }
    }
    s.push('\n');
    for (repro, u, p, v) in results {
        let line = match v {
            Verdict::Reproduced { ratio_x10 } => format!(
                "{}: reproduced ({} on {}); {} shows none in {} ops, {}.{}x the first hit's",
                repro.id,
                u.hits,
                u.kernel,
                p.kernel,
                p.ops,
                ratio_x10 / 10,
                ratio_x10 % 10
            ),
            Verdict::NotShown { required } => format!(
                "{}: not shown in {} ops on {}{}",
                repro.id,
                u.ops,
                u.kernel,
                if *required { " (FAIL: it reproduces on this kind of machine)" } else { "" }
            ),
            Verdict::PatchedHit => {
                format!("{}: FAIL: the patched kernel {} shows it too ({} hits)", repro.id, p.kernel, p.hits)
            }
            Verdict::BudgetShort { ratio_x10 } => format!(
                "{}: FAIL: the patched kernel ran {}.{}x the first hit's ops, fewer than 10x (raise --secs)",
                repro.id,
                ratio_x10 / 10,
                ratio_x10 % 10
            ),
            Verdict::LostBoot => format!("{}: FAIL: a boot ended without the guest's last line", repro.id),
        };
        let _ = writeln!(s, "{line}");
        for n in u.notes.iter().chain(&p.notes) {
            let _ = writeln!(s, "  {}: {n}", repro.id);
        }
    }
    for id in skipped {
        if let Some((_, why)) = NO_REPRO.iter().find(|(i, _)| i == id) {
            let _ = writeln!(s, "{id}: no reproducer on this machine: {why}");
        }
    }
    s
}

/// How `kernel-repro` runs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Debian's kernel as it is, and the same source with the patches.
    pub kernel: Option<PathBuf>,
    pub patched: Option<PathBuf>,
    /// The same two with CONFIG_KCSAN.
    pub kcsan: Option<PathBuf>,
    pub kcsan_patched: Option<PathBuf>,
    /// The static guest runner (`wqsim-guest`).
    pub guest: Option<PathBuf>,
    /// Boots of each kernel per finding.
    pub boots: u32,
    /// Seconds of reproduction per boot of the unmodified kernel (the
    /// patched one runs to its budget, for at most ten times as long).
    pub secs: u64,
    /// Keep every boot's console in this directory.
    pub console_dir: Option<PathBuf>,
}

/// The result of `kernel-repro`: the table and whether it failed.
pub struct Report {
    pub results: Vec<(&'static Repro, Row, Row, Verdict)>,
    pub skipped: Vec<&'static str>,
}

impl Report {
    pub fn ok(&self) -> bool {
        !self.results.iter().any(|(_, _, _, v)| v.fails())
    }
    pub fn render(&self) -> String {
        render(&self.results, &self.skipped)
    }
}

/// Which findings `ids` names (all with a reproducer when empty), and the
/// named ones without one. An unknown id is an error naming the accepted.
pub fn select(ids: &[String]) -> Result<(Vec<&'static Repro>, Vec<&'static str>), String> {
    if ids.is_empty() {
        return Ok((REPROS.iter().collect(), NO_REPRO.iter().map(|(i, _)| *i).collect()));
    }
    let (mut run, mut skipped) = (Vec::new(), Vec::new());
    for id in ids {
        if let Some(r) = find(id) {
            run.push(r);
        } else if let Some((i, _)) = NO_REPRO.iter().find(|(i, _)| i.eq_ignore_ascii_case(id)) {
            skipped.push(*i);
        } else {
            let all: Vec<&str> = REPROS.iter().map(|r| r.id).chain(NO_REPRO.iter().map(|(i, _)| *i)).collect();
            return Err(format!("kernel-repro: no finding `{id}` (accepted: {})", all.join(", ")));
        }
    }
    Ok((run, skipped))
}

#[cfg(not(loom))]
fn image(p: &Option<PathBuf>, flag: &str, build: &str) -> Result<PathBuf, crate::error::Error> {
    let p = p.clone().ok_or_else(|| {
        crate::error::Error::environment(format!(
            "kernel-repro: no --{flag} given: pass --{flag} PATH (`{build}` builds it and prints its path; ci/kernel/repro builds them all)"
        ))
    })?;
    if !p.exists() {
        return Err(crate::error::Error::environment(format!(
            "kernel-repro: --{flag} {}: no such file (`{build}` builds it)",
            p.display()
        )));
    }
    Ok(p)
}

/// `wqsim kernel-repro`: boot each selected finding's reproducer on the
/// unmodified and the patched kernel; `say` gets a line per boot.
#[cfg(not(loom))]
pub fn kernel_repro(ids: &[String], opts: &Options, mut say: impl FnMut(&str)) -> Result<Report, crate::error::Error> {
    use crate::error::Error;
    let (repros, skipped) = select(ids).map_err(Error::malformed)?;
    let guest = image(&opts.guest, "guest", "ci/kernel/guest.sh")?;
    let boots = opts.boots.max(1);
    let mut results = Vec::new();
    for repro in repros {
        let (plain, fixed) = match repro.build {
            Build::Plain => (
                image(&opts.kernel, "kernel", "ci/kernel/build.sh 6.12")?,
                image(&opts.patched, "patched", "ci/kernel/build.sh 6.12 docs/findings/patches/*.patch")?,
            ),
            Build::Kcsan => (
                image(&opts.kcsan, "kcsan", "ci/kernel/build.sh --kcsan 6.12")?,
                image(
                    &opts.kcsan_patched,
                    "kcsan-patched",
                    "ci/kernel/build.sh --kcsan 6.12 docs/findings/patches/*.patch",
                )?,
            ),
        };
        let mut run = |kernel: &std::path::Path, which: &str, job: &Job| -> Result<Vec<Boot>, Error> {
            let mut out = Vec::new();
            for b in 1..=boots {
                say(&format!(
                    "kernel-repro: {} on the {which} kernel, boot {b} of {boots} ({} s at most)",
                    repro.id, job.secs
                ));
                let console = super::host::boot(kernel, &guest, &job.to_text(), job.secs + 600)?;
                if let Some(dir) = &opts.console_dir {
                    let f = dir.join(format!("{}-{which}-{b}.txt", repro.id));
                    std::fs::create_dir_all(dir)
                        .and_then(|()| std::fs::write(&f, &console))
                        .map_err(|e| Error::environment(format!("{}: {e}", f.display())))?;
                }
                out.push(parse(&console));
            }
            Ok(out)
        };
        let job = Job { id: repro.id.to_string(), secs: opts.secs, ops: 0 };
        let unmodified = Row::of(repro, false, &run(&plain, "unmodified", &job)?);
        let budget = patched_budget(&unmodified);
        let job = Job { id: repro.id.to_string(), secs: opts.secs * 10, ops: budget.div_ceil(u64::from(boots)).max(1) };
        let patched = Row::of(repro, true, &run(&fixed, "patched", &job)?);
        let verdict = judge(repro, &unmodified, &patched);
        results.push((repro, unmodified, patched, verdict));
    }
    Ok(Report { results, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(ops: u64, hits: u64, first: Option<(u64, u64)>) -> Boot {
        Boot { release: "6.12.118".into(), ops, hits, first, ms: 60_000, done: true, notes: vec![] }
    }

    #[test]
    fn jobs_round_trip_and_errors_name_the_word() {
        let j = Job { id: "F3".into(), secs: 30, ops: 5 };
        assert_eq!(Job::parse(&j.to_text()), Some(Ok(j)));
        assert_eq!(Job::parse("scenario x\n"), None);
        assert_eq!(
            Job::parse("repro F3 secs=x\n"),
            Some(Err("repro: bad word `secs=x` (accepted: secs=N ops=N)".into()))
        );
    }

    #[test]
    fn console_lines_fold_into_a_boot() {
        let console = "[    1.0] random kernel line\r\n\
                       wq| repro-kernel 6.12.118\r\n\
                       wq| repro-progress ops=100 hits=0 ms=1000\n\
                       wq| repro-first ops=150 ms=1500\n\
                       wq| repro-note other KCSAN report: BUG: KCSAN: data-race in a / b\n\
                       wq| repro-done ops=200 hits=3 ms=2000\n";
        let b = parse(console);
        assert_eq!(b.release, "6.12.118");
        assert_eq!((b.ops, b.hits, b.first, b.ms, b.done), (200, 3, Some((150, 1500)), 2000, true));
        assert_eq!(b.notes, vec!["other KCSAN report: BUG: KCSAN: data-race in a / b".to_string()]);
        assert!(!parse("wq| repro-progress ops=1 hits=0 ms=1\n").done);
    }

    #[test]
    fn verdicts_need_a_clean_patched_kernel_over_ten_times_the_first_hit() {
        let f3 = find("f3").unwrap();
        let u = Row::of(f3, false, &[boot(1_000_000, 28, Some((120_000, 5_000)))]);
        assert_eq!(u.kernel, "6.12.118");
        assert_eq!(patched_budget(&u), 1_200_000);
        let clean = Row::of(f3, true, &[boot(1_200_000, 0, None)]);
        assert_eq!(clean.kernel, "6.12.118+fix");
        assert_eq!(judge(f3, &u, &clean), Verdict::Reproduced { ratio_x10: 100 });
        let short = Row::of(f3, true, &[boot(1_199_999, 0, None)]);
        assert_eq!(judge(f3, &u, &short), Verdict::BudgetShort { ratio_x10: 99 });
        let dirty = Row::of(f3, true, &[boot(5_000_000, 1, Some((4_000_000, 50_000)))]);
        assert_eq!(judge(f3, &u, &dirty), Verdict::PatchedHit);
        let nothing = Row::of(f3, false, &[boot(1_000_000, 0, None)]);
        assert_eq!(judge(f3, &nothing, &clean), Verdict::NotShown { required: true });
        assert!(judge(f3, &nothing, &clean).fails());
        let f1 = find("F1").unwrap();
        assert_eq!(judge(f1, &nothing, &clean), Verdict::NotShown { required: false });
        assert!(!judge(f1, &nothing, &clean).fails());
        let mut lost = boot(1, 0, None);
        lost.done = false;
        assert_eq!(judge(f3, &u, &Row::of(f3, true, &[lost])), Verdict::LostBoot);
    }

    #[test]
    fn findings_are_selected_by_id_and_an_unknown_one_is_named() {
        let (run, skipped) = select(&[]).unwrap();
        assert_eq!(run.iter().map(|r| r.id).collect::<Vec<_>>(), ["F1", "F3", "F6", "F7", "F8"]);
        assert_eq!(skipped, ["F2", "F4", "F5", "F9"]);
        let (run, skipped) = select(&["f3".into(), "F2".into()]).unwrap();
        assert_eq!((run.len(), run[0].id, skipped), (1, "F3", vec!["F2"]));
        assert_eq!(
            select(&["F10".into()]).err().unwrap(),
            "kernel-repro: no finding `F10` (accepted: F1, F3, F6, F7, F8, F2, F4, F5, F9)"
        );
    }

    #[test]
    fn the_first_hit_is_the_earliest_over_boots() {
        let f3 = find("F3").unwrap();
        let r = Row::of(f3, false, &[boot(10, 1, Some((9, 4_900))), boot(10, 2, Some((3, 2_100))), boot(10, 0, None)]);
        assert_eq!((r.boots, r.ops, r.hits, r.first), (3, 30, 3, Some((3, 2))));
        let p = Row::of(f3, true, &[boot(30, 0, None)]);
        let table = render(&[(f3, r.clone(), p.clone(), judge(f3, &r, &p))], &["F2"]);
        assert!(table.contains("F3: reproduced (3 on 6.12.118); 6.12.118+fix shows none in 30 ops, 10.0x"), "{table}");
        assert!(table.contains("F2: no reproducer on this machine: needs a weakly ordered CPU"), "{table}");
    }
}
