"""The `bitnet-b1.58` graph as bitnet-rs computes it (engine/src/model/graph.rs with the
reference backend's arithmetic, engine/src/backend/reference.rs), in PyTorch, trainable.

Per layer, with RMSNorm(x)·g = x / sqrt(mean(x²) + eps) · g:

    h = RMSNorm(x)·attn_norm
    q, k, v = BitLinear(h)                      (one int8 quantization of h shared by the three)
    q, k = RoPE-NEOX(q), RoPE-NEOX(k)           (rotate i with i + head_dim/2, over the whole head)
    a = causal softmax(q·kᵀ/√head_dim)·v        (GQA: query head j reads KV head j / group)
    x = x + BitLinear_o(RMSNorm(a)·attn_sub_norm)
    h = RMSNorm(x)·ffn_norm
    f = relu(BitLinear_gate(h))² ⊙ BitLinear_up(h)
    x = x + BitLinear_down(RMSNorm(f)·ffn_sub_norm)

then logits = RMSNorm(x)·output_norm · Eᵀ with the (tied, full-precision) token embedding E.

BitLinear (specs/formats-and-models.md §2): weights ternary by absmean, s_w = 1/max(mean|W|,
1e-5), codes = clamp(round(W·s_w), −1, 1), scale = 1/s_w; activations int8 per token,
s = 127/max(max|x|, 1e-5) (computed in double, as the engine does), q = clamp(round(x·s), −128,
127) (round half to even). Output y = (Σ code·q) / s · scale, in that order in float32: the
integer dot product is exact in float32 (|Σ| < 2²⁴), so this is the engine's number bit for
bit. Training uses the straight-through estimator for both quantizers: the backward pass is
that of y = x̂·Ŵᵀ with x̂ = q/s and Ŵ = codes·scale, the rounding treated as identity.

`exact=True` (evaluation) also computes the RMSNorm mean square in double, as the engine does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 4096
    hidden_size: int = 256
    intermediate_size: int = 768
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 256
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    bos_token_id: int = 0
    eos_token_id: int = 1

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------
# Quantizers (shared by training and evaluation).

def act_quant(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row int8 codes (as float32) and scale s = 127/max(max|x|, 1e-5)."""
    m = x.detach().abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    s = (127.0 / m.double()).float()
    q = torch.round(x.detach() * s).clamp_(-128, 127)
    return q, s


