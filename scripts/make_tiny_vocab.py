#!/usr/bin/env python3
"""Make models/vocab-tiny.gguf: a vocab-only GGUF (no tensors) holding a tiny 512-token
byte-level BPE tokenizer in the LLaMA-3 style (tokenizer.ggml.model = "gpt2",
tokenizer.ggml.pre = "llama-bpe"), plus the same tokenizer as a Hugging Face
tokenizer.json (tests/fixtures/numpy_ref/vocab-tiny.tokenizer.json) for parity tests.

Training text: botchan.txt ("Botchan" by Natsume Soseki, English translation, a
Project Gutenberg text; public domain) as shipped in test/botchan.txt of the
sentencepiece==0.2.3 source distribution (sdist sha256 below). The BOM is stripped
and CRLF/CR are normalised to LF before training.

Tokenizer: HF `tokenizers` BPE model trained with BpeTrainer (all 256 byte-level
symbols in the initial alphabet; 256 bytes + 248 merges = 504 = 512 - 8; ignore_merges
as in LLaMA-3), pre-tokenizer = Split(LLaMA-3 regex, Isolated) then
ByteLevel(add_prefix_space=False, use_regex=False), decoder ByteLevel, post-processor
adding <|begin_of_text|>. 8 special tokens are appended at ids 504..511 (token_type 3
= CONTROL; all others are 1 = NORMAL). Output is deterministic (checked: two runs give
identical bytes).

Usage:
    python3 scripts/make_tiny_vocab.py --sdist sentencepiece-0.2.3.tar.gz
    python3 scripts/make_tiny_vocab.py --text botchan.txt      # raw copy from the sdist
Getting the sdist: `pip download --no-deps --no-binary :all: sentencepiece==0.2.3` downloads it,
then tries to prepare metadata (which, here, failed with the installed setuptools under
--no-build-isolation, and sat in "Installing build dependencies" otherwise); the downloaded
tarball stays behind as /tmp/pip-unpack-*/sentencepiece-0.2.3.tar.gz. Both inputs are checked
against the sha256 values below.

Options: --arch NAME writes general.architecture = NAME (default: the key is absent).
llama.cpp refuses to load any GGUF, even vocab-only, whose architecture it does not
know, so use `--arch llama` (to another output path) to feed llama.cpp's
llama-tokenize/test-tokenizer-0; with vocab_only it reads no llama.* hparams.
"""
import argparse
import hashlib
import json
import os
import sys
import tarfile

import gguf
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SDIST_SHA256 = "21618ad31f0453a1ebf5ec58defed99758d54af0b670546ecac639ddd8b86fbd"
SDIST_MEMBER = "sentencepiece-0.2.3/test/botchan.txt"
# sha256 of the normalised (BOM-stripped, LF) text we train on
TEXT_SHA256 = "2680fa93dfc313ac6270fbf44128f4ba4c4f409ab5498f612b0e106965fdea99"

VOCAB_SIZE = 512
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = [
    "<|begin_of_text|>",            # 504 bos
    "<|end_of_text|>",              # 505 eos, padding
    "<|start_header_id|>",          # 506
    "<|end_header_id|>",            # 507
    "<|eot_id|>",                   # 508 eot
    "<|reserved_special_token_0|>",  # 509
    "<|reserved_special_token_1|>",  # 510
    "<|reserved_special_token_2|>",  # 511
]
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def load_text(args) -> str:
    if args.text:
        raw = open(args.text, "rb").read()
    else:
        data = open(args.sdist, "rb").read()
        digest = hashlib.sha256(data).hexdigest()
        if digest != SDIST_SHA256:
            sys.exit(f"{args.sdist}: sha256 {digest} != expected {SDIST_SHA256}")
        with tarfile.open(args.sdist) as tf:
            raw = tf.extractfile(SDIST_MEMBER).read()
    text = raw.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != TEXT_SHA256:
        sys.exit(f"normalised text sha256 {digest} != expected {TEXT_SHA256}")
    return text


def train(text: str) -> Tokenizer:
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(SPECIALS),
        min_frequency=0,
        show_progress=False,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([text], trainer=trainer)
    assert tok.get_vocab_size() == VOCAB_SIZE - len(SPECIALS), tok.get_vocab_size()
    tok.add_special_tokens(SPECIALS)
    assert tok.get_vocab_size() == VOCAB_SIZE
    bos = SPECIALS[0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
        special_tokens=[(bos, tok.token_to_id(bos))])
    return tok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--sdist", help="sentencepiece-0.2.3.tar.gz")
    src.add_argument("--text", help="botchan.txt (raw, as in the sdist)")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "vocab-tiny.gguf"))
    ap.add_argument("--json-out", default=os.path.join(ROOT, "tests", "fixtures", "numpy_ref",
                                                        "vocab-tiny.tokenizer.json"))
    ap.add_argument("--arch", default=None, help="write general.architecture (default: absent)")
    args = ap.parse_args()

    text = load_text(args)
    print(f"text: {len(text)} chars (sha256 ok)")
    tok = train(text)

    tj = json.loads(tok.to_str())
    vocab = tj["model"]["vocab"]                      # learned tokens, id-ordered
    added = {a["content"]: a["id"] for a in tj["added_tokens"]}
    tokens = [None] * VOCAB_SIZE
    for t, i in list(vocab.items()) + list(added.items()):
        assert tokens[i] is None
        tokens[i] = t
    assert all(t is not None for t in tokens)
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    assert [ids[s] for s in SPECIALS] == list(range(VOCAB_SIZE - len(SPECIALS), VOCAB_SIZE)), ids
    token_types = [int(gguf.TokenType.CONTROL) if t in added else int(gguf.TokenType.NORMAL)
                   for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    assert all(len(m.split(" ")) == 2 for m in merges)

    os.makedirs(os.path.dirname(args.json_out), exist_ok=True)
    with open(args.json_out, "w", encoding="utf-8") as f:
        f.write(tok.to_str(pretty=True))
        f.write("\n")

    w = gguf.GGUFWriter(args.out, args.arch or "none")
    if args.arch is None:
        del w.kv_data[0][gguf.Keys.General.ARCHITECTURE]
    w.add_name("bitnet-rs tiny synthetic vocab")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(token_types)
    w.add_token_merges(merges)
    w.add_bos_token_id(ids["<|begin_of_text|>"])
    w.add_eos_token_id(ids["<|end_of_text|>"])
    w.add_eot_token_id(ids["<|eot_id|>"])
    w.add_pad_token_id(ids["<|end_of_text|>"])
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes): {len(tokens)} tokens, "
          f"{len(merges)} merges; bos {ids['<|begin_of_text|>']} eos {ids['<|end_of_text|>']} "
          f"eot {ids['<|eot_id|>']}")
    print(f"wrote {args.json_out}")
    sample = "Hello, world! I'm Botchan 123456."
    print("sample:", sample, "->", tok.encode(sample, add_special_tokens=False).ids)


if __name__ == "__main__":
    main()
