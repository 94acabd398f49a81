"""Files a user names, opened only when they are what they claim to be: a regular file (a FIFO, socket or device would
block a read or a write for ever), of a size that fits, in UTF-8 where text is expected — each refusal one clear
line naming the file and what it is."""

from __future__ import annotations

import stat
from pathlib import Path

from .errors import LongLLaDAError

#: the largest file read whole (texts, configs, needles, results): 1 GiB
MAX_BYTES = 1 << 30

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def kind_of(path: Path) -> str | None:
    """What an existing path is when it is not a regular file ("a FIFO (named pipe)", …), else None."""
    mode = Path(path).stat().st_mode
    return next((name for test, name in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "not a regular file")


def regular_file(path: str | Path, what: str = "file") -> Path:
    """``path``, refused unless it exists and is a regular file of at most :data:`MAX_BYTES`."""
    path = Path(path)
    try:
        kind = kind_of(path)
    except FileNotFoundError:
        raise LongLLaDAError(f"{what} {path} does not exist") from None
    except OSError as error:
        raise LongLLaDAError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if kind:
        raise LongLLaDAError(f"{what} {path} is {kind}, not a regular file")
    if path.stat().st_size > MAX_BYTES:
        raise LongLLaDAError(f"{what} {path} is {path.stat().st_size} bytes, more than {MAX_BYTES} this package reads")
    return path


def not_special(path: str | Path, what: str = "output") -> Path:
    """``path`` where it does not exist or is a regular file: an output may be created or replaced, never a FIFO,
    socket or device written into."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        try:
            kind = kind_of(path)
        except OSError:
            kind = "unreadable"
        if kind and kind != "a folder":
            raise LongLLaDAError(f"{what} {path} is {kind}, not a regular file")
    return path


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of a regular file (see :func:`regular_file`)."""
    path = regular_file(path, what)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise LongLLaDAError(f"{what} {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
                             f"{error.start})") from None
    except OSError as error:
        raise LongLLaDAError(f"cannot read {what} {path}: {error.strerror or error}") from None


def parse_json(text: str, where: str):
    """JSON from text, with every way it can fail (syntax, nesting too deep, numbers too long) as one clear error."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise LongLLaDAError(f"{where} is not valid JSON (line {error.lineno}, column {error.colno}: "
                             f"{error.msg})") from None
    except RecursionError:
        raise LongLLaDAError(f"{where}: JSON nested too deep to read") from None
    except ValueError as error:  # e.g. an integer of thousands of digits
        raise LongLLaDAError(f"{where}: JSON this package cannot read ({str(error).split(':')[0]})") from None
