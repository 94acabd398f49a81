"""Context lengths as people write them: ``16k``, ``16384``, ``32K``, ``0.5k``.

``k`` means 1024 tokens (the convention of the paper's 4k/8k/16k/32k grid), so ``16k`` is 16384.
"""

from __future__ import annotations

import re

from .errors import LongLLaDAError

_LENGTH = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,6})?)\s*([kKmM]?)\s*$")
_UNIT = {"": 1, "k": 1024, "m": 1024 * 1024}

#: the longest length accepted (16M tokens), unless huge lengths are allowed (``longllada --allow-huge``)
MAX_TOKENS = 2 ** 24
ALLOW_HUGE = False


def parse_length(text: str | int, what: str = "length") -> int:
    """Parse ``16k`` → 16384, ``16384`` → 16384, ``32K`` → 32768; a positive whole number of tokens."""
    if isinstance(text, bool):
        raise LongLLaDAError(f"{what} {text!r} is not a length; expected a number of tokens like 16384 or 16k")
    if isinstance(text, int):
        value = float(text)
    else:
        match = _LENGTH.match(str(text))
        if not match:
            raise LongLLaDAError(f"{what} {text!r} is not a length; expected a number of tokens like 16384 or 16k")
        value = float(match.group(1)) * _UNIT[match.group(2).lower()]
    if value != int(value) or value <= 0:
        raise LongLLaDAError(f"{what} {text!r} must be a positive whole number of tokens (e.g. 4096 or 4k)")
    if value > MAX_TOKENS and not ALLOW_HUGE:
        raise LongLLaDAError(f"{what} {text!r} is {int(value)} tokens, more than {MAX_TOKENS} (16M); pass "
                             "longllada --allow-huge if you mean it")
    return int(value)


def parse_lengths(text: str, what: str = "lengths") -> list[int]:
    """Parse a comma-separated list: ``2k,4k,8k`` → [2048, 4096, 8192]."""
    parts = str(text).split(",")
    if not str(text).strip() or any(not p.strip() for p in parts) or len(parts) > 4096:
        raise LongLLaDAError(f"{what} {str(text)[:60]!r}: expected a comma-separated list like 2k,4k,8k (at most 4096, "
                             "none empty)")
    return [parse_length(p, what) for p in parts]


def format_length(tokens: float) -> str:
    """16384 → ``16k``; 4443.3 → ``4443``; lengths that are not whole multiples of 1024 stay in tokens."""
    if tokens == float("inf"):
        return "∞"
    rounded = int(round(tokens))
    if rounded >= 1024 and rounded % 1024 == 0:
        return f"{rounded // 1024}k"
    return str(rounded)
