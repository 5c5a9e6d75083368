// RMS norm with weight, one block per row (rms_norm.wgsl, op for op):
//   y[i] = x[i] * (1 / sqrt(mean(x^2) + eps)) * weight[i]
// Rows are contiguous with length n; launch grid.x = rows, block = BLOCK.
//
// The per-thread strided sums and the reduction tree are those of the WGSL
// workgroup (pairs at strides 128, 64, ..., 1), so the f32 sum rounds the
// same way on both GPU backends; the last five strides are warp shuffles,
// which pair the same lanes as the shared-memory steps would.

// Macros rather than constexpr: NVRTC 11.x compiles C++03 unless given --std.
#define BLOCK 256u

extern "C" __global__ void bitnet_rms_norm(
    const float* x,
    const float* weight,
    float* y,
    unsigned int n,
    unsigned int rows,
    float eps)
{
    __shared__ float partial[BLOCK];
    const unsigned int tid = threadIdx.x;
    const unsigned int row = blockIdx.x;
    // Block-uniform, so every thread that reaches a barrier below is there.
    if (row >= rows) {
        return;
    }
    const float* xr = x + (size_t)row * n;
    float* yr = y + (size_t)row * n;

    float sum = 0.0f;
    for (unsigned int i = tid; i < n; i += BLOCK) {
        const float v = xr[i];
        sum += v * v;
    }
    partial[tid] = sum;
    __syncthreads();
    for (unsigned int stride = BLOCK / 2u; stride >= 32u; stride >>= 1) {
        if (tid < stride) {
            partial[tid] += partial[tid + stride];
        }
        __syncthreads();
    }
    if (tid < 32u) {
        float v = partial[tid];
        for (int offset = 16; offset > 0; offset >>= 1) {
            v += __shfl_down_sync(0xffffffffu, v, offset);
        }
        if (tid == 0u) {
            partial[0] = v;
        }
    }
    __syncthreads();

    // sqrtf and a division rather than rsqrtf: rsqrtf is an approximation,
    // and the WGSL and CPU reference both take 1 / sqrt.
    const float scale = 1.0f / sqrtf(partial[0] / (float)n + eps);
    for (unsigned int i = tid; i < n; i += BLOCK) {
        yr[i] = xr[i] * scale * weight[i];
    }
}
