//! Every level (all of [`Level::ALL`]: the ones this CPU lacks exercise the fallback) against
//! the scalar reference.
//!
//! Tolerance, per element `i`: `got[i]` and `want[i]` agree when both are NaN, when they are
//! equal (this covers infinities and signed zeros), or when
//!
//! ```text
//! |got[i] − want[i]| ≤ 1e-5 · scale[i]
//! ```
//!
//! where `scale[i] ≥ |want[i]|` is the magnitude of the values element `i` is computed from,
//! named per op beside its test (e.g. `|x| + |y|` for `add`, `Σ_k |q_k·k_k|·|scale|` for a
//! score). It is the bound float rounding can reach, so an error in a formula fails it while
//! a different summation order or a fused multiply-add passes.

use super::*;
use proptest::prelude::*;

const TOL: f64 = 1e-5;
const LENS: [usize; 6] = [0, 1, 15, 17, 2560, 2561];

/// xorshift64*: reproducible data without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Uniform in [−1, 1).
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        bits as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize, amp: f32) -> Vec<f32> {
        (0..n).map(|_| self.unit() * amp).collect()
    }
}

fn assert_close(what: &str, level: Level, got: &[f32], want: &[f32], scale: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what} at {level}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if (g.is_nan() && w.is_nan()) || g == w {
            continue;
        }
        let err = (f64::from(g) - f64::from(w)).abs();
        assert!(
            err <= TOL * scale[i],
            "{what} at {level}, element {i}: {g} vs reference {w} (|Δ| {err:e}, scale {:e})",
            scale[i]
        );
    }
}

fn abs(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| f64::from(x.abs())).collect()
}

/// RMSNorm: scale = |want| (every step but the mean is the reference's own operation).
fn check_rms_norm(x: &[f32], w: &[f32]) {
    let mut want = vec![0f32; x.len()];
    rms_norm_scalar(x, w, 1e-6, &mut want);
    for level in Level::ALL {
        let mut got = vec![f32::NAN; x.len()];
        rms_norm_at(level, x, w, 1e-6, &mut got);
        assert_close("rms_norm", level, &got, &want, &abs(&want));
    }
}

#[test]
fn rms_norm_matches_reference() {
    let mut rng = Rng::new(1);
    for n in LENS {
        check_rms_norm(&rng.vec(n, 3.0), &rng.vec(n, 2.0));
        check_rms_norm(&vec![0.0; n], &rng.vec(n, 2.0));
    }
}

#[test]
fn rms_norm_large_magnitudes() {
    let mut rng = Rng::new(2);
    let w = rng.vec(2561, 2.0);
    // Squares of 1e18 overflow f32, their f64 mean (1e36) does not: a real normalisation.
    let big: Vec<f32> = rng.vec(2561, 1.0).iter().map(|v| v * 1e18).collect();
    check_rms_norm(&big, &w);
    let mut out = vec![0f32; 2561];
    rms_norm(&big, &w, 1e-6, &mut out);
    assert!(out.iter().all(|v| v.is_finite()) && out.iter().any(|&v| v != 0.0));
    // One square beyond f32's range in a row whose mean is within it.
    let mut spike = rng.vec(2560, 1.0);
    spike[100] = 2e19;
    check_rms_norm(&spike, &w[..2560]);
    // ±1e30: the reference's f32 mean is +∞ and it writes zeros; so must every level.
    let huge: Vec<f32> = (0..2561)
        .map(|i| if i % 3 == 0 { -1e30 } else { 1e30 })
        .collect();
    check_rms_norm(&huge, &w);
    rms_norm(&huge, &w, 1e-6, &mut out);
    assert!(out.iter().all(|&v| v == 0.0));
}

/// Elementwise binary ops: `op_at` against `op_scalar` on (x, y), with a per-element scale.
type BinAt = fn(Level, &mut [f32], &[f32]);
type BinScalar = fn(&mut [f32], &[f32]);

