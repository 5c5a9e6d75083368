//! The bundled default model: a small ternary model trained by `training/` (its card is
//! `models/bitnet-b1.58-tiny-austen.md`), built into the binary so that `bitnet run`,
//! `chat`, `serve`, `bench` and `perplexity` work with no `-m` and no download.
//!
//! The loader maps model files from disk (and the server's hot-swap works on paths), so the
//! embedded bytes are written once to the user's cache directory, in a folder named by their
//! hash, and that file is used from then on. A cached copy whose bytes differ (a truncated
//! write, a hand edit) is rewritten, never trusted.

use bitnet_engine::cache::{Fnv1a64, user_cache_dir};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The bundled model's name (the file stem, and the name the server gives it).
pub const NAME: &str = "bitnet-b1.58-tiny-austen";

/// The GGUF bytes, as committed in `models/`.
static BYTES: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/bitnet-b1.58-tiny-austen.gguf"
));

/// The model file to use: `given`, or else the bundled model (written to the cache first).
pub fn model_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    match given {
        Some(p) => Ok(p.to_path_buf()),
        None => {
            let path = materialize()?;
            eprintln!(
                "no -m given: using the bundled model {NAME} ({})",
                path.display()
            );
            Ok(path)
        }
    }
}

/// Writes the bundled model into the cache directory (`$XDG_CACHE_HOME/bitnet-rs`, else
/// `~/.cache/bitnet-rs`, else the temporary directory) unless an identical copy is there,
/// and returns its path.
pub fn materialize() -> anyhow::Result<PathBuf> {
    let mut bases = Vec::new();
    if let Some(cache) = user_cache_dir() {
        bases.push(cache);
    }
    bases.push(std::env::temp_dir().join("bitnet-rs"));
    let mut failures = Vec::new();
    for base in &bases {
        match materialize_in(base, BYTES) {
            Ok(p) => return Ok(p),
            Err(e) => failures.push(format!("{}: {e}", base.display())),
        }
    }
    anyhow::bail!(
        "cannot write the bundled model {NAME} to disk ({}); pass a model file with -m",
        failures.join("; ")
    )
}

/// Puts `bytes` at `<base>/bundled/<hash>/<NAME>.gguf` unless that file already holds exactly
/// them. The folder is named by the bytes' hash so that binaries bundling different models
/// never overwrite each other's file; the write goes through a temporary file and a rename,
/// so a process mapping the file never sees it half written.
fn materialize_in(base: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let dir = base
        .join("bundled")
        .join(format!("{:016x}", Fnv1a64::of(bytes)));
    let path = dir.join(format!("{NAME}.gguf"));
    if std::fs::read(&path).is_ok_and(|existing| existing == bytes) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!(".{NAME}.gguf.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_and_repairs_a_damaged_copy() {
        let base = std::env::temp_dir().join(format!("bitnet-bundled-test-{}", std::process::id()));
        let bytes = b"GGUF not really a model".as_slice();
        let p = materialize_in(&base, bytes).expect("first write");
        assert_eq!(std::fs::read(&p).expect("read"), bytes);
        assert_eq!(
            p.file_name().and_then(|n| n.to_str()),
            Some("bitnet-b1.58-tiny-austen.gguf")
        );
        let modified = std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .expect("mtime");

        // An identical copy is used as it is.
        let again = materialize_in(&base, bytes).expect("second call");
        assert_eq!(again, p);
        assert_eq!(
            std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .expect("mtime"),
            modified
        );

        // A truncated copy is rewritten.
        std::fs::write(&p, &bytes[..4]).expect("truncate");
        let repaired = materialize_in(&base, bytes).expect("repair");
        assert_eq!(std::fs::read(&repaired).expect("read"), bytes);

        // Other bytes go to another folder.
        let other = materialize_in(&base, b"other").expect("other");
        assert_ne!(other.parent(), p.parent());
        std::fs::remove_dir_all(&base).expect("clean up");
    }

    #[test]
    fn the_embedded_model_is_a_gguf_file() {
        assert_eq!(&BYTES[..4], b"GGUF");
        let f = bitnet_engine::gguf::GgufFile::from_bytes(BYTES.to_vec()).expect("parses");
        assert!(f.tensors().len() > 10);
    }
}
