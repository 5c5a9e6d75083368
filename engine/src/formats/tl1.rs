//! TL1, bitnet.cpp's ARM lookup-table layout (specs/formats-and-models.md §1.3).
//!
//! Each pair of weights (w0 at column 2j, w1 at 2j+1) becomes one 4-bit index
//! `3·w0 + w1 + 4` (0..8), so a row costs K/4 bytes. Bytes are ordered the way the kernel
//! walks them, outer to inner: row tile (M/BM), column tile (K/BK), row block (BM/bm),
//! column step (BK/by, by = 256/bm), 16-row group (bm/16), pair couple (by/4), row (16).
//! A byte holds the couple's even pair in its high nibble. The f32 tensor scale follows the
//! M·K/4 index bytes, then padding to 32 bytes (where bitnet.cpp's converter puts its
//! separate `<name>_scale` tensor, so the kernel reads the scale at the same place).

use super::tl_tiles::TlTiles;
use super::{FormatError, TensorType};

/// Bytes after the indices: the f32 scale and 28 bytes of padding.
pub const TAIL_BYTES: usize = 32;

/// Index of a weight pair.
#[inline]
pub(crate) fn pair_index(w0: i8, w1: i8) -> u8 {
    (3 * w0 + w1 + 4) as u8
}

/// The weight pair of an index (9..15 are never written; they read as zeros).
#[inline]
pub(crate) fn pair_weights(idx: u8) -> (i8, i8) {
    if idx > 8 {
        return (0, 0);
    }
    (idx as i8 / 3 - 1, idx as i8 % 3 - 1)
}

/// Where the index of pair `j` of row `m` lives: (byte offset, high nibble?).
#[inline]
pub(crate) fn locate(t: &TlTiles, cols: usize, m: usize, j: usize) -> (usize, bool) {
    let by = 256 / t.bmm;
    let (tm, sm, g, r) = (m / t.bm, (m % t.bm) / t.bmm, (m % t.bmm) / 16, m % 16);
    let (tk, rest) = (j / (t.bk / 2), j % (t.bk / 2));
    let (sk, p) = (rest / (by / 2), rest % (by / 2));
    let (q, h) = (p / 2, p % 2);
    let tile = tm * (cols / t.bk) + tk;
    let off = ((((tile * (t.bm / t.bmm) + sm) * (t.bk / by) + sk) * (t.bmm / 16) + g) * (by / 4)
        + q)
        * 16
        + r;
    (off, h == 0)
}

/// The byte address of every index of one tensor, precomputed. The address is a sum of a row
/// part and a column part (each tile index has a fixed stride), so
/// `at(m, j) = locate(m, 0) + locate(0, j)`.
#[derive(Debug, Clone)]
pub(crate) struct Tl1Map {
    rows: Vec<usize>,
    pairs: Vec<(usize, bool)>,
}

impl Tl1Map {
    pub(crate) fn new(t: &TlTiles, rows: usize, cols: usize) -> Tl1Map {
        Tl1Map {
            rows: (0..rows).map(|m| locate(t, cols, m, 0).0).collect(),
            pairs: (0..cols / 2).map(|j| locate(t, cols, 0, j)).collect(),
        }
    }

    /// (byte offset, high nibble?) of pair `j` of row `m`.
    #[inline]
    pub(crate) fn at(&self, m: usize, j: usize) -> (usize, bool) {
        let (off, high) = self.pairs[j];
        (self.rows[m] + off, high)
    }
}

/// Total size of a TL1 tensor: M·K/4 index bytes and the 32-byte tail.
pub fn nbytes(rows: usize, cols: usize) -> Result<usize, FormatError> {
    rows.checked_mul(cols / 4)
        .and_then(|n| n.checked_add(TAIL_BYTES))
        .ok_or_else(|| FormatError::BadShape {
            ty: TensorType::TL1,
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
    t.check(TensorType::TL1, rows, cols)?;
    super::ternary::check_weights(weights, rows, cols)?;
    let body = rows * cols / 4;
    let mut out = vec![0u8; nbytes(rows, cols)?];
    let map = Tl1Map::new(t, rows, cols);
    for m in 0..rows {
        let row = &weights[m * cols..(m + 1) * cols];
        for (j, pair) in row.chunks_exact(2).enumerate() {
            let (off, high) = map.at(m, j);
            let idx = pair_index(pair[0], pair[1]);
            out[off] |= if high { idx << 4 } else { idx };
        }
    }
    out[body..body + 4].copy_from_slice(&scale.to_le_bytes());
    Ok(out)
}

/// Reads the f32 scale of a whole TL1 tensor (its length already checked).
pub fn scale(data: &[u8], rows: usize, cols: usize) -> f32 {
    let at = rows * cols / 4;
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[at..at + 4]);
    f32::from_le_bytes(b)
}

/// Decodes row `m`'s weights into `out[..cols]`.
pub(crate) fn decode_row(data: &[u8], cols: usize, map: &Tl1Map, m: usize, out: &mut [i8]) {
    for (j, pair) in out[..cols].chunks_exact_mut(2).enumerate() {
        let (off, high) = map.at(m, j);
        let idx = if high { data[off] >> 4 } else { data[off] & 15 };
        (pair[0], pair[1]) = pair_weights(idx);
    }
}
