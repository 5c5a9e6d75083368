#!/usr/bin/env python3
"""NumPy reference (oracle) forward pass of the `bitnet-b1.58` graph (BitNet b1.58 2B-4T).

    python3 scripts/numpy_ref/b158_forward.py MODEL.gguf --prompt-ids 1,2,3 --out logits.json
        [--incremental]   run one position at a time through a KV cache instead of one batch

Writes {"prompt_ids": [...], "logits": [[n_vocab floats] for every prompt position]}
(float32 values written exactly, as the nearest double).

Graph (specs/formats-and-models.md §3, "Forward pass per layer"), per layer:
  h = rmsnorm(x)*attn_norm; q,k,v = Wq h, Wk h, Wv h; NEOX RoPE on q,k; causal GQA attention
  (scale 1/sqrt(head_dim), q head j uses kv head j // (n_head/n_head_kv));
  o = rmsnorm(attn)*attn_sub_norm; x += Wo o;
  h = rmsnorm(x)*ffn_norm; f = relu(Wgate h)^2 * (Wup h); f = rmsnorm(f)*ffn_sub_norm; x += Wdown f
then rmsnorm(x)*output_norm and logits = (output.weight or token_embd) . h.

Ternary weights (TQ1_0 / TQ2_0: codes in {-1,0,1} and an f16 scale d per 256-weight block)
use the per-token int8 activation quantization of spec §2:
  max = max(1e-5, max|x|) (float64), s = float32(127/max), q = rint_half_even(float32(x*s))
  clamped to [-128,127]; y = sum_blocks float32(float32(dot_block)/s * d_block), every term
  in float32, the block terms summed exactly and rounded once to float32.
Every other weight type gguf can dequantize (F32, F16, Q8_0, ...) is a plain float matmul.
Numerics rule elsewhere: tensors are float32 between ops; each op's reductions (matmul,
mean of squares, softmax sum) are done in float64 and rounded to float32 once.
Not supported: I2_S/TL1/TL2 (gguf's reader cannot read bitnet.cpp's types 36/38/39).
"""
import argparse
import json
import math

import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader
from gguf.quants import dequantize

F32, F64 = np.float32, np.float64
TERNARY = (QT.TQ1_0, QT.TQ2_0)


class Linear:
    """y = W x for x of shape [n_tokens, in]; W stored as ggml [ne0=in, ne1=out]."""

    def __init__(self, t):
        self.qtype = QT(t.tensor_type)
        w = dequantize(t.data, self.qtype).astype(F32)            # [out, in]
        self.shape = w.shape
        if self.qtype in TERNARY:
            out, k = w.shape
            assert k % 256 == 0, (t.name, w.shape)
            nb = k // 256
            raw = np.ascontiguousarray(t.data).view(np.uint8).reshape(out, nb, -1)
            self.d = raw[:, :, -2:].copy().view(np.float16).reshape(out, nb).astype(F32)
            wb = w.reshape(out, nb, 256)
            dd = self.d[:, :, None]
            codes = np.where(dd != 0, np.rint(wb / np.where(dd != 0, dd, 1)), 0)
            assert np.all(np.abs(codes) <= 1) and np.array_equal(codes * dd, wb), t.name
            self.codes = codes.astype(np.int64)                    # [out, nb, 256]
        else:
            self.w = w

    def __call__(self, x):
        x = x.astype(F32)
        if self.qtype not in TERNARY:
            return (x.astype(F64) @ self.w.astype(F64).T).astype(F32)
        n = x.shape[0]
        amax = np.maximum(1e-5, np.abs(x.astype(F64)).max(axis=1))           # [n] float64
        s = (127.0 / amax).astype(F32)                                        # [n] float32
        q = np.clip(np.rint(x * s[:, None]), -128, 127).astype(np.int64)      # x*s in float32
        q = q.reshape(n, -1, 256)                                             # [n, nb, 256]
        dot = np.einsum("tbk,obk->tob", q, self.codes)                        # exact int64
        terms = (dot.astype(F32) / s[:, None, None]) * self.d[None]           # float32 terms
        return terms.astype(F64).sum(axis=2).astype(F32)                      # [n, out]


def rmsnorm(x, w, eps):
    ms = np.mean(np.square(x.astype(F64)), axis=-1, keepdims=True)
    scale = (1.0 / np.sqrt(ms + eps)).astype(F32)
    return (x * scale) * w


