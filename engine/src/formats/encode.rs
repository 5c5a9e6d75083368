//! Floats to the bytes of a float or 8-bit type: the inverse of [`super::dequantize_row`] for
//! the types converters write (embeddings and LM heads).

use super::{FormatError, TensorType, q6k, q8_0};
use half::f16;

/// Encodes whole rows of floats as F32, F16, Q8_0 (gguf-py's quantizer) or Q6_K
/// (llama.cpp's); other types are [`FormatError::Unsupported`].
pub fn encode_floats(x: &[f32], ty: TensorType) -> Result<Vec<u8>, FormatError> {
    Ok(match ty {
        TensorType::F32 => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
        TensorType::F16 => x
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect(),
        TensorType::Q8_0 => {
            let mut out = vec![0u8; x.len() / q8_0::BLOCK_WEIGHTS * q8_0::BLOCK_BYTES];
            q8_0::quantize_row_q8_0(x, &mut out)?;
            out
        }
        TensorType::Q6_K => {
            let mut out = vec![0u8; x.len() / q6k::BLOCK_WEIGHTS * q6k::BLOCK_BYTES];
            q6k::quantize_row_q6_k(x, &mut out)?;
            out
        }
        other => return Err(FormatError::Unsupported(other)),
    })
}
