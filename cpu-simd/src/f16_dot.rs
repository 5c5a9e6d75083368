//! `Σ w·x` with `w` stored as little-endian f16 (the LM head as synthesized and as llama.cpp
//! writes embeddings), converted in registers: AVX-512's `vcvtph2ps` and FMA on x86-64-v4,
//! a convert-then-dot loop elsewhere.

use half::f16;

/// Scalar reference: each f16 converted exactly, products summed in f64.
///
/// # Panics
/// If `w` holds a different number of values than `x`.
pub fn f16_dot_scalar(w: &[u8], x: &[f32]) -> f32 {
    check(w, x);
    w.chunks_exact(2)
        .zip(x)
        .map(|(b, &v)| f64::from(f16::from_le_bytes([b[0], b[1]]).to_f32()) * f64::from(v))
        .sum::<f64>() as f32
}

/// [`f16_dot_scalar`] with the best SIMD this CPU has; equal to it within float rounding of
/// an f32 sum.
///
/// # Panics
/// As [`f16_dot_scalar`].
pub fn f16_dot(w: &[u8], x: &[f32]) -> f32 {
    check(w, x);
    #[cfg(target_arch = "x86_64")]
    if let pulp::Arch::V4(simd) = pulp::Arch::new() {
        return pulp::Simd::vectorize(simd, x86::Avx512 { simd, w, x });
    }
    let mut row = [0f32; 64];
    let mut acc = 0f32;
    for (wc, xc) in w.chunks(128).zip(x.chunks(64)) {
        for (r, b) in row.iter_mut().zip(wc.chunks_exact(2)) {
            *r = f16::from_le_bytes([b[0], b[1]]).to_f32();
        }
        acc += crate::dot_f32(&row[..xc.len()], xc);
    }
    acc
}

/// Tokens [`f16_dots`] serves per pass over a row.
const DOTS_TOKENS: usize = 8;

