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
//!
//! SIMD dispatch is decided at run time with [`pulp::Arch`] (AVX-512 / AVX2 on
//! x86-64, NEON on aarch64, scalar elsewhere) plus explicit detection of AVX-512 VNNI, so one
//! binary runs everywhere.
#![warn(missing_docs)]

pub mod act_quant;
pub mod f16_dot;
pub mod f32_dot;
pub mod i2s_gemv;
pub mod q8_dot;

pub use act_quant::{ActScale, quantize_row_i8};
pub use f16_dot::{f16_dot, f16_dot_scalar};
pub use f32_dot::dot_f32;
pub use i2s_gemv::{
    I2S_BLOCK_BYTES, I2S_BLOCK_WEIGHTS, i2s_gemv, i2s_gemv_portable, i2s_gemv_scalar, simd_level,
};
pub use q8_dot::{Q8_BLOCK, q8_row_dot, q8_row_dot_scalar};
