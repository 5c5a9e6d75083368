// f16 matrix x batch of f32 activation rows -> f32, one workgroup per
// (output row, token):
//   out[token * out_stride + row_offset + row] = sum_k w[row][k] * x[token][k]
// weights: row-major f16 values read as u32 words (value 2i in the low half of
//   word i), cols/2 words per row. They stay f16 in memory, half the size of
//   f32, and unpack2x16float widens them without the shader-f16 feature, so
//   every adapter runs this. The sum is in f32, as the CPU reference.
// Rows beyond 65535 spill into y; the token is z.

struct Params {
    rows: u32,
    cols: u32,
    n_tokens: u32,
    out_stride: u32,
    row_offset: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

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
    let words = params.cols / 2u;
    let base = row * words;
    let x_base = token * params.cols;
    var acc = 0.0;
    for (var i = lid; i < words; i += WG) {
        let w = unpack2x16float(weights[base + i]);
        let k = x_base + 2u * i;
        acc += w.x * x[k] + w.y * x[k + 1u];
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
        out[token * params.out_stride + params.row_offset + row] = partial[0];
    }
}
