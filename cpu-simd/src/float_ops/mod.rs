//! The float operations of the BitNet graph around the matmuls: RMSNorm, the FFN gates
//! (ReLU² and SiLU), residual add and scale, NEOX RoPE, and attention's three steps (query·key
//! scores, softmax, weighted sum of value rows), one row or head vector at a time.
//!
//! Each op has three entry points:
//!
//! * `op_scalar`: the reference backend's arithmetic, operation for operation. It is the
//!   specification.
//! * `op_at(level, …)`: the op at one [`Level`]. There is one vector implementation per op,
//!   written against [`pulp::Simd`]; a level picks the pulp token it is compiled under:
//!   [`Level::Scalar`] runs `op_scalar`, [`Level::Portable`] runs under [`pulp::Arch::new`]'s
//!   choice, [`Level::Avx2`] under `pulp::x86::V3` (AVX2 + FMA), [`Level::Avx512`] and
//!   [`Level::Avx512Vnni`] under `pulp::x86::V4`. A level this CPU cannot run falls back to the
//!   best one below it that it can.
//! * `op(…)`: `op_at` at the best level of this CPU ([`Level::detect`], cached).
//!
//! Agreement with the scalar reference (the tests hold every level to it):
//!
//! * `rms_norm`, `add`, `scale`, `relu2_mul` and `rope_neox` compute each element with the
//!   reference's operations in its order, unfused, so they are bit-identical (RMSNorm's f64
//!   sum of squares is summed in a different order, which moves the f32 mean in rare cases by
//!   one ulp).
//! * `silu_mul` and `softmax` use a vector `e^x` within 2e-7 relative of the exact value
//!   (the private `exp` module documents the bound), and softmax sums in lanes: within 1e-6
//!   relative per element.
//! * `attn_scores`, `axpy` and `weighted_sum` fuse multiply-adds and `attn_scores` sums in
//!   lanes: within float rounding of the sums, i.e. `1e-5 · Σ|terms|`.
//!
//! Lengths must agree (documented per op); a mismatch is a caller bug and panics, before any
//! vector code runs.

mod exp;
mod scalar;
mod simd;
#[cfg(test)]
mod tests;

pub use scalar::{
    add_scalar, attn_scores_scalar, axpy_scalar, relu2_mul_scalar, rms_norm_scalar, rope_cos_sin,
    rope_neox_scalar, scale_scalar, silu_mul_scalar, softmax_scalar, weighted_sum_scalar,
};

use crate::Level;
use std::sync::OnceLock;

/// A vector kernel that also knows its scalar reference.
trait Kernel: pulp::WithSimd + Sized {
    /// The same op computed by the `*_scalar` reference.
    fn scalar(self) -> Self::Output;
}

/// Runs `k` at `level`, or at the best level below it that this CPU has.
#[inline]
fn run<K: Kernel>(level: Level, k: K) -> K::Output {
    if level == Level::Scalar {
        return k.scalar();
    }
    #[cfg(target_arch = "x86_64")]
    {
        if matches!(level, Level::Avx512 | Level::Avx512Vnni)
            && let Some(simd) = pulp::x86::V4::try_new()
        {
            return pulp::Simd::vectorize(simd, k);
        }
        if level >= Level::Avx2
            && let Some(simd) = pulp::x86::V3::try_new()
        {
            return pulp::Simd::vectorize(simd, k);
        }
    }
    pulp::Arch::new().dispatch(k)
}

/// The best level of this CPU, detected once.
fn best() -> Level {
    static BEST: OnceLock<Level> = OnceLock::new();
    *BEST.get_or_init(Level::detect)
}

fn check_pair(op: &str, a: usize, b: usize) {
    assert_eq!(a, b, "{op}: slices of {a} and {b} values");
}

fn check_rms(x: &[f32], w: &[f32], out: &[f32]) {
    assert!(
        w.len() == x.len() && out.len() == x.len(),
        "rms_norm: {} inputs, {} weights, {} outputs",
        x.len(),
        w.len(),
        out.len()
    );
}

fn check_rope(head: &[f32], cos: &[f32], sin: &[f32]) {
    check_pair("rope_neox", cos.len(), sin.len());
    assert!(
        head.len() >= 2 * cos.len(),
        "rope_neox: a head of {} values cannot rotate {} pairs",
        head.len(),
        cos.len()
    );
}

/// `rows` rows of `width` values at `stride` must fit in `have` values.
fn check_rows(op: &str, have: usize, rows: usize, stride: usize, width: usize) {
    let need = match rows {
        0 => 0,
        n => (n - 1)
            .checked_mul(stride)
            .and_then(|v| v.checked_add(width))
            .unwrap_or(usize::MAX),
    };
    assert!(
        have >= need,
        "{op}: {rows} rows of {width} at stride {stride} need {need} values, have {have}"
    );
}

/// [`rms_norm_scalar`] at `level`.
///
/// # Panics
/// If `w` or `out` differ in length from `x`.
pub fn rms_norm_at(level: Level, x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    check_rms(x, w, out);
    run(level, simd::RmsNorm { x, w, eps, out });
}

/// [`rms_norm_scalar`] at the best level of this CPU.
///
/// # Panics
/// As [`rms_norm_at`].
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    rms_norm_at(best(), x, w, eps, out);
}

