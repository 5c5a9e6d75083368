//! Float matrices of the CPU backend (the token embedding used as the LM head): F16 rows
//! dotted in f32, or Q8_0 rows against per-token int8 activations at half the bytes.
//!
//! F16 rows are converted in registers as they are dotted (`bitnet_cpu_simd::f16_dot`).
//! The LM head is read in full for every token (a third to a half of all bytes at 2B-4T's
//! size), so its format sets much of the decode speed. `--lm-head q8_0` quantizes an F16
//! head at load, with llama.cpp's Q8_0 rule (byte-exact with gguf-py), and keeps the
//! F16 original for embedding lookups.

use super::BackendError;
use super::cpu_pool::SpinPool;
use crate::formats::{TensorType, dequantize_row, encode_floats, q6k, q8_0, tensor_nbytes};
use crate::gguf::TensorData;
use half::f16;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// The format the LM head is multiplied in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LmHeadFormat {
    /// As the file stores it (F16, Q8_0 or Q6_K).
    #[default]
    Stored,
    /// F16 rows converted to f32 on the fly.
    F16,
    /// Q8_0 rows × int8 activations (8.5 bits per weight).
    Q8_0,
    /// Q6_K rows × int8 activations (6.56 bits per weight; llama.cpp's and bitnet.cpp's usual
    /// head format).
    Q6K,
}

impl LmHeadFormat {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            LmHeadFormat::Stored => "as stored",
            LmHeadFormat::F16 => "f16",
            LmHeadFormat::Q8_0 => "q8_0",
            LmHeadFormat::Q6K => "q6_k",
        }
    }
}

/// Q8_0 rows split into codes and f32 block scales.
struct Q8Rows {
    q: Vec<i8>,
    d: Vec<f32>,
}

/// What a [`FloatMatrix`] is multiplied as, built once at load.
enum Prepared {
    /// The file's F16 bytes, in place.
    F16File,
    /// F16 rows converted from another stored type.
    F16Owned(Vec<u8>),
    Q8(Q8Rows),
    Q6(bitnet_cpu_simd::Q6kRows),
}

/// A float matrix (F16, Q8_0 or Q6_K in the file) multiplied in the format `--lm-head` asks
/// for, converted at load when that differs from the stored one.
pub struct FloatMatrix {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    stored: TensorType,
    data: TensorData,
    prepared: OnceLock<Prepared>,
    /// Set by the first product: only matrices that are multiplied count as read per token
    /// (an untied embedding table is only looked up).
    used: AtomicBool,
}

/// Whether the CPU backend multiplies a stored matrix of this type itself.
pub(crate) fn is_float_matrix_type(ty: TensorType) -> bool {
    matches!(ty, TensorType::F16 | TensorType::Q8_0 | TensorType::Q6_K)
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
    pool: &SpinPool,
    m: usize,
    chunk: usize,
    band: impl Fn(usize, usize) -> Vec<f32> + Sync,
) -> Vec<(usize, Vec<f32>)> {
    let chunk = chunk.max(1);
    let starts: Vec<usize> = (0..m).step_by(chunk).collect();
    pool.map(starts.len(), |i| {
        let r0 = starts[i];
        (r0, band(r0, (r0 + chunk).min(m)))
    })
}

impl FloatMatrix {
    /// A `rows × cols` matrix of type `stored` (see [`is_float_matrix_type`]) over `data`.
    pub(crate) fn new(rows: usize, cols: usize, stored: TensorType, data: TensorData) -> Self {
        FloatMatrix {
            rows,
            cols,
            stored,
            data,
            prepared: OnceLock::new(),
            used: AtomicBool::new(false),
        }
    }

