//! The pair family, lut2: layout, packing, the scalar reference and the portable loop.

use super::{LUT_TILE_ROWS, build_tables, check_codes, check_gemv, check_level};
use crate::Level;

/// Weights per quad: the two pairs that share a byte.
const QUAD: usize = 4;

/// The index of a zero pair, which fills the padding.
const ZERO_PAIR: u8 = 4;

/// Quads per row of the layout (`cols` padded to a multiple of 4).
fn quads(cols: usize) -> usize {
    cols.div_ceil(QUAD)
}

/// `(w0+1)·3 + (w1+1)`, the pair's table index.
fn pair_index(w0: i8, w1: i8) -> u8 {
    // Both are in -1..=1, checked by the caller, so the sum is in 0..9.
    ((w0 + 1) * 3 + (w1 + 1)) as u8
}

/// The weights a pair index stands for; 9..=15 (never written) read as a zero pair, as the
/// kernels' zeroed table entries make them.
const fn pair_weights(idx: u8) -> [i8; 2] {
    if idx < 9 {
        [(idx / 3) as i8 - 1, (idx % 3) as i8 - 1]
    } else {
        [0, 0]
    }
}

/// `PAIR_W[n][i]`: weight `n` of the pair with index `i`.
pub(super) const PAIR_W: [[i16; 16]; 2] = {
    let mut w = [[0i16; 16]; 2];
    let mut i = 0;
    while i < 16 {
        let [w0, w1] = pair_weights(i as u8);
        w[0][i] = w0 as i16;
        w[1][i] = w1 as i16;
        i += 1;
    }
    w
};

/// One table per pair of activations: entry `i` = `w0(i)·q0 + w1(i)·q1`, 0 for `i ≥ 9`.
#[inline(always)]
fn tables(q: &[i8], cols: usize) -> Vec<[i16; 16]> {
    build_tables(q, 2 * quads(cols), &PAIR_W)
}

/// Bytes of a packed lut2 matrix: `⌈rows/64⌉·64·⌈cols/4⌉` (see the module doc's layout).
pub fn lut2_packed_len(rows: usize, cols: usize) -> usize {
    rows.div_ceil(LUT_TILE_ROWS) * LUT_TILE_ROWS * quads(cols)
}

/// Packs a row-major ternary matrix (`codes[r·cols + k]` ∈ {−1, 0, 1}) into the lut2 layout
/// described in the module doc: 64-row tiles, one byte per row and quad, pair indices
/// `(w0+1)·3 + (w1+1)` in its nibbles (the lower pair in the low nibble), zero-weight padding.
///
/// # Panics
/// If `codes.len() != rows·cols`, `cols > LUT_MAX_COLS`, or a code is not in {−1, 0, 1}.
pub fn lut2_pack(codes: &[i8], rows: usize, cols: usize) -> Vec<u8> {
    check_codes("lut2_pack", codes, rows, cols);
    let nq = quads(cols);
    let mut packed = vec![ZERO_PAIR * 17; lut2_packed_len(rows, cols)];
    if nq == 0 {
        return packed;
    }
    for (r, row) in codes.chunks_exact(cols).enumerate() {
        let w = |k: usize| row.get(k).copied().unwrap_or(0);
        let (tile, lane) = (r / LUT_TILE_ROWS, r % LUT_TILE_ROWS);
        for j in 0..nq {
            let k = QUAD * j;
            let lo = pair_index(w(k), w(k + 1));
            let hi = pair_index(w(k + 2), w(k + 3));
            packed[(tile * nq + j) * LUT_TILE_ROWS + lane] = lo | hi << 4;
        }
    }
    packed
}

/// Inverse of [`lut2_pack`]: the row-major codes (padding dropped).
///
/// # Panics
/// If `packed.len() != lut2_packed_len(rows, cols)`.
pub fn lut2_unpack(packed: &[u8], rows: usize, cols: usize) -> Vec<i8> {
    assert_eq!(
        packed.len(),
        lut2_packed_len(rows, cols),
        "lut2_unpack: packed has {} bytes, a {rows}x{cols} matrix packs into {}",
        packed.len(),
        lut2_packed_len(rows, cols)
    );
    let nq = quads(cols);
    let mut codes = vec![0i8; rows * cols];
    for (r, row) in codes.chunks_exact_mut(cols.max(1)).enumerate().take(rows) {
        let (tile, lane) = (r / LUT_TILE_ROWS, r % LUT_TILE_ROWS);
        for (k, c) in row.iter_mut().enumerate() {
            let b = packed[(tile * nq + k / QUAD) * LUT_TILE_ROWS + lane];
            let idx = if k % QUAD < 2 { b & 15 } else { b >> 4 };
            *c = pair_weights(idx)[k % 2];
        }
    }
    codes
}

