"""Text for measurements: a user's file (``.txt``, or ``.jsonl`` with a text field), or a built-in source that
exists on every machine — ``builtin:noise`` (RULER's repeated noise sentences, for haystacks) and
``builtin:stdlib`` (the held-out Python standard-library files the toy twins never trained on)."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import LongLLaDAError

NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
BUILTINS = ("builtin:noise", "builtin:stdlib")


def load_text(source: str | Path, field: str = "text", limit_chars: int | None = None) -> str:
    """The text of ``source`` (see module docstring); jsonl lines are joined with blank lines."""
    source = str(source)
    if source == "builtin:noise":
        return NOISE * (1 + (limit_chars or 20_000) // len(NOISE))
    if source == "builtin:stdlib":
        from .toy.data import load_corpus
        return load_corpus().heldout[:limit_chars].tobytes().decode("utf-8", errors="replace")
    if source.startswith("builtin:"):
        raise LongLLaDAError(f"unknown built-in text {source!r}; available: {', '.join(BUILTINS)}")
    path = Path(source)
    if not path.is_file():
        raise LongLLaDAError(f"text file {path} does not exist (a .txt, a .jsonl with a {field!r} field, or one of "
                             f"{', '.join(BUILTINS)})")
    if path.suffix == ".jsonl":
        parts = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    parts.append(str(json.loads(line)[field]))
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise LongLLaDAError(f"{path}, line {number}: expected a JSON object with a {field!r} field "
                                         "(choose it with --text-field)") from None
        text = "\n\n".join(parts)
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise LongLLaDAError(f"{path} is not UTF-8 text") from None
    if not text.strip():
        raise LongLLaDAError(f"text file {path} is empty")
    return text[:limit_chars] if limit_chars else text
