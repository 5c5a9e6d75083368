//! The vector kernels, written once against [`pulp::Simd`] and compiled under whichever token
//! the level asks for (AVX2 + FMA, AVX-512, NEON, or pulp's scalar fallback).
//!
//! Every helper is `#[inline(always)]`: the code only gets the wider instructions when it is
//! inlined into pulp's `#[target_feature]` wrapper. Slice tails shorter than one vector use
//! pulp's partial (masked on AVX-512) loads and stores, so no element is computed by a
//! different formula than its neighbours.

use super::Kernel;
use super::exp::exp;
use super::scalar;
use pulp::{Simd, WithSimd};

/// Widest vector any pulp token has, in f32 lanes (AVX-512); sizes the padded tail buffer.
const MAX_LANES: usize = 16;

/// An elementwise `x = f(x, y)`; the kernels below differ only in `f`.
pub(super) trait Binary: Copy {
    /// `f` on one vector of each.
    fn apply<S: Simd>(self, simd: S, x: S::f32s, y: S::f32s) -> S::f32s;
}

/// Runs `op` over `x` and `y` (equal lengths, checked by the caller).
#[inline(always)]
fn zip_apply<S: Simd, B: Binary>(simd: S, op: B, x: &mut [f32], y: &[f32]) {
    let (xh, xt) = S::as_mut_simd_f32s(x);
    let (yh, yt) = S::as_simd_f32s(y);
    for (a, &b) in xh.iter_mut().zip(yh) {
        *a = op.apply(simd, *a, b);
    }
    if !xt.is_empty() {
        let t = op.apply(simd, simd.partial_load_f32s(xt), simd.partial_load_f32s(yt));
        simd.partial_store_f32s(xt, t);
    }
}

/// `x + y`.
#[derive(Clone, Copy)]
pub(super) struct AddOp;
impl Binary for AddOp {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, x: S::f32s, y: S::f32s) -> S::f32s {
        simd.add_f32s(x, y)
    }
}

/// `max(g, 0)² · u`, multiplied in the reference's order. `max` returns its second operand
/// when the first is NaN on x86, which is `f32::max`'s NaN rule for `g.max(0.0)`.
#[derive(Clone, Copy)]
pub(super) struct Relu2Op;
impl Binary for Relu2Op {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, g: S::f32s, u: S::f32s) -> S::f32s {
        let r = simd.max_f32s(g, simd.splat_f32s(0.0));
        simd.mul_f32s(simd.mul_f32s(r, r), u)
    }
}

/// `g / (1 + e^(−g)) · u` with the vector [`exp`].
#[derive(Clone, Copy)]
pub(super) struct SiluOp;
impl Binary for SiluOp {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, g: S::f32s, u: S::f32s) -> S::f32s {
        let e = exp(simd, simd.neg_f32s(g));
        let d = simd.add_f32s(simd.splat_f32s(1.0), e);
        simd.mul_f32s(simd.div_f32s(g, d), u)
    }
}

/// `a · x + y` (fused where the hardware fuses).
#[derive(Clone, Copy)]
pub(super) struct AxpyOp(pub f32);
impl Binary for AxpyOp {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, y: S::f32s, x: S::f32s) -> S::f32s {
        simd.mul_add_e_f32s(simd.splat_f32s(self.0), x, y)
    }
}

/// An elementwise op on two slices as a pulp kernel.
pub(super) struct Zip<'a, B> {
    pub op: B,
    pub x: &'a mut [f32],
    pub y: &'a [f32],
}

impl<B: Binary> WithSimd for Zip<'_, B> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        zip_apply(simd, self.op, self.x, self.y);
    }
}

