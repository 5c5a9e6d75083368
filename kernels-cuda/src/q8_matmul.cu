// Int8 matrix (Q8_0 blocks: 32 int8 weights with one f32 scale) x batch of
// int8 activation rows -> f32, one block per (output row, token): grid
// (rows, n_tokens), block = BLOCK. The arithmetic of q8_matmul.wgsl, op for
// op, and of the CPU backend's Q8_0 LM head:
//   out[token * out_stride + row_offset + row] =
//     (sum_b wscale[row][b] * sum_{k in b} w[row][k] * q[token][k]) / act_scale[token]
// with each block's sum exact in int and the rest in f32.
// weights: int8 codes, 4 per word little-endian, cols / 4 words per row
//   (8 per block); wscale: cols / 32 per row; act, act_scale: from
//   quantize_act.
//
// Each thread takes whole blocks, and the reduction tree is the WGSL one
// (strides 32, 16, ..., 1), so the f32 sum groups its terms the same way on
// both GPU backends.

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 610
#error "q8_matmul needs dp4a: compile for compute_61 or newer"
#endif

// Macros rather than constexpr: NVRTC 11.x compiles C++03 unless given --std.
#define BLOCK 64u

// Signed 4-way byte dot product with accumulate, as PTX dp4a (the hardware
// instruction from sm_61). Inline PTX rather than the __dp4a intrinsic:
// NVRTC 12.0 and 11.8 declare __dp4a without defining it, so their PTX holds
// an unresolved call that fails only when the driver loads the module.
__device__ __forceinline__ int bitnet_dp4a(int a, int b, int acc) {
    int d;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(acc));
    return d;
}

extern "C" __global__ void bitnet_q8_matmul(
    const unsigned int* weights,
    const float* wscale,
    const unsigned int* act,
    const float* act_scale,
    float* out,
    unsigned int rows,
    unsigned int cols,
    unsigned int n_tokens,
    unsigned int out_stride,
    unsigned int row_offset)
{
    __shared__ float partial[BLOCK];
    const unsigned int tid = threadIdx.x;
    const unsigned int row = blockIdx.x;
    const unsigned int token = blockIdx.y;
    // Block-uniform, so every thread that reaches the barrier below is there.
    if (row >= rows || token >= n_tokens) {
        return;
    }
    const unsigned int blocks = cols / 32u;
    const int* w_row = (const int*)weights + (size_t)row * (cols / 4u);
    const int* a_row = (const int*)act + (size_t)token * (cols / 4u);
    const float* s_row = wscale + (size_t)row * blocks;

    float acc = 0.0f;
    for (unsigned int b = tid; b < blocks; b += BLOCK) {
        int dot = 0;
        for (unsigned int j = 0u; j < 8u; ++j) {
            dot = bitnet_dp4a(__ldg(w_row + 8u * b + j), __ldg(a_row + 8u * b + j), dot);
        }
        acc += __ldg(s_row + b) * (float)dot;
    }
    partial[tid] = acc;
    __syncthreads();
    if (tid < 32u) {
        float v = partial[tid] + partial[tid + 32u];
        for (int offset = 16; offset > 0; offset >>= 1) {
            v += __shfl_down_sync(0xffffffffu, v, offset);
        }
        if (tid == 0u) {
            out[(size_t)token * out_stride + row_offset + row] = v / act_scale[token];
        }
    }
}
