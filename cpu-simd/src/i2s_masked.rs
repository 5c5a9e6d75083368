//! The I2_S matrix-vector product for weights known to hold no code 3: each 2-bit field is
//! multiplied where it sits, without shifting it down.
//!
//! In an I2_S block, byte `j` holds weights `j`, `32+j`, `64+j`, `96+j` in bits 7:6, 5:4, 3:2,
//! 1:0. Masking the byte with `0xC0` leaves `code·64`, with `0x30` `code·16`, and so on, and
//! these unsigned bytes go straight into `vpdpbusd` against the 32 activations of that quarter.
//! Four accumulators (one per mask) are summed at the end of the row with their weights
//! `1/64, 1/16, 1/4, 1`, which is exact because each accumulator is a multiple of its factor.
//! Per 32 packed bytes that is one load, four ANDs and four `vpdpbusd`, about half the work of
//! [`crate::i2s_gemv()`]'s shift-and-lookup extraction; on Zen 4 this is what keeps the kernel
//! at the memory's pace.
//!
//! Code 3 (never written by a quantizer) would count as weight +2 here instead of the
//! dequantizer's 0, so the caller checks a tensor once with [`i2s_has_code_3`] and sends a
//! tensor that has one to [`crate::i2s_gemv()`]. The 256-bit form is used on purpose: Zen 4
//! splits 512-bit operations in two, so it runs as fast per byte, and activations keep their
//! natural order.

use crate::Level;
use crate::i2s_gemv::{I2S_BLOCK_BYTES, i2s_gemv_at};

/// Largest `cols` the masked kernel accepts: a lane adds 4 products of at most `192·128` per
/// block, `cols / 128` blocks, and must stay within i32.
pub const MASKED_MAX_COLS: usize = (i32::MAX as usize / (4 * 192 * 128)) * 128;

/// Whether any 2-bit code in `packed` is 3 (both bits of a field set).
pub fn i2s_has_code_3(packed: &[u8]) -> bool {
    // A field is 3 when its high bit and its low bit are both set.
    let (words, tail) = packed.as_chunks::<8>();
    let any_word = words.iter().any(|w| {
        let v = u64::from_le_bytes(*w);
        v & (v >> 1) & 0x5555_5555_5555_5555 != 0
    });
    any_word || tail.iter().any(|&b| b & (b >> 1) & 0x55 != 0)
}

/// `out[r] = Σ_k code_{r,k}·q_k`, the same contract as [`crate::i2s_gemv()`], for packed bytes
/// in which [`i2s_has_code_3`] found no code 3, with the best kernel this CPU has.
///
/// # Panics
/// As [`crate::i2s_gemv()`].
pub fn i2s_gemv_no_code3(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [i32]) {
    i2s_gemv_no_code3_at(Level::detect(), packed, rows, cols, q, out);
}

