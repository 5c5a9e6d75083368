//! TL2, bitnet.cpp's x86 lookup-table layout (specs/formats-and-models.md §1.4).
//!
//! K splits into `three_k = ⌊K/BK⌋·BK` columns taken in triplets and a remainder
//! `two_k = K − three_k` (a multiple of 32) taken in pairs. Three parts follow each other,
//! each spanning every row tile:
//!
//! 1. Triplet nibbles (M·three_k/6 bytes): triplet t of a row (columns 3t..3t+2) has
//!    v = 9·w0 + 3·w1 + w2 ∈ −13..13 and stores |v|. Order: row tile (M/BM), column tile,
//!    32-row block (BM/32), triplet couple (BK/6), then 32 bytes, one per row of the block
//!    in the permuted order [0–7, 16–23, 8–15, 24–31]; the couple's even triplet is the high
//!    nibble.
//! 2. Signs (M·three_k/24 bytes): one bit per triplet and row, set when v < 0. Per row
//!    tile, column tile and 32-row block, groups of 8 triplets take 32 bytes = 16
//!    little-endian u16 words; word w holds rows w and w+16, the bit of (row r, triplet t) at
//!    15 − (2·(t mod 8) + (r ≥ 16)).
//! 3. Pair nibbles of the remainder (M·two_k/4 bytes), TL1's index `3·w0 + w1 + 4`, in
//!    32-column tiles: row tile, column tile, 32-row block, pair couple (8), 32 permuted rows.
//!
//! Zero padding follows up to bitnet.cpp's size formula, which is rounded up to 32 bytes;
//! there sits the f32 tensor scale, then 28 bytes of padding.

use super::tl_tiles::TlTiles;
use super::{FormatError, TensorType, tensor_nbytes};

/// Bytes after the scale offset: the f32 scale and 28 bytes of padding.
pub const TAIL_BYTES: usize = 32;

/// The split of K into triplet columns and pair columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    pub three_k: usize,
    pub two_k: usize,
}

impl Split {
    pub(crate) fn new(cols: usize, t: &TlTiles) -> Split {
        let three_k = cols / t.bk * t.bk;
        Split {
            three_k,
            two_k: cols - three_k,
        }
    }
}

/// Byte position of row `rr` (0..32) in a 32-byte vector.
#[inline]
pub(crate) fn row_pos(rr: usize) -> usize {
    match rr {
        8..=15 => rr + 8,
        16..=23 => rr - 8,
        _ => rr,
    }
}

/// Where triplet `tr` of row `m` lives: (nibble byte, high nibble?, sign byte, sign bit).
#[inline]
pub(crate) fn locate_triplet(
    t: &TlTiles,
    rows: usize,
    s: Split,
    m: usize,
    tr: usize,
) -> (usize, bool, usize, u8) {
    let (tm, sm, rr) = (m / t.bm, (m % t.bm) / 32, m % 32);
    let (tk, tt) = (tr / (t.bk / 3), tr % (t.bk / 3));
    let block = (tm * (s.three_k / t.bk) + tk) * (t.bm / 32) + sm;
    let nib = (block * (t.bk / 6) + tt / 2) * 32 + row_pos(rr);
    let signs_start = rows * s.three_k / 6;
    let bit = 15 - (2 * (tt % 8) + usize::from(rr >= 16));
    let word = (block * (t.bk / 24) + tt / 8) * 32 + 2 * (rr % 16);
    (
        nib,
        tt % 2 == 0,
        signs_start + word + bit / 8,
        (bit % 8) as u8,
    )
}

/// Where pair `j` of the remainder of row `m` lives: (byte, high nibble?).
#[inline]
pub(crate) fn locate_pair(t: &TlTiles, rows: usize, s: Split, m: usize, j: usize) -> (usize, bool) {
    let (tm, sm, rr) = (m / t.bm, (m % t.bm) / 32, m % 32);
    let start = rows * s.three_k / 6 + rows * s.three_k / 24;
    let block = (tm * (s.two_k / 32) + j / 16) * (t.bm / 32) + sm;
    (
        start + (block * 8 + (j % 16) / 2) * 32 + row_pos(rr),
        j.is_multiple_of(2),
    )
}

/// The byte addresses of every triplet, sign and pair of one tensor, precomputed. Each
/// address is a row part plus a column part (every tile index has a fixed stride), so
/// `f(m, t) = f(m, 0) + f(0, t) − f(0, 0)`; a sign's bit moves down by one for rows 16..32 of
/// a block.
#[derive(Debug, Clone)]
pub(crate) struct Tl2Map {
    split: Split,
    /// Per row: triplet nibble base, sign byte base, sign bit shift (rr ≥ 16), pair base.
    rows: Vec<(usize, usize, u8, usize)>,
    /// Per triplet: nibble offset, high nibble?, sign byte offset, sign bit (for rr < 16).
    triplets: Vec<(usize, bool, usize, u8)>,
    /// Per remainder pair: byte offset, high nibble?
    pairs: Vec<(usize, bool)>,
}

