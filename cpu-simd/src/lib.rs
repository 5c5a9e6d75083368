//! Pure CPU kernels for BitNet b1.58 inference, written against plain slices.
//!
//! This crate is a leaf: it knows byte layouts and arithmetic, nothing about
//! models, files or devices. Every kernel has an obviously-correct scalar
//! reference beside its SIMD version, and the tests hold the two to exact
//! equality (all the arithmetic here is integer, so "close" is not good
//! enough).
//!
//! The two kernels together implement bitnet.cpp's I2_S matrix-vector path
//! (see `specs/formats-and-models.md` §1.2 and §2):
//!
//! 1. [`quantize_row_i8`] turns one f32 activation row into int8 codes plus the
//!    per-token scale `s` and the code sum `A = Σq`.
//! 2. [`i2s_gemv()`] computes `raw_r = Σ_k code_{r,k}·q_k` straight from the packed
//!    I2_S bytes, with codes in {0, 1, 2}.
//! 3. The caller finishes with `y_r = ((raw_r as f32) − (A as f32)) / s · w_scale`,
//!    which equals `Σ_k w_{r,k}·q_k / s · w_scale` because `w = code − 1`.
//!
//! Beside them, for the float side of the graph: [`dot_f32`], [`f16_dot()`] (F16 rows converted
//! in registers) and [`q8_row_dot`] (Q8_0 rows × int8 activations), the LM head's kernels.
//! [`float_ops`] holds the rest of the graph's float arithmetic (RMSNorm, RoPE, the FFN gates,
//! attention's scores, softmax and weighted sum), each at every [`Level`] and held to the
//! reference backend's arithmetic.
//!
//! SIMD dispatch is decided at run time with [`pulp::Arch`] (AVX-512 / AVX2 on
//! x86-64, NEON on aarch64, scalar elsewhere) plus explicit detection of AVX-512 VNNI, so one
//! binary runs everywhere.
#![warn(missing_docs)]

pub mod act_quant;
pub mod f16_dot;
pub mod f32_dot;
pub mod float_ops;
pub mod i2s_gemm;
pub mod i2s_gemv;
pub mod i2s_masked;
pub mod level;
pub mod lut_gemv;
pub mod q6k_dot;
pub mod q8_dot;
#[cfg(test)]
mod test_rng;
pub mod tq_gemv;

pub use act_quant::{ActScale, quantize_row_i8};
pub use f16_dot::{f16_dot, f16_dot_scalar, f16_dots};
pub use f32_dot::dot_f32;
pub use i2s_gemm::{GEMM_TOKENS, I2sTokens, i2s_gemm, i2s_gemm_at};
pub use i2s_gemv::{
    I2S_BLOCK_BYTES, I2S_BLOCK_WEIGHTS, i2s_gemv, i2s_gemv_at, i2s_gemv_portable, i2s_gemv_scalar,
    simd_level,
};
pub use i2s_masked::{i2s_gemv_no_code3, i2s_gemv_no_code3_at, i2s_has_code_3};
pub use level::Level;
pub use lut_gemv::{
    lut2_gemv, lut2_gemv_at, lut2_gemv_scalar, lut2_pack, lut2_packed_len, lut2_unpack, lut3_gemv,
    lut3_gemv_at, lut3_gemv_scalar, lut3_pack, lut3_packed_len, lut3_unpack,
};
pub use q6k_dot::{Q6K_BLOCK, Q6kActs, Q6kRows, q6k_row_dot_scalar};
pub use q8_dot::{Q8_BLOCK, q8_row_dot, q8_row_dot_scalar};
pub use tq_gemv::{
    TQ_BLOCK_WEIGHTS, TQ1_BLOCK_BYTES, TQ2_BLOCK_BYTES, tq1_block_sums_at, tq1_gemv, tq1_gemv_at,
    tq1_gemv_scalar, tq2_block_sums_at, tq2_gemv, tq2_gemv_at, tq2_gemv_scalar,
};
