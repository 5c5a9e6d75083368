//! Row dequantization for the non-ternary-specific types the engine meets in files.
//!
//! Every decoder does its arithmetic in the same order as ggml's reference
//! `dequantize_row_*` and gguf-py (no fused multiply-add), so results are bit-identical to
//! them; the fixtures from scripts/gen_format_fixtures.py check that.

use super::{FormatError, TensorType, q4k, q6k, q8_0, tq1_0, tq2_0};
use half::f16;

/// Decodes `dst.len()` consecutive weights of type `ty` from `src`, which must hold exactly
/// the bytes of those weights (whole blocks).
///
/// Supports F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K, TQ1_0 and TQ2_0.
/// I2_S/TL1/TL2 keep one scale for the whole tensor, so a row cannot be decoded on its own
/// here: use [`super::ternary::decode_ternary_row`]. Other types give
/// [`FormatError::Unsupported`].
pub fn dequantize_row(ty: TensorType, src: &[u8], dst: &mut [f32]) -> Result<(), FormatError> {
    use TensorType as T;
    match ty {
        T::F32 => elementwise::<4>(ty, src, dst, f32::from_le_bytes),
        T::F16 => elementwise::<2>(ty, src, dst, |b| f16::from_le_bytes(b).to_f32()),
        // bf16 is the top half of an f32, so widening is a shift; NaN payloads survive as in
        // ggml and gguf-py.
        T::BF16 => elementwise::<2>(ty, src, dst, |b| {
            f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16)
        }),
        T::Q4_0 => blocks::<32, 18>(ty, src, dst, dequantize_q4_0),
        T::Q4_1 => blocks::<32, 20>(ty, src, dst, dequantize_q4_1),
        T::Q5_0 => blocks::<32, 22>(ty, src, dst, dequantize_q5_0),
        T::Q5_1 => blocks::<32, 24>(ty, src, dst, dequantize_q5_1),
        T::Q8_0 => blocks(ty, src, dst, q8_0::dequantize_block),
        T::Q4_K => blocks(ty, src, dst, q4k::dequantize_block),
        T::Q6_K => blocks(ty, src, dst, q6k::dequantize_block),
        T::TQ1_0 => blocks(ty, src, dst, tq1_0::dequantize_block),
        T::TQ2_0 => blocks(ty, src, dst, tq2_0::dequantize_block),
        _ => Err(FormatError::Unsupported(ty)),
    }
}

fn elementwise<const B: usize>(
    ty: TensorType,
    src: &[u8],
    dst: &mut [f32],
    f: impl Fn([u8; B]) -> f32,
) -> Result<(), FormatError> {
    // Saturating: a slice that large cannot exist, so the comparison below still fails.
    let expected = dst.len().saturating_mul(B);
    if src.len() != expected {
        return Err(FormatError::BadLength {
            ty,
            got: src.len(),
            expected,
        });
    }
    let (xs, _) = src.as_chunks::<B>();
    for (o, &x) in dst.iter_mut().zip(xs) {
        *o = f(x);
    }
    Ok(())
}

