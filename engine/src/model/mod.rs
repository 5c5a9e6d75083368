//! The BitNet model: hyper-parameters from metadata, weights on a backend, and the graph.

mod config;
mod error;
mod graph;
mod weights;

pub use config::{Architecture, FfnActivation, ModelConfig};
pub use error::ModelError;
pub use graph::{KvCache, LogitsWanted, Model, SeqBatch};
pub use weights::{LayerWeights, Linear, ModelWeights};
