//! Q6_K: ggml's 6-bit k-quant super-blocks (256 weights, 210 bytes).
//!
//! Layout (`block_q6_K`): `ql[128]` (low 4 bits), `qh[64]` (high 2 bits), `scales[16]`
//! (i8, one per 16 weights), then `d` (f16). Each 128-weight half n uses `ql[64n..]`,
//! `qh[32n..]` and `scales[8n..]`; within it weight l, 32+l, 64+l, 96+l (l < 32) take the
//! low nibble of `ql[l]`, low nibble of `ql[32+l]`, high nibble of `ql[l]`, high nibble of
//! `ql[32+l]`, with `qh[l]` bits 1:0, 3:2, 5:4, 7:6 on top; weight = d·scale·(q − 32).
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

/// Blocks whose largest value is below this are stored as zeros (ggml's GROUP_MAX_EPS).
const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `nearest_int`: round to nearest with ties to even, through the float magic number
/// 1.5·2^23 (valid for |v| < 2^22).
fn nearest_int(v: f32) -> i32 {
    ((v + 12_582_912.0).to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// The 6-bit codes and scale of 16 values: ggml's `make_qx_quants` with nmax 32 and weights
/// x² (rmse type 1). Tries the step −max/32 and 18 nearby steps and keeps the one minimising
/// the weighted squared error; codes are written to `l` as 0..63 (q + 32).
fn sub_block_quants(x: &[f32; 16], l: &mut [u8; 16]) -> f32 {
    const NMAX: i32 = 32;
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let code = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-NMAX, NMAX - 1);
    // Σ w·x·q and Σ w·q² with w = x², accumulated in order in f32 as the reference does.
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0f32, 0f32);
        for &v in x {
            let q = code(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * q;
            suml2 += w * q * q;
        }
        (sumlx, suml2)
    };
    let fill = |iscale: f32, l: &mut [u8; 16]| {
        for (o, &v) in l.iter_mut().zip(x) {
            *o = (code(iscale, v) + NMAX) as u8;
        }
    };
    let iscale = -(NMAX as f32) / max;
    fill(iscale, l);
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in (-9..=9).filter(|&i| i != 0) {
        let iscale = -(NMAX as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            fill(iscale, l);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Quantizes one block as llama.cpp's `quantize_row_q6_K_ref` does (byte for byte: tested
/// against its output): per 16 values a scale from ggml's `make_qx_quants` search, the scales
/// quantized to i8 against the largest, then every value re-coded with its final scale.
pub fn quantize_block(x: &[f32; BLOCK_WEIGHTS]) -> [u8; BLOCK_BYTES] {
    let mut out = [0u8; BLOCK_BYTES];
    let mut l = [0u8; BLOCK_WEIGHTS];
    let mut scales = [0f32; 16];
    let (mut max_abs, mut max_scale) = (0f32, 0f32);
    for (ib, s) in scales.iter_mut().enumerate() {
        let (xs, _) = x[16 * ib..16 * ib + 16].as_chunks::<16>();
        let (ls, _) = l[16 * ib..16 * ib + 16].as_chunks_mut::<16>();
        *s = sub_block_quants(&xs[0], &mut ls[0]);
        if s.abs() > max_abs {
            max_abs = s.abs();
            max_scale = *s;
        }
    }
    if max_abs < GROUP_MAX_EPS {
        return out;
    }
    let iscale = -128.0 / max_scale;
    let d = f16::from_f32(1.0 / iscale);
    out[208..210].copy_from_slice(&d.to_le_bytes());
    for (ib, &s) in scales.iter().enumerate() {
        let q = nearest_int(iscale * s).min(127) as i8;
        out[192 + ib] = q as u8;
        let step = d.to_f32() * f32::from(q);
        if step == 0.0 {
            continue;
        }
        for i in 16 * ib..16 * ib + 16 {
            l[i] = (nearest_int(x[i] / step).clamp(-32, 31) + 32) as u8;
        }
    }
    for n in 0..2 {
        let (lq, ql, qh) = (128 * n, 64 * n, 128 + 32 * n);
        for i in 0..32 {
            let q = |k: usize| l[lq + i + 32 * k];
            out[ql + i] = (q(0) & 0xF) | ((q(2) & 0xF) << 4);
            out[ql + 32 + i] = (q(1) & 0xF) | ((q(3) & 0xF) << 4);
            out[qh + i] =
                (q(0) >> 4) | ((q(1) >> 4) << 2) | ((q(2) >> 4) << 4) | ((q(3) >> 4) << 6);
        }
    }
    out
}

/// Quantizes whole blocks: `src.len()` a multiple of 256, `dst` 210 bytes per block.
pub fn quantize_row_q6_k(src: &[f32], dst: &mut [u8]) -> Result<(), super::FormatError> {
    let blocks = src.len() / BLOCK_WEIGHTS;
    if !src.len().is_multiple_of(BLOCK_WEIGHTS) || dst.len() != blocks * BLOCK_BYTES {
        return Err(super::FormatError::BadLength {
            ty: super::TensorType::Q6_K,
            got: dst.len(),
            expected: blocks * BLOCK_BYTES,
        });
    }
    let (xs, _) = src.as_chunks::<BLOCK_WEIGHTS>();
    let (ys, _) = dst.as_chunks_mut::<BLOCK_BYTES>();
    for (x, y) in xs.iter().zip(ys) {
        *y = quantize_block(x);
    }
    Ok(())
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
