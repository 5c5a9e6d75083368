"""Publish a finished run as the bundled default model.

    python training/publish.py --run training/out/run --untrained training/out/untrained

Copies into the repository what the engine ships and tests:

- `models/bitnet-b1.58-tiny-austen.gguf`: the run's I2_S GGUF (`export.py`), which the
  `bitnet` binary embeds and uses when no `-m` is given;
- `models/bitnet-b1.58-tiny-austen-loss.png`: the run's loss curve;
- `tests/fixtures/bundled-model/heldout.txt`: the held-out text (`get_data.py`);
- `tests/fixtures/bundled-model/script-eval.json`: the training script's held-out perplexity
  of the model as exported, and of the untrained model (`train.py --steps 0`, same seed),
  which `server/tests/bundled_model.rs` holds `bitnet perplexity` to.

The model card (`models/bitnet-b1.58-tiny-austen.md`) is written by hand from these numbers.
"""

import argparse
import hashlib
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "bitnet-b1.58-tiny-austen"


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="the trained run (train.py --out)")
    ap.add_argument("--untrained", type=Path, required=True, help="a `train.py --steps 0` run")
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "out" / "data")
    args = ap.parse_args()

    run = json.loads((args.run / "eval.json").read_text())
    untrained = json.loads((args.untrained / "eval.json").read_text())
    if run["config"] != untrained["config"] or run["seed"] != untrained["seed"]:
        raise SystemExit("the untrained run must have the trained run's model and seed")
    gguf = args.run / "model-i2_s.gguf"
    if gguf.stat().st_size > 20_000_000:
        raise SystemExit(f"{gguf} is over the 20 MB limit")

    models = ROOT / "models"
    fixtures = ROOT / "tests" / "fixtures" / "bundled-model"
    fixtures.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(gguf, models / f"{NAME}.gguf")
    shutil.copyfile(args.run / "loss.png", models / f"{NAME}-loss.png")
    heldout = args.data / "heldout.txt"
    shutil.copyfile(heldout, fixtures / "heldout.txt")

    fixture = {
        "what": "held-out perplexity computed by training/train.py (PyTorch, the model as "
                "exported) with bitnet perplexity's rule; regenerate with training/README.md "
                "and training/publish.py",
        "model_sha256": sha256(gguf),
        "heldout_sha256": sha256(heldout),
        "heldout": run["heldout"],
        "untrained": untrained["heldout"],
        "steps": run["steps"],
        "tokens": run["tokens"],
        "train_seconds": run["train_seconds"],
        "config": run["config"],
        "seed": run["seed"],
    }
    (fixtures / "script-eval.json").write_text(json.dumps(fixture, indent=2) + "\n")
    print(f"published {NAME}: {gguf.stat().st_size} bytes, held-out ppl "
          f"{run['heldout']['ppl']:.4f} (untrained {untrained['heldout']['ppl']:.1f})")


if __name__ == "__main__":
    main()
