#!/usr/bin/env bash
# Regenerate the llama.cpp reference fixtures in tests/fixtures/llamacpp/.
#
# Makes:
#   tiny-bitnet-f16.gguf     tiny `bitnet`-arch model (2 layers, hidden 256, 4 heads / 2 KV
#                            heads, FFN 512, vocab 512), exactly-ternary F16 linear weights,
#                            made by make_tiny_bitnet.py (tokenizer keys from models/vocab-tiny.gguf)
#   tiny-bitnet-tq2_0.gguf   the same, quantized by llama.cpp (LLAMA_FTYPE_MOSTLY_TQ2_0 = 37)
#   tiny-bitnet-tq1_0.gguf   the same, quantized by llama.cpp (LLAMA_FTYPE_MOSTLY_TQ1_0 = 36)
#   <each>.logits.json       llama.cpp logits (CPU, F32 KV cache, no flash attention, 2 threads):
#                            a 16-id prompt in one batch (all positions), then 8 teacher-forced
#                            greedy steps. Format: see llamacpp_ref.cpp.
# then runs check_fixtures.py (structure, numpy forward vs F16 dump, F16 vs TQ agreement).
#
# Reference engine: llama.cpp commit 0c1e570 as vendored in the llama-cpp-python 0.3.36 sdist
# (PyPI, 76.6 MB, sha256 pinned below). Only the `llama` shared library is built (no
# common/tools), plus our 150-line driver llamacpp_ref.cpp.
#
# Needs: python3 with numpy and gguf==0.19.0, cmake >= 3.21 (pip install cmake ninja works),
# g++, network access to pypi.org / files.pythonhosted.org (unless LLAMA_CPP_DIR is set),
# and models/vocab-tiny.gguf in the repo.
#
# Time: about 3 min download (76.6 MB) + 15-25 min to build libllama on 2 idle cores (hours on
# a 2-core machine shared with other builds: ggml-cpu and the unity-built llama src are
# most of it) + under a minute for generate/quantize/dump/check. Re-runs reuse $WORK_DIR.
#
# Environment:
#   WORK_DIR       scratch dir for sdist and build   (default /tmp/bitnet-llamacpp-ref)
#   LLAMA_CPP_DIR  an already unpacked llama.cpp tree (e.g. <sdist>/vendor/llama.cpp): skips the download
#   OUT_DIR        where the fixtures go              (default tests/fixtures/llamacpp)
#   JOBS           build parallelism                  (default 2)
#   BUILD_DIR      cmake build dir, reused if configured (default $WORK_DIR/build)
#   VOCAB          tokenizer source                   (default models/vocab-tiny.gguf)
#
# Why not `pip download llama-cpp-python==0.3.36 --no-binary :all:`: pip fetches the sdist and
# then hangs preparing its metadata here, with or without --no-build-isolation. The script
# reads the sdist URL from PyPI's simple index (what pip itself reads) and checks the sha256.
#
# GGML_NATIVE=ON: the build uses the host's SIMD (AVX2/AVX512 ...). Logits from another CPU
# differ in float summation order only (~1e-6 relative); the fixtures were made on an x86-64
# with AVX512.
set -euo pipefail

VERSION=0.3.36
SDIST=llama_cpp_python-$VERSION.tar.gz
SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
LLAMA_COMMIT=0c1e570

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK_DIR="${WORK_DIR:-/tmp/bitnet-llamacpp-ref}"
OUT_DIR="${OUT_DIR:-$ROOT/tests/fixtures/llamacpp}"
VOCAB="${VOCAB:-$ROOT/models/vocab-tiny.gguf}"
JOBS="${JOBS:-2}"
mkdir -p "$WORK_DIR" "$OUT_DIR"
START=$(date +%s)
log() { echo "[regenerate $(( $(date +%s) - START ))s] $*" >&2; }

[ -f "$VOCAB" ] || { echo "missing $VOCAB (the 512-token vocab the model takes its tokenizer from)" >&2; exit 1; }
python3 -c 'import numpy, gguf' || { echo "need: pip install numpy gguf==0.19.0" >&2; exit 1; }

