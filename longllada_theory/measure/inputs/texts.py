"""Text for measurements: a user's file (``.txt``, or ``.jsonl`` with a text field), or a built-in source that
exists on every machine — ``builtin:noise`` (RULER's repeated noise sentences, for haystacks) and
``builtin:stdlib`` (the held-out files of the Python standard-library corpus below, which the toy twins never
trained on).

The standard-library corpus: the installed Python's own ``.py`` files (test suites and IDLE left out), as bytes;
every 10th file (sorted by path) is held out. Its digest says whether another Python install gives the same data.
"""

from __future__ import annotations

import hashlib
import json
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import LongLLaDAError
from ...files import read_text

if TYPE_CHECKING:
    from ...models.loading import LoadedModel

NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
BUILTINS = ("builtin:noise", "builtin:stdlib")
EXCLUDED_PARTS = {"site-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo"}


@dataclass(frozen=True)
class Corpus:
    train: np.ndarray      # uint8 bytes of the training files
    heldout: np.ndarray    # uint8 bytes of every 10th file
    digest: str            # sha256 of both, to tell whether another Python install gives the same data
    files: int


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(f for f in root.rglob("*.py")
                  if not EXCLUDED_PARTS.intersection(f.relative_to(root).parts))


@lru_cache(maxsize=1)
def load_corpus() -> Corpus:
    """The standard-library corpus (see module docstring)."""
    files = stdlib_files()
    train, heldout = [], []
    for index, path in enumerate(files):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        (heldout if index % 10 == 0 else train).append(data + b"\n\n")
    train_bytes, heldout_bytes = b"".join(train), b"".join(heldout)
    digest = hashlib.sha256(train_bytes + b"\0" + heldout_bytes).hexdigest()[:16]
    return Corpus(np.frombuffer(train_bytes, dtype=np.uint8), np.frombuffer(heldout_bytes, dtype=np.uint8),
                  digest, len(files))


def load_documents(source: str | Path, field: str = "text", field_parameter: str = "text_field") -> list[str]:
    """The documents of ``source``: one per line of a ``.jsonl`` file (its ``field``), else the whole text as one.
    ``field_parameter`` names the option that chose ``field``, for the error message."""
    source = str(source)
    if source == "builtin:noise":
        return [NOISE * 250]
    if source == "builtin:stdlib":
        return [load_corpus().heldout.tobytes().decode("utf-8", errors="replace")]
    if source.startswith("builtin:"):
        raise LongLLaDAError(f"unknown built-in text {source!r}; available: {', '.join(BUILTINS)}")
    path = Path(source)
    if not path.exists():
        raise LongLLaDAError(f"text file {path} does not exist (a .txt, a .jsonl with a {field!r} field, or one of "
                             f"{', '.join(BUILTINS)})")
    lines = read_text(path, "text file")
    documents = [lines]
    if path.suffix == ".jsonl":
        documents = []
        for number, line in enumerate(lines.splitlines(), 1):
            if line.strip():
                try:
                    documents.append(str(json.loads(line)[field]))
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise LongLLaDAError(f"{path}, line {number}: expected a JSON object with a {field!r} field "
                                         f"(choose it with {field_parameter})",
                                         parameters=(field_parameter,)) from None
    if not any(d.strip() for d in documents):
        raise LongLLaDAError(f"text file {path} is empty")
    return documents


def load_text(source: str | Path, field: str = "text", limit_chars: int | None = None,
              field_parameter: str = "text_field") -> str:
    """The text of ``source`` (see module docstring): its documents (:func:`load_documents`) joined with blank
    lines; ``builtin:noise`` repeats to at least ``limit_chars``."""
    if str(source) == "builtin:noise":
        return NOISE * (1 + (limit_chars or 20_000) // len(NOISE))
    text = "\n\n".join(load_documents(source, field, field_parameter))
    return text[:limit_chars] if limit_chars else text


def text_ids(loaded: LoadedModel, source: str, length: int, field: str = "text") -> list[int]:
    """The first ``length`` tokens of a text source in the model's tokenizer (after its prefix, e.g. BOS)."""
    ids = loaded.prefix_ids + loaded.tokenizer.encode(load_text(source, field))
    if len(ids) < length:
        raise LongLLaDAError(f"length {length} is larger than the text ({len(ids)} tokens in this tokenizer)",
                             parameters=("length",))
    return ids[:length]
