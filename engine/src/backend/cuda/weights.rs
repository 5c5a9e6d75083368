//! Weights on a CUDA device: ternary matrices as I2_S code words with one scale, float
//! matrices as f16 rows or as int8 Q8_0 blocks with their f32 scales. Each is one buffer (a
//! CUDA buffer has no binding limit, unlike wgpu's), uploaded once.

use super::buffer::DeviceBuf;
use super::context::Gpu;
use super::memory::Purpose;
use crate::backend::reference::RefWeight;
use crate::backend::{BackendError, LmHeadFormat, WeightSource, gpu_prep};
use std::sync::OnceLock;

/// A float matrix's rows on the device.
pub struct FloatRows {
    /// f16 bits (2 bytes a weight) or int8 codes (1 byte a weight).
    pub(crate) data: DeviceBuf<u8>,
    /// For int8 rows, the f32 scale of each 32-weight block.
    pub(crate) scales: Option<DeviceBuf<f32>>,
}

/// A matrix in the CUDA backend.
pub enum CudaWeight {
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
        /// The codes, `rows × cols / 4` bytes.
        codes: DeviceBuf<u8>,
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
        dev: OnceLock<FloatRows>,
        /// The file's bytes: embedding lookups, and the source of the device rows.
        host: RefWeight,
    },
}

impl CudaWeight {
    /// The host copy (embedding lookups run on the host and upload their rows).
    pub(crate) fn host(&self) -> &RefWeight {
        match self {
            CudaWeight::Ternary { host, .. } | CudaWeight::Float { host, .. } => host,
        }
    }
}

/// A ternary tensor as I2_S codes and its single scale, or why it cannot run as one.
pub(crate) fn upload_ternary(
    gpu: &Gpu,
    w: &WeightSource<'_>,
    host: RefWeight,
) -> Result<CudaWeight, BackendError> {
    let [cols, rows] = w.dims;
    let (codes, scale) = gpu_prep::ternary_codes(w, "CUDA")?;
    let codes = gpu.upload(Purpose::Weights, &codes, w.name)?;
    Ok(CudaWeight::Ternary {
        name: w.name.to_string(),
        rows,
        cols,
        scale,
        codes,
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
) -> Result<CudaWeight, BackendError> {
    let [cols, rows] = w.dims;
    let int8 = gpu_prep::float_runs_as_int8(w, format, "CUDA")?;
    if !int8 && !cols.is_multiple_of(2) {
        return Err(BackendError::Device(format!(
            "'{}' has {cols} columns; the CUDA backend reads f16 rows in pairs",
            w.name
        )));
    }
    let weight = CudaWeight::Float {
        rows,
        cols,
        int8,
        dev: OnceLock::new(),
        host,
    };
    if w.name != "token_embd.weight" {
        float_rows(gpu, &weight)?;
    }
    Ok(weight)
}

/// The device rows of a float weight, converting and uploading them on first use.
pub(crate) fn float_rows<'w>(
    gpu: &Gpu,
    weight: &'w CudaWeight,
) -> Result<&'w FloatRows, BackendError> {
    let CudaWeight::Float {
        rows,
        cols,
        int8,
        dev,
        host,
    } = weight
    else {
        return Err(BackendError::Device("not a float weight".into()));
    };
    if let Some(d) = dev.get() {
        return Ok(d);
    }
    let uploaded = if *int8 {
        let (codes, scales) = gpu_prep::q8_rows(host, *rows, *cols)?;
        FloatRows {
            data: gpu.upload(Purpose::Weights, &codes, &host.name)?,
            scales: Some(gpu.upload(Purpose::Weights, &scales, &host.name)?),
        }
    } else {
        let bytes = gpu_prep::f16_rows(host, *rows, *cols)?;
        FloatRows {
            data: gpu.upload(Purpose::Weights, &bytes, &host.name)?,
            scales: None,
        }
    };
    // Two threads racing here both upload; the loser's copy is dropped (and freed) at once.
    Ok(dev.get_or_init(|| uploaded))
}
