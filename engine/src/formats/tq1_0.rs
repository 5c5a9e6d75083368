//! TQ1_0, upstream ggml's base-3 ternary blocks (specs/formats-and-models.md §1.5).
//!
//! A block covers 256 weights in 54 bytes: `qs[48]`, `qh[4]`, then the f16 scale `d`. Five
//! trits t = w + 1 form q = Σ t_n·3^(4−n), stored as ⌈q·256/243⌉ so that trit n can be read
//! back with one multiply: ((byte·3^n mod 256)·3) >> 8.
//! - `qs[0..32]`: byte m holds weights m + 32n (n = 0..4), weights 0..159;
//! - `qs[32..48]`: byte m holds weights 160 + m + 16n, weights 160..239;
//! - `qh[0..4]`: byte j holds weights 240 + j + 4n (n = 0..3) and a fifth trit of 0.

use super::{FormatError, TensorType};
use half::f16;

/// Weights per TQ1_0 block.
pub const BLOCK_WEIGHTS: usize = 256;
/// Bytes per TQ1_0 block.
pub const BLOCK_BYTES: usize = 54;
const QS: usize = 48;
const QH: usize = 4;
const D: usize = QS + QH;
const POW3: [u8; 5] = [1, 3, 9, 27, 81];

/// Per byte value, its five trits decoded to weights −1/0/+1 (trit n at index n), so the row
/// decoder reads one table entry per byte instead of doing five multiplies.
pub(crate) static BYTE_TRITS: [[i8; 5]; 256] = byte_table();

const fn byte_table() -> [[i8; 5]; 256] {
    let mut t = [[0i8; 5]; 256];
    let mut b = 0;
    while b < 256 {
        let mut n = 0;
        while n < 5 {
            let q = (b as u8).wrapping_mul(POW3[n]) as u16;
            t[b][n] = ((q * 3) >> 8) as i8 - 1;
            n += 1;
        }
        b += 1;
    }
    t
}

/// ⌈q·256/243⌉: the fixed-point base-3 fraction that makes trit extraction a multiply.
#[inline]
fn frac(q: u8) -> u8 {
    (u16::from(q) * 256).div_ceil(243) as u8
}

/// Quantizes one block exactly as ggml's `quantize_row_tq1_0_ref` (and gguf-py) do:
/// d = max|x|, t = round-half-away(x · (1/d)) + 1, with 1/d taken as 0 when d is 0.
///
/// As in [`super::tq2_0::quantize_block`], values the reference leaves undefined (non-finite
/// input) are clamped to a valid trit.
pub fn quantize_block(x: &[f32; BLOCK_WEIGHTS]) -> [u8; BLOCK_BYTES] {
    let d = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let t = |i: usize| super::tq2_0::code(x[i], id);
    let mut out = [0u8; BLOCK_BYTES];
    let (qs0, rest) = out.split_at_mut(32);
    let (qs1, rest) = rest.split_at_mut(16);
    for (m, o) in qs0.iter_mut().enumerate() {
        *o = frac((0..5).fold(0u8, |q, n| q * 3 + t(m + 32 * n)));
    }
    for (m, o) in qs1.iter_mut().enumerate() {
        *o = frac((0..5).fold(0u8, |q, n| q * 3 + t(160 + m + 16 * n)));
    }
    for (j, o) in rest[..QH].iter_mut().enumerate() {
        // Four trits, then ×3 so the first one is the most significant of five.
        *o = frac((0..4).fold(0u8, |q, n| q * 3 + t(240 + j + 4 * n)) * 3);
    }
    out[D..].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    out
}

/// Quantizes a row of floats (a multiple of 256 long) into TQ1_0 blocks.
pub fn quantize_row(src: &[f32], dst: &mut [u8]) -> Result<(), FormatError> {
    let n_blocks = check_row(src.len(), dst.len())?;
    let (xs, _) = src.as_chunks::<BLOCK_WEIGHTS>();
    let (out, _) = dst.as_chunks_mut::<BLOCK_BYTES>();
    for (x, o) in xs.iter().zip(out).take(n_blocks) {
        *o = quantize_block(x);
    }
    Ok(())
}

/// Validates a row of `n` weights against `bytes` bytes and returns the block count.
pub(crate) fn check_row(n: usize, bytes: usize) -> Result<usize, FormatError> {
    if !n.is_multiple_of(BLOCK_WEIGHTS) {
        return Err(FormatError::BadShape {
            ty: TensorType::TQ1_0,
            dims: vec![n as u64],
            why: "row length is not a multiple of the block size",
        });
    }
    let n_blocks = n / BLOCK_WEIGHTS;
    let expected = n_blocks * BLOCK_BYTES;
    if bytes != expected {
        return Err(FormatError::BadLength {
            ty: TensorType::TQ1_0,
            got: bytes,
            expected,
        });
    }
    Ok(n_blocks)
}

