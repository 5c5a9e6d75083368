//! Rewriting models: between ternary types ([`requantize`]), and from Hugging Face
//! checkpoints.

mod atomic;
mod error;
mod requantize;
#[cfg(test)]
mod requantize_tests;

pub use atomic::write_atomically;
pub use error::ConvertError;
pub use requantize::{RequantizeOptions, RequantizeReport, requantize};
