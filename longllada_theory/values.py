"""Values of options and settings parsed from text, all in one place: each parser returns the value or raises
:class:`~longllada_theory.errors.LongLLaDAError` saying what was wrong and what is expected (the command line puts
the option's flag in front). Whole numbers refuse '', nan, inf, fractions and values out of range; real numbers
refuse nan and inf; lengths are capped at :data:`MAX_TOKENS` unless huge lengths are allowed (:func:`allow_huge`,
``longllada --allow-huge``); lists are capped at :data:`MAX_ITEMS` entries, so no option can ask for a grid that
does not fit in memory.

Every parser has an ``expected`` text, which option help and error messages share.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import LongLLaDAError
from .lengths import parse_length

#: the longest list an option may give (lengths, depths, layer or head indices)
MAX_ITEMS = 4096

_WHOLE = re.compile(r"^\s*[+-]?\d+\s*$")


def _text(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise LongLLaDAError(f"{value!r} is not a value")
    text = str(value)
    if not text.strip():
        raise LongLLaDAError("an empty value")
    if len(text) > 200:
        raise LongLLaDAError(f"a value of {len(text)} characters")
    return text


@dataclass(frozen=True)
class Whole:
    """A whole number in [minimum, maximum]."""

    minimum: int | None = None
    maximum: int | None = None

    @property
    def expected(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"a whole number from {self.minimum} to {self.maximum}"
        if self.minimum is not None:
            return f"a whole number ≥ {self.minimum}"
        return "a whole number"

    def __call__(self, value) -> int:
        text = _text(value)
        if not _WHOLE.match(text):
            raise LongLLaDAError(f"{text!r} is not a whole number; expected {self.expected}")
        number = int(text)
        if (self.minimum is not None and number < self.minimum) or (self.maximum is not None and number > self.maximum):
            raise LongLLaDAError(f"{number} is out of range; expected {self.expected}")
        return number


@dataclass(frozen=True)
class Real:
    """A finite real number in [minimum, maximum] (``above``: strictly greater than ``minimum``)."""

    minimum: float | None = None
    maximum: float | None = None
    above: bool = False

    @property
    def expected(self) -> str:
        low = "" if self.minimum is None else f"{'>' if self.above else '≥'} {self.minimum:g}"
        high = "" if self.maximum is None else f"≤ {self.maximum:g}"
        return "a finite number" + (f" {low}" if low else "") + (" and" if low and high else "") + \
            (f" {high}" if high else "")

    def __call__(self, value) -> float:
        text = _text(value)
        try:
            number = float(text)
        except ValueError:
            raise LongLLaDAError(f"{text!r} is not a number; expected {self.expected}") from None
        low_ok = self.minimum is None or (number > self.minimum if self.above else number >= self.minimum)
        if not math.isfinite(number) or not low_ok or (self.maximum is not None and number > self.maximum):
            raise LongLLaDAError(f"{text} is out of range; expected {self.expected}")
        return number


@dataclass(frozen=True)
class Length:
    """A number of tokens (``16k``, ``16384``), at most :data:`MAX_TOKENS` unless huge lengths are allowed."""

    expected = "a number of tokens like 16384 or 16k"

    def __call__(self, value) -> int:
        return parse_length(_text(value), "length")


@dataclass(frozen=True)
class Listing:
    """A comma-separated list of values of one kind, at most :data:`MAX_ITEMS` of them, none empty."""

    item: Whole | Real | Length
    minimum_items: int = 1

    @property
    def expected(self) -> str:
        return f"a comma-separated list of at most {MAX_ITEMS} values, each {self.item.expected}"

    def __call__(self, value) -> tuple:
        text = str(value)
        if len(text) > 20 * MAX_ITEMS:
            raise LongLLaDAError(f"a list of {len(text)} characters; expected {self.expected}")
        parts = text.split(",")
        if len(parts) > MAX_ITEMS or len(parts) < self.minimum_items or any(not p.strip() for p in parts):
            raise LongLLaDAError(f"{text[:60]!r}: expected {self.expected}")
        return tuple(self.item(p) for p in parts)


@dataclass(frozen=True)
class Head:
    """One attention head as ``layer.head`` (both counted from 0), kept in that normal form."""

    expected = "an attention head as layer.head, like 12.3"

    def __call__(self, value) -> str:
        text = _text(value).strip()
        layer, dot, head = text.partition(".")
        if not (dot and re.fullmatch(r"\d{1,6}", layer) and re.fullmatch(r"\d{1,6}", head)):
            raise LongLLaDAError(f"{text!r} is not a head; expected {self.expected}")
        return f"{int(layer)}.{int(head)}"


@dataclass(frozen=True)
class YesNo:
    expected = "yes or no"

    def __call__(self, value) -> bool:
        text = _text(value).strip().lower()
        if text not in ("yes", "no", "true", "false", "1", "0"):
            raise LongLLaDAError(f"{text!r}: expected yes or no")
        return text in ("yes", "true", "1")


def allow_huge(allowed: bool = True) -> None:
    """Let lengths exceed :data:`MAX_TOKENS` (``longllada --allow-huge``)."""
    from . import lengths

    lengths.ALLOW_HUGE = allowed


def parsed(parse, raw, flag: str):
    """``parse(raw)`` with any failure as one clear error naming ``flag`` (the one place options are parsed)."""
    try:
        return parse(raw)
    except LongLLaDAError as error:
        raise LongLLaDAError(f"{flag}: {error}") from None
    except (ValueError, TypeError, OverflowError, MemoryError, RecursionError) as error:
        expected = getattr(parse, "expected", "a valid value")
        raise LongLLaDAError(f"{flag}: {str(raw)[:60]!r} cannot be read ({type(error).__name__}); expected "
                             f"{expected}") from None
