//! `bitnet perplexity`: a model's perplexity on a text file, by the rule of
//! `bitnet_engine::perplexity` (non-overlapping windows of `-c` tokens, every token after a
//! window's first predicted from its prefix).

use super::loaded::{self, with_model};
use super::progress::with_bar;
use super::{device, load};
use anyhow::{Context, bail};
use bitnet_engine::model::ModelConfig;
use bitnet_engine::perplexity;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bitnet perplexity`.
#[derive(Args, Debug)]
pub struct PerplexityArgs {
    /// Model file (GGUF; default: the bundled bitnet-b1.58-tiny-austen).
    #[arg(short, long)]
    model: Option<PathBuf>,
    /// The text to score (UTF-8).
    #[arg(short = 'f', long)]
    file: PathBuf,
    /// Tokens per window (default: 512, or the model's context if smaller).
    #[arg(short = 'c', long)]
    ctx_size: Option<usize>,
    /// Do not put the BOS token before the text (it is put there when the tokenizer adds one).
    #[arg(long)]
    no_bos: bool,
    #[command(flatten)]
    runner: load::RunnerArgs,
}

/// Tokenizes the file, evaluates every window and prints the perplexity.
pub fn perplexity(a: PerplexityArgs) -> anyhow::Result<()> {
    let threads = load::threads(a.runner.threads)?;
    let model_path = super::bundled::model_path(a.model.as_deref())?;
    let file = load::open(&model_path)?;
    let tokenizer = super::tokenize::load_tokenizer(&file, None)
        .context("cannot build the model's tokenizer")?;
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {} as UTF-8 text", a.file.display()))?;
    let bos = tokenizer
        .bos_id()
        .filter(|_| !a.no_bos && tokenizer.add_bos_default());
    let tokens: Vec<u32> = bos
        .into_iter()
        .chain(tokenizer.encode(&text, false, false)?)
        .collect();
    load::check_cpu_options(&a.runner)?;
    let config = ModelConfig::from_gguf(&file)
        .with_context(|| format!("cannot load {}", model_path.display()))?;
    let window = a.ctx_size.unwrap_or(config.n_ctx_train.min(512));
    if window < 2 {
        bail!("-c {window}: a window must hold at least 2 tokens");
    }
    let plan = device::plan(&a.runner, &file, &config, window, 1)?;
    tracing::info!("device: {}", plan.why);
    let loaded = loaded::load(&plan, &file, &model_path, &a.runner, threads)?;
    let t0 = Instant::now();
    let p = with_model!(loaded, model => with_bar("windows", |progress| {
        perplexity::evaluate(&model, &tokens, window, progress)
    }))
    .with_context(|| format!("cannot score {}", a.file.display()))?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "perplexity: {:.4} ± {:.4} over {} predictions ({} windows of {window} tokens; {} of {} \
         tokens scored)",
        p.value(),
        p.std_error(),
        p.predictions,
        p.windows,
        p.windows * window,
        tokens.len()
    );
    eprintln!(
        "scored in {secs:.2} s ({:.1} tokens/s)",
        (p.windows * window) as f64 / secs.max(1e-9)
    );
    Ok(())
}
