//! Q8_0 weights × per-token int8 activations: the LM head at half the bytes of F16.
//!
//! A row is stored as int8 codes and one f32 scale per 32-value block (Q8_0's blocks, split
//! into two arrays at load). With activations `q = round(x·s)` for the whole token,
//! `y = Σ_b d_b · (Σ_{j∈b} w_j·q_j) / s`. The integer block sums are exact in every
//! implementation; the float combination differs only in summation order.

/// Values per Q8_0 block.
pub const Q8_BLOCK: usize = 32;

/// `Σ_b d[b] · Σ_{j<32} w[32b+j]·q[32b+j]`, scalar reference.
///
/// # Panics
/// If `w.len() != q.len()`, the length is not a multiple of 32 or `d` has not one scale per
/// block.
pub fn q8_row_dot_scalar(w: &[i8], d: &[f32], q: &[i8]) -> f32 {
    check(w, d, q);
    w.chunks_exact(Q8_BLOCK)
        .zip(q.chunks_exact(Q8_BLOCK))
        .zip(d)
        .map(|((wb, qb), &db)| {
            let s: i32 = wb
                .iter()
                .zip(qb)
                .map(|(&a, &b)| i32::from(a) * i32::from(b))
                .sum();
            db * s as f32
        })
        .sum()
}

/// [`q8_row_dot_scalar`] vectorised for this CPU: AVX-512 VNNI `vpdpbusd` on two blocks at a
/// time where the CPU has it, else the widening multiply-add of each block (`pmaddwd`,
/// NEON `smlal`).
///
/// `w` must hold Q8_0 codes, in [−127, 127] (what Q8_0 quantization writes): the VNNI path
/// multiplies |q| by w with w's sign flipped where q < 0, which cannot represent −(−128).
///
/// # Panics
/// As [`q8_row_dot_scalar`].
pub fn q8_row_dot(w: &[i8], d: &[f32], q: &[i8]) -> f32 {
    check(w, d, q);
    #[cfg(target_arch = "x86_64")]
    if crate::i2s_gemv::has_avx512_vnni() {
        return x86::vnni(w, d, q);
    }
    pulp::Arch::new().dispatch(RowDot { w, d, q })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Q8_BLOCK;

    /// Call only when the CPU has AVX-512 F, BW and VNNI.
    pub(super) fn vnni(w: &[i8], d: &[f32], q: &[i8]) -> f32 {
        assert!(crate::i2s_gemv::has_avx512_vnni());
        // SAFETY: the features the kernel is compiled for were checked just above.
        unsafe { kernel(w, d, q) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn kernel(w: &[i8], d: &[f32], q: &[i8]) -> f32 {
        use core::arch::x86_64::*;
        use pulp::bytemuck::cast;
        let (wc, _) = w.as_chunks::<64>();
        let (qc, _) = q.as_chunks::<64>();
        let zero = _mm512_setzero_si512();
        let mut acc = _mm512_setzero_ps();
        for (i, (wb, qb)) in wc.iter().zip(qc).enumerate() {
            let (wv, qv): (__m512i, __m512i) = (cast(*wb), cast(*qb));
            // |q| as unsigned bytes, w negated where q < 0: Σ |q|·(±w) = Σ q·w, exactly.
            let neg = _mm512_movepi8_mask(qv);
            let a = _mm512_abs_epi8(qv);
            let b = _mm512_mask_sub_epi8(wv, neg, zero, wv);
            let sums = _mm512_dpbusd_epi32(zero, a, b);
            // Lanes 0..8 are the first block's partial sums, 8..16 the second's.
            let scale = _mm512_mask_mov_ps(
                _mm512_set1_ps(d[2 * i]),
                0xFF00,
                _mm512_set1_ps(d[2 * i + 1]),
            );
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc);
        }
        let mut total = _mm512_reduce_add_ps(acc);
        // An odd last block.
        let done = wc.len() * 64;
        if done < w.len() {
            let b = done / Q8_BLOCK;
            let s: i32 = w[done..]
                .iter()
                .zip(&q[done..])
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            total += d[b] * s as f32;
        }
        total
    }
}

fn check(w: &[i8], d: &[f32], q: &[i8]) {
    assert_eq!(
        w.len(),
        q.len(),
        "q8_row_dot: {} weights, {} activations",
        w.len(),
        q.len()
    );
    assert!(
        w.len().is_multiple_of(Q8_BLOCK) && d.len() == w.len() / Q8_BLOCK,
        "q8_row_dot: {} weights need {} block scales, got {}",
        w.len(),
        w.len() / Q8_BLOCK,
        d.len()
    );
}

struct RowDot<'a> {
    w: &'a [i8],
    d: &'a [f32],
    q: &'a [i8],
}

