//! TQ2_0, upstream ggml's 2-bit ternary blocks (specs/formats-and-models.md §1.5).
//!
//! A block covers 256 weights in 66 bytes: `qs[64]` then the f16 scale `d`. Byte `c·32+m`
//! holds weight `c·128 + l·32 + m` in bits `2l..2l+1` (l = 0..3), code = weight + 1. Note the
//! bit order is the opposite of I2_S's (first group in the low bits).

use super::{FormatError, TensorType};
use half::f16;

/// Weights per TQ2_0 block.
pub const BLOCK_WEIGHTS: usize = 256;
/// Bytes per TQ2_0 block.
pub const BLOCK_BYTES: usize = 66;
const QS: usize = 64;

/// Per byte value, the four decoded codes `q − 1` in weight order (l = 0..3). Upstream's
/// dequantizer turns the never-written code 3 into +2, and so does this table.
pub(crate) static BYTE_CODES: [[i8; 4]; 256] = byte_table();

const fn byte_table() -> [[i8; 4]; 256] {
    let mut t = [[0i8; 4]; 256];
    let mut b = 0;
    while b < 256 {
        let mut l = 0;
        while l < 4 {
            t[b][l] = ((b >> (2 * l)) & 3) as i8 - 1;
            l += 1;
        }
        b += 1;
    }
    t
}

/// Quantizes one block exactly as ggml's `quantize_row_tq2_0_ref` (and gguf-py) do:
/// d = max|x|, q = round-half-away(x · (1/d)) + 1, with 1/d taken as 0 when d is 0.
///
/// Inputs that are not finite, or a d so small that 1/d overflows, are outside what the
/// reference defines; here the rounded value is clamped to −1..1 (NaN gives 0) so the block is
/// always well formed.
pub fn quantize_block(x: &[f32; BLOCK_WEIGHTS]) -> [u8; BLOCK_BYTES] {
    let d = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut out = [0u8; BLOCK_BYTES];
    for c in 0..2 {
        for m in 0..32 {
            let mut byte = 0u8;
            for l in 0..4 {
                byte |= code(x[c * 128 + l * 32 + m], id) << (2 * l);
            }
            out[c * 32 + m] = byte;
        }
    }
    out[QS..].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    out
}

/// `lroundf(x·id) + 1` clamped to a valid 2-bit ternary code.
#[inline]
pub(crate) fn code(x: f32, id: f32) -> u8 {
    // `as i32` saturates and maps NaN to 0, which the clamp then keeps in range.
    ((x * id).round() as i32).clamp(-1, 1).wrapping_add(1) as u8
}

/// Quantizes a row of floats (a multiple of 256 long) into TQ2_0 blocks.
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
            ty: TensorType::TQ2_0,
            dims: vec![n as u64],
            why: "row length is not a multiple of the block size",
        });
    }
    let n_blocks = n / BLOCK_WEIGHTS;
    let expected = n_blocks * BLOCK_BYTES;
    if bytes != expected {
        return Err(FormatError::BadLength {
            ty: TensorType::TQ2_0,
            got: bytes,
            expected,
        });
    }
    Ok(n_blocks)
}

/// Decodes one block into codes `q − 1` (−1, 0, +1, or +2 for the unused code 3) and returns
/// the block's scale d.
#[inline]
pub fn decode_block(block: &[u8; BLOCK_BYTES], codes: &mut [i8; BLOCK_WEIGHTS]) -> f32 {
    for c in 0..2 {
        for m in 0..32 {
            let w = BYTE_CODES[block[c * 32 + m] as usize];
            let base = c * 128 + m;
            codes[base] = w[0];
            codes[base + 32] = w[1];
            codes[base + 64] = w[2];
            codes[base + 96] = w[3];
        }
    }
    f16::from_le_bytes([block[QS], block[QS + 1]]).to_f32()
}

/// Dequantizes one block as upstream does: `(q − 1) · d` in f32.
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

    /// Scale 1.0 (f16 0x3C00, stored 00 3C). Chunk 0: l=0 → −1, l=1 → 0, l=2 → +1, l=3 → 0,
    /// codes 0,1,2,1, byte = 0 | 1<<2 | 2<<4 | 1<<6 = 0x64. Chunk 1: l=0 → +1, l=1 → −1,
    /// l=2 → 0, l=3 → +1, codes 2,0,1,2, byte = 2 | 0 | 1<<4 | 2<<6 = 0x92.
    fn pattern() -> [f32; 256] {
        let mut x = [0f32; 256];
        for (i, v) in x.iter_mut().enumerate() {
            let (c, l) = (i / 128, (i % 128) / 32);
            *v = match (c, l) {
                (0, 0) | (1, 1) => -1.0,
                (0, 2) | (1, 0) | (1, 3) => 1.0,
                _ => 0.0,
            };
        }
        x
    }

    fn expected() -> [u8; 66] {
        let mut b = [0u8; 66];
        b[..32].fill(0x64);
        b[32..64].fill(0x92);
        b[64] = 0x00;
        b[65] = 0x3C;
        b
    }

    #[test]
    fn known_block_packs_to_hand_computed_bytes() {
        assert_eq!(quantize_block(&pattern()), expected());
    }

    #[test]
    fn hand_computed_bytes_decode_to_known_block() {
        let mut codes = [0i8; 256];
        let d = decode_block(&expected(), &mut codes);
        assert_eq!(d, 1.0);
        let want: Vec<i8> = pattern().iter().map(|&v| v as i8).collect();
        assert_eq!(codes.to_vec(), want);
    }

    /// All-zero input: d = 0, id = 0, every code 1 → byte 0b01010101 = 0x55.
    #[test]
    fn zero_block_has_zero_scale() {
        let b = quantize_block(&[0.0; 256]);
        assert!(b[..64].iter().all(|&x| x == 0x55));
        assert_eq!(&b[64..], &[0, 0]);
    }

    #[test]
    fn unused_code_three_dequantizes_to_plus_two() {
        let mut b = [0xFFu8; 66];
        b[64..].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        let mut out = [0f32; 256];
        dequantize_block(&b, &mut out);
        assert!(out.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn row_length_errors() {
        assert!(matches!(
            quantize_row(&[0.0; 100], &mut [0; 66]),
            Err(FormatError::BadShape { .. })
        ));
        assert!(matches!(
            quantize_row(&[0.0; 256], &mut [0; 65]),
            Err(FormatError::BadLength { .. })
        ));
    }
}
