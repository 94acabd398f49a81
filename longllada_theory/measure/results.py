"""Append-only JSONL results files that lose nothing and resume exactly.

Line 1 is a header ``{"type": "header", "protocol": …, "settings": {…}, "shard": [i, n], "version": 1, "created_by":
{package, git, python, torch, transformers}}`` (``settings`` is compared on resume, ``created_by`` is not); every
other line is one finished cell ``{"type": "cell", "key": "…", …}``, written and flushed to disk as soon as the cell
is done. Reopening the file with the same protocol and settings skips the finished cells; a file written with other
settings is refused, never mixed. A line cut short by a kill is dropped on reopening (its cell runs again).

Random draws inside a cell are seeded from the run's seed and the cell's key (:func:`cell_seed`), so a resumed run
gives exactly the result of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LongLLaDAError
from ..files import not_special, regular_file

VERSION = 1
#: a ``legacy`` value: an older file without the setting resumes whatever the run's value is (a setting that follows
#: from the rest of the header)
ANY = object()


def created_by() -> dict:
    """What wrote a results file (kept in its header, never compared on resume): this package's version and, when it
    runs from a git checkout, the revision (``+dirty`` with uncommitted changes); Python's, torch's and transformers'
    versions where they are loaded."""
    import platform
    import subprocess
    import sys

    from .. import __version__

    info = {"package": f"longllada-theory {__version__}", "python": platform.python_version()}
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            revision = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True,
                                      text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            revision = ""
        if revision:
            info["git"] = revision
    for name in ("torch", "transformers"):
        if name in sys.modules:
            info[name] = getattr(sys.modules[name], "__version__", "?")
    return info


def cell_seed(seed: int, key: str) -> int:
    """A 63-bit seed from the run's seed and a cell's key (stable across processes and Python versions)."""
    return (int(seed) * 0x9E3779B1 + zlib.crc32(key.encode("utf-8"))) % (2 ** 63)


def parse_shard(text: str | None, environ: dict | None = None) -> tuple[int, int]:
    """``"2/8"`` → (2, 8): this process runs cells 2, 10, 18, … of 8 shards (0-based). None → the rank and world
    size that ``torchrun`` / ``accelerate launch`` set (RANK, WORLD_SIZE); else a SLURM array task's place in its
    array (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, for an array without gaps such as
    ``--array=0-7``); else (0, 1)."""
    if text is None:
        environ = os.environ if environ is None else environ
        if int(environ.get("WORLD_SIZE", 1)) > 1:
            return int(environ.get("RANK", 0)), int(environ["WORLD_SIZE"])
        if int(environ.get("SLURM_ARRAY_TASK_COUNT", 1)) > 1:
            index = int(environ["SLURM_ARRAY_TASK_ID"]) - int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
            count = int(environ["SLURM_ARRAY_TASK_COUNT"])
            if not 0 <= index < count:
                raise LongLLaDAError(f"SLURM array task {environ['SLURM_ARRAY_TASK_ID']} is not one of {count} tasks "
                                     "numbered without gaps; submit the array as --array=0-N or give --shard I/N",
                                     parameters=("shard",))
            return index, count
        return 0, 1
    try:
        index, count = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise LongLLaDAError(f"shard {text!r} must look like I/N, e.g. 0/4 (shard I of N, counted from 0)",
                             parameters=("shard",)) from None
    if not (count >= 1 and 0 <= index < count):
        raise LongLLaDAError(f"shard {text!r}: need 0 ≤ I < N", parameters=("shard",))
    return index, count


def shard_cells(keys: Iterable[str], shard: tuple[int, int]) -> list[str]:
    index, count = shard
    return [k for i, k in enumerate(keys) if i % count == index]


@dataclass
class ResultsFile:
    """A results file opened for a run: ``done`` holds the finished cells by key. Without a path the cells are kept
    in memory only (a library call that asks for no file)."""

    path: Path | None
    protocol: str
    settings: dict
    shard: tuple[int, int] = (0, 1)
    done: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path | None, protocol: str, settings: dict, shard: tuple[int, int] = (0, 1),
             legacy: dict | None = None, cells: int | None = None) -> ResultsFile:
        """Open (or create) a results file for a run. ``legacy`` names settings added after older files were written,
        with the value those files ran with (or :data:`ANY`): an older file without such a setting resumes when the
        run's value is that one (its header is left as it is). ``cells``: how many cells the finished file holds
        (kept in a new file's header, so a merge can tell a finished shard from an interrupted one)."""
        settings = json.loads(json.dumps(settings))  # normalise (tuples → lists) for comparison
        if path is None:
            return cls(None, protocol, settings, shard)
        path = Path(path)
        results = cls(path, protocol, settings, shard)
        if path.exists() and path.stat().st_size > 0:
            header, cells = _read(path, repair=True)
            if header.get("protocol") != protocol:
                raise LongLLaDAError(f"{path} holds {header.get('protocol')!r} results, not {protocol!r}; "
                                     "choose another output", parameters=("output",))
            old = header.get("settings", {})
            absent = {k for k, v in (legacy or {}).items() if k not in old and (v is ANY or settings.get(k) == v)}
            compared = {k: v for k, v in settings.items() if k not in absent}
            if old != compared or tuple(header.get("shard", (0, 1))) != tuple(shard):
                diff = _differences(old, compared)
                if tuple(header.get("shard", (0, 1))) != tuple(shard):
                    diff.append(f"shard: {header.get('shard')} → {list(shard)}")
                older = " (written by an older version of this package, without those fields)" if any(
                    k not in old for k in compared) else ""
                raise LongLLaDAError(f"{path} was written with other settings ({'; '.join(diff)}){older}; results are "
                                     "never mixed — choose another output or delete the file to start over",
                                     parameters=("output",))
            results.done = {c["key"]: c for c in cells}
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            header = {"type": "header", "protocol": protocol, "settings": settings, "shard": list(shard),
                      "version": VERSION, "created_by": created_by(), **({"cells": cells} if cells is not None else {})}
            with path.open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(header, ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        return results

    def append(self, key: str, **values) -> dict:
        """Write one finished cell to disk now (flushed and synced) and remember it."""
        cell = {"type": "cell", "key": key, **values}
        if self.path is None:
            self.done[key] = cell
            return cell
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(cell, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.done[key] = cell
        return cell

    def todo(self, keys: Iterable[str]) -> list[str]:
        """The keys of this shard that are not finished yet, in order."""
        return [k for k in shard_cells(keys, self.shard) if k not in self.done]


def check_output(path: str | Path) -> None:
    """Refuse an output a run could not write, or must not touch, before any work: a directory, a path under a file,
    a folder without write permission, an existing file that is not one of our results files."""
    path = not_special(Path(path))
    if path.is_dir():
        raise LongLLaDAError(f"output {path} is a directory; give a file name such as {path / 'results.jsonl'}",
                             parameters=("output",))
    if path.exists() and path.stat().st_size > 0:  # an empty file is a run that stopped before its header
        read_header(path)
    if path.exists():
        if not os.access(path, os.W_OK):
            raise LongLLaDAError(f"output {path} is read-only", parameters=("output",))
        return
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise LongLLaDAError(f"output {path} lies under {folder}, which is a file", parameters=("output",))
    if not os.access(folder, os.W_OK):
        raise LongLLaDAError(f"cannot write output {path}: {folder} is not writable", parameters=("output",))


@contextmanager
def writer_lock(path: str | Path | None) -> Iterator[None]:
    """Hold an exclusive lock on a results file while a run writes it: a second process given the same output is
    refused before it reads or repairs anything (POSIX ``flock``; where there is none, no lock)."""
    if path is None:
        yield
        return
    path = not_special(Path(path))
    if path.is_dir():
        raise LongLLaDAError(f"output {path} is a directory; give a file name such as {path / 'results.jsonl'}",
                             parameters=("output",))
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:  # "a" creates the file and never changes what it holds
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise LongLLaDAError(f"another process is writing {path}; wait for it to finish or give this run another "
                                 "output", parameters=("output",)) from None
        yield


def read_header(path: Path) -> dict:
    """The header of a results file (a clear error when it is not one)."""
    return _read(Path(path))[0]


def _differences(old: dict, new: dict) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)] or ["format"]


def _read(path: Path, repair: bool = False) -> tuple[dict, list[dict]]:
    """The header and cells of a results file. With ``repair``, a last line cut short by a kill is dropped — only once
    the first line has proved the file is one of ours: any other file is refused untouched."""
    raw = regular_file(path, "results file").read_bytes()
    first = raw.split(b"\n", 1)[0]
    try:
        header = json.loads(first.decode("utf-8")) if first.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("type") != "header" or not isinstance(header.get("settings"), dict):
        torn = b"\n" not in raw and raw.startswith(b'{"type": "header"')
        raise LongLLaDAError(f"{path} " + ("holds a header cut off while it was written; delete the file to start over"
                                           if torn else "is not a longllada results file (its first line is not a "
                                           "header); choose another output or move the file away"))
    if repair and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        with path.open("r+b") as handle:  # drop the line a kill cut short; its cell runs again
            handle.truncate(cut)
        raw = raw[:cut]
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise LongLLaDAError(f"{path}: bytes that are not UTF-8 at offset {error.start}; the file is damaged") from None
    cells = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        try:
            cell = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) and not repair:
                continue  # a run is writing this line right now
            raise LongLLaDAError(f"{path}, line {number}: not valid JSON; the file is damaged") from None
        if not isinstance(cell, dict) or not isinstance(cell.get("key"), str):
            raise LongLLaDAError(f"{path}, line {number}: not a results cell (an object with a key); the file is "
                                 "damaged")
        cells.append(cell)
    return header, cells


