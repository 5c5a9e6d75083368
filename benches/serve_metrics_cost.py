#!/usr/bin/env python3
"""What request metrics cost the server: the same streaming load against `bitnet serve
--metrics on` and `--metrics off`, in one run, rounds alternating between the two servers.

    python3 benches/serve_metrics_cost.py [--model models/bitnet-tiny-synthetic.gguf]
                                          [--rounds 6] [--seconds 5] [--clients 8]

Both servers run the release build with one engine thread and `--parallel CLIENTS`; only one
of them is under load at a time. Prints tokens/s per round and the mean ratio on/off; the
cost is 1 − ratio. Stdlib only. Check that the machine is quiet (`top`) first.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start(model: str, metrics: str, clients: int, cache: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [str(ROOT / "target/release/bitnet"), "serve", "-m", model, "--port", "0", "-t", "1",
         "--parallel", str(clients), "--metrics", metrics],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "XDG_CACHE_HOME": cache})
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("listening on http://"):
            port = int(line.strip().rsplit(":", 1)[1])
            break
    else:
        raise SystemExit("the server exited before listening")
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/health/ready")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("the server never became ready")


def stream_once(port: int, seed: int) -> int:
    body = json.dumps({"prompt": f"Once upon a time {seed}", "max_tokens": 48, "seed": seed,
                       "temperature": 0.8, "stream": True,
                       "stream_options": {"include_usage": True}})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise SystemExit(f"status {r.status}: {r.read()[:200]!r}")
    tokens = 0
    for line in r.read().decode().splitlines():
        if line.startswith("data: {") and '"usage"' in line:
            tokens = json.loads(line[6:])["usage"]["completion_tokens"]
    return tokens


def load(port: int, clients: int, seconds: float) -> float:
    total = [0] * clients
    stop = time.time() + seconds

    def client(i: int) -> None:
        n = 0
        while time.time() < stop:
            n += 1
            total[i] += stream_once(port, 1000 * i + n)

    t0 = time.time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(total) / (time.time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/bitnet-tiny-synthetic.gguf")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-p", "bitnet-server"], cwd=ROOT, check=True)
    cache = tempfile.mkdtemp()
    servers = {m: start(a.model, m, a.clients, cache) for m in ("on", "off")}
    try:
        for m in ("on", "off"):
            load(servers[m][1], a.clients, 1.0)  # warm-up
        rates: dict[str, list[float]] = {"on": [], "off": []}
        print("| round | metrics on t/s | metrics off t/s |\n|---|---|---|")
        for r in range(a.rounds):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            for m in order:
                rates[m].append(load(servers[m][1], a.clients, a.seconds))
            print(f"| {r + 1} | {rates['on'][-1]:.0f} | {rates['off'][-1]:.0f} |")
        on = sum(rates["on"]) / len(rates["on"])
        off = sum(rates["off"]) / len(rates["off"])
        print(f"mean: on {on:.0f} t/s, off {off:.0f} t/s, ratio on/off {on / off:.4f} "
              f"(metrics cost {100 * (1 - on / off):+.2f} %)")
    finally:
        for proc, _ in servers.values():
            proc.kill()


if __name__ == "__main__":
    main()
