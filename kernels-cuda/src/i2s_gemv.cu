// Ternary (I2_S) matrix x int8 vector -> f32. One warp per output row.
//
// weights: the I2_S bytes of W[rows][cols] (row-major, cols/4 bytes per row,
//   no scale trailer), read as little-endian 32-bit words: cols/16 words per
//   row. A 128-weight block is 32 bytes = 8 words; byte j of a block holds
//   weight j (bits 7:6), 32+j (5:4), 64+j (3:2), 96+j (1:0). Codes 0/1/2 mean
//   -1/0/+1; code 3 is read as 1 (weight 0), as the dequantizer does.
// act: the int8 activation codes from quantize_row_i8, 4 per 32-bit word
//   (q[4i] in bits 7:0 of act[i]).
// out[row] = ((float)raw - (float)act_sum) / act_scale * w_scale, with
//   raw = sum_k code_k * q_k: the exact I2_S rescale of the CPU path.
//
// Word w of a block covers bytes 4w..4w+3, i.e. weights 4w..4w+3 of each of
// the block's four 32-weight groups; in each byte a group's code sits in the
// same bit pair, so one shift + mask yields 4 packed codes that line up with
// one packed activation word, and dp4a does the 4 products and the add.
// Consecutive lanes read consecutive weight words, so a warp's loads are
// coalesced 128-byte transactions.
//
// Launch: blockDim.x = 32 * ROWS_PER_BLOCK threads (one warp per row),
// gridDim.x = ceil(rows / ROWS_PER_BLOCK), no shared memory; the Rust side
// (bitnet-kernels-cuda) computes this and validates cols % 128 == 0.

// Maps code 3 to 1 in all four bytes: only 3 has both bits set; clearing its
// high bit gives 1. Codes occupy bits 1:0 of each byte.
__device__ __forceinline__ unsigned int bitnet_fix_codes(unsigned int c) {
    return c ^ ((c & (c >> 1) & 0x01010101u) << 1);
}

// Signed 4-way byte dot product with accumulate. dp4a exists from sm_61;
// older GPUs take the byte-by-byte path (same result).
__device__ __forceinline__ int bitnet_dot4(unsigned int codes, int act, int acc) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 610
    return __dp4a((int)codes, act, acc);
#else
    for (int i = 0; i < 4; ++i) {
        acc += (int)((codes >> (8 * i)) & 0xffu) * (int)(signed char)((act >> (8 * i)) & 0xff);
    }
    return acc;
#endif
}

extern "C" __global__ void bitnet_i2s_gemv(
    const unsigned int* __restrict__ weights,
    const int* __restrict__ act,
    float* __restrict__ out,
    int rows,
    int cols,
    float act_scale,
    int act_sum,
    float w_scale)
{
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + warp;
    // The whole warp leaves together, so the shuffles below see all 32 lanes.
    if (row >= rows) {
        return;
    }
    const int words = cols >> 4;
    const unsigned int* w_row = weights + (size_t)row * (size_t)words;
    int acc = 0;
    for (int i = lane; i < words; i += 32) {
        const unsigned int w = __ldg(w_row + i);
        // First activation word of this word's column group:
        // block * 32 words + word within the block.
        const int a = (i >> 3) * 32 + (i & 7);
        acc = bitnet_dot4(bitnet_fix_codes((w >> 6) & 0x03030303u), __ldg(act + a), acc);
        acc = bitnet_dot4(bitnet_fix_codes((w >> 4) & 0x03030303u), __ldg(act + a + 8), acc);
        acc = bitnet_dot4(bitnet_fix_codes((w >> 2) & 0x03030303u), __ldg(act + a + 16), acc);
        acc = bitnet_dot4(bitnet_fix_codes(w & 0x03030303u), __ldg(act + a + 24), acc);
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
        acc += __shfl_down_sync(0xffffffffu, acc, offset);
    }
    if (lane == 0) {
        out[row] = ((float)acc - (float)act_sum) / act_scale * w_scale;
    }
}
