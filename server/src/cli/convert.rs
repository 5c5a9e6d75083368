//! `bitnet convert`: a Hugging Face BitNet checkpoint directory → GGUF.

use super::progress::with_bar;
use anyhow::Context;
use bitnet_engine::convert::{HfConvertOptions, convert_hf};
use bitnet_engine::formats::TensorType;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bitnet convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Checkpoint directory: *.safetensors, config.json, tokenizer.json (and
    /// tokenizer_config.json for the chat template and special tokens).
    input: PathBuf,
    /// Where to write the GGUF model.
    output: PathBuf,
    /// Ternary type of the projection weights: i2_s, tl1, tl2, tq1_0 or tq2_0.
    #[arg(long = "type", default_value = "i2_s")]
    ternary_type: String,
    /// Type of the token embedding (and a separate LM head): f16, f32, q8_0 or q6_k.
    #[arg(long, default_value = "f16")]
    embd_type: String,
}

/// Converts the checkpoint and reports what was written.
pub fn convert(a: ConvertArgs) -> anyhow::Result<()> {
    let ty =
        |s: &str| TensorType::from_name(s).with_context(|| format!("unknown tensor type '{s}'"));
    let opts = HfConvertOptions {
        ternary_type: ty(&a.ternary_type)?,
        embd_type: ty(&a.embd_type)?,
    };
    let t0 = Instant::now();
    let report = with_bar("tensors", |progress| {
        convert_hf(&a.input, &a.output, &opts, progress)
    })
    .with_context(|| format!("cannot convert {}", a.input.display()))?;
    eprintln!(
        "wrote {} ({}, {} weights {}, {} tensors, {} bytes) in {:.2} s",
        a.output.display(),
        report.arch,
        opts.ternary_type,
        if report.packed {
            "unpacked from the packed checkpoint"
        } else {
            "ternarized from float weights (absmean)"
        },
        report.tensors,
        report.bytes,
        t0.elapsed().as_secs_f64()
    );
    if !report.ignored.is_empty() {
        eprintln!(
            "note: {} checkpoint tensors not used: {}",
            report.ignored.len(),
            report.ignored.join(", ")
        );
    }
    Ok(())
}
