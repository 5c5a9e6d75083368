//! TQ2_0: four 2-bit codes per byte, `w = code − 1` (code 3 → +2, as upstream decodes it).

use super::{Format, Run, TQ2_BLOCK_BYTES};

/// The TQ2_0 format.
pub(crate) struct Tq2;

impl Format for Tq2 {
    const NAME: &'static str = "tq2_gemv";
    const BLOCK_BYTES: usize = TQ2_BLOCK_BYTES;
    const PLANES: usize = 4;
    #[cfg(target_arch = "x86_64")]
    const BASE3: bool = false;

    /// Plane `l` is bits `2l..2l+1` of all 64 code bytes; byte `p` is chunk `p / 32`, so the
    /// plane covers weights `l·32 .. l·32+32` and `128 + l·32 .. 128 + l·32+32`.
    fn runs(n: usize) -> &'static [Run] {
        const fn plane(l: usize) -> [Run; 2] {
            [
                Run {
                    at: 0,
                    from: l * 32,
                    len: 32,
                },
                Run {
                    at: 32,
                    from: 128 + l * 32,
                    len: 32,
                },
            ]
        }
        const RUNS: [[Run; 2]; 4] = [plane(0), plane(1), plane(2), plane(3)];
        &RUNS[n]
    }

    #[inline(always)]
    fn code(byte: u8, n: usize) -> u8 {
        (byte >> (2 * n)) & 3
    }

    fn block_sum_scalar(block: &[u8], q: &[i8]) -> i32 {
        let mut s = 0i32;
        for c in 0..2 {
            for m in 0..32 {
                let byte = block[c * 32 + m];
                for l in 0..4 {
                    let w = i32::from((byte >> (2 * l)) & 3) - 1;
                    s += w * i32::from(q[c * 128 + l * 32 + m]);
                }
            }
        }
        s
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn planes_v4(
        simd: pulp::x86::V4,
        x: core::arch::x86_64::__m512i,
    ) -> [core::arch::x86_64::__m512i; 5] {
        let (f, bw) = (simd.avx512f, simd.avx512bw);
        // A 16-bit shift moves bits across the byte boundary, but the mask keeps only the two
        // bits that came from the byte itself.
        let m = f._mm512_set1_epi8(3);
        [
            f._mm512_and_si512(x, m),
            f._mm512_and_si512(bw._mm512_srli_epi16::<2>(x), m),
            f._mm512_and_si512(bw._mm512_srli_epi16::<4>(x), m),
            f._mm512_and_si512(bw._mm512_srli_epi16::<6>(x), m),
            m,
        ]
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn planes_v3(
        simd: pulp::x86::V3,
        x: core::arch::x86_64::__m256i,
    ) -> [core::arch::x86_64::__m256i; 5] {
        let (a, a2) = (simd.avx, simd.avx2);
        let m = a._mm256_set1_epi8(3);
        [
            a2._mm256_and_si256(x, m),
            a2._mm256_and_si256(a2._mm256_srli_epi16::<2>(x), m),
            a2._mm256_and_si256(a2._mm256_srli_epi16::<4>(x), m),
            a2._mm256_and_si256(a2._mm256_srli_epi16::<6>(x), m),
            m,
        ]
    }
}