/// Decodes one block into weights −1/0/+1 and returns the block's scale d.
#[inline]
pub fn decode_block(block: &[u8; BLOCK_BYTES], codes: &mut [i8; BLOCK_WEIGHTS]) -> f32 {
    for (m, &b) in block[..32].iter().enumerate() {
        for (n, &t) in BYTE_TRITS[b as usize].iter().enumerate() {
            codes[m + 32 * n] = t;
        }
    }
    for (m, &b) in block[32..QS].iter().enumerate() {
        for (n, &t) in BYTE_TRITS[b as usize].iter().enumerate() {
            codes[160 + m + 16 * n] = t;
        }
    }
    for (j, &b) in block[QS..D].iter().enumerate() {
        // The fifth trit of a qh byte is padding.
        for (n, &t) in BYTE_TRITS[b as usize][..4].iter().enumerate() {
            codes[240 + j + 4 * n] = t;
        }
    }
    f16::from_le_bytes([block[D], block[D + 1]]).to_f32()
}

/// Dequantizes one block as upstream does: `(t − 1) · d` in f32.
pub fn dequantize_block(block: &[u8; BLOCK_BYTES], out: &mut [f32; BLOCK_WEIGHTS]) {
    let mut codes = [0i8; BLOCK_WEIGHTS];
    let d = decode_block(block, &mut codes);
    for (o, &q) in out.iter_mut().zip(&codes) {
        *o = f32::from(q) * d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scale 2.0 (f16 0x4000, stored 00 40).
    /// - qs[0..32], byte m: weights m, 32+m, 64+m, 96+m, 128+m = +1, 0, −1, +1, −1
    ///   → trits 2,1,0,2,0 → q = 2·81 + 27 + 0 + 2·3 + 0 = 195 → ⌈195·256/243⌉ = ⌈205.43⌉
    ///   = 206 = 0xCE.
    /// - qs[32..48]: weights 160..239 all −1 → trits 0 → q = 0 → 0x00.
    /// - qh[j]: weights 240+j, 244+j, 248+j, 252+j = 0, +1, +1, −1 → trits 1,2,2,0 →
    ///   (27 + 18 + 6 + 0)·3 = 153 → ⌈153·256/243⌉ = ⌈161.19⌉ = 162 = 0xA2.
    ///
    /// Decoding 206: 206·3 = 618 → 618>>8 = 2; 206·3 mod 256 = 106 → 318>>8 = 1;
    /// 106·3 mod 256 = 62 → 186>>8 = 0; 186 → 558>>8 = 2; 558 mod 256 = 46 → 138>>8 = 0.
    fn pattern() -> [f32; 256] {
        let mut x = [0f32; 256];
        for (i, v) in x.iter_mut().enumerate() {
            let w: f32 = match i {
                0..160 => [1.0, 0.0, -1.0, 1.0, -1.0][i / 32],
                160..240 => -1.0,
                _ => [0.0, 1.0, 1.0, -1.0][(i - 240) / 4],
            };
            *v = 2.0 * w;
        }
        x
    }

    fn expected() -> [u8; 54] {
        let mut b = [0u8; 54];
        b[..32].fill(0xCE);
        b[32..48].fill(0x00);
        b[48..52].fill(0xA2);
        b[52] = 0x00;
        b[53] = 0x40;
        b
    }

    #[test]
    fn known_block_packs_to_hand_computed_bytes() {
        assert_eq!(quantize_block(&pattern()), expected());
    }

    #[test]
    fn hand_computed_bytes_decode_to_known_block() {
        let mut codes = [0i8; 256];
        assert_eq!(decode_block(&expected(), &mut codes), 2.0);
        let want: Vec<i8> = pattern().iter().map(|&v| (v / 2.0) as i8).collect();
        assert_eq!(codes.to_vec(), want);
        let mut out = [0f32; 256];
        dequantize_block(&expected(), &mut out);
        assert_eq!(out, pattern());
    }

    /// All zero: qs trits all 1 → q = 121 → ⌈121·256/243⌉ = 128; qh: q = 40·3 = 120 →
    /// ⌈120·256/243⌉ = 127; d = 0.
    #[test]
    fn zero_block() {
        let b = quantize_block(&[0.0; 256]);
        assert!(b[..48].iter().all(|&x| x == 128));
        assert!(b[48..52].iter().all(|&x| x == 127));
        assert_eq!(&b[52..], &[0, 0]);
    }

    #[test]
    fn table_matches_the_multiply_rule() {
        for b in 0..=255u8 {
            for (n, &got) in BYTE_TRITS[b as usize].iter().enumerate() {
                let q = b.wrapping_mul(3u8.pow(n as u32));
                let t = ((u16::from(q) * 3) >> 8) as i8 - 1;
                assert_eq!(got, t);
            }
        }
    }
}
