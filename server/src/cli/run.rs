//! `bitnet run`: generate text, or evaluate ids and dump logits (the cross-check interface).

use super::loaded::{self, with_model};
use super::sampling_args::SamplingArgs;
use super::{device, load};
use anyhow::{Context, bail};
use bitnet_engine::backend::Backend;
use bitnet_engine::model::{Model, ModelConfig};
use bitnet_engine::sampling::{Sampler, StopMatcher};
use bitnet_engine::session::{GenerateConfig, Session, StopReason};
use bitnet_engine::tokenizer::{StreamDecoder, Tokenizer};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bitnet run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Model file (GGUF; default: the bundled bitnet-b1.58-tiny-austen).
    #[arg(short, long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    runner: load::RunnerArgs,
    /// Prompt text.
    #[arg(short, long, conflicts_with = "prompt_ids")]
    prompt: Option<String>,
    /// Prompt as comma-separated token ids (no BOS is added).
    #[arg(long, value_delimiter = ',')]
    prompt_ids: Option<Vec<u32>>,
    /// Tokens to generate; 0 only evaluates the prompt.
    #[arg(short = 'n', long, default_value_t = 64)]
    n_predict: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Stop when this text appears (repeatable); the stop text is not printed.
    #[arg(long)]
    stop: Vec<String>,
    /// Context size in tokens (default: the model's, at most 4096).
    #[arg(short = 'c', long)]
    ctx_size: Option<usize>,
    /// Do not add the BOS token to a text prompt.
    #[arg(long)]
    no_bos: bool,
    /// A HF tokenizer.json to encode with instead of the one rebuilt from the GGUF metadata.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Show control tokens (e.g. `<|eot_id|>`) in the output.
    #[arg(long)]
    special: bool,
    /// Write `{"prompt_ids": [...], "logits": [[...], ...]}`, one row per evaluated position.
    #[arg(long)]
    logits_out: Option<PathBuf>,
}

/// Loads the model, evaluates the prompt, streams generated text and reports speed.
pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let threads = load::threads(a.runner.threads)?;
    let t_load = Instant::now();
    let model_path = super::bundled::model_path(a.model.as_deref())?;
    let file = load::open(&model_path)?;
    let tokenizer = match super::tokenize::load_tokenizer(&file, a.tokenizer.as_deref()) {
        Ok(t) => Some(t),
        Err(e) if a.prompt_ids.is_some() => {
            eprintln!("note: no usable tokenizer ({e}); printing token ids");
            None
        }
        Err(e) => {
            return Err(e).context("cannot build the tokenizer (use --prompt-ids to bypass it)");
        }
    };
    load::check_cpu_options(&a.runner)?;
    let config = ModelConfig::from_gguf(&file)
        .with_context(|| format!("cannot load {}", model_path.display()))?;
    let ctx = a.ctx_size.unwrap_or(config.n_ctx_train.min(4096));
    let plan = device::plan(&a.runner, &file, &config, ctx, 1)?;
    // On the log, not stderr: a failed run prints its one error line and nothing else.
    tracing::info!("device: {}", plan.why);
    let loaded = loaded::load(&plan, &file, &model_path, &a.runner, threads)?;
    with_model!(loaded, model => generate(a, tokenizer, t_load, ctx, model))
}