fn check_binary(
    what: &str,
    at: BinAt,
    scalar: BinScalar,
    x: &[f32],
    y: &[f32],
    scale: impl Fn(f32, f32, f32) -> f64,
) {
    let mut want = x.to_vec();
    scalar(&mut want, y);
    let scale: Vec<f64> = x
        .iter()
        .zip(y)
        .zip(&want)
        .map(|((&a, &b), &w)| scale(a, b, w))
        .collect();
    for level in Level::ALL {
        let mut got = x.to_vec();
        at(level, &mut got, y);
        assert_close(what, level, &got, &want, &scale);
    }
}

/// add: scale = |x| + |y|.
fn check_add(x: &[f32], y: &[f32]) {
    check_binary("add", add_at, add_scalar, x, y, |a, b, _| {
        f64::from(a.abs()) + f64::from(b.abs())
    });
}

/// relu²·up: scale = |want| (the reference's operations, exactly).
fn check_relu2(x: &[f32], y: &[f32]) {
    check_binary(
        "relu2_mul",
        relu2_mul_at,
        relu2_mul_scalar,
        x,
        y,
        |_, _, w| f64::from(w.abs()),
    );
}

/// silu·up: scale = |gate·up| ≥ |silu(gate)·up|; the exponential's 2e-7 moves the result by
/// at most that much of it.
fn check_silu(x: &[f32], y: &[f32]) {
    check_binary("silu_mul", silu_mul_at, silu_mul_scalar, x, y, |a, b, _| {
        (f64::from(a) * f64::from(b)).abs()
    });
}

#[test]
fn elementwise_ops_match_reference() {
    let mut rng = Rng::new(3);
    for n in LENS {
        let (x, y) = (rng.vec(n, 10.0), rng.vec(n, 10.0));
        check_add(&x, &y);
        check_relu2(&x, &y);
        check_silu(&x, &y);
        let zeros = vec![0f32; n];
        for f in [check_add, check_relu2, check_silu] {
            f(&zeros, &y);
            f(&x, &zeros);
        }
    }
}

#[test]
fn elementwise_ops_at_extremes() {
    let mut rng = Rng::new(4);
    // ±1e30 (products overflow to ±∞ as the reference's do), values past SiLU's exponent
    // range, and the boundaries of the vector exponential.
    let mut x: Vec<f32> = rng.vec(2561, 1.0).iter().map(|v| v * 1e30).collect();
    let specials = [
        -1e30, 1e30, -100.0, 100.0, -88.0, 88.0, -87.5, 87.5, -90.0, 90.0, -104.5, 104.5, 0.0, -0.0,
    ];
    x[..specials.len()].copy_from_slice(&specials);
    let y: Vec<f32> = rng.vec(2561, 1.0).iter().map(|v| v * 1e30).collect();
    check_add(&x, &y);
    check_relu2(&x, &y);
    check_silu(&x, &y);
    let small = rng.vec(2561, 3.0);
    check_silu(&x, &small);
    check_relu2(&x, &small);
    // ReLU² of negatives is zero, whatever `up` is.
    let neg: Vec<f32> = rng.vec(2561, 1.0).iter().map(|v| -v.abs() - 1e-3).collect();
    let mut g = neg.clone();
    relu2_mul(&mut g, &small);
    assert!(g.iter().all(|&v| v == 0.0));
    check_relu2(&neg, &small);
}

/// x86's `max` returns its second operand for a NaN first one, which is `f32::max`'s rule.
#[cfg(target_arch = "x86_64")]
#[test]
fn relu2_of_nan_gate_is_zero_like_the_reference() {
    let mut rng = Rng::new(5);
    let mut x = rng.vec(33, 2.0);
    x[3] = f32::NAN;
    x[32] = f32::NAN;
    let y = rng.vec(33, 2.0);
    check_relu2(&x, &y);
}

