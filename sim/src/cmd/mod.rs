//! The `wqsim` commands: one module per subcommand, each with its
//! arguments (`Args`, a clap struct) and its `run`, which prints the
//! output and returns the exit status ([`crate::exit`]). `main` only
//! parses the command line and calls [`dispatch`].

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wqsim::explore::{Budget, Kind};
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

pub mod bench;
pub mod catalog;
pub mod check;
pub mod drift;
pub mod dump;
pub mod explore;
pub mod from_fuzz;
pub mod fuzz_plan;
pub mod fuzz_seeds;
pub mod fuzz_states;
pub mod kernel_check;
pub mod kernel_repro;
pub mod matrix;
pub mod minimize;
pub mod mutate;
pub mod replay;
pub mod review;
pub mod run;
pub mod selfcheck;
pub mod trace;

/// The command line.
#[derive(Parser)]
#[command(
    name = "wqsim",
    version,
    about = "Model checking for the Linux notification queue (watch_queue)",
    after_help = crate::env::HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// The main job: run every scenario's `run` lines and print the verdict
    /// table (scenario, driver, executions, result, expected, time).
    /// Exits 1 when a result differs from its expectation.
    Check(check::Args),
    /// Run the scenarios on a real Linux kernel under qemu and compare each
    /// operation's outcome with the model's sequential run; with --stress,
    /// also run the concurrent scenarios on real threads and check the
    /// record streams. Exits 1 on any difference or violation.
    /// `ci/kernel/check` builds the kernel and the guest, then runs this.
    KernelCheck(kernel_check::Args),
    /// The findings on a real kernel: each finding's reproducer on Debian's
    /// 6.12 as it is and with its patch, in a table (operations, symptom,
    /// first hit). Exits 1 when a finding that reproduces here does not, or
    /// a patched kernel shows it. `ci/kernel/repro` builds the kernels.
    KernelRepro(kernel_repro::Args),
    /// Run one scenario: the sequential transcript (each operation and its
    /// result, the record stream of each queue, the verdict), then its runs.
    Run(run::Args),
    /// Shrink a failing scenario (fewer operations, threads, preemptions)
    /// and write the minimal one as FILE's name with `.min.wq`.
    Minimize(minimize::Args),
    /// The timeline of a scenario's run (or of a replay token's): one
    /// column per thread, one row per step.
    Trace(trace::Args),
    /// The records a scenario's reads return, as
    /// samples/watch_queue/watch_test.c prints them.
    Dump(dump::Args),
    /// Check the catalog against its scenarios: each switch's scenario in
    /// scenarios/catalog/ turns it on, is caught by the catalog's
    /// invariant, and holds without it. Prints the verdict table.
    Selfcheck(selfcheck::Args),
    /// List the bug catalog, each switch with its scenario.
    Catalog(catalog::Args),
    /// Explore scenarios with one explorer, whatever their own run lines
    /// say; on a violation, print it, the timeline and the replay token.
    Explore(explore::Args),
    /// Replay a failure from the `wq1:` token that check, run, explore or
    /// matrix printed.
    Replay(replay::Args),
    /// Measure the detection matrix with this build's explorers (one
    /// tab-separated line per cell), or merge measured files into the
    /// Markdown of docs/catalog.md.
    Matrix(matrix::Args),
    /// Sweep the model's mutants (a lock left out, a release relaxed, a
    /// wake-up dropped, ... at every site the scenarios reach) through the
    /// scenarios; print the mutation score and each survivor's triage.
    Mutate(mutate::Args),
    /// How fast each explorer runs each scenario (default: the race
    /// scenarios): executions per second and the cost of a shuttle
    /// execution against a sequential run (shuttle build), or loom's
    /// executions at preemption bounds 1, 2 and 3 (loom build). Markdown;
    /// `ci/bench` writes both into docs/PERFORMANCE.md.
    Bench(bench::Args),
    /// Turn a fuzz crash input into a minimised scenario whose run line
    /// gives the violation, checked as `wqsim check` runs it. Prints the
    /// scenario; with --write, writes scenarios/fuzz/NAME.wq and its
    /// snapshot.
    FromFuzz(from_fuzz::Args),
    /// Replay fuzz inputs (seeds, a corpus) through a target: the findings
    /// with their inputs, and which protocol states the inputs reached.
    /// Exits 1 on a finding.
    FuzzStates(fuzz_states::Args),
    /// Write the `schedule` target's missing seeds: one per scenario with
    /// threads, in fuzz/seeds/schedule/ (run from the repository root).
    FuzzSeeds(fuzz_seeds::Args),
    /// The fuzz target that hunts each catalog switch, or why none can
    /// (tab-separated: switch, target or `-`, reason). `ci/fuzz matrix`
    /// reads it.
    FuzzPlan(fuzz_plan::Args),
    /// Compare the kernel map (each model function's kernel function, its
    /// version and its fingerprint there) with a kernel source tree: what
    /// changed, what is gone, what is new; against Debian's 6.1, each
    /// difference explained by the catalog or a reviewed note. Exits 1
    /// when something is not explained.
    Drift(drift::Args),
    /// Map a kernel patch onto the model: the model functions its hunks
    /// touch, the scenarios, race families and catalog rows that run them,
    /// the commands to run, and what nothing covers.
    Review(review::Args),
}

