#!/usr/bin/env python3
"""Train the small BitNet b1.58 model on the CPU.

    python training/train.py --minutes 60 [--out training/out/run] [model/optimizer options]
    python training/train.py --steps 900 ...           (the same, with the step count fixed)

Reads training/out/data/{train,heldout}.txt (get_data.py) and
training/out/tokenizer/tokenizer.json (train_tokenizer.py). Writes into --out:

  ckpt.pt          model config, weights (float32 latent), optimizer state, step
  log.jsonl        one line per logged step / evaluation
  loss.png         the loss curve (training loss, held-out loss)
  eval.json        the final held-out perplexity (see `evaluate`)

--minutes: times a few steps on a throwaway copy of the model, then fixes the number of steps
that fits the budget (printed and stored in eval.json, so `--steps N` reproduces the run
exactly); the learning-rate schedule follows the step count, so a run is deterministic given
its steps and seed. A guard still stops at 1.1× the budget.

The held-out evaluation is the engine's `bitnet perplexity` rule: tokenize the whole text
(BOS first), cut into consecutive windows of N tokens (the last partial one dropped), predict
tokens 1..N-1 of each window from their prefix in the window, perplexity = exp(mean NLL). The
model runs its inference arithmetic (ternary weights, int8 activations, float32, no dropout).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import BitNet, Config, gguf_size_estimate, n_params  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC_SEPARATOR = "\f"


def log(msg: str) -> None:
    print(msg, flush=True)


def load_tokenizer(path: Path):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(path))


def encode_train(tok, train_txt: Path, cache: Path) -> np.ndarray:
    """The training token stream: each book encoded with BOS first, concatenated."""
    key = f"{train_txt.stat().st_size}-{train_txt.stat().st_mtime_ns}-{tok.get_vocab_size()}"
    meta = cache.with_suffix(".key")
    if cache.is_file() and meta.is_file() and meta.read_text() == key:
        return np.load(cache)
    text = train_txt.read_text(encoding="utf-8")
    docs = [d.strip("\n") + "\n" for d in text.split(DOC_SEPARATOR) if d.strip()]
    ids = np.concatenate([np.array(tok.encode(d).ids, dtype=np.int32) for d in docs])
    np.save(cache, ids)
    meta.write_text(key)
    return ids


def heldout_windows(tok, text: str, n: int) -> torch.Tensor:
    """[windows, n] token ids by the perplexity rule (BOS first, last partial window dropped)."""
    ids = tok.encode(text).ids
    w = len(ids) // n
    return torch.tensor(ids[: w * n], dtype=torch.long).view(w, n)


@torch.no_grad()
def evaluate(model: BitNet, windows: torch.Tensor, batch: int = 16, limit: int | None = None
             ) -> dict:
    """Mean NLL and perplexity over windows (see the module docs)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    ws = windows if limit is None else windows[:limit]
    for i in range(0, len(ws), batch):
        w = ws[i:i + batch]
        logits = model(w[:, :-1])
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(),
                              w[:, 1:].reshape(-1), reduction="sum")
        total += nll.item()
        count += w[:, 1:].numel()
    model.train(was_training)
    mean = total / count
    return {"nll": mean, "ppl": math.exp(mean), "predictions": count, "windows": len(ws),
            "window": windows.shape[1]}


def export_view(model: BitNet, dtype: torch.dtype) -> BitNet:
    """A copy of the model as `bitnet convert` sees it after export in `dtype`: every tensor
    rounded to dtype, ternary scales rounded to dtype, the engine's exact RMSNorm."""
    m = BitNet(model.cfg)
    m.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.to(dtype).float())
    m.set_exact(True, None if dtype == torch.float32 else dtype)
    m.eval()
    return m