# 1. llama.cpp source
if [ -z "${LLAMA_CPP_DIR:-}" ]; then
    if [ ! -f "$WORK_DIR/$SDIST" ]; then
        log "downloading $SDIST"
        python3 - "$WORK_DIR/$SDIST" "$SDIST_SHA256" <<'EOF'
import hashlib, re, sys, urllib.request
out, want = sys.argv[1], sys.argv[2]
index = urllib.request.urlopen("https://pypi.org/simple/llama-cpp-python/", timeout=120).read().decode()
name = out.rsplit("/", 1)[-1]
url = re.search(r'href="([^"#]*/' + re.escape(name) + r')(#[^"]*)?"', index).group(1)
data = urllib.request.urlopen(url, timeout=1800).read()
got = hashlib.sha256(data).hexdigest()
if got != want:
    sys.exit(f"sha256 mismatch for {url}: {got}")
open(out + ".part", "wb").write(data)
import os; os.replace(out + ".part", out)
EOF
    fi
    if [ ! -d "$WORK_DIR/llama_cpp_python-$VERSION" ] && [ ! -d "$WORK_DIR/llama-cpp-python-$VERSION" ]; then
        log "unpacking"
        tar -xzf "$WORK_DIR/$SDIST" -C "$WORK_DIR"
    fi
    LLAMA_CPP_DIR="$(ls -d "$WORK_DIR"/llama[_-]cpp[_-]python-$VERSION/vendor/llama.cpp | head -1)"
fi
[ -f "$LLAMA_CPP_DIR/include/llama.h" ] || { echo "no llama.cpp at $LLAMA_CPP_DIR" >&2; exit 1; }

# 2. build libllama (shared) only
BUILD="${BUILD_DIR:-$WORK_DIR/build}"
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    log "configuring llama.cpp"
    cmake -S "$LLAMA_CPP_DIR" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF >&2
fi
log "building libllama (slow: ~15-25 min on 2 cores the first time)"
cmake --build "$BUILD" --target llama -j "$JOBS" >&2

# 3. our driver
TOOL="$WORK_DIR/llamacpp_ref"
log "compiling llamacpp_ref"
g++ -O2 -std=c++17 "$HERE/llamacpp_ref.cpp" -I"$LLAMA_CPP_DIR/include" -I"$LLAMA_CPP_DIR/ggml/include" \
    -L"$BUILD/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$BUILD/bin" -o "$TOOL"

COMMIT="$LLAMA_COMMIT"
if git -C "$LLAMA_CPP_DIR" rev-parse --short=7 HEAD >/dev/null 2>&1; then
    COMMIT="$(git -C "$LLAMA_CPP_DIR" rev-parse --short=7 HEAD)"
fi
LABEL="llama.cpp $COMMIT (llama-cpp-python $VERSION sdist), CPU"

# 4. model, quantized models, dumps
NAME=tiny-bitnet
log "generating $NAME-f16.gguf"
python3 "$HERE/make_tiny_bitnet.py" --vocab "$VOCAB" --out "$OUT_DIR/$NAME-f16.gguf"
log "quantizing"
"$TOOL" quantize "$OUT_DIR/$NAME-f16.gguf" "$OUT_DIR/$NAME-tq2_0.gguf" 37 2> "$WORK_DIR/quantize-tq2_0.log"
"$TOOL" quantize "$OUT_DIR/$NAME-f16.gguf" "$OUT_DIR/$NAME-tq1_0.gguf" 36 2> "$WORK_DIR/quantize-tq1_0.log"
grep -hE "^\[ *[0-9]+/ *[0-9]+\]" "$WORK_DIR"/quantize-tq*.log | sed 's/, *size = .*//' >&2 || true

read -r -a PROMPT <<< "$(python3 "$HERE/make_tiny_bitnet.py" --vocab "$VOCAB" --prompt-ids)"
for q in f16 tq2_0 tq1_0; do
    log "dumping logits for $NAME-$q"
    "$TOOL" dump "$OUT_DIR/$NAME-$q.gguf" "$OUT_DIR/$NAME-$q.logits.json" "$LABEL" 8 "${PROMPT[@]}" \
        2> "$WORK_DIR/dump-$q.log"
done

# 5. checks
python3 "$HERE/check_fixtures.py" "$OUT_DIR"
ls -l "$OUT_DIR" >&2
log "done"
