//! What the fuzz targets run (`fuzz/fuzz_targets/*.rs` are thin wrappers),
//! kept in the library so `cargo test` replays every committed seed and
//! crash input the same way (`sim/tests/fuzz_seeds.rs`), and so
//! `wqsim from-fuzz` can turn a crash input into a scenario.
//!
//! Each target function returns `Err` with a readable finding; the fuzz
//! target panics on it, so libFuzzer saves the input. Program targets
//! (`trace`, `schedule`, `reader`) decode an input into a [`Case`]: a
//! program and the bytes that choose its interleaving
//! ([`wqsim_model::explore::shuttle_bytes`]). Every run reports the
//! protocol states it reached ([`wqsim_model::probe`]) as branches of their
//! own ([`feedback`]), so coverage rewards reaching them.
//!
//! In parts: [`decode`] turns bytes into programs, [`replay`] runs saved
//! inputs again, [`convert`] turns a crash input into a scenario; this
//! module holds the targets themselves.

use arbitrary::Unstructured;

use wqsim_model::api::{FdRef, IoctlReq, KeyRef, Op, Sys as _, ops::*};
use wqsim_model::bugs::Bug;
use wqsim_model::conc::{Actor, Program};
use wqsim_model::kernel::Config;
use wqsim_model::oracle::Violation;
use wqsim_model::probe::{State, States};
use wqsim_model::seq::SeqRun;
use wqsim_model::spec::Spec;
use wqsim_model::uapi::{self, O_NONBLOCK, O_NOTIFICATION_PIPE, WatchNotificationTypeFilter};

use crate::scenario::{Scenario, parse};

mod convert;
mod decode;
mod replay;

use convert::*;
pub use convert::{Converted, from_fuzz};
pub use decode::{flattened, reader, reader_case, sources, sources_case, trace, trace_case};
pub use replay::{Replayed, input_files, replay_inputs};

/// The fuzz targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Parser,
    Frontend,
    Filter,
    Trace,
    Schedule,
    Reader,
    Sources,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Target::Parser,
        Target::Frontend,
        Target::Filter,
        Target::Trace,
        Target::Schedule,
        Target::Reader,
        Target::Sources,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Parser => "parser",
            Target::Frontend => "frontend",
            Target::Filter => "filter",
            Target::Trace => "trace",
            Target::Schedule => "schedule",
            Target::Reader => "reader",
            Target::Sources => "sources",
        }
    }

    pub fn from_name(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The target a crash file belongs to, from its path
    /// (`fuzz/artifacts/trace/crash-...`, `fuzz/crashes/reader/...`).
    pub fn of_path(p: &std::path::Path) -> Option<Target> {
        p.components().rev().skip(1).find_map(|c| Target::from_name(&c.as_os_str().to_string_lossy()))
    }
}

/// The configuration fuzz runs use: every catalog switch off (findings
/// get their proposed fixes), then the switches `ids` names (comma- or
/// space-separated catalog IDs or slugs) on.
pub fn config_with(ids: &str) -> Result<Config, String> {
    let mut c = Config::fixed();
    for id in ids.split([',', ' ']).filter(|s| !s.is_empty()) {
        let bug = Bug::from_name(id).ok_or_else(|| {
            let all: Vec<&str> = wqsim_model::bugs::CATALOG.iter().map(|b| b.id).collect();
            format!("no catalog switch `{id}`; the switches are: {}", all.join(" "))
        })?;
        c = c.with_bug(bug);
    }
    Ok(c)
}

/// [`config_with`] of `WQSIM_FUZZ_BUGS` (how a nightly run measures how
/// fast each switch is found).
pub fn config_from_env() -> Result<Config, String> {
    config_with(&std::env::var("WQSIM_FUZZ_BUGS").unwrap_or_default()).map_err(|e| format!("WQSIM_FUZZ_BUGS: {e}"))
}

/// `parser`: any text into the scenario parser. It must not panic; it
/// returns a positioned error, or a scenario that prints back to text
/// which parses to the same scenario.
pub fn parser(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    let Ok(sc) = parse("<fuzz>", &text) else { return Ok(()) };
    let printed = sc.to_text();
    let again = parse("<fuzz>", &printed).map_err(|e| format!("printed scenario does not parse: {e}\n{printed}"))?;
    let reprinted = again.to_text();
    if reprinted != printed {
        return Err(format!("print/parse is not stable:\n--- first\n{printed}--- second\n{reprinted}"));
    }
    Ok(())
}

