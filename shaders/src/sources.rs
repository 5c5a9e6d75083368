//! Every shader's source and binding layout.

// Names the doc comments link to.
use crate::types::{Binding, BindingKind, ShaderId, ShaderSource};
#[cfg(doc)]
#[allow(unused_imports)]
use crate::*;

const fn storage(binding: u32, name: &'static str, read_only: bool) -> Binding {
    Binding {
        group: 0,
        binding,
        name,
        kind: BindingKind::Storage { read_only },
    }
}

const fn uniform(binding: u32, name: &'static str) -> Binding {
    Binding {
        group: 0,
        binding,
        name,
        kind: BindingKind::Uniform,
    }
}

/// RMS norm with weight, one workgroup per row:
/// `y = x / sqrt(mean(x²) + eps) · weight`.
///
/// Bindings: `x` (`rows × n` f32), `weight` (`n` f32), `y` (`rows × n` f32),
/// `params` ([`RmsNormParams`]). Dispatch with [`workgroups_for_rows`].
pub const RMS_NORM: ShaderSource = ShaderSource {
    id: ShaderId::RmsNorm,
    name: "rms_norm",
    wgsl: include_str!("rms_norm.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "x", true),
        storage(1, "weight", true),
        storage(2, "y", false),
        uniform(3, "params"),
    ],
    workgroup_size: [256, 1, 1],
};

/// Per-token absmax int8 quantization of activation rows, one workgroup per
/// row, as the CPU's `quantize_row_i8`: `s = 127 / max(1e-5, max|x|)`,
/// `q = clamp(round_ties_even(x·s), −128, 127)`, `sum = Σq`; NaN inputs are
/// skipped by the max and give code 0.
///
/// Bindings: `x` (`rows × cols` f32), `q` (`rows × cols/4` u32, 4 codes per
/// word, little-endian), `scale` (`rows` f32), `sum` (`rows` i32), `params`
/// ([`QuantizeActParams`]). `cols % 4 == 0`. Dispatch with
/// [`workgroups_for_rows`].
pub const QUANTIZE_ACT: ShaderSource = ShaderSource {
    id: ShaderId::QuantizeAct,
    name: "quantize_act",
    wgsl: include_str!("quantize_act.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "x", true),
        storage(1, "q", false),
        storage(2, "scale", false),
        storage(3, "sum", false),
        uniform(4, "params"),
    ],
    workgroup_size: [256, 1, 1],
};

/// Ternary I2_S matrix × batch of int8 activation rows → f32, one workgroup
/// per (output row, token).
///
/// Bindings: `weights` (this piece's row-major I2_S bytes without the scale
/// trailer, as u32 words, `cols / 16` per row; `cols % 128 == 0`), `act`
/// (`n_tokens` rows of codes from [`QUANTIZE_ACT`]), `act_scale` and
/// `act_sum` (`n_tokens` each, from the same), `out`, `params`
/// ([`I2sMatmulParams`]). Computes
/// `out[t·out_stride + row_offset + r] = f32(raw − act_sum[t]) / act_scale[t] · w_scale`
/// with `raw = Σ code·q` exact in i32, as the CPU path (code 3 read as
/// weight 0). Dispatch `workgroups_for_rows(rows)` with z = `n_tokens`.
pub const I2S_MATMUL: ShaderSource = ShaderSource {
    id: ShaderId::I2sMatmul,
    name: "i2s_matmul",
    wgsl: include_str!("i2s_matmul.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "weights", true),
        storage(1, "act", true),
        storage(2, "act_scale", true),
        storage(3, "act_sum", true),
        storage(4, "out", false),
        uniform(5, "params"),
    ],
    workgroup_size: [64, 1, 1],
};

/// f16 matrix × batch of f32 activation rows → f32 (f32 sums), one workgroup
/// per (output row, token).
///
/// Bindings: `weights` (row-major f16, two per u32 word with the even column
/// in the low half, `cols / 2` words per row; `cols` even), `x` (`n_tokens ×
/// cols` f32), `out`, `params` ([`F16MatmulParams`]). Computes
/// `out[t·out_stride + row_offset + r] = Σ_k w[r][k]·x[t][k]`. Dispatch
/// `workgroups_for_rows(rows)` with z = `n_tokens`.
pub const F16_MATMUL: ShaderSource = ShaderSource {
    id: ShaderId::F16Matmul,
    name: "f16_matmul",
    wgsl: include_str!("f16_matmul.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "weights", true),
        storage(1, "x", true),
        storage(2, "out", false),
        uniform(3, "params"),
    ],
    workgroup_size: [64, 1, 1],
};