class Model:
    def __init__(self, path):
        r = GGUFReader(path)
        self.meta = {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}
        arch = self.meta["general.architecture"]
        hp = lambda key, default=None: self.meta.get(f"{arch}.{key}", default)
        self.n_embd = int(hp("embedding_length"))
        self.n_layer = int(hp("block_count"))
        self.n_ff = int(hp("feed_forward_length"))
        self.n_head = int(hp("attention.head_count"))
        self.n_head_kv = int(hp("attention.head_count_kv", self.n_head))
        self.eps = float(hp("attention.layer_norm_rms_epsilon"))
        self.theta = float(hp("rope.freq_base", 10000.0))
        self.head_dim = self.n_embd // self.n_head
        self.n_rot = int(hp("rope.dimension_count", self.head_dim))
        t = {x.name: x for x in r.tensors}
        self.lin = {n: Linear(x) for n, x in t.items()
                    if len(x.shape) == 2 and n.startswith("blk.")}
        self.norm = {n: dequantize(x.data, QT(x.tensor_type)).astype(F32).reshape(-1)
                     for n, x in t.items() if len(x.shape) == 1}
        self.embd = dequantize(t["token_embd.weight"].data,
                               QT(t["token_embd.weight"].tensor_type)).astype(F32)  # [vocab, hidden]
        self.n_vocab = self.embd.shape[0]
        self.head = (dequantize(t["output.weight"].data, QT(t["output.weight"].tensor_type)).astype(F32)
                     if "output.weight" in t else self.embd)
        assert self.embd.shape == (self.n_vocab, self.n_embd)

    def rope(self, x, pos):
        """NEOX: rotate dim i with i + n_rot/2, angle pos * theta^(-2i/n_rot). x [n, heads, hd]."""
        half = self.n_rot // 2
        i = np.arange(half, dtype=F64)
        ang = pos[:, None].astype(F64) * self.theta ** (-2.0 * i / self.n_rot)   # [n, half]
        cos = np.cos(ang).astype(F32)[:, None, :]
        sin = np.sin(ang).astype(F32)[:, None, :]
        x0, x1 = x[..., :half], x[..., half:self.n_rot]
        out = x.copy()
        out[..., :half] = x0 * cos - x1 * sin
        out[..., half:self.n_rot] = x0 * sin + x1 * cos
        return out

    def attention(self, q, k, v, pos_q):
        """q [n, H, hd]; k, v [T, Hkv, hd] (the whole cache); causal on absolute positions."""
        group = self.n_head // self.n_head_kv
        T = k.shape[0]
        out = np.empty(q.shape, dtype=F32)
        scale = 1.0 / math.sqrt(self.head_dim)
        for h in range(self.n_head):
            kh, vh = k[:, h // group].astype(F64), v[:, h // group].astype(F64)
            for i, p in enumerate(pos_q):
                sc = (kh[:p + 1] @ q[i, h].astype(F64)).astype(F32) * F32(scale)   # [p+1]
                e = np.exp(sc.astype(F64) - sc.max())
                prob = (e / e.sum()).astype(F32)
                out[i, h] = (prob.astype(F64) @ vh[:p + 1]).astype(F32)
        assert T >= pos_q[-1] + 1
        return out

    def forward(self, ids, cache):
        """ids: new tokens; cache: list of per-layer [K, V] (appended to). Returns logits [n, vocab]."""
        n, hd = len(ids), self.head_dim
        pos = np.arange(n) + (cache[0][0].shape[0] if cache else 0)
        if not cache:
            cache.extend([np.zeros((0, self.n_head_kv, hd), F32)] * 2 for _ in range(self.n_layer))
        x = self.embd[np.asarray(ids)]
        for l in range(self.n_layer):
            L = lambda name: self.lin[f"blk.{l}.{name}.weight"]
            N = lambda name: self.norm[f"blk.{l}.{name}.weight"]
            h = rmsnorm(x, N("attn_norm"), self.eps)
            q = self.rope(L("attn_q")(h).reshape(n, self.n_head, hd), pos)
            k = self.rope(L("attn_k")(h).reshape(n, self.n_head_kv, hd), pos)
            v = L("attn_v")(h).reshape(n, self.n_head_kv, hd)
            cache[l][0] = np.concatenate([cache[l][0], k])
            cache[l][1] = np.concatenate([cache[l][1], v])
            a = self.attention(q, cache[l][0], cache[l][1], pos).reshape(n, self.n_embd)
            x = x + L("attn_output")(rmsnorm(a, N("attn_sub_norm"), self.eps))
            h = rmsnorm(x, N("ffn_norm"), self.eps)
            f = np.square(np.maximum(L("ffn_gate")(h), F32(0))) * L("ffn_up")(h)
            x = x + L("ffn_down")(rmsnorm(f, N("ffn_sub_norm"), self.eps))
        h = rmsnorm(x, self.norm["output_norm.weight"], self.eps)
        return (h.astype(F64) @ self.head.astype(F64).T).astype(F32)


def run(model, ids, incremental=False):
    cache = []
    if not incremental:
        return model.forward(ids, cache)
    return np.concatenate([model.forward([t], cache) for t in ids])


def main():
    ap = argparse.ArgumentParser(description="NumPy reference forward pass for bitnet-b1.58 GGUFs")
    ap.add_argument("model")
    ap.add_argument("--prompt-ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", required=True, help="output JSON path")
    ap.add_argument("--incremental", action="store_true", help="one position at a time (KV cache)")
    a = ap.parse_args()
    ids = [int(s) for s in a.prompt_ids.split(",") if s.strip()]
    m = Model(a.model)
    assert all(0 <= i < m.n_vocab for i in ids), "token id out of range"
    logits = run(m, ids, a.incremental)
    with open(a.out, "w") as f:
        json.dump({"prompt_ids": ids, "logits": [[float(v) for v in row] for row in logits]}, f)
        f.write("\n")
    print(f"{a.out}: {len(ids)} positions x {m.n_vocab} logits; argmax {logits.argmax(axis=1).tolist()}")


if __name__ == "__main__":
    main()
