//! Ternary weights from a checkpoint: decoded from 2B-4T's packed uint8 layout, or made from
//! float master weights by BitNet's absmean rule.

use super::super::ConvertError;
use super::checkpoint::TensorRef;
use crate::formats::ternary::TernaryMatrix;
use safetensors::tensor::Dtype;

/// Decodes microsoft/bitnet-b1.58-2B-4T's packed weight: uint8 `[M/4, K]` where bits 2i..2i+1
/// of packed row p hold output row i·M/4 + p as code 0 (−1), 1 (0) or 2 (+1), and the scalar
/// `weight_scale` multiplies (as transformers' AutoBitLinear and bitnet.cpp do).
pub(crate) fn unpack_packed(
    packed: &TensorRef<'_>,
    scale: &TensorRef<'_>,
    rows: usize,
    cols: usize,
) -> Result<TernaryMatrix, ConvertError> {
    let bad = |why: String| {
        Err(ConvertError::Invalid(format!(
            "tensor '{}': {why}",
            packed.name
        )))
    };
    if packed.dtype != Dtype::U8 {
        return bad(format!(
            "{:?}, but packed ternary weights are U8",
            packed.dtype
        ));
    }
    if !rows.is_multiple_of(4) {
        return bad(format!(
            "{rows} output rows cannot be packed four to a byte"
        ));
    }
    packed.expect_shape(&[rows / 4, cols])?;
    let s = scale.to_f32()?;
    if s.len() != 1 {
        return Err(ConvertError::Invalid(format!(
            "tensor '{}' holds {} values, expected one scale",
            scale.name,
            s.len()
        )));
    }
    if !s[0].is_finite() {
        return Err(ConvertError::Invalid(format!(
            "tensor '{}' is {}, not a finite scale",
            scale.name, s[0]
        )));
    }
    let quarter = rows / 4;
    let mut codes = vec![0i8; rows * cols];
    for (p, packed_row) in packed.data.chunks_exact(cols.max(1)).enumerate() {
        for (k, &b) in packed_row.iter().enumerate() {
            for i in 0..4 {
                let c = (b >> (2 * i)) & 3;
                if c == 3 {
                    return bad(format!(
                        "code 3 at packed row {p}, column {k} is not ternary (0, 1, 2 mean −1, 0, +1)"
                    ));
                }
                codes[(i * quarter + p) * cols + k] = c as i8 - 1;
            }
        }
    }
    TernaryMatrix::new(rows, cols, codes, s[0]).map_err(|source| ConvertError::Tensor {
        name: packed.name.to_string(),
        source,
    })
}

/// BitNet's weight quantization of float master weights: `s = 1 / max(mean|W|, 1e-5)`,
/// codes `clamp(round(W·s), −1, 1)` (ties to even, as torch.round), scale `1/s` cast to the
/// checkpoint's dtype (the reference converters cast the ternarized weights back to it).
pub(crate) fn absmean(
    t: &TensorRef<'_>,
    rows: usize,
    cols: usize,
) -> Result<TernaryMatrix, ConvertError> {
    t.expect_shape(&[rows, cols])?;
    let w = t.to_f32()?;
    if let Some(i) = w.iter().position(|v| !v.is_finite()) {
        return Err(ConvertError::Invalid(format!(
            "tensor '{}' holds {} at element {i}",
            t.name, w[i]
        )));
    }
    let mean = (w.iter().map(|v| f64::from(v.abs())).sum::<f64>() / w.len().max(1) as f64) as f32;
    let s = 1.0 / mean.max(1e-5);
    let codes = w
        .iter()
        .map(|v| (v * s).round_ties_even().clamp(-1.0, 1.0) as i8)
        .collect();
    TernaryMatrix::new(rows, cols, codes, t.round_to_dtype(1.0 / s)).map_err(|source| {
        ConvertError::Tensor {
            name: t.name.to_string(),
            source,
        }
    })
}