def weight_quant(w: torch.Tensor, scale_dtype: torch.dtype | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Ternary codes (as float32) and the per-tensor scale, by the converter's absmean rule:
    mean|W| in double, s = 1/max(mean, 1e-5) in float32, scale = 1/s rounded to
    `scale_dtype` (the checkpoint's dtype, e.g. bfloat16) when given."""
    w = w.detach()
    mean = w.abs().double().mean().float()
    s = 1.0 / mean.clamp(min=1e-5)
    codes = torch.round(w * s).clamp_(-1, 1)
    scale = 1.0 / s
    if scale_dtype is not None:
        scale = scale.to(scale_dtype).float()
    return codes, scale


class _BitLinearGroup(torch.autograd.Function):
    """Several BitLinear layers reading the same input: one activation quantization, one
    matmul over the concatenated ternary codes. Returns the concatenated outputs."""

    @staticmethod
    def forward(ctx, x, scale_dtype, *weights):
        q, s = act_quant(x)
        codes, col_scale = [], []
        for w in weights:
            c, sc = weight_quant(w, scale_dtype)
            codes.append(c)
            col_scale.append(sc.expand(w.shape[0]))
        codes = torch.cat(codes, 0)
        col_scale = torch.cat(col_scale, 0)
        raw = q @ codes.t()  # exact integers in float32
        y = raw / s * col_scale
        ctx.save_for_backward(q, s, codes, col_scale)
        ctx.sizes = [w.shape[0] for w in weights]
        return y

    @staticmethod
    def backward(ctx, gy):
        q, s, codes, col_scale = ctx.saved_tensors
        gx = gy @ (codes * col_scale[:, None])
        xhat = q / s
        gw = gy.reshape(-1, gy.shape[-1]).t() @ xhat.reshape(-1, xhat.shape[-1])
        return (gx, None, *torch.split(gw, ctx.sizes, 0))


class BitLinearGroup(nn.Module):
    """Named BitLinear weights ([out, in], no bias) applied to one shared input."""

    def __init__(self, names: list[str], shapes: list[tuple[int, int]]):
        super().__init__()
        self.names = names
        for n, (o, i) in zip(names, shapes):
            self.register_parameter(n, nn.Parameter(torch.empty(o, i)))
        self.scale_dtype: torch.dtype | None = None

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        ws = [getattr(self, n) for n in self.names]
        y = _BitLinearGroup.apply(x, self.scale_dtype, *ws)
        return list(torch.split(y, [w.shape[0] for w in ws], -1))


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps
        self.exact = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.exact:
            ms = x.double().square().mean(-1, keepdim=True).float()
        else:
            ms = x.square().mean(-1, keepdim=True)
        inv = 1.0 / torch.sqrt(ms + self.eps)
        return x * inv * self.weight


def rope_table(cfg: Config, n_pos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [n_pos, head_dim/2] as the engine computes them: θ_scale = θ^(−2/n_rot) in
    float32, angles by repeated float32 multiplication from the position."""
    n_rot = cfg.head_dim
    half = n_rot // 2
    theta_scale = np.float32(np.float32(cfg.rope_theta) ** np.float32(-2.0 / n_rot))
    ang = np.zeros((n_pos, half), dtype=np.float32)
    a = np.arange(n_pos, dtype=np.float32)
    for i in range(half):
        ang[:, i] = a
        a = (a * theta_scale).astype(np.float32)
    a64 = ang.astype(np.float64)
    return (torch.from_numpy(np.cos(a64).astype(np.float32)),
            torch.from_numpy(np.sin(a64).astype(np.float32)))


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, T, hd]; NEOX: pairs (i, i + hd/2)."""
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)


class Attention(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        d, kv = cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim
        self.cfg = cfg
        self.qkv = BitLinearGroup(["q_proj", "k_proj", "v_proj"], [(d, d), (kv, d), (kv, d)])
        self.attn_sub_norm = RMSNorm(d, cfg.rms_norm_eps)
        self.o = BitLinearGroup(["o_proj"], [(d, d)])

    def forward(self, h, cos, sin):
        cfg = self.cfg
        B, T, _ = h.shape
        nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        q, k, v = self.qkv(h)
        q = apply_rope(q.view(B, T, nh, hd).transpose(1, 2), cos, sin)
        k = apply_rope(k.view(B, T, nkv, hd).transpose(1, 2), cos, sin)
        v = v.view(B, T, nkv, hd).transpose(1, 2)
        if nkv != nh:
            k = k.repeat_interleave(nh // nkv, dim=1)
            v = v.repeat_interleave(nh // nkv, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / math.sqrt(hd))
        a = a.transpose(1, 2).reshape(B, T, nh * hd)
        return self.o(self.attn_sub_norm(a))[0]


class MLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        d, ff = cfg.hidden_size, cfg.intermediate_size
        self.gate_up = BitLinearGroup(["gate_proj", "up_proj"], [(ff, d), (ff, d)])
        self.ffn_sub_norm = RMSNorm(ff, cfg.rms_norm_eps)
        self.down = BitLinearGroup(["down_proj"], [(d, ff)])

    def forward(self, h):
        g, u = self.gate_up(h)
        r = F.relu(g)
        return self.down(self.ffn_sub_norm(r * r * u))[0]


class Layer(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class BitNet(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        cos, sin = rope_table(cfg, cfg.max_position_embeddings)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def init_weights(self, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        for name, p in self.named_parameters():
            if name.endswith("_proj") or name == "embed_tokens.weight":
                with torch.no_grad():
                    p.normal_(0.0, 0.02, generator=g)

    def set_exact(self, exact: bool, scale_dtype: torch.dtype | None = None) -> None:
        """exact: the engine's double-precision RMSNorm; scale_dtype: round ternary scales as
        the converter does for a checkpoint of that dtype."""
        for m in self.modules():
            if isinstance(m, RMSNorm):
                m.exact = exact
            if isinstance(m, BitLinearGroup):
                m.scale_dtype = scale_dtype

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, vocab] for token ids [B, T] at positions 0..T-1."""
        T = ids.shape[1]
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return F.linear(self.norm(x), self.embed_tokens.weight)

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors under the Hugging Face names `bitnet convert` reads (tied LM head)."""
        out = {}
        for name, p in self.named_parameters():
            n = name.replace(".qkv.", ".").replace(".gate_up.", ".").replace(".o.", ".")
            n = n.replace(".down.", ".")
            if n.endswith("_proj"):
                n += ".weight"
            out["model." + n] = p.detach()
        return out

    def load_hf_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        ours = dict(self.named_parameters())
        mapping = {}
        for name in ours:
            n = name.replace(".qkv.", ".").replace(".gate_up.", ".").replace(".o.", ".")
            n = n.replace(".down.", ".")
            if n.endswith("_proj"):
                n += ".weight"
            mapping["model." + n] = name
        missing = set(mapping) - set(tensors)
        if missing:
            raise KeyError(f"checkpoint lacks {sorted(missing)[:5]}")
        with torch.no_grad():
            for hf, name in mapping.items():
                ours[name].copy_(tensors[hf].float())


def n_params(model: BitNet) -> tuple[int, int]:
    """(ternary, other) parameter counts."""
    tern = sum(p.numel() for n, p in model.named_parameters() if n.endswith("_proj"))
    other = sum(p.numel() for n, p in model.named_parameters() if not n.endswith("_proj"))
    return tern, other


def gguf_size_estimate(cfg: Config) -> int:
    """Bytes of the I2_S GGUF (F16 tied embedding), tensor data only (+ ~tokenizer metadata)."""
    d, ff, kv = cfg.hidden_size, cfg.intermediate_size, cfg.num_key_value_heads * cfg.head_dim
    per_layer = (d * d * 2 + kv * d * 2 + ff * d * 3) // 4 + 7 * 32 + (3 * d + ff) * 4
    return cfg.vocab_size * d * 2 + d * 4 + cfg.num_hidden_layers * per_layer
