//! `bitnet inspect FILE`.

use anyhow::Context;
use bitnet_engine::gguf::GgufFile;
use clap::Args;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

/// Arguments of `bitnet inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The GGUF file.
    file: PathBuf,
    /// Print every tensor (default: the first 40 and a summary).
    #[arg(long)]
    all: bool,
}

/// Prints metadata, a tensor table and a per-type summary.
pub fn inspect(a: InspectArgs) -> anyhow::Result<()> {
    let f = GgufFile::open(&a.file).with_context(|| format!("cannot load {}", a.file.display()))?;
    // Built whole, then written once: a closed pipe (`| head`) is one error, not a panic.
    let mut r = String::new();
    writeln!(r, "file:        {}", a.file.display())?;
    writeln!(r, "size:        {} bytes", f.file_len())?;
    writeln!(
        r,
        "gguf:        version {}, alignment {}, data at offset {}",
        f.version, f.alignment, f.data_offset
    )?;
    writeln!(r, "metadata:    {} keys", f.metadata().len())?;
    for (k, v) in f.metadata() {
        writeln!(r, "  {k:<45} {:<14} {v}", v.type_name())?;
    }
    writeln!(r, "tensors:     {}", f.tensors().len())?;
    writeln!(
        r,
        "  {:<36} {:<6} {:<18} {:>12} {:>12}",
        "name", "type", "shape", "offset", "bytes"
    )?;
    let limit = if a.all { usize::MAX } else { 40 };
    for t in f.tensors().iter().take(limit) {
        writeln!(
            r,
            "  {:<36} {:<6} {:<18} {:>12} {:>12}",
            t.name,
            t.ty.to_string(),
            format!("{:?}", t.dims),
            t.offset,
            t.nbytes
        )?;
    }
    if f.tensors().len() > limit {
        writeln!(
            r,
            "  … {} more (--all to list them)",
            f.tensors().len() - limit
        )?;
    }
    let mut by_type: BTreeMap<String, (usize, u64, u64)> = BTreeMap::new();
    for t in f.tensors() {
        let e = by_type.entry(t.ty.to_string()).or_default();
        e.0 += 1;
        e.1 += t.n_elements();
        e.2 += t.nbytes;
    }
    writeln!(r, "by type:")?;
    for (ty, (n, elems, bytes)) in by_type {
        let bpw = if elems > 0 {
            bytes as f64 * 8.0 / elems as f64
        } else {
            0.0
        };
        writeln!(
            r,
            "  {ty:<6} {n:>5} tensors {elems:>14} weights {bytes:>14} bytes ({bpw:.3} bits/weight)"
        )?;
    }
    std::io::stdout().lock().write_all(r.as_bytes())?;
    Ok(())
}
