//! GGUF v2/v3: a validating reader over a memory map and a writer.
//!
//! The reader trusts nothing in the file: every count, length, offset and size is checked
//! against the bytes that exist before it is used, and errors carry the key or tensor name
//! and the byte offset (spec: ggml docs/gguf.md).

mod error;
mod reader;
mod value;
mod writer;

pub use error::GgufError;
pub use reader::{GgufFile, TensorData, TensorInfo};
pub use value::{GgufValue, GgufValueType};
pub use writer::GgufWriter;

/// `GGUF` in little-endian byte order at the start of every file.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of the tensor data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

#[cfg(test)]
mod tests;
