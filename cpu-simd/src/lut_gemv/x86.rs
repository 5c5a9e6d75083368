//! The `pshufb` kernels, AVX2 (pulp `V3`) and AVX-512BW (pulp `V4`).
//!
//! Per lookup step and register of rows: extract the index nibbles (shift, mask), fetch the
//! low and high table bytes with two `pshufb` (the table broadcast to every 128-bit lane),
//! interleave them into i16 (`punpcklbw` gives rows 0..8 of each 128-bit lane, `punpckhbw`
//! rows 8..16) and add into i16 accumulators, widened into i32 (`pmovsxwd`) before they can
//! overflow. The interleave leaves the i32 lanes in a fixed permutation of the tile's rows,
//! undone once per tile by [`finish`]. Vectors come from arrays through `bytemuck::cast`
//! (unaligned loads), so there is no `unsafe` here.

use super::pair::PAIR_W;
use super::triplet::{GROUP_TRIPLETS, HEADER_BYTES, TRIPLET_W};
use super::{LUT_TILE_ROWS, padded};
use core::arch::x86_64::{__m128i, __m256i, __m512i};
use pulp::bytemuck::cast;
use pulp::x86::{V3, V4};

/// lut2 quads summed in i16 between widenings: each quad adds two entries of magnitude ≤ 256
/// to a lane, and 63·512 = 32256 ≤ i16::MAX.
const LUT2_FLUSH_QUADS: usize = 63;

/// lut3 groups summed in i16 between widenings: each triplet adds `T` or `!T = −T−1`, at most
/// 385 in magnitude, and 10·8·385 = 30800 ≤ i16::MAX.
const LUT3_FLUSH_GROUPS: usize = 10;

/// The first tile row of each 8-lane i32 chunk, in the order the AVX-512 kernels store their
/// four accumulators: (unpacklo, low half), (unpacklo, high half), then the unpackhi pair.
/// unpacklo's i16 lanes hold rows 0..8 of each 128-bit lane, i.e. rows 0..8, 16..24, 32..40,
/// 48..56, and `pmovsxwd` of a 256-bit half keeps their order.
const AVX512_CHUNK_ROWS: [usize; 8] = [0, 16, 32, 48, 8, 24, 40, 56];

/// The same for the AVX2 kernels, which hold the tile as two 32-row halves and store, per
/// half, unpacklo's low and high 128-bit lanes, then unpackhi's.
const AVX2_CHUNK_ROWS: [usize; 8] = [0, 16, 8, 24, 32, 48, 40, 56];

/// Puts a tile's i32 chunks back in row order, adds lut3's negative-triplet counts (`header`)
/// and writes the rows that exist.
fn finish(chunks: [[i32; 8]; 8], order: &[usize; 8], header: Option<&[u8]>, out: &mut [i32]) {
    let mut rows = [0i32; LUT_TILE_ROWS];
    for (chunk, &first) in chunks.iter().zip(order) {
        rows[first..first + 8].copy_from_slice(chunk);
    }
    if let Some(header) = header {
        for (r, c) in rows.iter_mut().zip(header.as_chunks::<4>().0) {
            // The counts are at most cols/3 < i32::MAX.
            *r += u32::from_le_bytes(*c) as i32;
        }
    }
    out.copy_from_slice(&rows[..out.len()]);
}

