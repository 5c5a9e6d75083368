//! Float matrices of the CPU backend (the token embedding used as the LM head): F16 rows
//! dotted in f32, or Q8_0 rows against per-token int8 activations at half the bytes.
//!
//! F16 rows are converted in registers as they are dotted (`bitnet_cpu_simd::f16_dot`).
//! The LM head is read in full for every token (a third to a half of all bytes at 2B-4T's
//! size), so its format sets much of the decode speed. `--lm-head q8_0` quantizes an F16
//! head at load, with llama.cpp's Q8_0 rule (byte-exact with gguf-py), and keeps the
//! F16 original for embedding lookups.

use super::BackendError;
use crate::formats::q8_0;
use crate::gguf::TensorData;
use half::f16;
use rayon::prelude::*;
use std::sync::OnceLock;

/// The format the LM head is multiplied in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LmHeadFormat {
    /// As stored (F16 rows converted to f32 on the fly).
    #[default]
    F16,
    /// Q8_0 rows × int8 activations.
    Q8_0,
}

/// Q8_0 rows split into codes and f32 block scales.
struct Q8Rows {
    q: Vec<i8>,
    d: Vec<f32>,
}

/// An F16 matrix, multiplied as F16 or (from its first use) as Q8_0.
pub struct FloatMatrix {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    data: TensorData,
    q8: OnceLock<Q8Rows>,
}

/// Converts one row of little-endian f16 values, with the CPU's F16C conversion when the
/// row is 2-byte aligned (tensor data is 32-byte aligned in GGUF, so it always is).
fn f16_row_to_f32(bytes: &[u8], out: &mut [f32]) {
    use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
    // SAFETY: every bit pattern of two bytes is a valid u16, and `align_to` only puts
    // correctly aligned, whole u16s in the middle slice.
    let (head, bits, tail) = unsafe { bytes.align_to::<u16>() };
    if head.is_empty() && tail.is_empty() && cfg!(target_endian = "little") {
        bits.reinterpret_cast::<f16>().convert_to_f32_slice(out);
    } else {
        for (v, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *v = f16::from_le_bytes([b[0], b[1]]).to_f32();
        }
    }
}

/// Writes row bands (first row, token-major values of its rows) into the token-major
/// `n × m` output.
pub(crate) fn scatter_bands(bands: Vec<(usize, Vec<f32>)>, n: usize, m: usize, out: &mut [f32]) {
    for (r0, y) in bands {
        let rows = y.len() / n.max(1);
        for t in 0..n {
            out[t * m + r0..t * m + r0 + rows].copy_from_slice(&y[t * rows..(t + 1) * rows]);
        }
    }
}

/// Runs `band(r0, r1)` over row bands of `chunk` rows on the pool and gathers the results.
pub(crate) fn par_bands(
    pool: &rayon::ThreadPool,
    m: usize,
    chunk: usize,
    band: impl Fn(usize, usize) -> Vec<f32> + Sync,
) -> Vec<(usize, Vec<f32>)> {
    pool.install(|| {
        (0..m)
            .step_by(chunk.max(1))
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|r0| (r0, band(r0, (r0 + chunk).min(m))))
            .collect()
    })
}

impl FloatMatrix {
    /// An F16 matrix of `rows × cols` over `data`.
    pub(crate) fn new(rows: usize, cols: usize, data: TensorData) -> Self {
        FloatMatrix {
            rows,
            cols,
            data,
            q8: OnceLock::new(),
        }
    }

    /// Builds what multiplying in `format` needs (the Q8_0 copy), once.
    pub(crate) fn prepare(&self, format: LmHeadFormat) -> Result<(), BackendError> {
        if format == LmHeadFormat::Q8_0 && self.cols.is_multiple_of(q8_0::BLOCK_WEIGHTS) {
            self.q8_rows()?;
        }
        Ok(())
    }

    fn q8_rows(&self) -> Result<&Q8Rows, BackendError> {
        if let Some(q8) = self.q8.get() {
            return Ok(q8);
        }
        let (m, k) = (self.rows, self.cols);
        let blocks = k / q8_0::BLOCK_WEIGHTS;
        let mut q = vec![0i8; m * k];
        let mut d = vec![0f32; m * blocks];
        let (mut row, mut bytes) = (vec![0f32; k], vec![0u8; blocks * q8_0::BLOCK_BYTES]);
        for r in 0..m {
            f16_row_to_f32(&self.data[r * 2 * k..(r + 1) * 2 * k], &mut row);
            q8_0::quantize_row_q8_0(&row, &mut bytes)
                .map_err(|e| BackendError::Device(format!("LM head to Q8_0: {e}")))?;
            for (b, block) in bytes.chunks_exact(q8_0::BLOCK_BYTES).enumerate() {
                d[r * blocks + b] = f16::from_le_bytes([block[0], block[1]]).to_f32();
                for (dst, &v) in q[r * k + b * 32..r * k + b * 32 + 32]
                    .iter_mut()
                    .zip(&block[2..])
                {
                    *dst = v as i8;
                }
            }
        }
        Ok(self.q8.get_or_init(|| Q8Rows { q, d }))
    }

    /// `out[t][r] = row r · x[t]` for `n` tokens, rows split into bands on `pool`.
    pub(crate) fn matmul(
        &self,
        pool: &rayon::ThreadPool,
        chunk: usize,
        format: LmHeadFormat,
        x: &[f32],
        n: usize,
        out: &mut [f32],
    ) -> Result<(), BackendError> {
        let (m, k) = (self.rows, self.cols);
        if format == LmHeadFormat::Q8_0 && k.is_multiple_of(q8_0::BLOCK_WEIGHTS) {
            let q8 = self.q8_rows()?;
            // Per-token int8 activations, as for the ternary matmuls.
            let mut qx = vec![0i8; n * k];
            let scales: Vec<f32> = (0..n)
                .map(|t| {
                    bitnet_cpu_simd::quantize_row_i8(
                        &x[t * k..(t + 1) * k],
                        &mut qx[t * k..(t + 1) * k],
                    )
                    .scale
                })
                .collect();
            let blocks = k / q8_0::BLOCK_WEIGHTS;
            let bands = par_bands(pool, m, chunk, |r0, r1| {
                let mut y = vec![0f32; (r1 - r0) * n];
                for r in r0..r1 {
                    let (w, d) = (
                        &q8.q[r * k..(r + 1) * k],
                        &q8.d[r * blocks..(r + 1) * blocks],
                    );
                    for t in 0..n {
                        y[t * (r1 - r0) + (r - r0)] =
                            bitnet_cpu_simd::q8_row_dot(w, d, &qx[t * k..(t + 1) * k]) / scales[t];
                    }
                }
                y
            });
            scatter_bands(bands, n, m, out);
            return Ok(());
        }
        let bands = par_bands(pool, m, chunk, |r0, r1| {
            let mut y = vec![0f32; (r1 - r0) * n];
            for r in r0..r1 {
                let row = &self.data[r * 2 * k..(r + 1) * 2 * k];
                for t in 0..n {
                    y[t * (r1 - r0) + (r - r0)] =
                        bitnet_cpu_simd::f16_dot(row, &x[t * k..(t + 1) * k]);
                }
            }
            y
        });
        scatter_bands(bands, n, m, out);
        Ok(())
    }
}
