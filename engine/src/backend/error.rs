//! Backend failures.

use crate::formats::FormatError;

/// An op or upload failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A weight's bytes or shape are unusable.
    #[error("weight '{name}': {source}")]
    Weight {
        /// Tensor name.
        name: String,
        /// The layout rule it breaks.
        source: FormatError,
    },
    /// An op was called with sizes that do not fit its buffers.
    #[error("{op}: {why}")]
    Shape {
        /// The op.
        op: &'static str,
        /// What does not fit.
        why: String,
    },
    /// The device ran out of memory or failed.
    #[error("device error: {0}")]
    Device(String),
}
