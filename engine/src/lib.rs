//! bitnet-engine: runs BitNet b1.58 (ternary) language models.
//!
//! Data flows file → [`gguf`] (memory-mapped, validated) → [`formats`] (byte layouts of every
//! tensor type) → [`model`] (hyper-parameters, weights uploaded to a [`backend::Backend`], the
//! graph written once against that trait) → [`session`] (KV cache, batched steps) →
//! [`sampling`] → [`tokenizer`]; [`chat`] turns conversations into prompts.
#![warn(missing_docs)]

pub mod backend;
pub mod cache;
pub mod chat;
pub mod convert;
pub mod device;
pub mod formats;
pub mod gguf;
pub mod model;
pub mod perplexity;
pub mod sampling;
pub mod session;
pub mod synth;
pub mod tokenizer;
