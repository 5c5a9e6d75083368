#!/usr/bin/env python3
"""Fetch the public-domain English training text from package registries, pinned and checked.

    python3 training/get_data.py [--out training/out/data]

Sources (see DATA.md for the licences):
  - Jane Austen's six novels, from Debian's r-cran-janeaustenr 1.0.0-1 (`apt-get download`).
    The texts are stored as R character vectors inside the package's lazy-load database
    (data/Rdata.rdb + .rdx); a small reader for R's XDR serialization below extracts them,
    so no R installation is needed.
  - "Botchan" (Natsume Soseki, tr. Yasotaro Morri, 1919), from the sentencepiece 0.2.3 sdist
    on PyPI (test/botchan.txt), or the copy scripts/test-data/fetch.py already put in
    target/test-data/text/ when its sha256 matches.

Every download is checked against a pinned sha256, and so is every extracted text. The texts
are then normalised (see `normalise`) and split: the last HELDOUT_FRACTION of each book's
paragraphs is held out, the rest is training text. Output in --out:

  train.txt    training text, books separated by a blank line and a form-feed (\\f) marker
               line that train.py turns into BOS boundaries
  heldout.txt  held-out text (plain paragraphs, one book after the other), the file given to
               `bitnet perplexity -f`
  manifest.json  sizes and sha256 of everything written
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "training" / "out" / "data"

DEB_PACKAGE = "r-cran-janeaustenr"
DEB_VERSION = "1.0.0-1"
DEB_SHA256 = "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"
DEB_DATA_DIR = "usr/lib/R/site-library/janeaustenr/data"

SP_PACKAGE = "sentencepiece"
SP_VERSION = "0.2.3"
SP_SDIST_SHA256 = "21618ad31f0453a1ebf5ec58defed99758d54af0b670546ecac639ddd8b86fbd"
BOTCHAN_SHA256 = "464bd5300c24fce16fcc4555d4231a57632caae4d0090ad6aa92854a3b227ba7"

# R object name → (title, sha256 of the text as extracted: its lines joined with "\n", UTF-8).
AUSTEN = {
    "sensesensibility": ("Sense and Sensibility",
                         "0996d90842bbe8093f3b8142c1e77d1b20cff52d1d0615f3ed67733653e74e26"),
    "prideprejudice": ("Pride and Prejudice",
                       "2e44edaa4946d64ad541c68e0224f5d672f43bf3ce2a8a0b0637ad5e02fc6eb3"),
    "mansfieldpark": ("Mansfield Park",
                      "e0e9ef3863ea77f51f6070062ee0dd50ad9b933223880617629e4e4963ea40ff"),
    "emma": ("Emma", "dd08b340a56ad4a0a00718d5682528a5a5886ae0aef91c9e0fa528074fa64b75"),
    "northangerabbey": ("Northanger Abbey",
                        "8618a5acf5be50cc6e9b7680c7469fb6012649ab08c709dfc63c6367989fd31d"),
    "persuasion": ("Persuasion",
                   "726513a6c18bb678427bcbcf7c72d0d20816a67c25b0471b26ddcabf3ebac140"),
}

# sha256 of the files written (normalisation and split included): a change to either shows.
OUTPUT_SHA256 = {
    "train.txt": "48e0063c8266e300189f792fb8ca3f927b8f8ddd812f843e8c99cd0f75b99e5e",
    "heldout.txt": "42477e55382459ff050dda313b0f0fe7a2af29ef6652c83bf7f316e9486dbb01",
}

HELDOUT_FRACTION = 0.05
DOC_SEPARATOR = "\f"


def log(msg: str) -> None:
    print(f"[get_data] {msg}", file=sys.stderr, flush=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# R serialization (XDR, format versions 2 and 3): only what a lazy-load index and character
# vectors need.

NILVALUE, SYMSXP, LISTSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, STRSXP, VECSXP = (
    254, 1, 2, 9, 10, 13, 14, 16, 19)
REFSXP, GLOBALENV, EMPTYENV, BASEENV, MISSINGARG, UNBOUNDVALUE = 255, 253, 242, 241, 251, 252


class RReader:
    def __init__(self, data: bytes):
        if data[:2] != b"X\n":
            raise ValueError("not an XDR R serialization")
        self.d = data
        self.p = 2
        version = self.int()
        self.int()  # writer's R version
        self.int()  # minimal reader version
        if version == 3:
            n = self.int()
            self.p += n  # native encoding name
        elif version != 2:
            raise ValueError(f"R serialization version {version}")
        self.refs: list = []

    def int(self) -> int:
        (v,) = struct.unpack_from(">i", self.d, self.p)
        self.p += 4
        return v

    def read(self):
        flags = self.int()
        ty = flags & 0xFF
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))
        if ty in (NILVALUE, GLOBALENV, EMPTYENV, BASEENV, MISSINGARG, UNBOUNDVALUE):
            return None
        if ty == REFSXP:
            idx = flags >> 8
            if idx == 0:
                idx = self.int()
            return self.refs[idx - 1]
        if ty == SYMSXP:
            name = self.read()  # a CHARSXP
            self.refs.append(name)
            return name
        if ty == LISTSXP:
            attr = self.read() if has_attr else None
            tag = self.read() if has_tag else None
            car = self.read()
            cdr = self.read()
            items = [(tag, car)]
            if isinstance(cdr, list) and all(isinstance(x, tuple) for x in cdr):
                items += cdr
            return items
        if ty == CHARSXP:
            n = self.int()
            if n == -1:
                return None
            s = self.d[self.p:self.p + n].decode("utf-8")
            self.p += n
            return s
        if ty in (LGLSXP, INTSXP):
            n = self.int()
            v = list(struct.unpack_from(f">{n}i", self.d, self.p))
            self.p += 4 * n
        elif ty == REALSXP:
            n = self.int()
            v = list(struct.unpack_from(f">{n}d", self.d, self.p))
            self.p += 8 * n
        elif ty in (STRSXP, VECSXP):
            n = self.int()
            v = [self.read() for _ in range(n)]
        else:
            raise ValueError(f"unsupported R type {ty}")
        if has_attr:
            attrs = dict(self.read())
            names = attrs.get("names")
            if names is not None and ty == VECSXP:
                return dict(zip(names, v))
        return v


def r_unserialize(data: bytes):
    return RReader(data).read()


def lazyload(rdx: bytes, rdb: bytes) -> dict[str, object]:
    """Every variable of an R lazy-load database (.rdx index, .rdb data)."""
    index = r_unserialize(gzip.decompress(rdx))
    compressed = index.get("compressed")
    kind = compressed[0] if isinstance(compressed, list) else compressed
    out = {}
    for name, (offset, length) in index["variables"].items():
        blob = rdb[int(offset):int(offset) + int(length)]
        (raw_len,) = struct.unpack_from(">I", blob, 0)
        if kind in (True, 1):
            raw = zlib.decompress(blob[4:])
        else:
            tag, body = blob[4:5], blob[5:]
            if tag == b"Z":
                raw = zlib.decompress(body)
            elif tag == b"2":
                import bz2
                raw = bz2.decompress(body)
            elif tag == b"X":
                import lzma
                raw = lzma.decompress(body)
            elif tag == b"0":
                raw = body
            else:
                raise ValueError(f"unknown lazy-load compression {tag!r}")
        if len(raw) != raw_len:
            raise ValueError(f"{name}: {len(raw)} bytes, index says {raw_len}")
        out[name] = r_unserialize(raw)
    return out


# --------------------------------------------------------------------------------------------
# Downloads.

def fetch_deb(workdir: Path) -> Path:
    """Downloads the pinned .deb with apt-get and checks it; returns the extraction folder."""
    deb = workdir / f"{DEB_PACKAGE}_{DEB_VERSION}_all.deb"
    cache = DEFAULT_OUT.parent / "cache" / deb.name
    if cache.is_file() and sha256(cache.read_bytes()) == DEB_SHA256:
        shutil.copy(cache, deb)
    else:
        log(f"apt-get download {DEB_PACKAGE}={DEB_VERSION}")
        os.chmod(workdir, 0o777)  # so apt's sandbox user may write there
        r = subprocess.run(["apt-get", "download", f"{DEB_PACKAGE}={DEB_VERSION}"],
                           cwd=workdir, capture_output=True, text=True)
        if r.returncode != 0 or not deb.is_file():
            sys.exit(f"apt-get download failed ({r.returncode}): {r.stderr.strip()}\n"
                     "Run `apt-get update` first (Debian bookworm's main archive has it).")
        got = sha256(deb.read_bytes())
        if got != DEB_SHA256:
            sys.exit(f"sha256 mismatch for {deb.name}: got {got}, pinned {DEB_SHA256}")
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(deb, cache)
    x = workdir / "deb"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(x)], check=True)
    return x


def pypi_index() -> str:
    url = os.environ.get("PIP_INDEX_URL")
    if url:
        return url.rstrip("/")
    r = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                       capture_output=True, text=True)
    if r.returncode == 0 and r.stdout.strip():
        return r.stdout.strip().rstrip("/")
    return "https://pypi.org/simple"


def fetch_botchan() -> str:
    local = ROOT / "target" / "test-data" / "text" / "botchan.txt"
    if local.is_file() and sha256(local.read_bytes()) == BOTCHAN_SHA256:
        log(f"botchan.txt from {local.relative_to(ROOT)}")
        data = local.read_bytes()
    else:
        req = urllib.request.Request(f"{pypi_index()}/{SP_PACKAGE}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            files = json.loads(resp.read())["files"]
        name = f"{SP_PACKAGE}-{SP_VERSION}.tar.gz"
        f = next((f for f in files if f["filename"] == name), None)
        if f is None:
            sys.exit(f"no {name} on the index")
        log(f"downloading {name}")
        with urllib.request.urlopen(f["url"], timeout=1800) as resp:
            sdist = resp.read()
        if sha256(sdist) != SP_SDIST_SHA256:
            sys.exit(f"sha256 mismatch for {name}")
        with tarfile.open(fileobj=io.BytesIO(sdist), mode="r:gz") as tar:
            m = next(m for m in tar.getmembers() if m.name.endswith("/test/botchan.txt"))
            data = tar.extractfile(m).read()
    if sha256(data) != BOTCHAN_SHA256:
        sys.exit("sha256 mismatch for botchan.txt")
    return data.decode("utf-8-sig")


# --------------------------------------------------------------------------------------------
# Normalisation and split.

def paragraphs(text: str) -> list[str]:
    """Unwraps hard-wrapped lines into paragraphs (blank-line separated) and tidies them:
    NFC, CRLF → LF, Project Gutenberg's _italics_ underscores dropped, runs of spaces
    collapsed."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    out = []
    for block in re.split(r"\n\s*\n", text):
        p = " ".join(line.strip() for line in block.split("\n") if line.strip())
        p = p.replace("_", "")
        p = re.sub(r"\s+", " ", p).strip()
        if p:
            out.append(p)
    return out


