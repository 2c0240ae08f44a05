//! Scenario files on disk: reading one (its size checked before it is
//! read whole), and finding every `.wq` file under some paths.

use std::path::{Path, PathBuf};

use super::{FILE_BYTES_MAX, Scenario, parse_bytes};
use crate::error::Error;

/// Read and parse a scenario file.
pub fn load(path: &Path) -> Result<Scenario, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::malformed(format!("{}: {e}", path.display())))?;
    if meta.len() > FILE_BYTES_MAX as u64 {
        // Refused before reading it whole.
        return parse_bytes(&path.display().to_string(), &vec![b' '; FILE_BYTES_MAX + 1]).map_err(|e| {
            Error::malformed(
                e.to_string().replace(&format!("{} bytes", FILE_BYTES_MAX + 1), &format!("{} bytes", meta.len())),
            )
        });
    }
    let bytes = std::fs::read(path).map_err(|e| Error::malformed(format!("{}: {e}", path.display())))?;
    parse_bytes(&path.display().to_string(), &bytes).map_err(|e| Error::malformed(e.to_string()))
}

/// Every `.wq` file under `paths` (directories recursively), sorted.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| Error::malformed(format!("{}: {e}", p.display())))?;
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            for e in entries {
                if e.is_dir() || e.extension().is_some_and(|x| x == "wq") {
                    walk(&e, out)?;
                }
            }
            Ok(())
        } else if p.exists() {
            out.push(p.to_path_buf());
            Ok(())
        } else {
            Err(Error::malformed(format!("{}: no such file or directory", p.display())))
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    if out.is_empty() {
        return Err(Error::malformed("no scenario files (*.wq) found"));
    }
    Ok(out)
}
