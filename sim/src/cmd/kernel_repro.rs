//! `wqsim kernel-repro`: The findings (docs/findings) on a real kernel:
//! each finding's reproducer runs on Debian's 6.12 as it is and on the same
//! source with docs/findings/patches/*.patch applied, and the table shows
//! the operations, the symptom's count and the first hit on each. The
//! patched kernel must stay clean for ten times the operations of the first
//! hit. Exits 1 when a finding that reproduces on this kind of machine does
//! not, or when a patched kernel shows its symptom. `ci/kernel/repro`
//! builds the four kernels and the guest, then runs this.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Findings to reproduce (default: every one with a reproducer: F1 F3
    /// F6 F7 F8; F2, F4 and F5 print why they have none).
    pub findings: Vec<String>,
    /// Debian's 6.12 as it is (`ci/kernel/build.sh 6.12`).
    #[arg(long)]
    pub kernel: Option<std::path::PathBuf>,
    /// The same source with the findings' patches
    /// (`ci/kernel/build.sh 6.12 docs/findings/patches/*.patch`).
    #[arg(long)]
    pub patched: Option<std::path::PathBuf>,
    /// The unmodified kernel with CONFIG_KCSAN (`ci/kernel/build.sh --kcsan 6.12`).
    #[arg(long)]
    pub kcsan: Option<std::path::PathBuf>,
    /// The patched kernel with CONFIG_KCSAN.
    #[arg(long)]
    pub kcsan_patched: Option<std::path::PathBuf>,
    /// The static guest runner, wqsim-guest (`ci/kernel/guest.sh`).
    #[arg(long, env = "WQSIM_GUEST")]
    pub guest: Option<std::path::PathBuf>,
    /// Boots of each kernel per finding.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub boots: u32,
    /// Seconds of reproduction per boot of the unmodified kernel; the
    /// patched kernel runs until it has done ten times the operations of
    /// the first hit, for at most ten times as long.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub secs: u64,
    /// Keep each boot's console here (FINDING-unmodified|patched-BOOT.txt).
    #[arg(long)]
    pub console_dir: Option<std::path::PathBuf>,
}

#[cfg(not(loom))]
pub fn run(a: Args) -> ExitCode {
    let Args { findings, kernel, patched, kcsan, kcsan_patched, guest, boots, secs, console_dir } = a;
    let opts = wqsim::qemu::repro::Options { kernel, patched, kcsan, kcsan_patched, guest, boots, secs, console_dir };
    match wqsim::qemu::repro::kernel_repro(&findings, &opts, |line| eprintln!("{line}")) {
        Ok(r) => {
            out!("{}", r.render());
            if r.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => fail(e),
    }
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("kernel-repro runs in the main build: cargo run --release -p wqsim -- kernel-repro")
}