def botchan_body(text: str) -> str:
    """Botchan without Project Gutenberg's header and licence footer (as the file has them)."""
    start = re.search(r"\*\*\* ?START OF[^\n]*\n", text)
    end = re.search(r"\*\*\* ?END OF", text)
    if start:
        text = text[start.end():]
        end = re.search(r"\*\*\* ?END OF", text)
    if end:
        text = text[:end.start()]
    end = re.search(r"\n\s*End of (the )?Project Gutenberg", text, re.IGNORECASE)
    if end:
        text = text[:end.start()]
    return re.sub(r"^Produced by [^\n]*\n", "", text.lstrip())


def restore_paragraphs(text: str) -> str:
    """Botchan's copy in the sentencepiece sdist lost its blank lines: guess the paragraph ends
    again. A line ends a paragraph when it is clearly shorter than the ~72-column wrap and ends
    in sentence punctuation, or is a short heading (no lowercase letters)."""
    out = []
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line.rstrip()
        out.append(line)
        bare = line.strip()
        if not bare:
            continue
        heading = len(bare) < 50 and not re.search(r"[a-z]", bare)
        if heading or (len(line) < 62 and re.search(r"[.!?:;)\"'\u201d\u2019]$", bare)):
            out.append("")
    return "\n".join(out)


