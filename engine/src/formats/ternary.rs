//! The ternary weight types (I2_S, TL1, TL2, TQ1_0, TQ2_0) seen as one logical matrix.
//!
//! Backends never read the on-disk layouts directly: they decode rows into codes plus scales
//! with [`TernaryRowDecoder`] (or repack from [`unpack_ternary`]), so each layout's bit
//! twiddling lives in exactly one place ([`super::i2s`], [`super::tl1`], [`super::tl2`],
//! [`super::tq1_0`], [`super::tq2_0`]). TL1/TL2 rows are gathered from their tiles, so they
//! need the tile parameters the tensor was packed with ([`TlTiles`]).

use super::tl_tiles::TlTiles;
use super::{FormatError, TensorType, i2s, tensor_nbytes, tl1, tl2, tq1_0, tq2_0};
use half::f16;

/// A logical ternary matrix: `W[rows][cols] = codes[r*cols+c] * scale`, codes in {−1, 0, 1}.
#[derive(Debug, Clone, PartialEq)]
pub struct TernaryMatrix {
    /// Output rows (ggml ne1).
    pub rows: usize,
    /// Input columns (ggml ne0), contiguous within a row.
    pub cols: usize,
    /// Row-major codes, each −1, 0 or +1.
    pub codes: Vec<i8>,
    /// The single scale every code is multiplied by.
    pub scale: f32,
}

impl TernaryMatrix {
    /// Builds a matrix after checking that `codes` is rows×cols long and ternary.
    pub fn new(rows: usize, cols: usize, codes: Vec<i8>, scale: f32) -> Result<Self, FormatError> {
        let m = TernaryMatrix {
            rows,
            cols,
            codes,
            scale,
        };
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), FormatError> {
        if self.rows.checked_mul(self.cols) != Some(self.codes.len()) {
            return Err(FormatError::BadValue(format!(
                "{} codes for a {}×{} ternary matrix",
                self.codes.len(),
                self.rows,
                self.cols
            )));
        }
        if let Some(bad) = self.codes.iter().find(|c| !(-1..=1).contains(*c)) {
            return Err(FormatError::BadValue(format!(
                "ternary code {bad} is not in {{-1, 0, 1}}"
            )));
        }
        if !self.scale.is_finite() {
            return Err(FormatError::BadValue(format!(
                "ternary scale {} is not finite",
                self.scale
            )));
        }
        Ok(())
    }
}

/// A whole ternary tensor decoded by [`unpack_ternary`].
#[derive(Debug, Clone, PartialEq)]
pub struct UnpackedTernary {
    /// Row-major codes, rows×cols (TQ2_0's never-written code 3 appears as +2).
    pub codes: Vec<i8>,
    /// Row-major scales, `blocks_per_row` per row.
    pub scales: Vec<f32>,
    /// Consecutive weights of a row that one scale covers (cols for I2_S, 256 for TQ types).
    pub block_len: usize,
    /// Scales per row (1 for I2_S, cols/256 for TQ types).
    pub blocks_per_row: usize,
}

/// Checks that `weights` is a `rows`×`cols` matrix of values in {−1, 0, +1}.
pub(crate) fn check_weights(weights: &[i8], rows: usize, cols: usize) -> Result<(), FormatError> {
    if rows.checked_mul(cols) != Some(weights.len()) {
        return Err(FormatError::BadValue(format!(
            "{} weights for a {rows}×{cols} ternary matrix",
            weights.len()
        )));
    }
    match weights.iter().find(|c| !(-1..=1).contains(*c)) {
        Some(bad) => Err(FormatError::BadValue(format!(
            "ternary weight {bad} is not in {{-1, 0, 1}}"
        ))),
        None => Ok(()),
    }
}

/// [`pack_ternary`] with explicit TL1/TL2 tile parameters (`None`: [`TlTiles::choose`]);
/// other types ignore them.
pub fn pack_ternary_with_tiles(
    ty: TensorType,
    m: &TernaryMatrix,
    tiles: Option<TlTiles>,
) -> Result<Vec<u8>, FormatError> {
    match ty {
        TensorType::TL1 | TensorType::TL2 => {
            m.validate()?;
            let t = match tiles {
                Some(t) => t,
                None => TlTiles::choose(ty, m.rows, m.cols)?,
            };
            if ty == TensorType::TL1 {
                tl1::pack(&m.codes, m.rows, m.cols, m.scale, &t)
            } else {
                tl2::pack(&m.codes, m.rows, m.cols, m.scale, &t)
            }
        }
        _ => pack_ternary(ty, m),
    }
}