/// [`i2s_gemv_no_code3`] at a forced level: AVX-512 VNNI runs the masked kernel (for
/// `cols ≤ MASKED_MAX_COLS`), every other level runs [`i2s_gemv_at`] of that level.
///
/// # Panics
/// As [`crate::i2s_gemv()`], or if the CPU cannot run `level`.
pub fn i2s_gemv_no_code3_at(
    level: Level,
    packed: &[u8],
    rows: usize,
    cols: usize,
    q: &[i8],
    out: &mut [i32],
) {
    #[cfg(target_arch = "x86_64")]
    if level == Level::Avx512Vnni && cols <= MASKED_MAX_COLS {
        crate::i2s_gemv::check_shapes(packed, rows, cols, q, out);
        x86::masked(packed, cols, q, out);
        return;
    }
    i2s_gemv_at(level, packed, rows, cols, q, out);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::I2S_BLOCK_BYTES;
    use core::arch::x86_64::*;
    use pulp::bytemuck::cast;

    pub(super) fn masked(packed: &[u8], cols: usize, q: &[i8], out: &mut [i32]) {
        assert!(crate::Level::Avx512Vnni.is_available());
        // SAFETY: the features the kernel is compiled for were checked just above.
        unsafe { kernel(packed, cols, q, out) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn kernel(packed: &[u8], cols: usize, q: &[i8], out: &mut [i32]) {
        if cols == 0 {
            out.fill(0);
            return;
        }
        let masks = [0xC0u8, 0x30, 0x0C, 0x03].map(|m| _mm256_set1_epi8(m as i8));
        let (qv, _) = q.as_chunks::<32>();
        let qv: Vec<__m256i> = qv.iter().map(|c| cast(*c)).collect();
        for (row, o) in packed.chunks_exact(cols / 4).zip(out.iter_mut()) {
            let (blocks, _) = row.as_chunks::<I2S_BLOCK_BYTES>();
            // Two blocks in flight, so no accumulator waits on the previous `vpdpbusd`.
            let mut acc = [_mm256_setzero_si256(); 8];
            let (pairs, rest) = blocks.as_chunks::<2>();
            for (p, pair) in pairs.iter().enumerate() {
                for (i, block) in pair.iter().enumerate() {
                    let b: __m256i = cast(*block);
                    let qb = &qv[(2 * p + i) * 4..(2 * p + i) * 4 + 4];
                    for g in 0..4 {
                        acc[4 * i + g] = _mm256_dpbusd_epi32(
                            acc[4 * i + g],
                            _mm256_and_si256(b, masks[g]),
                            qb[g],
                        );
                    }
                }
            }
            if let [block] = rest {
                let b: __m256i = cast(*block);
                let qb = &qv[pairs.len() * 8..pairs.len() * 8 + 4];
                for g in 0..4 {
                    acc[g] = _mm256_dpbusd_epi32(acc[g], _mm256_and_si256(b, masks[g]), qb[g]);
                }
            }
            let sum = |g: usize| {
                let v = _mm256_add_epi32(acc[g], acc[4 + g]);
                let lanes: [i32; 8] = cast(v);
                lanes.iter().sum::<i32>()
            };
            *o = (sum(0) >> 6) + (sum(1) >> 4) + (sum(2) >> 2) + sum(3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2s_gemv_scalar;
    use proptest::prelude::*;

    use crate::test_rng::xorshift;

    /// Random code-3-free bytes: each field drawn from {0, 1, 2}.
    fn clean_bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut next = xorshift(seed);
        (0..n)
            .map(|_| (0..4).fold(0u8, |b, _| (b << 2) | (next() % 3) as u8))
            .collect()
    }

    fn check(packed: &[u8], rows: usize, cols: usize, q: &[i8]) {
        let mut want = vec![0i32; rows];
        i2s_gemv_scalar(packed, rows, cols, q, &mut want);
        for level in Level::available() {
            let mut got = vec![i32::MIN; rows];
            i2s_gemv_no_code3_at(level, packed, rows, cols, q, &mut got);
            assert_eq!(got, want, "{level}");
        }
    }

    #[test]
    fn code_3_detection() {
        assert!(!i2s_has_code_3(&[]));
        assert!(!i2s_has_code_3(&clean_bytes(1000, 5)));
        for pos in [0usize, 7, 8, 999] {
            for field in 0..4 {
                let mut b = clean_bytes(1000, 6);
                b[pos] |= 3 << (2 * field);
                assert!(i2s_has_code_3(&b), "byte {pos} field {field}");
            }
        }
    }

    #[test]
    fn extremes() {
        // All +1 (0xAA) and all −1 (0x00) against q = −128 / 127, 2B-4T's widest row.
        for byte in [0xAAu8, 0x00, 0x55] {
            for qv in [i8::MIN, 127, 0] {
                let (rows, cols) = (3, 6912);
                check(&vec![byte; rows * cols / 4], rows, cols, &vec![qv; cols]);
            }
        }
        check(&[], 0, 256, &[0; 256]);
        let mut out = [5i32; 2];
        i2s_gemv_no_code3(&[], 2, 0, &[], &mut out);
        assert_eq!(out, [0, 0]);
    }

    proptest! {
        #[test]
        fn every_level_matches_the_scalar_reference(
            rows in 0usize..9,
            blocks in 1usize..13,
            seed in any::<u64>(),
        ) {
            let cols = blocks * 128;
            let packed = clean_bytes(rows * cols / 4, seed);
            let mut next = xorshift(seed ^ 77);
            let q: Vec<i8> = (0..cols).map(|_| next() as i8).collect();
            check(&packed, rows, cols, &q);
        }
    }
}
