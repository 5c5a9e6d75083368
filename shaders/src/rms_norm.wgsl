// RMS norm with weight, one workgroup per row:
//   y[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]
// (llama.cpp's rms_norm followed by the per-channel weight multiply, fused).
// Rows are contiguous with length n; rows beyond 65535 spill into y.

struct Params {
    n: u32,
    rows: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let n = params.n;
    let base = row * n;
    var sum = 0.0;
    for (var i = lid; i < n; i += WG) {
        let v = x[base + i];
        sum += v * v;
    }
    partial[lid] = sum;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    // sqrt + divide rather than inverseSqrt: inverseSqrt may be a low-precision
    // approximation on some drivers, and the CPU reference uses 1/sqrt.
    let scale = 1.0 / sqrt(partial[0] / f32(n) + params.eps);
    for (var i = lid; i < n; i += WG) {
        y[base + i] = x[base + i] * scale * weight[i];
    }
}
