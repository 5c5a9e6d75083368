//! Which ternary kernel runs each matrix shape: timed at load on this machine, cached on disk,
//! or forced by the user (`--kernel`).
//!
//! Why time rather than rank: which kernel wins depends on the CPU (VNNI or not, how wide its
//! vector units really are), the shape and the thread count, and a table written for one
//! machine is wrong on the next. Timing every candidate on a real weight of the shape takes a
//! few milliseconds per shape; the answer is kept in `cpu-kernels.json` in the cache directory,
//! keyed by CPU model, SIMD level, thread count and shape, so later loads skip it.
//!
//! The timing runs the candidate over the whole matrix on the backend's pool, as a decode step
//! does. The matrix is usually in cache by then, so the measure favours the kernel that
//! computes fastest; layouts differ by at most 17 % in bytes, which this does not weigh.

use super::cpu_float::par_bands;
use super::cpu_ternary::{TernaryKernel, TernaryMatrix};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// How a shape's kernel was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChoiceSource {
    /// Timed during this load.
    Timed,
    /// Read from the cache file.
    Cached,
    /// Forced with `--kernel`.
    Forced,
}

/// The kernel for one matrix shape and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelChoice {
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// The kernel that runs this shape.
    pub kernel: String,
    /// How it was decided.
    pub source: ChoiceSource,
    /// Median time of one matrix-vector product per candidate, in microseconds (empty when
    /// forced).
    pub micros: BTreeMap<String, f64>,
}

/// Decides and remembers the kernel of each shape for one backend.
pub struct KernelChooser {
    forced: Option<TernaryKernel>,
    cache: Option<PathBuf>,
    key: String,
    choices: Mutex<BTreeMap<(usize, usize), KernelChoice>>,
}

/// The cache file: CPU key → shape ("rows×cols") → choice.
type CacheFile = BTreeMap<String, BTreeMap<String, KernelChoice>>;

impl KernelChooser {
    /// A chooser for `threads` worker threads; `forced` skips timing; `cache` is the file
    /// timings are kept in (`None`: time on every load).
    pub fn new(threads: usize, forced: Option<TernaryKernel>, cache: Option<PathBuf>) -> Self {
        KernelChooser {
            forced,
            cache,
            key: format!(
                "{} | {} | {threads} threads",
                cpu_model(),
                bitnet_cpu_simd::simd_level()
            ),
            choices: Mutex::new(BTreeMap::new()),
        }
    }

    /// The default cache file: `$XDG_CACHE_HOME/bitnet-rs/cpu-kernels.json`, else
    /// `~/.cache/bitnet-rs/cpu-kernels.json`; `None` without either variable.
    pub fn default_cache_path() -> Option<PathBuf> {
        Some(crate::cache::user_cache_dir()?.join("cpu-kernels.json"))
    }

