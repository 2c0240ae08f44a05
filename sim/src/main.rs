//! The `wqsim` command line.
//!
//! Exit status: see [`wqsim::exit`] (0 pass, 1 a check failed, 2 malformed
//! input, 3 nondeterminism, 5 harness failure, 6 budget exceeded).

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wqsim::exit::Exit;
use wqsim::explore::{Base, Budget, Found, Kind, Target};
use wqsim_model::bugs::Bug;

/// Print to standard output; a reader that went away (`| head`) ends the
/// program quietly instead of with a panic.
macro_rules! out {
    ($($t:tt)*) => {{
        let mut o = std::io::stdout().lock();
        if write!(o, $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// The heap is counted, so a run's memory budget can end it with a verdict.
#[global_allocator]
static ALLOC: wqsim_model::explore::CountingAlloc = wqsim_model::explore::CountingAlloc;

/// The budgets of a run whose `run` line sets none.
#[derive(clap::Args, Clone, Copy)]
struct BudgetArgs {
    /// Scheduling steps one execution may take (a run line's `steps_max=`
    /// wins) [default: 50000000]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1_000..=1_000_000_000_000))]
    steps_max: Option<u64>,
    /// Milliseconds one run may take (a run line's `time_limit_ms=` wins);
    /// past it the run ends with the verdict `budget`.
    #[arg(long, default_value_t = 600_000, value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    time_limit_ms: u64,
    /// MiB the process's heap may hold during a run (a run line's
    /// `memory_limit_mib=` wins).
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u64).range(16..=1 << 20))]
    memory_limit_mib: u64,
    /// Make every run panic inside the harness (a deliberate harness bug,
    /// to see a harness failure reported).
    #[arg(long, hide = true)]
    inject_harness_panic: bool,
}

impl BudgetArgs {
    fn install(self) {
        wqsim_model::conc::set_inject_panic(self.inject_harness_panic);
        wqsim::run::set_default_limits(wqsim::scenario::RunLimits {
            steps_max: self.steps_max,
            time_limit_ms: Some(self.time_limit_ms),
            memory_limit_mib: Some(self.memory_limit_mib),
        });
        wqsim_model::explore::set_limits(
            wqsim::run::limits_of(&wqsim::scenario::run_line(
                wqsim::scenario::Driver::Schedule,
                vec![],
                wqsim::scenario::Expect::Holds,
            ))
            .model(),
        );
    }
}

#[derive(Parser)]
#[command(name = "wqsim", version, about = "Model checking for the Linux notification queue (watch_queue)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// What to run and on which configuration.
#[derive(clap::Args, Clone)]
struct TargetArgs {
    /// A race family (see `wqsim families`).
    #[arg(long, conflicts_with = "trigger")]
    family: Option<String>,
    /// A catalog switch's sequential trigger (`W4`).
    #[arg(long)]
    trigger: Option<String>,
    /// The configuration before --bugs: `kernel` (the kernel today, every
    /// finding's switch on) or `fixed` (every switch off).
    #[arg(long, default_value = "kernel")]
    base: String,
    /// Catalog switches to turn on, by ID or slug, comma-separated.
    #[arg(long, value_delimiter = ',')]
    bugs: Vec<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// The main job: run every scenario's `run` lines and print the verdict
    /// table (scenario, driver, executions, result, expected, time).
    /// Exits 1 when a result differs from its expectation.
    Check {
        /// Scenario files or directories (default: scenarios/).
        paths: Vec<std::path::PathBuf>,
        /// Leave the time column out (byte-identical output).
        #[arg(long)]
        no_time: bool,
        /// Run only shard I of N (1-based): every Nth scenario in path
        /// order, so a CI matrix can split the work.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<Shard>,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Run the scenarios on a real Linux kernel under qemu and compare each
    /// operation's outcome with the model's sequential run; with --stress,
    /// also run the concurrent scenarios on real threads and check the
    /// record streams. Exits 1 on any difference or violation.
    /// `ci/kernel/check` builds the kernel and the guest, then runs this.
    KernelCheck {
        /// Scenario files or directories (default: scenarios/).
        paths: Vec<std::path::PathBuf>,
        /// The bzImage (default: $WQSIM_KERNEL).
        #[arg(long)]
        kernel: Option<std::path::PathBuf>,
        /// The static guest runner, wqsim-guest (default: $WQSIM_GUEST).
        #[arg(long)]
        guest: Option<std::path::PathBuf>,
        /// Run each concurrent scenario this many times on -smp 2.
        #[arg(long, default_value_t = 0)]
        stress: u32,
        /// Give the model a deliberate wrong behaviour (read-too-small-efault),
        /// to see the comparison fail.
        #[arg(long)]
        mutant: Option<String>,
        /// Compare with a saved console instead of booting.
        #[arg(long)]
        console: Option<std::path::PathBuf>,
        /// Save the console to this file.
        #[arg(long)]
        console_out: Option<std::path::PathBuf>,
        /// Give up on the virtual machine after this many seconds.
        #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        timeout: u64,
    },
    /// Run one scenario: the sequential transcript (each operation and its
    /// result, the record stream of each queue, the verdict), then its runs.
    Run {
        file: std::path::PathBuf,
        /// Only the runs of this driver (seq, random, pct, dfs, schedule).
        #[arg(long)]
        driver: Option<String>,
        /// Override the runs' seed.
        #[arg(long)]
        seed: Option<u64>,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Shrink a failing scenario (fewer operations, threads, preemptions)
    /// and write the minimal one as FILE's name with `.min.wq`.
    Minimize {
        file: std::path::PathBuf,
        /// Where to write it (default: beside FILE, `.min.wq`).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// The timeline of a scenario's run (or of a replay token's): one
    /// column per thread, one row per step.
    Trace {
        /// A scenario file or a `wq1:` token.
        what: String,
        /// Also write the timeline as an SVG picture.
        #[arg(long)]
        svg: Option<std::path::PathBuf>,
        /// Also write it in Chrome's Trace Event Format (JSON), which
        /// Perfetto (ui.perfetto.dev) and chrome://tracing open.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
    /// The records a scenario's reads return, as
    /// samples/watch_queue/watch_test.c prints them.
    Dump { file: std::path::PathBuf },
    /// Run every catalog switch's trigger off (must hold) and on (must be
    /// caught by its invariant) and print the verdict table.
    Selfcheck {
        /// Print no progress line.
        #[arg(long)]
        quiet: bool,
    },
    /// List the bug catalog.
    Catalog,
    /// List the race families.
    Families,
    /// Explore a family or trigger with one explorer; on a failure, print
    /// the violation, the command that replays it and the timeline.
    Explore {
        #[command(flatten)]
        target: TargetArgs,
        /// seq, loom, random, pct or dfs (each needs its build; the error
        /// names it). Default: the first this build has.
        #[arg(long)]
        explorer: Option<String>,
        /// Schedules for random and PCT; the cap for DFS.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
        iterations: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// PCT's bug depth.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
        depth: u64,
        /// Loom's preemption bound (default: the family's).
        #[arg(long, value_parser = clap::value_parser!(u64).range(0..=10))]
        preemptions: Option<u64>,
        #[command(flatten)]
        budget: BudgetArgs,
        /// Run only shard I of N (1-based): random and PCT run
        /// ITERATIONS/N schedules from seed SEED*N+I-1, so N machines
        /// together run ITERATIONS schedules none of them repeats; the
        /// one-schedule explorers (seq, and DFS and loom, which enumerate)
        /// run on shard 1 only.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<Shard>,
    },
    /// Replay a failure: a `wq1:` token that `check` or `run` printed, or a
    /// family with the `s2:` schedule `explore` printed.
    Replay {
        /// The `wq1:...` token.
        token: Option<String>,
        /// Accept a replay that left its recorded schedule (exit status 3
        /// otherwise).
        #[arg(long)]
        allow_divergence: bool,
        #[command(flatten)]
        target: TargetArgs,
        /// The `s2:...` schedule `explore` printed (with --family).
        #[arg(long)]
        schedule: Option<String>,
    },
    /// Measure the detection matrix with this build's explorers (one
    /// tab-separated line per cell), or merge measured files into the
    /// Markdown of docs/catalog.md.
    Matrix {
        /// Explorers to run, comma-separated (default: all this build has).
        #[arg(long, value_delimiter = ',')]
        explorers: Vec<String>,
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
        iterations: u64,
        /// Merge these measured files instead of measuring.
        #[arg(long, num_args = 1..)]
        merge: Vec<std::path::PathBuf>,
        /// The command line the merged file names as its generator.
        #[arg(long, default_value = "ci/matrix")]
        command: String,
    },
    /// Turn a fuzz crash input into a minimised scenario whose run line
    /// gives the violation, checked as `wqsim check` runs it. Prints the
    /// scenario; with --write, writes scenarios/fuzz/NAME.wq and its
    /// snapshot.
    FromFuzz {
        /// The input libFuzzer saved (fuzz/artifacts/TARGET/crash-...).
        artifact: std::path::PathBuf,
        /// The fuzz target (default: from the artifact's directory).
        #[arg(long)]
        target: Option<String>,
        /// The switches the fuzz run had on, comma-separated (default:
        /// $WQSIM_FUZZ_BUGS).
        #[arg(long)]
        bugs: Option<String>,
        /// The scenario's name (default: TARGET-HASH of the input).
        #[arg(long)]
        name: Option<String>,
        /// Write scenarios/fuzz/NAME.wq and snapshots/fuzz__NAME.snap
        /// (run from the repository root).
        #[arg(long)]
        write: bool,
    },
    /// Replay fuzz inputs (seeds, a corpus) through a target: the findings
    /// with their inputs, and which protocol states the inputs reached.
    /// Exits 1 on a finding.
    FuzzStates {
        /// parser, frontend, filter, trace, schedule or reader.
        target: String,
        /// Input files or directories.
        paths: Vec<std::path::PathBuf>,
        /// The switches on, comma-separated (default: $WQSIM_FUZZ_BUGS).
        #[arg(long)]
        bugs: Option<String>,
    },
    /// Write the `schedule` target's missing seeds: one per scenario with
    /// threads, in fuzz/seeds/schedule/ (run from the repository root).
    FuzzSeeds,
    /// The fuzz target that hunts each catalog switch, or why none can
    /// (tab-separated: switch, target or `-`, reason). `ci/fuzz matrix`
    /// reads it.
    FuzzPlan {
        /// Instead, classify what a fuzz run found for a switch: prints
        /// caught, also or other.
        #[arg(long, num_args = 2, value_names = ["SWITCH", "INVARIANT"])]
        verdict: Vec<String>,
    },
}

/// A shard of a split run: `I/N`, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shard {
    index: usize,
    count: usize,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("{s:?}: expected I/N with 1 <= I <= N (--shard 2/4)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if index == 0 || count == 0 || index > count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// The fuzz configuration: `--bugs` or `$WQSIM_FUZZ_BUGS`.
#[cfg(not(loom))]
fn fuzz_config(bugs: Option<&str>) -> Result<wqsim_model::kernel::Config, String> {
    match bugs {
        Some(b) => wqsim::fuzz::config_with(b).map_err(|e| format!("--bugs: {e}")),
        None => wqsim::fuzz::config_from_env(),
    }
}

#[cfg(not(loom))]
fn fuzz_target(name: &str) -> Result<wqsim::fuzz::Target, String> {
    wqsim::fuzz::Target::from_name(name).ok_or_else(|| {
        format!("no fuzz target {name:?}; the targets are parser, frontend, filter, trace, schedule, reader")
    })
}

/// A usage error: message to stderr, exit status 2.
fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("wqsim: {msg}");
    ExitCode::from(2)
}

fn target(a: &TargetArgs) -> Result<Target, String> {
    let base = match a.base.as_str() {
        "kernel" => Base::Kernel,
        "fixed" => Base::Fixed,
        other => return Err(format!("--base {other:?}: expected `kernel` or `fixed`")),
    };
    let bug = |s: &str| {
        Bug::from_name(s)
            .ok_or_else(|| format!("no catalog switch {s:?}; `wqsim catalog` lists them (W4, P10, F1, ...)"))
    };
    let bugs = a.bugs.iter().filter(|s| !s.trim().is_empty()).map(|s| bug(s)).collect::<Result<Vec<_>, _>>()?;
    let trigger = a.trigger.as_deref().map(bug).transpose()?;
    if a.family.is_none() && trigger.is_none() {
        return Err("name what to run: --family NAME (`wqsim families`) or --trigger ID".into());
    }
    Ok(Target { family: a.family.clone(), trigger, base, bugs })
}

fn report(t: &Target, f: &Found) -> ExitCode {
    match &f.result {
        Ok(()) => {
            out!("{}: holds after {} execution(s) ({})\n", t.args(), f.executions, f.kind);
            ExitCode::SUCCESS
        }
        Err(v) => {
            out!("{}: {v}\n", t.args());
            out!("  after {} execution(s) ({})\n", f.executions, f.kind);
            if let (Some(trace), Ok(p)) = (wqsim_model::conc::last_trace(), t.program()) {
                out!("\ntimeline of the failing execution:\n");
                out!("{}", wqsim::timeline::render(&p, &trace.events_by_thread()));
            }
            // The last line is always the command that replays it.
            if let Some(r) = &f.replay {
                out!("replay:\n  {r}\n");
            }
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Nothing a user's input reaches may end the process silently: a
    // panic that escapes a command is a harness failure, reported so.
    let r = wqsim_model::oracle::catch_panic_value(move || dispatch(cli));
    match r {
        Ok(code) => code,
        Err(msg) => {
            let at = wqsim_model::oracle::last_panic_location().map(|l| format!(" (at {l})")).unwrap_or_default();
            eprintln!("wqsim: harness failure: {}{at}", msg.lines().next().unwrap_or(""));
            eprintln!("wqsim: this is a bug in wqsim, not in the model; the command line above reproduces it");
            Exit::Harness.into()
        }
    }
}

/// Long runs say how far they are: on a terminal a line that updates in
/// place, elsewhere (CI logs) a line a minute.
fn run_progress(tty: bool, what: String) {
    let start = std::time::Instant::now();
    let mut last = 0u64;
    wqsim_model::explore::set_progress(Some(Box::new(move |n| {
        let secs = start.elapsed().as_secs();
        if tty {
            eprint!("\r  {what}: {n} executions, {secs} s {:<10}", "");
            let _ = std::io::stderr().flush();
        } else if secs >= last + 60 {
            last = secs;
            eprintln!("  {what}: {n} executions after {secs} s");
        }
    })));
}

fn dispatch(cli: Cli) -> ExitCode {
    let tty = std::io::stderr().is_terminal();
    match cli.cmd {
        #[cfg(loom)]
        Cmd::Selfcheck { .. } => {
            usage("the loom build explores only; selfcheck runs in: cargo run --release -p wqsim -- selfcheck")
        }
        #[cfg(not(loom))]
        Cmd::Selfcheck { quiet } => {
            let quiet = quiet || !tty;
            let rows = wqsim::selfcheck(|done, total| {
                if !quiet {
                    eprint!("\rselfcheck [{:<20}] {done}/{total}", "#".repeat(done * 20 / total));
                    let _ = std::io::stderr().flush();
                }
            });
            if !quiet {
                eprintln!();
            }
            out!("{}", wqsim::render(&rows));
            if rows.iter().all(|r| r.pass) { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        #[cfg(not(loom))]
        Cmd::KernelCheck { paths, kernel, guest, stress, mutant, console, console_out, timeout } => {
            let paths = if paths.is_empty() { vec![std::path::PathBuf::from("scenarios")] } else { paths };
            let files = match wqsim::cli::collect(&paths) {
                Ok(f) => f,
                Err(e) => return usage(e.0),
            };
            let mutant = match mutant.as_deref().map(|m| (m, wqsim_model::kernel::Mutant::from_name(m))) {
                None => None,
                Some((_, Some(m))) => Some(m),
                Some((m, None)) => {
                    let names: Vec<&str> = wqsim_model::kernel::Mutant::ALL.iter().map(|(_, n)| *n).collect();
                    return usage(format!("kernel-check: no mutant `{m}` (there is: {})", names.join(", ")));
                }
            };
            let opts = wqsim::kernel::host::Options {
                kernel,
                guest,
                stress,
                mutant,
                console_in: console,
                console_out,
                timeout_secs: timeout,
            };
            if tty && opts.console_in.is_none() {
                eprintln!("kernel-check: booting qemu (-smp 2, software emulation) ...");
            }
            match wqsim::kernel::host::kernel_check(&files, &opts) {
                Ok(r) => {
                    out!("{}", r.render());
                    if r.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) }
                }
                Err(e) => usage(e.0),
            }
        }
        #[cfg(loom)]
        #[allow(clippy::needless_return)]
        Cmd::KernelCheck { .. } => {
            return usage("kernel-check runs in the main build: cargo run --release -p wqsim -- kernel-check");
        }
        Cmd::Check { paths, no_time, shard, budget } => {
            budget.install();
            let paths = if paths.is_empty() { vec![std::path::PathBuf::from("scenarios")] } else { paths };
            let mut files = match wqsim::cli::collect(&paths) {
                Ok(f) => f,
                Err(e) => return usage(e.0),
            };
            if let Some(s) = shard {
                files = wqsim::cli::shard(files, s.index, s.count);
            }
            let (s, exit) = wqsim::cli::check(&files, !no_time, |done, total, name| {
                run_progress(tty, name.to_string());
                if tty {
                    eprint!("\rcheck [{:<30}] {done}/{total} {:<50}", "#".repeat(done * 30 / total.max(1)), name);
                    let _ = std::io::stderr().flush();
                }
            });
            wqsim_model::explore::set_progress(None);
            if tty {
                eprint!("\r{:<100}\r", "");
            }
            out!("{s}");
            exit.into()
        }
        #[cfg(not(loom))]
        Cmd::Run { file, driver, seed, budget } => {
            budget.install();
            run_progress(tty, file.display().to_string());
            match wqsim::cli::run_file(&file, driver.as_deref(), seed) {
                Ok((s, exit)) => {
                    out!("{s}");
                    exit.into()
                }
                Err(e) => usage(e.0),
            }
        }
        #[cfg(not(loom))]
        Cmd::Minimize { file, output } => match wqsim::cli::minimize(&file) {
            Ok((text, summary)) => {
                let dest = output.unwrap_or_else(|| file.with_extension("min.wq"));
                if let Err(e) = std::fs::write(&dest, text) {
                    return usage(format!("{}: {e}", dest.display()));
                }
                out!("{summary}\nwrote {}\n", dest.display());
                ExitCode::SUCCESS
            }
            Err(e) => usage(e.0),
        },
        #[cfg(not(loom))]
        Cmd::Trace { what, svg, json } => {
            let (text, program, events) = if what.starts_with("wq1:") {
                match wqsim::cli::replay_token(&what, true) {
                    Ok((s, _)) => {
                        let tok = wqsim::run::parse_token(&what).ok();
                        let p = tok
                            .and_then(|t| wqsim::cli::load(std::path::Path::new(&t.path)).ok())
                            .map(|sc| sc.program(None));
                        let ev = wqsim_model::conc::last_trace().map(|t| t.events_by_thread()).unwrap_or_default();
                        (s, p, ev)
                    }
                    Err(e) => return usage(e.0),
                }
            } else {
                let path = std::path::PathBuf::from(&what);
                match wqsim::cli::trace_file(&path) {
                    Ok((s, ev)) => (s, wqsim::cli::load(&path).ok().map(|sc| sc.program(None)), ev),
                    Err(e) => return usage(e.0),
                }
            };
            out!("{text}");
            if let (Some(dest), Some(p)) = (svg, program.as_ref()) {
                if let Err(e) = std::fs::write(&dest, wqsim::cli::timeline_svg(p, &events)) {
                    return usage(format!("{}: {e}", dest.display()));
                }
            }
            if let (Some(dest), Some(p)) = (json, program.as_ref()) {
                let violation = text
                    .lines()
                    .map(|l| l.trim().trim_start_matches("verdict: "))
                    .find(|l| l.starts_with("invariant "));
                if let Err(e) = std::fs::write(&dest, wqsim::timeline::chrome_trace(p, &events, violation)) {
                    return usage(format!("{}: {e}", dest.display()));
                }
            }
            ExitCode::SUCCESS
        }
        #[cfg(not(loom))]
        Cmd::Dump { file } => match wqsim::cli::dump_file(&file) {
            Ok(s) => {
                out!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => usage(e.0),
        },
        #[cfg(loom)]
        Cmd::Run { .. } | Cmd::Minimize { .. } | Cmd::Trace { .. } | Cmd::Dump { .. } => {
            usage("the loom build runs `check` and `explore` only; use: cargo run --release -p wqsim -- ...")
        }
        Cmd::Catalog => {
            for b in wqsim_model::bugs::CATALOG {
                out!("{} {}: {} ({}, {})\n", b.id, b.slug, b.fix_title, b.fix_hash, b.cve.unwrap_or("no CVE"));
                let how = b.family.map(|f| format!("family {f}")).unwrap_or_else(|| "sequential trigger".into());
                out!("    site: {}; caught by {} ({}); {how}\n", b.site, b.caught_by, b.caught_by.title());
                out!("    {}\n", b.trigger);
            }
            ExitCode::SUCCESS
        }
        Cmd::Families => {
            for f in wqsim_model::families::FAMILIES {
                out!("{:<20} {} (loom bound {})\n", f.name, f.about, f.loom_bound);
            }
            ExitCode::SUCCESS
        }
        Cmd::Explore { target: ta, explorer, iterations, seed, depth, preemptions, shard, budget: limits } => {
            limits.install();
            let (iterations, depth, preemptions) =
                (iterations as usize, depth as usize, preemptions.map(|p| p as usize));
            let t = match target(&ta) {
                Ok(t) => t,
                Err(e) => return usage(e),
            };
            let kind = match explorer {
                None => Kind::ALL.into_iter().find(|k| k.available()).unwrap_or(Kind::Seq),
                Some(e) => match Kind::from_name(&e) {
                    Some(k) => k,
                    None => return usage(format!("--explorer {e:?}: expected seq, loom, random, pct or dfs")),
                },
            };
            // Lock events cost time: shuttle records them only when it
            // replays the failing schedule below.
            wqsim_model::conc::set_detail(matches!(kind, Kind::Seq | Kind::Loom));
            let mut budget = Budget { iterations, seed, depth, preemptions };
            if let Some(s) = shard {
                match wqsim::explore::shard_budget(kind, budget, s.index, s.count) {
                    Some(b) => budget = b,
                    None => {
                        out!("{}: shard {}/{}: nothing to run ({kind} runs on shard 1)\n", t.args(), s.index, s.count);
                        return ExitCode::SUCCESS;
                    }
                }
            }
            match wqsim::explore::explore(kind, &t, budget) {
                Ok(f) => {
                    // Shuttle's trace is of the last execution, not always the
                    // failing one: replay the schedule to draw it.
                    if let (Err(_), Some(r)) = (&f.result, &f.replay) {
                        if let Some(s) = r.split("--schedule ").nth(1) {
                            wqsim_model::conc::set_detail(true);
                            let _ = wqsim::explore::replay(&t, s);
                        }
                    }
                    report(&t, &f)
                }
                Err(e) => usage(e),
            }
        }
        Cmd::Replay { token: Some(tok), allow_divergence, .. } => {
            match wqsim::cli::replay_token(&tok, allow_divergence) {
                Ok((s, exit)) => {
                    out!("{s}");
                    exit.into()
                }
                Err(e) => usage(e.0),
            }
        }
        Cmd::Replay { token: None, target: ta, schedule, allow_divergence } => {
            let Some(schedule) = schedule else {
                return usage("give a wq1: token, or --family NAME --schedule s2:...");
            };
            let t = match target(&ta) {
                Ok(t) => t,
                Err(e) => return usage(e),
            };
            wqsim_model::conc::set_detail(true);
            match wqsim::explore::replay(&t, &schedule) {
                Ok(f) => {
                    let code = report(&t, &f);
                    match &f.note {
                        Some(n) if !allow_divergence => {
                            out!("  note: {n}\n");
                            out!(
                                "wqsim: the replay left its recorded schedule; rerun with --allow-divergence to accept it\n"
                            );
                            Exit::Nondeterminism.into()
                        }
                        Some(n) => {
                            out!("  note: {n}\n");
                            code
                        }
                        None => code,
                    }
                }
                Err(e) => usage(e),
            }
        }
        Cmd::Matrix { explorers, iterations, merge, command } => {
            if !merge.is_empty() {
                let mut cells = Vec::new();
                let mut fuzz = Vec::new();
                for path in &merge {
                    let text = match std::fs::read_to_string(path) {
                        Ok(t) => t,
                        Err(e) => return usage(format!("{}: {e}", path.display())),
                    };
                    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                        if let Some(c) = wqsim::matrix::FuzzCell::from_tsv(line) {
                            fuzz.push(c);
                            continue;
                        }
                        match wqsim::matrix::Cell::from_tsv(line) {
                            Some(c) => cells.push(c),
                            None => {
                                return usage(format!(
                                    "{}:{}: not a matrix cell (key, explorer, verdict, invariant, executions, seconds, tab-separated; \
                                     or key, `fuzz`, target, verdict, invariant, executions, seconds)",
                                    path.display(),
                                    n + 1
                                ));
                            }
                        }
                    }
                }
                out!("{}", wqsim::matrix::render_markdown(&cells, &fuzz, &command));
                return match wqsim::matrix::verdict(&cells) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("{e}");
                        ExitCode::from(1)
                    }
                };
            }
            let kinds: Vec<Kind> = if explorers.is_empty() {
                Kind::ALL.into_iter().filter(|k| k.available()).collect()
            } else {
                let mut v = Vec::new();
                for e in &explorers {
                    match Kind::from_name(e) {
                        Some(k) => v.push(k),
                        None => return usage(format!("--explorers {e:?}: expected seq, loom, random, pct or dfs")),
                    }
                }
                v
            };
            let budget = Budget { iterations: iterations as usize, ..Budget::default() };
            let mut failed = false;
            for k in kinds {
                let r = wqsim::matrix::measure(k, budget, |done, total, c| {
                    if tty {
                        eprint!("\rmatrix {k:<6} [{:<20}] {done}/{total} {:<24}", "#".repeat(done * 20 / total), c.key);
                        let _ = std::io::stderr().flush();
                    }
                });
                if tty {
                    eprintln!();
                }
                match r {
                    Ok(cells) => {
                        for c in cells {
                            failed |= !c.ok();
                            out!("{}\n", c.to_tsv());
                        }
                    }
                    Err(e) => return usage(e),
                }
            }
            if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
        }
        #[cfg(not(loom))]
        Cmd::FromFuzz { artifact, target, bugs, name, write } => {
            let t = match target {
                Some(t) => fuzz_target(&t),
                None => wqsim::fuzz::Target::of_path(&artifact).ok_or_else(|| {
                    format!(
                        "{}: cannot tell the fuzz target from the path; pass --target (parser, frontend, filter, trace, schedule, reader)",
                        artifact.display()
                    )
                }),
            };
            let t = match t {
                Ok(t) => t,
                Err(e) => return usage(e),
            };
            let config = match fuzz_config(bugs.as_deref()) {
                Ok(c) => c,
                Err(e) => return usage(e),
            };
            let data = match std::fs::read(&artifact) {
                Ok(d) => d,
                Err(e) => return usage(format!("{}: {e}", artifact.display())),
            };
            let scenarios = match wqsim::fuzz::committed_scenarios(std::path::Path::new(".")) {
                Ok(s) if !s.is_empty() => s,
                _ => match wqsim::fuzz::committed_scenarios(&wqsim::fuzz::repo_root()) {
                    Ok(s) => s,
                    Err(e) => return usage(e),
                },
            };
            let name = name.unwrap_or_else(|| format!("{}-{:08x}", t.name(), wqsim::scenario::fnv1a(&data) as u32));
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return usage(format!("--name {name:?}: use letters, digits, `-` and `_`"));
            }
            let path = format!("scenarios/fuzz/{name}.wq");
            let origin = artifact
                .file_name()
                .map_or_else(|| artifact.display().to_string(), |n| n.to_string_lossy().into_owned());
            let conv =
                wqsim::explore::silenced(|| wqsim::fuzz::from_fuzz(t, &config, &scenarios, &data, &path, &origin));
            match conv {
                Ok(c) => {
                    if write {
                        let snap = format!("snapshots/fuzz__{name}.snap");
                        let wrote = std::fs::create_dir_all("scenarios/fuzz")
                            .and_then(|_| std::fs::write(&path, &c.text))
                            .and_then(|_| std::fs::write(&snap, &c.snapshot));
                        if let Err(e) = wrote {
                            return usage(format!("writing {path} and {snap} (run from the repository root): {e}"));
                        }
                        out!("{}\nwrote {path} and {snap}\n", c.summary);
                    } else {
                        out!("{}", c.text);
                        eprintln!("{}", c.summary);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("wqsim: {e}");
                    ExitCode::from(1)
                }
            }
        }
        #[cfg(not(loom))]
        Cmd::FuzzStates { target, paths, bugs } => {
            let t = match fuzz_target(&target) {
                Ok(t) => t,
                Err(e) => return usage(e),
            };
            let config = match fuzz_config(bugs.as_deref()) {
                Ok(c) => c,
                Err(e) => return usage(e),
            };
            let scenarios = match wqsim::fuzz::committed_scenarios(&wqsim::fuzz::repo_root()) {
                Ok(s) => s,
                Err(e) => return usage(e),
            };
            let mut files = Vec::new();
            for p in &paths {
                match wqsim::fuzz::input_files(p) {
                    Ok(f) => files.extend(f),
                    Err(e) => return usage(e),
                }
            }
            let r = wqsim::explore::silenced(|| wqsim::fuzz::replay_inputs(t, &config, &scenarios, &files));
            out!("{}", r.render());
            if r.findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        #[cfg(not(loom))]
        Cmd::FuzzSeeds => {
            let root = std::path::Path::new(".");
            let scenarios = match wqsim::fuzz::committed_scenarios(root) {
                Ok(s) => s,
                Err(e) => return usage(format!("{e} (run from the repository root)")),
            };
            let dir = root.join("fuzz/seeds/schedule");
            let have: Vec<Vec<u8>> = wqsim::fuzz::input_files(&dir)
                .unwrap_or_default()
                .iter()
                .filter_map(|f| std::fs::read(f).ok())
                .collect();
            let mut wrote = 0;
            for sc in &scenarios {
                let key = wqsim::fuzz::scenario_key(&sc.path).to_le_bytes();
                if have.iter().any(|d| d.starts_with(&key)) {
                    continue;
                }
                let (name, seed) = wqsim::fuzz::schedule_seed(&sc.path);
                let f = dir.join(&name);
                if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&f, seed)) {
                    return usage(format!("{}: {e}", f.display()));
                }
                out!("wrote {}\n", f.display());
                wrote += 1;
            }
            out!("{} scenarios with threads; {wrote} seeds written\n", scenarios.len());
            ExitCode::SUCCESS
        }
        #[cfg(loom)]
        Cmd::FromFuzz { .. } | Cmd::FuzzStates { .. } | Cmd::FuzzSeeds => {
            usage("fuzzing runs in the main build: cargo run --release -p wqsim -- from-fuzz / fuzz-states")
        }
        Cmd::FuzzPlan { verdict } if verdict.len() == 2 => {
            let Some(bug) = Bug::from_name(&verdict[0]) else {
                return usage(format!("no catalog switch {:?}; `wqsim catalog` lists them", verdict[0]));
            };
            out!("{}\n", wqsim::matrix::fuzz_verdict(bug, &verdict[1]));
            ExitCode::SUCCESS
        }
        Cmd::FuzzPlan { .. } => {
            for (id, target, reason) in wqsim::matrix::fuzz_plan() {
                out!("{id}\t{}\t{reason}\n", target.unwrap_or("-"));
            }
            ExitCode::SUCCESS
        }
    }
}
