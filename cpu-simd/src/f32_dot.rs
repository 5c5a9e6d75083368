//! Float dot products (the LM head and other float matmuls), vectorised for the CPU found at
//! run time.
//!
//! Sums are taken in 16 independent lanes and combined at the end, so the result differs from
//! a left-to-right sum by float rounding only; the tests hold it within 1e-5 relative of an
//! f64 reference.

/// Lanes of partial sums: enough independent chains to hide the add latency and fill one
/// AVX-512 register.
const LANES: usize = 16;

/// `Σ a[i]·b[i]` over the shorter of the two slices, with the best SIMD this CPU has.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    pulp::Arch::new().dispatch(Dot {
        a: &a[..n],
        b: &b[..n],
    })
}

struct Dot<'a> {
    a: &'a [f32],
    b: &'a [f32],
}

impl pulp::WithSimd for Dot<'_> {
    type Output = f32;

    // inline(always): compiled inside pulp's #[target_feature] wrapper.
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f32 {
        let (ac, at) = self.a.as_chunks::<LANES>();
        let (bc, bt) = self.b.as_chunks::<LANES>();
        let mut acc = [0f32; LANES];
        for (x, y) in ac.iter().zip(bc) {
            for l in 0..LANES {
                acc[l] += x[l] * y[l];
            }
        }
        let tail: f32 = at.iter().zip(bt).map(|(x, y)| x * y).sum();
        acc.iter().sum::<f32>() + tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    proptest! {
        /// Ragged lengths, zeros and large magnitudes: within 1e-5 of the f64 sum, relative
        /// to Σ|a·b| (the scale of the rounding).
        #[test]
        fn matches_f64_reference(v in prop::collection::vec((-1e3f32..1e3, -1e3f32..1e3), 0..300)) {
            let (a, b): (Vec<f32>, Vec<f32>) = v.into_iter().unzip();
            let scale: f64 = a.iter().zip(&b).map(|(x, y)| (f64::from(*x) * f64::from(*y)).abs()).sum();
            let got = f64::from(dot_f32(&a, &b));
            prop_assert!((got - reference(&a, &b)).abs() <= 1e-5 * scale.max(1e-30), "{got}");
        }
    }

    #[test]
    fn edge_cases() {
        assert_eq!(dot_f32(&[], &[]), 0.0);
        assert_eq!(dot_f32(&[0.0; 37], &[1.0; 37]), 0.0);
        assert_eq!(dot_f32(&[2.0; 33], &[0.5; 40]), 33.0);
        assert!(dot_f32(&[f32::NAN, 1.0], &[1.0, 1.0]).is_nan());
    }
}