def split_book(paras: list[str]) -> tuple[list[str], list[str]]:
    n_held = max(1, round(len(paras) * HELDOUT_FRACTION))
    return paras[:-n_held], paras[-n_held:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    books: list[tuple[str, str, str]] = []  # (key, title, raw text)
    with tempfile.TemporaryDirectory() as tmp:
        x = fetch_deb(Path(tmp))
        data = x / DEB_DATA_DIR
        objs = lazyload((data / "Rdata.rdx").read_bytes(), (data / "Rdata.rdb").read_bytes())
        for key, (title, want) in AUSTEN.items():
            raw = "\n".join("" if line is None else line for line in objs[key])
            got = sha256(raw.encode("utf-8"))
            if got != want:
                sys.exit(f"sha256 mismatch for {key}: got {got}, pinned {want}")
            books.append((key, title, raw))
    books.append(("botchan", "Botchan",
                  restore_paragraphs(botchan_body(fetch_botchan()))))

    train_docs, held_docs, manifest = [], [], {"books": {}}
    for key, title, raw in books:
        paras = paragraphs(raw)
        tr, he = split_book(paras)
        train_docs.append("\n\n".join(tr))
        held_docs.append("\n\n".join(he))
        manifest["books"][key] = {
            "title": title,
            "raw_sha256": sha256(raw.encode("utf-8")),
            "paragraphs": len(paras),
            "train_chars": len(train_docs[-1]),
            "heldout_chars": len(held_docs[-1]),
        }
        log(f"{title}: {len(paras)} paragraphs, {len(train_docs[-1])} train chars, "
            f"{len(held_docs[-1])} held-out chars")
    train = f"\n\n{DOC_SEPARATOR}\n\n".join(train_docs) + "\n"
    held = "\n\n".join(held_docs) + "\n"
    for name, text in (("train.txt", train), ("heldout.txt", held)):
        b = text.encode("utf-8")
        (out / name).write_bytes(b)
        manifest[name] = {"bytes": len(b), "sha256": sha256(b)}
        log(f"wrote {out / name} ({len(b)} bytes, sha256 {sha256(b)[:16]}…)")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    bad = [n for n, want in OUTPUT_SHA256.items() if manifest[n]["sha256"] != want]
    if bad:
        sys.exit(f"{', '.join(bad)} differ from the pinned sha256 (OUTPUT_SHA256): the "
                 "normalisation or split changed; update the pins if that was meant")


if __name__ == "__main__":
    main()