/// The heap counter the `frontend` target installs, so its memory budget
/// holds in the fuzz binary too.
pub use wqsim_model::explore::CountingAlloc;

/// The budgets every `frontend` run gets at most: enough for any
/// committed scenario's first executions, small enough that an input
/// runs in well under libFuzzer's timeout.
pub const FRONTEND_LIMITS: crate::scenario::RunLimits =
    crate::scenario::RunLimits { steps_max: Some(200_000), time_limit_ms: Some(2_000), memory_limit_mib: Some(256) };

/// The scenario front end as a user meets it: the bytes as a file
/// (`parse_bytes`: size, UTF-8, control characters, every range); a
/// scenario that parses then runs each of its `run` lines, and once under
/// every driver this build has (seq, random, PCT, DFS, its schedule), each
/// with at most four executions and [`FRONTEND_LIMITS`]. A verdict of any
/// kind is fine, a budget stop too; a harness failure (a panic that is no
/// check of the model) is the finding.
pub fn frontend(data: &[u8]) -> Result<(), String> {
    use crate::explore::Kind;
    use crate::scenario::{Driver, Expect, run_line};
    let Ok(sc) = crate::scenario::parse_bytes("<fuzz>", data) else { return Ok(()) };
    let mut runs = sc.runs.clone();
    for k in [Kind::Seq, Kind::Random, Kind::Pct, Kind::Dfs] {
        runs.push(run_line(Driver::Explorer(k), vec![], Expect::Holds));
    }
    if sc.schedule.is_some() {
        runs.push(run_line(Driver::Schedule, vec![], Expect::Holds));
    }
    let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    for mut r in runs {
        r.iterations = r.iterations.min(4);
        r.limits.steps_max = min(r.limits.steps_max, FRONTEND_LIMITS.steps_max);
        r.limits.time_limit_ms = min(r.limits.time_limit_ms, FRONTEND_LIMITS.time_limit_ms);
        r.limits.memory_limit_mib = min(r.limits.memory_limit_mib, FRONTEND_LIMITS.memory_limit_mib);
        let res = crate::run::execute(&sc, &r);
        if let Some(crate::run::Stop::Harness(m)) = res.stop {
            return Err(format!("harness failure on `run {}` (line {}): {m}", r.driver.name(), r.line));
        }
    }
    Ok(())
}

/// Run `ops` on the model (under `config`) and on the reference; the
/// first violation or disagreement is the finding.
pub fn model_vs_spec(config: Config, ops: Vec<Op>) -> Result<(), String> {
    match seq_check(&config, &ops) {
        None => Ok(()),
        Some(Found::Seq(v, at)) => Err(format!("{at}: {v}")),
        Some(Found::Disagree(what)) => Err(what),
        Some(Found::Conc(v, _)) => Err(v.to_string()),
    }
}

/// The reference's outcome of `op`, after which it learns the serial the
/// model gave a key `op` created (serials are the model's to choose).
fn spec_step(spec: &mut Spec, run: &SeqRun, op: &Op) -> wqsim_model::api::Outcome {
    let reference = spec.apply(op);
    if let Op::AddKey { slot, .. } | Op::RequestKey { slot, .. } = op {
        if let Some(s) = run.serial(*slot) {
            spec.bind_serial(*slot, s as u32);
        }
    }
    reference
}

