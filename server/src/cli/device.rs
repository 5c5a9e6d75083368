//! `--device`: from the request, the CPU-only options and the model to the backends to try.
//!
//! `--backend`, `--kernel` and `--lm-head q6_k` only mean something on the CPU (wgpu and CUDA
//! run the LM head as stored, f16 or q8_0). Given with `--device auto` they settle the device (the
//! CPU) rather than being dropped on a GPU; given with a GPU `--device` they are an error
//! naming both.

use super::load::{BackendChoice, LmHeadChoice, RunnerArgs};
use anyhow::{Context, bail};
use bitnet_engine::device::{
    self, Assessment, Choice, DeviceError, DeviceId, DeviceRequest, Discovery, ModelNeeds,
};
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::model::ModelConfig;
use std::fmt;

/// Parses `--device` for clap.
pub fn parse_device(s: &str) -> Result<DeviceRequest, String> {
    s.parse().map_err(|e: DeviceError| e.to_string())
}

/// The first CPU-only option given, in the words of the command line.
fn cpu_only_option(r: &RunnerArgs) -> Option<&'static str> {
    match r.backend {
        Some(BackendChoice::Reference) => Some("--backend reference (the scalar oracle)"),
        Some(BackendChoice::Cpu) => Some("--backend cpu"),
        None if r.lm_head == LmHeadChoice::Q6K => Some("--lm-head q6_k"),
        None if r.kernel.0.is_some() => Some("--kernel"),
        None => None,
    }
}

/// The request `--device` makes once the CPU-only options are taken into account, and the
/// option that settled it on the CPU, if any.
pub fn request(r: &RunnerArgs) -> anyhow::Result<(DeviceRequest, Option<&'static str>)> {
    match (r.device, cpu_only_option(r)) {
        (DeviceRequest::Auto | DeviceRequest::Cpu, Some(opt)) => {
            Ok((DeviceRequest::Cpu, Some(opt)))
        }
        (gpu, Some(opt)) => bail!(
            "{opt} runs on the CPU only; it cannot be used with --device {gpu} (use --device \
             cpu, or drop {})",
            opt.split(' ').next().unwrap_or(opt)
        ),
        (req, None) => Ok((req, None)),
    }
}

/// A backend to construct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The SIMD CPU backend.
    Cpu,
    /// The scalar reference backend (on the CPU).
    Reference,
    /// The wgpu backend on adapter N.
    Wgpu(usize),
    /// The CUDA backend on device N.
    Cuda(usize),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Cpu => f.write_str("cpu"),
            Target::Reference => f.write_str("cpu (reference backend)"),
            Target::Wgpu(i) => write!(f, "wgpu:{i}"),
            Target::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// The backends to try, best first, and why the first.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Best first; a later one is tried when an earlier one fails to open or load.
    pub targets: Vec<Target>,
    /// Why, for the log line.
    pub why: String,
}

/// What `--device` (with the CPU-only options) picks among the `scored` devices of
/// `discovery`, with the why written as `REQUEST → DEVICE: REASON`.
pub fn decide(
    r: &RunnerArgs,
    discovery: &Discovery,
    scored: &[Assessment],
) -> anyhow::Result<Choice> {
    let (req, settled_by) = request(r)?;
    let mut choice = device::choose(req, discovery, scored).context("--device")?;
    choice.why = match (r.device, settled_by) {
        (DeviceRequest::Auto, Some(opt)) => {
            format!("auto → cpu: {opt} applies to the CPU only")
        }
        // A named device needs no "asked → got".
        (DeviceRequest::Cpu | DeviceRequest::Wgpu(Some(_)) | DeviceRequest::Cuda(Some(_)), _) => {
            choice.why
        }
        (asked, _) => format!("{asked} → {}", choice.why),
    };
    Ok(choice)
}

