//! Host-side preparation of weights for the GPU backends (wgpu and CUDA): both run ternary
//! matrices as I2_S codes with one scale per tensor and float matrices as f16 rows or as int8
//! Q8_0 blocks, so the conversions from the file's types live here once.

use super::reference::RefWeight;
use super::{BackendError, LmHeadFormat, WeightSource};
use crate::formats::{TensorType, dequantize_row, i2s, q8_0};
use std::borrow::Cow;

/// A ternary tensor as row-major I2_S code bytes (`rows × cols / 4`, no scale trailer) and
/// its single scale; TL1/TL2/TQ types are repacked. `backend` names the caller in the error
/// for tensors that cannot run this way (per-block scales, rows that are not whole blocks).
pub(crate) fn ternary_codes<'w>(
    w: &'w WeightSource<'_>,
    backend: &str,
) -> Result<(Cow<'w, [u8]>, f32), BackendError> {
    let [cols, rows] = w.dims;
    if w.ty == TensorType::I2_S {
        let scale = i2s::scale(&w.data, rows, cols).map_err(|source| BackendError::Weight {
            name: w.name.to_string(),
            source,
        })?;
        return Ok((Cow::Borrowed(&w.data[..rows * cols / 4]), scale));
    }
    match super::cpu::repack_i2s(w)? {
        Some((codes, scale)) => Ok((Cow::Owned(codes), scale)),
        None => Err(BackendError::Device(format!(
            "'{}' ({}, {rows}×{cols}) has per-block scales or rows that are not whole \
             128-weight blocks; the {backend} backend runs ternary tensors with one scale \
             (use --device cpu for this file)",
            w.name, w.ty
        ))),
    }
}

/// Whether a float tensor runs as int8 Q8_0 blocks (else f16) under `format`: as stored
/// when the file has Q8_0; Q6_K is refused, and Q8_0 needs whole blocks per row.
pub(crate) fn float_runs_as_int8(
    w: &WeightSource<'_>,
    format: LmHeadFormat,
    backend: &str,
) -> Result<bool, BackendError> {
    let cols = w.dims[0];
    let int8 = match format {
        LmHeadFormat::Q8_0 => true,
        LmHeadFormat::Stored => w.ty == TensorType::Q8_0,
        LmHeadFormat::F16 => false,
        LmHeadFormat::Q6K => {
            return Err(BackendError::Device(format!(
                "a Q6_K LM head runs on the CPU backend only; the {backend} backend takes \
                 stored, f16 or q8_0"
            )));
        }
    };
    if int8 && !cols.is_multiple_of(q8_0::BLOCK_WEIGHTS) {
        return Err(BackendError::Device(format!(
            "'{}' has {cols} columns, not whole blocks of {}; use --lm-head f16",
            w.name,
            q8_0::BLOCK_WEIGHTS
        )));
    }
    Ok(int8)
}

/// Row `r` of `host` as f32.
fn host_row(host: &RefWeight, r: usize, row: &mut [f32]) -> Result<(), BackendError> {
    dequantize_row(
        host.ty,
        &host.data[r * host.row_bytes..(r + 1) * host.row_bytes],
        row,
    )
    .map_err(|source| BackendError::Weight {
        name: host.name.clone(),
        source,
    })
}

/// The rows of a float tensor as little-endian f16 bytes (`rows × cols × 2`): the file's
/// bytes when it stores F16, else converted row by row.
pub(crate) fn f16_rows(
    host: &RefWeight,
    rows: usize,
    cols: usize,
) -> Result<Cow<'_, [u8]>, BackendError> {
    if host.ty == TensorType::F16 {
        return Ok(Cow::Borrowed(&host.data[..]));
    }
    let mut row = vec![0f32; cols];
    let mut out = Vec::with_capacity(rows * cols * 2);
    for r in 0..rows {
        host_row(host, r, &mut row)?;
        out.extend(
            row.iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes()),
        );
    }
    Ok(Cow::Owned(out))
}

/// Q8_0 rows of a float tensor (as stored, or quantized by llama.cpp's rule) split into int8
/// codes (`rows × cols` bytes) and f32 block scales (`rows × cols / 32`).
pub(crate) fn q8_rows(
    host: &RefWeight,
    rows: usize,
    cols: usize,
) -> Result<(Vec<u8>, Vec<f32>), BackendError> {
    let blocks = cols / q8_0::BLOCK_WEIGHTS;
    let mut codes = Vec::with_capacity(rows * cols);
    let mut scales = Vec::with_capacity(rows * blocks);
    let mut row = vec![0f32; cols];
    let mut q8 = vec![0u8; blocks * q8_0::BLOCK_BYTES];
    for r in 0..rows {
        let stored: &[u8] = if host.ty == TensorType::Q8_0 {
            &host.data[r * host.row_bytes..(r + 1) * host.row_bytes]
        } else {
            host_row(host, r, &mut row)?;
            q8_0::quantize_row_q8_0(&row, &mut q8).map_err(|source| BackendError::Weight {
                name: host.name.clone(),
                source,
            })?;
            &q8
        };
        for block in stored.chunks_exact(q8_0::BLOCK_BYTES) {
            scales.push(half::f16::from_le_bytes([block[0], block[1]]).to_f32());
            codes.extend_from_slice(&block[2..]);
        }
    }
    Ok((codes, scales))
}