@dataclass(frozen=True)
class Results:
    """One or more results files of the same run (shards), read as one."""

    protocol: str
    settings: dict
    cells: list[dict]
    paths: list[Path]

    def __iter__(self) -> Iterator[dict]:
        return iter(self.cells)


def load_results(paths: Iterable[str | Path]) -> Results:
    """Read results files (e.g. one per shard) as one; they must share protocol and settings."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise LongLLaDAError("no results files given")
    protocol, settings, cells, seen = None, None, [], set()
    for path in paths:
        header, file_cells = _read(path)
        if protocol is None:
            protocol, settings = header["protocol"], header["settings"]
        elif (header["protocol"], header["settings"]) != (protocol, settings):
            raise LongLLaDAError(f"{path} was written by another run ({header['protocol']}, "
                                 f"{'; '.join(_differences(settings, header['settings']))}) than {paths[0]}")
        for cell in file_cells:
            if cell["key"] not in seen:
                seen.add(cell["key"])
                cells.append(cell)
    return Results(protocol, settings, cells, paths)


def merge_shards(paths: Iterable[str | Path], output: str | Path) -> Path:
    """One results file from the shard files of one run, cells in the order one process writes them (shard k's i-th
    cell is the run's cell i·N + k). Refused, in one line each: headers of another run, a shard missing or given
    twice, an unfinished shard (fewer cells than its header says), a cell in two shards."""
    files = [(Path(p), *_read(Path(p))) for p in paths]
    if not files:
        raise LongLLaDAError("no shard files given")
    first_path, first, _ = files[0]
    count = int(first.get("shard", [0, 1])[1])
    for path, header, cells in files:
        if (header["protocol"], header["settings"]) != (first["protocol"], first["settings"]):
            raise LongLLaDAError(f"{path} was written by another run than {first_path} "
                                 f"({'; '.join(_differences(first['settings'], header['settings'])) or 'protocol'})")
        if int(header.get("shard", [0, 1])[1]) != count:
            raise LongLLaDAError(f"{path} is a shard of {header.get('shard', [0, 1])[1]}, {first_path} of {count}")
        if "cells" not in header:
            raise LongLLaDAError(f"{path} does not say how many cells it should hold (written before shard files "
                                 "recorded it), so it cannot be checked complete; rerun its shard into a new file")
        if len(cells) != header["cells"]:
            raise LongLLaDAError(f"{path} holds {len(cells)} of its {header['cells']} cells: resume it (rerun its "
                                 "command) before merging")
    shards = sorted(int(header["shard"][0]) for _, header, _ in files)
    if shards != list(range(count)):
        missing = sorted(set(range(count)) - set(shards))
        twice = sorted({s for s in shards if shards.count(s) > 1})
        problems = [f"missing {missing}"] * bool(missing) + [f"given twice {twice}"] * bool(twice)
        raise LongLLaDAError(f"the shards given are {shards} of {count}: {'; '.join(problems)}")
    ordered = [cells for _, _, cells in sorted(files, key=lambda f: f[1]["shard"][0])]
    merged = [shard[i] for i in range(max(map(len, ordered))) for shard in ordered if i < len(shard)]
    keys = [cell["key"] for cell in merged]
    if len(set(keys)) != len(keys):
        raise LongLLaDAError(f"cell {next(k for k in keys if keys.count(k) > 1)!r} is in two shards")
    header = {"type": "header", "protocol": first["protocol"], "settings": first["settings"], "shard": [0, 1],
              "version": VERSION, "created_by": created_by(), "cells": len(merged),
              "merged_from": [path.name for path, _, _ in files]}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in [header, *merged]),
                      encoding="utf-8")
    return output
