//! The uniform parameter struct of each shader, byte for byte as the WGSL `Params`.

// Names the doc comments link to.
#[cfg(doc)]
#[allow(unused_imports)]
use crate::*;
/// The little-endian bytes of a Params struct's 4-byte fields, zero-padded to
/// a multiple of 16 bytes: uniform buffers are bound whole, and a 16-byte
/// multiple satisfies every backend's uniform size rules.
fn uniform_bytes(fields: &[[u8; 4]]) -> Vec<u8> {
    let mut b = fields.concat();
    b.resize(b.len().div_ceil(16) * 16, 0);
    b
}

/// Uniform parameters of [`RMS_NORM`]; the field order and offsets equal the
/// WGSL `Params` struct (checked by the tests).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsNormParams {
    /// Row length.
    pub n: u32,
    /// Number of rows.
    pub rows: u32,
    /// Epsilon added to the mean square (the model's `rms_norm_eps`).
    pub eps: f32,
}

impl RmsNormParams {
    /// The uniform buffer contents (little-endian, zero-padded to 16 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        uniform_bytes(&[
            self.n.to_le_bytes(),
            self.rows.to_le_bytes(),
            self.eps.to_le_bytes(),
        ])
    }
}

/// Uniform parameters of [`QUANTIZE_ACT`]; the field order and offsets equal
/// the WGSL `Params` struct (checked by the tests).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantizeActParams {
    /// Number of rows (tokens).
    pub rows: u32,
    /// Row length (multiple of 4).
    pub cols: u32,
}

impl QuantizeActParams {
    /// The uniform buffer contents (little-endian, zero-padded to 16 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        uniform_bytes(&[self.rows.to_le_bytes(), self.cols.to_le_bytes()])
    }
}

/// Uniform parameters of [`I2S_MATMUL`]; the field order and offsets equal
/// the WGSL `Params` struct (checked by the tests).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct I2sMatmulParams {
    /// Weight rows in this dispatch (rows of the bound `weights`).
    pub rows: u32,
    /// Input columns (multiple of 128).
    pub cols: u32,
    /// Activation rows (tokens); the dispatch's z count.
    pub n_tokens: u32,
    /// Distance in f32 between one token's outputs and the next's.
    pub out_stride: u32,
    /// Where row 0 of this dispatch lands within a token's outputs.
    pub row_offset: u32,
    /// The tensor's I2_S weight scale.
    pub w_scale: f32,
}

impl I2sMatmulParams {
    /// The uniform buffer contents (little-endian, zero-padded to 16 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        uniform_bytes(&[
            self.rows.to_le_bytes(),
            self.cols.to_le_bytes(),
            self.n_tokens.to_le_bytes(),
            self.out_stride.to_le_bytes(),
            self.row_offset.to_le_bytes(),
            self.w_scale.to_le_bytes(),
        ])
    }
}

/// Uniform parameters of [`F16_MATMUL`]; the field order and offsets equal
/// the WGSL `Params` struct (checked by the tests).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct F16MatmulParams {
    /// Weight rows in this dispatch (rows of the bound `weights`).
    pub rows: u32,
    /// Input columns (even).
    pub cols: u32,
    /// Activation rows (tokens); the dispatch's z count.
    pub n_tokens: u32,
    /// Distance in f32 between one token's outputs and the next's.
    pub out_stride: u32,
    /// Where row 0 of this dispatch lands within a token's outputs.
    pub row_offset: u32,
}

impl F16MatmulParams {
    /// The uniform buffer contents (little-endian, zero-padded to 16 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        uniform_bytes(&[
            self.rows.to_le_bytes(),
            self.cols.to_le_bytes(),
            self.n_tokens.to_le_bytes(),
            self.out_stride.to_le_bytes(),
            self.row_offset.to_le_bytes(),
        ])
    }
}

/// Uniform parameters of [`Q8_MATMUL`]: the same fields, with the same
/// meanings, as [`F16MatmulParams`] (`cols` a multiple of 32 here).
pub type Q8MatmulParams = F16MatmulParams;

/// Uniform parameters of [`ARGMAX`]; the field order and offsets equal the
/// WGSL `Params` struct (checked by the tests).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArgmaxParams {
    /// Rows.
    pub rows: u32,
    /// Values per row.
    pub cols: u32,
}

impl ArgmaxParams {
    /// The uniform buffer contents (little-endian, zero-padded to 16 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        uniform_bytes(&[self.rows.to_le_bytes(), self.cols.to_le_bytes()])
    }
}

/// Uniform parameters of [`ROPE_NEOX`]; the field order and offsets equal the
/// WGSL `Params` struct (checked by the tests).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeNeoxParams {
    /// Number of rows (tokens), one position each.
    pub rows: u32,
    /// Heads per row.
    pub n_heads: u32,
    /// Values per head.
    pub head_dim: u32,
    /// Rotated dimensions per head (even, at most `head_dim`).
    pub n_rot: u32,
    /// `theta^(−2 / n_rot)`, computed on the host as the reference does.
    pub theta_scale: f32,
}

impl RopeNeoxParams {
    /// The uniform buffer contents (little-endian, zero-padded to 16 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        uniform_bytes(&[
            self.rows.to_le_bytes(),
            self.n_heads.to_le_bytes(),
            self.head_dim.to_le_bytes(),
            self.n_rot.to_le_bytes(),
            self.theta_scale.to_le_bytes(),
        ])
    }
}

/// Uniform parameters of [`ATTENTION`]; the field order and offsets equal the
/// WGSL `Params` struct (checked by the tests).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionParams {
    /// Batch row of the chunk's first query in `q` and `out`.
    pub row0: u32,
    /// Queries in the chunk; the dispatch's y count.
    pub len: u32,
    /// Absolute position of the chunk's first query (cache rows before it
    /// are the sequence's history).
    pub pos: u32,
    /// Query heads; the dispatch's x count.
    pub n_head: u32,
    /// Key/value heads (divides `n_head`).
    pub n_kv_head: u32,
    /// Values per head.
    pub head_dim: u32,
    /// Score scale, usually `1 / sqrt(head_dim)`.
    pub scale: f32,
}

impl AttentionParams {
    /// The uniform buffer contents (little-endian, zero-padded to 16 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        uniform_bytes(&[
            self.row0.to_le_bytes(),
            self.len.to_le_bytes(),
            self.pos.to_le_bytes(),
            self.n_head.to_le_bytes(),
            self.n_kv_head.to_le_bytes(),
            self.head_dim.to_le_bytes(),
            self.scale.to_le_bytes(),
        ])
    }
}

/// Uniform parameters of [`ELEMENTWISE`]; the field order and offsets equal
/// the WGSL `Params` struct (checked by the tests).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElementwiseParams {
    /// Number of values to update.
    pub len: u32,
    /// Which op: one of the `ELEMENTWISE_*` constants.
    pub op: u32,
    /// The factor of [`ELEMENTWISE_SCALE`] (ignored by the other ops).
    pub s: f32,
}

impl ElementwiseParams {
    /// The uniform buffer contents (little-endian, zero-padded to 16 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        uniform_bytes(&[
            self.len.to_le_bytes(),
            self.op.to_le_bytes(),
            self.s.to_le_bytes(),
        ])
    }
}
