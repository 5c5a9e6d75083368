#!/usr/bin/env bash
# Regenerates tests/fixtures/numpy_ref/: two tiny bitnet-b1.58 models written by PyPI gguf's
# writer (TQ2_0 and TQ1_0 ternary weights) and the NumPy reference logits of a 16-id prompt.
# Needs python3 with numpy and gguf==0.19.0. Takes well under a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fixtures/numpy_ref
prompt="504,39,381,72,101,108,108,111,44,32,300,400,17,256,33,66"
for t in tq2_0 tq1_0; do
  python3 scripts/numpy_ref/make_b158_model.py "$out/b158-tiny-$t.gguf" --seed 0 --wtype "$t"
  python3 scripts/numpy_ref/b158_forward.py "$out/b158-tiny-$t.gguf" --prompt-ids "$prompt" --out "$out/b158-tiny-$t.logits.json"
done
