//! Every kernel's source, entry point and parameter list.

use crate::types::{KernelId, KernelSource, p};
// Names the doc comments link to.
#[cfg(doc)]
#[allow(unused_imports)]
use crate::*;

/// RMS norm with weight, one block per row:
/// `y = x · (1 / sqrt(mean(x²) + eps)) · weight`.
///
/// Arguments: `x` (`rows × n` f32), `weight` (`n` f32), `y` (`rows × n`
/// f32), `n`, `rows`, `eps`. Launch with [`rms_norm_launch`].
pub const RMS_NORM: KernelSource = KernelSource {
    id: KernelId::RmsNorm,
    name: "rms_norm",
    cuda: include_str!("rms_norm.cu"),
    entry: "bitnet_rms_norm",
    params: &[
        p("const float*", "x"),
        p("const float*", "weight"),
        p("float*", "y"),
        p("unsigned int", "n"),
        p("unsigned int", "rows"),
        p("float", "eps"),
    ],
};

/// Per-token absmax int8 quantization of activation rows, one block per row,
/// as the CPU's `quantize_row_i8`: `s = 127 / max(1e-5, max|x|)`,
/// `q = clamp(round_ties_even(x·s), −128, 127)`, `sum = Σq` exact; NaN
/// inputs are skipped by the max and give code 0, an infinite input gives
/// scale 0 (all codes 0).
///
/// Arguments: `x` (`rows × cols` f32), `q` (`rows × cols/4` u32, 4 codes per
/// word, little-endian), `scale` (`rows` f32), `sum` (`rows` i32), `rows`,
/// `cols` (multiple of 4). Launch with [`quantize_act_launch`].
pub const QUANTIZE_ACT: KernelSource = KernelSource {
    id: KernelId::QuantizeAct,
    name: "quantize_act",
    cuda: include_str!("quantize_act.cu"),
    entry: "bitnet_quantize_act",
    params: &[
        p("const float*", "x"),
        p("unsigned int*", "q"),
        p("float*", "scale"),
        p("int*", "sum"),
        p("unsigned int", "rows"),
        p("unsigned int", "cols"),
    ],
};

/// Ternary I2_S matrix × batch of int8 activation rows → f32, one block per
/// (output row, token), `__dp4a` products.
///
/// Arguments: `weights` (this piece's row-major I2_S bytes without the scale
/// trailer, as u32 words, `cols / 16` per row), `act` (`n_tokens` rows of
/// codes from [`QUANTIZE_ACT`]), `act_scale` and `act_sum` (`n_tokens` each,
/// from the same), `out`, `rows`, `cols` (multiple of 128), `n_tokens`,
/// `out_stride`, `row_offset`, `w_scale` (the tensor's I2_S scale). Computes
/// `out[t·out_stride + row_offset + r] = f32(raw − act_sum[t]) / act_scale[t] · w_scale`
/// with `raw = Σ code·q` exact in i32 (code 3 read as weight 0), as the CPU
/// path. Launch with [`i2s_matmul_launch`].
pub const I2S_MATMUL: KernelSource = KernelSource {
    id: KernelId::I2sMatmul,
    name: "i2s_matmul",
    cuda: include_str!("i2s_matmul.cu"),
    entry: "bitnet_i2s_matmul",
    params: &[
        p("const unsigned int*", "weights"),
        p("const unsigned int*", "act"),
        p("const float*", "act_scale"),
        p("const int*", "act_sum"),
        p("float*", "out"),
        p("unsigned int", "rows"),
        p("unsigned int", "cols"),
        p("unsigned int", "n_tokens"),
        p("unsigned int", "out_stride"),
        p("unsigned int", "row_offset"),
        p("float", "w_scale"),
    ],
};

/// f16 matrix × batch of f32 activation rows → f32 (f32 sums), one block per
/// (output row, token).
///
/// Arguments: `weights` (row-major f16 bit patterns, `cols` per row, the
/// buffer 4-byte aligned as every CUDA allocation is), `x` (`n_tokens × cols`
/// f32), `out`, `rows`, `cols` (even), `n_tokens`, `out_stride`,
/// `row_offset`. Computes `out[t·out_stride + row_offset + r] = Σ_k
/// w[r][k]·x[t][k]`. Launch with [`f16_matmul_launch`].
pub const F16_MATMUL: KernelSource = KernelSource {
    id: KernelId::F16Matmul,
    name: "f16_matmul",
    cuda: include_str!("f16_matmul.cu"),
    entry: "bitnet_f16_matmul",
    params: &[
        p("const unsigned short*", "weights"),
        p("const float*", "x"),
        p("float*", "out"),
        p("unsigned int", "rows"),
        p("unsigned int", "cols"),
        p("unsigned int", "n_tokens"),
        p("unsigned int", "out_stride"),
        p("unsigned int", "row_offset"),
    ],
};

/// Int8 matrix (Q8_0 blocks: 32 codes, one f32 scale) × batch of int8
/// activation rows → f32, one block per (output row, token): the LM head at
/// about half the bytes of f16.
///
/// Arguments: `weights` (int8 codes, 4 per u32, `cols / 4` words per row),
/// `wscale` (`cols / 32` f32 per row), `act` and `act_scale` (from
/// [`QUANTIZE_ACT`]), `out`, `rows`, `cols` (multiple of 32), `n_tokens`,
/// `out_stride`, `row_offset`. Computes `out[t·out_stride + row_offset + r] =
/// Σ_b wscale[r][b]·Σ_{k∈b} w[r][k]·q[t][k] / act_scale[t]` with exact block
/// sums. Launch with [`q8_matmul_launch`].
pub const Q8_MATMUL: KernelSource = KernelSource {
    id: KernelId::Q8Matmul,
    name: "q8_matmul",
    cuda: include_str!("q8_matmul.cu"),
    entry: "bitnet_q8_matmul",
    params: &[
        p("const unsigned int*", "weights"),
        p("const float*", "wscale"),
        p("const unsigned int*", "act"),
        p("const float*", "act_scale"),
        p("float*", "out"),
        p("unsigned int", "rows"),
        p("unsigned int", "cols"),
        p("unsigned int", "n_tokens"),
        p("unsigned int", "out_stride"),
        p("unsigned int", "row_offset"),
    ],
};

