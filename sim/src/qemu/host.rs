//! `wqsim kernel-check`: run the scenarios on a real Linux kernel under
//! qemu and compare what userspace saw with the model's sequential run.
//!
//! The host picks the scenarios the real kernel can run (Linux 6.12 as
//! merged: the `upstream` variant, no LSM policy, 4 KiB pages, no switch
//! on but the kernel's own open findings), computes the model's transcript
//! of each, writes the operations into a program, packs the static guest
//! runner and the program into an initramfs, boots qemu once, and compares
//! the outcomes operation by operation.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wqsim_model::api::{KeyRef, Op, Outcome};
use wqsim_model::bugs::Shipped;
use wqsim_model::kernel::{Config, Mutant, PAGE_SIZE_DEFAULT, Variant};

use super::program::{GuestOutput, Limits, Program, SeqJob, StressJob, parse_output};
use crate::error::Error;
use crate::run::outcome_text;
use crate::scenario::Scenario;
use crate::scenario::load;

/// How `kernel-check` runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The bzImage to boot.
    pub kernel: Option<PathBuf>,
    /// The static guest runner (`wqsim-guest`).
    pub guest: Option<PathBuf>,
    /// Run each concurrent scenario this many times on real threads (0:
    /// no stress run).
    pub stress: u32,
    /// Give the model a deliberate wrong behaviour.
    pub mutant: Option<Mutant>,
    /// Compare against this saved console instead of booting.
    pub console_in: Option<PathBuf>,
    /// Save the console here.
    pub console_out: Option<PathBuf>,
    /// Give up on the virtual machine after this long.
    pub timeout_secs: u64,
    /// The kernel booted: the model gets the historical bugs its source
    /// still has ([`Shipped::bugs`]).
    pub series: Shipped,
}

/// The most seconds a scenario may sleep in all to run on the real kernel.
pub const MAX_REAL_SLEEP_SECS: u64 = 30;

/// Why a scenario is not run on the real kernel `series`, or `None` if it
/// is.
pub fn unsupported(sc: &Scenario, config: &Config, series: Shipped) -> Option<String> {
    if config.variant != Variant::Upstream {
        return Some(format!(
            "variant {}: the patch series' event sources are not in Linux 6.12",
            format!("{:?}", config.variant).to_lowercase()
        ));
    }
    if !sc.deny_watch_key.is_empty() || sc.lsm_module != wqsim_model::lsm::LsmModule::None {
        return Some("needs an LSM policy; the test kernel has no LSM".to_string());
    }
    if config.page_size != PAGE_SIZE_DEFAULT {
        return Some(format!("page_size {}: the test kernel has 4 KiB pages", config.page_size));
    }
    if config.pipe_index_bits != 32 || config.pipe_initial_index != 0 {
        return Some("a 16-bit ring index or a ring started near the wrap point".to_string());
    }
    if config.pipe_max_size != Config::default().pipe_max_size {
        return Some("changes pipe-max-size".to_string());
    }
    let shipped = series.bugs();
    let extra: Vec<String> = config
        .bugs
        .list()
        .into_iter()
        // The series' rows act only in their variant, refused above.
        .filter(|b| !shipped.has(*b) && !b.info().series_only())
        .map(|b| b.info().id.to_string())
        .collect();
    if !extra.is_empty() {
        return Some(format!(
            "switches on {}: a catalog bug restored in the model, which a kernel cannot switch",
            extra.join(", ")
        ));
    }
    let ops = sc.setup.iter().chain(sc.threads.iter().flat_map(|t| t.steps.iter())).map(|s| &s.op);
    // A poll's timeout counts whole: it may run out.
    let slept: u64 = ops
        .clone()
        .map(|op| match (op, op.poll_timeout()) {
            (Op::Sleep { secs }, _) => *secs,
            (_, Some(ms)) => u64::from(ms).div_ceil(1000),
            _ => 0,
        })
        .fold(0, u64::saturating_add);
    if slept > MAX_REAL_SLEEP_SECS {
        return Some(format!(
            "sleeps {slept} s in all; the kernel sleeps for real (at most {MAX_REAL_SLEEP_SECS} s): lower key_gc_delay and the sleeps"
        ));
    }
    for op in ops {
        match op {
            Op::FailNth { .. } => return Some("fault injection (fail-nth) is not in the test kernel".to_string()),
            Op::RequestKey { .. } => return Some("request_key needs a /sbin/request-key upcall".to_string()),
            _ => {}
        }
        let drawn = op.key_operands().into_iter().find_map(|k| match k {
            KeyRef::Raw(n) if wqsim_model::keys::is_drawn_serial(n, 4096) => Some(n),
            _ => None,
        });
        if let Some(n) = drawn {
            return Some(format!("key:{n} is a serial the model draws; the kernel's serials are random"));
        }
    }
    None
}

