//! Q8_0: ggml's 8-bit blocks of 32 weights (`d` as f16, then 32 signed bytes).
//!
//! Used for embeddings that our writer and synthetic models store as Q8_0.

use super::{FormatError, TensorType};
use half::f16;

/// Weights per Q8_0 block.
pub const BLOCK_WEIGHTS: usize = 32;
/// Bytes per Q8_0 block.
pub const BLOCK_BYTES: usize = 34;

/// Dequantizes one block: `q · d` in f32.
pub fn dequantize_block(block: &[u8; BLOCK_BYTES], out: &mut [f32; BLOCK_WEIGHTS]) {
    let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
    for (o, &q) in out.iter_mut().zip(&block[2..]) {
        *o = f32::from(q as i8) * d;
    }
}

/// Quantizes one block as ggml's `quantize_row_q8_0_ref` does: d = max|x|/127,
/// q = round-half-away(x · (1/d)), with 1/d taken as 0 when d is 0.
///
/// Multiplying by the reciprocal (rather than dividing by d) is what the reference does and
/// what makes the result byte-identical to it.
pub fn quantize_block(x: &[f32; BLOCK_WEIGHTS]) -> [u8; BLOCK_BYTES] {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut out = [0u8; BLOCK_BYTES];
    out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    for (o, &v) in out[2..].iter_mut().zip(x) {
        // `as i8` saturates (and maps NaN to 0), keeping undefined inputs in range.
        *o = (v * id).round() as i8 as u8;
    }
    out
}

/// Quantizes a row of floats (a multiple of 32 long) into Q8_0 blocks; `dst` must be exactly
/// `src.len() / 32 · 34` bytes.
pub fn quantize_row_q8_0(src: &[f32], dst: &mut [u8]) -> Result<(), FormatError> {
    if !src.len().is_multiple_of(BLOCK_WEIGHTS) {
        return Err(FormatError::BadShape {
            ty: TensorType::Q8_0,
            dims: vec![src.len() as u64],
            why: "row length is not a multiple of the block size",
        });
    }
    let expected = src.len() / BLOCK_WEIGHTS * BLOCK_BYTES;
    if dst.len() != expected {
        return Err(FormatError::BadLength {
            ty: TensorType::Q8_0,
            got: dst.len(),
            expected,
        });
    }
    let (xs, _) = src.as_chunks::<BLOCK_WEIGHTS>();
    let (out, _) = dst.as_chunks_mut::<BLOCK_BYTES>();
    for (x, o) in xs.iter().zip(out) {
        *o = quantize_block(x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x = 0, 1, …, 31 scaled so max|x| = 127: d = 1.0 (f16 0x3C00), q = x.
    #[test]
    fn known_block() {
        let x: [f32; 32] = std::array::from_fn(|i| i as f32 * 127.0 / 31.0);
        let b = quantize_block(&x);
        assert_eq!(&b[..2], &[0x00, 0x3C]);
        for (i, &q) in b[2..].iter().enumerate() {
            assert_eq!(q as i8, (i as f32 * 127.0 / 31.0).round() as i8);
        }
        let mut back = [0f32; 32];
        dequantize_block(&b, &mut back);
        assert_eq!(back[31], 127.0);
    }

    #[test]
    fn ties_round_away_from_zero() {
        let mut x = [0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        let b = quantize_block(&x);
        assert_eq!((b[3] as i8, b[4] as i8), (3, -3));
    }

    #[test]
    fn length_errors() {
        assert!(matches!(
            quantize_row_q8_0(&[0.0; 31], &mut [0; 34]),
            Err(FormatError::BadShape { .. })
        ));
        assert!(matches!(
            quantize_row_q8_0(&[0.0; 32], &mut [0; 35]),
            Err(FormatError::BadLength { .. })
        ));
    }
}