impl Kernel for Zip<'_, AddOp> {
    fn scalar(self) {
        scalar::add_scalar(self.x, self.y);
    }
}
impl Kernel for Zip<'_, Relu2Op> {
    fn scalar(self) {
        scalar::relu2_mul_scalar(self.x, self.y);
    }
}
impl Kernel for Zip<'_, SiluOp> {
    fn scalar(self) {
        scalar::silu_mul_scalar(self.x, self.y);
    }
}
impl Kernel for Zip<'_, AxpyOp> {
    fn scalar(self) {
        scalar::axpy_scalar(self.op.0, self.y, self.x);
    }
}

/// `x *= s`.
pub(super) struct Scale<'a> {
    pub x: &'a mut [f32],
    pub s: f32,
}

impl WithSimd for Scale<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let s = simd.splat_f32s(self.s);
        let (xh, xt) = S::as_mut_simd_f32s(self.x);
        for a in xh {
            *a = simd.mul_f32s(*a, s);
        }
        if !xt.is_empty() {
            simd.partial_store_f32s(xt, simd.mul_f32s(simd.partial_load_f32s(xt), s));
        }
    }
}

impl Kernel for Scale<'_> {
    fn scalar(self) {
        scalar::scale_scalar(self.x, self.s);
    }
}

/// RMSNorm of one row.
pub(super) struct RmsNorm<'a> {
    pub x: &'a [f32],
    pub w: &'a [f32],
    pub eps: f32,
    pub out: &'a mut [f32],
}

/// `Σ x²` in f64, in 16 independent lanes that the compiler turns into vector converts and
/// adds under the token's features (pulp has no portable f32→f64 widening). Each square is
/// exact in f64, so this differs from the reference's left-to-right sum only in the last bits
/// of an f64, far below the f32 rounding of the mean.
#[inline(always)]
fn sum_squares_f64(x: &[f32]) -> f64 {
    const L: usize = 16;
    let (chunks, tail) = x.as_chunks::<L>();
    let mut acc = [0f64; L];
    for c in chunks {
        for l in 0..L {
            let v = f64::from(c[l]);
            acc[l] += v * v;
        }
    }
    let tail: f64 = tail.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    acc.iter().sum::<f64>() + tail
}

impl WithSimd for RmsNorm<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let inv = simd.splat_f32s(scalar::inv_rms(
            sum_squares_f64(self.x),
            self.x.len(),
            self.eps,
        ));
        let (xh, xt) = S::as_simd_f32s(self.x);
        let (wh, wt) = S::as_simd_f32s(self.w);
        let (oh, ot) = S::as_mut_simd_f32s(self.out);
        // `x · inv · w` in the reference's order, unfused: the outputs equal its bit for bit
        // whenever the f32 mean does.
        for ((o, &x), &w) in oh.iter_mut().zip(xh).zip(wh) {
            *o = simd.mul_f32s(simd.mul_f32s(x, inv), w);
        }
        if !ot.is_empty() {
            let x = simd.partial_load_f32s(xt);
            let w = simd.partial_load_f32s(wt);
            simd.partial_store_f32s(ot, simd.mul_f32s(simd.mul_f32s(x, inv), w));
        }
    }
}

impl Kernel for RmsNorm<'_> {
    fn scalar(self) {
        scalar::rms_norm_scalar(self.x, self.w, self.eps, self.out);
    }
}

/// NEOX rotation of one head.
pub(super) struct Rope<'a> {
    pub head: &'a mut [f32],
    pub cos: &'a [f32],
    pub sin: &'a [f32],
}

impl WithSimd for Rope<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let half = self.cos.len();
        let (lo, hi) = self.head[..2 * half].split_at_mut(half);
        let (lh, lt) = S::as_mut_simd_f32s(lo);
        let (hh, ht) = S::as_mut_simd_f32s(hi);
        let (ch, ct) = S::as_simd_f32s(self.cos);
        let (sh, st) = S::as_simd_f32s(self.sin);
        for (((a, b), &c), &s) in lh.iter_mut().zip(hh.iter_mut()).zip(ch).zip(sh) {
            (*a, *b) = rotate(simd, *a, *b, c, s);
        }
        if !lt.is_empty() {
            let (a, b) = rotate(
                simd,
                simd.partial_load_f32s(lt),
                simd.partial_load_f32s(ht),
                simd.partial_load_f32s(ct),
                simd.partial_load_f32s(st),
            );
            simd.partial_store_f32s(lt, a);
            simd.partial_store_f32s(ht, b);
        }
    }
}

