//! Per-token int8 activation quantization, bit-exact with bitnet.cpp's
//! `quantize_row_i8_s` (spec §2).
//!
//! The scale is computed once per row (token) and travels with the codes: the
//! ternary GEMV works on the integer codes and the scale is applied once per
//! output element afterwards.

/// The per-row result of [`quantize_row_i8`] besides the codes themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActScale {
    /// `s = (127 / max(1e-5, max|x|)) as f32`; codes are `x·s` rounded, so the
    /// real value of a code is `q / s`.
    pub scale: f32,
    /// `A = Σ q_i` (int32). The I2_S kernel multiplies by codes `w + 1`, so the
    /// caller subtracts this once per output to get `Σ w·q`.
    pub sum: i32,
}

/// The smallest `max|x|` used for the scale, so an all-zero (or denormal) row
/// gets a finite scale and all-zero codes instead of dividing by zero. Same
/// floor as bitnet.cpp's I2_S path and the PyTorch reference.
pub const ACT_MAX_FLOOR: f64 = 1e-5;

/// Quantizes one activation row `x` into int8 codes `q` (same length).
///
/// Exactly as spec §2:
/// 1. `max = max(1e-5, max_i |x_i|)`, computed in f64 (bitnet.cpp does the
///    max in double; doing it in f32 changes the scale by an ulp at times).
/// 2. `s = (127 / max) as f32`.
/// 3. `q_i = round_half_even(x_i · s)` (the product in f32, as in C), clamped
///    to `[−128, 127]`. Round-half-even matches the C "magic number"
///    `nearest_int` trick; `f32::round` (half away from zero) would not.
/// 4. `A = Σ q_i`.
///
/// Non-finite input: NaN entries are ignored by the max and quantize to 0. An
/// infinite entry makes `max = ∞`, so `scale = 0` and every code is 0; a
/// caller that must reject such rows can test `scale == 0.0`.
///
/// # Panics
/// If `x.len() != q.len()`.
pub fn quantize_row_i8(x: &[f32], q: &mut [i8]) -> ActScale {
    assert_eq!(
        x.len(),
        q.len(),
        "quantize_row_i8: input has {} values but the output has room for {}",
        x.len(),
        q.len()
    );
    // Compiled under the CPU's features, the rounding below is one instruction (roundps /
    // vrndscaleps) instead of a libm call per value.
    pulp::Arch::new().dispatch(Quantize { x, q })
}

struct Quantize<'a> {
    x: &'a [f32],
    q: &'a mut [i8],
}

