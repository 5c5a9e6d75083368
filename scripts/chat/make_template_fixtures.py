#!/usr/bin/env python3
"""Render real chat templates with HF transformers, for the chat-template parity test.

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install transformers==4.57.1 jinja2==3.1.6
    /tmp/tfenv/bin/python scripts/chat/make_template_fixtures.py

Reads every template that scripts/test-data/fetch.py put in target/test-data/chat/templates
(llama.cpp's collection, from the llama-cpp-python 0.3.36 sdist) and renders a fixed set of
conversations with transformers' own `render_jinja_template` — the code behind
`apply_chat_template` — at a fixed time (strftime_now is patched), writing one JSON line per
(template, conversation) to tests/fixtures/chat/hf_renders.jsonl: the text, or the error
transformers raised. The Rust test renders the same pairs with minijinja and compares.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(os.environ.get("BITNET_TEST_DATA") or ROOT / "target" / "test-data") / "chat" / "templates"
OUT = ROOT / "tests" / "fixtures" / "chat" / "hf_renders.jsonl"

# The render time every template sees (2026-11-27 00:00:00 UTC); the Rust test uses it too.
NOW_UNIX = 1_795_737_600
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"

CASES = {
    "single_user": ([("user", "Hello, who are you?")], True),
    "system_multi_turn": (
        [
            ("system", "You are a helpful assistant."),
            ("user", "What is 2+2?"),
            ("assistant", "4."),
            ("user", "  And 3+3?  "),
        ],
        True,
    ),
    "no_generation_prompt": ([("user", "Hi"), ("assistant", "Hello! How can I help?")], False),
    "unicode_whitespace": ([("user", "Grüße 👋 — こんにちは\n\n  spaced\t\"quoted\"  ")], True),
    "roles_not_alternating": ([("user", "first"), ("user", "second")], True),
}


def fnv1a64(data: bytes) -> str:
    """FNV-1a, 64 bit: lets the test see that its template is the one rendered here."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main() -> None:
    import transformers
    from transformers.utils import chat_template_utils as ctu

    fixed = datetime.datetime.fromtimestamp(NOW_UNIX, datetime.timezone.utc).replace(tzinfo=None)

    class FixedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: D401 - the one call transformers makes
            return fixed

    ctu.datetime = FixedDatetime  # strftime_now calls datetime.now().strftime(fmt)
    ctu._compile_jinja_template.cache_clear()

    names = sorted(p.name for p in TEMPLATES.glob("*.jinja"))
    if not names:
        sys.exit(f"no templates in {TEMPLATES}: run scripts/test-data/fetch.py first")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    ok = err = 0
    with OUT.open("w", encoding="utf-8") as f:
        for name in names:
            source = (TEMPLATES / name).read_text(encoding="utf-8")
            for case, (pairs, gen) in CASES.items():
                messages = [{"role": r, "content": c} for r, c in pairs]
                row = {
                    "template": name,
                    "template_fnv1a64": fnv1a64(source.encode()),
                    "case": case,
                    "messages": messages,
                    "add_generation_prompt": gen,
                }
                try:
                    rendered, _ = ctu.render_jinja_template(
                        conversations=[messages],
                        chat_template=source,
                        add_generation_prompt=gen,
                        bos_token=BOS,
                        eos_token=EOS,
                    )
                    row["output"] = rendered[0]
                    ok += 1
                except Exception as e:  # transformers raises what the template raises
                    row["error"] = f"{type(e).__name__}: {e}"
                    err += 1
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(
        f"{OUT}: {ok} renders, {err} errors, {len(names)} templates (transformers {transformers.__version__})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