/// Packs a ternary matrix into the bytes of `ty` by that layout's reference rules.
///
/// - I2_S: codes as given, then `scale` as the f32 tail (a negative scale is stored as is).
/// - TL1/TL2: tiled with [`TlTiles::choose`], the scale as the f32 tail (as I2_S).
/// - TQ1_0/TQ2_0: the reference block quantizer is applied to the floats `code·scale`, so a
///   block with a nonzero weight gets d = f16(|scale|) (a negative scale flips the codes, as
///   the quantizer would) and an all-zero block gets d = 0. A scale beyond f16 range is
///   rejected, since the block could only store infinity.
pub fn pack_ternary(ty: TensorType, m: &TernaryMatrix) -> Result<Vec<u8>, FormatError> {
    m.validate()?;
    match ty {
        TensorType::I2_S => i2s::pack(&m.codes, m.rows, m.cols, m.scale),
        TensorType::TQ1_0 | TensorType::TQ2_0 => {
            let total = tq_nbytes(ty, m.rows, m.cols)?;
            if f16::from_f32(m.scale).is_infinite() {
                return Err(FormatError::BadValue(format!(
                    "ternary scale {} does not fit the f16 block scale of {ty}",
                    m.scale
                )));
            }
            let mut out = vec![0u8; total];
            let mut x = [0f32; 256];
            if ty == TensorType::TQ1_0 {
                let (blocks, _) = out.as_chunks_mut::<{ tq1_0::BLOCK_BYTES }>();
                let (codes, _) = m.codes.as_chunks::<{ tq1_0::BLOCK_WEIGHTS }>();
                for (o, c) in blocks.iter_mut().zip(codes) {
                    fill(&mut x, c, m.scale);
                    *o = tq1_0::quantize_block(&x);
                }
            } else {
                let (blocks, _) = out.as_chunks_mut::<{ tq2_0::BLOCK_BYTES }>();
                let (codes, _) = m.codes.as_chunks::<{ tq2_0::BLOCK_WEIGHTS }>();
                for (o, c) in blocks.iter_mut().zip(codes) {
                    fill(&mut x, c, m.scale);
                    *o = tq2_0::quantize_block(&x);
                }
            }
            Ok(out)
        }
        TensorType::TL1 | TensorType::TL2 => pack_ternary_with_tiles(ty, m, None),
        other => Err(not_ternary(other)),
    }
}

fn fill(x: &mut [f32; 256], codes: &[i8; 256], scale: f32) {
    for (v, &c) in x.iter_mut().zip(codes) {
        *v = f32::from(c) * scale;
    }
}

fn not_ternary(ty: TensorType) -> FormatError {
    FormatError::BadValue(format!("{ty} is not a ternary type"))
}

/// Size of a TQ tensor, enforcing whole blocks per row (blocks never straddle rows).
fn tq_nbytes(ty: TensorType, rows: usize, cols: usize) -> Result<usize, FormatError> {
    let bad = |why| FormatError::BadShape {
        ty,
        dims: vec![cols as u64, rows as u64],
        why,
    };
    if !cols.is_multiple_of(256) {
        return Err(bad("row length is not a multiple of the block size 256"));
    }
    let block_bytes = if ty == TensorType::TQ1_0 {
        tq1_0::BLOCK_BYTES
    } else {
        tq2_0::BLOCK_BYTES
    };
    rows.checked_mul(cols / 256)
        .and_then(|b| b.checked_mul(block_bytes))
        .ok_or_else(|| bad("byte size overflows"))
}

