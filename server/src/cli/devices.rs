//! `bitnet devices`: what this machine can run models on, and with `-m`, which ternary kernel
//! each of the model's matrix shapes gets on the CPU and why.

use super::load;
use anyhow::Context;
use bitnet_engine::backend::cpu::{ChoiceSource, KernelChoice, Level, cpu_model, simd_level};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bitnet devices`.
#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// A model: also load it on the CPU backend and show the kernel of each matrix shape.
    #[arg(short, long)]
    model: Option<PathBuf>,
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
    let t0 = Instant::now();
    let level = Level::detect();
    let features = cpu_features();
    let detect_us = t0.elapsed().as_secs_f64() * 1e6;
    let threads = load::threads(a.runner.threads)?;
    writeln!(out, "cpu: {}", cpu_model())?;
    writeln!(
        out,
        "  threads: {threads} (of {} logical CPUs)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )?;
    writeln!(
        out,
        "  kernels: {} (best level {level}; levels this CPU runs: {})",
        simd_level(),
        Level::available()
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(out, "  features: {}", features.join(" "))?;
    writeln!(out, "  detected in {detect_us:.1} µs")?;
    writeln!(
        out,
        "gpu: none usable by this build (CUDA and wgpu backends are not built yet); the CPU runs \
         every model"
    )?;
    let Some(path) = &a.model else {
        return Ok(());
    };
    load::check_cpu_options(&a.runner)?;
    let file = load::open(path)?;
    let backend = load::cpu_backend(threads, &a.runner)?;
    let model = load::load_model(&file, path, backend, a.runner.tl_config.as_deref())
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
