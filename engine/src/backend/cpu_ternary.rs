//! Ternary matrices on the CPU backend: the kernels a matrix can run on, the layout each one
//! reads, and one band of a matrix-vector product.
//!
//! Every kernel computes the same exact integers `Σ_k w_{r,k}·q_k` (w ∈ {−1, 0, 1}); the
//! backend turns them into `Σ w·q / s · scale` as the reference does, so the choice of kernel
//! changes speed only, never a logit. I2_S bytes are the hub: a weight of any ternary type is
//! brought to I2_S codes once, and each layout is packed from them.

use super::BackendError;
use crate::formats::i2s;
use crate::gguf::TensorData;
use bitnet_cpu_simd::Level;

/// A ternary matrix-vector kernel of `bitnet-cpu-simd`, with the layout it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TernaryKernel {
    /// I2_S bytes, codes extracted by shift and table lookup (any byte, code 3 included).
    I2s,
    /// I2_S bytes without code 3, each 2-bit field multiplied in place (AVX-512 VNNI).
    I2sMasked,
    /// Pairs of weights as 4-bit table indices, 64-row tiles (TL1's method).
    Lut2,
    /// Triplets as a 4-bit magnitude and a sign bit, 64-row tiles (TL2's method).
    Lut3,
    /// TQ2_0 blocks (2 bits per weight, a scale per 256).
    Tq2,
    /// TQ1_0 blocks (1.69 bits per weight, base-3 digits).
    Tq1,
}

impl TernaryKernel {
    /// Every kernel, in the order they are tried.
    pub const ALL: [TernaryKernel; 6] = [
        TernaryKernel::I2s,
        TernaryKernel::I2sMasked,
        TernaryKernel::Lut2,
        TernaryKernel::Lut3,
        TernaryKernel::Tq2,
        TernaryKernel::Tq1,
    ];

    /// The name used by `--kernel`, the cache and reports.
    pub fn name(self) -> &'static str {
        match self {
            TernaryKernel::I2s => "i2s",
            TernaryKernel::I2sMasked => "i2s-masked",
            TernaryKernel::Lut2 => "lut2",
            TernaryKernel::Lut3 => "lut3",
            TernaryKernel::Tq2 => "tq2",
            TernaryKernel::Tq1 => "tq1",
        }
    }

    /// The kernel called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the kernel can take `cols` columns on this CPU (the masked one needs AVX-512
    /// VNNI; the others run everywhere, at the best level the CPU has).
    pub fn usable(self, cols: usize) -> bool {
        if !cols.is_multiple_of(i2s::BLOCK_WEIGHTS) || cols > bitnet_cpu_simd::i2s_gemv::MAX_COLS {
            return false;
        }
        match self {
            TernaryKernel::I2s => true,
            TernaryKernel::I2sMasked => {
                Level::Avx512Vnni.is_available()
                    && cols <= bitnet_cpu_simd::i2s_masked::MASKED_MAX_COLS
            }
            TernaryKernel::Lut2 | TernaryKernel::Lut3 => {
                cols <= bitnet_cpu_simd::lut_gemv::LUT_MAX_COLS
            }
            TernaryKernel::Tq2 | TernaryKernel::Tq1 => {
                cols.is_multiple_of(bitnet_cpu_simd::TQ_BLOCK_WEIGHTS)
            }
        }
    }

    /// Whether the kernel returns `Σ code·q` with unsigned I2_S codes (`Σ w·q + Σq`).
    fn offset_by_qsum(self) -> bool {
        matches!(self, TernaryKernel::I2s | TernaryKernel::I2sMasked)
    }
}

impl std::fmt::Display for TernaryKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Packed bytes: the file's own (used in place from the memory map) or built at load.
#[derive(Clone)]
pub enum Packed {
    /// The file's bytes (shared with the memory map).
    File(TensorData),
    /// Built at load.
    Owned(Vec<u8>),
}

impl Packed {
    fn bytes(&self) -> &[u8] {
        match self {
            Packed::File(d) => d,
            Packed::Owned(v) => v,
        }
    }
}

/// A ternary matrix in one kernel's layout, with the tensor's scale.
pub struct TernaryMatrix {
    /// Tensor name, for errors.
    pub name: String,
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// The kernel that multiplies it.
    pub kernel: TernaryKernel,
    /// The bytes in the kernel's layout.
    packed: Packed,
    /// The scale every weight multiplies.
    pub scale: f32,
}

