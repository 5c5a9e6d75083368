//! Rewriting models: between ternary types ([`requantize`]), and from Hugging Face
//! checkpoints.

mod atomic;
mod error;
mod hf;
mod requantize;
#[cfg(test)]
mod requantize_tests;

pub use atomic::write_atomically;
pub use error::ConvertError;
pub use hf::{HfConvertOptions, HfConvertReport, convert_hf, tokenizer_metadata};
pub use requantize::{RequantizeOptions, RequantizeReport, requantize};