def lr_at(step: int, total: int, peak: float, warmup: int, final_frac: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def plot(log_path: Path, png: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [json.loads(l) for l in log_path.read_text().splitlines() if l.strip()]
    tr = [r for r in rows if r["kind"] == "train"]
    ev = [r for r in rows if r["kind"] == "eval"]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    if tr:
        x = np.array([r["tokens"] for r in tr]) / 1e6
        y = np.array([r["loss"] for r in tr])
        ax.plot(x, y, lw=0.6, alpha=0.35, color="C0")
        k = max(1, len(y) // 50)
        if len(y) > k:
            sm = np.convolve(y, np.ones(k) / k, mode="valid")
            ax.plot(x[k - 1:], sm, color="C0", label="training loss")
    part = [r for r in ev if r.get("partial")]
    full = [r for r in ev if not r.get("partial")]
    if part:
        ax.plot([r["tokens"] / 1e6 for r in part], [r["nll"] for r in part], "o-", color="C3",
                ms=3, label="held-out loss (first windows)")
    if full:
        ax.plot([r["tokens"] / 1e6 for r in full], [r["nll"] for r in full], "*", color="C3",
                ms=10, label="held-out loss (all, as exported)")
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "out" / "data")
    ap.add_argument("--tokenizer", type=Path,
                    default=ROOT / "training" / "out" / "tokenizer" / "tokenizer.json")
    ap.add_argument("--out", type=Path, default=ROOT / "training" / "out" / "run")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--minutes", type=float, help="wall-clock training budget")
    g.add_argument("--steps", type=int, help="number of optimizer steps")
    ap.add_argument("--d", type=int, default=384, help="hidden size")
    ap.add_argument("--ff", type=int, default=1024, help="FFN size")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=256, help="training context = eval window")
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--batch", type=int, default=16, help="sequences per step")
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW)")
    ap.add_argument("--final-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=None,
                    help="warm-up steps (default: 3 %% of the steps, at least 10)")
    ap.add_argument("--wd", type=float, default=0.05, help="weight decay (ternary weights)")
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=100, help="steps between held-out evals")
    ap.add_argument("--eval-windows", type=int, default=48,
                    help="windows in the periodic (partial) held-out eval")
    ap.add_argument("--export-dtype", choices=["bf16", "f32"], default="bf16",
                    help="dtype export.py will write; the final eval rounds to it")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    tok = load_tokenizer(args.tokenizer)
    cfg = Config(
        vocab_size=tok.get_vocab_size(), hidden_size=args.d, intermediate_size=args.ff,
        num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads, max_position_embeddings=args.ctx,
        rope_theta=args.rope_theta, bos_token_id=tok.token_to_id("<|bos|>"),
        eos_token_id=tok.token_to_id("<|eos|>"))
    model = BitNet(cfg)
    model.init_weights(args.seed)
    tern, other = n_params(model)
    log(f"model: {cfg.to_dict()}")
    log(f"parameters: {tern / 1e6:.2f}M ternary + {other / 1e6:.2f}M full precision; "
        f"I2_S GGUF ≈ {gguf_size_estimate(cfg) / 1e6:.1f} MB")

    data = encode_train(tok, args.data / "train.txt", args.out / "train_ids.npy")
    data_t = torch.from_numpy(data.astype(np.int64))
    held = heldout_windows(tok, (args.data / "heldout.txt").read_text(encoding="utf-8"),
                           args.ctx)
    log(f"data: {len(data)} training tokens, held-out {held.numel()} tokens in "
        f"{len(held)} windows of {args.ctx}")

    span = args.ctx + 1
    tokens_per_step = args.batch * args.ctx

    def setup():
        """Model, optimizer and batch sampler, freshly seeded."""
        m = BitNet(cfg)
        m.init_weights(args.seed)
        m.train()
        decay = [p for n, p in m.named_parameters() if n.endswith("_proj")]
        no_decay = [p for n, p in m.named_parameters() if not n.endswith("_proj")]
        o = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                               {"params": no_decay, "weight_decay": 0.0}],
                              lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
        return m, o, torch.Generator().manual_seed(args.seed + 1)

    def step_fn(m, o, gen, step, total):
        warmup = args.warmup if args.warmup is not None else max(10, round(0.03 * total))
        lr = lr_at(step, total, args.lr, warmup, args.final_lr_frac)
        for grp in o.param_groups:
            grp["lr"] = lr
        starts = torch.randint(0, len(data_t) - span, (args.batch,), generator=gen)
        b = data_t[starts[:, None] + torch.arange(span)[None, :]]
        logits = m(b[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b[:, 1:].reshape(-1))
        o.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(m.parameters(), args.clip)
        o.step()
        return loss.item(), lr, gnorm.item()

    total = args.steps
    calib = None
    if args.minutes is not None:
        # Time a few steps on a throwaway copy, so the run itself is the same as `--steps N`.
        m, o, gen = setup()
        times = []
        for s_ in range(7):
            ts = time.time()
            step_fn(m, o, gen, s_, 1000)
            times.append(time.time() - ts)
        del m, o, gen
        per_step = float(np.median(times[2:]))
        budget = args.minutes * 60 - sum(times)
        # Room for the periodic partial evaluations (each about the cost of a few steps).
        n_evals = budget / per_step / args.eval_every
        eval_steps = n_evals * args.eval_windows * args.ctx / tokens_per_step / 2.5
        total = max(16, int(budget / per_step - eval_steps))
        calib = {"per_step_s": per_step, "steps": total}
        log(f"calibration: {per_step:.2f} s/step ({tokens_per_step / per_step:.0f} tok/s) "
            f"→ {total} steps for {args.minutes} min (reproduce with --steps {total})")

    torch.manual_seed(args.seed)
    model, opt, gen = setup()

    log_path = args.out / "log.jsonl"
    log_f = log_path.open("w")

    def record(row):
        log_f.write(json.dumps(row) + "\n")
        log_f.flush()

    calib_s = sum(times) if args.minutes is not None else 0.0
    t0 = time.time()
    first = 0
    eval_time = 0.0
    last_log = time.time()
    step = first
    stopped_early = False
    for step in range(first, total):
        loss, lr, gn = step_fn(model, opt, gen, step, total)
        el = time.time() - t0
        record({"kind": "train", "step": step, "tokens": (step + 1) * tokens_per_step,
                "loss": loss, "lr": lr, "gnorm": gn, "elapsed": el})
        if time.time() - last_log > 20 or step == total - 1:
            train_time = el - eval_time
            log(f"step {step + 1}/{total} loss {loss:.4f} lr {lr:.2e} gnorm {gn:.2f} "
                f"{(step + 1) * tokens_per_step / train_time:.0f} tok/s "
                f"elapsed {el / 60:.1f} min")
            last_log = time.time()
        if (step + 1) % args.eval_every == 0 and step + 1 < total:
            te = time.time()
            ev = evaluate(model, held, limit=args.eval_windows)
            eval_time += time.time() - te
            record({"kind": "eval", "step": step, "tokens": (step + 1) * tokens_per_step,
                    "nll": ev["nll"], "ppl": ev["ppl"], "partial": True,
                    "elapsed": time.time() - t0})
            log(f"  held-out (first {args.eval_windows} windows): nll {ev['nll']:.4f} "
                f"ppl {ev['ppl']:.2f}")
        if args.minutes is not None and calib_s + time.time() - t0 > args.minutes * 60 * 1.1:
            log(f"stopping at step {step + 1}: past 1.1× the time budget")
            stopped_early = True
            break
    # `--steps 0` evaluates the untrained model (the baseline the model card quotes).
    steps_done = step + 1 if total > 0 else 0
    train_elapsed = time.time() - t0
    train_time = train_elapsed - eval_time

    torch.save({"config": cfg.to_dict(), "model": model.state_dict(),
                "optimizer": opt.state_dict(), "step": steps_done, "args": vars(args) | {
                    "data": str(args.data), "tokenizer": str(args.tokenizer),
                    "out": str(args.out)}},
               args.out / "ckpt.pt")

    # Final evaluation on the whole held-out text: the training model, and the model as the
    # exported checkpoint holds it (what `bitnet perplexity` must reproduce).
    te = time.time()
    dtype = torch.bfloat16 if args.export_dtype == "bf16" else torch.float32
    ev_train = evaluate(model, held)
    ev_export = evaluate(export_view(model, dtype), held)
    eval_s = time.time() - te
    record({"kind": "eval", "step": steps_done - 1, "tokens": steps_done * tokens_per_step,
            "nll": ev_export["nll"], "ppl": ev_export["ppl"], "partial": False,
            "elapsed": time.time() - t0})
    log_f.close()
    train_losses = [json.loads(l)["loss"] for l in log_path.read_text().splitlines()
                    if '"kind": "train"' in l]
    result = {
        "steps": steps_done,
        "stopped_early": stopped_early,
        "tokens": steps_done * tokens_per_step,
        "epochs": steps_done * tokens_per_step / len(data),
        "train_seconds": train_time,
        "train_tok_per_s": steps_done * tokens_per_step / max(train_time, 1e-9),
        "final_train_loss_avg20": float(np.mean(train_losses[-20:])) if train_losses else None,
        "heldout": ev_export | {"model": f"as exported ({args.export_dtype})"},
        "heldout_f32_latent": ev_train,
        "eval_seconds": eval_s,
        "calibration": calib,
        "config": cfg.to_dict(),
        "parameters": {"ternary": tern, "full_precision": other},
        "seed": args.seed,
    }
    (args.out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(log_path, args.out / "loss.png",
         f"BitNet b1.58 d={cfg.hidden_size} L={cfg.num_hidden_layers} ff={cfg.intermediate_size}"
         f" — held-out ppl {ev_export['ppl']:.2f} (ctx {args.ctx})")
    log(f"done: {steps_done} steps, {result['tokens']} tokens ({result['epochs']:.2f} epochs), "
        f"{result['train_tok_per_s']:.0f} tok/s")
    log(f"held-out perplexity (window {args.ctx}, {ev_export['predictions']} predictions): "
        f"{ev_export['ppl']:.4f} as exported ({args.export_dtype}); "
        f"{ev_train['ppl']:.4f} with the float32 latent weights")


if __name__ == "__main__":
    main()
