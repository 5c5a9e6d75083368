//! Loading a model for generation, shared by `run` and `chat`.

use super::progress::with_bar;
use anyhow::{Context, bail};
use bitnet_engine::backend::cpu::{KernelChooser, TernaryKernel};
use bitnet_engine::backend::{Backend, CpuBackend, LmHeadFormat};
use bitnet_engine::device::DeviceRequest;
use bitnet_engine::formats::TlConfig;
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::model::Model;
use std::path::{Path, PathBuf};

/// `--threads`, defaulting to every core.
pub fn threads(requested: Option<usize>) -> anyhow::Result<usize> {
    let n =
        requested.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if n == 0 {
        bail!("--threads must be at least 1");
    }
    Ok(n)
}

/// How and where a model runs: the options `run`, `chat` and `bench` share.
#[derive(clap::Args, Debug, Clone)]
pub struct RunnerArgs {
    /// Worker threads (default: all cores).
    #[arg(short, long)]
    pub threads: Option<usize>,
    /// Device: auto (the best one that can run the model, see `bitnet devices`), cpu, wgpu
    /// (the best wgpu adapter), wgpu:N, cuda (the best CUDA device) or cuda:N.
    #[arg(long, default_value = "auto", value_parser = super::device::parse_device)]
    pub device: DeviceRequest,
    /// CPU backend: cpu (SIMD kernels; the default) or reference (the scalar oracle). Either
    /// puts the model on the CPU.
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// LM head format: stored (as in the file), f16, q8_0 or q6_k (converted at load; fewer
    /// bytes read per token). The wgpu and CUDA backends run stored, f16 and q8_0; q6_k is CPU-only.
    #[arg(long, value_enum, default_value_t)]
    pub lm_head: LmHeadChoice,
    /// Ternary kernel on the CPU backend: auto (timed per matrix shape at the first load on
    /// this machine, then cached) or one kernel for every matrix (see `bitnet devices`).
    #[arg(long, default_value = "auto", value_parser = parse_kernel)]
    pub kernel: KernelArg,
    /// bitnet.cpp's kernel_config.ini, for TL1/TL2 files that do not record their tiling.
    #[arg(long)]
    pub tl_config: Option<PathBuf>,
}

/// `--kernel`: timed choice, or one kernel forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelArg(pub Option<TernaryKernel>);

fn parse_kernel(s: &str) -> Result<KernelArg, String> {
    if s == "auto" {
        return Ok(KernelArg(None));
    }
    TernaryKernel::from_name(s)
        .map(|k| KernelArg(Some(k)))
        .ok_or_else(|| {
            let names: Vec<_> = TernaryKernel::ALL.iter().map(|k| k.name()).collect();
            format!(
                "unknown kernel '{s}'; expected auto or one of {}",
                names.join(", ")
            )
        })
}

/// Which CPU backend runs the model (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// SIMD kernels on a persistent thread pool.
    Cpu,
    /// The scalar reference (the oracle the others are tested against; slow).
    Reference,
}

/// The LM head's format (`--lm-head`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LmHeadChoice {
    /// As the file stores it (F16, Q8_0 or Q6_K).
    #[default]
    Stored,
    /// F16 (converted at load if stored otherwise).
    F16,
    /// Quantized to Q8_0 at load: about half the bytes per token of F16.
    #[value(name = "q8_0")]
    Q8_0,
    /// Quantized to Q6_K at load (llama.cpp's rule): about 40 % of F16's bytes.
    #[value(name = "q6_k")]
    Q6K,
}

impl LmHeadChoice {
    /// The engine's name for the choice.
    pub fn format(self) -> LmHeadFormat {
        match self {
            LmHeadChoice::Stored => LmHeadFormat::Stored,
            LmHeadChoice::F16 => LmHeadFormat::F16,
            LmHeadChoice::Q8_0 => LmHeadFormat::Q8_0,
            LmHeadChoice::Q6K => LmHeadFormat::Q6K,
        }
    }
}

/// The CPU backend for `--threads`, `--lm-head` and `--kernel` (timings cached in the user's
/// cache directory).
pub fn cpu_backend(threads: usize, runner: &RunnerArgs) -> anyhow::Result<CpuBackend> {
    Ok(CpuBackend::new(threads)?
        .with_lm_head(runner.lm_head.format())
        .with_kernels(runner.kernel.0, KernelChooser::default_cache_path()))
}

/// `--lm-head` and `--kernel` apply to the CPU backend only; refuse rather than ignore them.
/// (Against a GPU `--device`, [`super::device::request`] refuses them.)
pub fn check_cpu_options(runner: &RunnerArgs) -> anyhow::Result<()> {
    if runner.backend == Some(BackendChoice::Reference)
        && (runner.lm_head != LmHeadChoice::Stored || runner.kernel.0.is_some())
    {
        bail!(
            "--lm-head and --kernel apply to --backend cpu; the reference backend computes \
             everything as stored"
        );
    }
    Ok(())
}

/// Loads the weights of `file` onto `backend`, with a progress bar. TL1/TL2 weights the
/// file has no tile parameters for take them from `tl_config` (bitnet.cpp's
/// kernel_config.ini) when given.
pub fn load_model<B: Backend>(
    file: &GgufFile,
    path: &Path,
    backend: B,
    tl_config: Option<&Path>,
) -> anyhow::Result<Model<B>> {
    let tl = tl_config.map(read_tl_config).transpose()?;
    let model = with_bar("layers", |progress| {
        Model::load_with(file, backend, tl.as_ref(), progress)
    })
    .with_context(|| format!("cannot load {}", path.display()))?;
    Ok(model)
}

/// Reads a bitnet.cpp kernel_config.ini.
pub fn read_tl_config(path: &Path) -> anyhow::Result<TlConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    TlConfig::parse_ini(&text).with_context(|| format!("bad TL config {}", path.display()))
}

/// Opens a GGUF file, naming it in the error.
pub fn open(path: &Path) -> anyhow::Result<GgufFile> {
    GgufFile::open(path).with_context(|| format!("cannot load {}", path.display()))
}

/// Peak resident set size in KiB (Linux `VmHWM`); `None` elsewhere.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
