#!/usr/bin/env python3
"""Q6_K quantization fixture from llama.cpp's own quantizer (`quantize_row_q6_K_ref`).

gguf-py has no Q6_K quantizer, so this builds llama.cpp's ggml-quants.c from the pinned
llama-cpp-python 0.3.36 sdist (the same one the test data comes from) with a small C harness
and runs it on eight 256-value blocks chosen to reach every branch: normal noise, zeros, one
outlier, values below ggml's GROUP_MAX_EPS, a negative maximum, sparse sub-blocks,
embedding-sized noise and half-integer steps.

    python3 scripts/formats/make_q6k_fixture.py     # needs gcc

Writes tests/fixtures/formats/q6_k_quant.f32 (2048 floats) and q6_k_quant.q6_k (8 blocks).
"""

from __future__ import annotations

import io
import random
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "test-data"))
import fetch  # noqa: E402

SDIST_SHA = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "ggml-quants.h"
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    float *x = malloc(n * sizeof(float));
    if (fread(x, sizeof(float), n, stdin) != (size_t)n) return 1;
    block_q6_K *y = malloc(n / 256 * sizeof(block_q6_K));
    quantize_row_q6_K_ref(x, y, n);
    fwrite(y, sizeof(block_q6_K), n / 256, stdout);
    return 0;
}
"""


def blocks() -> list[float]:
    rng = random.Random(6)
    out: list[list[float]] = [
        [rng.gauss(0, 1) for _ in range(256)],
        [0.0] * 256,
        [rng.gauss(0, 0.01) for _ in range(256)],
        [rng.uniform(-1e-16, 1e-16) for _ in range(256)],
        [rng.gauss(0, 0.1) for _ in range(256)],
        [(rng.gauss(0, 1) if (i // 16) % 3 == 0 else 0.0) for i in range(256)],
        [rng.uniform(-0.02, 0.02) for _ in range(256)],
        [(i % 17 - 8) * 0.5 for i in range(256)],
    ]
    out[2][77] = 1e4
    out[4][200] = -3.0
    return [v for b in out for v in b]


def main() -> None:
    data = fetch.download_sdist("llama-cpp-python", "0.3.36", SDIST_SHA)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = [m for m in tar.getmembers() if "/vendor/llama.cpp/ggml/" in m.name]
            tar.extractall(tmp, members=members, filter="data")
        ggml = next(tmp.glob("*/vendor/llama.cpp/ggml"))
        (tmp / "harness.c").write_text(HARNESS)
        inc = [f"-I{ggml / 'include'}", f"-I{ggml / 'src'}"]
        flags = ["-O1", "-std=c11", "-ffunction-sections", "-fdata-sections"]
        subprocess.run(["gcc", *flags, *inc, "-c", str(ggml / "src" / "ggml-quants.c"),
                        "-o", str(tmp / "quants.o")], check=True, capture_output=True)
        subprocess.run(["gcc", *flags, *inc, str(tmp / "harness.c"), str(tmp / "quants.o"),
                        "-lm", "-Wl,--gc-sections", "-o", str(tmp / "q6k")], check=True,
                       capture_output=True)
        x = blocks()
        raw = struct.pack(f"<{len(x)}f", *x)
        q = subprocess.run([str(tmp / "q6k"), str(len(x))], input=raw, capture_output=True,
                           check=True).stdout
    assert len(q) == len(x) // 256 * 210, len(q)
    dest = ROOT / "tests" / "fixtures" / "formats"
    (dest / "q6_k_quant.f32").write_bytes(raw)
    (dest / "q6_k_quant.q6_k").write_bytes(q)
    print(f"wrote {len(x)} floats and {len(q)} bytes of Q6_K to {dest}")


if __name__ == "__main__":
    main()