/// The sequential check of `ops`: each step on the model with the oracle
/// after it, and on the reference where it models `config` (it knows no
/// fault injection); then teardown. The first violation or disagreement.
fn seq_check(config: &Config, ops: &[Op]) -> Option<Found> {
    // The reference knows no fault injection, and not which credentials
    // hold a session keyring a join replaced.
    let compare = spec_covers(config)
        && !ops.iter().any(|op| matches!(op, Op::FailNth { .. } | Op::JoinSession { .. } | Op::ReadKeyring { .. }));
    let (config, ops) = (config.clone(), ops.to_vec());
    wqsim_model::explore::shuttle_seq(move || {
        let mut run = SeqRun::new(config.clone());
        let mut spec = Spec::for_config(&config);
        for op in &ops {
            let model = match run.step(op) {
                Ok(o) => o,
                Err(v) => return Some(Found::Seq(v, format!("`{op}`"))),
            };
            if !compare {
                continue;
            }
            let reference = spec_step(&mut spec, &run, op);
            if model != reference {
                return Some(Found::Disagree(format!("`{op}`: the model returned {model}, the reference {reference}")));
            }
        }
        feedback(wqsim_model::probe::reached());
        run.finish().err().map(|v| Found::Seq(v, "teardown".to_string()))
    })
}

/// Whether the reference models `c`'s settings: it knows the page size,
/// and assumes a privileged task, the default descriptor limit and pipe
/// quotas, and 32-bit ring indexes starting at 0. Elsewhere only the
/// oracle judges the model.
pub fn spec_covers(c: &Config) -> bool {
    let d = Config::default();
    c.privileged == d.privileged
        && c.uid == d.uid
        && c.rlimit_nofile == d.rlimit_nofile
        && c.pipe_user_pages_soft == d.pipe_user_pages_soft
        && c.pipe_user_pages_hard == d.pipe_user_pages_hard
        && c.pipe_max_size == d.pipe_max_size
        && c.pipe_index_bits == d.pipe_index_bits
        && c.pipe_initial_index == d.pipe_initial_index
        && c.variant == d.variant
        && c.lsm == d.lsm
}

/// The operations of the `filter` target for a payload.
pub fn filter_ops(data: &[u8]) -> Vec<Op> {
    let mut ops = vec![notification_pipe(0), set_size(0, 4), user_key(0, "a"), watch(0, 0, 1)];
    ops.push(set_filter(0, data.to_vec()));
    ops.extend([update(0), read(0, 4096), update(0), read(0, 4096)]);
    ops
}

/// `filter`: raw `IOC_WATCH_QUEUE_SET_FILTER` payloads on a watched queue,
/// then events through the filter: model against reference, every
/// out-of-bounds access a violation.
pub fn filter(config: Config, data: &[u8]) -> Result<(), String> {
    model_vs_spec(config, filter_ops(data))
}

/// A decoded input of a program target: the program, and the bytes that
/// choose its interleaving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub program: Program,
    pub schedule: Vec<u8>,
    /// The committed scenario it came from (`schedule`).
    pub scenario: Option<String>,
}

/// What one run of a [`Case`] gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ran {
    pub result: Result<(), Violation>,
    /// The `s2:` schedule token of a failure.
    pub schedule: Option<String>,
    pub states: States,
}

/// Run a case once under its byte schedule.
pub fn run_case(case: &Case) -> Ran {
    let e = wqsim_model::explore::shuttle_bytes(&case.program, &case.schedule);
    let states = wqsim_model::probe::reached();
    feedback(states);
    Ran { result: e.result, schedule: e.schedule, states }
}

fn finding(case: &Case, ran: Ran) -> Result<(), String> {
    match ran.result {
        Ok(()) => Ok(()),
        Err(v) => Err(format!(
            "{v}\n  schedule: {}{}\n  turn this input into a scenario: cargo run --release -p wqsim -- from-fuzz ARTIFACT",
            ran.schedule.as_deref().unwrap_or("-"),
            case.scenario.as_deref().map(|s| format!("\n  scenario: {s}")).unwrap_or_default()
        )),
    }
}

/// Each reached state, and each pair of states, is a branch of its own:
/// coverage-guided search keeps an input that reaches a new one.
#[inline(never)]
pub fn feedback(s: States) {
    use std::hint::black_box;
    macro_rules! edge {
        ($($a:ident $(+ $b:ident)?),* $(,)?) => {$(
            if s.contains(State::$a) $(&& s.contains(State::$b))? {
                black_box(stringify!($a $($b)?));
            }
        )*};
    }
    edge!(
        RingFull,
        LossFlagged,
        NotesExhausted,
        TeardownDuringPost,
        ResizeWithRecords,
        FilterReplacedDuringPost,
        RingFull + LossFlagged,
        RingFull + NotesExhausted,
        RingFull + TeardownDuringPost,
        RingFull + ResizeWithRecords,
        RingFull + FilterReplacedDuringPost,
        LossFlagged + NotesExhausted,
        LossFlagged + TeardownDuringPost,
        LossFlagged + ResizeWithRecords,
        LossFlagged + FilterReplacedDuringPost,
        NotesExhausted + TeardownDuringPost,
        NotesExhausted + ResizeWithRecords,
        NotesExhausted + FilterReplacedDuringPost,
        TeardownDuringPost + ResizeWithRecords,
        TeardownDuringPost + FilterReplacedDuringPost,
        ResizeWithRecords + FilterReplacedDuringPost,
    );
}

