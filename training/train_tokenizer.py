#!/usr/bin/env python3
"""Train the small byte-level BPE tokenizer on the training text.

    python training/train_tokenizer.py [--data training/out/data] [--out training/out/tokenizer]
                                       [--vocab 4096]

GPT-2 style: the ByteLevel pre-tokenizer with GPT-2's split regex (no prefix space), the 256
byte symbols as the initial alphabet (so every text encodes, nothing is unknown), BPE merges
learnt up to --vocab tokens in all, including the two special tokens <|bos|> (id 0) and
<|eos|> (id 1). A text encodes with <|bos|> first (the post-processor), as `bitnet` does when
tokenizer_config.json says add_bos_token. Writes tokenizer.json and tokenizer_config.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parents[1]
BOS, EOS = "<|bos|>", "<|eos|>"
DOC_SEPARATOR = "\f"


def documents(train_txt: Path) -> list[str]:
    """The books of train.txt (get_data.py separates them by a form-feed line)."""
    text = train_txt.read_text(encoding="utf-8")
    return [d.strip("\n") + "\n" for d in text.split(DOC_SEPARATOR) if d.strip()]


def build(docs: list[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Paragraph-sized pieces: the trainer counts pre-tokenized words, so how the text is cut
    # into iterator items does not change the result.
    pieces = [p for d in docs for p in d.split("\n\n")]
    tok.train_from_iterator(pieces, trainer=trainer, length=len(pieces))
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "out" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "training" / "out" / "tokenizer")
    ap.add_argument("--vocab", type=int, default=4096, help="vocabulary size, specials included")
    args = ap.parse_args()

    docs = documents(args.data / "train.txt")
    tok = build(docs, args.vocab)
    assert tok.token_to_id(BOS) == 0 and tok.token_to_id(EOS) == 1
    args.out.mkdir(parents=True, exist_ok=True)
    tok.save(str(args.out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 256,
    }
    (args.out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")

    n_tokens = sum(len(tok.encode(d).ids) for d in docs)
    held = (args.data / "heldout.txt").read_text(encoding="utf-8")
    n_held = len(tok.encode(held).ids)
    chars = sum(len(d) for d in docs)
    print(f"vocab {tok.get_vocab_size()}: train {n_tokens} tokens ({chars / n_tokens:.2f} chars/token), "
          f"held-out {n_held} tokens; wrote {args.out}/tokenizer.json")


if __name__ == "__main__":
    main()
