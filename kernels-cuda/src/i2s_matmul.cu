// Ternary (I2_S) matrix x batch of int8 activation rows -> f32, one block per
// (output row, token): grid (rows, n_tokens), block = BLOCK. The arithmetic
// of i2s_matmul.wgsl, op for op.
//
// weights: the I2_S bytes of this piece's rows (no scale trailer) read as
//   little-endian 32-bit words, cols / 16 words per row. A 128-weight block
//   is 32 bytes = 8 words; byte j of a block holds weight j (bits 7:6),
//   32+j (5:4), 64+j (3:2), 96+j (1:0). Codes 0/1/2 mean -1/0/+1; code 3 is
//   read as 1 (weight 0), as the dequantizer does.
// act: n_tokens rows of int8 codes from quantize_act, 4 per word,
//   little-endian, cols / 4 words per row; act_scale, act_sum: one per token.
// out[token * out_stride + row_offset + row] =
//   (float)(raw - act_sum[token]) / act_scale[token] * w_scale
// with raw = sum_k code_k * q_k. Subtracting in int keeps
// sum_k weight_k * q_k exact before its one rounding to f32, as the CPU
// kernels do. The stride and offset let a matrix split into row pieces (or
// fused Q/K/V rows) write straight into its columns of a wider output.
//
// Word w of a block covers bytes 4w..4w+3, i.e. weights 4w..4w+3 of each of
// the block's four 32-weight groups; in each byte a group's code sits in the
// same bit pair, so one shift + mask yields 4 packed codes that line up with
// one packed activation word, and dp4a does the 4 products and the add.
// Consecutive threads read consecutive weight words (coalesced loads).

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 610
#error "i2s_matmul needs dp4a: compile for compute_61 or newer"
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

// Maps code 3 to 1 in all four bytes: only 3 has both bits set, and clearing
// its high bit gives 1. Codes occupy bits 1:0 of each byte, so no bit
// crosses into a neighbouring byte.
__device__ __forceinline__ int bitnet_fix_codes(unsigned int c) {
    return (int)(c ^ ((c & (c >> 1) & 0x01010101u) << 1));
}

extern "C" __global__ void bitnet_i2s_matmul(
    const unsigned int* weights,
    const unsigned int* act,
    const float* act_scale,
    const int* act_sum,
    float* out,
    unsigned int rows,
    unsigned int cols,
    unsigned int n_tokens,
    unsigned int out_stride,
    unsigned int row_offset,
    float w_scale)
{
    __shared__ int partial[BLOCK / 32u];
    const unsigned int tid = threadIdx.x;
    const unsigned int row = blockIdx.x;
    const unsigned int token = blockIdx.y;
    // Block-uniform, so every thread that reaches the barrier below is there.
    if (row >= rows || token >= n_tokens) {
        return;
    }
    const unsigned int words = cols / 16u;
    const unsigned int* w_row = weights + (size_t)row * words;
    const int* a_row = (const int*)act + (size_t)token * (cols / 4u);

    int acc = 0;
    for (unsigned int i = tid; i < words; i += BLOCK) {
        const unsigned int w = __ldg(w_row + i);
        // First activation word of this word's column group:
        // block * 32 words + word within the block.
        const unsigned int a = (i / 8u) * 32u + (i % 8u);
        acc = bitnet_dp4a(bitnet_fix_codes((w >> 6) & 0x03030303u), __ldg(a_row + a), acc);
        acc = bitnet_dp4a(bitnet_fix_codes((w >> 4) & 0x03030303u), __ldg(a_row + a + 8u), acc);
        acc = bitnet_dp4a(bitnet_fix_codes((w >> 2) & 0x03030303u), __ldg(a_row + a + 16u), acc);
        acc = bitnet_dp4a(bitnet_fix_codes(w & 0x03030303u), __ldg(a_row + a + 24u), acc);
    }
    // Integer addition is exact in any order: shuffles within each warp, then
    // the warp totals.
    for (int offset = 16; offset > 0; offset >>= 1) {
        acc += __shfl_down_sync(0xffffffffu, acc, offset);
    }
    if ((tid & 31u) == 0u) {
        partial[tid / 32u] = acc;
    }
    __syncthreads();
    if (tid == 0u) {
        int raw = 0;
        for (unsigned int w = 0u; w < BLOCK / 32u; ++w) {
            raw += partial[w];
        }
        const float dot = (float)(raw - act_sum[token]);
        out[(size_t)token * out_stride + row_offset + row] = dot / act_scale[token] * w_scale;
    }
}
