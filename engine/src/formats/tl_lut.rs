//! Scalar reference lookup-table kernels for TL1 and TL2: the arithmetic of bitnet.cpp's LUT
//! kernels, written for clarity.
//!
//! For each activation group (a pair for TL1 and TL2's remainder, a triplet for TL2) a table
//! holds every signed combination of its int8 values; a weight index then selects the
//! group's contribution, so a row's dot product is a sum of lookups. The packed bytes are
//! walked in file order, tile by tile, as the kernels read them, which checks the layouts
//! from the other side than the packers' address formulas.
//!
//! The integer sums equal Σ w·q exactly, i.e. the I2_S reference's `raw − Σq` for the same
//! int8 activations. The kernels sum in int16 within a tile (safe for activations in
//! [−127, 127] under [`TlTiles::check`]'s BK limits); here sums are int32 so any int8 input is
//! exact. Activations are quantized as the TL kernels do, `s = 127/max|x|` with no 1e-5
//! floor; an all-zero input (where bitnet.cpp divides by zero) gives zeros.

use super::tl_tiles::TlTiles;
use super::tl2::{Split, row_pos};
use super::{FormatError, TensorType, ternary::check_ternary, tl1, tl2};

/// The 16 entries of a pair table: entry `3a + b + 4` = a·x0 + b·x1 (9..15 unused, zero).
fn pair_table(x0: i8, x1: i8) -> [i32; 16] {
    let mut t = [0i32; 16];
    for (i, e) in t.iter_mut().enumerate().take(9) {
        let (a, b) = tl1::pair_weights(i as u8);
        *e = i32::from(a) * i32::from(x0) + i32::from(b) * i32::from(x1);
    }
    t
}

/// The 16 entries of a triplet table: entry `9a + 3b + c` (a ≥ 0) = a·x0 + b·x1 + c·x2
/// (14, 15 unused, zero).
fn triplet_table(x: &[i8]) -> [i32; 16] {
    let mut t = [0i32; 16];
    for (i, e) in t.iter_mut().enumerate().take(14) {
        let w = tl2::triplet_weights(i as u8, false);
        *e = (0..3).map(|n| i32::from(w[n]) * i32::from(x[n])).sum();
    }
    t
}

fn check_input(
    ty: TensorType,
    data: &[u8],
    rows: usize,
    cols: usize,
    tiles: &TlTiles,
    q_len: usize,
) -> Result<(), FormatError> {
    check_ternary(ty, data.len(), rows, cols)?;
    tiles.check(ty, rows, cols)?;
    if q_len != cols {
        return Err(FormatError::BadValue(format!(
            "{q_len} activations for a weight of {cols} columns"
        )));
    }
    Ok(())
}

