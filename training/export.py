#!/usr/bin/env python3
"""Export a trained checkpoint to the Hugging Face layout `bitnet convert` reads, and convert it.

    python training/export.py [--run training/out/run] [--out RUN/hf/NAME]
                              [--dtype bf16|f32] [--gguf training/out/model-i2_s.gguf]
                              [--bitnet target/release/bitnet]

Writes the layout of microsoft/bitnet-b1.58-2B-4T's bf16 master-weight variant (the converter
ternarizes float projections by absmean, engine/src/convert/hf):

  config.json              BitNetForCausalLM, hidden_act relu2 (→ GGUF arch bitnet-b1.58),
                           tie_word_embeddings true (no lm_head: token_embd is the LM head)
  model.safetensors        model.embed_tokens.weight [vocab, d], model.norm.weight,
                           model.layers.N.{input_layernorm, post_attention_layernorm,
                           self_attn.attn_sub_norm, mlp.ffn_sub_norm}.weight,
                           model.layers.N.self_attn.{q,k,v,o}_proj.weight,
                           model.layers.N.mlp.{gate,up,down}_proj.weight ([out, in]), all --dtype
  tokenizer.json, tokenizer_config.json   copied from the tokenizer folder; the config gets
                                         CHAT_TEMPLATE (a plain User:/Assistant: format: the
                                         model is not chat-tuned, but `bitnet chat` and the
                                         chat endpoint can run it)

Then runs `bitnet convert HF GGUF` (I2_S projections, F16 embedding) unless --no-convert, and
prints the GGUF's size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import BitNet, Config  # noqa: E402

# Turns as paragraphs, as the training text has them; an assistant turn ends with EOS.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] | trim }}\n\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] | trim }}\n\n"
    "{% elif m['role'] == 'assistant' %}Assistant: {{ m['content'] | trim }}{{ eos_token }}\n\n"
    "{% else %}{{ raise_exception('no role ' ~ m['role'] ~ ' in this chat format') }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

ROOT = Path(__file__).resolve().parents[1]
MAX_GGUF_BYTES = 20 * 1000 * 1000


def load_run(run: Path) -> BitNet:
    ck = torch.load(run / "ckpt.pt", map_location="cpu", weights_only=False)
    model = BitNet(Config(**ck["config"]))
    model.load_state_dict(ck["model"])
    return model


def hf_config(cfg: Config, dtype: str) -> dict:
    return {
        "architectures": ["BitNetForCausalLM"],
        "model_type": "bitnet",
        "hidden_act": "relu2",
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "vocab_size": cfg.vocab_size,
        "max_position_embeddings": cfg.max_position_embeddings,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "tie_word_embeddings": True,
        "bos_token_id": cfg.bos_token_id,
        "eos_token_id": cfg.eos_token_id,
        "torch_dtype": "bfloat16" if dtype == "bf16" else "float32",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=ROOT / "training" / "out" / "run")
    ap.add_argument("--tokenizer-dir", type=Path, default=None,
                    help="folder with tokenizer.json (default: the one the run used)")
    ap.add_argument("--out", type=Path, default=None,
                    help="HF folder (default: RUN/hf/NAME; its name becomes general.name)")
    ap.add_argument("--name", default="bitnet-b1.58-tiny-austen",
                    help="model name (the HF folder's name, written as general.name)")
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    ap.add_argument("--gguf", type=Path, default=None, help="GGUF path (default: RUN/model-i2_s.gguf)")
    ap.add_argument("--bitnet", type=Path, default=ROOT / "target" / "release" / "bitnet")
    ap.add_argument("--no-convert", action="store_true")
    args = ap.parse_args()

    run = args.run
    out = args.out or run / "hf" / args.name
    gguf = args.gguf or run / "model-i2_s.gguf"
    ck = torch.load(run / "ckpt.pt", map_location="cpu", weights_only=False)
    tok_dir = args.tokenizer_dir or Path(ck["args"]["tokenizer"]).parent
    model = load_run(run)
    cfg = model.cfg

    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    tensors = {k: v.to(dtype).contiguous() for k, v in model.hf_state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_config(cfg, args.dtype), indent=2) + "\n")
    shutil.copy(tok_dir / "tokenizer.json", out / "tokenizer.json")
    tok_config = json.loads((tok_dir / "tokenizer_config.json").read_text())
    tok_config["chat_template"] = CHAT_TEMPLATE
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n")
    print(f"wrote {out}: {len(tensors)} tensors ({args.dtype})")

    if args.no_convert:
        return
    if not args.bitnet.is_file():
        sys.exit(f"{args.bitnet} not found: build it with `cargo build --release -p bitnet-server`")
    subprocess.run([str(args.bitnet), "convert", str(out), str(gguf)], check=True)
    size = gguf.stat().st_size
    verdict = "within" if size <= MAX_GGUF_BYTES else "OVER"
    print(f"{gguf}: {size} bytes ({size / 1e6:.2f} MB), {verdict} the 20 MB limit")
    if size > MAX_GGUF_BYTES:
        sys.exit(1)


if __name__ == "__main__":
    main()
