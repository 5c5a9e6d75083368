#!/usr/bin/env bash
# On a CUDA host: builds, runs the CUDA backend's tests (a missing driver or NVRTC is a failure
# here, not a skip), then benchmarks a synthetic model of BitNet b1.58 2B-4T's shape on the GPU
# and prints prefill and decode tokens/s. Everything runs within 8 minutes (GPU_CHECK_BUDGET).
#
#   scripts/gpu-check.sh
#
# Needs: an NVIDIA driver (libcuda), NVRTC (the CUDA toolkit, or
# `pip install nvidia-cuda-nvrtc-cu12` with its nvidia/cuda_nvrtc/lib directory on
# LD_LIBRARY_PATH; found and added here when pip has it), and cargo with the crates fetched.
# Optional environment:
#   DEVICE=cuda:0          the device to benchmark
#   SHAPE=2b4t             the synthetic model's shape (tiny for a quick run)
#   GPU_CHECK_BUDGET=480   seconds for the whole check
#   BITNET_BIN, SUITE_BIN  prebuilt `bitnet` and test-suite binaries (release profile): the
#                          build is skipped, for a host without the crates
set -euo pipefail
cd "$(dirname "$0")/.."

device="${DEVICE:-cuda:0}"
shape="${SHAPE:-2b4t}"
budget="${GPU_CHECK_BUDGET:-480}"
start=$SECONDS
left() { echo $((budget - (SECONDS - start))); }
step() { printf '\n== %s (%ss left)\n' "$1" "$(left)"; }
# Runs "$@" within the time left, failing the check when it runs out.
timed() {
    local t
    t=$(left)
    if [ "$t" -le 0 ]; then
        echo "gpu-check: out of time (budget ${budget}s)" >&2
        exit 124
    fi
    timeout --kill-after=5 "$t" "$@"
}

step "device"
nvidia-smi --query-gpu=name,compute_cap,memory.total,memory.used,driver_version --format=csv 2>/dev/null \
    || echo "nvidia-smi not found (the driver check below decides)"
# NVRTC from pip, when that is where it is.
if nvrtc_site="$(python3 -m pip show nvidia-cuda-nvrtc-cu12 2>/dev/null | sed -n 's/^Location: //p')" \
    && [ -n "$nvrtc_site" ] && [ -d "$nvrtc_site/nvidia/cuda_nvrtc/lib" ]; then
    export LD_LIBRARY_PATH="$nvrtc_site/nvidia/cuda_nvrtc/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "NVRTC from pip: $nvrtc_site/nvidia/cuda_nvrtc/lib"
fi
export BITNET_REQUIRE_CUDA=1 BITNET_REQUIRE_NVRTC=1
# Kernels are compiled once and kept in the PTX cache; a scratch cache shows the compile cost.
cache="$(mktemp -d)"
trap 'rm -rf "$cache"' EXIT
export XDG_CACHE_HOME="$cache/cache"

if [ -n "${BITNET_BIN:-}" ] && [ -n "${SUITE_BIN:-}" ]; then
    bitnet="$BITNET_BIN"
    suite="$SUITE_BIN"
else
    step "build (release)"
    timed cargo build --release -p bitnet-server
    # The test suite binary's path, from cargo's JSON messages.
    suite="$(timed cargo test --release -p bitnet-tests --test suite --no-run --message-format=json \
        | sed -n 's/.*"executable":"\([^"]*suite[^"]*\)".*/\1/p' | tail -n 1)"
    bitnet="target/release/bitnet"
fi
[ -x "$suite" ] || { echo "gpu-check: no test-suite binary ($suite)" >&2; exit 1; }

step "CUDA tests"
timed "$suite" cuda_backend --test-threads=4
if [ -z "${BITNET_BIN:-}" ]; then
    timed cargo test --release -p bitnet-engine --lib -- cuda device::
fi

step "devices"
timed "$bitnet" devices

step "synthetic $shape model"
model="$cache/$shape.gguf"
timed "$bitnet" synth --shape "$shape" -o "$model"

step "bench on $device"
bench_log="$cache/bench.txt"
timed "$bitnet" bench -m "$model" --device "$device" -p 128 -n 64 -r 3 | tee "$bench_log"
# Rows look like: | model | size | backend | threads | lm head | pp128 | 1234.56 ± 7.89 |
rate() { awk -F'|' -v t="$1" '$7 ~ t { gsub(/ /, "", $8); split($8, v, "±"); print v[1] }' "$bench_log"; }
prefill="$(rate pp128)"
decode="$(rate tg64)"
[ -n "$prefill" ] && [ -n "$decode" ] || { echo "gpu-check: no pp128/tg64 rows in the bench output" >&2; exit 1; }
printf '\ngpu-check: %s on %s: prefill %s tok/s (pp128), decode %s tok/s (tg64), in %ss\n' \
    "$shape" "$device" "$prefill" "$decode" "$((SECONDS - start))"
