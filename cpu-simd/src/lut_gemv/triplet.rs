//! The triplet family, lut3: layout, packing, the scalar reference and the portable loop.

use super::{LUT_TILE_ROWS, build_tables, check_codes, check_gemv, check_level};
use crate::Level;

/// Triplets per group: eight, so one sign byte per row covers a group.
pub(super) const GROUP_TRIPLETS: usize = 8;
/// Columns per group.
const GROUP_COLS: usize = 3 * GROUP_TRIPLETS;
/// Bytes of one group in a tile: four magnitude planes and one sign plane.
pub(super) const GROUP_BYTES: usize = 5 * LUT_TILE_ROWS;
/// Bytes of a tile's header: one u32 negative-triplet count per row.
pub(super) const HEADER_BYTES: usize = 4 * LUT_TILE_ROWS;

/// Groups per row of the layout (`cols` padded to a multiple of 24).
fn groups(cols: usize) -> usize {
    cols.div_ceil(GROUP_COLS)
}

/// Bytes of one 64-row tile.
fn tile_bytes(cols: usize) -> usize {
    HEADER_BYTES + GROUP_BYTES * groups(cols)
}

/// `(|v|, v < 0)` for `v = 9·w0 + 3·w1 + w2`: `v` is the triplet read as a balanced-ternary
/// number, so `−v` is the negated triplet and `|v| ≤ 13` names the pattern up to sign.
pub(super) fn triplet_code(w: [i8; 3]) -> (u8, bool) {
    let v = 9 * w[0] + 3 * w[1] + w[2];
    (v.unsigned_abs(), v < 0)
}

/// The triplet whose balanced-ternary value is `m` (0..=13); 14 and 15 (never written) read
/// as zeros, as the kernels' zeroed table entries make them.
pub(super) const fn triplet_weights(m: u8) -> [i8; 3] {
    if m > 13 {
        return [0; 3];
    }
    let m = m as i8;
    let w2 = (m + 1).rem_euclid(3) - 1;
    let m = (m - w2) / 3;
    let w1 = (m + 1).rem_euclid(3) - 1;
    [(m - w1) / 3, w1, w2]
}

/// `TRIPLET_W[n][m]`: weight `n` of the triplet with magnitude index `m`.
pub(super) const TRIPLET_W: [[i16; 16]; 3] = {
    let mut w = [[0i16; 16]; 3];
    let mut m = 0;
    while m < 16 {
        let t = triplet_weights(m as u8);
        let mut n = 0;
        while n < 3 {
            w[n][m] = t[n] as i16;
            n += 1;
        }
        m += 1;
    }
    w
};

/// One table per triplet of activations: entry `m` = `Σ_n triplet_weights(m)[n]·q_n`.
#[inline(always)]
fn tables(q: &[i8], cols: usize) -> Vec<[i16; 16]> {
    build_tables(q, GROUP_TRIPLETS * groups(cols), &TRIPLET_W)
}

/// Bytes of a packed lut3 matrix: `⌈rows/64⌉·(256 + 320·⌈cols/24⌉)` (see the module doc).
pub fn lut3_packed_len(rows: usize, cols: usize) -> usize {
    rows.div_ceil(LUT_TILE_ROWS) * tile_bytes(cols)
}

