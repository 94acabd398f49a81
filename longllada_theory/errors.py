"""The one exception the package raises for bad input.

Every message says what was wrong and what is expected; the CLI prints it as one line and exits with status 2.
Library messages name parameters as the Python API spells them (``rope_scale``); an error lists those names in
``parameters`` so the command line can show its own flags instead (``--rope-scale``), see :meth:`for_cli`.
"""

from __future__ import annotations

import re
import unicodedata

_BREAKS = ("Cc", "Zl", "Zp")  # control characters and the line and paragraph separators str.splitlines breaks at


def _escape(c: str) -> str:
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def one_line(text: str) -> str:
    """``text`` with every control character and line separator (a newline, a carriage return, a NUL or U+2028 a user
    typed into a value) written as its escape, so an error is always one line."""
    return "".join(_escape(c) if unicodedata.category(c) in _BREAKS else c for c in str(text))


class LongLLaDAError(ValueError):
    """Bad input from the user: a wrong length, an unknown preset, a config without RoPE fields, …"""

    def __init__(self, message: str, *, parameters: tuple[str, ...] = ()):
        super().__init__(message)
        self.parameters = tuple(parameters)

    def for_cli(self, flags: dict[str, str] | None = None) -> str:
        """The message with each named parameter written as its command-line flag (``flags`` maps a parameter to
        its flag; otherwise ``--`` and dashes) where the message names it first — later mentions are prose."""
        message = str(self)
        for name in self.parameters:
            flag = (flags or {}).get(name, "--" + name.replace("_", "-"))
            message = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", flag, message, count=1)
        return one_line(message)
