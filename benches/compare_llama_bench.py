#!/usr/bin/env python3
"""bitnet-rs against llama.cpp on the same machine, in one run.

Builds llama.cpp's `llama-bench` and `llama-quantize` from the pinned llama-cpp-python 0.3.36
sdist (the same one the test data comes from), synthesizes a 2B-4T-shaped model with the
`bitnet` architecture (llama.cpp's) twice from the same seed, as TQ2_0 for llama.cpp and as
I2_S for us (the same weights), and runs both benchmarks with the same LM-head format:

  f16   the tied token embedding as synthesized (F16) for both;
  q8_0  llama.cpp's token embedding requantized to Q8_0 with llama-quantize, ours with
        `--lm-head q8_0` (the same Q8_0 rule);
  q6_k  both files' token embedding stored as Q6_K (llama-quantize for llama.cpp,
        `bitnet quantize --embd-type q6_k` for us; the same Q6_K rule, byte-exact), which is
        how llama.cpp and bitnet.cpp publish BitNet models.

Prints llama-bench's and our pp/tg rates and their ratios.

    python3 benches/compare_llama_bench.py [-t 2] [-r 3] [-p 128] [-n 64]

Needs cmake and ninja (`pip install cmake ninja`), g++, and about 3 GB in $WORK_DIR
(default /tmp/bitnet-compare). The llama.cpp build takes minutes on two idle cores; it is
reused when $WORK_DIR/build exists. Check that the machine is quiet (`top`) first.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "test-data"))
import fetch  # noqa: E402

SDIST_SHA = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"


def run(cmd: list[str], **kw) -> str:
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def build_llama(work: Path) -> Path:
    build = work / "build"
    if (build / "bin" / "llama-bench").is_file():
        return build / "bin"
    src = next(work.glob("llama_cpp_python-*/vendor/llama.cpp"), None)
    if src is None:
        data = fetch.download_sdist("llama-cpp-python", "0.3.36", SDIST_SHA)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name]
            tar.extractall(work, members=members, filter="data")
        src = next(work.glob("llama_cpp_python-*/vendor/llama.cpp"))
    run(["cmake", "-S", str(src), "-B", str(build), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
         "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
         "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_TOOLS=ON"])
    run(["cmake", "--build", str(build), "--target", "llama-bench", "llama-quantize", "-j",
         os.environ.get("JOBS", "2")])
    return build / "bin"


def llama_bench(bin_dir: Path, model: Path, a) -> dict[str, tuple[float, float]]:
    out = run([str(bin_dir / "llama-bench"), "-m", str(model), "-p", str(a.p), "-n", str(a.n),
               "-t", str(a.t), "-r", str(a.r), "-o", "json"])
    rows = json.loads(out)
    res = {}
    for row in rows:
        test = f"pp{row['n_prompt']}" if row["n_prompt"] else f"tg{row['n_gen']}"
        res[test] = (row["avg_ts"], row["stddev_ts"])
    return res


def our_bench(model: Path, a, lm_head: str) -> dict[str, tuple[float, float]]:
    out = run([str(ROOT / "target" / "release" / "bitnet"), "bench", "-m", str(model), "-p",
               str(a.p), "-n", str(a.n), "-t", str(a.t), "-r", str(a.r), "--lm-head", lm_head])
    res = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[5][:2] in ("pp", "tg"):
            mean, sd = cells[6].split(" ± ")
            res[cells[5]] = (float(mean), float(sd))
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("-p", type=int, default=128)
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("--heads", default="", help="comma-separated subset of f16,q8_0,q6_k")
    a = ap.parse_args()
    work = Path(os.environ.get("WORK_DIR", "/tmp/bitnet-compare"))
    work.mkdir(parents=True, exist_ok=True)
    bin_dir = build_llama(work)
    run(["cargo", "build", "--release", "-p", "bitnet-server"], cwd=ROOT)
    bitnet = str(ROOT / "target" / "release" / "bitnet")
    models = {}
    for ty in ("tq2_0", "i2_s"):
        path = work / f"synth-2b4t-bitnet-{ty}.gguf"
        if not path.is_file():
            run([bitnet, "synth", "--shape", "2b4t", "--arch", "bitnet", "--type", ty,
                 "--vocab", str(ROOT / "models" / "vocab-tiny.gguf"), "--seed", "7",
                 "-o", str(path)])
        models[ty] = path
    q8 = work / "synth-2b4t-bitnet-tq2_0-q8head.gguf"
    if not q8.is_file():
        run([str(bin_dir / "llama-quantize"), "--allow-requantize", "--token-embedding-type",
             "q8_0", str(models["tq2_0"]), str(q8), "TQ2_0"])

    q6 = work / "synth-2b4t-bitnet-tq2_0-q6head.gguf"
    if not q6.is_file():
        run([str(bin_dir / "llama-quantize"), "--allow-requantize", "--token-embedding-type",
             "q6_k", str(models["tq2_0"]), str(q6), "TQ2_0"])
    ours_q6 = work / "synth-2b4t-bitnet-i2_s-q6head.gguf"
    if not ours_q6.is_file():
        run([bitnet, "quantize", str(models["i2_s"]), str(ours_q6), "--type", "i2_s",
             "--embd-type", "q6_k"])

    print(f"2B-4T-shaped synthetic model, {a.t} threads, {a.r} repetitions")
    print("| LM head | test | llama.cpp TQ2_0 t/s | bitnet-rs I2_S t/s | ratio |")
    print("|---|---|---|---|---|")
    for head, theirs, mine, flag in (("f16", models["tq2_0"], models["i2_s"], "stored"),
                                     ("q8_0", q8, models["i2_s"], "q8_0"),
                                     ("q6_k", q6, ours_q6, "stored")):
        if a.heads and head not in a.heads.split(","):
            continue
        lb = llama_bench(bin_dir, theirs, a)
        ours = our_bench(mine, a, flag)
        for test in (f"pp{a.p}", f"tg{a.n}"):
            (lm, ls), (om, osd) = lb[test], ours[test]
            print(f"| {head} | {test} | {lm:.2f} ± {ls:.2f} | {om:.2f} ± {osd:.2f} | "
                  f"{om / lm:.2f}× |")


if __name__ == "__main__":
    main()
