// f16 matrix x batch of f32 activation rows -> f32, one block per (output
// row, token): grid (rows, n_tokens), block = BLOCK. The arithmetic of
// f16_matmul.wgsl, op for op:
//   out[token * out_stride + row_offset + row] = sum_k w[row][k] * x[token][k]
// weights: row-major f16 bit patterns, cols (even) per row; x: n_tokens rows
// of cols f32. The weights stay f16 in memory (half the bytes of f32) and
// widen exactly to f32; the sum is f32, as the CPU reference.
//
// Each thread takes one pair of columns per step, as the WGSL takes one u32
// word, and the reduction tree is the WGSL one (strides 32, 16, ..., 1), so
// the f32 sum groups its terms the same way on both GPU backends.

// Macros rather than constexpr: NVRTC 11.x compiles C++03 unless given --std.
#define BLOCK 64u

// f16 -> f32 with one PTX cvt (exact, subnormals, inf and NaN included).
// Inline PTX instead of cuda_fp16.h: NVRTC has no built-in copy of that
// header, and the glue compiles without an include path.
__device__ __forceinline__ float bitnet_f16_to_f32(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

extern "C" __global__ void bitnet_f16_matmul(
    const unsigned short* weights,
    const float* x,
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
    const unsigned int words = cols / 2u;
    // One 32-bit load per column pair: cols is even, so every row starts on
    // a 4-byte boundary of a 4-byte aligned allocation.
    const unsigned int* w_row = (const unsigned int*)weights + (size_t)row * words;
    const float* xr = x + (size_t)token * cols;

    float acc = 0.0f;
    for (unsigned int i = tid; i < words; i += BLOCK) {
        const unsigned int w = __ldg(w_row + i);
        const float w0 = bitnet_f16_to_f32((unsigned short)(w & 0xffffu));
        const float w1 = bitnet_f16_to_f32((unsigned short)(w >> 16));
        acc += w0 * xr[2u * i] + w1 * xr[2u * i + 1u];
    }
    partial[tid] = acc;
    __syncthreads();
    if (tid < 32u) {
        float v = partial[tid] + partial[tid + 32u];
        for (int offset = 16; offset > 0; offset >>= 1) {
            v += __shfl_down_sync(0xffffffffu, v, offset);
        }
        if (tid == 0u) {
            out[(size_t)token * out_stride + row_offset + row] = v;
        }
    }
}
