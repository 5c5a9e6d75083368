//! `bitnet synth`: write a random ternary model of a named shape.

use super::progress::with_bar;
use anyhow::{Context, bail};
use bitnet_engine::formats::TensorType;
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::synth::{SHAPES, SynthOptions, shape, synthesize};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bitnet synth`.
#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Shape: `tiny` or `2b4t`.
    #[arg(long, default_value = "tiny")]
    shape: String,
    /// Ternary storage type: i2_s, tl1, tl2, tq1_0 or tq2_0.
    #[arg(long = "type", default_value = "i2_s")]
    ternary_type: String,
    /// Architecture: bitnet-b1.58 (squared ReLU) or bitnet (SiLU).
    #[arg(long, default_value = "bitnet-b1.58")]
    arch: String,
    /// token_embd storage: f16, f32 or q8_0.
    #[arg(long, default_value = "f16")]
    embd_type: String,
    /// GGUF whose tokenizer.* metadata the model takes (e.g. a vocab-only GGUF).
    #[arg(long, default_value = "models/vocab-tiny.gguf")]
    vocab: PathBuf,
    /// RNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
}

/// Generates the model and reports its size.
pub fn synth(a: SynthArgs) -> anyhow::Result<()> {
    let Some(sh) = shape(&a.shape) else {
        let names: Vec<_> = SHAPES.iter().map(|s| s.name).collect();
        bail!("unknown shape '{}' (known: {})", a.shape, names.join(", "));
    };
    let ty =
        |s: &str| TensorType::from_name(s).with_context(|| format!("unknown tensor type '{s}'"));
    let opts = SynthOptions {
        shape: sh,
        arch: a.arch,
        ternary_type: ty(&a.ternary_type)?,
        embd_type: ty(&a.embd_type)?,
        seed: a.seed,
    };
    let vocab = GgufFile::open(&a.vocab)
        .with_context(|| format!("cannot load vocab {}", a.vocab.display()))?;
    let t0 = Instant::now();
    let bytes = with_bar("tensors", |progress| {
        synthesize(&vocab, &opts, &a.output, progress)
    })
    .with_context(|| format!("cannot write {}", a.output.display()))?;
    eprintln!(
        "wrote {} ({} shape, {}, {} bytes) in {:.2} s — synthetic random weights, not a trained model",
        a.output.display(),
        opts.shape.name,
        opts.ternary_type,
        bytes,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
