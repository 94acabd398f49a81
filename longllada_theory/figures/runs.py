"""Figures of results files (``longllada plot``): shards of one run are merged; different runs become different
series or panels, drawn by their protocol's own figure."""

from __future__ import annotations

from pathlib import Path

from ..errors import LongLLaDAError
from ..files import regular_file
from ..measure.results import load_results, read_header
from .protocols import protocol_figure


def group_runs(paths: list[str]) -> list:
    """Results of each distinct run, in the order first seen."""
    groups: dict[str, list[Path]] = {}
    for path in paths:
        header = read_header(regular_file(path, "results file"))
        key = repr((header.get("protocol"), header.get("settings")))
        groups.setdefault(key, []).append(Path(path))
    return [load_results(files) for files in groups.values()]


def plot_results(paths: list[str], title: str | None = None):
    """One figure of the runs in ``paths`` (all of one protocol)."""
    runs = group_runs(paths)
    empty = [str(p) for r in runs if not r.cells for p in r.paths]
    if empty:
        raise LongLLaDAError(f"{', '.join(empty)} hold(s) no finished cell yet; nothing to draw")
    protocols = {r.protocol for r in runs}
    if len(protocols) > 1:
        raise LongLLaDAError(f"cannot draw {' and '.join(sorted(protocols))} results in one figure")
    protocol = protocols.pop()
    figure = protocol_figure(protocol, runs, title)
    if figure is None:
        raise LongLLaDAError(f"{protocol} results have no figure")
    return figure
