//! Several tokens against one I2_S matrix in one pass over its bytes.
//!
//! A batch (prefill, or concurrent sequences decoding together) multiplies the same matrix by
//! `n` activation rows. [`crate::i2s_gemv()`] would extract every 2-bit code `n` times; here
//! each 64-byte piece of a row (two blocks, 512 weights) is loaded once, its four 2-bit fields
//! are shifted down, masked and mapped through the code-3 fix in place (eleven operations for
//! 512 weights), and the four resulting code vectors feed `vpdpbusd` for up to four tokens.
//!
//! The fields of byte `j` of a block are weights `j`, `32+j`, `64+j`, `96+j`, so the
//! activations a field vector meets are not contiguous. [`I2sTokens`] permutes each token's
//! activations once per matrix product into that order (per pair of blocks, per field: the
//! 32 activations of the first block, then the 32 of the second; a missing second block reads
//! zeros), which costs `cols` byte copies per token against the `rows·cols` products.
//!
//! The results are the exact integer sums of [`crate::i2s_gemv()`]'s contract, so every level
//! agrees bit for bit with the scalar reference.

use crate::Level;
use crate::i2s_gemv::{I2S_BLOCK_BYTES, I2S_BLOCK_WEIGHTS, MAX_COLS, i2s_gemv_at};

/// Bytes of permuted activations per pair of blocks (4 fields × 64).
const PAIR_BYTES: usize = 256;

/// Tokens most a single pass over a row serves.
pub const GEMM_TOKENS: usize = 4;

/// Several tokens' int8 activations, kept as given and in the order the batched kernel reads.
#[derive(Debug, Clone)]
pub struct I2sTokens {
    cols: usize,
    n: usize,
    natural: Vec<i8>,
    permuted: Vec<i8>,
    sums: Vec<i32>,
}

impl I2sTokens {
    /// `n` tokens of `cols` activations each, row after row in `q`.
    ///
    /// # Panics
    /// If `cols % 128 != 0`, `cols > MAX_COLS` or `q.len() != n·cols`.
    pub fn new(q: &[i8], n: usize, cols: usize) -> Self {
        assert!(
            cols.is_multiple_of(I2S_BLOCK_WEIGHTS),
            "i2s_gemm: cols = {cols} is not a multiple of {I2S_BLOCK_WEIGHTS}"
        );
        assert!(
            cols <= MAX_COLS,
            "i2s_gemm: cols = {cols} > {MAX_COLS} could overflow i32"
        );
        assert_eq!(
            Some(q.len()),
            n.checked_mul(cols),
            "i2s_gemm: {} activations for {n} tokens of {cols}",
            q.len()
        );
        let stride = Self::stride_for(cols);
        let mut permuted = vec![0i8; n * stride];
        if cols > 0 {
            for (tok, dst) in q.chunks_exact(cols).zip(permuted.chunks_exact_mut(stride)) {
                for (b, block) in tok.chunks_exact(I2S_BLOCK_WEIGHTS).enumerate() {
                    let (pair, second) = (b / 2, b % 2);
                    for g in 0..4 {
                        let at = pair * PAIR_BYTES + g * 64 + second * 32;
                        dst[at..at + 32].copy_from_slice(&block[g * 32..g * 32 + 32]);
                    }
                }
            }
        }
        let sums = q
            .chunks(cols.max(1))
            .take(n)
            .map(|t| t.iter().map(|&v| i32::from(v)).sum())
            .chain(std::iter::repeat(0))
            .take(n)
            .collect();
        I2sTokens {
            cols,
            n,
            natural: q.to_vec(),
            permuted,
            sums,
        }
    }

    fn stride_for(cols: usize) -> usize {
        cols.div_ceil(2 * I2S_BLOCK_WEIGHTS) * PAIR_BYTES
    }

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Activations per token.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Token `t`'s activations as given.
    pub fn token(&self, t: usize) -> &[i8] {
        &self.natural[t * self.cols..(t + 1) * self.cols]
    }

    /// Σq of token `t` (what turns unsigned-code sums into `Σ w·q`).
    pub fn sum(&self, t: usize) -> i32 {
        self.sums[t]
    }
}

/// `out[t·rows + r] = Σ_k code_{r,k}·q_{t,k}` for every token `t` of `tokens`: the contract of
/// [`crate::i2s_gemv()`] per token, with the best kernel this CPU has.
///
/// # Panics
/// If `packed.len() != rows·cols/4`, `tokens.cols() != cols` or
/// `out.len() != tokens.len()·rows`.
pub fn i2s_gemm(packed: &[u8], rows: usize, cols: usize, tokens: &I2sTokens, out: &mut [i32]) {
    i2s_gemm_at(Level::detect(), packed, rows, cols, tokens, out);
}

