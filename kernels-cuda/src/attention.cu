// Causal attention of one sequence's chunk of `len` queries over its KV
// cache, one block per (head, query i): grid (n_head, len), block = BLOCK.
// The arithmetic of attention.wgsl, op for op. Query i is batch row row0 + i
// at absolute position pos + i and sees cache positions 0..=pos + i:
//   score_p = scale * dot(q_i[head], k_p[kv_head])
//   out_i[head] = sum_p exp(score_p - max) * v_p[kv_head] / sum_p exp(score_p - max)
// with kv_head = head / (n_head / n_kv_head) (grouped-query attention; the
// host checks that n_kv_head divides n_head).
//
// The scores live in the global `scores` scratch (slot of (i, head) at
// (i * n_head + head) * (pos + len), at least len * n_head * (pos + len)
// floats), not in shared memory, so the context length is bounded by memory
// only. The per-thread strides and both reduction trees are the WGSL ones.

// Macros rather than constexpr: NVRTC 11.x compiles C++03 unless given --std.
#define BLOCK 64u
// Lowest finite f32, the identity of the max reduction (as the WGSL).
#define F32_LOWEST (-3.40282347e38f)

extern "C" __global__ void bitnet_attention(
    const float* q,
    const float* k_cache,
    const float* v_cache,
    float* scores,
    float* out,
    unsigned int row0,
    unsigned int len,
    unsigned int pos,
    unsigned int n_head,
    unsigned int n_kv_head,
    unsigned int head_dim,
    float scale)
{
    __shared__ float partial[BLOCK];
    const unsigned int tid = threadIdx.x;
    const unsigned int head = blockIdx.x;
    const unsigned int i = blockIdx.y;
    // Block-uniform, so every thread that reaches a barrier below is there.
    if (head >= n_head || i >= len) {
        return;
    }
    const unsigned int hd = head_dim;
    const unsigned int kvh = head / (n_head / n_kv_head);
    const size_t kv_dim = (size_t)n_kv_head * hd;
    const float* qh = q + (((size_t)row0 + i) * n_head + head) * hd;
    float* oh = out + (((size_t)row0 + i) * n_head + head) * hd;
    const float* kh = k_cache + (size_t)kvh * hd;
    const float* vh = v_cache + (size_t)kvh * hd;
    const unsigned int n_ctx = pos + i + 1u;
    float* sc = scores + ((size_t)i * n_head + head) * (pos + len);

    // Phase 1: scores, each thread taking every BLOCK-th position.
    float m = F32_LOWEST;
    for (unsigned int p = tid; p < n_ctx; p += BLOCK) {
        const float* kp = kh + p * kv_dim;
        float dot = 0.0f;
        for (unsigned int d = 0u; d < hd; ++d) {
            dot += qh[d] * kp[d];
        }
        const float s = scale * dot;
        sc[p] = s;
        m = fmaxf(m, s);
    }
    partial[tid] = m;
    __syncthreads();
    if (tid < 32u) {
        float v = fmaxf(partial[tid], partial[tid + 32u]);
        for (int offset = 16; offset > 0; offset >>= 1) {
            v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, offset));
        }
        if (tid == 0u) {
            partial[0] = v;
        }
    }
    __syncthreads();
    const float row_max = partial[0];
    // Everyone has read the max before phase 2 reuses `partial`.
    __syncthreads();

    // Phase 2: exponentials in place. Each thread revisits the positions it
    // wrote in phase 1, so its own writes need no barrier.
    float total = 0.0f;
    for (unsigned int p = tid; p < n_ctx; p += BLOCK) {
        const float e = expf(sc[p] - row_max);
        sc[p] = e;
        total += e;
    }
    partial[tid] = total;
    // Besides the sums, this barrier publishes every thread's exponentials
    // (global writes included) to the block: phase 3 splits by dimension, so
    // each thread reads them all.
    __syncthreads();
    if (tid < 32u) {
        float v = partial[tid] + partial[tid + 32u];
        for (int offset = 16; offset > 0; offset >>= 1) {
            v += __shfl_down_sync(0xffffffffu, v, offset);
        }
        if (tid == 0u) {
            partial[0] = v;
        }
    }
    __syncthreads();
    const float total_all = partial[0];

    // Phase 3: weighted sum of value rows, each thread taking every BLOCK-th
    // dimension so that neighbouring threads read neighbouring values.
    for (unsigned int d = tid; d < hd; d += BLOCK) {
        float acc = 0.0f;
        for (unsigned int p = 0u; p < n_ctx; ++p) {
            acc += sc[p] * vh[p * kv_dim + d];
        }
        oh[d] = acc / total_all;
    }
}
