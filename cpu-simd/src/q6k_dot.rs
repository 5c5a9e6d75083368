//! Q6_K weights × per-token int8 activations: the LM head at 6.56 bits per weight, the
//! format llama.cpp and bitnet.cpp give the tied embedding of their BitNet models.
//!
//! # Q6_K (ggml `block_q6_K`, 210 bytes per 256 weights)
//! `ql[128]` low 4 bits, `qh[64]` high 2 bits, `scales[16]` (i8, one per 16 weights), `d`
//! (f16). In half n (128 weights: `ql[64n..]`, `qh[32n..]`), weight `l`, `32+l`, `64+l`,
//! `96+l` (l < 32) take the low nibble of `ql[l]`, the low nibble of `ql[32+l]`, the high
//! nibble of `ql[l]`, the high nibble of `ql[32+l]`, with `qh[l]` bits 1:0, 3:2, 5:4, 7:6 on
//! top. The weight is `d · scales[i/16] · (code − 32)`, code in 0..63.
//!
//! # The kernel's layout ([`Q6kRows`], repacked at load, 212 bytes per 256 weights)
//! The same codes in an order where 64 consecutive weights sit in consecutive bytes of one
//! vector, so they pair with 64 consecutive activations without any shuffle:
//! `bits[192]` per block is `lo0[64] lo1[64] hi[64]`; weight `j` (j < 64) of quarter g is
//! `lo_{g/2}[j]` nibble `g % 2` (low, then high) plus `hi[j]` bits `2g+1:2g`. Sub-block scales
//! (16 i8) and `d` (as f32) sit in their own arrays.
//!
//! # What is computed
//! `Σ_b d_b · Σ_{s ∈ b} scale_s · Σ_{j ∈ s} (code_j − 32)·q_j`: the sums inside a block are
//! exact integers in every implementation (at most 16·127·16·32·128 in magnitude); only the
//! f32 combination of blocks differs by summation order.

use half::f16;

use crate::Level;

/// Weights per Q6_K block.
pub const Q6K_BLOCK: usize = 256;
/// Bytes per Q6_K block in the file.
pub const Q6K_BLOCK_BYTES: usize = 210;
/// Code bytes per block in the kernel layout.
pub const Q6K_BITS_BYTES: usize = 192;

/// A Q6_K matrix in the kernel layout (see the module doc).
#[derive(Debug, Clone, Default)]
pub struct Q6kRows {
    /// Rows.
    pub rows: usize,
    /// Columns, a multiple of 256.
    pub cols: usize,
    bits: Vec<u8>,
    scales: Vec<i8>,
    d: Vec<f32>,
}

impl Q6kRows {
    /// Repacks `rows` rows of Q6_K blocks (`cols / 256` blocks of 210 bytes per row).
    ///
    /// # Panics
    /// If `cols` is not a multiple of 256 or `blocks` has the wrong length (the caller has
    /// validated the tensor).
    pub fn from_q6k(blocks: &[u8], rows: usize, cols: usize) -> Self {
        assert!(
            cols.is_multiple_of(Q6K_BLOCK),
            "Q6kRows: cols = {cols} is not a multiple of {Q6K_BLOCK}"
        );
        let n = rows * cols / Q6K_BLOCK;
        assert_eq!(
            blocks.len(),
            n * Q6K_BLOCK_BYTES,
            "Q6kRows: {rows}x{cols} needs {n} blocks of {Q6K_BLOCK_BYTES} bytes, got {} bytes",
            blocks.len()
        );
        let mut out = Q6kRows {
            rows,
            cols,
            bits: vec![0; n * Q6K_BITS_BYTES],
            scales: vec![0; n * 16],
            d: vec![0.0; n],
        };
        let mut codes = [0u8; Q6K_BLOCK];
        for (b, block) in blocks.chunks_exact(Q6K_BLOCK_BYTES).enumerate() {
            let block: &[u8; Q6K_BLOCK_BYTES] = block.try_into().expect("chunks_exact");
            block_codes(block, &mut codes);
            let bits = &mut out.bits[b * Q6K_BITS_BYTES..(b + 1) * Q6K_BITS_BYTES];
            for j in 0..64 {
                let c = |g: usize| codes[64 * g + j];
                bits[j] = (c(0) & 15) | (c(1) & 15) << 4;
                bits[64 + j] = (c(2) & 15) | (c(3) & 15) << 4;
                bits[128 + j] =
                    (c(0) >> 4) | (c(1) >> 4) << 2 | (c(2) >> 4) << 4 | (c(3) >> 4) << 6;
            }
            for (s, &v) in out.scales[16 * b..16 * b + 16]
                .iter_mut()
                .zip(&block[192..208])
            {
                *s = v as i8;
            }
            out.d[b] = f16::from_le_bytes([block[208], block[209]]).to_f32();
        }
        out
    }

