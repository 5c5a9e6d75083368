//! How a shader is described to the host: its id, bindings and source.

// Names the doc comments link to.
use crate::sources::*;
#[cfg(doc)]
#[allow(unused_imports)]
use crate::*;

/// Which buffer kind a binding is; maps 1:1 onto wgpu's `BufferBindingType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    /// `var<storage, read>` (`read_only: true`) or `var<storage, read_write>`.
    Storage {
        /// Whether the shader only reads the buffer.
        read_only: bool,
    },
    /// `var<uniform>`: the small parameter struct of a dispatch.
    Uniform,
}

/// One `@group(g) @binding(b)` resource of a shader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// `@group` index.
    pub group: u32,
    /// `@binding` index.
    pub binding: u32,
    /// The WGSL variable name (documentation and error messages).
    pub name: &'static str,
    /// Buffer kind and access.
    pub kind: BindingKind,
}

/// Typed id of every shader in this crate, so the engine names shaders by
/// value, never by string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShaderId {
    /// [`RMS_NORM`].
    RmsNorm,
    /// [`QUANTIZE_ACT`].
    QuantizeAct,
    /// [`I2S_MATMUL`].
    I2sMatmul,
    /// [`F16_MATMUL`].
    F16Matmul,
    /// [`ROPE_NEOX`].
    RopeNeox,
    /// [`ATTENTION`].
    Attention,
    /// [`ELEMENTWISE`].
    Elementwise,
    /// [`Q8_MATMUL`].
    Q8Matmul,
    /// [`ARGMAX`].
    Argmax,
}

impl ShaderId {
    /// Every shader, for pipeline warm-up and the validation tests.
    pub const ALL: [ShaderId; 9] = [
        ShaderId::RmsNorm,
        ShaderId::QuantizeAct,
        ShaderId::I2sMatmul,
        ShaderId::F16Matmul,
        ShaderId::RopeNeox,
        ShaderId::Attention,
        ShaderId::Elementwise,
        ShaderId::Q8Matmul,
        ShaderId::Argmax,
    ];

    /// The source and layout of this shader.
    pub fn source(self) -> &'static ShaderSource {
        match self {
            ShaderId::RmsNorm => &RMS_NORM,
            ShaderId::QuantizeAct => &QUANTIZE_ACT,
            ShaderId::I2sMatmul => &I2S_MATMUL,
            ShaderId::F16Matmul => &F16_MATMUL,
            ShaderId::RopeNeox => &ROPE_NEOX,
            ShaderId::Attention => &ATTENTION,
            ShaderId::Elementwise => &ELEMENTWISE,
            ShaderId::Q8Matmul => &Q8_MATMUL,
            ShaderId::Argmax => &ARGMAX,
        }
    }
}

/// A shader's WGSL text and the layout facts needed to create its pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShaderSource {
    /// Typed id.
    pub id: ShaderId,
    /// Short name, used as the wgpu label.
    pub name: &'static str,
    /// The WGSL source.
    pub wgsl: &'static str,
    /// The `@compute` entry point.
    pub entry_point: &'static str,
    /// All resources, in (group, binding) order.
    pub bindings: &'static [Binding],
    /// `@workgroup_size` of the entry point.
    pub workgroup_size: [u32; 3],
}