/// Run the command.
pub fn dispatch(cli: Cli) -> ExitCode {
    match cli.cmd {
        Cmd::Check(a) => check::run(a),
        Cmd::KernelCheck(a) => kernel_check::run(a),
        Cmd::KernelRepro(a) => kernel_repro::run(a),
        Cmd::Run(a) => run::run(a),
        Cmd::Minimize(a) => minimize::run(a),
        Cmd::Trace(a) => trace::run(a),
        Cmd::Dump(a) => dump::run(a),
        Cmd::Selfcheck(a) => selfcheck::run(a),
        Cmd::Catalog(a) => catalog::run(a),
        Cmd::Explore(a) => explore::run(a),
        Cmd::Replay(a) => replay::run(a),
        Cmd::Matrix(a) => matrix::run(a),
        Cmd::Mutate(a) => mutate::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::FromFuzz(a) => from_fuzz::run(a),
        Cmd::FuzzStates(a) => fuzz_states::run(a),
        Cmd::FuzzSeeds(a) => fuzz_seeds::run(a),
        Cmd::FuzzPlan(a) => fuzz_plan::run(a),
        Cmd::Drift(a) => drift::run(a),
        Cmd::Review(a) => review::run(a),
    }
}

/// The budgets of a run whose `run` line sets none.
#[derive(clap::Args, Clone, Copy)]
pub struct BudgetArgs {
    /// Scheduling steps one execution may take (a run line's `steps_max=`
    /// wins) [default: 50000000]
    #[arg(long, env = "WQSIM_STEPS_MAX", value_parser = clap::value_parser!(u64).range(1_000..=1_000_000_000_000))]
    steps_max: Option<u64>,
    /// Milliseconds one run may take (a run line's `time_limit_ms=` wins);
    /// past it the run ends with the verdict `budget`.
    #[arg(long, env = "WQSIM_TIME_LIMIT_MS", default_value_t = 600_000, value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    time_limit_ms: u64,
    /// MiB the process's heap may hold during a run (a run line's
    /// `memory_limit_mib=` wins).
    #[arg(long, env = "WQSIM_MEMORY_LIMIT_MIB", default_value_t = 8192, value_parser = clap::value_parser!(u64).range(16..=1 << 20))]
    memory_limit_mib: u64,
    /// Make every field access of a heap object a shuttle scheduling
    /// point, so shuttle can schedule a free between loading an object
    /// and using it (about 20% slower).
    #[arg(long, env = "WQSIM_HEAP_POINTS")]
    heap_points: bool,
    /// Make every run panic inside the harness (a deliberate harness bug,
    /// to see a harness failure reported).
    #[arg(long, hide = true)]
    inject_harness_panic: bool,
}