/// Int8 matrix (Q8_0 blocks: 32 codes, one f32 scale) × batch of int8
/// activation rows → f32, one workgroup per (output row, token): the LM head
/// at about half the bytes of f16.
///
/// Bindings: `weights` (int8 codes, 4 per u32, `cols / 4` words per row;
/// `cols % 32 == 0`), `wscale` (`cols / 32` f32 per row), `act` and
/// `act_scale` (from [`QUANTIZE_ACT`]), `out`, `params` ([`Q8MatmulParams`]).
/// Computes `out[t·out_stride + row_offset + r] = Σ_b wscale[r][b]·Σ_{k∈b}
/// w[r][k]·q[t][k] / act_scale[t]` with exact block sums. Dispatch
/// `workgroups_for_rows(rows)` with z = `n_tokens`.
pub const Q8_MATMUL: ShaderSource = ShaderSource {
    id: ShaderId::Q8Matmul,
    name: "q8_matmul",
    wgsl: include_str!("q8_matmul.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "weights", true),
        storage(1, "wscale", true),
        storage(2, "act", true),
        storage(3, "act_scale", true),
        storage(4, "out", false),
        uniform(5, "params"),
    ],
    workgroup_size: [64, 1, 1],
};

/// The index of each row's largest value (the host sampler's greedy rule:
/// NaN and −∞ never win, +∞ counts as the largest finite value, ties go to
/// the lowest index, `u32::MAX` when nothing qualifies), one workgroup per row.
///
/// Bindings: `x` (`rows × cols` f32), `out` (`rows` u32), `params`
/// ([`ArgmaxParams`]). Dispatch [`workgroups_for_rows`].
pub const ARGMAX: ShaderSource = ShaderSource {
    id: ShaderId::Argmax,
    name: "argmax",
    wgsl: include_str!("argmax.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "x", true),
        storage(1, "out", false),
        uniform(2, "params"),
    ],
    workgroup_size: [256, 1, 1],
};

/// NeoX rotary embedding in place: the first `n_rot` dimensions of every head
/// of every row rotate in pairs `(i, i + n_rot/2)` by
/// `positions[row] · theta_scale^i` (the power by repeated multiplication,
/// as the reference).
///
/// Bindings: `x` (`rows × n_heads·head_dim` f32, read-write), `positions`
/// (`rows` u32), `params` ([`RopeNeoxParams`]). One invocation per pair:
/// dispatch `workgroups_for_threads(rows · n_heads · n_rot/2, 64)`.
pub const ROPE_NEOX: ShaderSource = ShaderSource {
    id: ShaderId::RopeNeox,
    name: "rope_neox",
    wgsl: include_str!("rope_neox.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "x", false),
        storage(1, "positions", true),
        uniform(2, "params"),
    ],
    workgroup_size: [64, 1, 1],
};

/// Causal softmax attention of one sequence's chunk of `len` queries (batch
/// rows `row0..row0+len`, positions `pos..pos+len`) over its KV cache, with
/// grouped-query heads; one workgroup per (head, query).
///
/// Bindings: `q` (batch rows × `n_head·head_dim` f32), `k_cache` and
/// `v_cache` (positions × `n_kv_head·head_dim` f32), `scores` (scratch of at
/// least `len · n_head · (pos + len)` f32), `out` (like `q`), `params`
/// ([`AttentionParams`]). Dispatch `[n_head, len, 1]`.
pub const ATTENTION: ShaderSource = ShaderSource {
    id: ShaderId::Attention,
    name: "attention",
    wgsl: include_str!("attention.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "q", true),
        storage(1, "k_cache", true),
        storage(2, "v_cache", true),
        storage(3, "scores", false),
        storage(4, "out", false),
        uniform(5, "params"),
    ],
    workgroup_size: [64, 1, 1],
};

/// In-place elementwise op on the first `len` values of `x`, chosen by
/// [`ElementwiseParams::op`]: [`ELEMENTWISE_ADD`], [`ELEMENTWISE_SCALE`],
/// [`ELEMENTWISE_RELU2_MUL`] or [`ELEMENTWISE_SILU_MUL`].
///
/// Bindings: `x` (f32, read-write), `y` (f32; bound but unread by the scale
/// op), `params` ([`ElementwiseParams`]). Dispatch
/// `workgroups_for_threads(len, 256)`.
pub const ELEMENTWISE: ShaderSource = ShaderSource {
    id: ShaderId::Elementwise,
    name: "elementwise",
    wgsl: include_str!("elementwise.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "x", false),
        storage(1, "y", true),
        uniform(2, "params"),
    ],
    workgroup_size: [256, 1, 1],
};

/// [`ELEMENTWISE`] op: `x += y`.
pub const ELEMENTWISE_ADD: u32 = 0;
/// [`ELEMENTWISE`] op: `x *= s`.
pub const ELEMENTWISE_SCALE: u32 = 1;
/// [`ELEMENTWISE`] op: `x = max(x, 0)² · y` (squared-ReLU gate times up).
pub const ELEMENTWISE_RELU2_MUL: u32 = 2;
/// [`ELEMENTWISE`] op: `x = x / (1 + e^−x) · y` (SiLU gate times up).
pub const ELEMENTWISE_SILU_MUL: u32 = 3;
