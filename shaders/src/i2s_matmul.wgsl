// Ternary (I2_S) matrix x batch of int8 activation rows -> f32, one workgroup
// per (output row, token).
//
// weights: the I2_S bytes of this piece's rows read as little-endian u32
//   words, cols/16 words per row. A 128-weight block is 32 bytes = 8 words;
//   byte j of a block holds weight j (bits 7:6), 32+j (5:4), 64+j (3:2),
//   96+j (1:0); codes 0/1/2 = -1/0/+1, code 3 is read as 1 (weight 0, as the
//   dequantizer).
// act: n_tokens rows of int8 codes from quantize_act, 4 per u32,
//   little-endian (q[4i] in bits 7:0 of word i), cols/4 words per row.
// out[token * out_stride + row_offset + row] =
//   f32(raw - act_sum[token]) / act_scale[token] * w_scale
// with raw = sum_k code_k * q_k, the exact I2_S rescale of the CPU path. The
// stride and offset let a matrix split into pieces (or fused Q/K/V rows) write
// straight into its columns of a wider output.
//
// Word w of a block covers bytes 4w..4w+3, i.e. weights 4w..4w+3 of each of
// the four 32-weight groups; each group's 4 codes sit in the same bit pair of
// the 4 bytes, so one shift + mask gives 4 packed codes that line up with one
// packed word of activations, and dot4I8Packed does the 4 products at once.

struct Params {
    rows: u32,
    cols: u32,
    n_tokens: u32,
    out_stride: u32,
    row_offset: u32,
    w_scale: f32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> act: array<u32>;
@group(0) @binding(2) var<storage, read> act_scale: array<f32>;
@group(0) @binding(3) var<storage, read> act_sum: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

const WG: u32 = 64u;
var<workgroup> partial: array<i32, WG>;

// Maps code 3 to 1 in all four bytes at once: only 3 has both bits set, and
// clearing its high bit gives 1. Codes occupy bits 1:0 of each byte, so no
// bit crosses into a neighbouring byte.
fn fix_codes(c: u32) -> u32 {
    return c ^ ((c & (c >> 1u) & 0x01010101u) << 1u);
}

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Rows beyond 65535 spill into y (dispatch limit per dimension).
    let row = wid.x + wid.y * nwg.x;
    let token = wid.z;
    // Uniform across the workgroup (built-ins above and a uniform), so the
    // barriers below stay in uniform control flow.
    if row >= params.rows || token >= params.n_tokens {
        return;
    }
    let words = params.cols / 16u;
    let base = row * words;
    let act_base = token * (params.cols / 4u);
    var acc: i32 = 0;
    for (var i = lid; i < words; i += WG) {
        let w = weights[base + i];
        // First activation word of this word's column group: block * 32
        // words + (word within block).
        let a = act_base + (i / 8u) * 32u + (i % 8u);
        acc += dot4I8Packed(fix_codes((w >> 6u) & 0x03030303u), act[a]);
        acc += dot4I8Packed(fix_codes((w >> 4u) & 0x03030303u), act[a + 8u]);
        acc += dot4I8Packed(fix_codes((w >> 2u) & 0x03030303u), act[a + 16u]);
        acc += dot4I8Packed(fix_codes(w & 0x03030303u), act[a + 24u]);
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        // Subtracting in i32 keeps sum_k w_k * q_k exact before its one
        // rounding to f32, as the CPU kernels do.
        let dot = f32(partial[0] - act_sum[token]);
        out[token * params.out_stride + params.row_offset + row] =
            dot / act_scale[token] * params.w_scale;
    }
}
