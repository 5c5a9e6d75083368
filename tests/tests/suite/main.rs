//! The cross-crate tests, one module per subject, linked into one test binary: each
//! integration-test binary is another link of the engine and its dependencies, which is most
//! of a CI build on two cores.

mod bad_input;
mod chat_templates;
mod cpu_backend;
mod cuda_backend;
mod format_agreement;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gpu_conformance;
mod hf_convert;
mod llamacpp_parity;
mod numpy_parity;
mod perplexity;
mod python_gguf_readback;
mod requantize;
mod session_reuse;
mod tokenizer_parity;
mod tokenizer_vocabs;
mod wgpu_backend;