/// One scenario's place in the comparison.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    /// Operations and records read in the model's run.
    pub ops: usize,
    pub records: usize,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// Readable lines, one per difference.
    Diff(Vec<String>),
    Skipped(String),
    /// The guest could not run it.
    Failed(String),
}

/// A concurrent scenario's stress result.
#[derive(Clone, Debug)]
pub struct StressRow {
    pub scenario: String,
    pub iterations: u32,
    pub violations: Vec<String>,
    pub records: u64,
    pub loss_checked: u64,
}

struct Planned {
    scenario: String,
    model: Option<Model>,
    skip: Option<String>,
}

/// The model's sequential run of one scenario, as the comparison needs it.
struct Model {
    ops: Vec<Op>,
    /// Each operation's outcome, as transcripts print it.
    outs: Vec<String>,
    /// Each operation's `=> ...` in the scenario, with its line number.
    expects: Vec<Option<(usize, String)>>,
    records: usize,
}

fn plan(scenarios: &[Scenario], opts: &Options) -> (Program, Vec<Planned>) {
    let mut prog = Program::default();
    let mut planned = Vec::new();
    for sc in scenarios {
        let mut config = sc.config(None);
        if let Some(reason) = unsupported(sc, &config, opts.series) {
            planned.push(Planned { scenario: sc.path.clone(), model: None, skip: Some(reason) });
            continue;
        }
        config.mutant = opts.mutant;
        // The model of the kernel booted: with the historical bugs its
        // source still has.
        config.bugs = opts.series.still_present().iter().fold(config.bugs, |s, b| s.with(*b));
        let t = transcript_with(sc, config.clone());
        if let Some(v) = &t.violation {
            let reason = format!(
                "the model's own checks stop its sequential run ({}, {}): nothing to compare after it",
                v.inv.id(),
                v.inv.title()
            );
            planned.push(Planned { scenario: sc.path.clone(), model: None, skip: Some(reason) });
            continue;
        }
        let ops: Vec<Op> = t.lines.iter().map(|l| l.op.clone()).collect();
        let outs: Vec<String> = t.lines.iter().map(|l| outcome_text(&l.outcome)).collect();
        let expects = t.lines.iter().map(|l| l.expect.clone()).collect();
        let records = t.lines.iter().map(|l| if let Outcome::Records(r) = &l.outcome { r.len() } else { 0 }).sum();
        let limits = Limits::of(&config);
        prog.seq.push(SeqJob { name: sc.path.clone(), limits: limits.clone(), ops: ops.clone() });
        if opts.stress > 0 && sc.threads.len() > 1 {
            prog.stress.push(StressJob {
                name: sc.path.clone(),
                iterations: opts.stress,
                limits,
                setup: sc.setup.iter().map(|s| s.op.clone()).collect(),
                threads: sc
                    .threads
                    .iter()
                    .map(|t| (t.name.clone(), t.steps.iter().map(|s| s.op.clone()).collect()))
                    .collect(),
            });
        }
        planned.push(Planned {
            scenario: sc.path.clone(),
            model: Some(Model { ops, outs, expects, records }),
            skip: None,
        });
    }
    (prog, planned)
}

/// The model's sequential run of `sc` under `config` (the scenario's own,
/// perhaps with a mutant), with the model's own checks only: an oracle
/// invariant a finding breaks (the kernel today's behaviour) does not stop
/// the comparison, since the kernel breaks it too.
fn transcript_with(sc: &Scenario, config: Config) -> crate::run::Transcript {
    crate::run::transcript_unchecked(sc, config)
}

