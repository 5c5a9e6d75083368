// The index of the largest value of each row, one block per row (grid.x =
// rows, block = BLOCK), so greedy decoding reads back one word per sequence
// instead of the vocabulary's logits. The rule of argmax.wgsl and the host
// sampler's greedy pick: NaN and -inf never win, +inf counts as the largest
// finite value, ties go to the lowest index; a row with no candidate gives
// 0xFFFFFFFF.

// Macros rather than constexpr: NVRTC 11.x compiles C++03 unless given --std.
#define BLOCK 256u
#define NONE 0xFFFFFFFFu
#define F32_MAX 3.40282347e38f

// Whether (v, i) beats (bv, bi); an index of NONE holds no candidate. This is
// a strict order on (value, index) pairs, so the winner does not depend on
// the order of comparisons, and the reduction below may use any tree.
__device__ __forceinline__ bool bitnet_beats(float v, unsigned int i, float bv, unsigned int bi) {
    if (i == NONE) {
        return false;
    }
    if (bi == NONE) {
        return true;
    }
    return v > bv || (v == bv && i < bi);
}

extern "C" __global__ void bitnet_argmax(
    const float* x,
    unsigned int* out,
    unsigned int rows,
    unsigned int cols)
{
    __shared__ float best_v[BLOCK / 32u];
    __shared__ unsigned int best_i[BLOCK / 32u];
    const unsigned int tid = threadIdx.x;
    const unsigned int row = blockIdx.x;
    // Block-uniform, so every thread that reaches the barrier below is there.
    if (row >= rows) {
        return;
    }
    const float* xr = x + (size_t)row * cols;

    float bv = 0.0f;
    unsigned int bi = NONE;
    for (unsigned int k = tid; k < cols; k += BLOCK) {
        const float v = xr[k];
        // From the bits, so no fast-math option can fold the test away.
        const unsigned int bits = __float_as_uint(v);
        if ((bits & 0x7fffffffu) > 0x7f800000u || bits == 0xff800000u) {
            continue;
        }
        const float c = fminf(v, F32_MAX);
        if (bitnet_beats(c, k, bv, bi)) {
            bv = c;
            bi = k;
        }
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
        const float ov = __shfl_down_sync(0xffffffffu, bv, offset);
        const unsigned int oi = __shfl_down_sync(0xffffffffu, bi, offset);
        if (bitnet_beats(ov, oi, bv, bi)) {
            bv = ov;
            bi = oi;
        }
    }
    if ((tid & 31u) == 0u) {
        best_v[tid / 32u] = bv;
        best_i[tid / 32u] = bi;
    }
    __syncthreads();
    if (tid == 0u) {
        for (unsigned int w = 1u; w < BLOCK / 32u; ++w) {
            if (bitnet_beats(best_v[w], best_i[w], bv, bi)) {
                bv = best_v[w];
                bi = best_i[w];
            }
        }
        out[row] = bi;
    }
}