/// The `pshufb` tables: per block of `G` groups of `N` activations, each group's i16 table
/// (entry `i` = `Σ_n w[n][i]·q_n`) split into its low bytes and its high bytes. Written with
/// intrinsics because LLVM turns the portable form, a multiply by constant ±1/0 patterns, into
/// scalar byte stores, which made the build cost as much as a tile of lookups.
#[inline(always)]
fn split_tables<const N: usize, const G: usize>(
    simd: V3,
    q: &[i8],
    blocks: usize,
    w: &[[i16; 16]; N],
) -> Vec<[[[u8; 16]; 2]; G]> {
    let (a, a2) = (simd.avx, simd.avx2);
    let mut wv = [a._mm256_setzero_si256(); N];
    for (v, w) in wv.iter_mut().zip(w) {
        *v = cast(*w);
    }
    // Per 128-bit lane: the low bytes of its eight i16 entries, then their high bytes.
    let split: __m256i = cast([[0u8, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15]; 2]);
    let q = padded(q, blocks * G * N);
    let mut tables = vec![[[[0u8; 16]; 2]; G]; blocks];
    for (block, qs) in tables.iter_mut().zip(q.chunks_exact(G * N)) {
        for (t, qs) in block.iter_mut().zip(qs.as_chunks::<N>().0) {
            let mut e = a._mm256_setzero_si256();
            for (&qn, &wn) in qs.iter().zip(&wv) {
                // psignw multiplies by a weight in {−1, 0, 1} exactly.
                let term = a2._mm256_sign_epi16(a._mm256_set1_epi16(i16::from(qn)), wn);
                e = a2._mm256_add_epi16(e, term);
            }
            // Qwords [lo 0..8, hi 0..8, lo 8..16, hi 8..16] → [lo 0..16, hi 0..16].
            let bytes = a2._mm256_shuffle_epi8(e, split);
            *t = cast(a2._mm256_permute4x64_epi64::<0b11_01_10_00>(bytes));
        }
    }
    tables
}

/// Runs the AVX2 lut2 kernel; the caller has checked shapes, `nq > 0` and the level.
pub(super) fn lut2_avx2(packed: &[u8], nq: usize, q: &[i8], out: &mut [i32]) {
    let simd = V3::try_new().expect("level checked by the caller");
    pulp::Simd::vectorize(
        simd,
        Lut2Avx2 {
            simd,
            packed,
            nq,
            q,
            out,
        },
    );
}

/// Runs the AVX-512BW lut2 kernel; the caller has checked shapes, `nq > 0` and the level.
pub(super) fn lut2_avx512(packed: &[u8], nq: usize, q: &[i8], out: &mut [i32]) {
    let simd = V4::try_new().expect("level checked by the caller");
    pulp::Simd::vectorize(
        simd,
        Lut2Avx512 {
            simd,
            packed,
            nq,
            q,
            out,
        },
    );
}

/// Runs the AVX2 lut3 kernel; the caller has checked shapes and the level.
pub(super) fn lut3_avx2(
    packed: &[u8],
    tile_bytes: usize,
    groups: usize,
    q: &[i8],
    out: &mut [i32],
) {
    let simd = V3::try_new().expect("level checked by the caller");
    pulp::Simd::vectorize(
        simd,
        Lut3Avx2 {
            simd,
            packed,
            tile_bytes,
            groups,
            q,
            out,
        },
    );
}

/// Runs the AVX-512BW lut3 kernel; the caller has checked shapes and the level.
pub(super) fn lut3_avx512(
    packed: &[u8],
    tile_bytes: usize,
    groups: usize,
    q: &[i8],
    out: &mut [i32],
) {
    let simd = V4::try_new().expect("level checked by the caller");
    pulp::Simd::vectorize(
        simd,
        Lut3Avx512 {
            simd,
            packed,
            tile_bytes,
            groups,
            q,
            out,
        },
    );
}

/// lut2 on 64 rows per zmm register.
struct Lut2Avx512<'a> {
    simd: V4,
    packed: &'a [u8],
    nq: usize,
    q: &'a [i8],
    out: &'a mut [i32],
}

