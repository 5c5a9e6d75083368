//! I2_S, bitnet.cpp's canonical ternary layout (specs/formats-and-models.md §1.2).
//!
//! The tensor holds `W[rows][cols]` with rows contiguous at cols/4 bytes each and no per-block
//! headers. The flattened codes are cut into 128-weight blocks of 32 bytes; byte `j` of a
//! block holds weights `j`, `32+j`, `64+j`, `96+j` in bits 7:6, 5:4, 3:2, 1:0. Codes are
//! 0 = −1, 1 = 0, 2 = +1 (3 is never written and decodes as 0). One f32 scale for the whole
//! tensor follows the codes at byte rows·cols/4, then 28 zero bytes.
//!
//! Only the x86/official 128/32 layout exists here: ARM builds of bitnet.cpp since 2025-11
//! write a 64/16 variant that the file cannot be told apart from, and the official GGUF and
//! the reference dequantizer use 128/32.

use super::{FormatError, TensorType};

/// Weights per I2_S block.
pub const BLOCK_WEIGHTS: usize = 128;
/// Bytes per I2_S block.
pub const BLOCK_BYTES: usize = 32;
/// Bytes after the codes: the f32 tensor scale and 28 bytes of padding.
pub const TAIL_BYTES: usize = 32;

/// The four codes (as weights −1/0/+1) of every byte value, in weight order
/// (`j`, `32+j`, `64+j`, `96+j`). A table keeps the row decoder to one load per byte.
pub(crate) static BYTE_WEIGHTS: [[i8; 4]; 256] = byte_table();

const fn byte_table() -> [[i8; 4]; 256] {
    // Code 3 maps to 0 as in the fork's dequantizer (map2bit = {−1, 0, +1, 0}).
    const MAP: [i8; 4] = [-1, 0, 1, 0];
    let mut t = [[0i8; 4]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [
            MAP[(b >> 6) & 3],
            MAP[(b >> 4) & 3],
            MAP[(b >> 2) & 3],
            MAP[b & 3],
        ];
        b += 1;
    }
    t
}

fn bad_shape(rows: usize, cols: usize, why: &'static str) -> FormatError {
    FormatError::BadShape {
        ty: TensorType::I2_S,
        dims: vec![cols as u64, rows as u64],
        why,
    }
}

/// Checks the shape rules and returns the tensor's total size in bytes (codes plus tail).
///
/// The fork cuts the *flattened* tensor into blocks, so cols % 128 ≠ 0 is representable in
/// principle, but then rows start mid-block, the reference quantizer silently drops a
/// trailing partial block and the reference kernels index rows as whole blocks. No real
/// model has such a shape, so it is rejected.
pub fn nbytes(rows: usize, cols: usize) -> Result<usize, FormatError> {
    // cols = 0 would make the one per-row scale cover zero weights, a block length that
    // callers chunk rows by.
    if cols == 0 || !cols.is_multiple_of(BLOCK_WEIGHTS) {
        return Err(bad_shape(
            rows,
            cols,
            "I2_S row length must be a nonzero multiple of 128",
        ));
    }
    rows.checked_mul(cols / 4)
        .and_then(|n| n.checked_add(TAIL_BYTES))
        .ok_or_else(|| bad_shape(rows, cols, "byte size overflows"))
}

fn code_of(w: i8) -> Result<u8, FormatError> {
    match w {
        -1 => Ok(0),
        0 => Ok(1),
        1 => Ok(2),
        other => Err(FormatError::BadValue(format!(
            "ternary weight {other} is not in {{-1, 0, 1}}"
        ))),
    }
}

/// Packs whole blocks of weights in {−1, 0, +1} into I2_S code bytes (no scale tail).
///
/// `weights.len()` must be a multiple of 128 and `dst.len()` exactly a quarter of it.
pub fn pack_codes(weights: &[i8], dst: &mut [u8]) -> Result<(), FormatError> {
    if !weights.len().is_multiple_of(BLOCK_WEIGHTS) {
        return Err(bad_shape(
            1,
            weights.len(),
            "I2_S row length must be a multiple of 128",
        ));
    }
    if dst.len() != weights.len() / 4 {
        return Err(FormatError::BadLength {
            ty: TensorType::I2_S,
            got: dst.len(),
            expected: weights.len() / 4,
        });
    }
    let (blocks, _) = weights.as_chunks::<BLOCK_WEIGHTS>();
    let (out, _) = dst.as_chunks_mut::<BLOCK_BYTES>();
    for (w, o) in blocks.iter().zip(out) {
        for (j, byte) in o.iter_mut().enumerate() {
            *byte = (code_of(w[j])? << 6)
                | (code_of(w[32 + j])? << 4)
                | (code_of(w[64 + j])? << 2)
                | code_of(w[96 + j])?;
        }
    }
    Ok(())
}

