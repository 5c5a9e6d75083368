//! Q6_K: ggml's 6-bit k-quant super-blocks (256 weights, 210 bytes).
//!
//! Layout (`block_q6_K`): `ql[128]` (low 4 bits), `qh[64]` (high 2 bits), `scales[16]`
//! (i8, one per 16 weights), then `d` (f16). Each 128-weight half n uses `ql[64n..]`,
//! `qh[32n..]` and `scales[8n..]`; within it weight l, 32+l, 64+l, 96+l (l < 32) take the
//! low nibble of ql[l], low nibble of ql[32+l], high nibble of ql[l], high nibble of
//! ql[32+l], with qh[l] bits 1:0, 3:2, 5:4, 7:6 on top; weight = d·scale·(q − 32).
//! bitnet.cpp's `--quant-embd` stores `token_embd` this way.

use half::f16;

/// Weights per Q6_K block.
pub const BLOCK_WEIGHTS: usize = 256;
/// Bytes per Q6_K block.
pub const BLOCK_BYTES: usize = 210;

/// Dequantizes one block. The arithmetic is the reference's: `(d·scale)·q`, no fused
/// multiply-add.
pub fn dequantize_block(block: &[u8; BLOCK_BYTES], out: &mut [f32; BLOCK_WEIGHTS]) {
    let d = f16::from_le_bytes([block[208], block[209]]).to_f32();
    for n in 0..2 {
        let ql = &block[64 * n..64 * n + 64];
        let qh = &block[128 + 32 * n..128 + 32 * n + 32];
        let sc = &block[192 + 8 * n..192 + 8 * n + 8];
        let y = &mut out[128 * n..128 * n + 128];
        for (l, &h) in qh.iter().enumerate() {
            let is = l / 16;
            let q1 = i32::from((ql[l] & 0x0F) | ((h & 3) << 4)) - 32;
            let q2 = i32::from((ql[32 + l] & 0x0F) | (((h >> 2) & 3) << 4)) - 32;
            let q3 = i32::from((ql[l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
            let q4 = i32::from((ql[32 + l] >> 4) | ((h >> 6) << 4)) - 32;
            let s = |k: usize| d * f32::from(sc[is + k] as i8);
            y[l] = s(0) * q1 as f32;
            y[32 + l] = s(2) * q2 as f32;
            y[64 + l] = s(4) * q3 as f32;
            y[96 + l] = s(6) * q4 as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// d = 0.5, scales[0] = −2; weight 0: ql low nibble 5, qh bits 1:0 = 2 → q = 5 | 32 = 37,
    /// 37 − 32 = 5 → 0.5·(−2)·5 = −5. Weight 96 (ql[32] high nibble 0xF, qh[0] bits 7:6 = 3,
    /// scales[6] = 1): q = 63 − 32 = 31 → 15.5.
    #[test]
    fn known_values() {
        let mut b = [0u8; BLOCK_BYTES];
        b[0] = 0x05;
        b[32] = 0xF0;
        b[128] = 0b1100_0010;
        b[192] = (-2i8) as u8;
        b[198] = 1;
        b[208..].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        let mut out = [0f32; BLOCK_WEIGHTS];
        dequantize_block(&b, &mut out);
        assert_eq!(out[0], -5.0);
        assert_eq!(out[96], 15.5);
    }
}