impl pulp::WithSimd for Lut2Avx512<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            simd,
            packed,
            nq,
            q,
            out,
        } = self;
        let tables = split_tables::<2, 2>(*simd, q, nq, &PAIR_W);
        let (f, bw) = (simd.avx512f, simd.avx512bw);
        let nib = f._mm512_set1_epi8(0x0f);
        let zero = f._mm512_setzero_si512();
        let bcast = |t: [u8; 16]| f._mm512_broadcast_i32x4(cast::<_, __m128i>(t));
        let widen = |acc: __m512i, v: __m256i| f._mm512_add_epi32(acc, f._mm512_cvtepi16_epi32(v));
        for (tile, out_tile) in packed
            .chunks_exact(LUT_TILE_ROWS * nq)
            .zip(out.chunks_mut(LUT_TILE_ROWS))
        {
            let (steps, _) = tile.as_chunks::<LUT_TILE_ROWS>();
            let mut acc = [zero; 4];
            for (ws, ts) in steps
                .chunks(LUT2_FLUSH_QUADS)
                .zip(tables.chunks(LUT2_FLUSH_QUADS))
            {
                let (mut lo, mut hi) = (zero, zero);
                for (w, t) in ws.iter().zip(ts) {
                    let b: __m512i = cast(*w);
                    let n0 = f._mm512_and_si512(b, nib);
                    let n1 = f._mm512_and_si512(bw._mm512_srli_epi16::<4>(b), nib);
                    let [[tl0, th0], [tl1, th1]] = *t;
                    let l0 = bw._mm512_shuffle_epi8(bcast(tl0), n0);
                    let h0 = bw._mm512_shuffle_epi8(bcast(th0), n0);
                    let l1 = bw._mm512_shuffle_epi8(bcast(tl1), n1);
                    let h1 = bw._mm512_shuffle_epi8(bcast(th1), n1);
                    lo = bw._mm512_add_epi16(
                        lo,
                        bw._mm512_add_epi16(
                            bw._mm512_unpacklo_epi8(l0, h0),
                            bw._mm512_unpacklo_epi8(l1, h1),
                        ),
                    );
                    hi = bw._mm512_add_epi16(
                        hi,
                        bw._mm512_add_epi16(
                            bw._mm512_unpackhi_epi8(l0, h0),
                            bw._mm512_unpackhi_epi8(l1, h1),
                        ),
                    );
                }
                acc[0] = widen(acc[0], f._mm512_castsi512_si256(lo));
                acc[1] = widen(acc[1], f._mm512_extracti64x4_epi64::<1>(lo));
                acc[2] = widen(acc[2], f._mm512_castsi512_si256(hi));
                acc[3] = widen(acc[3], f._mm512_extracti64x4_epi64::<1>(hi));
            }
            finish(cast(acc), &AVX512_CHUNK_ROWS, None, out_tile);
        }
    }
}

/// lut2 on the tile's two 32-row halves, one ymm register each.
struct Lut2Avx2<'a> {
    simd: V3,
    packed: &'a [u8],
    nq: usize,
    q: &'a [i8],
    out: &'a mut [i32],
}

impl pulp::WithSimd for Lut2Avx2<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            simd,
            packed,
            nq,
            q,
            out,
        } = self;
        let tables = split_tables::<2, 2>(simd, q, nq, &PAIR_W);
        let (a, a2) = (simd.avx, simd.avx2);
        let nib = a._mm256_set1_epi8(0x0f);
        let zero = a._mm256_setzero_si256();
        let bcast = |t: [u8; 16]| a2._mm256_broadcastsi128_si256(cast::<_, __m128i>(t));
        let widen =
            |acc: __m256i, v: __m128i| a2._mm256_add_epi32(acc, a2._mm256_cvtepi16_epi32(v));
        for (tile, out_tile) in packed
            .chunks_exact(LUT_TILE_ROWS * nq)
            .zip(out.chunks_mut(LUT_TILE_ROWS))
        {
            let (steps, _) = tile.as_chunks::<LUT_TILE_ROWS>();
            // Per 32-row half: i32 chunks as in AVX2_CHUNK_ROWS.
            let mut acc = [zero; 8];
            for (ws, ts) in steps
                .chunks(LUT2_FLUSH_QUADS)
                .zip(tables.chunks(LUT2_FLUSH_QUADS))
            {
                let mut lohi = [zero; 4];
                for (w, t) in ws.iter().zip(ts) {
                    let halves: [__m256i; 2] = cast(*w);
                    let t = t.as_flattened();
                    let t = [bcast(t[0]), bcast(t[1]), bcast(t[2]), bcast(t[3])];
                    for (h, b) in halves.into_iter().enumerate() {
                        let n0 = a2._mm256_and_si256(b, nib);
                        let n1 = a2._mm256_and_si256(a2._mm256_srli_epi16::<4>(b), nib);
                        let l0 = a2._mm256_shuffle_epi8(t[0], n0);
                        let h0 = a2._mm256_shuffle_epi8(t[1], n0);
                        let l1 = a2._mm256_shuffle_epi8(t[2], n1);
                        let h1 = a2._mm256_shuffle_epi8(t[3], n1);
                        lohi[2 * h] = a2._mm256_add_epi16(
                            lohi[2 * h],
                            a2._mm256_add_epi16(
                                a2._mm256_unpacklo_epi8(l0, h0),
                                a2._mm256_unpacklo_epi8(l1, h1),
                            ),
                        );
                        lohi[2 * h + 1] = a2._mm256_add_epi16(
                            lohi[2 * h + 1],
                            a2._mm256_add_epi16(
                                a2._mm256_unpackhi_epi8(l0, h0),
                                a2._mm256_unpackhi_epi8(l1, h1),
                            ),
                        );
                    }
                }
                for (i, v) in lohi.into_iter().enumerate() {
                    acc[2 * i] = widen(acc[2 * i], a._mm256_castsi256_si128(v));
                    acc[2 * i + 1] = widen(acc[2 * i + 1], a2._mm256_extracti128_si256::<1>(v));
                }
            }
            finish(cast(acc), &AVX2_CHUNK_ROWS, None, out_tile);
        }
    }
}

