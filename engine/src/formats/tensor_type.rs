//! The ggml tensor type ids, with the bitnet.cpp reinterpretation of 36/38/39.

use super::FormatError;
use std::fmt;

/// A tensor element type as stored in GGUF.
///
/// Ids 36, 38 and 39 are I2_S, TL1 and TL2 only in bitnet.cpp files (bitnet architectures);
/// upstream ggml uses 39 for MXFP4 and never stores 36/38. [`TensorType::from_id`] takes the
/// architecture into account for that reason.
#[allow(non_camel_case_types, missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    /// bitnet.cpp 2-bit ternary, 128-weight/32-byte blocks, f32 tensor scale at the tail.
    I2_S,
    /// bitnet.cpp lookup-table layout for pairs of weights.
    TL1,
    /// bitnet.cpp lookup-table layout for triplets of weights.
    TL2,
    /// Upstream ggml's MXFP4 (id 39 outside bitnet architectures).
    MXFP4,
}

impl TensorType {
    /// Decodes a GGUF type id. `bitnet_arch` selects the bitnet.cpp meaning of 36/38/39.
    pub fn from_id(id: u32, bitnet_arch: bool) -> Result<Self, FormatError> {
        use TensorType::*;
        Ok(match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2_K,
            11 => Q3_K,
            12 => Q4_K,
            13 => Q5_K,
            14 => Q6_K,
            15 => Q8_K,
            16 => IQ2_XXS,
            17 => IQ2_XS,
            18 => IQ3_XXS,
            19 => IQ1_S,
            20 => IQ4_NL,
            21 => IQ3_S,
            22 => IQ2_S,
            23 => IQ4_XS,
            24 => I8,
            25 => I16,
            26 => I32,
            27 => I64,
            28 => F64,
            29 => IQ1_M,
            30 => BF16,
            34 => TQ1_0,
            35 => TQ2_0,
            36 if bitnet_arch => I2_S,
            38 if bitnet_arch => TL1,
            39 if bitnet_arch => TL2,
            39 => MXFP4,
            other => return Err(FormatError::UnknownType(other)),
        })
    }

    /// The GGUF type id this type is stored under.
    pub fn id(self) -> u32 {
        use TensorType::*;
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q5_0 => 6,
            Q5_1 => 7,
            Q8_0 => 8,
            Q8_1 => 9,
            Q2_K => 10,
            Q3_K => 11,
            Q4_K => 12,
            Q5_K => 13,
            Q6_K => 14,
            Q8_K => 15,
            IQ2_XXS => 16,
            IQ2_XS => 17,
            IQ3_XXS => 18,
            IQ1_S => 19,
            IQ4_NL => 20,
            IQ3_S => 21,
            IQ2_S => 22,
            IQ4_XS => 23,
            I8 => 24,
            I16 => 25,
            I32 => 26,
            I64 => 27,
            F64 => 28,
            IQ1_M => 29,
            BF16 => 30,
            TQ1_0 => 34,
            TQ2_0 => 35,
            I2_S => 36,
            TL1 => 38,
            TL2 | MXFP4 => 39,
        }
    }

    /// Parses a user-facing name such as `i2_s`, `tq2_0`, `f16` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        use TensorType::*;
        let all = [
            F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K,
            IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS, I8, I16, I32, I64, F64,
            IQ1_M, BF16, TQ1_0, TQ2_0, I2_S, TL1, TL2, MXFP4,
        ];
        all.into_iter()
            .find(|t| t.to_string().eq_ignore_ascii_case(name))
    }

    /// True for the ternary weight types (one weight in {−1, 0, +1} times a scale).
    pub fn is_ternary(self) -> bool {
        matches!(
            self,
            TensorType::TQ1_0
                | TensorType::TQ2_0
                | TensorType::I2_S
                | TensorType::TL1
                | TensorType::TL2
        )
    }

    /// (weights per block, bytes per block) for the block-structured ggml types; `None` for
    /// the bitnet.cpp types whose size is a whole-tensor rule.
    pub fn block_layout(self) -> Option<(u64, u64)> {
        use TensorType::*;
        Some(match self {
            F32 => (1, 4),
            F16 | BF16 => (1, 2),
            Q4_0 => (32, 18),
            Q4_1 => (32, 20),
            Q5_0 => (32, 22),
            Q5_1 => (32, 24),
            Q8_0 => (32, 34),
            Q8_1 => (32, 36),
            Q2_K => (256, 84),
            Q3_K => (256, 110),
            Q4_K => (256, 144),
            Q5_K => (256, 176),
            Q6_K => (256, 210),
            Q8_K => (256, 292),
            IQ2_XXS => (256, 66),
            IQ2_XS => (256, 74),
            IQ3_XXS => (256, 98),
            IQ1_S => (256, 50),
            IQ4_NL => (32, 18),
            IQ3_S => (256, 110),
            IQ2_S => (256, 82),
            IQ4_XS => (256, 136),
            I8 => (1, 1),
            I16 => (1, 2),
            I32 => (1, 4),
            I64 | F64 => (1, 8),
            IQ1_M => (256, 56),
            TQ1_0 => (256, 54),
            TQ2_0 => (256, 66),
            MXFP4 => (32, 17),
            I2_S | TL1 | TL2 => return None,
        })
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Bytes a tensor of this type and shape occupies in a GGUF file, or why it cannot exist.
///
/// All arithmetic is checked: a shape from an untrusted file can overflow u64.
pub fn tensor_nbytes(ty: TensorType, dims: &[u64]) -> Result<u64, FormatError> {
    let bad = |why: &'static str| FormatError::BadShape {
        ty,
        dims: dims.to_vec(),
        why,
    };
    let mut count: u64 = 1;
    for &d in dims {
        count = count
            .checked_mul(d)
            .ok_or_else(|| bad("element count overflows"))?;
    }
    let ne0 = dims.first().copied().unwrap_or(1);
    match ty.block_layout() {
        Some((block, size)) => {
            if !ne0.is_multiple_of(block) {
                return Err(bad("row length is not a multiple of the block size"));
            }
            (count / block)
                .checked_mul(size)
                .ok_or_else(|| bad("byte size overflows"))
        }
        None => {
            // bitnet.cpp computes these over ne0·ne1 (2-D weights); higher dims fold into ne1.
            let ne1 = count.checked_div(ne0).unwrap_or(0);
            match ty {
                TensorType::I2_S | TensorType::TL1 => {
                    if !count.is_multiple_of(4) {
                        return Err(bad("element count is not a multiple of 4"));
                    }
                    Ok(count / 4 + 32)
                }
                _ => {
                    // TL2: (ne0−256)·ne1/3·5/8 + 256·ne1/2·4/8 in C integer arithmetic
                    // (truncating toward zero, so a row shorter than 256 makes the first
                    // term negative), rounded up to 32, plus 32.
                    let (ne0, ne1) = (i128::from(ne0), i128::from(ne1));
                    let nb = (ne0 - 256) * ne1 / 3 * 5 / 8 + 256 * ne1 / 2 * 4 / 8;
                    if nb <= 0 {
                        return Err(bad("TL2 size formula gives no bytes for this shape"));
                    }
                    let total = (nb + 31) / 32 * 32 + 32;
                    u64::try_from(total).map_err(|_| bad("byte size overflows"))
                }
            }
        }
    }
}
