//! Conversion failures.

use crate::formats::FormatError;
use crate::gguf::GgufError;

/// A model could not be converted; nothing is left under the target name.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// Reading the source or writing the target failed.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// One tensor cannot be converted.
    #[error("tensor '{name}': {source}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// What is wrong with it.
        source: FormatError,
    },
    /// The request or the source does not allow the conversion.
    #[error("{0}")]
    Invalid(String),
}
