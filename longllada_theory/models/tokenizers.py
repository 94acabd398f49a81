"""Tokenizers as the measurements use them: ``encode`` (no special tokens), ``decode``, ``prefix_ids`` (what the
tokenizer puts before a text by default, e.g. BOS) and ``mask_token_id``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Tokenizer(Protocol):
    prefix_ids: list[int]
    mask_token_id: int | None

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...


class TextTokenizer:
    """A transformers tokenizer wrapped: ``encode`` without special tokens, plus ``prefix_ids`` — the tokens the
    tokenizer puts in front of a text by default (e.g. BOS) — so documents start as in training."""

    def __init__(self, tokenizer):
        self.hf = tokenizer
        plain = tokenizer("x", add_special_tokens=False)["input_ids"]
        full = tokenizer("x")["input_ids"]
        self.prefix_ids: list[int] = full[: len(full) - len(plain)] if full[-len(plain):] == plain else []
        self.mask_token_id = getattr(tokenizer, "mask_token_id", None)

    def encode(self, text: str) -> list[int]:
        return self.hf(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=True)


class ByteTokenizer:
    """UTF-8 bytes as token ids 0–255; 256 is [MASK], 257 padding (the twins' tokenizer)."""

    MASK_ID = 256
    PAD_ID = 257
    VOCAB_SIZE = 258
    mask_token_id = MASK_ID
    pad_token_id = PAD_ID
    vocab_size = VOCAB_SIZE
    prefix_ids: list[int] = []

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids if 0 <= int(i) < 256).decode("utf-8", errors="replace")