impl pulp::WithSimd for RowDot<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f32 {
        let (wb, _) = self.w.as_chunks::<Q8_BLOCK>();
        let (qb, _) = self.q.as_chunks::<Q8_BLOCK>();
        // Block sums in groups of 8 blocks: the i32 lanes stay in registers and the float
        // combination is one 8-wide multiply-add per group.
        let mut acc = [0f32; 8];
        let mut sums = [0i32; 8];
        let groups = wb.len() / 8;
        for g in 0..groups {
            for (i, s) in sums.iter_mut().enumerate() {
                let (w, q) = (&wb[8 * g + i], &qb[8 * g + i]);
                let mut lanes = [0i32; Q8_BLOCK];
                for j in 0..Q8_BLOCK {
                    lanes[j] = i32::from(w[j]) * i32::from(q[j]);
                }
                *s = lanes.iter().sum();
            }
            for i in 0..8 {
                acc[i] += self.d[8 * g + i] * sums[i] as f32;
            }
        }
        let mut tail = 0f32;
        for b in 8 * groups..wb.len() {
            let s: i32 = wb[b]
                .iter()
                .zip(&qb[b])
                .map(|(&a, &c)| i32::from(a) * i32::from(c))
                .sum();
            tail += self.d[b] * s as f32;
        }
        acc.iter().sum::<f32>() + tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any blocks count (ragged groups of 8), extreme codes and scales: the SIMD sum
        /// matches the scalar one to float rounding (1e-5 relative to Σ|terms|).
        #[test]
        fn simd_matches_scalar(blocks in 0usize..40, seed in any::<u64>(), extreme in any::<bool>()) {
            let n = blocks * Q8_BLOCK;
            let mut state = seed | 1;
            let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
            // Q8_0 codes are in [−127, 127]; activations may reach −128.
            let w: Vec<i8> = (0..n).map(|_| if extreme { -127 } else { (next() as i8).max(-127) }).collect();
            let q: Vec<i8> = (0..n).map(|_| if extreme { i8::MIN } else { next() as i8 }).collect();
            let d: Vec<f32> = (0..blocks).map(|_| (next() % 2000) as f32 / 1000.0 - 1.0).collect();
            let a = q8_row_dot_scalar(&w, &d, &q);
            let b = q8_row_dot(&w, &d, &q);
            // The non-VNNI path too, wherever the tests run.
            let c = pulp::Arch::new().dispatch(RowDot { w: &w, d: &d, q: &q });
            let scale: f32 = d.iter().map(|x| x.abs()).sum::<f32>() * 32.0 * 128.0 * 128.0;
            prop_assert!((a - b).abs() <= 1e-5 * scale.max(1.0), "{a} vs {b}");
            prop_assert!((a - c).abs() <= 1e-5 * scale.max(1.0), "{a} vs {c}");
        }
    }

    #[test]
    fn known_answer_and_zeros() {
        let w = [1i8; 64];
        let q = [2i8; 64];
        assert_eq!(q8_row_dot(&w, &[0.5, 0.25], &q), 0.5 * 64.0 + 0.25 * 64.0);
        assert_eq!(q8_row_dot(&[0; 32], &[1.0], &[127; 32]), 0.0);
        assert_eq!(q8_row_dot(&[], &[], &[]), 0.0);
    }
}
