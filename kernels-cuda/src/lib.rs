//! CUDA C kernels for BitNet b1.58 inference, with typed launch descriptions.
//!
//! The kernels live in `src/*.cu` as plain CUDA C and are compiled in with
//! `include_str!`; the engine's CUDA glue compiles them with NVRTC at run time
//! (so one binary runs with or without a CUDA toolkit) and launches them by
//! [`KernelId`]. Each kernel mirrors, op for op, the WGSL shader of the same
//! name in `bitnet-shaders` (same formulas, same edge rules), so the CUDA and
//! wgpu backends compute the same thing.
//!
//! For each kernel this crate states the entry point, its parameter list (the
//! order the launch must push arguments in, with their C types) and a
//! pure-Rust launch-shape function that validates the problem shape first, so
//! a bad shape is one clear error on the host, never an out-of-bounds read on
//! the device. The tests check that every `.cu` source declares exactly the
//! entry point and parameters described here.
//!
//! Compiling: one NVRTC program per [`KernelSource`] (program name
//! [`KernelSource::name`], source [`KernelSource::cuda`]) with
//! `--gpu-architecture=compute_XY` for the device, 6.1 or newer (the int8
//! kernels use dp4a). The sources include no headers, spell the f16
//! conversion and dp4a as inline PTX and keep to C++03, so they need no
//! include path, no `--std` and no NVRTC newer than 11.8.
//!
//! No CUDA dependency: this crate is text and arithmetic only.
#![warn(missing_docs)]

mod launch;
mod sources;
#[cfg(test)]
mod tests;
mod types;

pub use launch::*;
pub use sources::*;
pub use types::*;
