//! The `wqsim` command line.
//!
//! Exit status: 0 pass, 1 a check failed, 2 malformed input.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "wqsim", version, about = "Model checking for the Linux notification queue (watch_queue)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every catalog switch's trigger off (must hold) and on (must be
    /// caught by its invariant) and print the verdict table.
    Selfcheck {
        /// Print no progress line.
        #[arg(long)]
        quiet: bool,
    },
    /// List the bug catalog.
    Catalog,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Selfcheck { quiet } => {
            let quiet = quiet || !std::io::stderr().is_terminal();
            let rows = wqsim::selfcheck(|done, total| {
                if !quiet {
                    eprint!("\rselfcheck [{:<20}] {done}/{total}", "#".repeat(done * 20 / total));
                    let _ = std::io::stderr().flush();
                }
            });
            if !quiet {
                eprintln!();
            }
            print!("{}", wqsim::render(&rows));
            if rows.iter().all(|r| r.pass) { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Cmd::Catalog => {
            for b in wqsim_model::bugs::CATALOG {
                println!("{} {}: {} ({}, {})", b.id, b.slug, b.fix_title, b.fix_hash, b.cve.unwrap_or("no CVE"));
                println!("    site: {}; caught by {} ({})", b.site, b.caught_by, b.caught_by.title());
                println!("    {}", b.trigger);
            }
            ExitCode::SUCCESS
        }
    }
}
