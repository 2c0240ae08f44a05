//! `wqsim review`: a kernel patch mapped onto the model: the model
//! functions its hunks touch, the scenarios, race families and catalog
//! rows that cover them, the commands to run, and the gaps.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// A unified diff against the kernel (`git format-patch`, `git diff`,
    /// `diff -u`); `-` reads standard input.
    pub patch: std::path::PathBuf,
    /// Place the hunks by this kernel tree's definitions instead of the
    /// map's Linux 6.12 line numbers (for a patch against another version).
    #[arg(long)]
    pub kernel_src: Option<std::path::PathBuf>,
    /// Where the scenarios are (each one's sequential run says which model
    /// functions it reaches).
    #[arg(long, default_value = "scenarios")]
    pub scenarios: std::path::PathBuf,
    /// For each touched catalog row, run the families that reach the
    /// touched code with the row's switch on (seq, random and pct with
    /// this many schedules each) and name those that catch it; 0 skips.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub probe: u64,
}

#[cfg(not(loom))]
pub fn run(a: Args) -> ExitCode {
    let text = if a.patch.as_os_str() == "-" {
        let mut b = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut b) {
            return fail(wqsim::error::Error::environment(format!("standard input: {e}")));
        }
        String::from_utf8_lossy(&b).into_owned()
    } else {
        match std::fs::read(&a.patch) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => return fail(wqsim::error::Error::malformed(format!("{}: {e}", a.patch.display()))),
        }
    };
    let patch = match wqsim::kmap::review::parse_patch(&text) {
        Ok(p) => p,
        Err(e) => return fail(wqsim::error::Error::malformed(format!("{}: {e}", a.patch.display()))),
    };
    if let Some(t) = &a.kernel_src
        && !t.is_dir()
    {
        return fail(wqsim::error::Error::malformed(format!(
            "--kernel-src {}: not a directory; give the top of a kernel source tree",
            t.display()
        )));
    }
    if !a.scenarios.is_dir() {
        return fail(wqsim::error::Error::malformed(format!(
            "--scenarios {}: no such directory; run from the repository root or pass --scenarios DIR",
            a.scenarios.display()
        )));
    }
    let map = match wqsim::kmap::map() {
        Ok(m) => m,
        Err(e) => return fail(wqsim::error::Error::malformed(format!("the kernel map: {e}"))),
    };
    let cover = match wqsim::kmap::review::coverage(&a.scenarios) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let r = wqsim::kmap::review::review(&patch, &map, &wqsim::kmap::unmirrored(), a.kernel_src.as_deref(), &cover);
    out!("{}", wqsim::kmap::review::render(&r, &a.patch.display().to_string(), a.kernel_src.as_deref()));
    if a.probe > 0 {
        let p = wqsim::kmap::review::probe(&r, a.probe as usize);
        out!("{}", wqsim::kmap::review::render_probe(&p, a.probe as usize));
    }
    ExitCode::SUCCESS
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("the loom build runs `check` and `explore` only; use: cargo run --release -p wqsim -- review ...")
}
