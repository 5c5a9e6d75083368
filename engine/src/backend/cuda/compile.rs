//! Kernels from CUDA C to PTX with NVRTC at run time, for the device's own architecture, and
//! the on-disk cache that makes every start after the first skip the compiler.
//!
//! Why at run time: one binary serves every GPU generation and needs no CUDA toolkit to build.
//! Why a cache: NVRTC takes a second or more per module. The cache key hashes everything the
//! PTX depends on (source, target architecture, NVRTC version), so a changed kernel, another
//! GPU or another NVRTC gets its own file and a stale one is never used.

use super::CudaError;
use super::libs::{self, CudaVersion};
use bitnet_kernels_cuda::{KernelId, KernelSource};
use cudarc::nvrtc::{CompileError, CompileOptions};
use std::path::{Path, PathBuf};

/// The NVRTC target for a device of compute capability `compute`, as `major * 10 + minor`:
/// the device's own when NVRTC supports it, else the newest NVRTC supports below it (PTX runs
/// on later architectures).
pub fn target_arch(compute: (u32, u32)) -> Result<u32, CudaError> {
    let want = compute.0 * 10 + compute.1;
    let supported = libs::nvrtc_archs()?;
    pick_arch(want, &supported).ok_or_else(|| CudaError::Arch {
        arch: want,
        nvrtc: libs::nvrtc().map_or_else(|_| "?".into(), |v| v.to_string()),
        supported: supported
            .iter()
            .map(|a| format!("compute_{a}"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// `want` when `supported` is empty (NVRTC did not say) or lists it; else the largest
/// supported architecture below `want`; `None` when every supported one is newer.
fn pick_arch(want: u32, supported: &[u32]) -> Option<u32> {
    if supported.is_empty() || supported.contains(&want) {
        return Some(want);
    }
    supported.iter().copied().filter(|&a| a < want).max()
}

/// Compiles one kernel for `compute_{arch}` (e.g. 86 for compute_86) and returns its PTX.
/// Needs NVRTC only, not a driver or a GPU.
pub fn compile_kernel(id: KernelId, arch: u32) -> Result<String, CudaError> {
    let src = id.source();
    let nvrtc = libs::nvrtc()?;
    let failed = |log: String| CudaError::Compile {
        kernel: src.name,
        arch,
        nvrtc: nvrtc.to_string(),
        log,
    };
    let opts = CompileOptions {
        name: Some(format!("{}.cu", src.name)),
        options: vec![format!("--gpu-architecture=compute_{arch}")],
        ..Default::default()
    };
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(src.cuda, opts).map_err(|e| match e {
        CompileError::CompileError { log, nvrtc, .. } => {
            let log = log.to_string_lossy().trim().to_string();
            failed(if log.is_empty() {
                format!("{nvrtc:?}")
            } else {
                log
            })
        }
        other => failed(format!("{other:?}")),
    })?;
    let bytes = ptx
        .as_bytes()
        .ok_or_else(|| failed("NVRTC returned no PTX image".into()))?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8(bytes[..end].to_vec()).map_err(|_| failed("the PTX is not text".into()))
}

/// Where compiled PTX is kept: `$XDG_CACHE_HOME/bitnet-rs/ptx`, else `~/.cache/bitnet-rs/ptx`;
/// `None` without either variable.
pub fn ptx_cache_dir() -> Option<PathBuf> {
    Some(crate::cache::user_cache_dir()?.join("ptx"))
}

/// The cache file name of a kernel's PTX: a 64-bit FNV-1a hash of its source, entry point,
/// target and NVRTC version, in hex. FNV rather than std's hasher because the name must not
/// change between builds of this program.
fn cache_name(src: &KernelSource, arch: u32, nvrtc: CudaVersion) -> String {
    let mut h = crate::cache::Fnv1a64::default();
    let parts = [
        src.cuda,
        src.entry,
        &format!("compute_{arch}"),
        &format!("nvrtc {nvrtc}"),
    ];
    for part in parts {
        // A separator no text contains, so ("ab", "c") and ("a", "bc") differ.
        h.update(part.as_bytes());
        h.update(&[0xff]);
    }
    format!("{:016x}.ptx", h.finish())
}

/// Where a kernel's PTX came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PtxOrigin {
    /// Read from the cache.
    Cached,
    /// Compiled now.
    Compiled,
}

/// The PTX of `id` for `arch`: from `dir` when a file for exactly this source, target and
/// NVRTC is there, else compiled and stored (a failure to store only costs the next start a
/// compile).
pub(crate) fn ptx_for(
    id: KernelId,
    arch: u32,
    dir: Option<&Path>,
) -> Result<(String, PtxOrigin), CudaError> {
    let src = id.source();
    let nvrtc = libs::nvrtc()?;
    let path = dir.map(|d| d.join(cache_name(src, arch, nvrtc)));
    if let Some(text) = path.as_deref().and_then(read_cached)
        && text.contains(src.entry)
    {
        return Ok((text, PtxOrigin::Cached));
    }
    let ptx = compile_kernel(id, arch)?;
    if let Some(p) = &path
        && let Err(e) = store(p, &ptx)
    {
        tracing::debug!("cannot cache {}'s PTX in {}: {e}", src.name, p.display());
    }
    Ok((ptx, PtxOrigin::Compiled))
}

/// A cached PTX file's text; `None` when absent, unreadable, or not a loadable string.
fn read_cached(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    (!text.is_empty() && !text.contains('\0')).then_some(text)
}

/// Writes `text` to `path` through a temporary file and a rename, so a concurrent reader sees
/// the whole file or none.
fn store(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let name = path
        .file_name()
        .map_or_else(|| "ptx".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let r = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Drops a cache file that the driver refused, so the next start compiles afresh.
pub(crate) fn forget(id: KernelId, arch: u32, dir: Option<&Path>) {
    if let (Some(d), Ok(v)) = (dir, libs::nvrtc()) {
        let _ = std::fs::remove_file(d.join(cache_name(id.source(), arch, v)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_arch_is_used_when_supported_else_the_newest_below() {
        let nvrtc12 = [50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90];
        assert_eq!(pick_arch(86, &nvrtc12), Some(86));
        assert_eq!(pick_arch(61, &nvrtc12), Some(61));
        // A GPU newer than this NVRTC: the newest PTX it can make runs there.
        assert_eq!(pick_arch(120, &nvrtc12), Some(90));
        assert_eq!(pick_arch(88, &nvrtc12), Some(87));
        // An NVRTC that dropped the device's generation cannot serve it.
        assert_eq!(pick_arch(61, &[75, 80, 90, 100, 120]), None);
        // An NVRTC too old to list its targets is trusted with the device's.
        assert_eq!(pick_arch(75, &[]), Some(75));
    }

    #[test]
    fn cache_names_change_with_source_target_and_nvrtc() {
        let v12 = CudaVersion {
            major: 12,
            minor: 9,
        };
        let v13 = CudaVersion {
            major: 13,
            minor: 0,
        };
        let a = KernelId::ALL[0].source();
        let names = [
            cache_name(a, 80, v12),
            cache_name(a, 90, v12),
            cache_name(a, 80, v13),
        ];
        assert_ne!(names[0], names[1]);
        assert_ne!(names[0], names[2]);
        assert_eq!(names[0], cache_name(a, 80, v12), "stable");
        assert!(
            names[0].ends_with(".ptx") && names[0].len() == 16 + 4,
            "{}",
            names[0]
        );
        let mut other = *a;
        other.cuda = "extern \"C\" __global__ void f() {}";
        assert_ne!(cache_name(&other, 80, v12), names[0]);
        let names: std::collections::HashSet<String> = KernelId::ALL
            .iter()
            .map(|id| cache_name(id.source(), 80, v12))
            .collect();
        assert_eq!(names.len(), KernelId::ALL.len(), "one file per kernel");
    }

    #[test]
    fn stored_files_read_back_and_damaged_ones_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sub").join("x.ptx");
        store(&p, "// PTX\n.entry bitnet_x\n").expect("stored");
        assert_eq!(
            read_cached(&p).as_deref(),
            Some("// PTX\n.entry bitnet_x\n")
        );
        std::fs::write(&p, b"half\0written").expect("write");
        assert_eq!(read_cached(&p), None);
        std::fs::write(&p, b"").expect("write");
        assert_eq!(read_cached(&p), None);
        assert_eq!(read_cached(&dir.path().join("missing.ptx")), None);
        let leftovers = std::fs::read_dir(dir.path().join("sub"))
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("partial"))
            .count();
        assert_eq!(leftovers, 0);
    }

    /// With NVRTC here (CI installs it), the first request compiles and stores, the second
    /// reads the file, and a file without the kernel's entry point is compiled over.
    #[test]
    fn compiled_ptx_is_cached_and_reused() {
        let Ok(v) = libs::nvrtc() else {
            eprintln!("skipping: no NVRTC");
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let id = KernelId::ALL[0];
        let (first, origin) = ptx_for(id, 61, Some(dir.path())).expect("compiles");
        assert_eq!(origin, PtxOrigin::Compiled);
        let file = dir.path().join(cache_name(id.source(), 61, v));
        assert_eq!(
            std::fs::read_to_string(&file).ok().as_deref(),
            Some(first.as_str())
        );
        let (again, origin) = ptx_for(id, 61, Some(dir.path())).expect("cached");
        assert_eq!(
            (again.as_str(), origin),
            (first.as_str(), PtxOrigin::Cached)
        );
        std::fs::write(&file, "// not this kernel\n").expect("write");
        let (fixed, origin) = ptx_for(id, 61, Some(dir.path())).expect("recompiled");
        assert_eq!(
            (fixed.as_str(), origin),
            (first.as_str(), PtxOrigin::Compiled)
        );
        forget(id, 61, Some(dir.path()));
        assert!(!file.exists());
        // NVRTC 12 targets the Ampere and Hopper devices as themselves.
        if v.major == 12 {
            assert_eq!(target_arch((8, 6)), Ok(86));
            assert_eq!(target_arch((9, 0)), Ok(90));
        }
    }

    #[test]
    fn the_cache_lives_under_xdg_cache_home() {
        // Read-only check of the rule: the variable, when set, is the base.
        if let Some(base) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            assert_eq!(
                ptx_cache_dir(),
                Some(PathBuf::from(base).join("bitnet-rs").join("ptx"))
            );
        } else if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(
                ptx_cache_dir(),
                Some(PathBuf::from(home).join(".cache/bitnet-rs/ptx"))
            );
        }
    }
}
