//! WGSL compute shaders for BitNet b1.58 inference, with their binding layouts
//! described in Rust.
//!
//! The shaders live in `src/*.wgsl` as plain files (syntax highlighting, naga's
//! CLI and diff review all work on them) and are compiled in with
//! `include_str!`. Each one is described by a [`ShaderSource`]: entry point,
//! workgroup size and every binding with its kind, which is what the engine's
//! wgpu glue needs to build bind-group layouts without reading WGSL text. The
//! tests parse and validate every shader with naga and check that this
//! description equals what naga finds, so the two cannot drift apart; the
//! uniform parameter structs are checked field by field the same way.
//!
//! This crate has no wgpu dependency: it only knows sources and layouts.
#![warn(missing_docs)]

mod dispatch;
mod params;
mod sources;
#[cfg(test)]
mod tests;
mod types;

pub use dispatch::{MAX_WORKGROUPS_PER_DIM, workgroups_for_rows, workgroups_for_threads};
pub use params::*;
pub use sources::*;
pub use types::*;