/// Checks that `data_len` bytes is exactly a `rows`×`cols` tensor of ternary type `ty`, and
/// that the shape is one the layout can hold.
///
/// - I2_S: cols a nonzero multiple of 128, rows·cols/4 + 32 bytes. The fork cuts the
///   flattened tensor into blocks, so the format alone would allow any rows·cols that is a
///   multiple of 128, but then rows start mid-block and the reference kernels (which index
///   rows as whole blocks) break; no model has such a shape, so it is rejected.
/// - TQ1_0/TQ2_0: cols % 256 == 0, 54 or 66 bytes per 256 weights.
/// - TL1/TL2: the fork's size rules ([`tensor_nbytes`]); whether the tiling fits is checked
///   with the tile parameters ([`TlTiles::check`]).
pub fn check_ternary(
    ty: TensorType,
    data_len: usize,
    rows: usize,
    cols: usize,
) -> Result<(), FormatError> {
    let expected = match ty {
        TensorType::I2_S => i2s::nbytes(rows, cols)?,
        TensorType::TQ1_0 | TensorType::TQ2_0 => tq_nbytes(ty, rows, cols)?,
        TensorType::TL1 | TensorType::TL2 => {
            let n = tensor_nbytes(ty, &[cols as u64, rows as u64])?;
            usize::try_from(n).map_err(|_| FormatError::BadShape {
                ty,
                dims: vec![cols as u64, rows as u64],
                why: "byte size overflows",
            })?
        }
        other => return Err(not_ternary(other)),
    };
    if data_len != expected {
        return Err(FormatError::BadLength {
            ty,
            got: data_len,
            expected,
        });
    }
    Ok(())
}

/// Reads the per-tensor scale from the tail of a whole I2_S tensor of `rows`×`cols`.
pub fn i2s_scale(data: &[u8], rows: usize, cols: usize) -> Result<f32, FormatError> {
    i2s::scale(data, rows, cols)
}

/// Decodes rows of one validated ternary tensor without re-checking it for every row.
///
/// Built once per tensor (checking the size and shape, and reading I2_S's tail scale), then
/// [`TernaryRowDecoder::decode_row`] runs in backends' inner loops: it does not allocate and
/// decodes whole bytes through per-layout lookup tables.
#[derive(Debug, Clone)]
pub struct TernaryRowDecoder<'a> {
    ty: TensorType,
    data: &'a [u8],
    rows: usize,
    cols: usize,
    row_bytes: usize,
    /// The per-tensor scale of I2_S, TL1 and TL2.
    tensor_scale: f32,
    /// TL1/TL2 tile parameters.
    tiles: Option<TlTiles>,
    /// TL1/TL2 byte addresses.
    tl_map: TlMap,
}

/// Precomputed TL addresses (row decoding would otherwise redo the tile arithmetic for every
/// weight).
#[derive(Debug, Clone)]
enum TlMap {
    None,
    Tl1(tl1::Tl1Map),
    Tl2(tl2::Tl2Map),
}

impl<'a> TernaryRowDecoder<'a> {
    /// Validates `data` as a whole `rows`×`cols` tensor of `ty` (data includes the I2_S and
    /// TL tails). TL1/TL2 tensors are taken to be tiled as our writer tiles them
    /// ([`TlTiles::choose`]); files that say otherwise need [`Self::with_tiles`].
    pub fn new(
        ty: TensorType,
        data: &'a [u8],
        rows: usize,
        cols: usize,
    ) -> Result<Self, FormatError> {
        Self::with_tiles(ty, data, rows, cols, None)
    }

    /// [`Self::new`] with the TL1/TL2 tile parameters the tensor was packed with (`None`:
    /// [`TlTiles::choose`]); other types ignore them.
    pub fn with_tiles(
        ty: TensorType,
        data: &'a [u8],
        rows: usize,
        cols: usize,
        tiles: Option<TlTiles>,
    ) -> Result<Self, FormatError> {
        check_ternary(ty, data.len(), rows, cols)?;
        let tl_tiles = || -> Result<Option<TlTiles>, FormatError> {
            let t = match tiles {
                Some(t) => t,
                None => TlTiles::choose(ty, rows, cols)?,
            };
            t.check(ty, rows, cols)?;
            Ok(Some(t))
        };
        let (row_bytes, tensor_scale, tiles) = match ty {
            TensorType::I2_S => (cols / 4, i2s::scale(data, rows, cols)?, None),
            TensorType::TL1 => (0, tl1::scale(data, rows, cols), tl_tiles()?),
            TensorType::TL2 => (0, tl2::scale(data), tl_tiles()?),
            TensorType::TQ1_0 => (cols / 256 * tq1_0::BLOCK_BYTES, 0.0, None),
            TensorType::TQ2_0 => (cols / 256 * tq2_0::BLOCK_BYTES, 0.0, None),
            _ => return Err(FormatError::Unsupported(ty)),
        };
        let tl_map = match (ty, &tiles) {
            (TensorType::TL1, Some(t)) => TlMap::Tl1(tl1::Tl1Map::new(t, rows, cols)),
            (TensorType::TL2, Some(t)) => TlMap::Tl2(tl2::Tl2Map::new(t, rows, cols)),
            _ => TlMap::None,
        };
        Ok(TernaryRowDecoder {
            ty,
            data,
            rows,
            cols,
            row_bytes,
            tensor_scale,
            tiles,
            tl_map,
        })
    }

