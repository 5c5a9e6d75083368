//! `bitnet quantize`: rewrite a model's ternary weights in another ternary type.

use super::load::{open, read_tl_config};
use super::progress::with_bar;
use anyhow::Context;
use bitnet_engine::convert::{RequantizeOptions, requantize};
use bitnet_engine::formats::TensorType;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bitnet quantize`.
#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// Source model (GGUF with ternary weights in any ternary type).
    input: PathBuf,
    /// Where to write the converted model.
    output: PathBuf,
    /// Target ternary type: i2_s, tl1, tl2, tq1_0 or tq2_0.
    #[arg(long = "type")]
    ternary_type: String,
    /// Re-encode token_embd.weight as f32, f16, q8_0 or q6_k (default: keep it).
    #[arg(long)]
    embd_type: Option<String>,
    /// bitnet.cpp's kernel_config.ini, for a TL1/TL2 source that does not record its tiling.
    #[arg(long)]
    tl_config: Option<PathBuf>,
}

/// Converts the model and reports what was written.
pub fn quantize(a: QuantizeArgs) -> anyhow::Result<()> {
    let ty =
        |s: &str| TensorType::from_name(s).with_context(|| format!("unknown tensor type '{s}'"));
    let opts = RequantizeOptions {
        ternary_type: ty(&a.ternary_type)?,
        embd_type: a.embd_type.as_deref().map(ty).transpose()?,
        tl_config: a.tl_config.as_deref().map(read_tl_config).transpose()?,
    };
    let src = open(&a.input)?;
    let t0 = Instant::now();
    let report = with_bar("tensors", |progress| {
        requantize(&src, &opts, &a.output, progress)
    })
    .with_context(|| {
        format!(
            "cannot convert {} to {}",
            a.input.display(),
            opts.ternary_type
        )
    })?;
    eprintln!(
        "wrote {} ({}, {} ternary tensors converted, {} other tensors, {} bytes) in {:.2} s",
        a.output.display(),
        opts.ternary_type,
        report.ternary_tensors,
        report.other_tensors,
        report.bytes,
        t0.elapsed().as_secs_f64()
    );
    if report.inexact_scales > 0 {
        eprintln!(
            "note: {} tensor scales were rounded to f16 (TQ types store f16 block scales)",
            report.inexact_scales
        );
    }
    Ok(())
}
