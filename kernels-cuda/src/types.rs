//! How a kernel is described to the host: its id, source, entry and parameters.

// Names the doc comments link to.
use crate::sources::*;

/// Typed id of every kernel in this crate, so the engine names kernels by
/// value, never by string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelId {
    /// [`RMS_NORM`].
    RmsNorm,
    /// [`QUANTIZE_ACT`].
    QuantizeAct,
    /// [`I2S_MATMUL`].
    I2sMatmul,
    /// [`F16_MATMUL`].
    F16Matmul,
    /// [`Q8_MATMUL`].
    Q8Matmul,
    /// [`ROPE_NEOX`].
    RopeNeox,
    /// [`ATTENTION`].
    Attention,
    /// [`ELEMENTWISE`].
    Elementwise,
    /// [`ARGMAX`].
    Argmax,
}

impl KernelId {
    /// Every kernel, for module compilation and the source tests.
    pub const ALL: [KernelId; 9] = [
        KernelId::RmsNorm,
        KernelId::QuantizeAct,
        KernelId::I2sMatmul,
        KernelId::F16Matmul,
        KernelId::Q8Matmul,
        KernelId::RopeNeox,
        KernelId::Attention,
        KernelId::Elementwise,
        KernelId::Argmax,
    ];

    /// The source and signature of this kernel.
    pub fn source(self) -> &'static KernelSource {
        match self {
            KernelId::RmsNorm => &RMS_NORM,
            KernelId::QuantizeAct => &QUANTIZE_ACT,
            KernelId::I2sMatmul => &I2S_MATMUL,
            KernelId::F16Matmul => &F16_MATMUL,
            KernelId::Q8Matmul => &Q8_MATMUL,
            KernelId::RopeNeox => &ROPE_NEOX,
            KernelId::Attention => &ATTENTION,
            KernelId::Elementwise => &ELEMENTWISE,
            KernelId::Argmax => &ARGMAX,
        }
    }
}

/// One kernel parameter as declared in CUDA C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelParam {
    /// Parameter name in the source.
    pub name: &'static str,
    /// Its C type, spelled as in the source (qualifiers included):
    /// `unsigned int` is a `u32` argument, `float` an `f32`, `int` an `i32`,
    /// and a pointer a device buffer of the pointee type (`unsigned short`
    /// holds f16 bit patterns).
    pub c_type: &'static str,
}

/// A kernel's CUDA C source and entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSource {
    /// Typed id.
    pub id: KernelId,
    /// Module name (the `.cu` file stem); the NVRTC program name.
    pub name: &'static str,
    /// The CUDA C source (self-contained: it includes no headers).
    pub cuda: &'static str,
    /// The `extern "C" __global__` function to load from the module:
    /// `bitnet_` followed by [`name`](Self::name).
    pub entry: &'static str,
    /// Parameters in launch-argument order.
    pub params: &'static [KernelParam],
}

/// Shorthand for the parameter tables of `sources.rs`.
pub(crate) const fn p(c_type: &'static str, name: &'static str) -> KernelParam {
    KernelParam { name, c_type }
}
