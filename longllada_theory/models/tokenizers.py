"""Tokenizers as the measurements use them: ``encode`` (no special tokens), ``decode``, ``prefix_ids`` (what the
tokenizer puts before a text by default, e.g. BOS) and ``mask_token_id``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol


@contextmanager
def transformers_quiet() -> Iterator[None]:
    """transformers' warnings off for a moment: texts longer than a model's advertised window, tokenizer classes
    chosen deliberately, prompts past max_position_embeddings are the point of this package, not mistakes."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)


class Tokenizer(Protocol):
    prefix_ids: list[int]
    mask_token_id: int | None

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...


class TextTokenizer:
    """A transformers tokenizer wrapped: ``encode`` without special tokens, plus ``prefix_ids`` — the tokens the
    tokenizer puts in front of a text by default (e.g. BOS), or its BOS token where the model family's evaluation
    prepends it (``prepend_bos``, Dream) — so documents start as in training. ``decode`` skips ids the tokenizer has
    no entry for (a model's embedding may have more rows than its tokenizer has tokens, as Dream's does)."""

    def __init__(self, tokenizer, prepend_bos: bool = False):
        self.hf = tokenizer
        plain = tokenizer("x", add_special_tokens=False)["input_ids"]
        full = tokenizer("x")["input_ids"]
        self.prefix_ids: list[int] = full[: len(full) - len(plain)] if full[-len(plain):] == plain else []
        bos = getattr(tokenizer, "bos_token_id", None)
        if prepend_bos and bos is not None and self.prefix_ids[:1] != [bos]:
            self.prefix_ids = [bos, *self.prefix_ids]
        self.mask_token_id = getattr(tokenizer, "mask_token_id", None)
        self.eos_token_id = getattr(tokenizer, "eos_token_id", None)

    def encode(self, text: str) -> list[int]:
        with transformers_quiet():
            return self.hf(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        known = len(self.hf)
        return self.hf.decode([int(i) for i in ids if 0 <= int(i) < known], skip_special_tokens=True)


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