/// Packs a row-major ternary matrix (`codes[r·cols + k]` ∈ {−1, 0, 1}) into the lut3 layout
/// described in the module doc: 64-row tiles, each a header of per-row negative-triplet counts
/// and then, per 8 triplets, four planes of magnitude nibbles and one plane of sign bits.
/// Columns past `cols` (to a multiple of 24) are zero weights.
///
/// # Panics
/// If `codes.len() != rows·cols`, `cols > LUT_MAX_COLS`, or a code is not in {−1, 0, 1}.
pub fn lut3_pack(codes: &[i8], rows: usize, cols: usize) -> Vec<u8> {
    check_codes("lut3_pack", codes, rows, cols);
    let ng = groups(cols);
    let tb = tile_bytes(cols);
    let mut packed = vec![0u8; lut3_packed_len(rows, cols)];
    if cols == 0 {
        return packed;
    }
    for (r, row) in codes.chunks_exact(cols).enumerate() {
        let w = |k: usize| row.get(k).copied().unwrap_or(0);
        let (tile, lane) = (r / LUT_TILE_ROWS, r % LUT_TILE_ROWS);
        let base = tile * tb;
        let mut negatives = 0u32;
        for g in 0..ng {
            let group = base + HEADER_BYTES + g * GROUP_BYTES;
            for s in 0..GROUP_TRIPLETS {
                let k = 3 * (GROUP_TRIPLETS * g + s);
                let (mag, neg) = triplet_code([w(k), w(k + 1), w(k + 2)]);
                packed[group + (s / 2) * LUT_TILE_ROWS + lane] |= mag << (4 * (s % 2));
                packed[group + 4 * LUT_TILE_ROWS + lane] |= u8::from(neg) << s;
                negatives += u32::from(neg);
            }
        }
        packed[base + 4 * lane..][..4].copy_from_slice(&negatives.to_le_bytes());
    }
    packed
}

/// Inverse of [`lut3_pack`]: the row-major codes (padding dropped; the header is not read).
///
/// # Panics
/// If `packed.len() != lut3_packed_len(rows, cols)`.
pub fn lut3_unpack(packed: &[u8], rows: usize, cols: usize) -> Vec<i8> {
    assert_eq!(
        packed.len(),
        lut3_packed_len(rows, cols),
        "lut3_unpack: packed has {} bytes, a {rows}x{cols} matrix packs into {}",
        packed.len(),
        lut3_packed_len(rows, cols)
    );
    let tb = tile_bytes(cols);
    let mut codes = vec![0i8; rows * cols];
    for (r, row) in codes.chunks_exact_mut(cols.max(1)).enumerate() {
        let (tile, lane) = (r / LUT_TILE_ROWS, r % LUT_TILE_ROWS);
        for (k, c) in row.iter_mut().enumerate() {
            let p = k / 3;
            let (g, s) = (p / GROUP_TRIPLETS, p % GROUP_TRIPLETS);
            let group = tile * tb + HEADER_BYTES + g * GROUP_BYTES;
            let mag = (packed[group + (s / 2) * LUT_TILE_ROWS + lane] >> (4 * (s % 2))) & 15;
            let neg = (packed[group + 4 * LUT_TILE_ROWS + lane] >> s) & 1 == 1;
            let w = triplet_weights(mag)[k % 3];
            *c = if neg { -w } else { w };
        }
    }
    codes
}

/// Scalar reference: builds one 16-entry table per triplet of activations, then walks the
/// packed bytes in storage order adding `±table[|v|]` per triplet and row. It negates plainly
/// and never reads the tile headers, so it checks the other levels' complement-and-count trick
/// from outside.
///
/// # Panics
/// If `packed.len() != lut3_packed_len(rows, cols)`, `q.len() != cols`, `out.len() != rows`
/// or `cols > LUT_MAX_COLS`.
pub fn lut3_gemv_scalar(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [i32]) {
    let len = lut3_packed_len(rows, cols);
    check_gemv("lut3_gemv_scalar", len, packed, rows, cols, q, out);
    let tables = tables(q, cols);
    for (tile, out_tile) in packed
        .chunks_exact(tile_bytes(cols))
        .zip(out.chunks_mut(LUT_TILE_ROWS))
    {
        let mut acc = [0i32; LUT_TILE_ROWS];
        let body = &tile[HEADER_BYTES..];
        for (group, tables) in body
            .chunks_exact(GROUP_BYTES)
            .zip(tables.chunks_exact(GROUP_TRIPLETS))
        {
            let (mags, signs) = group.split_at(4 * LUT_TILE_ROWS);
            for (s, t) in tables.iter().enumerate() {
                let plane = &mags[(s / 2) * LUT_TILE_ROWS..][..LUT_TILE_ROWS];
                for ((a, &b), &sign) in acc.iter_mut().zip(plane).zip(signs) {
                    let v = i32::from(t[usize::from((b >> (4 * (s % 2))) & 15)]);
                    *a += if (sign >> s) & 1 == 1 { -v } else { v };
                }
            }
        }
        out_tile.copy_from_slice(&acc[..out_tile.len()]);
    }
}