/// Scalar reference: builds one 16-entry table per pair of activations, then walks the
/// packed bytes in storage order adding one table entry per pair and row. The oracle for the
/// other levels (the tests also hold it to a naive `Σ w·q` over the unpacked codes).
///
/// # Panics
/// If `packed.len() != lut2_packed_len(rows, cols)`, `q.len() != cols`, `out.len() != rows`
/// or `cols > LUT_MAX_COLS`.
pub fn lut2_gemv_scalar(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [i32]) {
    let len = lut2_packed_len(rows, cols);
    check_gemv("lut2_gemv_scalar", len, packed, rows, cols, q, out);
    scalar(packed, cols, q, out);
}

fn scalar(packed: &[u8], cols: usize, q: &[i8], out: &mut [i32]) {
    let nq = quads(cols);
    if nq == 0 {
        out.fill(0);
        return;
    }
    let tables = tables(q, cols);
    for (tile, out_tile) in packed
        .chunks_exact(LUT_TILE_ROWS * nq)
        .zip(out.chunks_mut(LUT_TILE_ROWS))
    {
        let mut acc = [0i32; LUT_TILE_ROWS];
        for (lanes, t) in tile
            .chunks_exact(LUT_TILE_ROWS)
            .zip(tables.as_chunks::<2>().0)
        {
            for (a, &b) in acc.iter_mut().zip(lanes) {
                *a += i32::from(t[0][usize::from(b & 15)]) + i32::from(t[1][usize::from(b >> 4)]);
            }
        }
        out_tile.copy_from_slice(&acc[..out_tile.len()]);
    }
}

/// `out[r] = Σ_k w[r][k]·q[k]` at a forced [`Level`] (see the module doc for what each runs).
/// Every level returns exactly what [`lut2_gemv_scalar`] returns.
///
/// # Panics
/// As [`lut2_gemv_scalar`], and if the CPU cannot run `level`.
pub fn lut2_gemv_at(
    level: Level,
    packed: &[u8],
    rows: usize,
    cols: usize,
    q: &[i8],
    out: &mut [i32],
) {
    let len = lut2_packed_len(rows, cols);
    check_gemv("lut2_gemv", len, packed, rows, cols, q, out);
    check_level("lut2_gemv", level);
    let nq = quads(cols);
    if nq == 0 {
        out.fill(0);
        return;
    }
    match level {
        Level::Scalar => scalar(packed, cols, q, out),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => super::x86::lut2_avx2(packed, nq, q, out),
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 | Level::Avx512Vnni => super::x86::lut2_avx512(packed, nq, q, out),
        _ => pulp::Arch::new().dispatch(Portable { packed, nq, q, out }),
    }
}

/// [`lut2_gemv_at`] at the best level this CPU runs ([`Level::detect`]).
///
/// # Panics
/// As [`lut2_gemv_scalar`].
pub fn lut2_gemv(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [i32]) {
    lut2_gemv_at(Level::detect(), packed, rows, cols, q, out);
}

/// The reference loop compiled under pulp's best target features: with fixed-size lanes and
/// masked indices LLVM may turn the lookups into gathers (AVX2/AVX-512) where it finds that
/// profitable. The fallback shape of the code for CPUs without a dedicated kernel.
struct Portable<'a> {
    packed: &'a [u8],
    nq: usize,
    q: &'a [i8],
    out: &'a mut [i32],
}

impl pulp::WithSimd for Portable<'_> {
    type Output = ();

    // inline(always) so the body is compiled inside pulp's #[target_feature] wrapper.
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self { packed, nq, q, out } = self;
        let tables = build_tables(q, 2 * nq, &PAIR_W);
        let (pairs, _) = tables.as_chunks::<2>();
        for (tile, out_tile) in packed
            .chunks_exact(LUT_TILE_ROWS * nq)
            .zip(out.chunks_mut(LUT_TILE_ROWS))
        {
            let (steps, _) = tile.as_chunks::<LUT_TILE_ROWS>();
            let mut acc = [0i32; LUT_TILE_ROWS];
            for (lanes, [t0, t1]) in steps.iter().zip(pairs) {
                for r in 0..LUT_TILE_ROWS {
                    let b = lanes[r];
                    acc[r] +=
                        i32::from(t0[usize::from(b & 15)]) + i32::from(t1[usize::from(b >> 4)]);
                }
            }
            out_tile.copy_from_slice(&acc[..out_tile.len()]);
        }
    }
}