/// [`relu2_mul_scalar`] at `level`.
///
/// # Panics
/// If the slices differ in length.
pub fn relu2_mul_at(level: Level, gate: &mut [f32], up: &[f32]) {
    check_pair("relu2_mul", gate.len(), up.len());
    run(
        level,
        simd::Zip {
            op: simd::Relu2Op,
            x: gate,
            y: up,
        },
    );
}

/// [`relu2_mul_scalar`] at the best level of this CPU.
///
/// # Panics
/// As [`relu2_mul_at`].
pub fn relu2_mul(gate: &mut [f32], up: &[f32]) {
    relu2_mul_at(best(), gate, up);
}

/// [`silu_mul_scalar`] at `level`.
///
/// # Panics
/// If the slices differ in length.
pub fn silu_mul_at(level: Level, gate: &mut [f32], up: &[f32]) {
    check_pair("silu_mul", gate.len(), up.len());
    run(
        level,
        simd::Zip {
            op: simd::SiluOp,
            x: gate,
            y: up,
        },
    );
}

/// [`silu_mul_scalar`] at the best level of this CPU.
///
/// # Panics
/// As [`silu_mul_at`].
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    silu_mul_at(best(), gate, up);
}

/// [`add_scalar`] (`x += y`) at `level`.
///
/// # Panics
/// If the slices differ in length.
pub fn add_at(level: Level, x: &mut [f32], y: &[f32]) {
    check_pair("add", x.len(), y.len());
    run(
        level,
        simd::Zip {
            op: simd::AddOp,
            x,
            y,
        },
    );
}

/// [`add_scalar`] (`x += y`) at the best level of this CPU.
///
/// # Panics
/// As [`add_at`].
pub fn add(x: &mut [f32], y: &[f32]) {
    add_at(best(), x, y);
}

/// [`scale_scalar`] (`x *= s`) at `level`.
pub fn scale_at(level: Level, x: &mut [f32], s: f32) {
    run(level, simd::Scale { x, s });
}

/// [`scale_scalar`] (`x *= s`) at the best level of this CPU.
pub fn scale(x: &mut [f32], s: f32) {
    scale_at(best(), x, s);
}

/// [`rope_neox_scalar`] at `level`; `cos`/`sin` come from [`rope_cos_sin`].
///
/// # Panics
/// If `sin` differs in length from `cos`, or `head` holds fewer than `2·cos.len()` values.
pub fn rope_neox_at(level: Level, head: &mut [f32], cos: &[f32], sin: &[f32]) {
    check_rope(head, cos, sin);
    run(level, simd::Rope { head, cos, sin });
}

/// [`rope_neox_scalar`] at the best level of this CPU.
///
/// # Panics
/// As [`rope_neox_at`].
pub fn rope_neox(head: &mut [f32], cos: &[f32], sin: &[f32]) {
    rope_neox_at(best(), head, cos, sin);
}

/// [`attn_scores_scalar`] at `level`: `out[j] = (q · keys[j·stride ..][.. q.len()]) · scale`.
///
/// # Panics
/// If `keys` is too short for `out.len()` rows of `q.len()` values at `stride`.
pub fn attn_scores_at(
    level: Level,
    q: &[f32],
    keys: &[f32],
    stride: usize,
    scale: f32,
    out: &mut [f32],
) {
    check_rows("attn_scores", keys.len(), out.len(), stride, q.len());
    run(
        level,
        simd::Scores {
            q,
            keys,
            stride,
            scale,
            out,
        },
    );
}

/// [`attn_scores_scalar`] at the best level of this CPU.
///
/// # Panics
/// As [`attn_scores_at`].
pub fn attn_scores(q: &[f32], keys: &[f32], stride: usize, scale: f32, out: &mut [f32]) {
    attn_scores_at(best(), q, keys, stride, scale, out);
}

/// [`softmax_scalar`] (max-subtracted, in place) at `level`.
pub fn softmax_at(level: Level, x: &mut [f32]) {
    run(level, simd::Softmax { x });
}

/// [`softmax_scalar`] at the best level of this CPU.
pub fn softmax(x: &mut [f32]) {
    softmax_at(best(), x);
}

/// [`axpy_scalar`] (`y += a·x`) at `level`.
///
/// # Panics
/// If the slices differ in length.
pub fn axpy_at(level: Level, a: f32, x: &[f32], y: &mut [f32]) {
    check_pair("axpy", x.len(), y.len());
    run(
        level,
        simd::Zip {
            op: simd::AxpyOp(a),
            x: y,
            y: x,
        },
    );
}

/// [`axpy_scalar`] (`y += a·x`) at the best level of this CPU.
///
/// # Panics
/// As [`axpy_at`].
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    axpy_at(best(), a, x, y);
}

/// [`weighted_sum_scalar`] at `level`: `out = Σ_j weights[j] · rows[j·stride ..][.. out.len()]`
/// (attention's probabilities times its value rows).
///
/// # Panics
/// If `rows` is too short for `weights.len()` rows of `out.len()` values at `stride`.
pub fn weighted_sum_at(
    level: Level,
    weights: &[f32],
    rows: &[f32],
    stride: usize,
    out: &mut [f32],
) {
    check_rows("weighted_sum", rows.len(), weights.len(), stride, out.len());
    run(
        level,
        simd::WeightedSum {
            weights,
            rows,
            stride,
            out,
        },
    );
}

/// [`weighted_sum_scalar`] at the best level of this CPU.
///
/// # Panics
/// As [`weighted_sum_at`].
pub fn weighted_sum(weights: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    weighted_sum_at(best(), weights, rows, stride, out);
}
