//! `wqsim kernel-check`: Run the scenarios on a real Linux kernel under qemu
//! and compare each operation's outcome with the model's sequential run; with
//! --stress, also run the concurrent scenarios on real threads and check the
//! record streams. Exits 1 on any difference or violation. `ci/kernel/check`
//! builds the kernel and the guest, then runs this.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Scenario files or directories (default: scenarios/).
    pub paths: Vec<std::path::PathBuf>,
    /// The bzImage (`ci/kernel/build.sh` prints its path).
    #[arg(long, env = "WQSIM_KERNEL")]
    pub kernel: Option<std::path::PathBuf>,
    /// The static guest runner, wqsim-guest (`ci/kernel/guest.sh` prints
    /// its path).
    #[arg(long, env = "WQSIM_GUEST")]
    pub guest: Option<std::path::PathBuf>,
    /// Run each concurrent scenario this many times on -smp 2.
    #[arg(long, default_value_t = 0)]
    pub stress: u32,
    /// Give the model a deliberate wrong behaviour (read-too-small-efault),
    /// to see the comparison fail.
    #[arg(long)]
    pub mutant: Option<String>,
    /// Compare with a saved console instead of booting.
    #[arg(long)]
    pub console: Option<std::path::PathBuf>,
    /// Save the console to this file.
    #[arg(long)]
    pub console_out: Option<std::path::PathBuf>,
    /// The kernel --kernel boots: Debian's linux-source series `6.12` or
    /// `6.1` (`ci/kernel/build.sh SERIES` builds it). The model gets the
    /// historical bugs that kernel's source still has.
    #[arg(long, default_value = "6.12", value_parser = parse_series)]
    pub series: wqsim_model::bugs::Shipped,
    /// Give up on the virtual machine after this many seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

#[cfg(not(loom))]
pub fn run(a: Args) -> ExitCode {
    let tty = tty();
    let Args { paths, kernel, guest, stress, mutant, console, console_out, series, timeout } = a;
    let paths = if paths.is_empty() { vec![std::path::PathBuf::from("scenarios")] } else { paths };
    let files = match wqsim::scenario::collect(&paths) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let mutant = match mutant.as_deref().map(|m| (m, wqsim_model::kernel::Mutant::from_name(m))) {
        None => None,
        Some((_, Some(m))) => Some(m),
        Some((m, None)) => {
            let names: Vec<&str> = wqsim_model::kernel::Mutant::ALL.iter().map(|(_, n)| *n).collect();
            return usage(format!("kernel-check: no mutant `{m}` (there is: {})", names.join(", ")));
        }
    };
    let opts = wqsim::qemu::host::Options {
        kernel,
        guest,
        stress,
        mutant,
        console_in: console,
        console_out,
        timeout_secs: timeout,
        series,
    };
    if tty && opts.console_in.is_none() {
        eprintln!("kernel-check: booting qemu (-smp 2, software emulation) ...");
    }
    match wqsim::qemu::host::kernel_check(&files, &opts) {
        Ok(r) => {
            out!("{}", r.render());
            if r.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => fail(e),
    }
}

fn parse_series(s: &str) -> Result<wqsim_model::bugs::Shipped, String> {
    wqsim_model::bugs::Shipped::from_series(s).ok_or_else(|| {
        let all: Vec<&str> = wqsim_model::bugs::Shipped::ALL.iter().map(|k| k.series()).collect();
        format!("no kernel series `{s}` (accepted: {}; ci/kernel/build.sh SERIES builds one)", all.join(", "))
    })
}

#[cfg(loom)]
pub fn run(_: Args) -> ExitCode {
    usage("kernel-check runs in the main build: cargo run --release -p wqsim -- kernel-check")
}
