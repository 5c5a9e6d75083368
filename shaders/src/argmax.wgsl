// The index of the largest value of each row, one workgroup per row, so greedy
// decoding reads back one u32 per sequence instead of the vocabulary's logits.
// The rule is the host sampler's greedy pick: NaN and -inf never win, +inf
// counts as the largest finite value, ties go to the lowest index; a row with
// no candidate gives 0xFFFFFFFF.
// Rows beyond 65535 spill into y.

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 256u;
const NONE: u32 = 0xFFFFFFFFu;
const F32_MAX: f32 = 3.40282347e38;
var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

// Whether (v, i) beats (bv, bi); an index of NONE holds no candidate.
fn beats(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    if i == NONE {
        return false;
    }
    if bi == NONE {
        return true;
    }
    return v > bv || (v == bv && i < bi);
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
    let base = row * params.cols;
    var bv = 0.0;
    var bi = NONE;
    for (var k = lid; k < params.cols; k += WG) {
        let v = x[base + k];
        // From the bits: a compiler may assume NaN never occurs in float compares.
        let bits = bitcast<u32>(v);
        let nan = (bits & 0x7fffffffu) > 0x7f800000u;
        if nan || bits == 0xff800000u {
            continue;
        }
        let c = min(v, F32_MAX);
        if beats(c, k, bv, bi) {
            bv = c;
            bi = k;
        }
    }
    best_v[lid] = bv;
    best_i[lid] = bi;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride && beats(best_v[lid + stride], best_i[lid + stride], best_v[lid], best_i[lid]) {
            best_v[lid] = best_v[lid + stride];
            best_i[lid] = best_i[lid + stride];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        out[row] = best_i[0];
    }
}
