//! `wqsim catalog`: List the bug catalog, each switch with its scenario.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> ExitCode {
    for b in wqsim_model::bugs::CATALOG {
        out!("{} {}: {} ({}, {})\n", b.id, b.slug, b.fix_title, b.fix_hash, b.cve.unwrap_or("no CVE"));
        out!("    site: {}; caught by {} ({})\n", b.site, b.caught_by, b.caught_by.title());
        out!("    scenario: scenarios/catalog/{}\n", wqsim::catalog::file_name(b));
        out!("    {}\n", b.trigger);
    }
    ExitCode::SUCCESS
}