/// scale: scale = |x·s|.
#[test]
fn scale_matches_reference() {
    let mut rng = Rng::new(6);
    for n in LENS {
        for s in [0.5f32, -3.25, 0.0, 1e30] {
            let x = rng.vec(n, 1e10);
            let mut want = x.clone();
            scale_scalar(&mut want, s);
            let sc: Vec<f64> = x.iter().map(|&v| f64::from((v * s).abs())).collect();
            for level in Level::ALL {
                let mut got = x.clone();
                scale_at(level, &mut got, s);
                assert_close("scale", level, &got, &want, &sc);
            }
        }
    }
}

/// axpy: scale = |y| + |a·x|.
#[test]
fn axpy_matches_reference() {
    let mut rng = Rng::new(7);
    for n in LENS {
        for a in [0.75f32, -2.0, 0.0, 1e30] {
            let (x, y) = (rng.vec(n, 5.0), rng.vec(n, 5.0));
            let mut want = y.clone();
            axpy_scalar(a, &x, &mut want);
            let sc: Vec<f64> = x
                .iter()
                .zip(&y)
                .map(|(&u, &v)| f64::from(v.abs()) + (f64::from(a) * f64::from(u)).abs())
                .collect();
            for level in Level::ALL {
                let mut got = y.clone();
                axpy_at(level, a, &x, &mut got);
                assert_close("axpy", level, &got, &want, &sc);
            }
        }
    }
}

/// RoPE: scale = |a| + |b| of the pair (|cos|, |sin| ≤ 1); values past n_rot are untouched.
fn check_rope(head: &[f32], pos: usize, n_rot: usize, theta: f32) {
    let (mut cos, mut sin) = (vec![0f32; n_rot / 2], vec![0f32; n_rot / 2]);
    rope_cos_sin(pos, theta, &mut cos, &mut sin);
    let mut want = head.to_vec();
    rope_neox_scalar(&mut want, &cos, &sin);
    let half = n_rot / 2;
    let sc: Vec<f64> = (0..head.len())
        .map(|i| {
            let j = if i < half { i + half } else { i - half };
            f64::from(head[i].abs()) + f64::from(head[j].abs())
        })
        .collect();
    for level in Level::ALL {
        let mut got = head.to_vec();
        rope_neox_at(level, &mut got, &cos, &sin);
        assert_close("rope_neox", level, &got, &want, &sc);
        assert_eq!(
            got[n_rot..],
            head[n_rot..],
            "rope_neox at {level}: past n_rot"
        );
    }
}

#[test]
fn rope_matches_reference() {
    let mut rng = Rng::new(8);
    for (head_dim, n_rot) in [
        (128, 128),
        (128, 64),
        (34, 30),
        (2, 2),
        (5, 0),
        (5122, 5122),
    ] {
        for pos in [0, 1, 17, 4095, 100_000] {
            check_rope(&rng.vec(head_dim, 4.0), pos, n_rot, 500_000.0);
            check_rope(&rng.vec(head_dim, 1e30), pos, n_rot, 10_000.0);
        }
    }
}

/// The table is the reference's: angle `pos·θ^(−2i/n_rot)` by repeated multiplication.
#[test]
fn rope_table_is_the_reference_angles() {
    let (mut cos, mut sin) = (vec![0f32; 64], vec![0f32; 64]);
    rope_cos_sin(37, 500_000.0, &mut cos, &mut sin);
    let step = 500_000f32.powf(-2.0 / 128.0);
    let mut angle = 37f32;
    for i in 0..64 {
        assert_eq!((cos[i], sin[i]), (angle.cos(), angle.sin()), "pair {i}");
        angle *= step;
    }
    assert_eq!((cos[0], sin[0]), (37f32.cos(), 37f32.sin()));
}