/// `Σ_k W[m][k]·q[k]` for every row m of a TL1 tensor, by table lookups.
pub fn tl1_dot(
    data: &[u8],
    rows: usize,
    cols: usize,
    tiles: &TlTiles,
    q: &[i8],
) -> Result<Vec<i32>, FormatError> {
    check_input(TensorType::TL1, data, rows, cols, tiles, q.len())?;
    let tables: Vec<[i32; 16]> = q.chunks_exact(2).map(|p| pair_table(p[0], p[1])).collect();
    let TlTiles { bm, bk, bmm } = *tiles;
    let by = 256 / bmm;
    let mut acc = vec![0i32; rows];
    let mut off = 0;
    for tm in 0..rows / bm {
        for tk in 0..cols / bk {
            for sm in 0..bm / bmm {
                let first_row = tm * bm + sm * bmm;
                for sk in 0..bk / by {
                    for g in 0..bmm / 16 {
                        for qd in 0..by / 4 {
                            let pair = tk * bk / 2 + sk * by / 2 + 2 * qd;
                            for r in 0..16 {
                                let b = data[off];
                                off += 1;
                                acc[first_row + g * 16 + r] += tables[pair][usize::from(b >> 4)]
                                    + tables[pair + 1][usize::from(b & 15)];
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(acc)
}

/// `Σ_k W[m][k]·q[k]` for every row m of a TL2 tensor, by table lookups (triplets, with their
/// sign bits, then the pair remainder).
pub fn tl2_dot(
    data: &[u8],
    rows: usize,
    cols: usize,
    tiles: &TlTiles,
    q: &[i8],
) -> Result<Vec<i32>, FormatError> {
    check_input(TensorType::TL2, data, rows, cols, tiles, q.len())?;
    let s = Split::new(cols, tiles);
    let triplets: Vec<[i32; 16]> = q[..s.three_k].chunks_exact(3).map(triplet_table).collect();
    let pairs: Vec<[i32; 16]> = q[s.three_k..]
        .chunks_exact(2)
        .map(|p| pair_table(p[0], p[1]))
        .collect();
    let bm = tiles.bm;
    let bk = tiles.bk;
    let signs_start = rows * s.three_k / 6;
    let mut acc = vec![0i32; rows];
    let mut off = 0;
    for tm in 0..rows / bm {
        for tk in 0..s.three_k / bk {
            for sm in 0..bm / 32 {
                let block = (tm * (s.three_k / bk) + tk) * (bm / 32) + sm;
                for sk in 0..bk / 6 {
                    for pos in 0..32 {
                        // The row permutation swaps two 8-row groups, so it is its own inverse.
                        let rr = row_pos(pos);
                        let b = data[off];
                        off += 1;
                        for (tt, idx) in [(2 * sk, b >> 4), (2 * sk + 1, b & 15)] {
                            let word = signs_start + (block * (bk / 24) + tt / 8) * 32;
                            let bit = 15 - (2 * (tt % 8) + usize::from(rr >= 16));
                            let sign_byte = data[word + 2 * (rr % 16) + bit / 8];
                            let v = triplets[tk * bk / 3 + tt][usize::from(idx)];
                            let v = if sign_byte >> (bit % 8) & 1 == 1 {
                                -v
                            } else {
                                v
                            };
                            acc[tm * bm + sm * 32 + rr] += v;
                        }
                    }
                }
            }
        }
    }
    let mut off = signs_start + rows * s.three_k / 24;
    for tm in 0..rows / bm {
        for tk in 0..s.two_k / 32 {
            for sm in 0..bm / 32 {
                for sk in 0..8 {
                    let pair = tk * 16 + 2 * sk;
                    for pos in 0..32 {
                        let b = data[off];
                        off += 1;
                        acc[tm * bm + sm * 32 + row_pos(pos)] +=
                            pairs[pair][usize::from(b >> 4)] + pairs[pair + 1][usize::from(b & 15)];
                    }
                }
            }
        }
    }
    Ok(acc)
}

/// The TL kernels' activation quantization of one token: `s = 127/max|x|` (no floor),
/// `q = round-half-even(x·s)`. `None` when every value is zero (or any is not finite), where
/// the kernels would divide by zero.
pub fn quantize_activations(x: &[f32]) -> Option<(Vec<i8>, f32)> {
    if !x.iter().all(|v| v.is_finite()) {
        return None;
    }
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 {
        return None;
    }
    let s = 127.0 / max;
    let q = x
        .iter()
        .map(|&v| (v * s).round_ties_even().clamp(-127.0, 127.0) as i8)
        .collect();
    Some((q, s))
}

/// `out[t][m] = Σ_k W[m][k]·x[t][k]` for the `tokens` rows of `x`, through the lookup tables:
/// each token is quantized on its own, and `y = sum / s · w_scale` as the kernels compute it.
/// A token of zeros gives zeros; one with a NaN or infinity gives NaN.
pub fn tl_matmul(
    ty: TensorType,
    data: &[u8],
    rows: usize,
    cols: usize,
    tiles: &TlTiles,
    x: &[f32],
    tokens: usize,
) -> Result<Vec<f32>, FormatError> {
    if x.len() != tokens * cols {
        return Err(FormatError::BadValue(format!(
            "{} activations for {tokens} tokens of {cols}",
            x.len()
        )));
    }
    check_ternary(ty, data.len(), rows, cols)?;
    let w_scale = match ty {
        TensorType::TL1 => tl1::scale(data, rows, cols),
        TensorType::TL2 => tl2::scale(data),
        other => {
            return Err(FormatError::BadValue(format!(
                "{other} is not a lookup-table type"
            )));
        }
    };
    let mut out = vec![0f32; tokens * rows];
    for (xt, yt) in x
        .chunks_exact(cols.max(1))
        .zip(out.chunks_exact_mut(rows.max(1)))
    {
        let Some((q, s)) = quantize_activations(xt) else {
            // Zeros stay zeros; a non-finite input poisons its token as float math would.
            if !xt.iter().all(|v| v.is_finite()) {
                yt.fill(f32::NAN);
            }
            continue;
        };
        let sums = if ty == TensorType::TL1 {
            tl1_dot(data, rows, cols, tiles, &q)?
        } else {
            tl2_dot(data, rows, cols, tiles, &q)?
        };
        for (y, &sum) in yt.iter_mut().zip(&sums) {
            *y = sum as f32 / s * w_scale;
        }
    }
    Ok(out)
}