impl pulp::WithSimd for Quantize<'_> {
    type Output = ActScale;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> ActScale {
        let Quantize { x, q } = self;
        // f64::max ignores NaN, which keeps one bad value from poisoning the row.
        let max = x
            .iter()
            .fold(ACT_MAX_FLOOR, |m, &v| m.max(f64::from(v.abs())));
        let scale = (127.0 / max) as f32;
        let mut sum = 0i32;
        for (qi, &xi) in q.iter_mut().zip(x) {
            // With a finite max, |x·s| ≤ 127 up to f32 rounding, so the clamp only
            // matters for pathological input; it is kept because bitnet.cpp has
            // it and because an out-of-range code would silently wrap otherwise.
            // `as i8` maps NaN to 0.
            let v = (xi * scale).round_ties_even().clamp(-128.0, 127.0) as i8;
            *qi = v;
            sum += i32::from(v);
        }
        ActScale { scale, sum }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// llama.cpp's `nearest_int`: adding 1.5·2^23 forces the FPU to round the
    /// fraction away (ties to even) and leaves the integer in the mantissa.
    /// An independent oracle for the rounding in `quantize_row_i8`.
    fn nearest_int_magic(f: f32) -> i32 {
        assert!(f.abs() <= 4_194_303.0);
        let val = f + 12_582_912.0;
        (val.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
    }

    #[test]
    fn ties_round_to_even() {
        // max|x| = 127 makes s exactly 1.0, so x·s = x and the ties are exact.
        let x = [
            127.0, 2.5, 3.5, -2.5, 0.5, -0.5, 1.5, -1.5, 2.4999998, -127.0,
        ];
        let mut q = [0i8; 10];
        let a = quantize_row_i8(&x, &mut q);
        assert_eq!(a.scale, 1.0);
        assert_eq!(q, [127, 2, 4, -2, 0, 0, 2, -2, 2, -127]);
        assert_eq!(a.sum, 6);
    }

    #[test]
    fn scale_from_f64_max() {
        // max = 2.0 → s = 63.5 exactly; 1.0·63.5 = 63.5 ties to 64, 0.5·63.5 =
        // 31.75 → 32, -2 → -127.
        let x = [2.0f32, 1.0, 0.5, -2.0, 0.0];
        let mut q = [0i8; 5];
        let a = quantize_row_i8(&x, &mut q);
        assert_eq!(a.scale, 63.5);
        assert_eq!(q, [127, 64, 32, -127, 0]);
        assert_eq!(a.sum, 96);
    }

    #[test]
    fn all_zero_row_uses_the_floor() {
        let x = [0.0f32; 64];
        let mut q = [1i8; 64];
        let a = quantize_row_i8(&x, &mut q);
        assert!(q.iter().all(|&v| v == 0));
        assert_eq!(a.sum, 0);
        assert_eq!(a.scale, (127.0f64 / 1e-5) as f32);
        assert_eq!(a.scale, 12_700_000.0);
    }

    #[test]
    fn tiny_row_below_the_floor() {
        // max|x| = 4e-6 < 1e-5: the floor sets s = 1.27e7, so codes stay small
        // instead of being blown up to ±127.
        let x = [4e-6f32, -1e-6, 0.0];
        let mut q = [0i8; 3];
        let a = quantize_row_i8(&x, &mut q);
        assert_eq!(a.scale, 12_700_000.0);
        assert_eq!(q, [51, -13, 0]);
        assert_eq!(a.sum, 38);
    }

    #[test]
    fn huge_values_stay_in_range() {
        // The largest finite f32 still gives a normal scale and ±127.
        let x = [f32::MAX, -f32::MAX, f32::MAX / 4.0, 1.0];
        let mut q = [0i8; 4];
        let a = quantize_row_i8(&x, &mut q);
        assert!(a.scale > 0.0 && a.scale.is_normal());
        assert_eq!(q, [127, -127, 32, 0]);
    }

    #[test]
    fn non_finite_input() {
        let mut q = [9i8; 3];
        let a = quantize_row_i8(&[f32::NAN, 127.0, -63.5], &mut q);
        assert_eq!((a.scale, q), (1.0, [0, 127, -64]));
        let a = quantize_row_i8(&[f32::INFINITY, 1.0, -1.0], &mut q);
        assert_eq!((a.scale, a.sum, q), (0.0, 0, [0, 0, 0]));
    }

    #[test]
    fn empty_row() {
        let a = quantize_row_i8(&[], &mut []);
        assert_eq!(a.sum, 0);
        assert_eq!(a.scale, 12_700_000.0);
    }

    #[test]
    #[should_panic(expected = "quantize_row_i8")]
    fn length_mismatch_panics() {
        quantize_row_i8(&[1.0, 2.0], &mut [0i8; 3]);
    }

    proptest! {
        #[test]
        fn matches_magic_number_reference(
            x in prop::collection::vec(-1e4f32..1e4, 1..600),
        ) {
            let mut q = vec![0i8; x.len()];
            let a = quantize_row_i8(&x, &mut q);
            let max = x.iter().fold(1e-5f64, |m, &v| m.max(f64::from(v).abs()));
            prop_assert_eq!(a.scale, (127.0 / max) as f32);
            let mut sum = 0;
            for (&xi, &qi) in x.iter().zip(&q) {
                let r = nearest_int_magic(xi * a.scale).clamp(-128, 127);
                prop_assert_eq!(i32::from(qi), r);
                sum += r;
            }
            prop_assert_eq!(a.sum, sum);
            // The largest magnitude always lands on ±127 (never −128: the
            // range the scale produces is symmetric).
            if max > 1e-5 {
                prop_assert_eq!(q.iter().map(|v| v.unsigned_abs()).max(), Some(127));
            }
            prop_assert!(q.iter().all(|&v| v != -128));
        }
    }
}
