//! `wqsim trace`: The timeline of a scenario's run (or of a replay token's):
//! one column per thread, one row per step.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// A scenario file or a `wq1:` token.
    pub what: String,
    /// Also write the timeline as an SVG picture.
    #[arg(long)]
    pub svg: Option<std::path::PathBuf>,
    /// Also write it in Chrome's Trace Event Format (JSON), which
    /// Perfetto (ui.perfetto.dev) and chrome://tracing open.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[cfg(not(loom))]
pub fn run(a: Args) -> ExitCode {
    let Args { what, svg, json } = a;
    let (text, program, events) = if what.starts_with("wq1:") {
        match wqsim::drive::replay_token(&what, true) {
            Ok((s, _)) => {
                let tok = wqsim::run::parse_token(&what).ok();
                let p = tok
                    .and_then(|t| wqsim::scenario::load(std::path::Path::new(&t.path)).ok())
                    .map(|sc| sc.program(None));
                let ev = wqsim_model::conc::last_trace().map(|t| t.events_by_thread()).unwrap_or_default();
                (s, p, ev)
            }
            Err(e) => return fail(e),
        }
    } else {
        let path = std::path::PathBuf::from(&what);
        match wqsim::drive::trace_file(&path) {
            Ok((s, ev)) => (s, wqsim::scenario::load(&path).ok().map(|sc| sc.program(None)), ev),
            Err(e) => return fail(e),
        }
    };
    out!("{text}");
    let violation =
        text.lines().map(|l| l.trim().trim_start_matches("verdict: ")).find(|l| l.starts_with("invariant "));
    if let (Some(dest), Some(p)) = (svg, program.as_ref()) {
        if let Err(e) = std::fs::write(&dest, wqsim::timeline::svg(p, &events, violation)) {
            return usage(format!("{}: {e}", dest.display()));
        }
    }
    if let (Some(dest), Some(p)) = (json, program.as_ref()) {
        if let Err(e) = std::fs::write(&dest, wqsim::timeline::chrome_trace(p, &events, violation)) {
            return usage(format!("{}: {e}", dest.display()));
        }
    }
    ExitCode::SUCCESS
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("the loom build runs `check` and `explore` only; use: cargo run --release -p wqsim -- ...")
}
