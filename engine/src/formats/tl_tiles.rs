//! Tile parameters of the TL1/TL2 layouts: which (BM, BK, bm) a weight of shape M×K was
//! packed with.
//!
//! bitnet.cpp stores weights in the order its generated kernels read them, tiled by
//! parameters it keeps in `include/kernel_config.ini`, not in the file. Its generator knows a
//! few preset shapes and nothing else (none of 2B-4T's). Here the parameters come from:
//!
//! 1. the file's own metadata (`bitnet_rs.tl_config.*`, written by our writer), else
//! 2. a `kernel_config.ini` the user names (`--tl-config`), else
//! 3. bitnet.cpp's preset table for the shape ([`TlTiles::preset`]).
//!
//! Our writer picks the preset when the shape has one (so those files read the same bytes as
//! bitnet.cpp's) and otherwise [`TlTiles::rule`], which gives valid parameters for every
//! shape the layouts can hold. Tiling only orders bytes: the sums (and so the results) do
//! not depend on it, because each tile's int16 partial sums cannot overflow.

use super::{FormatError, TensorType};
use crate::gguf::{GgufFile, GgufValue, GgufValueType, GgufWriter};

/// Tile parameters of one weight shape: bitnet.cpp's `bm`, `bk` and `bmm` ini keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlTiles {
    /// BM: rows per tile; divides M.
    pub bm: usize,
    /// BK: columns per tile; divides K (TL1), or cuts K into ⌊K/BK⌋·BK triplet columns and a
    /// pair remainder (TL2).
    pub bk: usize,
    /// bm (the ini's `bmm`): rows per sub-block, 32 or 64 for TL1, 32 for TL2.
    pub bmm: usize,
}

/// The largest K tile whose int16 partial sums cannot overflow: TL1 adds BK/2 lookups of at
/// most 2·127; TL2 adds BK/3 lookups of at most 3·127.
const TL1_MAX_BK: usize = 256;
const TL2_MAX_BK: usize = 240;

/// (BM, BK, bm).
type Triple = (usize, usize, usize);

/// bitnet.cpp's setup_env presets: (M, K) → TL1 (BM, BK, bm) and TL2 (BM, BK, bm), for
/// bitnet_b1_58-large, bitnet_b1_58-3B and Llama3-8B-1.58 (Falcon3 uses the Llama3 list).
const PRESETS: &[((usize, usize), Triple, Triple)] = &[
    ((1536, 4096), (256, 128, 32), (256, 96, 32)),
    ((1536, 1536), (128, 64, 64), (128, 192, 32)),
    ((4096, 1536), (256, 128, 32), (256, 96, 32)),
    ((3200, 8640), (160, 64, 32), (160, 96, 32)),
    ((3200, 3200), (320, 128, 64), (320, 96, 32)),
    ((8640, 3200), (320, 64, 32), (320, 96, 32)),
    ((14336, 4096), (256, 128, 32), (256, 96, 32)),
    ((4096, 14336), (128, 64, 64), (128, 96, 32)),
    ((1024, 4096), (256, 128, 32), (256, 96, 32)),
    ((4096, 4096), (128, 64, 64), (128, 96, 32)),
];

fn bad(ty: TensorType, rows: usize, cols: usize, why: &'static str) -> FormatError {
    FormatError::BadShape {
        ty,
        dims: vec![cols as u64, rows as u64],
        why,
    }
}

/// The largest multiple of `step` that divides `n` and is at most `max` (`step` itself when
/// `n` is a multiple of it).
fn largest_tile(n: usize, step: usize, max: usize) -> usize {
    (1..=max / step)
        .rev()
        .map(|i| i * step)
        .find(|t| n.is_multiple_of(*t))
        .unwrap_or(step)
}

impl TlTiles {
    /// Parameters for an M×K (`rows`×`cols`) weight by our rule, for every shape the layout
    /// can hold:
    ///
    /// - TL1: bm = 32 when K % 8 == 0 (by = 8 columns per sub-step), else 64 (by = 4);
    ///   BM = the largest multiple of bm dividing M, at most 256; BK = the largest multiple
    ///   of by dividing K, at most 256. Needs M % 32 == 0 and K % 8 == 0, or M % 64 == 0 and
    ///   K % 4 == 0.
    /// - TL2: bm = 32; BM as for TL1; BK = 96 when K % 32 == 0 (the pair remainder K % 96 is
    ///   then 0, 32 or 64), else the largest multiple of 24 up to 240 that leaves a
    ///   remainder K % BK divisible by 32. Needs M % 32 == 0.
    pub fn rule(ty: TensorType, rows: usize, cols: usize) -> Result<TlTiles, FormatError> {
        let err = |why| bad(ty, rows, cols, why);
        if rows == 0 || cols == 0 {
            return Err(err("TL1/TL2 weights need at least one row and column"));
        }
        let tiles = match ty {
            TensorType::TL1 => {
                let bmm = if cols.is_multiple_of(8) && rows.is_multiple_of(32) {
                    32
                } else if cols.is_multiple_of(4) && rows.is_multiple_of(64) {
                    64
                } else {
                    return Err(err(
                        "TL1 needs M % 32 == 0 and K % 8 == 0, or M % 64 == 0 and K % 4 == 0",
                    ));
                };
                TlTiles {
                    bm: largest_tile(rows, bmm, 256),
                    bk: largest_tile(cols, 256 / bmm, TL1_MAX_BK),
                    bmm,
                }
            }
            TensorType::TL2 => {
                if !rows.is_multiple_of(32) {
                    return Err(err("TL2 needs M % 32 == 0"));
                }
                let bk = if cols.is_multiple_of(32) {
                    96
                } else {
                    (1..=TL2_MAX_BK / 24)
                        .rev()
                        .map(|i| i * 24)
                        .find(|bk| (cols % bk).is_multiple_of(32))
                        .ok_or_else(|| {
                            err("TL2 needs K = a multiple of 24 (up to 240) plus a multiple of 32")
                        })?
                };
                TlTiles {
                    bm: largest_tile(rows, 32, 256),
                    bk,
                    bmm: 32,
                }
            }
            _ => return Err(err("tile parameters exist only for TL1 and TL2")),
        };
        tiles.check(ty, rows, cols)?;
        Ok(tiles)
    }