/// The committed scenarios with threads, in path order: the `schedule`
/// target's programs. `root` is the directory holding
/// `scenarios/`.
pub fn committed_scenarios(root: &std::path::Path) -> Result<Vec<Scenario>, String> {
    let files = crate::scenario::collect(&[root.join("scenarios")]).map_err(|e| e.message)?;
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f).to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{rel}: {e}"))?;
        let sc = parse(&rel, &text).map_err(|e| e.to_string())?;
        if !sc.threads.is_empty() {
            out.push(sc);
        }
    }
    Ok(out)
}

/// The repository root this build came from (where `scenarios/` is).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A scenario's key in the `schedule` target: the low 16 bits of the
/// FNV-1a hash of its path.
pub fn scenario_key(path: &str) -> u16 {
    crate::scenario::fnv1a(path.as_bytes()) as u16
}

/// The scenario whose key is the first at or after `key` (wrapping round):
/// adding a scenario takes over only the keys just below its own, so a
/// committed input keeps its scenario (a seed starts with its scenario's
/// exact key).
pub fn pick_scenario(scenarios: &[Scenario], key: u16) -> Option<&Scenario> {
    let by_key = |s: &&Scenario| (scenario_key(&s.path), s.path.clone());
    let at_or_after = scenarios.iter().filter(|s| scenario_key(&s.path) >= key).min_by_key(by_key);
    at_or_after.or_else(|| scenarios.iter().min_by_key(by_key))
}

/// The committed seed of the `schedule` target for a scenario: its key,
/// then 24 interleaving bytes drawn from its path's hash. Named after the
/// path (`races__post_vs_clear`).
pub fn schedule_seed(path: &str) -> (String, Vec<u8>) {
    let mut seed = scenario_key(path).to_le_bytes().to_vec();
    seed.extend(pseudo_random_inputs(1, 24, crate::scenario::fnv1a(path.as_bytes())).concat());
    let name = path.trim_start_matches("scenarios/").trim_end_matches(".wq").replace('/', "__");
    (name, seed)
}

/// `n` deterministic pseudo-random inputs of `len` bytes each (xorshift64
/// from `seed | 1`): committed seeds, and inputs for tests.
pub fn pseudo_random_inputs(n: usize, len: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    };
    (0..n).map(|_| (0..len).map(|_| next()).collect()).collect()
}

/// `schedule`: the first two bytes (little-endian) pick a committed
/// scenario ([`pick_scenario`]), the rest spell its interleaving. The
/// scenario keeps its settings and variant; the catalog switches are
/// `config`'s.
pub fn schedule_case(scenarios: &[Scenario], config: &Config, data: &[u8]) -> Option<Case> {
    let (key, rest) = data.split_first_chunk::<2>()?;
    let sc = pick_scenario(scenarios, u16::from_le_bytes(*key))?;
    let mut program = sc.program(None);
    program.config.bugs = config.bugs;
    Some(Case { program, schedule: rest.to_vec(), scenario: Some(sc.path.clone()) })
}

/// `schedule`: a committed scenario under the interleaving the input
/// spells.
pub fn schedule(scenarios: &[Scenario], config: &Config, data: &[u8]) -> Result<(), String> {
    let Some(case) = schedule_case(scenarios, config, data) else { return Ok(()) };
    let ran = run_case(&case);
    finding(&case, ran)
}

