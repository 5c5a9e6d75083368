//! TQ1_0: five base-3 trits per byte, `w = t − 1`, trit `n` = `((byte·3ⁿ mod 256)·3) >> 8`.

use super::{Format, Run, TQ1_BLOCK_BYTES};
#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::{__m256i, __m512i};

/// 3ⁿ for the trit positions of a byte.
const POW3: [u8; 5] = [1, 3, 9, 27, 81];

/// The TQ1_0 format.
pub(crate) struct Tq1;

/// Trit `n` of a byte, 0..=2 for every byte value.
#[inline(always)]
fn trit(byte: u8, n: usize) -> u8 {
    ((u16::from(byte.wrapping_mul(POW3[n])) * 3) >> 8) as u8
}

impl Format for Tq1 {
    const NAME: &'static str = "tq1_gemv";
    const BLOCK_BYTES: usize = TQ1_BLOCK_BYTES;
    const PLANES: usize = 5;
    #[cfg(target_arch = "x86_64")]
    const BASE3: bool = true;

    /// Plane `n` is trit `n` of every code byte: `qs[0..32]` (weights `32n..32n+32`), then
    /// `qs[32..48]` (`160 + 16n..`), then `qh` (`240 + 4n..`, none in plane 4: padding).
    fn runs(n: usize) -> &'static [Run] {
        const fn plane(n: usize) -> [Run; 3] {
            [
                Run {
                    at: 0,
                    from: 32 * n,
                    len: 32,
                },
                Run {
                    at: 32,
                    from: 160 + 16 * n,
                    len: 16,
                },
                Run {
                    at: 48,
                    from: 240 + 4 * n,
                    len: 4,
                },
            ]
        }
        const RUNS: [[Run; 3]; 5] = [plane(0), plane(1), plane(2), plane(3), plane(4)];
        if n < 4 { &RUNS[n] } else { &RUNS[4][..2] }
    }

    /// The comparisons of `trit_v4`, which vectorise better than the widening multiply.
    #[inline(always)]
    fn code(byte: u8, n: usize) -> u8 {
        let y = byte.wrapping_mul(POW3[n]);
        u8::from(y > 85) + u8::from(y > 170)
    }

    fn block_sum_scalar(block: &[u8], q: &[i8]) -> i32 {
        let w = |byte: u8, n: usize| i32::from(trit(byte, n)) - 1;
        let mut s = 0i32;
        for m in 0..32 {
            for n in 0..5 {
                s += w(block[m], n) * i32::from(q[m + 32 * n]);
            }
        }
        for m in 0..16 {
            for n in 0..5 {
                s += w(block[32 + m], n) * i32::from(q[160 + m + 16 * n]);
            }
        }
        for j in 0..4 {
            for n in 0..4 {
                s += w(block[48 + j], n) * i32::from(q[240 + j + 4 * n]);
            }
        }
        s
    }

    /// Plane n from `y_n = byte·3ⁿ mod 256`, each `y` three times the last.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn planes_v4(simd: pulp::x86::V4, x: __m512i) -> [__m512i; 5] {
        let y0 = x;
        let y1 = times3_v4(simd, y0);
        let y2 = times3_v4(simd, y1);
        let y3 = times3_v4(simd, y2);
        let y4 = times3_v4(simd, y3);
        [
            trit_v4(simd, y0),
            trit_v4(simd, y1),
            trit_v4(simd, y2),
            trit_v4(simd, y3),
            trit_v4(simd, y4),
        ]
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn planes_v3(simd: pulp::x86::V3, x: __m256i) -> [__m256i; 5] {
        let y0 = x;
        let y1 = times3_v3(simd, y0);
        let y2 = times3_v3(simd, y1);
        let y3 = times3_v3(simd, y2);
        let y4 = times3_v3(simd, y3);
        [
            trit_v3(simd, y0),
            trit_v3(simd, y1),
            trit_v3(simd, y2),
            trit_v3(simd, y3),
            trit_v3(simd, y4),
        ]
    }
}

/// `y·3 mod 256` in every byte: wrapping byte adds, so no multiply (x86 has no 8-bit one).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn times3_v4(simd: pulp::x86::V4, y: __m512i) -> __m512i {
    let bw = simd.avx512bw;
    bw._mm512_add_epi8(y, bw._mm512_add_epi8(y, y))
}

/// `(y·3) >> 8` in every byte, as `[y ≥ 86] + [y ≥ 171]` (3y crosses 256 at y = 85⅓ and 512
/// at y = 170⅔), each test a saturating subtract clamped to 1: five cheap byte ops instead of
/// widening to 16-bit lanes for a multiply.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn trit_v4(simd: pulp::x86::V4, y: __m512i) -> __m512i {
    let (f, bw) = (simd.avx512f, simd.avx512bw);
    let one = f._mm512_set1_epi8(1);
    bw._mm512_add_epi8(
        bw._mm512_min_epu8(bw._mm512_subs_epu8(y, f._mm512_set1_epi8(85)), one),
        bw._mm512_min_epu8(bw._mm512_subs_epu8(y, f._mm512_set1_epi8(170u8 as i8)), one),
    )
}

/// [`times3_v4`] in 256-bit registers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn times3_v3(simd: pulp::x86::V3, y: __m256i) -> __m256i {
    let a2 = simd.avx2;
    a2._mm256_add_epi8(y, a2._mm256_add_epi8(y, y))
}

/// [`trit_v4`] in 256-bit registers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn trit_v3(simd: pulp::x86::V3, y: __m256i) -> __m256i {
    let (a, a2) = (simd.avx, simd.avx2);
    let one = a._mm256_set1_epi8(1);
    a2._mm256_add_epi8(
        a2._mm256_min_epu8(a2._mm256_subs_epu8(y, a._mm256_set1_epi8(85)), one),
        a2._mm256_min_epu8(a2._mm256_subs_epu8(y, a._mm256_set1_epi8(170u8 as i8)), one),
    )
}
