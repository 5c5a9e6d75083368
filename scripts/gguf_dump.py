#!/usr/bin/env python3
"""Dump a GGUF file as JSON using PyPI `gguf` (the upstream reader), for the writer round-trip test.

Usage: gguf_dump.py FILE  ->  {"metadata": {key: {"types": [...], "value": ...}},
                               "tensors": [{"name", "type", "shape", "n_bytes", "sha256"}]}
"""
import hashlib
import json
import sys

from gguf import GGUFReader


def main() -> None:
    r = GGUFReader(sys.argv[1])
    meta = {}
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue  # the reader's synthetic header fields
        value = field.contents()
        if isinstance(value, float):
            value = repr(value)
        meta[name] = {"types": [int(t) for t in field.types], "value": value}
    tensors = []
    for t in r.tensors:
        raw = t.data.tobytes()
        tensors.append({
            "name": t.name,
            "type": int(t.tensor_type),
            "shape": [int(d) for d in t.shape],
            "n_bytes": int(t.n_bytes),
            "sha256": hashlib.sha256(raw).hexdigest(),
        })
    json.dump({"metadata": meta, "tensors": tensors}, sys.stdout)


if __name__ == "__main__":
    main()