/// Resolves `--device` for `file` (hyper-parameters `config`) run as `sequences` sequences
/// of `context` tokens. Only a request that can reach a GPU looks for GPUs.
pub fn plan(
    r: &RunnerArgs,
    file: &GgufFile,
    config: &ModelConfig,
    context: usize,
    sequences: usize,
) -> anyhow::Result<Plan> {
    let (req, _) = request(r)?;
    let discovery = if req == DeviceRequest::Cpu {
        device::discover_cpu()
    } else {
        device::discover()
    };
    let needs = ModelNeeds::from_gguf(file, config, context, sequences);
    let scored = device::scores(&discovery, Some(&needs));
    let choice = decide(r, &discovery, &scored)?;
    let reference = r.backend == Some(BackendChoice::Reference);
    let targets = choice
        .candidates
        .iter()
        .map(|id| match id {
            DeviceId::Cpu if reference => Target::Reference,
            DeviceId::Cpu => Target::Cpu,
            DeviceId::Wgpu(i) => Target::Wgpu(*i),
            DeviceId::Cuda(i) => Target::Cuda(*i),
        })
        .collect();
    Ok(Plan {
        targets,
        why: choice.why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        runner: RunnerArgs,
    }

    fn runner(args: &[&str]) -> Result<RunnerArgs, String> {
        Cli::try_parse_from(std::iter::once("bitnet").chain(args.iter().copied()))
            .map(|c| c.runner)
            .map_err(|e| e.to_string())
    }

    fn req(args: &[&str]) -> Result<(DeviceRequest, Option<&'static str>), String> {
        let r = runner(args)?;
        request(&r).map_err(|e| e.to_string())
    }

    #[test]
    fn device_defaults_to_auto_and_parses_every_form() {
        assert_eq!(req(&[]), Ok((DeviceRequest::Auto, None)));
        assert_eq!(
            req(&["--device", "wgpu:1"]),
            Ok((DeviceRequest::Wgpu(Some(1)), None))
        );
        assert_eq!(req(&["--device", "cpu"]), Ok((DeviceRequest::Cpu, None)));
        for bad in ["wgpu:x", "tpu", "cpu:1"] {
            let e = req(&["--device", bad]).expect_err("refused");
            assert!(e.contains(&format!("bad device '{bad}'")), "{e}");
        }
    }

    #[test]
    fn cpu_only_options_settle_auto_on_the_cpu_and_refuse_a_gpu() {
        assert_eq!(
            req(&["--lm-head", "q6_k"]),
            Ok((DeviceRequest::Cpu, Some("--lm-head q6_k")))
        );
        assert_eq!(
            req(&["--backend", "reference", "--device", "cpu"]),
            Ok((
                DeviceRequest::Cpu,
                Some("--backend reference (the scalar oracle)")
            ))
        );
        let e = req(&["--backend", "reference", "--device", "wgpu"]).expect_err("refused");
        assert!(
            e.contains("--backend reference") && e.contains("--device wgpu"),
            "{e}"
        );
        let e = req(&["--kernel", "i2s", "--device", "wgpu:0"]).expect_err("refused");
        assert!(
            e.contains("--kernel") && e.contains("--device wgpu:0"),
            "{e}"
        );
        let e = req(&["--lm-head", "q6_k", "--device", "cuda"]).expect_err("refused");
        assert!(e.contains("--lm-head q6_k runs on the CPU only"), "{e}");
        // Heads the GPU backends run leave the device to --device.
        assert_eq!(
            req(&["--lm-head", "q8_0", "--device", "wgpu"]).map(|r| r.1),
            Ok(None)
        );
        assert_eq!(
            req(&["--lm-head", "f16", "--device", "cuda:0"]),
            Ok((DeviceRequest::Cuda(Some(0)), None))
        );
        let e = req(&["--kernel", "i2s", "--device", "cuda:1"]).expect_err("refused");
        assert!(
            e.contains("--kernel") && e.contains("--device cuda:1"),
            "{e}"
        );
    }
}