impl Tl2Map {
    pub(crate) fn new(t: &TlTiles, rows: usize, cols: usize) -> Tl2Map {
        let s = Split::new(cols, t);
        let (n0, _, s0, _) = locate_triplet(t, rows, s, 0, 0);
        let (p0, _) = locate_pair(t, rows, s, 0, 0);
        Tl2Map {
            split: s,
            rows: (0..rows)
                .map(|m| {
                    let (n, _, sb, _) = locate_triplet(t, rows, s, m, 0);
                    let (p, _) = locate_pair(t, rows, s, m, 0);
                    (n - n0, sb - s0, u8::from(m % 32 >= 16), p - p0)
                })
                .collect(),
            triplets: (0..s.three_k / 3)
                .map(|tr| locate_triplet(t, rows, s, 0, tr))
                .collect(),
            pairs: (0..s.two_k / 2)
                .map(|j| locate_pair(t, rows, s, 0, j))
                .collect(),
        }
    }
}

/// Total size of a TL2 tensor (bitnet.cpp's formula, rounded up to 32, plus the tail).
pub fn nbytes(rows: usize, cols: usize) -> Result<usize, FormatError> {
    let n = tensor_nbytes(TensorType::TL2, &[cols as u64, rows as u64])?;
    usize::try_from(n).map_err(|_| FormatError::BadShape {
        ty: TensorType::TL2,
        dims: vec![cols as u64, rows as u64],
        why: "byte size overflows",
    })
}

/// Packs row-major weights in {−1, 0, +1} with tile parameters `t` (checked here), followed
/// by `scale` as f32.
pub fn pack(
    weights: &[i8],
    rows: usize,
    cols: usize,
    scale: f32,
    t: &TlTiles,
) -> Result<Vec<u8>, FormatError> {
    t.check(TensorType::TL2, rows, cols)?;
    super::ternary::check_weights(weights, rows, cols)?;
    let total = nbytes(rows, cols)?;
    let s = Split::new(cols, t);
    let content = rows * s.three_k / 6 + rows * s.three_k / 24 + rows * s.two_k / 4;
    if content > total - TAIL_BYTES {
        return Err(FormatError::BadShape {
            ty: TensorType::TL2,
            dims: vec![cols as u64, rows as u64],
            why: "the pair remainder is too long for TL2's size formula",
        });
    }
    let mut out = vec![0u8; total];
    let map = Tl2Map::new(t, rows, cols);
    for (m, &(nib_base, sign_base, shift, pair_base)) in map.rows.iter().enumerate() {
        let row = &weights[m * cols..(m + 1) * cols];
        for (w, &(nib, high, sign_byte, bit)) in row[..s.three_k].chunks_exact(3).zip(&map.triplets)
        {
            let v = 9 * w[0] + 3 * w[1] + w[2];
            let idx = v.unsigned_abs();
            out[nib_base + nib] |= if high { idx << 4 } else { idx };
            if v < 0 {
                out[sign_base + sign_byte] |= 1 << (bit - shift);
            }
        }
        for (w, &(off, high)) in row[s.three_k..].chunks_exact(2).zip(&map.pairs) {
            let idx = super::tl1::pair_index(w[0], w[1]);
            out[pair_base + off] |= if high { idx << 4 } else { idx };
        }
    }
    out[total - TAIL_BYTES..total - TAIL_BYTES + 4].copy_from_slice(&scale.to_le_bytes());
    Ok(out)
}

/// Reads the f32 scale of a whole TL2 tensor (its length already checked).
pub fn scale(data: &[u8]) -> f32 {
    let at = data.len() - TAIL_BYTES;
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[at..at + 4]);
    f32::from_le_bytes(b)
}

/// The weights (w0, w1, w2) of each magnitude 0..13: the balanced-ternary digits of
/// 9·w0 + 3·w1 + w2 (w0 ≥ 0); 14 and 15 are never written and read as zeros.
const TRIPLETS: [[i8; 3]; 16] = {
    let mut t = [[0i8; 3]; 16];
    let mut v = 0;
    while v < 14 {
        let c = (v + 1) % 3 - 1;
        let b = ((v - c) / 3 + 1) % 3 - 1;
        let a = (v - c - 3 * b) / 9;
        t[v as usize] = [a as i8, b as i8, c as i8];
        v += 1;
    }
    t
};

/// The weights of a triplet magnitude and sign.
#[inline]
pub(crate) fn triplet_weights(idx: u8, negative: bool) -> [i8; 3] {
    let [a, b, c] = TRIPLETS[usize::from(idx & 15)];
    if negative { [-a, -b, -c] } else { [a, b, c] }
}

/// Decodes row `m`'s weights into `out[..cols]`.
pub(crate) fn decode_row(data: &[u8], cols: usize, map: &Tl2Map, m: usize, out: &mut [i8]) {
    let (nib_base, sign_base, shift, pair_base) = map.rows[m];
    let (three, two) = out[..cols].split_at_mut(map.split.three_k);
    for (w, &(nib, high, sign_byte, bit)) in three.chunks_exact_mut(3).zip(&map.triplets) {
        let b = data[nib_base + nib];
        let idx = if high { b >> 4 } else { b & 15 };
        let negative = data[sign_base + sign_byte] >> (bit - shift) & 1 == 1;
        w.copy_from_slice(&triplet_weights(idx, negative));
    }
    for (w, &(off, high)) in two.chunks_exact_mut(2).zip(&map.pairs) {
        let b = data[pair_base + off];
        let idx = if high { b >> 4 } else { b & 15 };
        (w[0], w[1]) = super::tl1::pair_weights(idx);
    }
}