/// Attention scores: scale = Σ_k |q_k·key_k| · |scale|.
fn check_scores(q: &[f32], keys: &[f32], stride: usize, n: usize) {
    let s = 1.0 / (q.len().max(1) as f32).sqrt();
    let mut want = vec![0f32; n];
    attn_scores_scalar(q, keys, stride, s, &mut want);
    let sc: Vec<f64> = (0..n)
        .map(|j| {
            let k = &keys[j * stride..][..q.len()];
            q.iter()
                .zip(k)
                .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
                .sum::<f64>()
                * f64::from(s)
        })
        .collect();
    for level in Level::ALL {
        let mut got = vec![f32::NAN; n];
        attn_scores_at(level, q, keys, stride, s, &mut got);
        assert_close("attn_scores", level, &got, &want, &sc);
    }
}

/// Weighted sum: scale[d] = Σ_j |w_j · row_j[d]|.
fn check_weighted(w: &[f32], rows: &[f32], stride: usize, d: usize) {
    let mut want = vec![0f32; d];
    weighted_sum_scalar(w, rows, stride, &mut want);
    let sc: Vec<f64> = (0..d)
        .map(|i| {
            w.iter()
                .enumerate()
                .map(|(j, &p)| (f64::from(p) * f64::from(rows[j * stride + i])).abs())
                .sum()
        })
        .collect();
    for level in Level::ALL {
        let mut got = vec![f32::NAN; d];
        weighted_sum_at(level, w, rows, stride, &mut got);
        assert_close("weighted_sum", level, &got, &want, &sc);
    }
}

#[test]
fn attention_steps_match_reference() {
    let mut rng = Rng::new(9);
    for d in [0, 1, 15, 17, 128, 2561] {
        for n in [0, 1, 15, 17, 513] {
            // Rows at a stride wider than the head (other KV heads in between), the last row
            // ending exactly at the end of the slice.
            let stride = 3 * d + 5;
            let len = if n == 0 { 0 } else { (n - 1) * stride + d };
            let (q, keys) = (rng.vec(d, 2.0), rng.vec(len, 2.0));
            check_scores(&q, &keys, stride, n);
            check_weighted(&rng.vec(n, 1.0), &keys, stride, d);
            check_scores(&vec![0.0; d], &keys, stride, n);
            check_weighted(&vec![0.0; n], &keys, stride, d);
        }
    }
    // Large magnitudes.
    let (d, n, stride) = (128, 33, 128);
    let q = rng.vec(d, 1e15);
    let keys = rng.vec(n * stride, 1e15);
    check_scores(&q, &keys, stride, n);
    check_weighted(&rng.vec(n, 1e20), &keys, stride, d);
}

/// Softmax: scale = |want| + 2⁻¹²⁶ (the floor admits probabilities below f32's normal range,
/// which the reference makes subnormal and the vector exponential may round differently).
fn check_softmax(x: &[f32]) {
    let mut want = x.to_vec();
    softmax_scalar(&mut want);
    let sc: Vec<f64> = want
        .iter()
        .map(|&p| f64::from(p.abs()) + f64::from(f32::MIN_POSITIVE))
        .collect();
    for level in Level::ALL {
        let mut got = x.to_vec();
        softmax_at(level, &mut got);
        assert_close("softmax", level, &got, &want, &sc);
    }
}

#[test]
fn softmax_matches_reference() {
    let mut rng = Rng::new(10);
    for n in LENS {
        check_softmax(&rng.vec(n, 8.0));
        check_softmax(&rng.vec(n, 60.0));
        check_softmax(&vec![0.0; n]);
        // Spread of 2e30: everything but the maximum underflows to exactly 0.
        let mut big = rng.vec(n, 1e30);
        check_softmax(&big);
        // −∞ scores (masked positions) give exactly 0.
        if n > 1 {
            big[0] = f32::NEG_INFINITY;
            check_softmax(&big);
        }
    }
    // The maximum in the tail only.
    let mut x = rng.vec(17, 1.0);
    x[16] = 50.0;
    check_softmax(&x);
    let mut got = x.clone();
    softmax(&mut got);
    let sum: f32 = got.iter().sum();
    assert!((sum - 1.0).abs() < 1e-6, "{sum}");
}

