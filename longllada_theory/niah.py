"""The needle-in-a-haystack grid (Figures 1b, 2 and 6 of the paper): lengths × depths × needles, each cell a
prompt of exactly ``length`` tokens in the model's own tokenizer, answered by the model's sampler (greedy for AR,
low-confidence remasking for diffusion), scored 0–100 as NeedleBench does (:func:`~longllada_theory.needles.needle_score`).

Every finished cell is appended to the results file at once; rerunning the same command resumes.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np

from .errors import LongLLaDAError
from .needles import FORMATS, Needle, build_prompt, needle_score, passkey_needle
from .results import ResultsFile, cell_seed
from .sampler import answer as model_answer
from .sampler import check_sampler


@dataclass(frozen=True)
class NiahSettings:
    lengths: tuple[int, ...]
    depths: tuple[float, ...] = tuple(range(0, 101, 10))
    needles_per_cell: int = 1
    format: str = "plain"
    answer_length: int = 32
    block_length: int = 32
    steps: int = 32
    temperature: float = 0.0
    seed: int = 0
    haystack: str = "builtin:noise"
    needles: str = "builtin"

    def __post_init__(self):
        if self.format not in FORMATS:
            raise LongLLaDAError(f"prompt format {self.format!r} is unknown; expected one of {', '.join(FORMATS)}")
        if not self.lengths:
            raise LongLLaDAError("give at least one length")
        for depth in self.depths:
            if not 0 <= depth <= 100:
                raise LongLLaDAError(f"depth {depth} must be a percentage from 0 to 100")
        check_sampler(self.answer_length, self.block_length, self.steps)

    def keys(self) -> list[str]:
        return [cell_key(length, depth, j) for length in self.lengths for depth in self.depths
                for j in range(self.needles_per_cell)]


def cell_key(length: int, depth: float, index: int) -> str:
    return f"L{length}/D{depth:g}/N{index}"


def parse_depths(text: str) -> tuple[float, ...]:
    """``0:100:10`` (start:stop:step, inclusive) or ``0,50,100``."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0:
                raise ValueError
            return tuple(float(round(x, 6)) for x in np.arange(start, stop + step / 2, step))
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise LongLLaDAError(f"depths {text!r}: expected start:stop:step like 0:100:10, or a list like 0,50,100") from None


def niah_cell(loaded, haystack_ids: list[int], needles: list[Needle] | str, settings: NiahSettings,
              length: int, depth: float, index: int) -> dict:
    """Build, answer and score one cell; a pure function of the settings' seed and the cell's key."""
    key = cell_key(length, depth, index)
    rng = random.Random(cell_seed(settings.seed, key))
    needle = passkey_needle(rng) if needles == "passkey" else needles[rng.randrange(len(needles))]
    offset = rng.randrange(len(haystack_ids))
    budget = length - len(loaded.prefix_ids)
    haystack = _cyclic(haystack_ids, offset, budget)
    prompt = build_prompt(loaded.tokenizer, haystack, needle, budget, depth, FORMATS[settings.format])
    ids = loaded.prefix_ids + prompt.ids
    reply = model_answer(loaded, ids, settings.answer_length, settings.block_length, settings.steps,
                         settings.temperature, seed=cell_seed(settings.seed, key + ":sample"))
    text = loaded.tokenizer.decode(reply)
    score = needle_score(text, needle)
    return {"key": key, "length": length, "depth": depth, "needle": index, "keyword": needle.keyword,
            "distance": prompt.distance, "answer": text, "score": round(score, 4), "hit": score == 100.0}


def run_niah(loaded, haystack_ids: list[int], needles: list[Needle] | str, settings: NiahSettings,
             output: str | None = None, shard: tuple[int, int] = (0, 1), progress: bool = True) -> list[dict]:
    """Run (or resume) the grid; returns all cells of this shard, finished ones included."""
    from tqdm.auto import tqdm

    header = {**loaded.settings(), **asdict(settings)}
    store = ResultsFile.open(output, "niah", header, shard) if output else None
    done = dict(store.done) if store else {}
    keys = [k for i, k in enumerate(settings.keys()) if i % shard[1] == shard[0]]
    todo = [k for k in keys if k not in done]
    cells = {}
    for key in tqdm(todo, desc=f"NIAH {loaded.name}", unit="cell", disable=not progress):
        length, depth, index = _parse_key(key)
        cell = niah_cell(loaded, haystack_ids, needles, settings, length, depth, index)
        cells[key] = store.append(**cell) if store else cell
    return [done.get(k) or cells[k] for k in keys]


def _cyclic(ids: list[int], offset: int, count: int) -> list[int]:
    """``count`` tokens of ``ids`` from ``offset`` on, wrapping around."""
    out = list(ids[offset:offset + count])
    while len(out) < count:
        out += ids[: count - len(out)]
    return out


def _parse_key(key: str) -> tuple[int, float, int]:
    length, depth, index = key.split("/")
    return int(length[1:]), float(depth[1:]), int(index[1:])


def niah_grid(cells: Iterable[dict], value: str = "score"):
    """A lengths × depths table (pandas) of the mean ``value`` per cell."""
    import pandas as pd

    frame = pd.DataFrame(list(cells))
    if frame.empty:
        raise LongLLaDAError("no NIAH cells to tabulate")
    frame[value] = frame[value].astype(float)
    return frame.pivot_table(index="depth", columns="length", values=value, aggfunc="mean").sort_index()