/// Compare one scenario's model outcomes with the kernel's, and the
/// kernel's with the scenario's `=> ...`: a scenario whose expectation the
/// kernel contradicts is wrong even where the model agrees with it.
fn compare(m: &Model, kernel: Option<&Vec<String>>, failed: Option<&String>) -> Verdict {
    let Some(kernel) = kernel else {
        return Verdict::Failed(failed.cloned().unwrap_or_else(|| "the guest never reached it".to_string()));
    };
    let (ops, model) = (&m.ops, &m.outs);
    let mut diffs = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let contradicts = |k: &String| match &m.expects[i] {
            Some((line, want)) if want != k => {
                format!("\n      the scenario (line {line}) expects {want}: the kernel contradicts it")
            }
            _ => String::new(),
        };
        match kernel.get(i) {
            Some(k) if *k == model[i] && contradicts(k).is_empty() => {}
            Some(k) => diffs.push(format!(
                "op {}: `{op}`\n      model:  {}\n      kernel: {k}{}",
                i + 1,
                model[i],
                contradicts(k)
            )),
            None => {
                let why = failed.map(|f| format!(" ({f})")).unwrap_or_default();
                diffs.push(format!("op {}: `{op}`: the kernel run stopped before it{why}", i + 1));
                break;
            }
        }
    }
    if diffs.is_empty() {
        match failed {
            Some(f) => Verdict::Failed(f.clone()),
            None => Verdict::Match,
        }
    } else {
        Verdict::Diff(diffs)
    }
}

/// Write a `newc` cpio archive: directories, the console device, files.
pub fn cpio(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ino = 1u32;
    let mut entry = |name: &str, mode: u32, rdev: (u32, u32), data: &[u8], out: &mut Vec<u8>| {
        let hdr = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            ino,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        ino += 1;
        out.extend_from_slice(hdr.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    };
    entry("dev", 0o040755, (0, 0), &[], &mut out);
    entry("dev/console", 0o020600, (5, 1), &[], &mut out);
    entry("proc", 0o040755, (0, 0), &[], &mut out);
    for (name, mode, data) in files {
        entry(name, 0o100000 | mode, (0, 0), data, &mut out);
    }
    entry("TRAILER!!!", 0, (0, 0), &[], &mut out);
    out
}

pub(crate) fn need(p: &Option<PathBuf>, what: &str, env: &str) -> Result<PathBuf, Error> {
    let p = p.clone().or_else(|| std::env::var_os(env).map(PathBuf::from)).ok_or_else(|| {
        Error::environment(format!(
            "kernel-check: no {what}: pass --{} PATH or set {env} (ci/kernel/check builds both)",
            if what == "kernel image" { "kernel" } else { "guest" }
        ))
    })?;
    if !p.exists() {
        return Err(Error::environment(format!(
            "kernel-check: {what} {}: no such file (ci/kernel/check builds it)",
            p.display()
        )));
    }
    Ok(p)
}

/// Boot the kernel with the guest and the program; the console text.
pub(crate) fn boot(kernel: &Path, guest: &Path, program: &str, timeout_secs: u64) -> Result<String, Error> {
    let init = std::fs::read(guest).map_err(|e| Error::environment(format!("{}: {e}", guest.display())))?;
    let dir = std::env::temp_dir().join(format!("wqsim-kernel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::environment(format!("{}: {e}", dir.display())))?;
    let initrd = dir.join("initrd.cpio");
    let console = dir.join("console.txt");
    std::fs::write(&initrd, cpio(&[("init", 0o755, &init), ("program", 0o644, program.as_bytes())]))
        .map_err(|e| Error::environment(format!("{}: {e}", initrd.display())))?;
    let out = std::fs::File::create(&console).map_err(|e| Error::environment(format!("{}: {e}", console.display())))?;
    let err = out.try_clone().map_err(|e| Error::environment(e.to_string()))?;
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet", "-nographic", "-no-reboot", "-m", "256M", "-smp", "2"])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| {
            Error::environment(format!("cannot start qemu-system-x86_64: {e} (ci/kernel/build.sh installs it)"))
        })?;
    let mut waited = 0u64;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if waited >= timeout_secs * 10 => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            Ok(None) => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                waited += 1;
            }
            Err(e) => return Err(Error::environment(format!("waiting for qemu: {e}"))),
        }
    }
    let text = std::fs::read(&console).map_err(|e| Error::environment(format!("{}: {e}", console.display())))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// The result of one `kernel-check`.
pub struct Report {
    /// The kernel booted.
    pub series: Shipped,
    pub rows: Vec<Row>,
    pub stress: Vec<StressRow>,
    /// Problems with the boot itself (no final line, guest errors).
    pub boot_problems: Vec<String>,
}

impl Report {
    /// Whether every run scenario matched and no stress run broke a check.
    pub fn ok(&self) -> bool {
        self.boot_problems.is_empty()
            && self.rows.iter().all(|r| matches!(r.verdict, Verdict::Match | Verdict::Skipped(_)))
            && self.stress.iter().all(|s| s.violations.is_empty())
    }

