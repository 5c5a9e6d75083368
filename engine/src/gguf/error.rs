//! What can be wrong with a GGUF file.

use crate::formats::FormatError;

/// A GGUF file could not be read or written. Every variant says where.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The OS refused to open or map the file.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: magic is {0:02x?}, expected \"GGUF\"")]
    BadMagic([u8; 4]),
    /// A version this reader does not speak.
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    BadVersion(u32),
    /// The file ends before a value that the header promised.
    #[error("truncated file: {what} needs {need} bytes at offset {offset}, file is {len} bytes")]
    Truncated {
        /// What was being read (a key, a tensor, a header field).
        what: String,
        /// Byte offset of the read.
        offset: u64,
        /// Bytes needed.
        need: u64,
        /// File length.
        len: u64,
    },
    /// A value is structurally invalid (bad type tag, absurd count, bad alignment...).
    #[error("{what} at offset {offset}: {why}")]
    Invalid {
        /// What was being read.
        what: String,
        /// Byte offset.
        offset: u64,
        /// The rule it breaks.
        why: String,
    },
    /// A tensor's type or shape is unusable.
    #[error("tensor '{name}' (info at offset {offset}): {source}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// Offset of its tensor info.
        offset: u64,
        /// The format rule it breaks.
        source: FormatError,
    },
    /// A tensor's data range lies outside the file or overlaps its neighbour.
    #[error("tensor '{name}': data [{start}, {end}) {why} (file is {len} bytes)")]
    TensorRange {
        /// Tensor name.
        name: String,
        /// Absolute start offset.
        start: u64,
        /// Absolute end offset.
        end: u64,
        /// File length.
        len: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A key that was asked for has a different type.
    #[error("metadata key '{key}' has type {got}, expected {expected}")]
    KeyType {
        /// The key.
        key: String,
        /// Its type in the file.
        got: String,
        /// The type asked for.
        expected: &'static str,
    },
    /// The writer was given something it cannot encode.
    #[error("cannot write GGUF: {0}")]
    Write(String),
}