    /// bitnet.cpp's preset parameters for this shape, if its generator knows it.
    pub fn preset(ty: TensorType, rows: usize, cols: usize) -> Option<TlTiles> {
        let (_, tl1, tl2) = PRESETS.iter().find(|(mk, _, _)| *mk == (rows, cols))?;
        let (bm, bk, bmm) = match ty {
            TensorType::TL1 => *tl1,
            TensorType::TL2 => *tl2,
            _ => return None,
        };
        Some(TlTiles { bm, bk, bmm })
    }

    /// What our writer uses: the preset when bitnet.cpp has one, else [`TlTiles::rule`].
    pub fn choose(ty: TensorType, rows: usize, cols: usize) -> Result<TlTiles, FormatError> {
        match Self::preset(ty, rows, cols) {
            Some(t) if t.check(ty, rows, cols).is_ok() => Ok(t),
            _ => Self::rule(ty, rows, cols),
        }
    }

    /// Checks that these parameters describe a valid layout of an M×K weight of `ty`.
    pub fn check(&self, ty: TensorType, rows: usize, cols: usize) -> Result<(), FormatError> {
        let err = |why| bad(ty, rows, cols, why);
        let TlTiles { bm, bk, bmm } = *self;
        if bm == 0 || bk == 0 || bmm == 0 {
            return Err(err("tile parameters must be nonzero"));
        }
        if !bm.is_multiple_of(bmm) || !rows.is_multiple_of(bm) {
            return Err(err("BM must be a multiple of bm and divide M"));
        }
        match ty {
            TensorType::TL1 => {
                if bmm != 32 && bmm != 64 {
                    return Err(err("TL1's bm must be 32 or 64"));
                }
                if !bk.is_multiple_of(256 / bmm) || !cols.is_multiple_of(bk) {
                    return Err(err("TL1's BK must be a multiple of 256/bm and divide K"));
                }
                if bk > TL1_MAX_BK {
                    return Err(err("TL1's BK above 256 could overflow its int16 sums"));
                }
            }
            TensorType::TL2 => {
                if bmm != 32 {
                    return Err(err("TL2's bm must be 32"));
                }
                if !bk.is_multiple_of(24) || bk > TL2_MAX_BK {
                    return Err(err("TL2's BK must be a multiple of 24, at most 240"));
                }
                if !(cols % bk).is_multiple_of(32) {
                    return Err(err("TL2 needs (K % BK) % 32 == 0"));
                }
            }
            _ => return Err(err("tile parameters exist only for TL1 and TL2")),
        }
        Ok(())
    }
}

/// The tiling a TL1/TL2 weight of M×K was packed with: the file's record, else the user's
/// kernel_config.ini, else bitnet.cpp's preset for the shape; `None` when none knows it.
pub fn resolve_tiles(
    file: Option<&TlConfig>,
    user: Option<&TlConfig>,
    ty: TensorType,
    rows: usize,
    cols: usize,
) -> Option<TlTiles> {
    file.and_then(|c| c.get(rows, cols))
        .or_else(|| user.and_then(|c| c.get(rows, cols)))
        .or_else(|| TlTiles::preset(ty, rows, cols))
}

/// Tile parameters per weight shape (M, K), as a file or a kernel_config.ini lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlConfig {
    entries: Vec<((usize, usize), TlTiles)>,
}

/// Metadata keys our writer records the tile parameters under: parallel u32 arrays, one entry
/// per weight shape, named after kernel_config.ini's keys.
pub const TL_CONFIG_KEYS: [&str; 5] = [
    "bitnet_rs.tl_config.m",
    "bitnet_rs.tl_config.k",
    "bitnet_rs.tl_config.bm",
    "bitnet_rs.tl_config.bk",
    "bitnet_rs.tl_config.bmm",
];