/// lut3 on 64 rows per zmm register; the sign mask is a k-register from `vptestmb`.
struct Lut3Avx512<'a> {
    simd: V4,
    packed: &'a [u8],
    tile_bytes: usize,
    groups: usize,
    q: &'a [i8],
    out: &'a mut [i32],
}

impl pulp::WithSimd for Lut3Avx512<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            simd,
            packed,
            tile_bytes,
            groups,
            q,
            out,
        } = self;
        let tables = split_tables::<3, GROUP_TRIPLETS>(*simd, q, groups, &TRIPLET_W);
        let (f, bw) = (simd.avx512f, simd.avx512bw);
        let nib = f._mm512_set1_epi8(0x0f);
        let ones = f._mm512_set1_epi8(-1);
        let zero = f._mm512_setzero_si512();
        let bcast = |t: [u8; 16]| f._mm512_broadcast_i32x4(cast::<_, __m128i>(t));
        let widen = |acc: __m512i, v: __m256i| f._mm512_add_epi32(acc, f._mm512_cvtepi16_epi32(v));
        let mut bits = [zero; 8];
        for (s, bit) in bits.iter_mut().enumerate() {
            *bit = f._mm512_set1_epi8(1 << s);
        }
        for (tile, out_tile) in packed
            .chunks_exact(tile_bytes)
            .zip(out.chunks_mut(LUT_TILE_ROWS))
        {
            let (header, body) = tile.split_at(HEADER_BYTES);
            // Five 64-byte planes per group (bytemuck has no Pod for [u8; 320]).
            let (groups, _) = body.as_chunks::<LUT_TILE_ROWS>().0.as_chunks::<5>();
            let mut acc = [zero; 4];
            for (gs, ts) in groups
                .chunks(LUT3_FLUSH_GROUPS)
                .zip(tables.chunks(LUT3_FLUSH_GROUPS))
            {
                let (mut lo, mut hi) = (zero, zero);
                for (group, t) in gs.iter().zip(ts) {
                    let planes: [__m512i; 5] = cast(*group);
                    for s in 0..8 {
                        let b = planes[s / 2];
                        let n = if s % 2 == 0 {
                            f._mm512_and_si512(b, nib)
                        } else {
                            f._mm512_and_si512(bw._mm512_srli_epi16::<4>(b), nib)
                        };
                        let neg = bw._mm512_test_epi8_mask(planes[4], bits[s]);
                        // !T where the triplet is negative: `ones − x` is `x ^ 0xff`.
                        let l = bw._mm512_shuffle_epi8(bcast(t[s][0]), n);
                        let l = bw._mm512_mask_sub_epi8(l, neg, ones, l);
                        let h = bw._mm512_shuffle_epi8(bcast(t[s][1]), n);
                        let h = bw._mm512_mask_sub_epi8(h, neg, ones, h);
                        lo = bw._mm512_add_epi16(lo, bw._mm512_unpacklo_epi8(l, h));
                        hi = bw._mm512_add_epi16(hi, bw._mm512_unpackhi_epi8(l, h));
                    }
                }
                acc[0] = widen(acc[0], f._mm512_castsi512_si256(lo));
                acc[1] = widen(acc[1], f._mm512_extracti64x4_epi64::<1>(lo));
                acc[2] = widen(acc[2], f._mm512_castsi512_si256(hi));
                acc[3] = widen(acc[3], f._mm512_extracti64x4_epi64::<1>(hi));
            }
            finish(cast(acc), &AVX512_CHUNK_ROWS, Some(header), out_tile);
        }
    }
}