    /// Bytes held (what a pass over the matrix reads).
    pub fn bytes(&self) -> usize {
        self.bits.len() + self.scales.len() + 4 * self.d.len()
    }

    /// Row `r` · `x`, where `x` was prepared from one token's int8 codes, with the best
    /// kernel this CPU has.
    ///
    /// # Panics
    /// If `r` is out of range or `x` has another length than `cols`.
    pub fn row_dot(&self, r: usize, x: &Q6kActs) -> f32 {
        let mut out = [0f32];
        self.rows_dot_at(Level::detect(), r, &mut out, x);
        out[0]
    }

    /// `out[i] = row (r0 + i) · x` for `out.len()` rows from `r0`, with the best kernel this
    /// CPU has (dispatch decided once for the band).
    ///
    /// # Panics
    /// If the rows are out of range or `x` has another length than `cols`.
    pub fn rows_dot(&self, r0: usize, out: &mut [f32], x: &Q6kActs) {
        self.rows_dot_at(Level::detect(), r0, out, x);
    }

    /// [`Q6kRows::rows_dot`] at a forced level: AVX-512 VNNI and AVX2 have their own kernels;
    /// AVX-512 without VNNI and portable run the portable loop under that level's features
    /// (scalar: plain code).
    ///
    /// # Panics
    /// As [`Q6kRows::rows_dot`], or if the CPU cannot run `level`.
    pub fn rows_dot_at(&self, level: Level, r0: usize, out: &mut [f32], x: &Q6kActs) {
        assert!(
            r0 + out.len() <= self.rows,
            "Q6kRows: rows {r0}..{} of {}",
            r0 + out.len(),
            self.rows
        );
        assert_eq!(
            x.q.len(),
            self.cols,
            "Q6kRows: {} activations for {} columns",
            x.q.len(),
            self.cols
        );
        assert!(level.is_available(), "this CPU cannot run {level}");
        let job = Rows {
            m: self,
            r0,
            out,
            x,
        };
        match level {
            Level::Scalar => job.run(|r, x| r.dot_portable(x)),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512Vnni => job.run(x86::vnni),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => match pulp::x86::V4::try_new() {
                Some(simd) => pulp::Simd::vectorize(simd, job),
                None => unreachable!("checked by is_available"),
            },
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => job.run(x86::avx2),
            _ => pulp::Arch::new().dispatch(job),
        }
    }

    fn row(&self, r: usize) -> RowRef<'_> {
        let nb = self.cols / Q6K_BLOCK;
        RowRef {
            bits: &self.bits[r * nb * Q6K_BITS_BYTES..(r + 1) * nb * Q6K_BITS_BYTES],
            scales: &self.scales[r * nb * 16..(r + 1) * nb * 16],
            d: &self.d[r * nb..(r + 1) * nb],
        }
    }
}

/// A band of rows to dot with one token.
struct Rows<'a> {
    m: &'a Q6kRows,
    r0: usize,
    out: &'a mut [f32],
    x: &'a Q6kActs,
}

impl Rows<'_> {
    #[inline(always)]
    fn run(self, dot: impl for<'r> Fn(RowRef<'r>, &Q6kActs) -> f32) {
        for (i, o) in self.out.iter_mut().enumerate() {
            *o = dot(self.m.row(self.r0 + i), self.x);
        }
    }
}

