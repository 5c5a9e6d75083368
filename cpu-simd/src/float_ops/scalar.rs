//! Scalar references: the reference backend's arithmetic, operation for operation (its
//! `rms_norm`, `rope_neox`, `AttnPlan::attend`, `relu2_mul`, `silu_mul`, `add` and `scale`),
//! so [`Level::Scalar`](crate::Level::Scalar) computes exactly what it computes.

use super::{check_pair, check_rms, check_rope, check_rows};

/// `out = x / √(mean(x²) + eps) · w`, the sum of squares taken in f64 as the reference (and
/// ggml) take it, so a long row loses nothing and squares beyond f32's range do not overflow.
///
/// # Panics
/// If `w` or `out` differ in length from `x`.
pub fn rms_norm_scalar(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    check_rms(x, w, out);
    let sum: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let inv = inv_rms(sum, x.len(), eps);
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
        *o = v * inv * g;
    }
}

/// `1/√(mean + eps)` from the f64 sum of squares, rounded where the reference rounds: the
/// mean goes to f32 before `eps` is added (so a mean beyond f32's range makes the factor 0).
#[inline(always)]
pub(super) fn inv_rms(sum: f64, n: usize, eps: f32) -> f32 {
    let mean = (sum / n as f64) as f32;
    1.0 / (mean + eps).sqrt()
}

/// `gate = max(gate, 0)² · up`.
///
/// # Panics
/// If the slices differ in length.
pub fn relu2_mul_scalar(gate: &mut [f32], up: &[f32]) {
    check_pair("relu2_mul", gate.len(), up.len());
    for (g, &u) in gate.iter_mut().zip(up) {
        let r = g.max(0.0);
        *g = r * r * u;
    }
}

/// `gate = gate / (1 + e^(−gate)) · up` (SiLU gating).
///
/// # Panics
/// If the slices differ in length.
pub fn silu_mul_scalar(gate: &mut [f32], up: &[f32]) {
    check_pair("silu_mul", gate.len(), up.len());
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// `x += y`.
///
/// # Panics
/// If the slices differ in length.
pub fn add_scalar(x: &mut [f32], y: &[f32]) {
    check_pair("add", x.len(), y.len());
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// `x *= s`.
pub fn scale_scalar(x: &mut [f32], s: f32) {
    for v in x {
        *v *= s;
    }
}

/// The NEOX rotation table of one position: `cos[i], sin[i]` of `pos · θ^(−2i/n_rot)` for
/// `i < n_rot/2 = cos.len()`.
///
/// The angles are built by repeated multiplication by `θ^(−2/n_rot)` starting from `pos`, as
/// the reference (and ggml) build them, and `cos`/`sin` are the standard library's, so the
/// table is bit-identical to the one the reference rotates with. Every level shares it: the
/// table is computed once per position and reused for every head.
///
/// # Panics
/// If `sin` differs in length from `cos`.
pub fn rope_cos_sin(pos: usize, theta: f32, cos: &mut [f32], sin: &mut [f32]) {
    check_pair("rope_cos_sin", cos.len(), sin.len());
    let n_rot = 2 * cos.len();
    let theta_scale = theta.powf(-2.0 / n_rot as f32);
    let mut angle = pos as f32;
    for (c, s) in cos.iter_mut().zip(sin.iter_mut()) {
        *c = angle.cos();
        *s = angle.sin();
        angle *= theta_scale;
    }
}

/// NEOX rotary embedding of one head vector: for `i < half = cos.len()`, the pair
/// `(head[i], head[i + half])` turns by the angle whose cosine and sine are `cos[i]`, `sin[i]`
/// (from [`rope_cos_sin`]); values from `2·half` on are left alone.
///
/// # Panics
/// If `sin` differs in length from `cos`, or `head` holds fewer than `2·cos.len()` values.
pub fn rope_neox_scalar(head: &mut [f32], cos: &[f32], sin: &[f32]) {
    check_rope(head, cos, sin);
    let half = cos.len();
    for (i, (&c, &s)) in cos.iter().zip(sin).enumerate() {
        let (a, b) = (head[i], head[i + half]);
        head[i] = a * c - b * s;
        head[i + half] = a * s + b * c;
    }
}

/// Attention scores of one query: `out[j] = (q · keys[j·stride ..][.. q.len()]) · scale`, the
/// dot product summed left to right in f32 as the reference sums it.
///
/// # Panics
/// If `keys` is too short for `out.len()` rows of `q.len()` values at `stride`.
pub fn attn_scores_scalar(q: &[f32], keys: &[f32], stride: usize, scale: f32, out: &mut [f32]) {
    check_rows("attn_scores", keys.len(), out.len(), stride, q.len());
    for (j, s) in out.iter_mut().enumerate() {
        let k = &keys[j * stride..][..q.len()];
        *s = q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale;
    }
}

/// Softmax in place: `x[j] = e^(x[j] − max) / Σ e^(x[i] − max)`, the maximum subtracted first
/// so no exponent overflows. NaN inputs are skipped by the maximum, as `f32::max` skips them.
pub fn softmax_scalar(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut total = 0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        total += *v;
    }
    for v in x.iter_mut() {
        *v /= total;
    }
}

/// `y += a · x`.
///
/// # Panics
/// If the slices differ in length.
pub fn axpy_scalar(a: f32, x: &[f32], y: &mut [f32]) {
    check_pair("axpy", x.len(), y.len());
    for (o, &v) in y.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// `out = Σ_j weights[j] · rows[j·stride ..][.. out.len()]`, accumulated row after row from
/// zero, as the reference accumulates attention's value rows.
///
/// # Panics
/// If `rows` is too short for `weights.len()` rows of `out.len()` values at `stride`.
pub fn weighted_sum_scalar(weights: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    check_rows("weighted_sum", rows.len(), weights.len(), stride, out.len());
    out.fill(0.0);
    for (j, &p) in weights.iter().enumerate() {
        let row = &rows[j * stride..][..out.len()];
        for (o, &v) in out.iter_mut().zip(row) {
            *o += p * v;
        }
    }
}
