//! Tensor types and their byte layouts.
//!
//! Every type knows its own size rule. The bitnet.cpp types (I2_S, TL1, TL2) declare a
//! block size of 1 in their fork's type table and override the size in `nbytes`, so sizes
//! here come from each layout's own rule, never from a generic table
//! (specs/formats-and-models.md §1.1).

mod dequant;
mod encode;
pub mod i2s;
pub mod q4k;
pub mod q6k;
pub mod q8_0;
mod tensor_type;
pub mod ternary;
pub mod tl1;
pub mod tl2;
pub mod tl_lut;
#[cfg(test)]
mod tl_tests;
pub mod tl_tiles;
pub mod tq1_0;
pub mod tq2_0;

pub use dequant::dequantize_row;
pub use encode::encode_floats;
pub use tensor_type::{TensorType, tensor_nbytes};
pub use ternary::{TernaryRowDecoder, decode_ternary_row};
pub use tl_tiles::{TL_CONFIG_KEYS, TlConfig, TlTiles, resolve_tiles};

/// A tensor's bytes disagree with its type or shape.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FormatError {
    /// The numeric type id is not one this engine knows.
    #[error("unknown tensor type id {0}")]
    UnknownType(u32),
    /// The shape cannot be stored in this type (e.g. a row length that is not a multiple of
    /// the block size).
    #[error("shape {dims:?} cannot be stored as {ty}: {why}")]
    BadShape {
        /// The tensor type.
        ty: TensorType,
        /// The offending dimensions, ggml order (ne0 first).
        dims: Vec<u64>,
        /// What rule the shape breaks.
        why: &'static str,
    },
    /// The byte slice handed to a decoder has the wrong length.
    #[error("{ty} data is {got} bytes, expected {expected}")]
    BadLength {
        /// The tensor type.
        ty: TensorType,
        /// Bytes given.
        got: usize,
        /// Bytes the layout requires.
        expected: usize,
    },
    /// The type exists but this engine cannot convert it to floats.
    #[error("{0} cannot be dequantized by this engine")]
    Unsupported(TensorType),
    /// A value that cannot be represented (e.g. a non-ternary weight handed to a ternary packer).
    #[error("{0}")]
    BadValue(String),
}