/// The reference's unfused `(a·c − b·s, a·s + b·c)`: bit-identical rotations.
#[inline(always)]
fn rotate<S: Simd>(simd: S, a: S::f32s, b: S::f32s, c: S::f32s, s: S::f32s) -> (S::f32s, S::f32s) {
    (
        simd.sub_f32s(simd.mul_f32s(a, c), simd.mul_f32s(b, s)),
        simd.add_f32s(simd.mul_f32s(a, s), simd.mul_f32s(b, c)),
    )
}

impl Kernel for Rope<'_> {
    fn scalar(self) {
        scalar::rope_neox_scalar(self.head, self.cos, self.sin);
    }
}

/// `Σ a·b` in four vector accumulators (independent FMA chains).
#[inline(always)]
fn dot<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    let (a4, a1) = ah.as_chunks::<4>();
    let (b4, b1) = bh.as_chunks::<4>();
    for (x, y) in a4.iter().zip(b4) {
        for l in 0..4 {
            acc[l] = simd.mul_add_e_f32s(x[l], y[l], acc[l]);
        }
    }
    for (l, (&x, &y)) in a1.iter().zip(b1).enumerate() {
        acc[l] = simd.mul_add_e_f32s(x, y, acc[l]);
    }
    if !at.is_empty() {
        let (x, y) = (simd.partial_load_f32s(at), simd.partial_load_f32s(bt));
        acc[3] = simd.mul_add_e_f32s(x, y, acc[3]);
    }
    let s = simd.add_f32s(simd.add_f32s(acc[0], acc[1]), simd.add_f32s(acc[2], acc[3]));
    simd.reduce_sum_f32s(s)
}

/// Scores of one query against strided key rows.
pub(super) struct Scores<'a> {
    pub q: &'a [f32],
    pub keys: &'a [f32],
    pub stride: usize,
    pub scale: f32,
    pub out: &'a mut [f32],
}

impl WithSimd for Scores<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let d = self.q.len();
        for (j, s) in self.out.iter_mut().enumerate() {
            *s = dot(simd, self.q, &self.keys[j * self.stride..][..d]) * self.scale;
        }
    }
}

impl Kernel for Scores<'_> {
    fn scalar(self) {
        scalar::attn_scores_scalar(self.q, self.keys, self.stride, self.scale, self.out);
    }
}

/// Loads a tail shorter than a vector with the missing lanes set to −∞ (which neither raises
/// a maximum nor adds to a sum of exponentials).
#[inline(always)]
fn load_tail_neg_inf<S: Simd>(simd: S, tail: &[f32]) -> S::f32s {
    let mut buf = [f32::NEG_INFINITY; MAX_LANES];
    buf[..tail.len()].copy_from_slice(tail);
    simd.partial_load_f32s(&buf)
}

/// Softmax in place.
pub(super) struct Softmax<'a> {
    pub x: &'a mut [f32],
}

impl WithSimd for Softmax<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        if self.x.is_empty() {
            return;
        }
        assert!(
            S::F32_LANES <= MAX_LANES,
            "vectors wider than the tail buffer"
        );
        let (xh, xt) = S::as_mut_simd_f32s(self.x);
        let mut m = simd.splat_f32s(f32::NEG_INFINITY);
        for &v in xh.iter() {
            m = simd.max_f32s(v, m);
        }
        if !xt.is_empty() {
            m = simd.max_f32s(load_tail_neg_inf(simd, xt), m);
        }
        let max = simd.splat_f32s(simd.reduce_max_f32s(m));
        let mut total = simd.splat_f32s(0.0);
        for v in xh.iter_mut() {
            *v = exp(simd, simd.sub_f32s(*v, max));
            total = simd.add_f32s(total, *v);
        }
        if !xt.is_empty() {
            let e = exp(simd, simd.sub_f32s(load_tail_neg_inf(simd, xt), max));
            total = simd.add_f32s(total, e);
            simd.partial_store_f32s(xt, e);
        }
        // Divided, not multiplied by a reciprocal: the reference's `p / total`.
        let total = simd.splat_f32s(simd.reduce_sum_f32s(total));
        for v in xh.iter_mut() {
            *v = simd.div_f32s(*v, total);
        }
        if !xt.is_empty() {
            simd.partial_store_f32s(xt, simd.div_f32s(simd.partial_load_f32s(xt), total));
        }
    }
}