/// Run any target on one input: the finding, if any, and the protocol
/// states reached.
pub fn run_target(
    target: Target,
    config: &Config,
    scenarios: &[Scenario],
    data: &[u8],
) -> (Result<(), String>, States) {
    wqsim_model::probe::reset();
    let r = match target {
        Target::Parser => parser(data),
        Target::Frontend => frontend(data),
        Target::Filter => filter(config.clone(), data),
        Target::Trace => trace(config.clone(), data),
        Target::Reader => reader(config.clone(), data),
        Target::Sources => sources(config.clone(), data),
        Target::Schedule => schedule(scenarios, config, data),
    };
    (r, wqsim_model::probe::reached())
}

/// Where the `schedule` target reads `scenarios/` from:
/// `$WQSIM_SCENARIOS`, else the source tree this was built from, else
/// beside the binary (a ClusterFuzzLite build ships them there).
pub fn scenario_root() -> std::path::PathBuf {
    match std::env::var_os("WQSIM_SCENARIOS") {
        Some(r) => r.into(),
        None if repo_root().join("scenarios").is_dir() => repo_root(),
        None => std::env::current_exe().ok().and_then(|e| e.parent().map(|p| p.to_path_buf())).unwrap_or_default(),
    }
}

/// A fuzz target's body (`fuzz/fuzz_targets/*.rs`): `target` on `data`
/// with `WQSIM_FUZZ_BUGS`'s switches on. A finding panics, so libFuzzer
/// keeps the input; so does a bad `WQSIM_FUZZ_BUGS` or a missing
/// `scenarios/`, on the first input, with the reason.
pub fn fuzz_entry(target: Target, data: &[u8]) {
    use std::sync::OnceLock;
    static CONFIG: OnceLock<Config> = OnceLock::new();
    static SCENARIOS: OnceLock<Vec<Scenario>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| config_from_env().unwrap_or_else(|e| panic!("{e}")));
    let scenarios: &[Scenario] = if target == Target::Schedule {
        SCENARIOS.get_or_init(|| {
            let root = scenario_root();
            let s = committed_scenarios(&root).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.is_empty(), "no scenario with threads under {}/scenarios; set WQSIM_SCENARIOS", root.display());
            s
        })
    } else {
        &[]
    };
    let r = run_target(target, config, scenarios, data).0;
    if target == Target::Frontend {
        // An input may use its whole heap budget; give the freed memory
        // back, or the allocator's high-water marks add up to libFuzzer's
        // RSS limit over millions of inputs.
        // SAFETY: malloc_trim only returns free memory to the system.
        unsafe {
            libc::malloc_trim(0);
        }
    }
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wqsim_model::bugs::Bug;

    /// A filter of one entry (`watch_notification_filter` then one
    /// 44-byte `watch_notification_type_filter`): `type_`, every subtype.
    fn one_filter(type_: u32) -> Vec<u8> {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&type_.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&[0xff; 32]);
        b
    }

    #[test]
    fn program_targets_hold_on_the_fixed_model() {
        let c = Config::fixed();
        let scenarios = committed_scenarios(&repo_root()).unwrap();
        let mut reached = States::default();
        for (i, data) in pseudo_random_inputs(300, 96, 0x9e37_79b9_7f4a_7c15).iter().enumerate() {
            for t in [Target::Trace, Target::Reader, Target::Schedule, Target::Sources] {
                let (r, s) = crate::explore::silenced(|| run_target(t, &c, &scenarios, data));
                reached = reached.union(s);
                assert_eq!(r, Ok(()), "{} input {i}: {data:02x?}", t.name());
            }
        }
        eprintln!("reached: {reached}");
    }

    #[test]
    fn parser_round_trips_a_scenario() {
        let text = std::fs::read("../scenarios/errno/read-whole.wq").unwrap();
        assert_eq!(parser(&text), Ok(()));
        assert_eq!(parser(b"\xff\xfe garbage"), Ok(()));
    }

    #[test]
    fn filter_holds_on_the_fixed_model_and_finds_w1() {
        assert_eq!(filter(Config::fixed(), &one_filter(1)), Ok(()));
        assert_eq!(filter(Config::fixed(), &one_filter(100)), Ok(()));
        let err = filter(Config::fixed().with_bug(Bug::W1), &one_filter(100)).unwrap_err();
        assert!(err.contains("H3"), "{err}");
    }
}
