//! Weights on the GPU: ternary matrices as I2_S words, everything else as f16 pairs, each cut
//! into pieces of whole rows that fit one storage binding (lavapipe allows 128 MiB; a 2B-4T
//! LM head in f16 is 656 MB).

use super::context::Gpu;
use crate::backend::reference::RefWeight;
use crate::backend::{BackendError, LmHeadFormat, WeightSource, gpu_prep};
use crate::formats::q8_0;
use std::sync::OnceLock;

/// Rows `row0..row0 + rows` of a matrix in one device buffer (and, for int8 rows, their
/// block scales in a second).
pub struct Piece {
    pub(crate) buf: wgpu::Buffer,
    pub(crate) scales: Option<wgpu::Buffer>,
    pub(crate) row0: usize,
    pub(crate) rows: usize,
}

/// A matrix in the wgpu backend.
pub enum WgpuWeight {
    /// Ternary, I2_S codes with one scale per tensor; multiplied by int8 activations.
    Ternary {
        /// Tensor name, for errors.
        name: String,
        /// Output rows.
        rows: usize,
        /// Input columns (a multiple of 128).
        cols: usize,
        /// The tensor's scale.
        scale: f32,
        /// The codes, by row ranges.
        pieces: Vec<Piece>,
        /// The file's bytes, for embedding lookups on the host.
        host: RefWeight,
    },
    /// Float (F16, F32, BF16, Q8_0, Q6_K … in the file), multiplied as f16 by f32 activations,
    /// or as Q8_0 blocks by int8 activations (the LM head's formats, `--lm-head`).
    Float {
        /// Output rows.
        rows: usize,
        /// Input columns.
        cols: usize,
        /// Whether the rows are int8 blocks (else f16).
        int8: bool,
        /// The rows, uploaded at load or, for the token embedding, at its first use as the
        /// LM head (an untied embedding is only ever read on the host).
        pieces: OnceLock<Vec<Piece>>,
        /// The file's bytes: embedding lookups, and the source of the f16 rows.
        host: RefWeight,
    },
}

impl WgpuWeight {
    /// The host copy (embedding lookups run on the host and upload their rows).
    pub(crate) fn host(&self) -> &RefWeight {
        match self {
            WgpuWeight::Ternary { host, .. } | WgpuWeight::Float { host, .. } => host,
        }
    }
}

/// Rows per piece for rows of `row_bytes`, within one binding and one buffer.
fn rows_per_piece(gpu: &Gpu, row_bytes: usize, name: &str) -> Result<usize, BackendError> {
    let limit = gpu.facts.max_storage_binding.min(gpu.facts.max_buffer) as usize;
    let rows = limit / row_bytes.max(1);
    if rows == 0 {
        return Err(BackendError::Device(format!(
            "'{name}': one row of {row_bytes} bytes exceeds {}'s storage binding limit of {limit}",
            gpu.facts.name
        )));
    }
    Ok(rows)
}

/// Uploads `bytes` (`rows` rows of `row_bytes`) as pieces.
fn upload_rows(
    gpu: &Gpu,
    name: &str,
    rows: usize,
    row_bytes: usize,
    bytes: &[u8],
) -> Result<Vec<Piece>, BackendError> {
    let per = rows_per_piece(gpu, row_bytes, name)?;
    Ok((0..rows)
        .step_by(per)
        .map(|row0| {
            let n = per.min(rows - row0);
            Piece {
                buf: gpu.storage_with(&bytes[row0 * row_bytes..(row0 + n) * row_bytes], name),
                scales: None,
                row0,
                rows: n,
            }
        })
        .collect())
}

/// A ternary tensor as I2_S codes and its single scale, or why it cannot run as one.
pub(crate) fn upload_ternary(
    gpu: &Gpu,
    w: &WeightSource<'_>,
    host: RefWeight,
) -> Result<WgpuWeight, BackendError> {
    let [cols, rows] = w.dims;
    let (codes, scale) = gpu_prep::ternary_codes(w, "wgpu")?;
    let pieces = upload_rows(gpu, w.name, rows, cols / 4, &codes)?;
    Ok(WgpuWeight::Ternary {
        name: w.name.to_string(),
        rows,
        cols,
        scale,
        pieces,
        host,
    })
}

/// A float tensor; its rows go up now unless it is the token embedding. `format` says
/// whether they run as f16 or as int8 Q8_0 blocks (as stored when the file has Q8_0).
pub(crate) fn upload_float(
    gpu: &Gpu,
    w: &WeightSource<'_>,
    host: RefWeight,
    format: LmHeadFormat,
) -> Result<WgpuWeight, BackendError> {
    let [cols, rows] = w.dims;
    let int8 = gpu_prep::float_runs_as_int8(w, format, "wgpu")?;
    if !cols.is_multiple_of(2) {
        return Err(BackendError::Device(format!(
            "'{}' has {cols} columns; the wgpu backend reads f16 rows in pairs",
            w.name
        )));
    }
    let weight = WgpuWeight::Float {
        rows,
        cols,
        int8,
        pieces: OnceLock::new(),
        host,
    };
    if w.name != "token_embd.weight" {
        float_pieces(gpu, &weight)?;
    }
    Ok(weight)
}

/// The pieces of a float weight, converting and uploading them on first use.
pub(crate) fn float_pieces<'w>(
    gpu: &Gpu,
    weight: &'w WgpuWeight,
) -> Result<&'w [Piece], BackendError> {
    let WgpuWeight::Float {
        rows,
        cols,
        int8,
        pieces,
        host,
    } = weight
    else {
        return Err(BackendError::Device("not a float weight".into()));
    };
    if let Some(p) = pieces.get() {
        return Ok(p);
    }
    let uploaded = if *int8 {
        int8_pieces(gpu, host, *rows, *cols)?
    } else {
        f16_pieces(gpu, host, *rows, *cols)?
    };
    Ok(pieces.get_or_init(|| uploaded))
}

fn f16_pieces(
    gpu: &Gpu,
    host: &RefWeight,
    rows: usize,
    cols: usize,
) -> Result<Vec<Piece>, BackendError> {
    let bytes = gpu_prep::f16_rows(host, rows, cols)?;
    upload_rows(gpu, &host.name, rows, cols * 2, &bytes)
}

/// Q8_0 rows split into int8 codes and f32 block scales, in pieces sized by the codes.
fn int8_pieces(
    gpu: &Gpu,
    host: &RefWeight,
    rows: usize,
    cols: usize,
) -> Result<Vec<Piece>, BackendError> {
    let blocks = cols / q8_0::BLOCK_WEIGHTS;
    let (codes, scales) = gpu_prep::q8_rows(host, rows, cols)?;
    let scales: Vec<u8> = scales.iter().flat_map(|d| d.to_le_bytes()).collect();
    let per = rows_per_piece(gpu, cols, &host.name)?;
    Ok((0..rows)
        .step_by(per)
        .map(|row0| {
            let n = per.min(rows - row0);
            Piece {
                buf: gpu.storage_with(&codes[row0 * cols..(row0 + n) * cols], &host.name),
                scales: Some(gpu.storage_with(
                    &scales[row0 * blocks * 4..(row0 + n) * blocks * 4],
                    &host.name,
                )),
                row0,
                rows: n,
            }
        })
        .collect())
}
