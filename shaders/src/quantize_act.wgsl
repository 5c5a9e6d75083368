// Per-token absmax int8 quantization, one workgroup per row:
//   max = max(1e-5, max_i |x_i|), s = 127 / max,
//   q_i = clamp(round(x_i * s), -128, 127), sum = sum_i q_i
// as the CPU's quantize_row_i8 (round() is ties-to-even in WGSL, as there).
// q packs 4 codes per u32, little-endian, cols/4 words per row; rows beyond
// 65535 spill into y.
//
// NaN handling mirrors the CPU: a NaN input is skipped by the max and becomes
// code 0, and an infinite input makes the scale 0 (so every code is 0). NaN
// is tested on the bit pattern because WGSL lets compilers assume floats are
// never NaN or infinite, which could fold a `v != v` test away.

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> q: array<u32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> sum: array<i32>;
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 256u;
var<workgroup> max_part: array<f32, WG>;
var<workgroup> sum_part: array<i32, WG>;

fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn code(v: f32, s: f32) -> i32 {
    let p = v * s;
    // An infinite input times a zero scale is NaN too; both give code 0.
    return select(i32(clamp(round(p), -128.0, 127.0)), 0, is_nan(p));
}

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    // Workgroup-uniform, so the barriers below stay in uniform control flow.
    if row >= params.rows {
        return;
    }
    let words = params.cols / 4u;
    let base = row * params.cols;

    var m = 1e-5;
    for (var i = lid; i < params.cols; i += WG) {
        let v = x[base + i];
        m = select(max(m, abs(v)), m, is_nan(v));
    }
    max_part[lid] = m;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            max_part[lid] = max(max_part[lid], max_part[lid + stride]);
        }
        workgroupBarrier();
    }
    let row_max = max_part[0];
    // Spelled out for an infinite max rather than trusting 127 / inf == 0.
    let s = select(127.0 / row_max, 0.0, bitcast<u32>(row_max) >= 0x7f800000u);

    var acc: i32 = 0;
    for (var w = lid; w < words; w += WG) {
        let k = base + 4u * w;
        let c = vec4<i32>(code(x[k], s), code(x[k + 1u], s), code(x[k + 2u], s), code(x[k + 3u], s));
        q[row * words + w] = pack4xI8(c);
        acc += c.x + c.y + c.z + c.w;
    }
    sum_part[lid] = acc;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            sum_part[lid] += sum_part[lid + stride];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        scale[row] = s;
        sum[row] = sum_part[0];
    }
}