    /// Scenarios that did not match.
    pub fn differing(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Diff(_) | Verdict::Failed(_)))
            .map(|r| r.scenario.as_str())
            .collect()
    }

    /// The table, each difference spelled out, the stress table.
    pub fn render(&self) -> String {
        let w = self.rows.iter().map(|r| r.scenario.len()).max().unwrap_or(8).max(8);
        let mut s = String::new();
        let ids: Vec<&str> = self.series.bugs().list().iter().map(|b| b.info().id).collect();
        let _ = writeln!(
            s,
            "kernel: Debian's linux-source-{}; the model of it has the switches {} on",
            self.series.series(),
            ids.join(" ")
        );
        let _ = writeln!(s, "{:<w$}  {:>4}  {:>7}  kernel", "scenario", "ops", "records");
        for r in &self.rows {
            let (ops, recs) = match r.verdict {
                Verdict::Skipped(_) => ("-".to_string(), "-".to_string()),
                _ => (r.ops.to_string(), r.records.to_string()),
            };
            let v = match &r.verdict {
                Verdict::Match => "match".to_string(),
                Verdict::Diff(d) => format!("DIFF ({} operation{})", d.len(), if d.len() == 1 { "" } else { "s" }),
                Verdict::Skipped(why) => format!("skipped: {why}"),
                Verdict::Failed(why) => format!("FAILED: {why}"),
            };
            let _ = writeln!(s, "{:<w$}  {ops:>4}  {recs:>7}  {v}", r.scenario);
        }
        let count = |f: fn(&Verdict) -> bool| self.rows.iter().filter(|r| f(&r.verdict)).count();
        let run = self.rows.len() - count(|v| matches!(v, Verdict::Skipped(_)));
        let _ = writeln!(
            s,
            "{} scenarios: {} run on the kernel, {} match, {} differ, {} failed, {} skipped",
            self.rows.len(),
            run,
            count(|v| matches!(v, Verdict::Match)),
            count(|v| matches!(v, Verdict::Diff(_))),
            count(|v| matches!(v, Verdict::Failed(_))),
            count(|v| matches!(v, Verdict::Skipped(_)))
        );
        for r in &self.rows {
            if let Verdict::Diff(d) = &r.verdict {
                let _ = writeln!(s, "\n{} differs from the model:", r.scenario);
                for l in d {
                    let _ = writeln!(s, "  {l}");
                }
                let _ = writeln!(s, "  model transcript: wqsim run {}", r.scenario);
            }
        }
        if !self.stress.is_empty() {
            let w = self.stress.iter().map(|r| r.scenario.len()).max().unwrap_or(8).max(8);
            let _ = writeln!(s, "\nstress on -smp 2 (threads at once, streams checked):");
            let _ = writeln!(
                s,
                "{:<w$}  {:>10}  {:>8}  {:>12}  {:>10}",
                "scenario", "iterations", "records", "loss-checked", "violations"
            );
            for r in &self.stress {
                let _ = writeln!(
                    s,
                    "{:<w$}  {:>10}  {:>8}  {:>12}  {:>10}",
                    r.scenario,
                    r.iterations,
                    r.records,
                    r.loss_checked,
                    r.violations.len()
                );
            }
            let runs: u32 = self.stress.iter().map(|r| r.iterations).sum();
            let bad: usize = self.stress.iter().map(|r| r.violations.len()).sum();
            let _ = writeln!(s, "{} stress runs in {} scenarios: {bad} violations", runs, self.stress.len());
            for r in &self.stress {
                for v in &r.violations {
                    let _ = writeln!(s, "  {}: {v}", r.scenario);
                }
            }
        }
        for p in &self.boot_problems {
            let _ = writeln!(s, "problem: {p}");
        }
        s
    }
}

