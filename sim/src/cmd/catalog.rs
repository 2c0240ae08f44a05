//! `wqsim catalog`: List the bug catalog.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> ExitCode {
    for b in wqsim_model::bugs::CATALOG {
        out!("{} {}: {} ({}, {})\n", b.id, b.slug, b.fix_title, b.fix_hash, b.cve.unwrap_or("no CVE"));
        let how = b.family.map(|f| format!("family {f}")).unwrap_or_else(|| "sequential trigger".into());
        out!("    site: {}; caught by {} ({}); {how}\n", b.site, b.caught_by, b.caught_by.title());
        out!("    {}\n", b.trigger);
    }
    ExitCode::SUCCESS
}
