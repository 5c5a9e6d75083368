#!/usr/bin/env python3
"""Generate the bit-exactness fixtures in tests/fixtures/formats/.

The fixtures pin engine/src/formats to upstream's numpy reference (PyPI `gguf` >= 0.19,
`gguf.quants.quantize` / `gguf.quants.dequantize`, which its authors keep bit-exact with
ggml-quants.c's reference quantizers). The Rust tests in engine/src/formats read them with
`include_bytes!`, so the shapes below are repeated there: change both together.

All files are raw little-endian arrays with no header:
  *.f32                  float32 values
  *.<type> / *.blocks    the bytes of that ggml type, blocks back to back

Files:
  ternary_4x512.f32        4x512 floats code*scale (scale 0.0371, row 2 block 1 all zero)
  ternary_4x512.tq1_0/.tq2_0   gguf-py quantize of those floats
  random_2x512.f32         2x512 arbitrary floats (normal noise, plus a block of exact
                           half-way ties and a block holding one nonzero value)
  random_2x512.tq1_0/.tq2_0    gguf-py quantize of those floats
  q8_0_quant.f32 / .q8_0   512 floats and their Q8_0 quantization
  <type>.blocks / <type>.dequant.f32   random valid blocks (finite f16 scales, random
                           payload bytes) and gguf-py's dequantization, for
                           q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q6_k tq1_0 tq2_0 bf16 f16

Run from the repository root: python3 scripts/gen_format_fixtures.py
The output is deterministic (fixed seed).
"""

from __future__ import annotations

import os
import sys

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as T
    from gguf.quants import dequantize, quantize
except ImportError:  # pragma: no cover
    sys.exit("needs PyPI gguf >= 0.19 (pip install gguf)")

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "formats")
RNG = np.random.default_rng(0x5EED_B17)


def write(name: str, arr: np.ndarray) -> None:
    path = os.path.join(OUT, name)
    data = np.ascontiguousarray(arr).tobytes()
    with open(path, "wb") as f:
        f.write(data)
    print(f"{name:32s} {len(data):6d} bytes")


def ternary_floats(rows: int, cols: int, scale: float) -> np.ndarray:
    codes = RNG.integers(-1, 2, size=(rows, cols)).astype(np.float32)
    codes[2, 256:512] = 0  # one all-zero block: d must be 0 there
    return (codes * np.float32(scale)).astype(np.float32)


def random_floats(rows: int, cols: int) -> np.ndarray:
    x = RNG.normal(0.0, 0.02, size=(rows, cols)).astype(np.float32)
    # Block 1 of row 0: exact ties at +-amax/2, which the reference rounds away from zero.
    tie = np.float32(0.25)
    x[0, 256:512] = RNG.choice(np.array([-tie, -tie / 2, 0, tie / 2, tie], dtype=np.float32), 256)
    x[0, 256] = tie
    # Block 0 of row 1: a single nonzero (negative) value.
    x[1, 0:256] = 0
    x[1, 77] = np.float32(-3.5)
    return x


def finite_f16(n: int, lo: float, hi: float, signed: bool = False) -> np.ndarray:
    v = RNG.uniform(lo, hi, size=n)
    if signed:
        v *= RNG.choice([-1.0, 1.0], size=n)
    return v.astype(np.float16)


def random_blocks(qtype: T, n_blocks: int) -> np.ndarray:
    """Random payload bytes with finite f16 scale fields, per ggml's block structs."""
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    b = RNG.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)

    def put_f16(offset: int, vals: np.ndarray) -> None:
        b[:, offset:offset + 2] = vals.reshape(n_blocks, 1).view(np.uint8).reshape(n_blocks, 2)

    if qtype in (T.Q4_0, T.Q5_0, T.Q8_0):
        put_f16(0, finite_f16(n_blocks, 1e-4, 0.1, signed=True))
    elif qtype in (T.Q4_1, T.Q5_1):
        put_f16(0, finite_f16(n_blocks, 1e-4, 0.1))
        put_f16(2, finite_f16(n_blocks, 1e-3, 1.0, signed=True))
    elif qtype == T.Q4_K:
        put_f16(0, finite_f16(n_blocks, 1e-5, 0.01))
        put_f16(2, finite_f16(n_blocks, 1e-5, 0.01))
    elif qtype == T.Q6_K:
        put_f16(208, finite_f16(n_blocks, 1e-5, 0.01, signed=True))
    elif qtype == T.TQ1_0:
        put_f16(52, finite_f16(n_blocks, 1e-3, 1.0))
    elif qtype == T.TQ2_0:
        put_f16(64, finite_f16(n_blocks, 1e-3, 1.0))
    return b


def main() -> None:
    os.makedirs(OUT, exist_ok=True)

    # Ternary packs: the floats a ternary matrix stands for, quantized by the reference.
    tern = ternary_floats(4, 512, 0.0371)
    write("ternary_4x512.f32", tern)
    write("ternary_4x512.tq1_0", quantize(tern, T.TQ1_0))
    write("ternary_4x512.tq2_0", quantize(tern, T.TQ2_0))

    rnd = random_floats(2, 512)
    write("random_2x512.f32", rnd)
    write("random_2x512.tq1_0", quantize(rnd, T.TQ1_0))
    write("random_2x512.tq2_0", quantize(rnd, T.TQ2_0))

    q8in = RNG.normal(0.0, 1.0, size=(1, 512)).astype(np.float32)
    q8in[0, 32:64] = 0  # an all-zero block: d = 0, id = 0
    q8in[0, 64:96] = np.linspace(-1.0, 1.0, 32, dtype=np.float32) * np.float32(127 / 2)
    write("q8_0_quant.f32", q8in)
    write("q8_0_quant.q8_0", quantize(q8in, T.Q8_0))

    # Dequantization of random valid blocks.
    for name, qtype, n in [
        ("q4_0", T.Q4_0, 16),
        ("q4_1", T.Q4_1, 16),
        ("q5_0", T.Q5_0, 16),
        ("q5_1", T.Q5_1, 16),
        ("q8_0", T.Q8_0, 16),
        ("q4_k", T.Q4_K, 6),
        ("q6_k", T.Q6_K, 6),
        ("tq1_0", T.TQ1_0, 4),
        ("tq2_0", T.TQ2_0, 4),
    ]:
        blocks = random_blocks(qtype, n)
        write(f"{name}.blocks", blocks)
        write(f"{name}.dequant.f32", dequantize(blocks.reshape(1, -1), qtype).astype(np.float32))

    # bf16/f16: every bit pattern class, NaNs and infinities included.
    bf = RNG.integers(0, 1 << 16, size=512, dtype=np.uint16)
    bf[:4] = [0x7F80, 0xFF80, 0x7FC1, 0x0001]  # +inf, -inf, NaN, smallest subnormal
    write("bf16.blocks", bf)
    write("bf16.dequant.f32", dequantize(bf.view(np.uint8).reshape(1, -1), T.BF16).astype(np.float32))
    hf = RNG.integers(0, 1 << 16, size=512, dtype=np.uint16)
    hf[:4] = [0x7C00, 0xFC00, 0x7E01, 0x0001]
    write("f16.blocks", hf)
    write("f16.dequant.f32", dequantize(hf.view(np.uint8), T.F16).astype(np.float32))


if __name__ == "__main__":
    main()