/// lut3 on two 32-row halves; the sign mask is a byte vector from `vpcmpeqb`.
struct Lut3Avx2<'a> {
    simd: V3,
    packed: &'a [u8],
    tile_bytes: usize,
    groups: usize,
    q: &'a [i8],
    out: &'a mut [i32],
}

impl pulp::WithSimd for Lut3Avx2<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            simd,
            packed,
            tile_bytes,
            groups,
            q,
            out,
        } = self;
        let tables = split_tables::<3, GROUP_TRIPLETS>(simd, q, groups, &TRIPLET_W);
        let (a, a2) = (simd.avx, simd.avx2);
        let nib = a._mm256_set1_epi8(0x0f);
        let zero = a._mm256_setzero_si256();
        let bcast = |t: [u8; 16]| a2._mm256_broadcastsi128_si256(cast::<_, __m128i>(t));
        let widen =
            |acc: __m256i, v: __m128i| a2._mm256_add_epi32(acc, a2._mm256_cvtepi16_epi32(v));
        let mut bits = [zero; 8];
        for (s, bit) in bits.iter_mut().enumerate() {
            *bit = a._mm256_set1_epi8(1 << s);
        }
        for (tile, out_tile) in packed
            .chunks_exact(tile_bytes)
            .zip(out.chunks_mut(LUT_TILE_ROWS))
        {
            let (header, body) = tile.split_at(HEADER_BYTES);
            // Five 64-byte planes per group (bytemuck has no Pod for [u8; 320]).
            let (groups, _) = body.as_chunks::<LUT_TILE_ROWS>().0.as_chunks::<5>();
            let mut acc = [zero; 8];
            for (gs, ts) in groups
                .chunks(LUT3_FLUSH_GROUPS)
                .zip(tables.chunks(LUT3_FLUSH_GROUPS))
            {
                let mut lohi = [zero; 4];
                for (group, t) in gs.iter().zip(ts) {
                    let planes: [[__m256i; 2]; 5] = cast(*group);
                    for s in 0..8 {
                        let (tl, th) = (bcast(t[s][0]), bcast(t[s][1]));
                        for h in 0..2 {
                            let b = planes[s / 2][h];
                            let n = if s % 2 == 0 {
                                a2._mm256_and_si256(b, nib)
                            } else {
                                a2._mm256_and_si256(a2._mm256_srli_epi16::<4>(b), nib)
                            };
                            let neg = a2._mm256_cmpeq_epi8(
                                a2._mm256_and_si256(planes[4][h], bits[s]),
                                bits[s],
                            );
                            // !T where the triplet is negative.
                            let l = a2._mm256_xor_si256(a2._mm256_shuffle_epi8(tl, n), neg);
                            let hb = a2._mm256_xor_si256(a2._mm256_shuffle_epi8(th, n), neg);
                            lohi[2 * h] =
                                a2._mm256_add_epi16(lohi[2 * h], a2._mm256_unpacklo_epi8(l, hb));
                            lohi[2 * h + 1] = a2
                                ._mm256_add_epi16(lohi[2 * h + 1], a2._mm256_unpackhi_epi8(l, hb));
                        }
                    }
                }
                for (i, v) in lohi.into_iter().enumerate() {
                    acc[2 * i] = widen(acc[2 * i], a._mm256_castsi256_si128(v));
                    acc[2 * i + 1] = widen(acc[2 * i + 1], a2._mm256_extracti128_si256::<1>(v));
                }
            }
            finish(cast(acc), &AVX2_CHUNK_ROWS, Some(header), out_tile);
        }
    }
}
