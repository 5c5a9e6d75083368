// NeoX-style rotary position embedding in place, one thread per
// (row, head, i) with i < n_rot / 2 (rope_neox.wgsl, op for op):
//   angle = (float)positions[row] * theta_scale^i (by repeated multiplication)
//   (a, b) = (x[base + i], x[base + i + half])
//   x[base + i] = a cos - b sin, x[base + i + half] = a sin + b cos
// with base = (row * n_heads + head) * head_dim and half = n_rot / 2.
// Launch: one thread per pair, any block size, grid.x = ceil(pairs / block);
// the host keeps pairs = rows * n_heads * half below 2^31, so the 32-bit
// index cannot wrap.

// Macros rather than constexpr: NVRTC 11.x compiles C++03 unless given --std.
//
// 2*pi = TWO_PI_A + TWO_PI_B + TWO_PI_C + TWO_PI_D (the WGSL constants), the
// first three with at most 6 significant bits, so k * TWO_PI_{A,B,C} are
// exact for k < 2^18 and, with the angle's own granularity, so are the first
// three subtractions; only the last term rounds. That keeps the reduced
// angle within ~3e-7 of exact for positions up to ~1.6M.
#define TWO_PI_A 6.25f
#define TWO_PI_B 0.0322265625f
#define TWO_PI_C 0.000946044921875f
#define TWO_PI_D 1.2699757711476925e-5f
#define INV_TWO_PI 0.15915494309189535f

// The angle minus the nearest multiple of 2*pi, in [-pi, pi] up to rounding:
// sinf/cosf are most accurate there, and the CPU reference reduces exactly.
// The _rn intrinsics are never contracted into FMAs, so each step rounds
// exactly as the WGSL (and the error analysis above) assumes, whatever
// --fmad the glue compiles with.
__device__ __forceinline__ float bitnet_reduce_angle(float a) {
    const float k = rintf(__fmul_rn(a, INV_TWO_PI));
    float r = __fsub_rn(a, __fmul_rn(k, TWO_PI_A));
    r = __fsub_rn(r, __fmul_rn(k, TWO_PI_B));
    r = __fsub_rn(r, __fmul_rn(k, TWO_PI_C));
    return __fsub_rn(r, __fmul_rn(k, TWO_PI_D));
}

extern "C" __global__ void bitnet_rope_neox(
    float* x,
    const unsigned int* positions,
    unsigned int rows,
    unsigned int n_heads,
    unsigned int head_dim,
    unsigned int n_rot,
    float theta_scale)
{
    const unsigned int half = n_rot / 2u;
    const unsigned int total = rows * n_heads * half;
    const unsigned int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) {
        return;
    }
    const unsigned int i = idx % half;
    const unsigned int rh = idx / half;
    const unsigned int head = rh % n_heads;
    const unsigned int row = rh / n_heads;

    // Repeated multiplication, not powf: this is how the reference (and
    // ggml) gets its angles, so the rounding matches step for step.
    float angle = (float)positions[row];
    for (unsigned int j = 0u; j < i; ++j) {
        angle *= theta_scale;
    }
    const float r = bitnet_reduce_angle(angle);
    // sinf/cosf, not __sinf/__cosf: the fast versions lose accuracy.
    const float c = cosf(r);
    const float s = sinf(r);

    float* base = x + ((size_t)row * n_heads + head) * head_dim;
    const float a = base[i];
    const float b = base[i + half];
    base[i] = a * c - b * s;
    base[i + half] = a * s + b * c;
}