impl pulp::WithSimd for Rows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        self.run(|r, x| r.dot_portable(x));
    }
}

/// One token's int8 codes with what the kernels precompute from them once per token.
#[derive(Debug, Clone, Default)]
pub struct Q6kActs {
    q: Vec<i8>,
    /// `−32 · (q_{4i} + … + q_{4i+3})`: the VNNI kernel starts each group's sum from it, so
    /// it computes `Σ (code − 32)·q` with unsigned codes.
    neg_sum4: Vec<i32>,
}

impl Q6kActs {
    /// Prepares the codes of one token.
    pub fn new(q: &[i8]) -> Self {
        let neg_sum4 = q
            .chunks(4)
            .map(|c| -32 * c.iter().map(|&v| i32::from(v)).sum::<i32>())
            .collect();
        Q6kActs {
            q: q.to_vec(),
            neg_sum4,
        }
    }
}

/// The 256 codes (0..63) of one file block, in weight order.
fn block_codes(block: &[u8; Q6K_BLOCK_BYTES], codes: &mut [u8; Q6K_BLOCK]) {
    for n in 0..2 {
        let ql = &block[64 * n..64 * n + 64];
        let qh = &block[128 + 32 * n..128 + 32 * n + 32];
        let y = &mut codes[128 * n..128 * n + 128];
        for (l, &h) in qh.iter().enumerate() {
            y[l] = (ql[l] & 15) | (h & 3) << 4;
            y[32 + l] = (ql[32 + l] & 15) | ((h >> 2) & 3) << 4;
            y[64 + l] = (ql[l] >> 4) | ((h >> 4) & 3) << 4;
            y[96 + l] = (ql[32 + l] >> 4) | (h >> 6) << 4;
        }
    }
}

/// Scalar reference over the file's own bytes: `Σ_b d_b · Σ_s scale_s · Σ (code − 32)·q`,
/// blocks combined in order in f32.
///
/// # Panics
/// If `q.len()` is not a multiple of 256 or `blocks` does not hold `q.len() / 256` blocks.
pub fn q6k_row_dot_scalar(blocks: &[u8], q: &[i8]) -> f32 {
    assert!(
        q.len().is_multiple_of(Q6K_BLOCK) && blocks.len() == q.len() / Q6K_BLOCK * Q6K_BLOCK_BYTES,
        "q6k_row_dot_scalar: {} bytes for {} activations",
        blocks.len(),
        q.len()
    );
    let mut codes = [0u8; Q6K_BLOCK];
    let mut total = 0f32;
    for (block, qb) in blocks
        .chunks_exact(Q6K_BLOCK_BYTES)
        .zip(q.chunks_exact(Q6K_BLOCK))
    {
        let block: &[u8; Q6K_BLOCK_BYTES] = block.try_into().expect("chunks_exact");
        block_codes(block, &mut codes);
        let mut isum = 0i32;
        for (s, (cs, qs)) in codes.chunks_exact(16).zip(qb.chunks_exact(16)).enumerate() {
            let sub: i32 = cs
                .iter()
                .zip(qs)
                .map(|(&c, &v)| (i32::from(c) - 32) * i32::from(v))
                .sum();
            isum += i32::from(block[192 + s] as i8) * sub;
        }
        total += f16::from_le_bytes([block[208], block[209]]).to_f32() * isum as f32;
    }
    total
}

/// One row of a [`Q6kRows`].
#[derive(Clone, Copy)]
struct RowRef<'a> {
    bits: &'a [u8],
    scales: &'a [i8],
    d: &'a [f32],
}