/// Compare the planned scenarios with what the guest printed.
fn judge(planned: Vec<Planned>, prog: &Program, g: &GuestOutput, series: Shipped) -> Report {
    let mut rows = Vec::new();
    for p in planned {
        let Some(m) = p.model else {
            rows.push(Row {
                scenario: p.scenario,
                ops: 0,
                records: 0,
                verdict: Verdict::Skipped(p.skip.unwrap_or_default()),
            });
            continue;
        };
        let kernel = g.seq.iter().find(|(n, _)| *n == p.scenario).map(|(_, o)| o);
        let failed = g.failed.iter().find(|(n, _)| *n == p.scenario).map(|(_, w)| w);
        let verdict = compare(&m, kernel, failed);
        rows.push(Row { scenario: p.scenario, ops: m.ops.len(), records: m.records, verdict });
    }
    let mut stress = Vec::new();
    for j in &prog.stress {
        stress.push(match g.stress.iter().find(|s| s.name == j.name) {
            Some(s) => StressRow {
                scenario: j.name.clone(),
                iterations: s.iterations,
                violations: s.violations.clone(),
                records: s.records,
                loss_checked: s.loss_checked,
            },
            None => StressRow {
                scenario: j.name.clone(),
                iterations: 0,
                violations: vec!["the guest never reached it".to_string()],
                records: 0,
                loss_checked: 0,
            },
        });
    }
    let mut boot_problems = Vec::new();
    if !g.done {
        boot_problems.push("the guest never printed its final line (a crash, a hang or a timeout; rerun with --console-out FILE to read the console)".to_string());
    }
    for (n, why) in &g.failed {
        if n == "program" {
            boot_problems.push(format!("the guest could not read its program: {why}"));
        }
    }
    Report { series, rows, stress, boot_problems }
}

/// `wqsim kernel-check`: plan, boot (or read a saved console), compare.
pub fn kernel_check(files: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    let mut scenarios = Vec::new();
    for f in files {
        scenarios.push(load(f)?);
    }
    kernel_check_scenarios(&scenarios, opts)
}

/// [`kernel_check`] of scenarios already loaded.
pub fn kernel_check_scenarios(scenarios: &[Scenario], opts: &Options) -> Result<Report, Error> {
    let (prog, planned) = plan(scenarios, opts);
    let console = match &opts.console_in {
        Some(p) => std::fs::read_to_string(p).map_err(|e| Error::environment(format!("{}: {e}", p.display())))?,
        None => {
            let kernel = need(&opts.kernel, "kernel image", "WQSIM_KERNEL")?;
            let guest = need(&opts.guest, "guest runner", "WQSIM_GUEST")?;
            boot(&kernel, &guest, &prog.to_text(), opts.timeout_secs)?
        }
    };
    if let Some(p) = &opts.console_out {
        std::fs::write(p, &console).map_err(|e| Error::environment(format!("{}: {e}", p.display())))?;
    }
    let g = parse_output(&console);
    let mut report = judge(planned, &prog, &g, opts.series);
    if opts.console_in.is_some() {
        // A saved console covers the scenarios it was recorded with; the
        // rest are reported as not run, not as failures.
        for r in &mut report.rows {
            if matches!(&r.verdict, Verdict::Failed(w) if w == "the guest never reached it") {
                r.verdict = Verdict::Skipped("not in the saved console".to_string());
            }
        }
        report.stress.retain(|s| s.iterations > 0);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_is_newc_with_a_trailer() {
        let a = cpio(&[("init", 0o755, b"abc")]);
        assert!(a.starts_with(b"070701"));
        assert_eq!(a.len() % 4, 0);
        let s = String::from_utf8_lossy(&a);
        assert!(s.contains("dev/console") && s.contains("init\0") && s.contains("TRAILER!!!"));
    }

    #[test]
    fn compare_names_the_operation() {
        let m = |expect: Option<&str>| Model {
            ops: vec![wqsim_model::api::ops::read(0, 1)],
            outs: vec!["ENOBUFS".to_string()],
            expects: vec![expect.map(|w| (7, w.to_string()))],
            records: 0,
        };
        let v = compare(&m(None), Some(&vec!["EFAULT".to_string()]), None);
        assert_eq!(
            v,
            Verdict::Diff(vec!["op 1: `read p0.r 1`\n      model:  ENOBUFS\n      kernel: EFAULT".to_string()])
        );
        assert_eq!(compare(&m(None), Some(&vec!["ENOBUFS".to_string()]), None), Verdict::Match);
        assert_eq!(compare(&m(Some("ENOBUFS")), Some(&vec!["ENOBUFS".to_string()]), None), Verdict::Match);
        assert!(matches!(compare(&m(None), None, None), Verdict::Failed(_)));
        // Model and kernel agree, and both contradict the scenario.
        assert_eq!(
            compare(&m(Some("EAGAIN")), Some(&vec!["ENOBUFS".to_string()]), None),
            Verdict::Diff(vec![
                "op 1: `read p0.r 1`\n      model:  ENOBUFS\n      kernel: ENOBUFS\n      the scenario (line 7) expects EAGAIN: the kernel contradicts it"
                    .to_string()
            ])
        );
    }
}
