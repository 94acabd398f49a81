"""Fingerprints of what a measurement reads: the checkpoint and every input, so that a results header knows exactly
what made its numbers and a resume with anything changed is refused.

A checkpoint's fingerprint lists the files that define it — the config and tokenizer files whole, each weights file
(``*.safetensors``, ``*.bin``, ``*.gguf``, ``*.pt``) by its size and a digest of its first and last MiB and of 16
evenly spaced 64 KiB blocks between (the header, which names every tensor, and samples of the data: weights of another
seed differ in every sampled block) — and the hub revision where the files sit in the Hugging Face cache. Reading
that much of a 16 GB checkpoint takes well under a second. An input's fingerprint is the SHA-256 of its canonical JSON
text.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
WHOLE_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt")
EDGE = 1 << 20
BLOCK = 1 << 16
SAMPLES = 16


def digest(value) -> str:
    """SHA-256 (16 hex digits) of a value's canonical JSON text (strings, numbers, lists, dicts; others as text)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def file_digest(path: Path) -> str:
    """SHA-256 of a file's size, first and last MiB and 16 evenly spaced 64 KiB blocks (the whole file when small)."""
    size = path.stat().st_size
    sha = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        if size <= 2 * EDGE + SAMPLES * BLOCK:
            sha.update(handle.read())
        else:
            offsets = [0, *(EDGE + k * (size - 2 * EDGE - BLOCK) // (SAMPLES - 1) for k in range(SAMPLES)),
                       size - EDGE]
            for offset in offsets:
                handle.seek(offset)
                sha.update(handle.read(EDGE if offset in (0, size - EDGE) else BLOCK))
    return sha.hexdigest()[:16]


def checkpoint_fingerprint(folder: str | Path | None, gguf_file: str | None = None) -> dict:
    """The fingerprint of the checkpoint in ``folder`` (see module docstring); with ``gguf_file``, that file alone
    stands for the weights. ``{}`` where there is no local folder (a preset: nothing was read)."""
    if folder is None or not Path(folder).is_dir():
        return {}
    folder = Path(folder)
    files = [folder / gguf_file] if gguf_file else sorted(
        p for p in folder.iterdir() if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.name in WHOLE_FILES))
    if gguf_file:
        files += [folder / name for name in WHOLE_FILES if (folder / name).is_file()]
    fingerprint = {"files": {p.name: file_digest(p) for p in files if p.is_file()}}
    resolved = folder.resolve()
    if resolved.parent.name == "snapshots":  # the Hugging Face cache: …/models--org--name/snapshots/<revision>
        fingerprint["revision"] = resolved.name
    return fingerprint