impl TernaryMatrix {
    /// A matrix for `kernel` from I2_S code bytes (`rows·cols/4`, no scale tail), repacked
    /// into the kernel's layout. A kernel that cannot take these bytes (the masked one, given
    /// a code 3) falls back to [`TernaryKernel::I2s`], which reads any byte as the dequantizer
    /// does; the other layouts are packed from the dequantized weights (code 3 → 0).
    pub fn from_i2s(
        name: &str,
        rows: usize,
        cols: usize,
        i2s_codes: Packed,
        scale: f32,
        kernel: TernaryKernel,
    ) -> Result<Self, BackendError> {
        let len = rows * cols / 4;
        let werr = |e: crate::formats::FormatError| BackendError::Weight {
            name: name.to_string(),
            source: e,
        };
        if i2s_codes.bytes().len() < len || !kernel.usable(cols) {
            return Err(BackendError::Shape {
                op: "upload_weight",
                why: format!(
                    "'{name}' is {rows}×{cols} with {} code bytes ({len} needed) for kernel {kernel}",
                    i2s_codes.bytes().len()
                ),
            });
        }
        let codes = &i2s_codes.bytes()[..len];
        let weights = || -> Result<Vec<i8>, BackendError> {
            let mut w = vec![0i8; rows * cols];
            i2s::unpack_codes(codes, &mut w).map_err(werr)?;
            Ok(w)
        };
        let (kernel, packed) = match kernel {
            TernaryKernel::I2sMasked if bitnet_cpu_simd::i2s_has_code_3(codes) => {
                (TernaryKernel::I2s, i2s_codes)
            }
            TernaryKernel::I2s | TernaryKernel::I2sMasked => (kernel, i2s_codes),
            TernaryKernel::Lut2 => (
                kernel,
                Packed::Owned(bitnet_cpu_simd::lut2_pack(&weights()?, rows, cols)),
            ),
            TernaryKernel::Lut3 => (
                kernel,
                Packed::Owned(bitnet_cpu_simd::lut3_pack(&weights()?, rows, cols)),
            ),
            TernaryKernel::Tq2 | TernaryKernel::Tq1 => {
                // Blocks with d = 1: the kernel's sums are then Σ w·q exactly (they stay far
                // below 2^24), and the tensor's scale is applied as for the other kernels.
                use crate::formats::{tq1_0, tq2_0};
                type Quantize = fn(&[f32], &mut [u8]) -> Result<(), crate::formats::FormatError>;
                let (block_bytes, quantize): (usize, Quantize) = if kernel == TernaryKernel::Tq2 {
                    (tq2_0::BLOCK_BYTES, tq2_0::quantize_row)
                } else {
                    (tq1_0::BLOCK_BYTES, tq1_0::quantize_row)
                };
                let w: Vec<f32> = weights()?.into_iter().map(f32::from).collect();
                let row_bytes = cols / tq2_0::BLOCK_WEIGHTS * block_bytes;
                let mut out = vec![0u8; rows * row_bytes];
                for (src, dst) in w.chunks_exact(cols).zip(out.chunks_exact_mut(row_bytes)) {
                    quantize(src, dst).map_err(werr)?;
                }
                (kernel, Packed::Owned(out))
            }
        };
        Ok(TernaryMatrix {
            name: name.to_string(),
            rows,
            cols,
            kernel,
            packed,
            scale,
        })
    }

    /// A TQ1_0/TQ2_0 tensor used in place, per-block scales and all (for tensors whose blocks
    /// have different scales, which no single-scale layout can hold). Its scale is 1: the
    /// kernel applies the blocks' own.
    pub fn tq_in_place(
        name: &str,
        rows: usize,
        cols: usize,
        data: TensorData,
        kernel: TernaryKernel,
    ) -> Self {
        TernaryMatrix {
            name: name.to_string(),
            rows,
            cols,
            kernel,
            packed: Packed::File(data),
            scale: 1.0,
        }
    }

    /// Bytes a pass over the matrix reads.
    pub fn bytes(&self) -> usize {
        match self.kernel {
            TernaryKernel::I2s | TernaryKernel::I2sMasked => self.rows * self.cols / 4,
            _ => self.packed.bytes().len(),
        }
    }

    /// Rows a band must start on (the LUT layouts store 64-row tiles).
    pub fn row_align(&self) -> usize {
        match self.kernel {
            TernaryKernel::Lut2 | TernaryKernel::Lut3 => bitnet_cpu_simd::lut_gemv::LUT_TILE_ROWS,
            _ => 1,
        }
    }

