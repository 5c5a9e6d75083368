// In-place elementwise ops on the first `len` values of x, one thread per
// value (elementwise.wgsl, op for op):
//   op 0 (add):       x = x + y
//   op 1 (scale):     x = x * s             (y is not read and may be null)
//   op 2 (relu2_mul): x = max(x, 0)^2 * y   (BitNet's squared-ReLU FFN gate)
//   op 3 (silu_mul):  x = x / (1 + exp(-x)) * y
//   other op codes leave x unchanged.
// Launch: any block size, grid.x = ceil(len / block). One kernel with an op
// argument rather than four: the ops are memory-bound, and the branch is
// uniform over the grid.

extern "C" __global__ void bitnet_elementwise(
    float* x,
    const float* y,
    unsigned int len,
    unsigned int op,
    float s)
{
    // 64-bit, so a grid that rounds len up past 2^32 cannot wrap around.
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= len) {
        return;
    }
    const float v = x[idx];
    switch (op) {
    case 0u:
        x[idx] = v + y[idx];
        break;
    case 1u:
        x[idx] = v * s;
        break;
    case 2u: {
        const float r = fmaxf(v, 0.0f);
        x[idx] = r * r * y[idx];
        break;
    }
    case 3u:
        // expf, not __expf: the fast version is an approximation.
        x[idx] = v / (1.0f + expf(-v)) * y[idx];
        break;
    default:
        break;
    }
}