/// NeoX rotary embedding in place: the first `n_rot` dimensions of every
/// head of every row rotate in pairs `(i, i + n_rot/2)` by
/// `positions[row] · theta_scale^i` (the power by repeated multiplication,
/// the angle reduced mod 2π before `sinf`/`cosf`, as the reference).
///
/// Arguments: `x` (`rows × n_heads·head_dim` f32, read-write), `positions`
/// (`rows` u32), `rows`, `n_heads`, `head_dim`, `n_rot` (even, at most
/// `head_dim`), `theta_scale` (`theta^(−2/n_rot)`, computed on the host as
/// the reference does). One thread per pair: launch with
/// [`rope_neox_launch`].
pub const ROPE_NEOX: KernelSource = KernelSource {
    id: KernelId::RopeNeox,
    name: "rope_neox",
    cuda: include_str!("rope_neox.cu"),
    entry: "bitnet_rope_neox",
    params: &[
        p("float*", "x"),
        p("const unsigned int*", "positions"),
        p("unsigned int", "rows"),
        p("unsigned int", "n_heads"),
        p("unsigned int", "head_dim"),
        p("unsigned int", "n_rot"),
        p("float", "theta_scale"),
    ],
};

/// Causal softmax attention of one sequence's chunk of `len` queries (batch
/// rows `row0..row0+len`, positions `pos..pos+len`) over its KV cache, with
/// grouped-query heads; one block per (head, query).
///
/// Arguments: `q` (batch rows × `n_head·head_dim` f32), `k_cache` and
/// `v_cache` (positions × `n_kv_head·head_dim` f32), `scores` (scratch of at
/// least `len · n_head · (pos + len)` f32), `out` (like `q`), `row0`, `len`,
/// `pos`, `n_head`, `n_kv_head` (divides `n_head`: the host checks),
/// `head_dim`, `scale` (usually `1 / sqrt(head_dim)`). Launch with
/// [`attention_launch`]`(n_head, len, pos + len)`.
pub const ATTENTION: KernelSource = KernelSource {
    id: KernelId::Attention,
    name: "attention",
    cuda: include_str!("attention.cu"),
    entry: "bitnet_attention",
    params: &[
        p("const float*", "q"),
        p("const float*", "k_cache"),
        p("const float*", "v_cache"),
        p("float*", "scores"),
        p("float*", "out"),
        p("unsigned int", "row0"),
        p("unsigned int", "len"),
        p("unsigned int", "pos"),
        p("unsigned int", "n_head"),
        p("unsigned int", "n_kv_head"),
        p("unsigned int", "head_dim"),
        p("float", "scale"),
    ],
};

/// In-place elementwise op on the first `len` values of `x`, chosen by `op`:
/// [`ELEMENTWISE_ADD`], [`ELEMENTWISE_SCALE`], [`ELEMENTWISE_RELU2_MUL`] or
/// [`ELEMENTWISE_SILU_MUL`] (any other code leaves `x` unchanged).
///
/// Arguments: `x` (f32, read-write), `y` (f32, `len` values; not read by the
/// scale op, which may pass any buffer), `len`, `op`, `s` (the factor of the
/// scale op, ignored by the others). Launch with [`elementwise_launch`].
pub const ELEMENTWISE: KernelSource = KernelSource {
    id: KernelId::Elementwise,
    name: "elementwise",
    cuda: include_str!("elementwise.cu"),
    entry: "bitnet_elementwise",
    params: &[
        p("float*", "x"),
        p("const float*", "y"),
        p("unsigned int", "len"),
        p("unsigned int", "op"),
        p("float", "s"),
    ],
};

/// [`ELEMENTWISE`] op: `x += y`.
pub const ELEMENTWISE_ADD: u32 = 0;
/// [`ELEMENTWISE`] op: `x *= s`.
pub const ELEMENTWISE_SCALE: u32 = 1;
/// [`ELEMENTWISE`] op: `x = max(x, 0)² · y` (squared-ReLU gate times up).
pub const ELEMENTWISE_RELU2_MUL: u32 = 2;
/// [`ELEMENTWISE`] op: `x = x / (1 + e^−x) · y` (SiLU gate times up).
pub const ELEMENTWISE_SILU_MUL: u32 = 3;

/// The index of each row's largest value, one block per row, by the host
/// sampler's greedy rule: NaN and −∞ never win, +∞ counts as the largest
/// finite value, ties go to the lowest index, `u32::MAX` when nothing
/// qualifies.
///
/// Arguments: `x` (`rows × cols` f32), `out` (`rows` u32), `rows`, `cols`.
/// Launch with [`argmax_launch`].
pub const ARGMAX: KernelSource = KernelSource {
    id: KernelId::Argmax,
    name: "argmax",
    cuda: include_str!("argmax.cu"),
    entry: "bitnet_argmax",
    params: &[
        p("const float*", "x"),
        p("unsigned int*", "out"),
        p("unsigned int", "rows"),
        p("unsigned int", "cols"),
    ],
};