impl RowRef<'_> {
    /// The layout decoded block by block into signed weights `code − 32`, then summed per
    /// sub-block: two simple loops the compiler vectorises under [`Rows`]' target features.
    #[inline(always)]
    fn dot_portable(self, x: &Q6kActs) -> f32 {
        let (blocks, _) = self.bits.as_chunks::<Q6K_BITS_BYTES>();
        let (qblocks, _) = x.q.as_chunks::<Q6K_BLOCK>();
        let (scales, _) = self.scales.as_chunks::<16>();
        let mut total = 0f32;
        let mut w = [0i8; Q6K_BLOCK];
        for (b, (bits, qb)) in blocks.iter().zip(qblocks).enumerate() {
            let (lo0, rest) = bits.split_at(64);
            let (lo1, hi) = rest.split_at(64);
            for j in 0..64 {
                let (l0, l1, h) = (lo0[j], lo1[j], hi[j]);
                w[j] = ((l0 & 15) | (h & 3) << 4) as i8 - 32;
                w[64 + j] = ((l0 >> 4) | ((h >> 2) & 3) << 4) as i8 - 32;
                w[128 + j] = ((l1 & 15) | ((h >> 4) & 3) << 4) as i8 - 32;
                w[192 + j] = ((l1 >> 4) | (h >> 6) << 4) as i8 - 32;
            }
            let mut isum = 0i32;
            for (s, &sc) in scales[b].iter().enumerate() {
                let sub: i32 = w[16 * s..16 * s + 16]
                    .iter()
                    .zip(&qb[16 * s..16 * s + 16])
                    .map(|(&a, &c)| i32::from(a) * i32::from(c))
                    .sum();
                isum += sub * i32::from(sc);
            }
            total += self.d[b] * isum as f32;
        }
        total
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Q6K_BITS_BYTES, Q6K_BLOCK, Q6kActs, RowRef};
    use core::arch::x86_64::*;
    use pulp::bytemuck::cast;

    /// The codes (0..63) of a block's four quarters from its low-nibble and high-bit vectors
    /// (see the module doc's layout), with the given width's intrinsics.
    macro_rules! quarter_codes {
        ($lo0:ident, $lo1:ident, $hi:ident, $m4:ident, $m30:ident,
         $or:ident, $and:ident, $shl:ident, $shr:ident) => {
            [
                $or($and($lo0, $m4), $and($shl($hi, 4), $m30)),
                $or($and($shr($lo0, 4), $m4), $and($shl($hi, 2), $m30)),
                $or($and($lo1, $m4), $and($hi, $m30)),
                $or($and($shr($lo1, 4), $m4), $and($shr($hi, 2), $m30)),
            ]
        };
    }

    pub(super) fn vnni(row: RowRef<'_>, x: &Q6kActs) -> f32 {
        debug_assert!(crate::i2s_gemv::has_avx512_vnni());
        // SAFETY: only `rows_dot_at` calls this, after asserting that the CPU runs
        // `Level::Avx512Vnni` (AVX-512 F, BW and VNNI).
        unsafe { kernel(row, x) }
    }

    pub(super) fn avx2(row: RowRef<'_>, x: &Q6kActs) -> f32 {
        debug_assert!(crate::Level::Avx2.is_available());
        // SAFETY: only `rows_dot_at` calls this, after asserting that the CPU runs
        // `Level::Avx2` (AVX2, FMA).
        unsafe { avx2_kernel(row, x) }
    }

    /// The VNNI kernel's plan on 256-bit vectors without `vpdpbusd`: `maddubs` multiplies the
    /// unsigned codes by the signed activations into i16 pairs (at most 2·63·128, no
    /// saturation), `madd` with ones widens them to i32 lanes of 4 weights, then each lane
    /// gets `−32·Σq` of its group and its sub-block's scale.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_kernel(row: RowRef<'_>, x: &Q6kActs) -> f32 {
        let (blocks, _) = row.bits.as_chunks::<Q6K_BITS_BYTES>();
        let (qs, _) = x.q.as_chunks::<32>();
        let (offs, _) = x.neg_sum4.as_chunks::<8>();
        let (scales, _) = row.scales.as_chunks::<16>();
        let m4 = _mm256_set1_epi8(0x0F);
        let m30 = _mm256_set1_epi8(0x30);
        let ones = _mm256_set1_epi16(1);
        // Lanes 0..4 of a 32-weight half take its first sub-block, lanes 4..8 the second.
        let idx = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
        let mut acc = _mm256_setzero_ps();
        for (b, bits) in blocks.iter().enumerate() {
            let (v, _) = bits.as_chunks::<32>();
            let sc: [i32; 16] = core::array::from_fn(|i| i32::from(scales[b][i]));
            let mut isum = _mm256_setzero_si256();
            for h in 0..2 {
                let (lo0, lo1, hi): (__m256i, __m256i, __m256i) =
                    (cast(v[h]), cast(v[2 + h]), cast(v[4 + h]));
                let codes = quarter_codes!(
                    lo0,
                    lo1,
                    hi,
                    m4,
                    m30,
                    _mm256_or_si256,
                    _mm256_and_si256,
                    _mm256_slli_epi16,
                    _mm256_srli_epi16
                );
                for (g, c) in codes.into_iter().enumerate() {
                    // Weights 64g + 32h .. +32: sub-blocks 4g + 2h and 4g + 2h + 1.
                    let k = b * (Q6K_BLOCK / 32) + 2 * g + h;
                    let pairs = _mm256_maddubs_epi16(c, cast(qs[k]));
                    let lanes = _mm256_add_epi32(_mm256_madd_epi16(pairs, ones), cast(offs[k]));
                    let s0 = 4 * g + 2 * h;
                    let scale = _mm256_permutevar8x32_epi32(
                        _mm256_setr_epi32(sc[s0], sc[s0 + 1], 0, 0, 0, 0, 0, 0),
                        idx,
                    );
                    isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(lanes, scale));
                }
            }
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(row.d[b]), acc);
        }
        let lanes: [f32; 8] = cast(acc);
        lanes.iter().sum()
    }

    /// Per block: the four 64-weight quarters' codes come from three vectors with shifts and
    /// masks; `vpdpbusd` adds groups of four `code·q` onto `−32·Σq` of the group, so each i32
    /// lane holds `Σ (code − 32)·q` of 4 weights; lanes are multiplied by their sub-block's
    /// scale and summed over the block, then scaled by `d` into f32 lanes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn kernel(row: RowRef<'_>, x: &Q6kActs) -> f32 {
        let (blocks, _) = row.bits.as_chunks::<Q6K_BITS_BYTES>();
        let (qs, _) = x.q.as_chunks::<64>();
        let (offs, _) = x.neg_sum4.as_chunks::<16>();
        let (scales, _) = row.scales.as_chunks::<16>();
        let m4 = _mm512_set1_epi8(0x0F);
        let m30 = _mm512_set1_epi8(0x30);
        // Lane i of quarter g takes sub-block 4g + i/4.
        let idx: [__m512i; 4] = core::array::from_fn(|g| {
            cast(core::array::from_fn::<i32, 16, _>(|i| {
                (4 * g + i / 4) as i32
            }))
        });
        let mut acc = _mm512_setzero_ps();
        for (b, bits) in blocks.iter().enumerate() {
            let (v, _) = bits.as_chunks::<64>();
            let [lo0, lo1, hi]: [__m512i; 3] = [cast(v[0]), cast(v[1]), cast(v[2])];
            let codes = quarter_codes!(
                lo0,
                lo1,
                hi,
                m4,
                m30,
                _mm512_or_si512,
                _mm512_and_si512,
                _mm512_slli_epi16,
                _mm512_srli_epi16
            );
            let sc = _mm512_cvtepi8_epi32(cast::<[i8; 16], __m128i>(scales[b]));
            let mut isum = _mm512_setzero_si512();
            for (g, c) in codes.into_iter().enumerate() {
                let k = b * (Q6K_BLOCK / 64) + g;
                let s = _mm512_dpbusd_epi32(cast(offs[k]), c, cast(qs[k]));
                isum = _mm512_add_epi32(
                    isum,
                    _mm512_mullo_epi32(s, _mm512_permutexvar_epi32(idx[g], sc)),
                );
            }
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(row.d[b]), acc);
        }
        _mm512_reduce_add_ps(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::test_rng::xorshift;

    /// Random file blocks: any code and scale bytes, a finite f16 `d`.
    fn random_blocks(n: usize, seed: u64) -> Vec<u8> {
        let mut next = xorshift(seed);
        let mut out = vec![0u8; n * Q6K_BLOCK_BYTES];
        for block in out.chunks_exact_mut(Q6K_BLOCK_BYTES) {
            for v in &mut block[..208] {
                *v = next() as u8;
            }
            let d = f16::from_f32((next() % 2000) as f32 / 1e5 - 0.01);
            block[208..].copy_from_slice(&d.to_le_bytes());
        }
        out
    }

    fn check_all_levels(blocks: &[u8], rows: usize, cols: usize, q: &[i8]) {
        let m = Q6kRows::from_q6k(blocks, rows, cols);
        let x = Q6kActs::new(q);
        let per_row = cols / Q6K_BLOCK * Q6K_BLOCK_BYTES;
        for r in 0..rows {
            let row = &blocks[r * per_row..(r + 1) * per_row];
            let want = q6k_row_dot_scalar(row, q);
            // Σ |d·scale·(code−32)·q| bounds the rounding of any summation order.
            let bound: f32 = row
                .chunks_exact(Q6K_BLOCK_BYTES)
                .map(|b| {
                    let d = f16::from_le_bytes([b[208], b[209]]).to_f32().abs();
                    d * 16.0 * 128.0 * 32.0 * 128.0
                })
                .sum();
            for level in Level::available() {
                let mut got = [0f32];
                m.rows_dot_at(level, r, &mut got, &x);
                let got = got[0];
                assert!(
                    (got - want).abs() <= 1e-5 * bound.max(1.0),
                    "{level} row {r}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn known_answer() {
        // One block: every code 33 (weight +1), scale 2 everywhere, d = 0.5: Σ q · 1.
        let mut block = [0u8; Q6K_BLOCK_BYTES];
        block[..128].fill(0x11);
        block[128..192].fill(0b1010_1010);
        block[192..208].fill(2);
        block[208..].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        let q: Vec<i8> = (0..256).map(|i| (i % 7) as i8 - 3).collect();
        let want = q.iter().map(|&v| f32::from(v)).sum::<f32>();
        assert_eq!(q6k_row_dot_scalar(&block, &q), want);
        let m = Q6kRows::from_q6k(&block, 1, 256);
        for level in Level::available() {
            let mut got = [0f32];
            m.rows_dot_at(level, 0, &mut got, &Q6kActs::new(&q));
            assert_eq!(got[0], want, "{level}");
        }
        assert_eq!(m.row_dot(0, &Q6kActs::new(&q)), want);
    }

    #[test]
    fn extremes_and_zeros() {
        let blocks = random_blocks(3 * 4, 9);
        check_all_levels(&blocks, 3, 1024, &[i8::MIN; 1024]);
        check_all_levels(&blocks, 3, 1024, &[127; 1024]);
        check_all_levels(&blocks, 3, 1024, &[0; 1024]);
        // Codes 0 and 63 (weights −32 and +31) with scales −128 and 127.
        let mut b = random_blocks(2, 3);
        b[..192].fill(0);
        b[192..208].fill(0x80);
        b[210..402].fill(0xFF);
        b[402..418].fill(0x7F);
        check_all_levels(&b, 1, 512, &[i8::MIN; 512]);
        check_all_levels(&b, 2, 256, &[127; 256]);
        assert_eq!(Q6kRows::from_q6k(&[], 0, 256).bytes(), 0);
    }

    proptest! {
        #[test]
        fn every_level_matches_the_scalar_reference(
            rows in 1usize..5,
            nb in 1usize..12,
            seed in any::<u64>(),
        ) {
            let cols = nb * Q6K_BLOCK;
            let blocks = random_blocks(rows * nb, seed);
            let mut next = xorshift(seed ^ 0x5555);
            let q: Vec<i8> = (0..cols).map(|_| next() as i8).collect();
            check_all_levels(&blocks, rows, cols, &q);
        }
    }

    #[test]
    #[should_panic(expected = "not a multiple of 256")]
    fn ragged_cols_panic() {
        Q6kRows::from_q6k(&[], 1, 100);
    }
}
