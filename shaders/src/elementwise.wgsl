// In-place elementwise ops on the first `len` values of x, one invocation per
// value; workgroups beyond 65535 spill into y.
//   op 0 (add):       x = x + y
//   op 1 (scale):     x = x * s            (y is bound but not read)
//   op 2 (relu2_mul): x = max(x, 0)^2 * y  (BitNet's squared-ReLU FFN gate)
//   op 3 (silu_mul):  x = x / (1 + exp(-x)) * y
// One shader with a uniform op code instead of four pipelines: the ops are
// memory-bound, so the uniform branch costs nothing measurable.

struct Params {
    len: u32,
    op: u32,
    s: f32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 256u;

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * nwg.x) * WG + lid;
    if idx >= params.len {
        return;
    }
    let v = x[idx];
    switch params.op {
        case 0u: {
            x[idx] = v + y[idx];
        }
        case 1u: {
            x[idx] = v * params.s;
        }
        case 2u: {
            let r = max(v, 0.0);
            x[idx] = r * r * y[idx];
        }
        case 3u: {
            x[idx] = v / (1.0 + exp(-v)) * y[idx];
        }
        default: {}
    }
}
