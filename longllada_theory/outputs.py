"""Files the package writes besides results files — figures, reports, JSON documents — are stamped as its own, and
an existing file at an output path is overwritten only when it carries that stamp (or with ``--force``): a figure,
report or table never replaces a file the package did not write.

Stamps: PNG ``Software`` text chunk and PDF ``Creator`` = ``longllada-theory`` (no version or date, so regenerated
figures stay byte-identical); a JSON document's top-level ``"written_by": "longllada-theory"``; a Markdown file's first
line ``<!-- written by longllada-theory -->``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import LongLLaDAError
from .files import not_special

STAMP = "longllada-theory"
MARKDOWN_STAMP = f"<!-- written by {STAMP} -->"


def written_by_us(path: Path) -> bool:
    """Whether an existing file carries the package's stamp (see module docstring)."""
    path = Path(path)
    if not path.is_file():
        return False
    suffix = path.suffix.lower()
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if suffix == ".png":
        return b"tEXtSoftware\x00" + STAMP.encode() in head
    if suffix == ".pdf":
        handle_text = path.read_bytes()
        return f"/Creator ({STAMP})".encode() in handle_text
    if suffix == ".json":
        try:
            return json.loads(path.read_text(encoding="utf-8")).get("written_by") == STAMP
        except (ValueError, UnicodeDecodeError, AttributeError):
            return False
    if suffix == ".md":
        return head.split(b"\n", 1)[0].decode("utf-8", "replace").strip() == MARKDOWN_STAMP
    return False


def claim(path: Path, force: bool = False) -> Path:
    """``path``, refused when it exists, is not a file the package wrote and ``force`` is not given; a folder at the
    path is always refused."""
    path = not_special(Path(path))
    if path.is_dir():
        raise LongLLaDAError(f"{path} is a folder; a file name is expected")
    if path.exists() and not force and not written_by_us(path):
        raise LongLLaDAError(f"{path} exists and was not written by this package; choose another output or pass "
                             "--force to overwrite it", parameters=("output",))
    return path


def write_json(path: Path, document: dict, force: bool = False) -> Path:
    """A JSON document, stamped, written where :func:`claim` allows."""
    claim(path, force).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({**document, "written_by": STAMP}, indent=1, ensure_ascii=False, default=str)
                          + "\n", encoding="utf-8")
    return Path(path)


def write_markdown(path: Path, text: str, force: bool = False) -> Path:
    """A Markdown file, stamped on its first line, written where :func:`claim` allows."""
    claim(path, force).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(f"{MARKDOWN_STAMP}\n{text}", encoding="utf-8")
    return Path(path)