/// Decodes whole I2_S blocks of code bytes into weights −1/0/+1 (code 3 gives 0).
///
/// `src.len()` must be a multiple of 32 and `dst.len()` exactly four times it.
pub fn unpack_codes(src: &[u8], dst: &mut [i8]) -> Result<(), FormatError> {
    let expected = dst.len() / 4;
    if !dst.len().is_multiple_of(BLOCK_WEIGHTS) || src.len() != expected {
        return Err(FormatError::BadLength {
            ty: TensorType::I2_S,
            got: src.len(),
            expected,
        });
    }
    let (blocks, _) = src.as_chunks::<BLOCK_BYTES>();
    let (out, _) = dst.as_chunks_mut::<BLOCK_WEIGHTS>();
    for (b, o) in blocks.iter().zip(out) {
        decode_block(b, o);
    }
    Ok(())
}

/// Decodes one 32-byte block into its 128 weights.
#[inline]
pub(crate) fn decode_block(src: &[u8; BLOCK_BYTES], dst: &mut [i8; BLOCK_WEIGHTS]) {
    for (j, &b) in src.iter().enumerate() {
        let w = BYTE_WEIGHTS[b as usize];
        dst[j] = w[0];
        dst[32 + j] = w[1];
        dst[64 + j] = w[2];
        dst[96 + j] = w[3];
    }
}

/// Builds a whole I2_S tensor (codes, scale, zero padding) from `rows`×`cols` weights in
/// {−1, 0, +1} and the per-tensor scale.
pub fn pack(weights: &[i8], rows: usize, cols: usize, scale: f32) -> Result<Vec<u8>, FormatError> {
    let total = nbytes(rows, cols)?;
    let n_codes = total - TAIL_BYTES;
    if rows.checked_mul(cols) != Some(weights.len()) {
        return Err(bad_shape(rows, cols, "weight count is not rows × cols"));
    }
    let mut out = vec![0u8; total];
    pack_codes(weights, &mut out[..n_codes])?;
    out[n_codes..n_codes + 4].copy_from_slice(&scale.to_le_bytes());
    Ok(out)
}

/// Reads the per-tensor scale of a whole I2_S tensor of `rows`×`cols`.
pub fn scale(data: &[u8], rows: usize, cols: usize) -> Result<f32, FormatError> {
    let total = nbytes(rows, cols)?;
    if data.len() != total {
        return Err(FormatError::BadLength {
            ty: TensorType::I2_S,
            got: data.len(),
            expected: total,
        });
    }
    let at = total - TAIL_BYTES;
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[at..at + 4]);
    Ok(f32::from_le_bytes(b))
}