    /// Whether the bytes are I2_S rows, which [`Self::band_tokens`] multiplies by several
    /// tokens in one pass (the batched kernel reads code 3 as the dequantizer does, so the
    /// masked layout qualifies too).
    pub fn batches(&self) -> bool {
        matches!(self.kernel, TernaryKernel::I2s | TernaryKernel::I2sMasked)
    }

    /// Rows `r0..r1` against every token of `tokens` in one pass over the bytes:
    /// `out[t·(r1−r0) + i] = Σ_k w_{r0+i,k}·q_{t,k}` as exact integers in f32. Only for a
    /// matrix that [`Self::batches`]; `raw` holds at least `tokens.len()·(r1−r0)` slots.
    pub fn band_tokens(
        &self,
        r0: usize,
        r1: usize,
        tokens: &bitnet_cpu_simd::I2sTokens,
        raw: &mut [i32],
        out: &mut [f32],
    ) {
        debug_assert!(self.batches());
        let (k, rows, n) = (self.cols, r1 - r0, tokens.len());
        let raw = &mut raw[..n * rows];
        bitnet_cpu_simd::i2s_gemm(
            &self.packed.bytes()[r0 * k / 4..r1 * k / 4],
            rows,
            k,
            tokens,
            raw,
        );
        for (t, (o, r)) in out
            .chunks_exact_mut(rows.max(1))
            .zip(raw.chunks_exact(rows.max(1)))
            .enumerate()
        {
            let offset = tokens.sum(t);
            for (o, &v) in o.iter_mut().zip(r) {
                *o = (v - offset) as f32;
            }
        }
    }

    /// `out[i] = Σ_k w_{r0+i,k}·q_k` for rows `r0..r1` of one token (times the block scales
    /// for a TQ tensor used in place), as f32; exact integers otherwise. `qsum = Σ q`. `r0`
    /// is a multiple of [`TernaryMatrix::row_align`].
    pub fn band(
        &self,
        r0: usize,
        r1: usize,
        q: &[i8],
        qsum: i32,
        raw: &mut [i32],
        out: &mut [f32],
    ) {
        let (k, rows) = (self.cols, r1 - r0);
        let bytes = self.packed.bytes();
        let out = &mut out[..rows];
        let raw = &mut raw[..rows];
        let tile_slice = |per_tile: usize| {
            let t = bitnet_cpu_simd::lut_gemv::LUT_TILE_ROWS;
            &bytes[r0 / t * per_tile..r1.div_ceil(t) * per_tile]
        };
        match self.kernel {
            TernaryKernel::I2s => {
                bitnet_cpu_simd::i2s_gemv(&bytes[r0 * k / 4..r1 * k / 4], rows, k, q, raw)
            }
            TernaryKernel::I2sMasked => {
                bitnet_cpu_simd::i2s_gemv_no_code3(&bytes[r0 * k / 4..r1 * k / 4], rows, k, q, raw)
            }
            TernaryKernel::Lut2 => {
                let per_tile =
                    bitnet_cpu_simd::lut2_packed_len(bitnet_cpu_simd::lut_gemv::LUT_TILE_ROWS, k);
                bitnet_cpu_simd::lut2_gemv(tile_slice(per_tile), rows, k, q, raw)
            }
            TernaryKernel::Lut3 => {
                let per_tile =
                    bitnet_cpu_simd::lut3_packed_len(bitnet_cpu_simd::lut_gemv::LUT_TILE_ROWS, k);
                bitnet_cpu_simd::lut3_gemv(tile_slice(per_tile), rows, k, q, raw)
            }
            TernaryKernel::Tq2 => {
                let row = k / bitnet_cpu_simd::TQ_BLOCK_WEIGHTS * bitnet_cpu_simd::TQ2_BLOCK_BYTES;
                bitnet_cpu_simd::tq2_gemv(&bytes[r0 * row..r1 * row], rows, k, q, out);
                return;
            }
            TernaryKernel::Tq1 => {
                let row = k / bitnet_cpu_simd::TQ_BLOCK_WEIGHTS * bitnet_cpu_simd::TQ1_BLOCK_BYTES;
                bitnet_cpu_simd::tq1_gemv(&bytes[r0 * row..r1 * row], rows, k, q, out);
                return;
            }
        }
        let offset = if self.kernel.offset_by_qsum() {
            qsum
        } else {
            0
        };
        for (o, &v) in out.iter_mut().zip(raw.iter()) {
            *o = (v - offset) as f32;
        }
    }
}