    /// The format `format` resolves to for this matrix: the stored one for
    /// [`LmHeadFormat::Stored`], and the stored one too when the columns do not fit the
    /// requested blocks.
    pub(crate) fn resolve(&self, format: LmHeadFormat) -> LmHeadFormat {
        let stored = match self.stored {
            TensorType::Q8_0 => LmHeadFormat::Q8_0,
            TensorType::Q6_K => LmHeadFormat::Q6K,
            _ => LmHeadFormat::F16,
        };
        match format {
            LmHeadFormat::Stored => stored,
            LmHeadFormat::Q8_0 if !self.cols.is_multiple_of(q8_0::BLOCK_WEIGHTS) => stored,
            LmHeadFormat::Q6K if !self.cols.is_multiple_of(q6k::BLOCK_WEIGHTS) => stored,
            f => f,
        }
    }

    /// Bytes one product reads, in the format it is multiplied in.
    pub(crate) fn product_bytes(&self) -> usize {
        let (m, k) = (self.rows, self.cols);
        match self.prepared.get() {
            Some(Prepared::Q8(_)) => m * k + m * k / q8_0::BLOCK_WEIGHTS * 4,
            Some(Prepared::Q6(q6)) => q6.bytes(),
            _ => m * k * 2,
        }
    }

    /// Marks the matrix as multiplied; true the first time.
    pub(crate) fn first_use(&self) -> bool {
        !self.used.swap(true, Ordering::Relaxed)
    }

    /// Builds what multiplying in `format` needs, once (at load, so load time holds the cost).
    /// Conversions run on `pool`, row bands in parallel.
    pub(crate) fn prepare(
        &self,
        pool: &SpinPool,
        format: LmHeadFormat,
    ) -> Result<(), BackendError> {
        if self.prepared.get().is_some() {
            return Ok(());
        }
        let target = self.resolve(format);
        let prepared = if target == LmHeadFormat::F16 && self.stored == TensorType::F16 {
            Prepared::F16File
        } else if target == LmHeadFormat::Q6K && self.stored == TensorType::Q6_K {
            Prepared::Q6(bitnet_cpu_simd::Q6kRows::from_q6k(
                &self.data, self.rows, self.cols,
            ))
        } else {
            let ty = match target {
                LmHeadFormat::Q8_0 => TensorType::Q8_0,
                LmHeadFormat::Q6K => TensorType::Q6_K,
                _ => TensorType::F16,
            };
            let bytes = self.convert_rows(pool, ty)?;
            match target {
                LmHeadFormat::Q8_0 => Prepared::Q8(split_q8(&bytes)),
                LmHeadFormat::Q6K => Prepared::Q6(bitnet_cpu_simd::Q6kRows::from_q6k(
                    &bytes, self.rows, self.cols,
                )),
                _ => Prepared::F16Owned(bytes),
            }
        };
        let _ = self.prepared.set(prepared);
        Ok(())
    }

