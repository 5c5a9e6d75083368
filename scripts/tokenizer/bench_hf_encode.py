#!/usr/bin/env python3
"""Time HF `tokenizers` (Python) encoding botchan.txt with the LLaMA 3 tokenizer.json: the
comparison for benches/benches/tokenizer.rs (same text, same 128k vocabulary).

    pip install tokenizers==0.22.2   # the version the engine links
    python3 scripts/tokenizer/bench_hf_encode.py [--runs 20]

Needs `scripts/test-data/fetch.py --set fixtures`. Prints tokens/s (median and best of the
runs) for a single-threaded `encode` of the whole text, as our bench measures it, and for
`Tokenizer.from_file` (the tokenizer build).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("BITNET_TEST_DATA") or ROOT / "target" / "test-data")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    import tokenizers

    path = DATA / "hf" / "llama3-tokenizer.json"
    # Bytes as they are (botchan.txt has CRLF line ends): read_text would translate them and
    # encode a different text from the Rust bench's.
    text = (DATA / "text" / "botchan.txt").read_bytes().decode("utf-8")
    builds = []
    for _ in range(5):
        t0 = time.perf_counter()
        tok = tokenizers.Tokenizer.from_file(str(path))
        builds.append(time.perf_counter() - t0)
    n = len(tok.encode(text, add_special_tokens=False).ids)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        tok.encode(text, add_special_tokens=False)
        times.append(time.perf_counter() - t0)
    med, best = statistics.median(times), min(times)
    print(f"HF tokenizers {tokenizers.__version__} (Python), LLaMA 3 tokenizer.json")
    print(f"botchan.txt: {len(text.encode())} bytes, {n} tokens")
    print(f"encode: median {n / med / 1e6:.3f} M tokens/s, best {n / best / 1e6:.3f} M tokens/s ({args.runs} runs)")
    print(f"build (Tokenizer.from_file): median {statistics.median(builds) * 1e3:.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