    /// The choices made so far, by shape.
    pub fn report(&self) -> Vec<KernelChoice> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(usize, usize), KernelChoice>> {
        // A panic while holding the lock leaves a valid map (entries are inserted whole).
        self.choices.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kernel for a `rows × cols` matrix. `build` packs the shape's first weight for a
    /// candidate; it is called only when the shape has to be timed.
    pub fn choose(
        &self,
        pool: &super::cpu_pool::SpinPool,
        rows: usize,
        cols: usize,
        build: impl Fn(TernaryKernel) -> Option<TernaryMatrix>,
    ) -> TernaryKernel {
        if let Some(c) = self.lock().get(&(rows, cols)) {
            return TernaryKernel::from_name(&c.kernel).unwrap_or(TernaryKernel::I2s);
        }
        let choice = if let Some(k) = self.forced {
            KernelChoice {
                rows,
                cols,
                kernel: k.name().into(),
                source: ChoiceSource::Forced,
                micros: BTreeMap::new(),
            }
        } else if let Some(c) = self.cached(rows, cols) {
            c
        } else {
            let c = time_candidates(pool, rows, cols, build);
            self.store(&c);
            c
        };
        let kernel = TernaryKernel::from_name(&choice.kernel).unwrap_or(TernaryKernel::I2s);
        self.lock().insert((rows, cols), choice);
        kernel
    }

    fn read_cache(&self) -> CacheFile {
        self.cache
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn cached(&self, rows: usize, cols: usize) -> Option<KernelChoice> {
        let mut c = self
            .read_cache()
            .get(&self.key)?
            .get(&format!("{rows}x{cols}"))?
            .clone();
        // A name from another version of the program is not trusted.
        let k = TernaryKernel::from_name(&c.kernel)?;
        if !k.usable(cols) {
            return None;
        }
        c.source = ChoiceSource::Cached;
        Some(c)
    }

    /// Adds a timing to the cache file. Failing to write it only costs a re-timing next load,
    /// so errors are logged, not returned.
    fn store(&self, c: &KernelChoice) {
        let Some(path) = &self.cache else { return };
        let mut all = self.read_cache();
        all.entry(self.key.clone())
            .or_default()
            .insert(format!("{}x{}", c.rows, c.cols), c.clone());
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
            std::fs::write(
                &tmp,
                serde_json::to_vec_pretty(&all).map_err(std::io::Error::other)?,
            )?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            tracing::warn!("cannot write the kernel cache {}: {e}", path.display());
        }
    }
}

/// Timing rounds per shape (after one warm-up round).
const ROUNDS: usize = 12;

/// Times every usable candidate on the pool and keeps the fastest.
fn time_candidates(
    pool: &super::cpu_pool::SpinPool,
    rows: usize,
    cols: usize,
    build: impl Fn(TernaryKernel) -> Option<TernaryMatrix>,
) -> KernelChoice {
    // Fixed pseudo-random activations: the kernels' speed does not depend on the values.
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let q: Vec<i8> = (0..cols)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as i8
        })
        .collect();
    let qsum: i32 = q.iter().map(|&v| i32::from(v)).sum();
    let threads = pool.threads();
    // Every candidate packed first, then timed in rounds, one pass each per round, so drift
    // in the machine's load touches them all alike; the fastest pass of each counts (the
    // least disturbed one).
    let candidates: Vec<(TernaryKernel, TernaryMatrix)> = TernaryKernel::ALL
        .into_iter()
        .filter(|k| k.usable(cols))
        .filter_map(|k| build(k).map(|m| (k, m)))
        // A weight that cannot use a layout (a code 3 for the masked kernel) falls back.
        .filter(|(k, m)| m.kernel == *k)
        .collect();
    let mut fastest = vec![f64::INFINITY; candidates.len()];
    for round in 0..=ROUNDS {
        for ((_, m), best) in candidates.iter().zip(&mut fastest) {
            let chunk = rows
                .div_ceil(threads * 4)
                .max(16)
                .next_multiple_of(m.row_align());
            let t0 = Instant::now();
            let bands = par_bands(pool, rows, chunk, |r0, r1| {
                let mut raw = vec![0i32; r1 - r0];
                let mut y = vec![0f32; r1 - r0];
                m.band(r0, r1, &q, qsum, &mut raw, &mut y);
                y
            });
            std::hint::black_box(bands);
            // Round 0 warms caches and the pool.
            if round > 0 {
                *best = best.min(t0.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    let micros: BTreeMap<String, f64> = candidates
        .iter()
        .zip(&fastest)
        .map(|((k, _), &t)| (k.name().to_string(), (t * 10.0).round() / 10.0))
        .collect();
    let best = candidates
        .iter()
        .zip(&fastest)
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|((k, _), &t)| (*k, t));
    KernelChoice {
        rows,
        cols,
        kernel: best.map_or(TernaryKernel::I2s, |(k, _)| k).name().into(),
        source: ChoiceSource::Timed,
        micros,
    }
}

/// The CPU's model name (CPUID brand string on x86-64, /proc/cpuinfo elsewhere), for the
/// cache key and reports.
pub fn cpu_model() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        // Leaf 0x80000000 says which extended leaves exist before the brand leaves are read.
        let max = __cpuid(0x8000_0000).eax;
        if max >= 0x8000_0004 {
            let mut bytes = Vec::with_capacity(48);
            for leaf in 0x8000_0002u32..=0x8000_0004 {
                let r = __cpuid(leaf);
                for v in [r.eax, r.ebx, r.ecx, r.edx] {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
            }
            let s = String::from_utf8_lossy(&bytes);
            let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