/// [`i2s_gemm`] at a forced level: AVX-512 VNNI runs the batched kernel, every other level
/// runs [`i2s_gemv_at`] of that level once per token.
///
/// # Panics
/// As [`i2s_gemm`], or if the CPU cannot run `level`.
pub fn i2s_gemm_at(
    level: Level,
    packed: &[u8],
    rows: usize,
    cols: usize,
    tokens: &I2sTokens,
    out: &mut [i32],
) {
    assert!(level.is_available(), "this CPU cannot run {level}");
    assert_eq!(
        tokens.cols, cols,
        "i2s_gemm: tokens of {} for cols = {cols}",
        tokens.cols
    );
    assert_eq!(
        Some(packed.len()),
        rows.checked_mul(cols / 4),
        "i2s_gemm: packed has {} bytes, a {rows}x{cols} I2_S matrix needs rows*cols/4",
        packed.len()
    );
    assert_eq!(
        Some(out.len()),
        tokens.n.checked_mul(rows),
        "i2s_gemm: out has {} slots for {} tokens × {rows} rows",
        out.len(),
        tokens.n
    );
    #[cfg(target_arch = "x86_64")]
    if level == Level::Avx512Vnni {
        x86::gemm(packed, rows, cols, tokens, out);
        return;
    }
    for (t, o) in out.chunks_exact_mut(rows.max(1)).enumerate().take(tokens.n) {
        i2s_gemv_at(level, packed, rows, cols, tokens.token(t), o);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{GEMM_TOKENS, I2S_BLOCK_BYTES, I2sTokens, PAIR_BYTES};

    /// Matrix bytes per row tile: well inside a core's L2 on current x86 parts.
    const ROW_TILE_BYTES: usize = 128 * 1024;
    use core::arch::x86_64::*;
    use pulp::bytemuck::cast;

    pub(super) fn gemm(packed: &[u8], rows: usize, cols: usize, t: &I2sTokens, out: &mut [i32]) {
        assert!(crate::Level::Avx512Vnni.is_available());
        if cols == 0 || rows == 0 {
            out.fill(0);
            return;
        }
        let stride = I2sTokens::stride_for(cols);
        // Rows in tiles that stay in L2 while every group of tokens passes over them, so a
        // batch of more than GEMM_TOKENS still streams the matrix from memory once.
        let tile = (ROW_TILE_BYTES / (cols / 4)).clamp(1, rows);
        let row_bytes = cols / 4;
        for r0 in (0..rows).step_by(tile) {
            let nrows = tile.min(rows - r0);
            let w = &packed[r0 * row_bytes..(r0 + nrows) * row_bytes];
            let mut t0 = 0;
            while t0 < t.n {
                let take = (t.n - t0).min(GEMM_TOKENS);
                let acts = &t.permuted[t0 * stride..(t0 + take) * stride];
                let o = &mut out[t0 * rows + r0..];
                // SAFETY: VNNI was checked above; `w` holds `nrows` rows, `acts` `take`
                // tokens of `stride`, and `o` reaches token `take - 1`'s row `nrows - 1`
                // (`(take-1)·rows + nrows ≤ o.len()`).
                unsafe {
                    match take {
                        1 => kernel::<1>(w, nrows, cols, acts, stride, o, rows),
                        2 => kernel::<2>(w, nrows, cols, acts, stride, o, rows),
                        3 => kernel::<3>(w, nrows, cols, acts, stride, o, rows),
                        _ => kernel::<4>(w, nrows, cols, acts, stride, o, rows),
                    }
                }
                t0 += take;
            }
        }
    }

    /// `T` tokens against every row. Per pair of blocks: one load, the four fields as code
    /// vectors, `4·T` `vpdpbusd`. One accumulator per token and field keeps the chains short.
    ///
    /// # Safety
    /// AVX-512 VNNI must be available; `packed` holds `rows` rows of `cols / 4` bytes, `acts`
    /// `T` tokens of `stride` bytes, and `out[tok·out_stride + r]` exists for every token and
    /// row.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn kernel<const T: usize>(
        packed: &[u8],
        rows: usize,
        cols: usize,
        acts: &[i8],
        stride: usize,
        out: &mut [i32],
        out_stride: usize,
    ) {
        const FIX_LUT: [u8; 16] = [0, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let lut: __m512i = cast([FIX_LUT; 4]);
        let three = _mm512_set1_epi8(3);
        let row_bytes = cols / 4;
        let blocks = cols / 128;
        let (pairs, odd) = (blocks / 2, blocks % 2 == 1);
        let fields = |b: __m512i| -> [__m512i; 4] {
            [
                _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16::<6>(b), three)),
                _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16::<4>(b), three)),
                _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16::<2>(b), three)),
                _mm512_shuffle_epi8(lut, _mm512_and_si512(b, three)),
            ]
        };
        let base = acts.as_ptr();
        debug_assert!(packed.len() >= rows * row_bytes && acts.len() >= T * stride);
        debug_assert!(rows == 0 || out.len() > (T - 1) * out_stride + rows - 1);
        // SAFETY: every pointer stays in its slice per the function's contract; the odd
        // block's load is masked to its own 32 bytes.
        unsafe {
            for r in 0..rows {
                let row = packed.as_ptr().add(r * row_bytes);
                let mut acc = [[_mm512_setzero_si512(); 4]; T];
                let mut step = |c: [__m512i; 4], p: usize| {
                    for (tok, a) in acc.iter_mut().enumerate() {
                        let q = base.add(tok * stride + p * PAIR_BYTES);
                        for g in 0..4 {
                            let qv = _mm512_loadu_si512(q.add(g * 64).cast());
                            a[g] = _mm512_dpbusd_epi32(a[g], c[g], qv);
                        }
                    }
                };
                for p in 0..pairs {
                    let b = _mm512_loadu_si512(row.add(p * 2 * I2S_BLOCK_BYTES).cast());
                    step(fields(b), p);
                }
                if odd {
                    // The row's last block alone: the upper half reads zeros (and meets zero
                    // activations), so nothing past the row is touched.
                    let b = _mm512_maskz_loadu_epi8(
                        0xFFFF_FFFF,
                        row.add(pairs * 2 * I2S_BLOCK_BYTES).cast(),
                    );
                    step(fields(b), pairs);
                }
                let sums: [__m512i; T] = core::array::from_fn(|tok| {
                    let a = &acc[tok];
                    _mm512_add_epi32(_mm512_add_epi32(a[0], a[1]), _mm512_add_epi32(a[2], a[3]))
                });
                if T == 4 {
                    // Four tokens reduced together: interleave and add within 128-bit lanes
                    // until each lane holds the four partial sums, then fold the four lanes.
                    let t01 = _mm512_add_epi32(
                        _mm512_unpacklo_epi32(sums[0], sums[1]),
                        _mm512_unpackhi_epi32(sums[0], sums[1]),
                    );
                    let t23 = _mm512_add_epi32(
                        _mm512_unpacklo_epi32(sums[2], sums[3]),
                        _mm512_unpackhi_epi32(sums[2], sums[3]),
                    );
                    let quad = _mm512_add_epi32(
                        _mm512_unpacklo_epi64(t01, t23),
                        _mm512_unpackhi_epi64(t01, t23),
                    );
                    let half = _mm256_add_epi32(
                        _mm512_castsi512_si256(quad),
                        _mm512_extracti64x4_epi64::<1>(quad),
                    );
                    let lane = _mm_add_epi32(
                        _mm256_castsi256_si128(half),
                        _mm256_extracti128_si256::<1>(half),
                    );
                    let v: [i32; 4] = cast(lane);
                    for (tok, &x) in v.iter().enumerate() {
                        *out.get_unchecked_mut(tok * out_stride + r) = x;
                    }
                } else {
                    for (tok, &s) in sums.iter().enumerate() {
                        *out.get_unchecked_mut(tok * out_stride + r) = _mm512_reduce_add_epi32(s);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2s_gemv_scalar;
    use proptest::prelude::*;

    use crate::test_rng::xorshift;

    fn check(packed: &[u8], rows: usize, cols: usize, q: &[i8], n: usize) {
        let tokens = I2sTokens::new(q, n, cols);
        let mut want = vec![0i32; n * rows];
        for t in 0..n {
            i2s_gemv_scalar(
                packed,
                rows,
                cols,
                &q[t * cols..(t + 1) * cols],
                &mut want[t * rows..(t + 1) * rows],
            );
        }
        for level in Level::available() {
            let mut got = vec![i32::MIN; n * rows];
            i2s_gemm_at(level, packed, rows, cols, &tokens, &mut got);
            assert_eq!(got, want, "{level}, {rows}x{cols}, {n} tokens");
        }
    }

    #[test]
    fn extremes_and_code_3() {
        // All −1, all 0, all +1 and all code 3 (weight 0), against −128 and 127, on the widest
        // 2B-4T row (54 blocks, even) and an odd block count.
        for cols in [6912, 384] {
            for byte in [0x00u8, 0x55, 0xAA, 0xFF] {
                for qv in [i8::MIN, 127, 0] {
                    for n in [1, 4, 5] {
                        let rows = 3;
                        check(
                            &vec![byte; rows * cols / 4],
                            rows,
                            cols,
                            &vec![qv; n * cols],
                            n,
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn empty_shapes() {
        check(&[], 0, 256, &[1; 512], 2);
        check(&[], 3, 0, &[], 2);
        check(&[0x55; 64], 1, 256, &[], 0);
        let t = I2sTokens::new(&[1, 2, 3, -4].repeat(64), 2, 128);
        assert_eq!((t.len(), t.cols(), t.sum(0), t.sum(1)), (2, 128, 64, 64));
        assert_eq!(t.token(1)[3], -4);
    }

    proptest! {
        #[test]
        fn every_level_matches_the_scalar_reference(
            rows in 0usize..9,
            blocks in 1usize..12,
            n in 1usize..10,
            seed in any::<u64>(),
        ) {
            let cols = blocks * 128;
            let mut next = xorshift(seed);
            // Any byte: code 3 included, as a hostile file could hold it.
            let packed: Vec<u8> = (0..rows * cols / 4).map(|_| next() as u8).collect();
            let q: Vec<i8> = (0..n * cols).map(|_| next() as i8).collect();
            check(&packed, rows, cols, &q, n);
        }
    }
}
