//! Q4_K: ggml's 4-bit k-quant super-blocks (256 weights, 144 bytes).
//!
//! Layout (`block_q4_K`): `d` (f16), `dmin` (f16), `scales[12]` holding eight 6-bit scales
//! and eight 6-bit mins, then `qs[128]`. Each 64-weight group j takes the low nibbles of
//! `qs[32j..32j+32]` (sub-block 2j) then the high nibbles (sub-block 2j+1); weight =
//! d·sc·q − dmin·m. llama-quantize stores `token_embd` this way beside TQ1_0/TQ2_0 weights.

use half::f16;

/// Weights per Q4_K block.
pub const BLOCK_WEIGHTS: usize = 256;
/// Bytes per Q4_K block.
pub const BLOCK_BYTES: usize = 144;

/// The 6-bit (scale, min) pair of sub-block `j` (0..8), as ggml's `get_scale_min_k4`.
///
/// Sub-blocks 0..3 keep both in the low 6 bits of bytes j and j+4; sub-blocks 4..7 keep
/// their low 4 bits in byte j+4 and borrow the spare top 2 bits of bytes j−4 and j.
#[inline]
pub fn scale_min(j: usize, scales: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        (
            (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4),
            (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
        )
    }
}

/// Dequantizes one block. The arithmetic is the reference's, term for term and without
/// fused multiply-add: `(d·sc)·q − (dmin·m)`.
pub fn dequantize_block(block: &[u8; BLOCK_BYTES], out: &mut [f32; BLOCK_WEIGHTS]) {
    let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
    let dmin = f16::from_le_bytes([block[2], block[3]]).to_f32();
    let mut scales = [0u8; 12];
    scales.copy_from_slice(&block[4..16]);
    let qs = &block[16..];
    for g in 0..4 {
        let (sc0, m0) = scale_min(2 * g, &scales);
        let (sc1, m1) = scale_min(2 * g + 1, &scales);
        let (d0, m0) = (d * f32::from(sc0), dmin * f32::from(m0));
        let (d1, m1) = (d * f32::from(sc1), dmin * f32::from(m1));
        let q = &qs[32 * g..32 * g + 32];
        let y = &mut out[64 * g..64 * g + 64];
        for (l, &b) in q.iter().enumerate() {
            y[l] = d0 * f32::from(b & 0x0F) - m0;
            y[32 + l] = d1 * f32::from(b >> 4) - m1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sub-block 5's scale: low nibble of byte 9, top bits of byte 1; its min: high nibble of
    /// byte 9, top bits of byte 5.
    #[test]
    fn packed_high_scales() {
        let mut s = [0u8; 12];
        s[9] = 0xA7; // scale low 7, min low 10
        s[1] = 0b1000_0000; // scale high 2 → 7 | 2<<4 = 39
        s[5] = 0b0100_0000; // min high 1 → 10 | 1<<4 = 26
        assert_eq!(scale_min(5, &s), (39, 26));
        assert_eq!(scale_min(1, &s), (0, 0));
    }

    /// d = 1, dmin = 0.5, sub-block 0 scale 2 min 4, qs low nibble 3: 2·3 − 0.5·4 = 4.
    #[test]
    fn known_value() {
        let mut b = [0u8; BLOCK_BYTES];
        b[..2].copy_from_slice(&f16::ONE.to_le_bytes());
        b[2..4].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        b[4] = 2;
        b[8] = 4;
        b[16] = 0x03;
        let mut out = [0f32; BLOCK_WEIGHTS];
        dequantize_block(&b, &mut out);
        assert_eq!(out[0], 4.0);
        assert_eq!(out[1], -2.0);
        assert_eq!(out[32], 0.0);
    }
}