impl Kernel for Softmax<'_> {
    fn scalar(self) {
        scalar::softmax_scalar(self.x);
    }
}

/// Weighted sum of strided rows.
pub(super) struct WeightedSum<'a> {
    pub weights: &'a [f32],
    pub rows: &'a [f32],
    pub stride: usize,
    pub out: &'a mut [f32],
}

impl WithSimd for WeightedSum<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let WeightedSum {
            weights,
            rows,
            stride,
            out,
        } = self;
        let d = out.len();
        let (oh, ot) = S::as_mut_simd_f32s(out);
        // Blocks of 8, then 4, then single vectors: a 128-wide head is one block of 8 on
        // AVX-512 and two on AVX2, so each value row is read once.
        let (o8, rest) = oh.as_chunks_mut::<8>();
        for (b, o) in o8.iter_mut().enumerate() {
            *o = weighted_block(simd, weights, rows, stride, d, 8 * b);
        }
        let mut first = 8 * o8.len();
        let (o4, o1) = rest.as_chunks_mut::<4>();
        for o in o4 {
            *o = weighted_block(simd, weights, rows, stride, d, first);
            first += 4;
        }
        for o in o1 {
            [*o] = weighted_block(simd, weights, rows, stride, d, first);
            first += 1;
        }
        if !ot.is_empty() {
            let start = d - ot.len();
            let mut acc = simd.splat_f32s(0.0);
            for (j, &w) in weights.iter().enumerate() {
                let r = simd.partial_load_f32s(&rows[j * stride + start..][..ot.len()]);
                acc = simd.mul_add_e_f32s(simd.splat_f32s(w), r, acc);
            }
            simd.partial_store_f32s(ot, acc);
        }
    }
}

/// Output vectors `first .. first + B` of a weighted sum, kept in `B` registers across all
/// rows (independent FMA chains), so each row costs loads and FMAs only. The accumulation per
/// element is still row after row, as the reference's.
#[inline(always)]
fn weighted_block<S: Simd, const B: usize>(
    simd: S,
    weights: &[f32],
    rows: &[f32],
    stride: usize,
    d: usize,
    first: usize,
) -> [S::f32s; B] {
    let mut acc = [simd.splat_f32s(0.0); B];
    for (j, &w) in weights.iter().enumerate() {
        let (rh, _) = S::as_simd_f32s(&rows[j * stride..][..d]);
        let r = &rh[first..][..B];
        let w = simd.splat_f32s(w);
        for l in 0..B {
            acc[l] = simd.mul_add_e_f32s(w, r[l], acc[l]);
        }
    }
    acc
}

impl Kernel for WeightedSum<'_> {
    fn scalar(self) {
        scalar::weighted_sum_scalar(self.weights, self.rows, self.stride, self.out);
    }
}

/// [`exp`] over a slice, for the tests of its error bound.
#[cfg(test)]
pub(super) struct ExpSlice<'a>(pub &'a mut [f32]);

#[cfg(test)]
impl WithSimd for ExpSlice<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        for v in self.0.iter_mut() {
            let e = exp(simd, simd.splat_f32s(*v));
            let mut out = [0f32; MAX_LANES];
            simd.partial_store_f32s(&mut out, e);
            *v = out[0];
        }
    }
}
