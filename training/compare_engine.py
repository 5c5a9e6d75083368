#!/usr/bin/env python3
"""Held-out perplexity of the converted GGUF in the engine, against the training script's.

    python training/compare_engine.py [--run training/out/run] [--gguf RUN/model-i2_s.gguf]
                                      [--text training/out/data/heldout.txt] [-c 256]
                                      [--limit W] [--bitnet target/release/bitnet]

The script's number: the run's checkpoint as exported (train.py's `export_view`, the dtype the
run was told to export), evaluated by train.py's `evaluate` (the perplexity rule in its docs).

The engine's number: `bitnet perplexity -m GGUF -f TEXT -c N` when the binary has that command
(its output is printed and the first number after "perplexity" is taken). Otherwise the same
rule computed here from the engine's logits: each window's ids are evaluated by
`bitnet run --prompt-ids … -n 0 --logits-out` (a fresh context per window, no BOS added beyond
the window's own), and NLL = −log_softmax(logits[i])[ids[i+1]] in float64.

Also prints the largest logit difference between the two on the first windows, and the
token-id agreement of the engine's tokenizer with the HF one (`bitnet tokenize --jsonl`).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export import load_run  # noqa: E402
from train import evaluate, export_view, heldout_windows, load_tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def engine_has_perplexity(bitnet: Path) -> bool:
    r = subprocess.run([str(bitnet), "perplexity", "--help"], capture_output=True, text=True)
    return r.returncode == 0


def engine_ids(bitnet: Path, gguf: Path, text: str) -> list[int]:
    r = subprocess.run([str(bitnet), "tokenize", "-m", str(gguf), "--jsonl", "--add-special"],
                       input=json.dumps({"text": text}) + "\n", capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout.splitlines()[0])["ids"]


def engine_logits(bitnet: Path, gguf: Path, ids: list[int], ctx: int, threads: int
                  ) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "logits.json"
        subprocess.run([str(bitnet), "run", "-m", str(gguf), "-t", str(threads), "-c", str(ctx),
                        "--prompt-ids", ",".join(map(str, ids)), "-n", "0",
                        "--logits-out", str(out)],
                       check=True, capture_output=True, text=True)
        d = json.loads(out.read_text())
    if d["prompt_ids"] != ids:
        raise RuntimeError("the engine evaluated other ids than asked")
    return np.asarray(d["logits"], dtype=np.float32)


def nll_sum(logits: np.ndarray, ids: list[int]) -> tuple[float, int]:
    x = torch.from_numpy(logits[:-1]).double()
    t = torch.tensor(ids[1:])
    return torch.nn.functional.cross_entropy(x, t, reduction="sum").item(), len(ids) - 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=ROOT / "training" / "out" / "run")
    ap.add_argument("--gguf", type=Path, default=None)
    ap.add_argument("--text", type=Path, default=ROOT / "training" / "out" / "data" / "heldout.txt")
    ap.add_argument("-c", "--ctx", type=int, default=None, help="window (default: training ctx)")
    ap.add_argument("--limit", type=int, default=None, help="only the first W windows")
    ap.add_argument("--bitnet", type=Path, default=ROOT / "target" / "release" / "bitnet")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force-logits", action="store_true",
                    help="use --logits-out even when `bitnet perplexity` exists")
    ap.add_argument("--json", type=Path, default=None, help="write the comparison here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    ck = torch.load(args.run / "ckpt.pt", map_location="cpu", weights_only=False)
    tok = load_tokenizer(Path(ck["args"]["tokenizer"]))
    gguf = args.gguf or args.run / "model-i2_s.gguf"
    n = args.ctx or ck["config"]["max_position_embeddings"]
    text = args.text.read_text(encoding="utf-8")
    dtype = torch.bfloat16 if ck["args"].get("export_dtype", "bf16") == "bf16" else torch.float32

    # Tokenizer agreement.
    hf_ids = tok.encode(text).ids
    en_ids = engine_ids(args.bitnet, gguf, text)
    same = hf_ids == en_ids
    print(f"tokens: HF {len(hf_ids)}, engine {len(en_ids)}, identical: {same}")

    windows = heldout_windows(tok, text, n)
    if args.limit:
        windows = windows[:args.limit]
    model = export_view(load_run(args.run), dtype)
    t = time.time()
    script = evaluate(model, windows)
    print(f"script: ppl {script['ppl']:.4f} (nll {script['nll']:.6f}) over {script['windows']} "
          f"windows of {n}, {script['predictions']} predictions ({time.time() - t:.0f} s)")

    result = {"window": n, "windows": script["windows"], "script": script,
              "tokenizers_identical": same}
    use_cli = engine_has_perplexity(args.bitnet) and not args.force_logits and not args.limit
    if use_cli:
        cmd = [str(args.bitnet), "perplexity", "-m", str(gguf), "-f", str(args.text),
               "-c", str(n), "-t", str(args.threads)]
        t = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        print(f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}".rstrip())
        # "perplexity: 231.8604 ± 1.2345 over N predictions (…)"
        m = re.search(r"^perplexity:\s*([0-9]+(?:\.[0-9]+)?)", r.stdout, re.M | re.I)
        if r.returncode != 0 or not m:
            sys.exit("could not read a perplexity from `bitnet perplexity`")
        engine = {"ppl": float(m.group(1)), "how": "bitnet perplexity",
                  "output": r.stdout.strip(), "seconds": time.time() - t}
    else:
        t = time.time()
        total, count, max_diff = 0.0, 0, 0.0
        with torch.no_grad():
            for i, w in enumerate(windows):
                ids = w.tolist()
                lg = engine_logits(args.bitnet, gguf, ids, n, args.threads)
                s, c = nll_sum(lg, ids)
                total += s
                count += c
                if i < 4:
                    ours = model(w[None])[0].numpy()
                    max_diff = max(max_diff, float(np.abs(ours - lg).max()))
        engine = {"ppl": math.exp(total / count), "nll": total / count, "predictions": count,
                  "how": "bitnet run --logits-out per window", "seconds": time.time() - t,
                  "max_abs_logit_diff_first_windows": max_diff}
        print(f"engine: ppl {engine['ppl']:.4f} (nll {engine['nll']:.6f}), {count} predictions "
              f"via --logits-out ({engine['seconds']:.0f} s); max |Δlogit| on the first "
              f"windows {max_diff:.2e}")
    ratio = engine["ppl"] / script["ppl"]
    result |= {"engine": engine, "ratio_engine_over_script": ratio}
    print(f"ratio engine/script: {ratio:.6f} ({(ratio - 1) * 100:+.4f} %)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
