//! `bitnet bench`: prompt-processing and generation speed, as llama-bench reports them.
//!
//! `ppN` evaluates an N-token prompt in one batch from an empty cache; `tgN` generates N
//! tokens one at a time from an empty cache (feeding each token, no sampling cost). Each test
//! runs once to warm up, then `-r` times; the table shows tokens/s as mean ± stddev.

use super::loaded::{self, with_model};
use super::{device, load};
use anyhow::{Context, bail};
use bitnet_engine::backend::{Backend, CpuBackend};
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::model::{LogitsWanted, Model, ModelConfig};
use bitnet_engine::session::Session;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `bitnet bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Model file (GGUF; default: the bundled bitnet-b1.58-tiny-austen).
    #[arg(short, long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    runner: load::RunnerArgs,
    /// Prompt length of the prompt-processing test (0 skips it).
    #[arg(short = 'p', long, default_value_t = 128)]
    n_prompt: usize,
    /// Tokens of the generation test (0 skips it).
    #[arg(short = 'n', long, default_value_t = 64)]
    n_gen: usize,
    /// Timed repetitions of each test (after one warm-up run).
    #[arg(short = 'r', long, default_value_t = 3)]
    repetitions: usize,
}

/// Runs the tests and prints the table.
pub fn bench(a: BenchArgs) -> anyhow::Result<()> {
    if a.repetitions == 0 {
        bail!("-r must be at least 1");
    }
    if a.n_prompt == 0 && a.n_gen == 0 {
        bail!("nothing to measure: -p and -n are both 0");
    }
    load::check_cpu_options(&a.runner)?;
    // The first query does the CPUID work; later ones read a cache.
    let t_detect = Instant::now();
    let level = bitnet_engine::backend::cpu::simd_level();
    writeln!(
        std::io::stdout(),
        "CPU kernels: {level} (features detected in {:.1} µs)",
        t_detect.elapsed().as_secs_f64() * 1e6
    )?;
    let threads = load::threads(a.runner.threads)?;
    let model_path = super::bundled::model_path(a.model.as_deref())?;
    let file = load::open(&model_path)?;
    let config = ModelConfig::from_gguf(&file)
        .with_context(|| format!("cannot load {}", model_path.display()))?;
    let ctx = a.n_prompt.max(a.n_gen).max(1);
    if ctx > config.n_ctx_train {
        bail!(
            "a test of {ctx} tokens exceeds the model's context of {}",
            config.n_ctx_train
        );
    }
    let plan = device::plan(&a.runner, &file, &config, ctx, 1)?;
    writeln!(std::io::stdout(), "device: {}", plan.why)?;
    let loaded = loaded::load(&plan, &file, &model_path, &a.runner, threads)?;
    with_model!(loaded, model => run_tests(&a, &model_path, &file, threads, ctx, model))
}

fn run_tests<B: Backend + 'static>(
    a: &BenchArgs,
    model_path: &Path,
    file: &GgufFile,
    threads: usize,
    ctx: usize,
    model: Model<B>,
) -> anyhow::Result<()> {
    if let Some(cpu) = (model.backend() as &dyn std::any::Any).downcast_ref::<CpuBackend>() {
        let mut out = std::io::stdout();
        for c in cpu.kernel_report() {
            writeln!(out, "{}", super::devices::describe_choice(&c))?;
        }
    }
    // Token ids spread over the vocabulary, the same on every run.
    let vocab = model.config.n_vocab as u64;
    let ids: Vec<u32> = (0..ctx as u64)
        .map(|i| ((i * 2_654_435_761 + 17) % vocab) as u32)
        .collect();
    let name = model_path.file_name().map_or_else(
        || model_path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let size = format!("{:.2} GiB", file.file_len() as f64 / (1u64 << 30) as f64);
    let mut out = std::io::stdout();
    writeln!(
        out,
        "| model | size | backend | threads | lm head | test | t/s |\n|---|---|---|---|---|---|---|"
    )?;
    let lm_head = a.runner.lm_head.format().name();
    let mut tg_rate = None;
    for (test, n) in [("pp", a.n_prompt), ("tg", a.n_gen)] {
        if n == 0 {
            continue;
        }
        let mut rates = Vec::with_capacity(a.repetitions);
        for rep in 0..=a.repetitions {
            let mut s = Session::new(&model, ctx)?;
            let t0 = Instant::now();
            if test == "pp" {
                s.feed(&model, &ids[..n], LogitsWanted::Last)?;
            } else {
                for &id in &ids[..n] {
                    s.feed(&model, &[id], LogitsWanted::Last)?;
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            if rep > 0 {
                rates.push(n as f64 / secs.max(1e-9));
            }
        }
        let (mean, sd) = mean_sd(&rates);
        if test == "tg" {
            tg_rate = Some((n, mean));
        }
        // Each row as soon as it is measured (a long benchmark shows progress).
        writeln!(
            out,
            "| {name} | {size} | {} | {threads} | {lm_head} | {test}{n} | {mean:.2} ± {sd:.2} |",
            model.backend_name()
        )?;
    }
    if let (Some((n, rate)), Some(cpu)) = (
        tg_rate,
        (model.backend() as &dyn std::any::Any).downcast_ref::<CpuBackend>(),
    ) {
        // Decode reads every weight once per token: how close tg came to the memory's pace.
        let bytes = cpu.bytes_per_token() as f64;
        let bandwidth = cpu.read_bandwidth(256 << 20, 3);
        writeln!(
            out,
            "roofline: {:.0} MB of weights per token, read bandwidth {:.1} GB/s with {threads} \
             threads (measured now) → at most {:.1} tok/s; tg{n} reached {:.0} % of it",
            bytes / 1e6,
            bandwidth / 1e9,
            bandwidth / bytes.max(1.0),
            100.0 * rate * bytes / bandwidth
        )?;
    }
    Ok(())
}

/// Mean and sample standard deviation (0 for one value).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}
