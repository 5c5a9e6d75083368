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
}

#[cfg(test)]
mod tests {
    use super::*;
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