/// Evaluates the prompt on the loaded `model` and streams the generation.
fn generate<B: Backend>(
    a: RunArgs,
    tokenizer: Option<Tokenizer>,
    t_load: Instant,
    ctx: usize,
    model: Model<B>,
) -> anyhow::Result<()> {
    let load_time = t_load.elapsed();

    let prompt: Vec<u32> = match (&a.prompt, &a.prompt_ids, &tokenizer) {
        (_, Some(ids), _) => ids.clone(),
        // As llama.cpp's CLI does, a prompt may spell control tokens; no EOS is appended.
        (Some(text), None, Some(tok)) => {
            let bos = tok.bos_id().filter(|_| !a.no_bos && tok.add_bos_default());
            bos.into_iter()
                .chain(tok.encode(text, false, true)?)
                .collect()
        }
        (None, None, _) => bail!("give a prompt with -p TEXT or --prompt-ids 1,2,3"),
        (Some(_), None, None) => unreachable_tokenizer()?,
    };
    if prompt.is_empty() {
        bail!("the prompt is empty");
    }
    if prompt.len() + a.n_predict > ctx {
        bail!(
            "prompt ({} tokens) + {} to generate exceed the context size {ctx} (raise --ctx-size)",
            prompt.len(),
            a.n_predict
        );
    }

    let mut session = Session::new(&model, ctx)?;
    let sampler_cfg = a.sampling.config()?;
    let mut sampler = Sampler::new(sampler_cfg);
    let stop_tokens = tokenizer
        .as_ref()
        .map(|t| {
            let ids = t.special_ids();
            [ids.eos, ids.eot, ids.eom].into_iter().flatten().collect()
        })
        .unwrap_or_default();
    let cfg = GenerateConfig {
        max_new_tokens: a.n_predict,
        stop_tokens,
    };

    let mut out = std::io::stdout().lock();
    let mut decoder = tokenizer
        .as_ref()
        .map(|t| (t, StreamDecoder::with_special(a.special)));
    let mut stops = StopMatcher::new(a.stop.clone());
    let mut generated = Vec::new();
    let mut step_logits: Vec<Vec<f32>> = Vec::new();
    let want_logits = a.logits_out.is_some();
    let mut write_err = None;
    let stats = session.generate(
        &model,
        &prompt,
        &cfg,
        &mut sampler,
        want_logits,
        |tok, logits_after| {
            generated.push(tok);
            if want_logits {
                step_logits.push(logits_after.to_vec());
            }
            let piece = match decoder.as_mut() {
                Some((t, d)) => match d.push(t, tok) {
                    Ok(s) => s,
                    Err(e) => {
                        write_err = Some(anyhow::Error::new(e));
                        return false;
                    }
                },
                None => format!("{tok} "),
            };
            let emit = stops.push(&piece);
            if let Err(e) = out
                .write_all(emit.text.as_bytes())
                .and_then(|_| out.flush())
            {
                write_err = Some(e.into());
                return false;
            }
            !emit.stopped
        },
    )?;
    if let Some(e) = write_err {
        return Err(e);
    }
    if !matches!(stats.stop, StopReason::Caller) {
        let tail = decoder.as_mut().map(|(_, d)| d.flush()).unwrap_or_default();
        let tail = stops.push(&tail).text + &stops.flush();
        out.write_all(tail.as_bytes())?;
    }
    writeln!(out)?;

    if let (Some(path), Some(pl)) = (&a.logits_out, &stats.prompt_logits) {
        let vocab = model.config.n_vocab;
        let mut rows: Vec<&[f32]> = pl.chunks(vocab).collect();
        rows.extend(step_logits.iter().map(Vec::as_slice));
        let json =
            serde_json::json!({ "prompt_ids": prompt, "generated_ids": generated, "logits": rows });
        std::fs::write(path, serde_json::to_vec(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }

    let tps = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let (pt, gt) = (
        stats.prompt_time.as_secs_f64(),
        stats.gen_time.as_secs_f64(),
    );
    eprintln!(
        "load {:.2} s | prompt {} tok in {:.2} s ({:.2} tok/s) | generated {} tok in {:.2} s ({:.2} tok/s) | stop: {:?} | peak RSS {} | {}",
        load_time.as_secs_f64(),
        stats.prompt_tokens,
        pt,
        tps(stats.prompt_tokens, pt),
        stats.generated_tokens,
        gt,
        tps(stats.generated_tokens, gt),
        stats.stop,
        load::peak_rss().map_or("n/a".into(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0)),
        model.backend_name(),
    );
    Ok(())
}

fn unreachable_tokenizer() -> anyhow::Result<Vec<u32>> {
    bail!("this model has no usable tokenizer: pass --prompt-ids")
}