impl Kernel for simd::ExpSlice<'_> {
    fn scalar(self) {
        for v in self.0 {
            *v = v.exp();
        }
    }
}

/// The vector exponential's documented bound: 2e-7 relative for normal results, 2⁻¹⁴⁹
/// absolute below, ±∞ exactly where f32 overflows.
#[test]
fn vector_exp_error_bound() {
    let mut xs: Vec<f32> = (-110_000..=95_000).map(|i| i as f32 * 1e-3).collect();
    let mut rng = Rng::new(11);
    xs.extend((0..50_000).map(|_| rng.unit() * 2.0));
    xs.extend([
        88.722_84,
        88.722_83,
        88.72,
        -87.336_54,
        -103.97,
        -103.98,
        -104.0,
        -104.01,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        1e-30,
        -1e-30,
    ]);
    for level in Level::ALL {
        let mut got = xs.clone();
        run(level, simd::ExpSlice(&mut got));
        let mut worst = 0f64;
        for (&x, &g) in xs.iter().zip(&got) {
            let exact = f64::from(x).exp();
            let want = exact as f32;
            if want.is_infinite() || g.is_infinite() {
                assert_eq!(g, want, "exp({x}) at {level}");
                continue;
            }
            let err = (f64::from(g) - exact).abs();
            if exact >= f64::from(f32::MIN_POSITIVE) {
                worst = worst.max(err / exact);
                assert!(err <= 2e-7 * exact, "exp({x}) at {level}: {g} vs {exact}");
            } else {
                assert!(
                    err <= 2f64.powi(-149),
                    "exp({x}) at {level}: {g} vs {exact}"
                );
            }
        }
        eprintln!("exp at {level}: worst relative error {worst:e}");
    }
    let mut nan = [f32::NAN; 3];
    run(Level::detect(), simd::ExpSlice(&mut nan));
    assert!(nan.iter().all(|v| v.is_nan()));
}

fn vec_of(len: std::ops::Range<usize>, amp: f32) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-amp..amp, len)
}

proptest! {
    #[test]
    fn prop_rms_norm((x, w) in (0usize..300).prop_flat_map(|n| (vec_of(n..n + 1, 1e4), vec_of(n..n + 1, 4.0)))) {
        check_rms_norm(&x, &w);
    }

    #[test]
    fn prop_gates((x, y) in (0usize..300).prop_flat_map(|n| (vec_of(n..n + 1, 200.0), vec_of(n..n + 1, 1e3)))) {
        check_silu(&x, &y);
        check_relu2(&x, &y);
        check_add(&x, &y);
    }

    #[test]
    fn prop_softmax(x in vec_of(0..600, 100.0)) {
        check_softmax(&x);
    }

    #[test]
    fn prop_attention(d in 0usize..70, n in 0usize..40, pad in 0usize..9, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let stride = d + pad;
        let len = if n == 0 { 0 } else { (n - 1) * stride + d };
        let (q, keys) = (rng.vec(d, 3.0), rng.vec(len, 3.0));
        check_scores(&q, &keys, stride, n);
        check_weighted(&rng.vec(n, 1.0), &keys, stride, d);
    }
}

#[test]
#[should_panic(expected = "rms_norm")]
fn mismatched_lengths_panic() {
    let mut out = [0f32; 3];
    rms_norm(&[1.0; 4], &[1.0; 4], 1e-6, &mut out);
}

#[test]
#[should_panic(expected = "weighted_sum")]
fn short_rows_panic() {
    let mut out = [0f32; 4];
    weighted_sum(&[1.0, 1.0], &[0.0; 7], 4, &mut out);
}
