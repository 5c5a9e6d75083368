//! Writing a file so that a failure never leaves a partial file under its name.

use super::ConvertError;
use std::path::{Path, PathBuf};

/// Calls `write` with a temporary path next to `target`, then renames it to `target`. On any
/// error the temporary file is removed and `target` is untouched.
pub fn write_atomically<T>(
    target: &Path,
    write: impl FnOnce(&Path) -> Result<T, ConvertError>,
) -> Result<T, ConvertError> {
    let tmp = temp_path(target);
    let result = write(&tmp).and_then(|v| {
        std::fs::rename(&tmp, target)
            .map(|_| v)
            .map_err(|source| ConvertError::Io {
                path: target.display().to_string(),
                source,
            })
    });
    if result.is_err() {
        // The write may have failed before creating it.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `<dir>/.<name>.partial-<pid>`: hidden, in the same directory (so the rename stays on one
/// file system), and distinct per process.
fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    target.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}
