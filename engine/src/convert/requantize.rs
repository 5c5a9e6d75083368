//! `bitnet quantize`: rewrites a model's ternary weights in another ternary type (and
//! optionally its token embedding in another float or 8-bit type).
//!
//! Ternary types differ only in how they store codes and scales, so every ternary tensor is
//! decoded to its codes and one scale and packed again: no weight changes. The single-scale
//! types (I2_S, TL1, TL2) need every block of a TQ tensor to share one scale, which is what
//! llama.cpp's quantizer writes for ternary×scale weights; a tensor whose blocks differ is an
//! error, not a silent change. Scales move to f16 for TQ targets; a scale that f16 cannot hold
//! exactly is counted in the report.

use super::{ConvertError, write_atomically};
use crate::formats::ternary::{TernaryMatrix, pack_ternary_with_tiles};
use crate::formats::{
    FormatError, TL_CONFIG_KEYS, TensorType, TernaryRowDecoder, TlConfig, TlTiles, dequantize_row,
    encode_floats, resolve_tiles, tq1_0, tq2_0,
};
use crate::gguf::{GgufError, GgufFile, GgufValue, GgufWriter, TensorInfo};
use crate::synth::file_type;
use half::f16;
use std::path::Path;

/// The types an embedding can be written in.
pub(super) const EMBD_TYPES: [TensorType; 4] = [
    TensorType::F32,
    TensorType::F16,
    TensorType::Q8_0,
    TensorType::Q6_K,
];

/// What to convert to.
#[derive(Debug, Clone)]
pub struct RequantizeOptions {
    /// The ternary type every ternary tensor is written in.
    pub ternary_type: TensorType,
    /// The type `token_embd.weight` is written in (F32, F16, Q8_0 or Q6_K); `None` keeps it.
    pub embd_type: Option<TensorType>,
    /// Tile parameters for TL1/TL2 sources that do not record theirs (kernel_config.ini).
    pub tl_config: Option<TlConfig>,
}

/// What [`requantize`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequantizeReport {
    /// Ternary tensors rewritten.
    pub ternary_tensors: usize,
    /// Other tensors copied as they were (or re-typed, for the embedding).
    pub other_tensors: usize,
    /// Ternary tensors whose scale f16 could not hold exactly (TQ targets only).
    pub inexact_scales: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes `src` to `out` with its ternary tensors in `opts.ternary_type`. Calls