/// Quantizes a float tensor as bitnet.cpp's C quantizer (`quantize_i2_s`) does: the scale is
/// max|w| over the whole tensor (taken in f64, stored as f32), |w| < 1e-6 gives 0, otherwise
/// the sign of w gives ±1.
///
/// The inputs are expected to be ternarised already (±mean|W| or 0), which is why the
/// magnitude of w plays no part beyond the zero threshold.
pub fn quantize(src: &[f32], rows: usize, cols: usize) -> Result<Vec<u8>, FormatError> {
    let total = nbytes(rows, cols)?;
    if rows.checked_mul(cols) != Some(src.len()) {
        return Err(bad_shape(rows, cols, "weight count is not rows × cols"));
    }
    // f64::max ignores NaN, like C's fmax.
    let max = src.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs()));
    let weights: Vec<i8> = src
        .iter()
        .map(|&x| {
            let x = f64::from(x);
            if x.abs() < 1e-6 {
                0
            } else if x * max > 0.0 {
                1
            } else {
                // NaN lands here too, as in the reference (`x*max > 0 ? 2 : 0`).
                -1
            }
        })
        .collect();
    let mut out = vec![0u8; total];
    let n_codes = total - TAIL_BYTES;
    pack_codes(&weights, &mut out[..n_codes])?;
    out[n_codes..n_codes + 4].copy_from_slice(&(max as f32).to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One block: weights 0..31 are +1 (code 2), 32..63 are 0 (code 1), 64..95 are −1
    /// (code 0), and 96..127 alternate +1, −1 (codes 2, 0).
    /// Byte j = 2<<6 | 1<<4 | 0<<2 | c3 = 0x80 | 0x10 | c3, i.e. 0x92 for even j and 0x90
    /// for odd j. Scale 0.5 = 0x3F000000, stored little-endian as 00 00 00 3F.
    fn pattern() -> Vec<i8> {
        (0..128usize)
            .map(|i| match i / 32 {
                0 => 1,
                1 => 0,
                2 => -1,
                _ => {
                    if i.is_multiple_of(2) {
                        1
                    } else {
                        -1
                    }
                }
            })
            .collect()
    }

    fn expected_bytes() -> Vec<u8> {
        let mut v: Vec<u8> = (0..32usize)
            .map(|j| if j.is_multiple_of(2) { 0x92 } else { 0x90 })
            .collect();
        v.extend_from_slice(&[0x00, 0x00, 0x00, 0x3F]);
        v.extend_from_slice(&[0u8; 28]);
        v
    }

    #[test]
    fn known_block_packs_to_hand_computed_bytes() {
        let packed = pack(&pattern(), 1, 128, 0.5).expect("valid shape");
        assert_eq!(packed, expected_bytes());
    }

    #[test]
    fn hand_computed_bytes_unpack_to_known_block() {
        let bytes = expected_bytes();
        let mut w = vec![0i8; 128];
        unpack_codes(&bytes[..32], &mut w).expect("valid lengths");
        assert_eq!(w, pattern());
        assert_eq!(scale(&bytes, 1, 128), Ok(0.5));
    }

    /// All weights 0 (code 1 → bytes 0b01010101 = 0x55) except weight 97 = +1: byte 1 holds
    /// weights 1, 33, 65, 97 → 01 01 01 10 = 0x56.
    #[test]
    fn single_weight_lands_in_low_bits_of_byte_one() {
        let mut w = vec![0i8; 128];
        w[97] = 1;
        let mut out = [0u8; 32];
        pack_codes(&w, &mut out).expect("valid lengths");
        let mut want = [0x55u8; 32];
        want[1] = 0x56;
        assert_eq!(out, want);
    }

    #[test]
    fn code_three_decodes_as_zero() {
        let mut w = vec![9i8; 128];
        unpack_codes(&[0xFF; 32], &mut w).expect("valid lengths");
        assert!(w.iter().all(|&x| x == 0));
    }

    #[test]
    fn reference_quantizer_uses_sign_threshold_and_absmax() {
        let mut src = vec![0f32; 256];
        src[0] = 0.3;
        src[1] = -0.3;
        src[2] = 5e-7; // below the 1e-6 threshold: 0
        src[200] = -0.7;
        let q = quantize(&src, 2, 128).expect("valid shape");
        let mut w = vec![0i8; 256];
        unpack_codes(&q[..64], &mut w).expect("valid lengths");
        assert_eq!(&w[..3], &[1, -1, 0]);
        assert_eq!(w[200], -1);
        assert_eq!(w.iter().filter(|&&x| x != 0).count(), 3);
        assert_eq!(scale(&q, 2, 128), Ok(0.7));
    }

    #[test]
    fn rejects_bad_shapes_and_values() {
        assert!(matches!(nbytes(2, 64), Err(FormatError::BadShape { .. })));
        assert!(matches!(nbytes(2, 0), Err(FormatError::BadShape { .. })));
        assert!(matches!(
            pack(&[2i8; 128], 1, 128, 1.0),
            Err(FormatError::BadValue(_))
        ));
        assert!(matches!(
            pack(&[0i8; 127], 1, 128, 1.0),
            Err(FormatError::BadShape { .. })
        ));
        assert!(matches!(
            scale(&[0u8; 63], 1, 128),
            Err(FormatError::BadLength { .. })
        ));
    }
}
