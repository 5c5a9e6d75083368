//! `bitnet devices`: what this machine can run models on (every device with its facts and
//! score), and with `-m`, whether each device can run that model, which one `--device` picks
//! and why, and which ternary kernel each matrix shape gets on the CPU.

use super::load;
use anyhow::Context;
use bitnet_engine::backend::cpu::{ChoiceSource, KernelChoice, Level};
use bitnet_engine::device::{self, ApiStatus, Device, ModelNeeds, human_bytes};
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::model::ModelConfig;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `bitnet devices`.
#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// A model: say which devices can run it and which `--device` picks, then load it on
    /// the CPU backend and show the kernel of each matrix shape.
    #[arg(short, long)]
    model: Option<PathBuf>,
    /// Context size the model is checked for (default: the model's, at most 4096).
    #[arg(short = 'c', long)]
    ctx_size: Option<usize>,
    #[command(flatten)]
    runner: load::RunnerArgs,
}

/// One line about a shape's kernel: the choice, how it was made, and the timings.
pub fn describe_choice(c: &KernelChoice) -> String {
    let how = match c.source {
        ChoiceSource::Timed => "timed now",
        ChoiceSource::Cached => "cached timing",
        ChoiceSource::Forced => "forced by --kernel",
    };
    let times: Vec<String> = c
        .micros
        .iter()
        .map(|(k, us)| format!("{k} {us:.1} µs"))
        .collect();
    let times = if times.is_empty() {
        String::new()
    } else {
        format!("; {}", times.join(", "))
    };
    format!(
        "kernel {:>5} × {:<5} {} ({how}{times})",
        c.rows, c.cols, c.kernel
    )
}

/// The CPU's features that matter to the kernels, as detected now.
fn cpu_features() -> Vec<&'static str> {
    let mut f = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($name:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($name) {
                    f.push($name);
                }
            )*};
        }
        probe!(
            "sse4.2",
            "avx2",
            "fma",
            "f16c",
            "avxvnni",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512vnni",
            "avx512vbmi"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! probe {
            ($($name:tt),*) => {$(
                if std::arch::is_aarch64_feature_detected!($name) {
                    f.push($name);
                }
            )*};
        }
        probe!("neon", "dotprod", "i8mm", "fp16");
    }
    f
}

