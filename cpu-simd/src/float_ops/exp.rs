//! A vector `e^x` for softmax and SiLU, on [`pulp::Simd`] operations only (no float-to-int
//! conversion, which pulp's portable interface lacks): the magic-number trick rounds and
//! converts instead.

use pulp::Simd;

/// 1.5·2²³: adding it to a float of magnitude below 2²² rounds that float to an integer and
/// leaves the integer (offset by 2²²) in the low mantissa bits.
const MAGIC: f32 = 12_582_912.0;
/// Above this `e^x` overflows f32 (ln(f32::MAX) = 88.7228391…; inputs up to here are computed
/// and overflow, or not, by themselves).
const EXP_HI: f32 = 88.722_84;
/// Below this `e^x` is under half the smallest subnormal and rounds to 0.
const EXP_LO: f32 = -104.0;
/// ln 2 split for Cody–Waite reduction: `LN2_HI` has 9 significant bits, so `n·LN2_HI` is
/// exact for every `|n| ≤ 150` reached here.
const LN2_HI: f32 = 355.0 / 512.0;
/// `ln 2 − LN2_HI`.
const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes `expf` minimax coefficients for `(e^r − 1 − r)/r²` on `|r| ≤ ln2/2`.
const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// `2^k` for integral `k` in `[−126, 127]`, built in the exponent field.
#[inline(always)]
fn pow2i<S: Simd>(simd: S, k: S::f32s) -> S::f32s {
    let biased = simd.add_f32s(k, simd.splat_f32s(MAGIC + 127.0));
    let e = simd.sub_u32s(
        simd.transmute_u32s_f32s(biased),
        simd.splat_u32s(MAGIC.to_bits()),
    );
    simd.transmute_f32s_u32s(simd.wrapping_dyn_shl_u32s(e, simd.splat_u32s(23)))
}

/// `e^x` for a vector: `x = n·ln2 + r` with `|r| ≤ ln2/2`, Cephes' degree-7 polynomial for
/// `e^r`, times `2^n`.
///
/// Error bound: within 2e-7 relative of the exact value for results in the normal range
/// (measured worst 1.17e-7, about one ulp, over a 0.001 grid of [−110, 95] against f64 `exp`;
/// the tests hold it to 2e-7). `2^n` is applied as
/// two normal factors `2^⌈n/2⌉·2^(n−⌈n/2⌉)`, so results in the subnormal range are rounded
/// once, at the end (absolute error ≤ 2⁻¹⁴⁹ there), and overflow happens where the true
/// value overflows. `x > 88.72284` gives +∞, `x < −104` gives 0 (both also for ±∞), NaN
/// stays NaN.
#[inline(always)]
pub(super) fn exp<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let magic = simd.splat_f32s(MAGIC);
    let t = simd.mul_add_e_f32s(x, simd.splat_f32s(std::f32::consts::LOG2_E), magic);
    let n = simd.sub_f32s(t, magic);
    let r = simd.mul_add_e_f32s(n, simd.splat_f32s(-LN2_HI), x);
    let r = simd.mul_add_e_f32s(n, simd.splat_f32s(-LN2_LO), r);
    let mut p = simd.splat_f32s(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = simd.mul_add_e_f32s(p, r, simd.splat_f32s(c));
    }
    let y = simd.mul_add_e_f32s(
        p,
        simd.mul_f32s(r, r),
        simd.add_f32s(r, simd.splat_f32s(1.0)),
    );
    let n1 = simd.sub_f32s(simd.mul_add_e_f32s(n, simd.splat_f32s(0.5), magic), magic);
    let n2 = simd.sub_f32s(n, n1);
    let y = simd.mul_f32s(simd.mul_f32s(y, pow2i(simd, n1)), pow2i(simd, n2));
    let y = simd.select_f32s(
        simd.less_than_f32s(x, simd.splat_f32s(EXP_LO)),
        simd.splat_f32s(0.0),
        y,
    );
    simd.select_f32s(
        simd.greater_than_f32s(x, simd.splat_f32s(EXP_HI)),
        simd.splat_f32s(f32::INFINITY),
        y,
    )
}
