#!/usr/bin/env python3
"""Write a tiny, deterministic llama.cpp `bitnet`-architecture model as an F16 GGUF.

Shape: 2 layers, hidden 256, 4 heads (head_dim 64), 2 KV heads (GQA), FFN 512,
vocab 512, context 256, rope freq_base 10000 (NEOX, implied by the arch), rms eps 1e-5.

* Every linear weight (attn_q/k/v/output, ffn_gate/up/down) is exactly
  ternary {-1,0,+1} (about 1/3 zeros) times a per-tensor scale k/256 that is exact
  in f16, stored as F16. So TQ1_0/TQ2_0 quantization by llama.cpp is lossless
  (per-block d = max|w| = the scale; q = round(w/d)).
* Optional `blk.N.<tensor>.scale` F32 [1] multipliers on some tensors (1.25/0.75):
  llama.cpp multiplies the matmul output by them.
* Norm weights F32, 1 + 0.1*N(0,1). token_embd F16, 0.25*N(0,1) (also the LM head).
* Tokenizer: every `tokenizer.ggml.*` key copied from --vocab (models/vocab-tiny.gguf).

Usage: make_tiny_bitnet.py --vocab models/vocab-tiny.gguf --out tiny-bitnet-f16.gguf
       make_tiny_bitnet.py --vocab models/vocab-tiny.gguf --prompt-ids
         prints the fixture prompt: the vocab's BOS id, then 15 ids drawn by a seeded
         RNG from the non-special tokens (token_type 1 = normal, 6 = byte).
Requires numpy and gguf (PyPI gguf 0.19). Output is byte-for-byte deterministic.
"""

import argparse
import sys

import numpy as np
import gguf

ARCH = "bitnet"
N_LAYER = 2
N_EMBD = 256
N_HEAD = 4
N_HEAD_KV = 2
HEAD_DIM = N_EMBD // N_HEAD
N_FF = 512
N_VOCAB = 512
N_CTX = 256
ROPE_BASE = 10000.0
RMS_EPS = 1e-5
SEED = 20260501
PROMPT_SEED = 7
PROMPT_LEN = 16
EMBD_STD = 0.25

# per-tensor ternary scale = K/256 (exact in f16); layer il uses K + il
SCALE_K = {
    "attn_q": 24,       # 3/32: q,k of std ~1.2 -> attention scores with some spread
    "attn_k": 24,
    "attn_v": 16,
    "attn_output": 32,  # o and down outputs dominate the residual stream over the
                        # embedding, so the tied LM head does not just echo the input token
    "ffn_gate": 16,
    "ffn_up": 16,
    "ffn_down": 24,
}

# optional graph-level multipliers blk.N.<name>.scale (F32, shape [1])
EXTRA_SCALES = {
    (0, "attn_q"): 1.25,
    (0, "attn_k"): 1.25,
    (0, "ffn_up"): 0.75,
    (0, "ffn_down"): 1.25,
    (1, "attn_v"): 0.75,
    (1, "attn_output"): 1.25,
    (1, "ffn_gate"): 1.25,
    (1, "ffn_down"): 0.75,
}

# (name, n_out, n_in); numpy shape (n_out, n_in) == ggml ne [n_in, n_out]
LINEARS = [
    ("attn_q", N_EMBD, N_EMBD),
    ("attn_k", N_HEAD_KV * HEAD_DIM, N_EMBD),
    ("attn_v", N_HEAD_KV * HEAD_DIM, N_EMBD),
    ("attn_output", N_EMBD, N_EMBD),
    ("ffn_gate", N_FF, N_EMBD),
    ("ffn_up", N_FF, N_EMBD),
    ("ffn_down", N_EMBD, N_FF),
]


def copy_tokenizer(writer: gguf.GGUFWriter, vocab_path: str) -> int:
    reader = gguf.GGUFReader(vocab_path)
    n_tokens = None
    for field in reader.fields.values():
        if not field.name.startswith("tokenizer.ggml."):
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub_type)
        if field.name == "tokenizer.ggml.tokens":
            n_tokens = len(field.contents())
    if n_tokens != N_VOCAB:
        sys.exit(f"{vocab_path}: expected {N_VOCAB} tokens, found {n_tokens}")
    return n_tokens


def prompt_ids(vocab_path: str) -> list:
    reader = gguf.GGUFReader(vocab_path)
    bos = int(reader.fields["tokenizer.ggml.bos_token_id"].contents())
    field = reader.fields.get("tokenizer.ggml.token_type")
    types = field.contents() if field else [1] * N_VOCAB
    normal = [i for i, t in enumerate(types) if t in (1, 6) and i != bos]
    rng = np.random.default_rng(PROMPT_SEED)
    return [bos] + [int(normal[i]) for i in rng.choice(len(normal), PROMPT_LEN - 1, replace=False)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", required=True, help="GGUF with the tokenizer.ggml.* keys (512 tokens)")
    ap.add_argument("--out", help="output GGUF path")
    ap.add_argument("--prompt-ids", action="store_true", help="print the fixture prompt ids and exit")
    args = ap.parse_args()
    if args.prompt_ids:
        print(" ".join(str(i) for i in prompt_ids(args.vocab)))
        return
    if not args.out:
        ap.error("--out is required")

    rng = np.random.default_rng(SEED)

    w = gguf.GGUFWriter(args.out, ARCH)
    w.add_name("tiny-bitnet")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_vocab_size(N_VOCAB)
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(ROPE_BASE)
    w.add_layer_norm_rms_eps(RMS_EPS)
    copy_tokenizer(w, args.vocab)

    def norm(n: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    embd = (EMBD_STD * rng.standard_normal((N_VOCAB, N_EMBD))).astype(np.float16)
    w.add_tensor("token_embd.weight", embd)

    for il in range(N_LAYER):
        p = f"blk.{il}."
        w.add_tensor(p + "attn_norm.weight", norm(N_EMBD))
        w.add_tensor(p + "attn_sub_norm.weight", norm(N_EMBD))
        w.add_tensor(p + "ffn_norm.weight", norm(N_EMBD))
        w.add_tensor(p + "ffn_sub_norm.weight", norm(N_FF))
        for name, n_out, n_in in LINEARS:
            tern = rng.integers(-1, 2, size=(n_out, n_in)).astype(np.float32)  # {-1,0,1}, 1/3 each
            scale = np.float32((SCALE_K[name] + il) / 256.0)
            wt = (tern * scale).astype(np.float16)
            assert np.array_equal(wt.astype(np.float32), tern * scale)  # exact
            w.add_tensor(p + name + ".weight", wt)
            if (il, name) in EXTRA_SCALES:
                w.add_tensor(p + name + ".scale", np.array([EXTRA_SCALES[(il, name)]], dtype=np.float32))

    w.add_tensor("output_norm.weight", norm(N_EMBD))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
