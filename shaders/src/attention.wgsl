// Causal attention of one sequence's chunk of `len` queries over its KV cache,
// one workgroup per (head, query i); query i is batch row row0 + i at absolute
// position pos + i and sees cache positions 0..=pos + i.
//   score_p = scale * dot(q_i[head], k_p[kv_head])
//   out_i[head] = sum_p exp(score_p - max) * v_p[kv_head] / sum_p exp(score_p - max)
// with kv_head = head / (n_head / n_kv_head) (grouped-query attention).
//
// The scores live in the `scores` storage buffer (slot of (i, head) at
// ((i * n_head) + head) * (pos + len)), not in workgroup memory, so the
// context length is bounded by buffer size only.

struct Params {
    row0: u32,
    len: u32,
    pos: u32,
    n_head: u32,
    n_kv_head: u32,
    head_dim: u32,
    scale: f32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k_cache: array<f32>;
@group(0) @binding(2) var<storage, read> v_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

const WG: u32 = 64u;
// Lowest finite f32: the identity of the max reduction, spelled finite because
// WGSL lets compilers assume infinities never occur.
const F32_LOWEST: f32 = -3.40282347e38;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let head = wid.x;
    let i = wid.y;
    // Workgroup-uniform, so the barriers below stay in uniform control flow.
    if head >= params.n_head || i >= params.len {
        return;
    }
    let hd = params.head_dim;
    let kvh = head / (params.n_head / params.n_kv_head);
    let kv_dim = params.n_kv_head * hd;
    let q_base = (params.row0 + i) * params.n_head * hd + head * hd;
    let kv_base = kvh * hd;
    let n_ctx = params.pos + i + 1u;
    let slot = (i * params.n_head + head) * (params.pos + params.len);

    // Phase 1: scores, each thread taking every WG-th position.
    var m = F32_LOWEST;
    for (var p = lid; p < n_ctx; p += WG) {
        let k_base = p * kv_dim + kv_base;
        var dot = 0.0;
        for (var d = 0u; d < hd; d++) {
            dot += q[q_base + d] * k_cache[k_base + d];
        }
        let s = params.scale * dot;
        scores[slot + p] = s;
        m = max(m, s);
    }
    partial[lid] = m;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            partial[lid] = max(partial[lid], partial[lid + stride]);
        }
        workgroupBarrier();
    }
    let row_max = partial[0];
    // Everyone has read the max before phase 2 reuses `partial`.
    workgroupBarrier();

    // Phase 2: exponentials in place. Each thread revisits the positions it
    // wrote in phase 1, so no barrier is needed between its write and read.
    var total = 0.0;
    for (var p = lid; p < n_ctx; p += WG) {
        let e = exp(scores[slot + p] - row_max);
        scores[slot + p] = e;
        total += e;
    }
    partial[lid] = total;
    // storageBarrier makes every thread's exponentials visible to the whole
    // workgroup: phase 3 splits by dimension, so each thread reads them all.
    storageBarrier();
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total_all = partial[0];

    // Phase 3: weighted sum of value rows, each thread taking every WG-th
    // dimension so that neighbouring threads read neighbouring values.
    for (var d = lid; d < hd; d += WG) {
        var acc = 0.0;
        for (var p = 0u; p < n_ctx; p++) {
            acc += scores[slot + p] * v_cache[p * kv_dim + kv_base + d];
        }
        out[q_base + d] = acc / total_all;
    }
}