impl TlConfig {
    /// An empty configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the parameters of shape M×K.
    pub fn insert(&mut self, rows: usize, cols: usize, tiles: TlTiles) {
        match self.entries.iter_mut().find(|(mk, _)| *mk == (rows, cols)) {
            Some(e) => e.1 = tiles,
            None => self.entries.push(((rows, cols), tiles)),
        }
    }

    /// The parameters of shape M×K, if listed.
    pub fn get(&self, rows: usize, cols: usize) -> Option<TlTiles> {
        self.entries
            .iter()
            .find(|(mk, _)| *mk == (rows, cols))
            .map(|(_, t)| *t)
    }

    /// Whether no shape is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parses bitnet.cpp's `kernel_config.ini`: `[Kernels_N]` sections with `m`, `k`, `bm`,
    /// `bk` and `bmm` keys (Python's ConfigParser writes them lower-case, `key = value`).
    pub fn parse_ini(text: &str) -> Result<TlConfig, FormatError> {
        let mut config = TlConfig::new();
        let mut section: Option<(usize, [Option<usize>; 5])> = None;
        let finish = |config: &mut TlConfig, section: Option<(usize, [Option<usize>; 5])>| {
            let Some((line, keys)) = section else {
                return Ok(());
            };
            match keys {
                [Some(m), Some(k), Some(bm), Some(bk), Some(bmm)] => {
                    config.insert(m, k, TlTiles { bm, bk, bmm });
                    Ok(())
                }
                _ => Err(FormatError::BadValue(format!(
                    "kernel_config.ini: the section at line {line} lacks one of m, k, bm, bk, bmm"
                ))),
            }
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                finish(&mut config, section.take())?;
                section = Some((i + 1, [None; 5]));
                continue;
            }
            let bad_line = |why: &str| {
                FormatError::BadValue(format!("kernel_config.ini line {}: {why}: {raw:?}", i + 1))
            };
            let Some((_, keys)) = section.as_mut() else {
                return Err(bad_line("a key outside any [section]"));
            };
            let (key, value) = line
                .split_once('=')
                .or_else(|| line.split_once(':'))
                .ok_or_else(|| bad_line("expected key = value"))?;
            let slot = match key.trim().to_ascii_lowercase().as_str() {
                "m" => 0,
                "k" => 1,
                "bm" => 2,
                "bk" => 3,
                "bmm" => 4,
                _ => continue,
            };
            let v: usize = value
                .trim()
                .parse()
                .map_err(|_| bad_line("the value is not a whole number"))?;
            keys[slot] = Some(v);
        }
        finish(&mut config, section)?;
        Ok(config)
    }

    /// Reads the parameters our writer recorded, `None` when the file has none.
    pub fn from_gguf(file: &GgufFile) -> Result<Option<TlConfig>, FormatError> {
        let arrays: Vec<Option<&[GgufValue]>> = TL_CONFIG_KEYS
            .iter()
            .map(|k| file.get(k).and_then(GgufValue::as_array))
            .collect();
        if arrays.iter().all(Option::is_none) {
            return Ok(None);
        }
        let mut cols: Vec<Vec<usize>> = Vec::with_capacity(5);
        for (key, arr) in TL_CONFIG_KEYS.iter().zip(&arrays) {
            let arr = arr.ok_or_else(|| {
                FormatError::BadValue(format!("metadata key '{key}' is missing or not an array"))
            })?;
            let values = arr
                .iter()
                .map(|v| match v {
                    GgufValue::U32(x) => Ok(*x as usize),
                    other => Err(FormatError::BadValue(format!(
                        "metadata key '{key}' holds {}, expected u32",
                        other.type_name()
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            cols.push(values);
        }
        let n = cols[0].len();
        if cols.iter().any(|c| c.len() != n) {
            return Err(FormatError::BadValue(format!(
                "metadata keys {} have different lengths",
                TL_CONFIG_KEYS.join(", ")
            )));
        }
        let mut config = TlConfig::new();
        let [m, k, bm, bk, bmm] = [&cols[0], &cols[1], &cols[2], &cols[3], &cols[4]];
        for ((((&m, &k), &bm), &bk), &bmm) in m.iter().zip(k).zip(bm).zip(bk).zip(bmm) {
            config.insert(m, k, TlTiles { bm, bk, bmm });
        }
        Ok(Some(config))
    }

    /// Records the parameters in `w`'s metadata (nothing when empty).
    pub fn write(&self, w: &mut GgufWriter) {
        if self.is_empty() {
            return;
        }
        let field = |f: fn(&((usize, usize), TlTiles)) -> usize| {
            GgufValue::Array(
                GgufValueType::U32,
                self.entries
                    .iter()
                    .map(|e| GgufValue::U32(f(e) as u32))
                    .collect(),
            )
        };
        let values = [
            field(|e| e.0.0),
            field(|e| e.0.1),
            field(|e| e.1.bm),
            field(|e| e.1.bk),
            field(|e| e.1.bmm),
        ];
        for (key, v) in TL_CONFIG_KEYS.iter().zip(values) {
            w.add_kv(*key, v);
        }
    }
}
