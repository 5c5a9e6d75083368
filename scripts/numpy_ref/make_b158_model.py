#!/usr/bin/env python3
"""Write a tiny random `bitnet-b1.58` GGUF (the 2B-4T graph at toy size) with gguf's writer,
to exercise scripts/numpy_ref/b158_forward.py (and the Rust engine) without real weights.

    python3 scripts/numpy_ref/make_b158_model.py OUT.gguf [--seed 0] [--wtype tq2_0|tq1_0]
        [--embd f16|f32|q8_0] [--hidden 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512]

Shape defaults: hidden 256, 2 layers, 4 heads (head_dim 64), 2 KV heads, FFN 512, vocab 512
(the vocab and all tokenizer.* keys are copied from models/vocab-tiny.gguf).
Ternary projections are codes in {-1,0,1} times one per-tensor scale (an exactly representable
f16 value, so every TQ block's d equals it and the same weights convert losslessly to I2_S),
quantized with gguf.quants.quantize. Norm weights are F32 around 1; token_embd is F16
[hidden, vocab] (tied LM head, no output.weight), as in the official 2B-4T GGUF.
Deterministic for a given seed.
"""
import argparse
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf.quants import quantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCH = "bitnet-b1.58"


def copy_tokenizer(w, vocab_path):
    r = gguf.GGUFReader(vocab_path)
    n_vocab = None
    for key, f in r.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = f.types[0]
        sub = f.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, f.contents(), vtype, sub)
        if key == "tokenizer.ggml.tokens":
            n_vocab = len(f.contents())
    return n_vocab


def main():
    ap = argparse.ArgumentParser(description="tiny random bitnet-b1.58 GGUF")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab", default=os.path.join(ROOT, "models", "vocab-tiny.gguf"))
    ap.add_argument("--wtype", choices=["tq2_0", "tq1_0"], default="tq2_0")
    ap.add_argument("--embd", choices=["f16", "f32", "q8_0"], default="f16")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--ctx", type=int, default=2048)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    H, F, head_dim = a.hidden, a.ffn, a.hidden // a.heads
    n_kv = a.kv_heads * head_dim
    wtype = {"tq2_0": QT.TQ2_0, "tq1_0": QT.TQ1_0}[a.wtype]
    ftype = {"tq2_0": gguf.LlamaFileType.MOSTLY_TQ2_0, "tq1_0": gguf.LlamaFileType.MOSTLY_TQ1_0}[a.wtype]

    w = gguf.GGUFWriter(a.out, ARCH)
    w.add_name("bitnet-rs tiny random bitnet-b1.58")
    n_vocab = copy_tokenizer(w, a.vocab)
    w.add_vocab_size(n_vocab)
    w.add_context_length(a.ctx)
    w.add_embedding_length(H)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(F)
    w.add_rope_dimension_count(head_dim)
    w.add_head_count(a.heads)
    w.add_head_count_kv(a.kv_heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(500000.0)
    w.add_file_type(int(ftype))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    def ternary(name, n_in, n_out, gain):
        codes = rng.choice(np.array([-1, 0, 1], np.int8), size=(n_out, n_in), p=[0.3, 0.4, 0.3])
        # per-tensor scale: gain / sqrt(E[code^2] * n_in), rounded to an f16-exact value
        scale = float(np.float16(gain / np.sqrt(0.6 * n_in)))
        data = quantize(codes.astype(np.float32) * np.float32(scale), wtype)
        w.add_tensor(name, data, raw_dtype=wtype)

    def norm(name, n):
        w.add_tensor(name, (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32))

    embd = (0.125 * rng.standard_normal((n_vocab, H))).astype(np.float32)   # numpy [vocab, hidden]
    if a.embd == "f16":
        w.add_tensor("token_embd.weight", embd.astype(np.float16))
    elif a.embd == "f32":
        w.add_tensor("token_embd.weight", embd)
    else:
        w.add_tensor("token_embd.weight", quantize(embd, QT.Q8_0), raw_dtype=QT.Q8_0)
    norm("output_norm.weight", H)
    for l in range(a.layers):
        p = f"blk.{l}."
        norm(p + "attn_norm.weight", H)
        ternary(p + "attn_q.weight", H, H, 1.0)
        ternary(p + "attn_k.weight", H, n_kv, 1.0)
        ternary(p + "attn_v.weight", H, n_kv, 1.0)
        norm(p + "attn_sub_norm.weight", H)
        ternary(p + "attn_output.weight", H, H, 0.5)
        norm(p + "ffn_norm.weight", H)
        ternary(p + "ffn_gate.weight", H, F, 1.0)
        ternary(p + "ffn_up.weight", H, F, 1.0)
        norm(p + "ffn_sub_norm.weight", F)
        ternary(p + "ffn_down.weight", F, H, 0.5)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes)")


if __name__ == "__main__":
    main()