/// `out[r] = Σ_k w[r][k]·q[k]` at a forced [`Level`] (see the module doc for what each runs).
/// Every level returns exactly what [`lut3_gemv_scalar`] returns.
///
/// # Panics
/// As [`lut3_gemv_scalar`], and if the CPU cannot run `level`.
pub fn lut3_gemv_at(
    level: Level,
    packed: &[u8],
    rows: usize,
    cols: usize,
    q: &[i8],
    out: &mut [i32],
) {
    let len = lut3_packed_len(rows, cols);
    check_gemv("lut3_gemv", len, packed, rows, cols, q, out);
    check_level("lut3_gemv", level);
    let tb = tile_bytes(cols);
    match level {
        Level::Scalar => lut3_gemv_scalar(packed, rows, cols, q, out),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => super::x86::lut3_avx2(packed, tb, groups(cols), q, out),
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 | Level::Avx512Vnni => {
            super::x86::lut3_avx512(packed, tb, groups(cols), q, out)
        }
        _ => pulp::Arch::new().dispatch(Portable {
            packed,
            tile_bytes: tb,
            cols,
            q,
            out,
        }),
    }
}

/// [`lut3_gemv_at`] at the best level this CPU runs ([`Level::detect`]).
///
/// # Panics
/// As [`lut3_gemv_scalar`].
pub fn lut3_gemv(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [i32]) {
    lut3_gemv_at(Level::detect(), packed, rows, cols, q, out);
}

/// The portable loop: the SIMD kernels' arithmetic (complement by sign mask, then add the
/// header's counts) on i32 lanes, so it is branch-free and vectorisable, and so it exercises the
/// header on every CPU.
struct Portable<'a> {
    packed: &'a [u8],
    tile_bytes: usize,
    cols: usize,
    q: &'a [i8],
    out: &'a mut [i32],
}

impl pulp::WithSimd for Portable<'_> {
    type Output = ();

    // inline(always) so the body is compiled inside pulp's #[target_feature] wrapper.
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            packed,
            tile_bytes,
            cols,
            q,
            out,
        } = self;
        let tables = tables(q, cols);
        let (tables, _) = tables.as_chunks::<GROUP_TRIPLETS>();
        for (tile, out_tile) in packed
            .chunks_exact(tile_bytes)
            .zip(out.chunks_mut(LUT_TILE_ROWS))
        {
            let (header, body) = tile.split_at(HEADER_BYTES);
            let (groups, _) = body.as_chunks::<GROUP_BYTES>();
            let mut acc = [0i32; LUT_TILE_ROWS];
            for (group, t) in groups.iter().zip(tables) {
                let (planes, _) = group.as_chunks::<LUT_TILE_ROWS>();
                let signs = &planes[4];
                for s in 0..GROUP_TRIPLETS {
                    let plane = &planes[s / 2];
                    for r in 0..LUT_TILE_ROWS {
                        let m = (plane[r] >> (4 * (s % 2))) & 15;
                        let mask = -i32::from((signs[r] >> s) & 1);
                        acc[r] += i32::from(t[s][usize::from(m)]) ^ mask;
                    }
                }
            }
            let (counts, _) = header.as_chunks::<4>();
            for (a, c) in acc.iter_mut().zip(counts) {
                *a += u32::from_le_bytes(*c) as i32;
            }
            out_tile.copy_from_slice(&acc[..out_tile.len()]);
        }
    }
}