/// `progress(done, total)` per tensor. `out` appears only when everything succeeded.
pub fn requantize(
    src: &GgufFile,
    opts: &RequantizeOptions,
    out: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<RequantizeReport, ConvertError> {
    let target = opts.ternary_type;
    if !target.is_ternary() {
        return Err(ConvertError::Invalid(format!(
            "--type must be a ternary type (i2_s, tl1, tl2, tq1_0, tq2_0), not {target}"
        )));
    }
    if let Some(e) = opts.embd_type
        && !EMBD_TYPES.contains(&e)
    {
        return Err(ConvertError::Invalid(format!(
            "--embd-type must be f32, f16, q8_0 or q6_k, not {e}"
        )));
    }
    let file_tl = TlConfig::from_gguf(src).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    let ternary: Vec<&TensorInfo> = src.tensors().iter().filter(|t| t.ty.is_ternary()).collect();
    if ternary.is_empty() {
        return Err(ConvertError::Invalid(
            "the model has no ternary tensors to convert".into(),
        ));
    }
    // bitnet.cpp's converter stores each TL weight's scale again as `<name>_scale`; the
    // rewritten tensors carry their own.
    let dropped: Vec<String> = ternary
        .iter()
        .filter(|t| matches!(t.ty, TensorType::TL1 | TensorType::TL2))
        .map(|t| format!("{}_scale", t.name))
        .collect();

    let mut w = GgufWriter::new();
    for (k, v) in src.metadata() {
        if !TL_CONFIG_KEYS.contains(&k.as_str()) {
            w.add_kv(k.clone(), v.clone());
        }
    }
    w.add_kv("general.file_type", GgufValue::U32(file_type(target)));
    let mut out_tl = TlConfig::new();
    let mut plan = Vec::new();
    for info in src.tensors() {
        if dropped.contains(&info.name) {
            continue;
        }
        let step = if info.ty.is_ternary() {
            let (rows, cols) = matrix_dims(info)?;
            let tiles = if matches!(target, TensorType::TL1 | TensorType::TL2) {
                let t = TlTiles::choose(target, rows, cols).map_err(|e| tensor_err(info, e))?;
                out_tl.insert(rows, cols, t);
                Some(t)
            } else {
                None
            };
            w.add_tensor_info(&info.name, &info.dims, target)?;
            Step::Ternary { rows, cols, tiles }
        } else if info.name == "token_embd.weight"
            && let Some(e) = opts.embd_type.filter(|e| *e != info.ty)
        {
            w.add_tensor_info(&info.name, &info.dims, e)?;
            Step::Retype(e)
        } else {
            w.add_tensor_info(&info.name, &info.dims, info.ty)?;
            Step::Copy
        };
        plan.push((info, step));
    }
    out_tl.write(&mut w);

    let total = plan.len();
    let mut report = RequantizeReport::default();
    let mut next = plan.into_iter();
    let mut done = 0;
    write_atomically(out, |tmp| {
        w.write_file_with(tmp, |name| {
            let (info, step) = next
                .next()
                .filter(|(i, _)| i.name == name)
                .ok_or_else(|| GgufError::Write(format!("tensor '{name}' out of order")))?;
            let data = src.tensor_data(info);
            let bytes = match step {
                Step::Copy => {
                    report.other_tensors += 1;
                    data.to_vec()
                }
                Step::Retype(ty) => {
                    report.other_tensors += 1;
                    retype(info, &data, ty).map_err(|e| write_err(info, e))?
                }
                Step::Ternary { rows, cols, tiles } => {
                    report.ternary_tensors += 1;
                    let src_tiles = match info.ty {
                        TensorType::TL1 | TensorType::TL2 => Some(
                            resolve_tiles(
                                file_tl.as_ref(),
                                opts.tl_config.as_ref(),
                                info.ty,
                                rows,
                                cols,
                            )
                            .ok_or_else(|| {
                                GgufError::Write(format!(
                                    "tensor '{}': {} weight of {rows}×{cols} without tile \
                                     parameters in the file or a preset; pass --tl-config",
                                    info.name, info.ty
                                ))
                            })?,
                        ),
                        _ => None,
                    };
                    let dec = TernaryRowDecoder::with_tiles(info.ty, &data, rows, cols, src_tiles)
                        .map_err(|e| write_err(info, e))?;
                    if matches!(target, TensorType::TQ1_0 | TensorType::TQ2_0) {
                        let (bytes, inexact) =
                            to_tq(&dec, target).map_err(|e| write_err(info, e))?;
                        report.inexact_scales += usize::from(inexact);
                        bytes
                    } else {
                        let m = single_scale_matrix(&dec).map_err(|e| write_err(info, e))?;
                        pack_ternary_with_tiles(target, &m, tiles)
                            .map_err(|e| write_err(info, e))?
                    }
                }
            };
            done += 1;
            progress(done, total);
            Ok(bytes)
        })?;
        report.bytes = std::fs::metadata(tmp).map(|m| m.len()).unwrap_or(0);
        Ok(())
    })?;
    Ok(report)
}

enum Step {
    Copy,
    Retype(TensorType),
    Ternary {
        rows: usize,
        cols: usize,
        tiles: Option<TlTiles>,
    },
}

fn tensor_err(info: &TensorInfo, source: FormatError) -> ConvertError {
    ConvertError::Tensor {
        name: info.name.clone(),
        source,
    }
}

fn write_err(info: &TensorInfo, e: FormatError) -> GgufError {
    GgufError::Write(format!("tensor '{}': {e}", info.name))
}

/// (M, K) of a 2-D tensor (ggml dims [K, M]).
fn matrix_dims(info: &TensorInfo) -> Result<(usize, usize), ConvertError> {
    match info.dims[..] {
        [k, m] => Ok((m as usize, k as usize)),
        _ => Err(ConvertError::Invalid(format!(
            "tensor '{}' is ternary but has dims {:?}, not [K, M]",
            info.name, info.dims
        ))),
    }
}

/// Decodes a row, refusing TQ2_0's never-written code 3 (which reads as +2).
fn decode_checked(
    dec: &TernaryRowDecoder<'_>,
    r: usize,
    row: &mut [i8],
    scales: &mut [f32],
) -> Result<(), FormatError> {
    dec.decode_row(r, row, scales)?;
    if row.iter().any(|&c| !(-1..=1).contains(&c)) {
        return Err(FormatError::BadValue(format!(
            "row {r} holds a code outside {{-1, 0, 1}} (TQ2_0 code 3)"
        )));
    }
    Ok(())
}

/// Decodes a ternary tensor to codes and its one scale.
fn single_scale_matrix(dec: &TernaryRowDecoder<'_>) -> Result<TernaryMatrix, FormatError> {
    let (rows, cols) = (dec.rows(), dec.cols());
    let bl = dec.block_len();
    let mut codes = vec![0i8; rows * cols];
    let mut scales = vec![0f32; dec.blocks_per_row()];
    let mut scale: Option<f32> = None;
    for (r, row) in codes.chunks_exact_mut(cols.max(1)).enumerate() {
        decode_checked(dec, r, row, &mut scales)?;
        for (block, &s) in row.chunks(bl.max(1)).zip(&scales) {
            if block.iter().all(|&c| c == 0) {
                continue;
            }
            match scale {
                None => scale = Some(s),
                Some(first) if first == s => {}
                Some(first) => {
                    return Err(FormatError::BadValue(format!(
                        "its blocks have different scales ({first} and {s} in row {r}); \
                         I2_S, TL1 and TL2 hold one scale per tensor"
                    )));
                }
            }
        }
    }
    // A tensor of zeros keeps the scale it has (I2_S/TL) or gets 0 (TQ).
    let scale = scale.unwrap_or(if dec.blocks_per_row() == 1 {
        scales[0]
    } else {
        0.0
    });
    TernaryMatrix::new(rows, cols, codes, scale)
}

/// Packs a decoded tensor as TQ1_0/TQ2_0 block by block, each block quantized from its
/// weights code·scale as llama.cpp's quantizer would (so per-block scales survive). Returns
/// the bytes and whether some scale was not exactly an f16.
fn to_tq(dec: &TernaryRowDecoder<'_>, target: TensorType) -> Result<(Vec<u8>, bool), FormatError> {
    let (rows, cols) = (dec.rows(), dec.cols());
    if !cols.is_multiple_of(256) {
        return Err(FormatError::BadShape {
            ty: target,
            dims: vec![cols as u64, rows as u64],
            why: "row length is not a multiple of the block size 256",
        });
    }
    let block_bytes = if target == TensorType::TQ1_0 {
        tq1_0::BLOCK_BYTES
    } else {
        tq2_0::BLOCK_BYTES
    };
    let bl = dec.block_len();
    let mut out = Vec::with_capacity(rows * cols / 256 * block_bytes);
    let (mut codes, mut scales) = (vec![0i8; cols], vec![0f32; dec.blocks_per_row()]);
    let mut x = [0f32; 256];
    let mut inexact = false;
    for r in 0..rows {
        decode_checked(dec, r, &mut codes, &mut scales)?;
        for (b, block) in codes.chunks_exact(256).enumerate() {
            let s = scales[b * 256 / bl];
            if f16::from_f32(s).is_infinite() {
                return Err(FormatError::BadValue(format!(
                    "scale {s} does not fit the f16 block scale of {target}"
                )));
            }
            inexact |= block.iter().any(|&c| c != 0) && f16::from_f32(s).to_f32() != s;
            for (v, &c) in x.iter_mut().zip(block) {
                *v = f32::from(c) * s;
            }
            if target == TensorType::TQ1_0 {
                out.extend_from_slice(&tq1_0::quantize_block(&x));
            } else {
                out.extend_from_slice(&tq2_0::quantize_block(&x));
            }
        }
    }
    Ok((out, inexact))
}

/// Re-encodes a float or 8-bit tensor row by row.
fn retype(info: &TensorInfo, data: &[u8], ty: TensorType) -> Result<Vec<u8>, FormatError> {
    let cols = info.dims.first().copied().unwrap_or(1) as usize;
    let rows = info.n_elements() as usize / cols.max(1);
    let src_row = data.len() / rows.max(1);
    let mut row = vec![0f32; cols];
    let mut out = Vec::new();
    for r in 0..rows {
        dequantize_row(info.ty, &data[r * src_row..(r + 1) * src_row], &mut row)?;
        out.extend(encode_floats(&row, ty)?);
    }
    Ok(out)
}
