//! A model loaded on whichever backend `--device` resolved to.
//!
//! Why an enum and a macro: the commands are generic over `B: Backend`, and a backend is a type
//! chosen at run time; [`with_model!`] matches once and runs the same generic body on each
//! arm, so no command matches on devices itself.

use super::device::{Plan, Target};
use super::load;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
use anyhow::Context;
#[cfg(feature = "cuda")]
use bitnet_engine::backend::CudaBackend;
#[cfg(feature = "wgpu")]
use bitnet_engine::backend::WgpuBackend;
use bitnet_engine::backend::{CpuBackend, ReferenceBackend};
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::model::{Model, ModelConfig};
use std::path::Path;

/// A loaded model, on one of the backends this build has.
// One per process, moved once into its command: boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Loaded {
    /// The SIMD CPU backend.
    Cpu(Model<CpuBackend>),
    /// The scalar reference backend.
    Reference(Model<ReferenceBackend>),
    /// The wgpu backend.
    #[cfg(feature = "wgpu")]
    Wgpu(Model<WgpuBackend>),
    /// The CUDA backend.
    #[cfg(feature = "cuda")]
    Cuda(Model<CudaBackend>),
}

/// Runs `$body` with `$m` bound to the model inside a [`Loaded`], whatever its backend.
macro_rules! with_model {
    ($loaded:expr, $m:ident => $body:expr) => {
        match $loaded {
            $crate::cli::loaded::Loaded::Cpu($m) => $body,
            $crate::cli::loaded::Loaded::Reference($m) => $body,
            #[cfg(feature = "wgpu")]
            $crate::cli::loaded::Loaded::Wgpu($m) => $body,
            #[cfg(feature = "cuda")]
            $crate::cli::loaded::Loaded::Cuda($m) => $body,
        }
    };
}
pub(crate) use with_model;

impl Loaded {
    /// The model's hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        with_model!(self, m => &m.config)
    }
}

/// Loads `file` on the plan's first target that opens and takes the model, saying on stderr
/// why a target was passed over. Only the last target's failure is an error.
pub fn load(
    plan: &Plan,
    file: &GgufFile,
    path: &Path,
    runner: &load::RunnerArgs,
    threads: usize,
) -> anyhow::Result<Loaded> {
    let mut targets = plan.targets.iter().peekable();
    while let Some(&t) = targets.next() {
        match load_on(t, file, path, runner, threads) {
            Ok(m) => return Ok(m),
            Err(e) => match targets.peek() {
                Some(next) => eprintln!("warning: {t} cannot run the model ({e:#}); using {next}"),
                None => return Err(e),
            },
        }
    }
    anyhow::bail!("no device to load {} on", path.display())
}

fn load_on(
    t: Target,
    file: &GgufFile,
    path: &Path,
    runner: &load::RunnerArgs,
    threads: usize,
) -> anyhow::Result<Loaded> {
    let tl = runner.tl_config.as_deref();
    Ok(match t {
        Target::Cpu => {
            let backend = load::cpu_backend(threads, runner)?;
            Loaded::Cpu(load::load_model(file, path, backend, tl)?)
        }
        Target::Reference => {
            let backend = ReferenceBackend::new(threads);
            Loaded::Reference(load::load_model(file, path, backend, tl)?)
        }
        #[cfg(feature = "wgpu")]
        Target::Wgpu(i) => {
            let backend = WgpuBackend::new(i)
                .with_context(|| format!("cannot open wgpu:{i}"))?
                .with_lm_head(runner.lm_head.format());
            Loaded::Wgpu(load::load_model(file, path, backend, tl)?)
        }
        #[cfg(not(feature = "wgpu"))]
        Target::Wgpu(i) => anyhow::bail!("wgpu:{i}: this binary was built without wgpu"),
        #[cfg(feature = "cuda")]
        Target::Cuda(i) => {
            let backend = CudaBackend::new(i)
                .with_context(|| format!("cannot open cuda:{i}"))?
                .with_lm_head(runner.lm_head.format());
            Loaded::Cuda(load::load_model(file, path, backend, tl)?)
        }
        #[cfg(not(feature = "cuda"))]
        Target::Cuda(i) => anyhow::bail!("cuda:{i}: this binary was built without CUDA"),
    })
}