/// Prints the devices (and the model's kernel choices with `-m`).
pub fn devices(a: DevicesArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    let discovery = device::discover();
    let t0 = Instant::now();
    let level = Level::detect();
    let features = cpu_features();
    let detect_us = t0.elapsed().as_secs_f64() * 1e6;
    let threads = load::threads(a.runner.threads)?;
    let model = match &a.model {
        Some(path) => Some(model_needs(path, a.ctx_size)?),
        None => None,
    };
    let needs = model.as_ref().map(|(_, n)| n);
    let scored = device::scores(&discovery, needs);
    for (d, score) in discovery.devices.iter().zip(&scored) {
        match d {
            Device::Cpu(c) => {
                writeln!(out, "cpu: {}", c.name)?;
                writeln!(out, "  threads: {threads} (of {} logical CPUs)", c.threads)?;
                writeln!(
                    out,
                    "  kernels: {} (best level {level}; levels this CPU runs: {})",
                    c.simd,
                    Level::available()
                        .iter()
                        .map(|l| l.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
                writeln!(out, "  features: {}", features.join(" "))?;
                if let Some(m) = c.memory {
                    writeln!(
                        out,
                        "  memory: {} available of {}",
                        human_bytes(m.available),
                        human_bytes(m.total)
                    )?;
                }
                writeln!(out, "  detected in {detect_us:.1} µs")?;
            }
            #[cfg(feature = "wgpu")]
            Device::Wgpu(f) => {
                writeln!(out, "wgpu:{}: {}", f.index, f.name)?;
                writeln!(
                    out,
                    "  type: {} via {}; driver: {}",
                    f.device_type, f.backend, f.driver
                )?;
                writeln!(
                    out,
                    "  limits: storage binding {}, buffer {}, {} workgroups per dimension, {} \
                     workgroup memory",
                    human_bytes(f.max_storage_binding),
                    human_bytes(f.max_buffer),
                    f.max_workgroups_per_dim,
                    human_bytes(u64::from(f.max_workgroup_storage))
                )?;
                let yes = |b: bool| if b { "yes" } else { "no" };
                writeln!(
                    out,
                    "  shader f16: {}, subgroups: {}",
                    yes(f.shader_f16),
                    yes(f.subgroups)
                )?;
            }
            #[cfg(feature = "cuda")]
            Device::Cuda(c) => print_cuda(&mut out, c)?,
            // Engine devices this build prints no facts of (a test build can unify the
            // engine's wgpu feature on while this crate's is off); the score line follows.
            other => writeln!(out, "{}: {}", other.id(), other.name())?,
        }
        writeln!(out, "  score: {} ({})", score.score, score.class)?;
    }
    writeln!(out, "wgpu: {}", api_line(&discovery.wgpu, &WGPU))?;
    writeln!(out, "cuda: {}", api_line(&discovery.cuda, &CUDA))?;
    writeln!(
        out,
        "discovery took {:.1} ms (cpu {:.1} ms, wgpu {:.1} ms, cuda {:.1} ms)",
        ms(discovery.elapsed()),
        ms(discovery.cpu_time),
        ms(discovery.wgpu_time),
        ms(discovery.cuda_time)
    )?;
    let (Some(path), Some((file, needs))) = (&a.model, model) else {
        return Ok(());
    };
    writeln!(
        out,
        "model {} ({} tokens of context, {} sequence):",
        path.display(),
        needs.context,
        needs.sequences
    )?;
    for s in &scored {
        let verdict = if s.usable() {
            format!("can run it, score {}", s.score)
        } else {
            format!("cannot run it: {}", s.problems.join("; "))
        };
        writeln!(out, "  {}: {verdict}", s.id)?;
        for note in &s.notes {
            writeln!(out, "    {note}")?;
        }
    }
    match super::device::decide(&a.runner, &discovery, &scored) {
        Ok(c) => writeln!(out, "  --device {}", c.why)?,
        Err(e) => writeln!(out, "  --device {}: {e:#}", a.runner.device)?,
    }
    kernel_report(&mut out, &a, &file, path, threads)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// How `bitnet devices` words one GPU API's status.
struct ApiWords {
    /// The cargo feature that builds it.
    feature: &'static str,
    /// What it calls a device.
    noun: &'static str,
    /// What finding none means.
    none: &'static str,
}

const WGPU: ApiWords = ApiWords {
    feature: "wgpu",
    noun: "adapter",
    none: "no adapter found (no Vulkan, Metal or DX12 driver is installed; on Debian, apt-get \
           install mesa-vulkan-drivers gives the CPU driver lavapipe)",
};

const CUDA: ApiWords = ApiWords {
    feature: "cuda",
    noun: "device",
    none: "no device found (the driver reports none)",
};

/// What a GPU API's discovery status means, in words.
fn api_line(s: &ApiStatus, w: &ApiWords) -> String {
    match s {
        ApiStatus::NotBuilt => format!(
            "not built into this binary (the {} feature is off)",
            w.feature
        ),
        ApiStatus::Skipped => "not looked for".into(),
        ApiStatus::Unavailable(why) => why.clone(),
        ApiStatus::Found(0) => w.none.into(),
        ApiStatus::Found(1) => format!("1 {}", w.noun),
        ApiStatus::Found(n) => format!("{n} {}s", w.noun),
    }
}

/// A CUDA device's facts, as the driver reports them.
#[cfg(feature = "cuda")]
fn print_cuda(out: &mut impl Write, c: &bitnet_engine::device::CudaFacts) -> anyhow::Result<()> {
    let yes = |b: bool| if b { "yes" } else { "no" };
    writeln!(out, "cuda:{}: {}", c.index, c.name)?;
    writeln!(
        out,
        "  compute capability {}.{}, {} SMs; tensor cores: {}, fp16: {}, bf16: {}",
        c.compute.0,
        c.compute.1,
        c.sm_count,
        yes(c.tensor_cores()),
        yes(c.fp16()),
        yes(c.bf16())
    )?;
    let free = c
        .free_memory
        .map_or_else(|| "? free".into(), |f| format!("{} free", human_bytes(f)));
    writeln!(
        out,
        "  memory: {free} of {}; driver CUDA {}; NVRTC {}",
        human_bytes(c.total_memory),
        c.driver,
        match &c.nvrtc {
            Ok(v) => v.to_string(),
            Err(why) => why.clone(),
        }
    )?;
    Ok(())
}

/// The model file and what it asks of a device: the context (the model's, at most 4096,
/// unless given) for one sequence.
fn model_needs(path: &Path, ctx: Option<usize>) -> anyhow::Result<(GgufFile, ModelNeeds)> {
    let file = load::open(path)?;
    let config =
        ModelConfig::from_gguf(&file).with_context(|| format!("cannot load {}", path.display()))?;
    let ctx = ctx.unwrap_or(config.n_ctx_train.min(4096));
    let needs = ModelNeeds::from_gguf(&file, &config, ctx, 1);
    Ok((file, needs))
}

/// Loads the model on the CPU backend and prints the kernel of each ternary matrix shape.
fn kernel_report(
    out: &mut impl Write,
    a: &DevicesArgs,
    file: &GgufFile,
    path: &Path,
    threads: usize,
) -> anyhow::Result<()> {
    load::check_cpu_options(&a.runner)?;
    let backend = load::cpu_backend(threads, &a.runner)?;
    let model = load::load_model(file, path, backend, a.runner.tl_config.as_deref())
        .with_context(|| format!("cannot load {} on the CPU", path.display()))?;
    writeln!(out, "model {} on {}:", path.display(), model.backend_name())?;
    let report = model.backend().kernel_report();
    if report.is_empty() {
        writeln!(
            out,
            "  no ternary matrix runs on a SIMD kernel (they stay on the reference path)"
        )?;
    }
    for c in report {
        writeln!(out, "  {}", describe_choice(&c))?;
    }
    Ok(())
}
