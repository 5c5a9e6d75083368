// NeoX-style rotary position embedding, in place, one invocation per
// (row, head, i) with i < n_rot / 2:
//   angle = f32(positions[row]) * theta_scale^i (by repeated multiplication)
//   (a, b) = (x[base + i], x[base + i + half])
//   x[base + i] = a cos - b sin, x[base + i + half] = a sin + b cos
// with base = (row * n_heads + head) * head_dim and half = n_rot / 2.
// Workgroups beyond 65535 spill into y.

struct Params {
    rows: u32,
    n_heads: u32,
    head_dim: u32,
    n_rot: u32,
    theta_scale: f32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> positions: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 64u;

// 2*pi = TWO_PI_A + TWO_PI_B + TWO_PI_C + TWO_PI_D, the first three with at
// most 6 significant bits, so k * TWO_PI_{A,B,C} are exact for k < 2^18 and,
// with the angle's own granularity, so are the first three subtractions; only
// the last term rounds. That keeps the reduced angle within ~3e-7 of exact
// for positions up to ~1.6M (checked against an f64 reduction).
const TWO_PI_A: f32 = 6.25;
const TWO_PI_B: f32 = 0.0322265625;
const TWO_PI_C: f32 = 0.000946044921875;
const TWO_PI_D: f32 = 1.2699757711476925e-5;
const INV_TWO_PI: f32 = 0.15915494309189535;

// The angle minus the nearest multiple of 2*pi, in [-pi, pi] up to rounding.
// GPU cos/sin only promise accuracy on [-pi, pi] (Vulkan leaves larger inputs
// unbounded, and fast hardware paths lose precision in proportion to |x|),
// while the CPU reference reduces exactly; positions reach the thousands.
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * INV_TWO_PI);
    return (((a - k * TWO_PI_A) - k * TWO_PI_B) - k * TWO_PI_C) - k * TWO_PI_D;
}

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let half = params.n_rot / 2u;
    let total = params.rows * params.n_heads * half;
    let idx = (wid.x + wid.y * nwg.x) * WG + lid;
    if idx >= total {
        return;
    }
    let i = idx % half;
    let rh = idx / half;
    let head = rh % params.n_heads;
    let row = rh / params.n_heads;

    // Repeated multiplication, not pow(): this is how the reference (and
    // ggml) gets its angles, so the rounding matches step for step.
    var angle = f32(positions[row]);
    for (var j = 0u; j < i; j++) {
        angle *= params.theta_scale;
    }
    let r = reduce_angle(angle);
    let c = cos(r);
    let s = sin(r);

    let base = (row * params.n_heads + head) * params.head_dim;
    let a = x[base + i];
    let b = x[base + i + half];
    x[base + i] = a * c - b * s;
    x[base + i + half] = a * s + b * c;
}