/// `out[t] = f16_dot(w, xs[t·k..(t+1)·k])` for every token of `xs` (`k = w.len() / 2`), bit
/// for bit, converting each f16 of the row once for all tokens: what a batch of sequences
/// needs from the LM head.
///
/// # Panics
/// If `xs.len() != out.len() · w.len() / 2`.
pub fn f16_dots(w: &[u8], xs: &[f32], out: &mut [f32]) {
    let k = w.len() / 2;
    assert_eq!(
        Some(xs.len()),
        out.len().checked_mul(k),
        "f16_dots: {} activations for {} tokens of {k}",
        xs.len(),
        out.len()
    );
    if k == 0 {
        out.fill(0.0);
        return;
    }
    if let [o] = out {
        *o = f16_dot(w, xs);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if let pulp::Arch::V4(simd) = pulp::Arch::new() {
        for (xg, og) in xs.chunks(k * DOTS_TOKENS).zip(out.chunks_mut(DOTS_TOKENS)) {
            pulp::Simd::vectorize(
                simd,
                x86::Avx512Dots {
                    simd,
                    w,
                    xs: xg,
                    out: og,
                },
            );
        }
        return;
    }
    for (x, o) in xs.chunks_exact(k).zip(out.iter_mut()) {
        *o = f16_dot(w, x);
    }
}

fn check(w: &[u8], x: &[f32]) {
    assert_eq!(
        w.len(),
        2 * x.len(),
        "f16_dot: {} bytes of f16 for {} activations",
        w.len(),
        x.len()
    );
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{__m256i, __m512};
    use half::f16;
    use pulp::bytemuck::cast;
    use pulp::x86::V4;

    pub(super) struct Avx512<'a> {
        pub simd: V4,
        pub w: &'a [u8],
        pub x: &'a [f32],
    }

    impl pulp::WithSimd for Avx512<'_> {
        type Output = f32;

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) -> f32 {
            let f = self.simd.avx512f;
            let (wc, wt) = self.w.as_chunks::<64>();
            let (xc, xt) = self.x.as_chunks::<32>();
            // Two chains of 16 lanes: 32 values per step.
            let (mut a0, mut a1) = (f._mm512_setzero_ps(), f._mm512_setzero_ps());
            for (wb, xb) in wc.iter().zip(xc) {
                let [w0, w1]: [[u8; 32]; 2] = cast(*wb);
                let [x0, x1]: [__m512; 2] = cast(*xb);
                a0 = f._mm512_fmadd_ps(f._mm512_cvtph_ps(cast::<_, __m256i>(w0)), x0, a0);
                a1 = f._mm512_fmadd_ps(f._mm512_cvtph_ps(cast::<_, __m256i>(w1)), x1, a1);
            }
            let tail: f32 = wt
                .chunks_exact(2)
                .zip(xt)
                .map(|(b, &v)| f16::from_le_bytes([b[0], b[1]]).to_f32() * v)
                .sum();
            f._mm512_reduce_add_ps(f._mm512_add_ps(a0, a1)) + tail
        }
    }

    /// Up to [`super::DOTS_TOKENS`] tokens against one row: [`Avx512`]'s arithmetic per token,
    /// in the same order, with each f16 chunk converted once.
    pub(super) struct Avx512Dots<'a> {
        pub simd: V4,
        pub w: &'a [u8],
        pub xs: &'a [f32],
        pub out: &'a mut [f32],
    }

    impl pulp::WithSimd for Avx512Dots<'_> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let f = self.simd.avx512f;
            let k = self.w.len() / 2;
            let n = self.out.len();
            let (wc, wt) = self.w.as_chunks::<64>();
            let mut a0 = [f._mm512_setzero_ps(); super::DOTS_TOKENS];
            let mut a1 = [f._mm512_setzero_ps(); super::DOTS_TOKENS];
            for (c, wb) in wc.iter().enumerate() {
                let [w0, w1]: [[u8; 32]; 2] = cast(*wb);
                let (v0, v1) = (
                    f._mm512_cvtph_ps(cast::<_, __m256i>(w0)),
                    f._mm512_cvtph_ps(cast::<_, __m256i>(w1)),
                );
                for t in 0..n {
                    let xb: &[f32; 32] = self.xs[t * k + 32 * c..t * k + 32 * c + 32]
                        .try_into()
                        .unwrap_or(&[0.0; 32]);
                    let [x0, x1]: [__m512; 2] = cast(*xb);
                    a0[t] = f._mm512_fmadd_ps(v0, x0, a0[t]);
                    a1[t] = f._mm512_fmadd_ps(v1, x1, a1[t]);
                }
            }
            for (t, o) in self.out.iter_mut().enumerate() {
                let xt = &self.xs[t * k + 32 * wc.len()..(t + 1) * k];
                let tail: f32 = wt
                    .chunks_exact(2)
                    .zip(xt)
                    .map(|(b, &v)| f16::from_le_bytes([b[0], b[1]]).to_f32() * v)
                    .sum();
                *o = f._mm512_reduce_add_ps(f._mm512_add_ps(a0[t], a1[t])) + tail;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_equal_single_dots_bit_for_bit() {
        for (k, n) in [
            (0usize, 3usize),
            (1, 1),
            (31, 2),
            (256, 9),
            (100, 17),
            (64, 0),
        ] {
            let w: Vec<u8> = (0..k)
                .flat_map(|i| f16::from_f32(((i * 29 % 83) as f32 - 41.0) / 7.0).to_le_bytes())
                .collect();
            let xs: Vec<f32> = (0..n * k)
                .map(|i| ((i * 13 % 71) as f32 - 35.0) / 3.0)
                .collect();
            let mut got = vec![f32::NAN; n];
            f16_dots(&w, &xs, &mut got);
            for t in 0..n {
                let want = f16_dot(&w, &xs[t * k..(t + 1) * k]);
                assert_eq!(got[t].to_bits(), want.to_bits(), "k {k}, token {t} of {n}");
            }
        }
    }
    use proptest::prelude::*;

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter()
            .flat_map(|x| f16::from_f32(*x).to_le_bytes())
            .collect()
    }

    proptest! {
        /// Ragged lengths (tails of 0..31), zeros and large values: within 1e-5 of the exact
        /// sum relative to Σ|w·x|.
        #[test]
        fn matches_scalar(v in prop::collection::vec((-6e4f32..6e4, -1e3f32..1e3), 0..200)) {
            let (w, x): (Vec<f32>, Vec<f32>) = v.into_iter().unzip();
            let wb = bytes(&w);
            let scale: f64 = wb.chunks_exact(2).zip(&x)
                .map(|(b, &v)| (f64::from(f16::from_le_bytes([b[0], b[1]]).to_f32()) * f64::from(v)).abs())
                .sum();
            let (a, b) = (f16_dot_scalar(&wb, &x), f16_dot(&wb, &x));
            prop_assert!((f64::from(a) - f64::from(b)).abs() <= 1e-5 * scale.max(1e-30), "{a} vs {b}");
        }
    }

    #[test]
    fn edge_cases() {
        assert_eq!(f16_dot(&[], &[]), 0.0);
        assert_eq!(f16_dot(&bytes(&[0.5; 70]), &[2.0; 70]), 70.0);
        assert!(f16_dot(&bytes(&[f32::INFINITY]), &[0.0]).is_nan());
        // Subnormal f16 values convert exactly.
        let tiny = f16::from_bits(1).to_f32();
        assert_eq!(f16_dot(&[1, 0], &[1.0]), tiny);
    }
}