    /// The TL1/TL2 tile parameters in use (`None` for other types).
    pub fn tiles(&self) -> Option<TlTiles> {
        self.tiles
    }

    /// The tensor type being decoded.
    pub fn ty(&self) -> TensorType {
        self.ty
    }

    /// Rows of the tensor.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Weights per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Weights each scale covers: cols for the per-tensor scale of I2_S and TL types, 256
    /// for TQ types.
    pub fn block_len(&self) -> usize {
        match self.ty {
            TensorType::TQ1_0 | TensorType::TQ2_0 => 256,
            _ => self.cols,
        }
    }

    /// Scales written per row by [`Self::decode_row`].
    pub fn blocks_per_row(&self) -> usize {
        match self.ty {
            TensorType::TQ1_0 | TensorType::TQ2_0 => self.cols / 256,
            _ => 1,
        }
    }

    /// Writes row `row`'s codes (weight / scale: −1, 0, +1; TQ2_0's unused code 3 gives +2 as
    /// upstream's dequantizer does) into `codes[..cols]` and its scales into
    /// `scales[..blocks_per_row]`, and returns the block length each scale covers.
    pub fn decode_row(
        &self,
        row: usize,
        codes: &mut [i8],
        scales: &mut [f32],
    ) -> Result<usize, FormatError> {
        if row >= self.rows {
            return Err(FormatError::BadValue(format!(
                "row {row} of a {}-row tensor",
                self.rows
            )));
        }
        let nb = self.blocks_per_row();
        let (Some(codes), Some(scales)) = (codes.get_mut(..self.cols), scales.get_mut(..nb)) else {
            return Err(FormatError::BadValue(format!(
                "decode buffers hold {} codes and {} scales; a row needs {} and {nb}",
                codes.len(),
                scales.len(),
                self.cols
            )));
        };
        let start = row * self.row_bytes;
        let src = &self.data[start..start + self.row_bytes];
        match (self.ty, &self.tl_map) {
            (TensorType::TL1, TlMap::Tl1(map)) => {
                tl1::decode_row(self.data, self.cols, map, row, codes);
                scales[0] = self.tensor_scale;
            }
            (TensorType::TL2, TlMap::Tl2(map)) => {
                tl2::decode_row(self.data, self.cols, map, row, codes);
                scales[0] = self.tensor_scale;
            }
            (TensorType::I2_S, _) => {
                let (blocks, _) = src.as_chunks::<{ i2s::BLOCK_BYTES }>();
                let (out, _) = codes.as_chunks_mut::<{ i2s::BLOCK_WEIGHTS }>();
                for (b, o) in blocks.iter().zip(out) {
                    i2s::decode_block(b, o);
                }
                scales[0] = self.tensor_scale;
            }
            (TensorType::TQ1_0, _) => {
                let (blocks, _) = src.as_chunks::<{ tq1_0::BLOCK_BYTES }>();
                let (out, _) = codes.as_chunks_mut::<{ tq1_0::BLOCK_WEIGHTS }>();
                for ((b, o), s) in blocks.iter().zip(out).zip(scales.iter_mut()) {
                    *s = tq1_0::decode_block(b, o);
                }
            }
            (TensorType::TQ2_0, _) => {
                let (blocks, _) = src.as_chunks::<{ tq2_0::BLOCK_BYTES }>();
                let (out, _) = codes.as_chunks_mut::<{ tq2_0::BLOCK_WEIGHTS }>();
                for ((b, o), s) in blocks.iter().zip(out).zip(scales.iter_mut()) {
                    *s = tq2_0::decode_block(b, o);
                }
            }
            // `with_tiles` admits no other type, and gives TL types their tiles.
            (other, _) => return Err(FormatError::Unsupported(other)),
        }
        Ok(self.block_len())
    }
}

