#!/usr/bin/env python3
"""Dump a GGUF file as JSON using PyPI `gguf` (the upstream reader), for the writer round-trip test.

Usage: gguf_dump.py FILE  ->  {"metadata": {key: {"types": [...], "value": ...}},
                               "tensors": [{"name", "type", "shape", "n_bytes", "sha256"}]}
"""
import hashlib
import json
import sys

from gguf import GGUFReader, GGUFValueType


def nested_array(parts, i):
    """Decodes the array whose item type sits at parts[i] into nested lists.

    GGUFReader parses nested arrays correctly but flattens them in `contents()`, so the
    structure is rebuilt here from the raw parts: [item type, length, items...].
    """
    itype = int(parts[i][0])
    n = int(parts[i + 1][0])
    i += 2
    out = []
    for _ in range(n):
        if itype == GGUFValueType.ARRAY:
            v, i = nested_array(parts, i)
        elif itype == GGUFValueType.STRING:
            v = bytes(parts[i + 1]).decode("utf-8")
            i += 2
        else:
            v = parts[i].tolist()[0]
            i += 1
        out.append(v)
    return out, i


def main() -> None:
    r = GGUFReader(sys.argv[1])
    meta = {}
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue  # the reader's synthetic header fields
        if len(field.types) > 1 and field.types[1] == GGUFValueType.ARRAY:
            # parts: key length, key, value type, then the array itself
            value, _ = nested_array(field.parts, 3)
        else:
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
