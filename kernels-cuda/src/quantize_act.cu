// Per-token absmax int8 quantization, one block per row (quantize_act.wgsl,
// op for op, and the CPU's quantize_row_i8):
//   max = max(1e-5, max_i |x_i|), s = 127 / max,
//   q_i = clamp(rint(x_i * s), -128, 127), sum = sum_i q_i (exact)
// q packs 4 codes per word, little-endian (q[4i] in bits 7:0 of word i),
// cols / 4 words per row. Launch grid.x = rows, block = BLOCK.
//
// NaN inputs are skipped by the max and give code 0; an infinite input makes
// the scale 0, so every code of its row is 0. Both tests read the bit
// pattern: under fast-math options a `v != v` test may be folded away.

// Macros rather than constexpr: NVRTC 11.x compiles C++03 unless given --std.
#define BLOCK 256u

__device__ __forceinline__ bool bitnet_is_nan(float v) {
    return (__float_as_uint(v) & 0x7fffffffu) > 0x7f800000u;
}

__device__ __forceinline__ int bitnet_code(float v, float s) {
    const float p = v * s;
    // inf * 0 is NaN as well: both give code 0. rintf rounds ties to even,
    // as WGSL's round() and Rust's round_ties_even do.
    return bitnet_is_nan(p) ? 0 : (int)fminf(fmaxf(rintf(p), -128.0f), 127.0f);
}

extern "C" __global__ void bitnet_quantize_act(
    const float* x,
    unsigned int* q,
    float* scale,
    int* sum,
    unsigned int rows,
    unsigned int cols)
{
    __shared__ float max_part[BLOCK / 32u];
    __shared__ int sum_part[BLOCK / 32u];
    const unsigned int tid = threadIdx.x;
    const unsigned int row = blockIdx.x;
    // Block-uniform, so every thread that reaches a barrier below is there.
    if (row >= rows) {
        return;
    }
    const unsigned int words = cols / 4u;
    const float* xr = x + (size_t)row * cols;

    float m = 1e-5f;
    for (unsigned int i = tid; i < cols; i += BLOCK) {
        const float v = xr[i];
        if (!bitnet_is_nan(v)) {
            m = fmaxf(m, fabsf(v));
        }
    }
    // A max is the same in any order, so one shuffle pass per warp and one
    // over the warp results suffice.
    for (int offset = 16; offset > 0; offset >>= 1) {
        m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, offset));
    }
    if ((tid & 31u) == 0u) {
        max_part[tid / 32u] = m;
    }
    __syncthreads();
    if (tid == 0u) {
        float r = max_part[0];
        for (unsigned int w = 1u; w < BLOCK / 32u; ++w) {
            r = fmaxf(r, max_part[w]);
        }
        max_part[0] = r;
    }
    __syncthreads();
    const float row_max = max_part[0];
    // Spelled out for an infinite max rather than trusting 127 / inf == 0.
    const float s = __float_as_uint(row_max) >= 0x7f800000u ? 0.0f : 127.0f / row_max;

    int acc = 0;
    for (unsigned int w = tid; w < words; w += BLOCK) {
        const float* v = xr + 4u * w;
        const int c0 = bitnet_code(v[0], s);
        const int c1 = bitnet_code(v[1], s);
        const int c2 = bitnet_code(v[2], s);
        const int c3 = bitnet_code(v[3], s);
        q[(size_t)row * words + w] = ((unsigned int)c0 & 0xffu)
            | (((unsigned int)c1 & 0xffu) << 8)
            | (((unsigned int)c2 & 0xffu) << 16)
            | (((unsigned int)c3 & 0xffu) << 24);
        acc += c0 + c1 + c2 + c3;
    }
    // Integer addition is exact in any order.
    for (int offset = 16; offset > 0; offset >>= 1) {
        acc += __shfl_down_sync(0xffffffffu, acc, offset);
    }
    if ((tid & 31u) == 0u) {
        sum_part[tid / 32u] = acc;
    }
    __syncthreads();
    if (tid == 0u) {
        int total = 0;
        for (unsigned int w = 0u; w < BLOCK / 32u; ++w) {
            total += sum_part[w];
        }
        scale[row] = s;
        sum[row] = total;
    }
}