/// Decodes row `row` of a `rows`×`cols` ternary tensor whose full data (I2_S tail included) is
/// `data`: codes into `codes[..cols]`, one scale per block into `scales`. Returns the block
/// length each scale covers (cols for I2_S, 256 for TQ types).
///
/// Validates the whole tensor on every call; loops over rows should build a
/// [`TernaryRowDecoder`] once instead.
pub fn decode_ternary_row(
    ty: TensorType,
    data: &[u8],
    rows: usize,
    cols: usize,
    row: usize,
    codes: &mut [i8],
    scales: &mut [f32],
) -> Result<usize, FormatError> {
    TernaryRowDecoder::new(ty, data, rows, cols)?.decode_row(row, codes, scales)
}

/// Decodes a whole ternary tensor into codes and per-block scales (for tests and tools).
pub fn unpack_ternary(
    ty: TensorType,
    data: &[u8],
    rows: usize,
    cols: usize,
) -> Result<UnpackedTernary, FormatError> {
    unpack_ternary_with_tiles(ty, data, rows, cols, None)
}

/// [`unpack_ternary`] with the TL1/TL2 tile parameters the tensor was packed with.
pub fn unpack_ternary_with_tiles(
    ty: TensorType,
    data: &[u8],
    rows: usize,
    cols: usize,
    tiles: Option<TlTiles>,
) -> Result<UnpackedTernary, FormatError> {
    let dec = TernaryRowDecoder::with_tiles(ty, data, rows, cols, tiles)?;
    let nb = dec.blocks_per_row();
    let mut codes = vec![0i8; rows * cols];
    let mut scales = vec![0f32; rows * nb];
    for r in 0..rows {
        dec.decode_row(
            r,
            &mut codes[r * cols..(r + 1) * cols],
            &mut scales[r * nb..(r + 1) * nb],
        )?;
    }
    Ok(UnpackedTernary {
        codes,
        scales,
        block_len: dec.block_len(),
        blocks_per_row: nb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::dequantize_row;
    use proptest::prelude::*;

    const TYPES: [TensorType; 3] = [TensorType::I2_S, TensorType::TQ1_0, TensorType::TQ2_0];

    fn block_of(ty: TensorType) -> usize {
        if ty == TensorType::I2_S { 128 } else { 256 }
    }

    fn f32s(bytes: &[u8]) -> Vec<f32> {
        bytes
            .as_chunks::<4>()
            .0
            .iter()
            .map(|&b| f32::from_le_bytes(b))
            .collect()
    }

    /// Expected scale of each block after a pack→unpack round trip.
    fn expected_scales(ty: TensorType, m: &TernaryMatrix) -> Vec<f32> {
        if ty == TensorType::I2_S {
            return vec![m.scale; m.rows];
        }
        m.codes
            .chunks(256)
            .map(|b| {
                if b.iter().any(|&c| c != 0) {
                    f16::from_f32(m.scale.abs()).to_f32()
                } else {
                    0.0
                }
            })
            .collect()
    }

    fn matrix() -> impl Strategy<Value = (TensorType, TernaryMatrix)> {
        (0usize..3, 1usize..=4, 1usize..=3, 0u8..4, 1e-3f32..1e3).prop_flat_map(
            |(t, rows, k, mode, scale)| {
                let ty = TYPES[t];
                let cols = k * block_of(ty);
                let n = rows * cols;
                let codes = match mode {
                    0 => Just(vec![0i8; n]).boxed(),
                    1 => Just(vec![1i8; n]).boxed(),
                    2 => Just(vec![-1i8; n]).boxed(),
                    _ => prop::collection::vec(-1i8..=1, n).boxed(),
                };
                codes.prop_map(move |codes| {
                    (
                        ty,
                        TernaryMatrix {
                            rows,
                            cols,
                            codes,
                            scale,
                        },
                    )
                })
            },
        )
    }

    proptest! {
        #[test]
        fn pack_unpack_round_trip((ty, m) in matrix()) {
            let data = pack_ternary(ty, &m).expect("valid matrix");
            prop_assert_eq!(check_ternary(ty, data.len(), m.rows, m.cols), Ok(()));
            let u = unpack_ternary(ty, &data, m.rows, m.cols).expect("valid data");
            prop_assert_eq!(&u.codes, &m.codes);
            prop_assert_eq!(&u.scales, &expected_scales(ty, &m));
            prop_assert_eq!(u.block_len, if ty == TensorType::I2_S { m.cols } else { 256 });

            // The per-row entry point agrees with the whole-tensor one.
            let mut codes = vec![7i8; m.cols + 3];
            let mut scales = vec![7f32; u.blocks_per_row + 1];
            for r in 0..m.rows {
                let bl = decode_ternary_row(ty, &data, m.rows, m.cols, r, &mut codes, &mut scales)
                    .expect("valid row");
                prop_assert_eq!(bl, u.block_len);
                prop_assert_eq!(&codes[..m.cols], &m.codes[r * m.cols..(r + 1) * m.cols]);
                prop_assert_eq!(&scales[..u.blocks_per_row], &u.scales[r * u.blocks_per_row..(r + 1) * u.blocks_per_row]);
            }
            if ty == TensorType::I2_S {
                prop_assert_eq!(i2s_scale(&data, m.rows, m.cols), Ok(m.scale));
            }
        }

        /// A packed TQ row dequantizes to code · f16(scale), exactly.
        #[test]
        fn tq_dequant_is_code_times_f16_scale((ty, m) in matrix()) {
            prop_assume!(ty != TensorType::I2_S);
            let data = pack_ternary(ty, &m).expect("valid matrix");
            let row_bytes = data.len() / m.rows;
            let d = f16::from_f32(m.scale).to_f32();
            let mut out = vec![0f32; m.cols];
            for r in 0..m.rows {
                dequantize_row(ty, &data[r * row_bytes..(r + 1) * row_bytes], &mut out).expect("whole row");
                for (c, &v) in out.iter().enumerate() {
                    prop_assert_eq!(v, f32::from(m.codes[r * m.cols + c]) * d);
                }
            }
        }

        /// Rows that are not whole blocks are refused, by the packer and by the size check.
        #[test]
        fn ragged_rows_are_rejected(t in 0usize..3, rows in 1usize..4, cols in 1usize..600) {
            let ty = TYPES[t];
            prop_assume!(!cols.is_multiple_of(block_of(ty)));
            let m = TernaryMatrix { rows, cols, codes: vec![0; rows * cols], scale: 1.0 };
            let is_bad_shape = matches!(pack_ternary(ty, &m), Err(FormatError::BadShape { .. }));
            prop_assert!(is_bad_shape);
            let is_bad_shape = matches!(check_ternary(ty, rows * cols, rows, cols), Err(FormatError::BadShape { .. }));
            prop_assert!(is_bad_shape);
        }
    }

    #[test]
    fn zero_scale_i2s_keeps_codes() {
        let m = TernaryMatrix::new(2, 128, (0..256).map(|i| (i % 3) as i8 - 1).collect(), 0.0)
            .expect("valid");
        let u = unpack_ternary(
            TensorType::I2_S,
            &pack_ternary(TensorType::I2_S, &m).expect("packs"),
            2,
            128,
        )
        .expect("unpacks");
        assert_eq!(u.codes, m.codes);
        assert_eq!(u.scales, vec![0.0, 0.0]);
    }

    #[test]
    fn negative_scale_folds_into_tq_codes() {
        let m = TernaryMatrix::new(1, 256, vec![1; 256], -0.5).expect("valid");
        let u = unpack_ternary(
            TensorType::TQ2_0,
            &pack_ternary(TensorType::TQ2_0, &m).expect("packs"),
            1,
            256,
        )
        .expect("unpacks");
        assert!(u.codes.iter().all(|&c| c == -1));
        assert_eq!(u.scales, vec![0.5]);
    }

    /// `pack_ternary` is byte-identical to gguf-py's `quantize` of the floats code·scale
    /// (fixture: 4×512, scale 0.0371, one all-zero block).
    #[test]
    fn tq_pack_matches_gguf_py() {
        let x = f32s(include_bytes!(
            "../../../tests/fixtures/formats/ternary_4x512.f32"
        ));
        let scale = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert_eq!(scale, 0.0371);
        let codes = x
            .iter()
            .map(|&v| {
                if v > 0.0 {
                    1
                } else if v < 0.0 {
                    -1
                } else {
                    0
                }
            })
            .collect();
        let m = TernaryMatrix::new(4, 512, codes, scale).expect("valid");
        let tq1 = include_bytes!("../../../tests/fixtures/formats/ternary_4x512.tq1_0");
        let tq2 = include_bytes!("../../../tests/fixtures/formats/ternary_4x512.tq2_0");
        assert_eq!(pack_ternary(TensorType::TQ1_0, &m).expect("packs"), tq1);
        assert_eq!(pack_ternary(TensorType::TQ2_0, &m).expect("packs"), tq2);
        // And the gguf-py bytes decode back to the same matrix.
        for (ty, data) in [(TensorType::TQ1_0, &tq1[..]), (TensorType::TQ2_0, &tq2[..])] {
            let u = unpack_ternary(ty, data, 4, 512).expect("unpacks");
            assert_eq!(u.codes, m.codes);
            assert_eq!(u.scales[5], 0.0, "row 2 block 1 is all zero");
        }
    }

    /// The float quantizers match gguf-py on arbitrary floats too (noise, exact half-way ties,
    /// a block with a single nonzero value).
    #[test]
    fn tq_quantizers_match_gguf_py_on_arbitrary_floats() {
        let x = f32s(include_bytes!(
            "../../../tests/fixtures/formats/random_2x512.f32"
        ));
        let want1 = include_bytes!("../../../tests/fixtures/formats/random_2x512.tq1_0");
        let want2 = include_bytes!("../../../tests/fixtures/formats/random_2x512.tq2_0");
        let mut got1 = vec![0u8; want1.len()];
        let mut got2 = vec![0u8; want2.len()];
        tq1_0::quantize_row(&x, &mut got1).expect("lengths");
        tq2_0::quantize_row(&x, &mut got2).expect("lengths");
        assert_eq!(got1, want1);
        assert_eq!(got2, want2);
    }

    #[test]
    fn decoder_errors() {
        let m = TernaryMatrix::new(2, 256, vec![0; 512], 1.0).expect("valid");
        let data = pack_ternary(TensorType::TQ2_0, &m).expect("packs");
        let dec = TernaryRowDecoder::new(TensorType::TQ2_0, &data, 2, 256).expect("valid");
        let (mut codes, mut scales) = (vec![0i8; 256], vec![0f32; 1]);
        assert!(dec.decode_row(2, &mut codes, &mut scales).is_err());
        assert!(dec.decode_row(0, &mut codes[..255], &mut scales).is_err());
        assert!(dec.decode_row(0, &mut codes, &mut []).is_err());
        assert!(matches!(
            TernaryRowDecoder::new(TensorType::TQ2_0, &data[1..], 2, 256),
            Err(FormatError::BadLength {
                expected: 132,
                got: 131,
                ..
            })
        ));
        // TL1 has no tiling for 2 rows (M must be a multiple of 32).
        assert!(matches!(
            TernaryRowDecoder::new(TensorType::TL1, &[0; 32 + 64], 2, 128),
            Err(FormatError::BadShape { .. })
        ));
        assert_eq!(check_ternary(TensorType::TL1, 32 + 64, 2, 128), Ok(()));
        assert!(matches!(
            check_ternary(TensorType::F16, 0, 1, 1),
            Err(FormatError::BadValue(_))
        ));
        assert!(matches!(
            pack_ternary(TensorType::TL2, &m),
            Err(FormatError::BadShape { .. })
        ));
        assert!(matches!(
            TernaryMatrix::new(1, 2, vec![0, 2], 1.0),
            Err(FormatError::BadValue(_))
        ));
        assert!(matches!(
            TernaryMatrix::new(1, 2, vec![0], 1.0),
            Err(FormatError::BadValue(_))
        ));
        assert!(matches!(
            TernaryMatrix::new(1, 2, vec![0, 0], f32::NAN),
            Err(FormatError::BadValue(_))
        ));
        let huge = TernaryMatrix::new(1, 256, vec![1; 256], 1e6).expect("valid");
        assert!(matches!(
            pack_ternary(TensorType::TQ1_0, &huge),
            Err(FormatError::BadValue(_))
        ));
    }
}