    /// Every row decoded from the stored type and re-encoded as `ty`, rows in parallel.
    fn convert_rows(&self, pool: &SpinPool, ty: TensorType) -> Result<Vec<u8>, BackendError> {
        let (m, k) = (self.rows, self.cols);
        let err = |e: crate::formats::FormatError| {
            BackendError::Device(format!(
                "LM head {:?} to {ty:?} ({m}x{k}): {e}",
                self.stored
            ))
        };
        let in_row = tensor_nbytes(self.stored, &[k as u64, 1]).map_err(err)? as usize;
        let out_row = tensor_nbytes(ty, &[k as u64, 1]).map_err(err)? as usize;
        let mut out = vec![0u8; m * out_row];
        let first_error = Mutex::new(None);
        let items = out.chunks_mut(out_row.max(1) * 256).collect();
        pool.each(items, |c, dst: &mut [u8]| {
            let mut row = vec![0f32; k];
            let mut convert = || -> Result<(), crate::formats::FormatError> {
                for (i, d) in dst.chunks_exact_mut(out_row.max(1)).enumerate() {
                    let r = c * 256 + i;
                    let src = &self.data[r * in_row..(r + 1) * in_row];
                    dequantize_row(self.stored, src, &mut row)?;
                    d.copy_from_slice(&encode_floats(&row, ty)?);
                }
                Ok(())
            };
            if let Err(e) = convert() {
                first_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
        });
        first_error
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(Ok(()), Err)
            .map_err(err)?;
        Ok(out)
    }

    /// `out[t][r] = row r · x[t]` for `n` tokens, rows split into bands on `pool`.
    pub(crate) fn matmul(
        &self,
        pool: &SpinPool,
        chunk: usize,
        format: LmHeadFormat,
        x: &[f32],
        n: usize,
        out: &mut [f32],
    ) -> Result<(), BackendError> {
        self.prepare(pool, format)?;
        let (m, k) = (self.rows, self.cols);
        let prepared = self
            .prepared
            .get()
            .ok_or_else(|| BackendError::Device("LM head was not prepared".into()))?;
        let f16_rows = match prepared {
            Prepared::F16File => &self.data[..],
            Prepared::F16Owned(v) => &v[..],
            Prepared::Q8(q8) => {
                let (qx, scales) = quantize_tokens(x, n, k);
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
                                bitnet_cpu_simd::q8_row_dot(w, d, &qx[t * k..(t + 1) * k])
                                    / scales[t];
                        }
                    }
                    y
                });
                scatter_bands(bands, n, m, out);
                return Ok(());
            }
            Prepared::Q6(q6) => {
                let (qx, scales) = quantize_tokens(x, n, k);
                let acts: Vec<_> = qx
                    .chunks_exact(k.max(1))
                    .map(bitnet_cpu_simd::Q6kActs::new)
                    .collect();
                let bands = par_bands(pool, m, chunk, |r0, r1| {
                    let mut y = vec![0f32; (r1 - r0) * n];
                    for (t, a) in acts.iter().enumerate() {
                        let yt = &mut y[t * (r1 - r0)..(t + 1) * (r1 - r0)];
                        q6.rows_dot(r0, yt, a);
                        for v in yt {
                            *v /= scales[t];
                        }
                    }
                    y
                });
                scatter_bands(bands, n, m, out);
                return Ok(());
            }
        };
        let bands = par_bands(pool, m, chunk, |r0, r1| {
            let mut y = vec![0f32; (r1 - r0) * n];
            // Each row converted once for the whole batch; the same sums as one token alone.
            let mut dots = vec![0f32; n];
            for r in r0..r1 {
                let row = &f16_rows[r * 2 * k..(r + 1) * 2 * k];
                bitnet_cpu_simd::f16_dots(row, &x[..n * k], &mut dots);
                for (t, &d) in dots.iter().enumerate() {
                    y[t * (r1 - r0) + (r - r0)] = d;
                }
            }
            y
        });
        scatter_bands(bands, n, m, out);
        Ok(())
    }
}

/// Per-token int8 activations (as for the ternary matmuls) and their scales.
fn quantize_tokens(x: &[f32], n: usize, k: usize) -> (Vec<i8>, Vec<f32>) {
    let mut qx = vec![0i8; n * k];
    let scales = (0..n)
        .map(|t| {
            bitnet_cpu_simd::quantize_row_i8(&x[t * k..(t + 1) * k], &mut qx[t * k..(t + 1) * k])
                .scale
        })
        .collect();
    (qx, scales)
}

/// Q8_0 bytes split into int8 codes and f32 block scales.
fn split_q8(bytes: &[u8]) -> Q8Rows {
    let blocks = bytes.len() / q8_0::BLOCK_BYTES;
    let mut q = Vec::with_capacity(blocks * q8_0::BLOCK_WEIGHTS);
    let mut d = Vec::with_capacity(blocks);
    for block in bytes.chunks_exact(q8_0::BLOCK_BYTES) {
        d.push(f16::from_le_bytes([block[0], block[1]]).to_f32());
        q.extend(block[2..].iter().map(|&v| v as i8));
    }
    Q8Rows { q, d }
}
