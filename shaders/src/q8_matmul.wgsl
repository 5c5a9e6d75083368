// Int8 matrix (Q8_0 blocks: 32 int8 weights with one scale) x batch of int8
// activation rows -> f32, one workgroup per (output row, token):
//   out[token * out_stride + row_offset + row] =
//     (sum_b wscale[row][b] * sum_{k in block b} w[row][k] * q[token][k]) / act_scale[token]
// the arithmetic of the CPU backend's Q8_0 LM head (per-token absmax int8
// activations from quantize_act, block sums exact in i32, scaled and summed in
// f32). An int8 head reads about half the bytes of an f16 one per token.
// weights: int8 codes, 4 per u32 little-endian, cols/4 words per row (8 words
//   per block); wscale: f32, cols/32 per row.
// Rows beyond 65535 spill into y; the token is z.

struct Params {
    rows: u32,
    cols: u32,
    n_tokens: u32,
    out_stride: u32,
    row_offset: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> wscale: array<f32>;
@group(0) @binding(2) var<storage, read> act: array<u32>;
@group(0) @binding(3) var<storage, read> act_scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    let token = wid.z;
    // Workgroup-uniform, so the barriers below stay in uniform control flow.
    if row >= params.rows || token >= params.n_tokens {
        return;
    }
    let blocks = params.cols / 32u;
    let w_base = row * (params.cols / 4u);
    let a_base = token * (params.cols / 4u);
    var acc = 0.0;
    for (var b = lid; b < blocks; b += WG) {
        var dot: i32 = 0;
        for (var j = 0u; j < 8u; j++) {
            dot += dot4I8Packed(weights[w_base + 8u * b + j], act[a_base + 8u * b + j]);
        }
        acc += wscale[row * blocks + b] * f32(dot);
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
        out[token * params.out_stride + params.row_offset + row] = partial[0] / act_scale[token];
    }
}
