//! `wqsim drift`: the kernel map against a kernel source tree: mirrored
//! definitions whose body changed, definitions gone, and new definitions
//! in the mirrored files; against a shipped kernel's tree, each explained
//! by the catalog or a reviewed difference, or not.

use super::*;

/// Its arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The top of a kernel source tree (`ci/kernel/source.sh 6.12` unpacks
    /// Debian's and prints its path).
    pub tree: std::path::PathBuf,
    /// Print every definition of these files in the tree instead
    /// (tab-separated: file, name, lines, fingerprint), as the map and
    /// sim/src/kmap/unmirrored.tsv record them.
    #[arg(long, num_args = 1..)]
    pub definitions: Vec<String>,
}

pub fn run(a: Args) -> ExitCode {
    let map = match wqsim::kmap::map() {
        Ok(m) => m,
        Err(e) => return fail(wqsim::error::Error::malformed(format!("the kernel map: {e}"))),
    };
    if !a.definitions.is_empty() {
        return match wqsim::kmap::drift::scan(&a.tree, &a.definitions) {
            Ok(found) => {
                for (file, defs) in found {
                    let Some(defs) = defs else {
                        return fail(wqsim::error::Error::malformed(format!(
                            "{}: no such file in {}",
                            file,
                            a.tree.display()
                        )));
                    };
                    for d in defs {
                        out!("{file}\t{}\t{}-{}\t{:016x}\n", d.name, d.lines.0, d.lines.1, d.fp);
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    match wqsim::kmap::drift::report(&a.tree, &map, &wqsim::kmap::unmirrored()) {
        Ok((text, clean)) => {
            out!("{text}");
            if clean { ExitCode::SUCCESS } else { wqsim::exit::Exit::Failed.into() }
        }
        Err(e) => fail(e),
    }
}