impl BudgetArgs {
    fn install(self) {
        wqsim_model::conc::set_inject_panic(self.inject_harness_panic);
        wqsim_model::sync::set_heap_points(self.heap_points);
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

/// A shard of a split run: `I/N`, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
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

/// Every scenario under `paths` (`default` when none is given), loaded;
/// the first one that does not load is the error.
fn load_scenarios(
    paths: Vec<std::path::PathBuf>,
    default: &str,
) -> Result<Vec<wqsim::scenario::Scenario>, wqsim::error::Error> {
    let paths = if paths.is_empty() { vec![std::path::PathBuf::from(default)] } else { paths };
    wqsim::scenario::collect(&paths)?.iter().map(|f| wqsim::scenario::load(f)).collect()
}

/// A command's error: its message to stderr, its exit status (2 for
/// malformed input, 4 for the environment).
fn fail(e: wqsim::error::Error) -> ExitCode {
    eprintln!("wqsim: {}", e.message);
    e.exit.into()
}

/// A usage error: message to stderr, exit status 2.
fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("wqsim: {msg}");
    ExitCode::from(2)
}

/// Catalog switches named by ID or slug, comma-separated on the command
/// line (`flag` names the option in the error).
fn bug_list(flag: &str, names: &[String]) -> Result<Vec<Bug>, String> {
    names
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            Bug::from_name(s).ok_or_else(|| {
                format!("{flag}: no catalog switch {s:?}; `wqsim catalog` lists them (W4, P10, F1, ...)")
            })
        })
        .collect()
}

/// Whether standard error is a terminal (progress lines update in place).
fn tty() -> bool {
    std::io::stderr().is_terminal()
}

/// A progress bar on standard error for `total` steps of `what`: drawn in
/// place on a terminal, hidden elsewhere (CI logs get [`run_progress`]'s
/// line a minute instead) and when `quiet`. Standard output, the result,
/// never carries it.
fn bar(what: &str, total: usize, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !tty() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::with_draw_target(Some(total as u64), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed}, ~{eta} left {wide_msg}")
    {
        pb.set_style(style.progress_chars("#>-"));
    }
    pb.set_prefix(what.to_string());
    pb
}

/// Run `loaded` as `check` runs scenarios (with a progress bar named
/// `what`), print the verdict table and the failure reports, or the JSON
/// form, and return the exit status. `check` and `explore` both end here.
fn check_and_print(
    what: &str,
    loaded: Vec<(String, Result<wqsim::scenario::Scenario, wqsim::error::Error>)>,
    format: &str,
    times: bool,
) -> ExitCode {
    let pb = bar(what, 0, false);
    let (rows, reports, exit) = wqsim::drive::check_loaded(loaded, |done, total, name| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
        run_progress(&pb, name.to_string());
    });
    wqsim_model::explore::set_progress(None);
    pb.finish_and_clear();
    if format == "json" {
        out!("{}", wqsim::render::render_json(&rows, exit, times));
    } else {
        out!("{}{reports}", wqsim::render::render_table(&rows, times));
    }
    exit.into()
}

/// Long runs say how far they are: the executions of the run `what` on
/// `bar`'s line on a terminal, elsewhere (CI logs) a line a minute.
fn run_progress(bar: &indicatif::ProgressBar, what: String) {
    let start = std::time::Instant::now();
    let mut last = 0u64;
    let bar = bar.clone();
    let tty = !bar.is_hidden();
    bar.set_message(what.clone());
    wqsim_model::explore::set_progress(Some(Box::new(move |n| {
        let secs = start.elapsed().as_secs();
        if tty {
            bar.set_message(format!("{what}: {n} executions"));
        } else if secs >= last + 60 {
            last = secs;
            eprintln!("  {what}: {n} executions after {secs} s");
        }
    })));
}
