//! Model loading and evaluation failures.

use crate::backend::BackendError;
use crate::gguf::GgufError;

/// A model cannot be loaded or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file itself is unreadable.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The architecture is not one this engine implements.
    #[error("unsupported architecture '{0}' (supported: bitnet-b1.58, bitnet-25, bitnet)")]
    UnsupportedArch(String),
    /// A required hyper-parameter is absent.
    #[error("missing hyper-parameter '{0}'")]
    MissingKey(String),
    /// A hyper-parameter has the wrong type or an impossible value.
    #[error("hyper-parameter '{key}' {why}")]
    BadKey {
        /// The metadata key.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// A required tensor is absent.
    #[error("missing tensor '{0}'")]
    MissingTensor(String),
    /// A tensor's shape disagrees with the hyper-parameters.
    #[error("tensor '{name}' has shape {got:?}, expected {expected:?}")]
    TensorShape {
        /// Tensor name.
        name: String,
        /// Shape in the file (ggml order).
        got: Vec<u64>,
        /// Shape the hyper-parameters imply.
        expected: Vec<u64>,
    },
    /// A tensor has a type this role cannot use.
    #[error("tensor '{name}': {why}")]
    TensorType {
        /// Tensor name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A request does not fit the model or its session.
    #[error("{0}")]
    Input(String),
}
