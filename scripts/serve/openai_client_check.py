#!/usr/bin/env python3
"""The official `openai` package, unmodified, against a running `bitnet serve`.

    python3 scripts/serve/openai_client_check.py http://127.0.0.1:8080/v1 MODEL_NAME [API_KEY]

Runs a completion, a chat completion and a streamed chat completion with
`stream_options={"include_usage": True}`; each must return text and token usage. Prints one
line per call and exits non-zero on the first failure (the Rust test in
server/tests/serve.rs runs it in CI).
"""

import sys

import openai


def main() -> None:
    base, model = sys.argv[1], sys.argv[2]
    key = sys.argv[3] if len(sys.argv) > 3 else "none"
    client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=60)

    c = client.completions.create(model=model, prompt="Once upon a time", max_tokens=8,
                                  temperature=0)
    text = c.choices[0].text
    assert c.usage.completion_tokens > 0 and c.usage.prompt_tokens > 0, c
    assert c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens, c
    assert c.choices[0].finish_reason in ("stop", "length"), c
    print(f"completion: {len(text)} chars, usage {c.usage.model_dump()}")

    r = client.chat.completions.create(model=model, max_tokens=8, temperature=0,
                                       messages=[{"role": "user", "content": "Hello!"}])
    assert r.choices[0].message.role == "assistant", r
    assert r.usage.completion_tokens > 0, r
    print(f"chat: {len(r.choices[0].message.content or '')} chars, usage {r.usage.model_dump()}")

    stream = client.chat.completions.create(
        model=model, max_tokens=8, temperature=0, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Hello!"}])
    parts, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for ch in chunk.choices:
            if ch.delta.content:
                parts.append(ch.delta.content)
            finish = ch.finish_reason or finish
    assert usage is not None and usage.completion_tokens > 0, usage
    assert finish in ("stop", "length"), finish
    assert usage.completion_tokens == r.usage.completion_tokens, (usage, r.usage)
    print(f"streamed chat: {len(parts)} chunks, usage {usage.model_dump()}")


if __name__ == "__main__":
    main()