fn blocks<const N: usize, const B: usize>(
    ty: TensorType,
    src: &[u8],
    dst: &mut [f32],
    f: fn(&[u8; B], &mut [f32; N]),
) -> Result<(), FormatError> {
    if !dst.len().is_multiple_of(N) {
        return Err(FormatError::BadShape {
            ty,
            dims: vec![dst.len() as u64],
            why: "row length is not a multiple of the block size",
        });
    }
    let expected = dst.len() / N * B;
    if src.len() != expected {
        return Err(FormatError::BadLength {
            ty,
            got: src.len(),
            expected,
        });
    }
    let (xs, _) = src.as_chunks::<B>();
    let (ys, _) = dst.as_chunks_mut::<N>();
    for (x, y) in xs.iter().zip(ys) {
        f(x, y);
    }
    Ok(())
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// `d`, `qs[16]`: weight j is the low nibble of qs[j], weight 16+j the high one; (q−8)·d.
fn dequantize_q4_0(b: &[u8; 18], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for (j, &q) in b[2..].iter().enumerate() {
        y[j] = f32::from(i16::from(q & 0x0F) - 8) * d;
        y[16 + j] = f32::from(i16::from(q >> 4) - 8) * d;
    }
}

/// `d`, `m`, `qs[16]`: q·d + m.
fn dequantize_q4_1(b: &[u8; 20], y: &mut [f32; 32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    for (j, &q) in b[4..].iter().enumerate() {
        y[j] = f32::from(q & 0x0F) * d + m;
        y[16 + j] = f32::from(q >> 4) * d + m;
    }
}

/// Bit j of the little-endian u32 `qh` is the fifth bit of weight j (0..32).
fn high_bits(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `d`, `qh[4]`, `qs[16]`: 5-bit q = nibble | qh bit << 4; (q−16)·d.
fn dequantize_q5_0(b: &[u8; 22], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    let qh = high_bits(b, 2);
    for (j, &q) in b[6..].iter().enumerate() {
        let h0 = ((qh >> j) & 1) << 4;
        let h1 = ((qh >> (j + 16)) & 1) << 4;
        y[j] = ((u32::from(q & 0x0F) | h0) as i32 - 16) as f32 * d;
        y[16 + j] = ((u32::from(q >> 4) | h1) as i32 - 16) as f32 * d;
    }
}

/// `d`, `m`, `qh[4]`, `qs[16]`: q·d + m with 5-bit q.
fn dequantize_q5_1(b: &[u8; 24], y: &mut [f32; 32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = high_bits(b, 4);
    for (j, &q) in b[8..].iter().enumerate() {
        let h0 = ((qh >> j) & 1) << 4;
        let h1 = ((qh >> (j + 16)) & 1) << 4;
        y[j] = (u32::from(q & 0x0F) | h0) as f32 * d + m;
        y[16 + j] = (u32::from(q >> 4) | h1) as f32 * d + m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture file of little-endian f32s.
    fn f32s(bytes: &[u8]) -> Vec<f32> {
        let (xs, rest) = bytes.as_chunks::<4>();
        assert!(rest.is_empty());
        xs.iter().map(|&b| f32::from_le_bytes(b)).collect()
    }

    /// Bit-identical, with NaN matching NaN (f16 NaN payloads may be quieted in conversion).
    fn assert_same(ty: TensorType, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
            assert!(
                same,
                "{ty} weight {i}: got {g:e} ({:#x}), gguf-py {w:e} ({:#x})",
                g.to_bits(),
                w.to_bits()
            );
        }
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!("../../../tests/fixtures/formats/", $name))
        };
    }

    /// Our dequantization equals gguf-py's (ggml's reference semantics) bit for bit: the
    /// tolerance is zero ulp, since both evaluate the same f32 expressions in the same order.
    #[test]
    fn matches_gguf_py_reference() {
        let cases: [(TensorType, &[u8], &[u8]); 11] = [
            (
                TensorType::Q4_0,
                fixture!("q4_0.blocks"),
                fixture!("q4_0.dequant.f32"),
            ),
            (
                TensorType::Q4_1,
                fixture!("q4_1.blocks"),
                fixture!("q4_1.dequant.f32"),
            ),
            (
                TensorType::Q5_0,
                fixture!("q5_0.blocks"),
                fixture!("q5_0.dequant.f32"),
            ),
            (
                TensorType::Q5_1,
                fixture!("q5_1.blocks"),
                fixture!("q5_1.dequant.f32"),
            ),
            (
                TensorType::Q8_0,
                fixture!("q8_0.blocks"),
                fixture!("q8_0.dequant.f32"),
            ),
            (
                TensorType::Q4_K,
                fixture!("q4_k.blocks"),
                fixture!("q4_k.dequant.f32"),
            ),
            (
                TensorType::Q6_K,
                fixture!("q6_k.blocks"),
                fixture!("q6_k.dequant.f32"),
            ),
            (
                TensorType::TQ1_0,
                fixture!("tq1_0.blocks"),
                fixture!("tq1_0.dequant.f32"),
            ),
            (
                TensorType::TQ2_0,
                fixture!("tq2_0.blocks"),
                fixture!("tq2_0.dequant.f32"),
            ),
            (
                TensorType::BF16,
                fixture!("bf16.blocks"),
                fixture!("bf16.dequant.f32"),
            ),
            (
                TensorType::F16,
                fixture!("f16.blocks"),
                fixture!("f16.dequant.f32"),
            ),
        ];
        for (ty, blocks, want) in cases {
            let want = f32s(want);
            let mut got = vec![0f32; want.len()];
            dequantize_row(ty, blocks, &mut got).expect("fixture lengths are consistent");
            assert_same(ty, &got, &want);
        }
    }

    #[test]
    fn q8_0_quantizer_matches_gguf_py() {
        let x = f32s(fixture!("q8_0_quant.f32"));
        let want = fixture!("q8_0_quant.q8_0");
        let mut got = vec![0u8; want.len()];
        q8_0::quantize_row_q8_0(&x, &mut got).expect("lengths are consistent");
        assert_eq!(got, want);
    }

    /// Byte for byte against llama.cpp's `quantize_row_q6_K_ref` (fixture from
    /// scripts/formats/make_q6k_fixture.py: noise, zeros, an outlier, sub-epsilon values, a
    /// negative maximum, sparse sub-blocks), and the blocks dequantize close to the input.
    #[test]
    fn q6_k_quantizer_matches_llama_cpp() {
        let x = f32s(fixture!("q6_k_quant.f32"));
        let want = fixture!("q6_k_quant.q6_k");
        let mut got = vec![0u8; want.len()];
        super::super::q6k::quantize_row_q6_k(&x, &mut got).expect("lengths are consistent");
        for (b, (g, w)) in got.chunks(210).zip(want.chunks(210)).enumerate() {
            assert_eq!(g, w, "block {b}");
        }
        let mut back = vec![0f32; x.len()];
        dequantize_row(TensorType::Q6_K, &got, &mut back).expect("whole blocks");
        // Block 0 is unit-variance noise: 6-bit codes keep each value within a small step.
        let err = x[..256]
            .iter()
            .zip(&back)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err < 0.1, "max error {err}");
        assert!(super::super::q6k::quantize_row_q6_k(&x[..255], &mut got[..210]).is_err());
    }

    #[test]
    fn f32_round_trip_and_errors() {
        let v = [1.5f32, -0.0, f32::INFINITY];
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut out = [0f32; 3];
        dequantize_row(TensorType::F32, &bytes, &mut out).expect("lengths match");
        assert_eq!(out.map(f32::to_bits), v.map(f32::to_bits));
        assert!(matches!(
            dequantize_row(TensorType::F32, &bytes[..11], &mut out),
            Err(FormatError::BadLength {
                expected: 12,
                got: 11,
                ..
            })
        ));
        assert!(matches!(
            dequantize_row(TensorType::Q8_0, &[0; 34], &mut [0f32; 31]),
            Err(FormatError::BadShape { .. })
        ));
        assert!(matches!(
            dequantize_row(TensorType::Q6_K, &[0; 209], &mut [0f32; 256]),
            Err(FormatError::BadLength { expected: 210, .. })
        ));
        assert_eq!(
            dequantize_row(TensorType::I2_S, &[0; 64], &mut [0f32; 128]),
            Err(FormatError::Unsupported(TensorType::I2_S))
        );
        assert_eq!(
            dequantize_row(TensorType::Q5_K, &[0; 176], &mut [0f32; 256]),
            Err(FormatError::Unsupported(TensorType::Q5_K))
        );
    }
}
