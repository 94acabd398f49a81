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
from .sampler import answers as model_answers
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
    batch_size: int = 1   # cells of one length answered in one batch (fixed groups, so resuming is exact)

    def __post_init__(self):
        if self.format not in FORMATS:
            raise LongLLaDAError(f"prompt format {self.format!r} is unknown; expected one of {', '.join(FORMATS)}")
        if not self.lengths:
            raise LongLLaDAError("give at least one length")
        if any(b <= a for a, b in zip(self.lengths, self.lengths[1:])):
            raise LongLLaDAError(f"lengths {', '.join(map(str, self.lengths))} must be increasing, each larger than "
                                 "the one before (e.g. 2k,4k,8k)")
        for depth in self.depths:
            if not 0 <= depth <= 100:
                raise LongLLaDAError(f"depth {depth} must be a percentage from 0 to 100")
        check_sampler(self.answer_length, self.block_length, self.steps)
        if self.batch_size < 1:
            raise LongLLaDAError(f"--batch-size {self.batch_size} must be at least 1")

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


def niah_cells(loaded, haystack_ids: list[int], needles: list[Needle] | str, settings: NiahSettings,
               keys: list[str]) -> list[dict]:
    """Build, answer (in one batch) and score the cells ``keys`` of one length. Each cell is a pure function of the
    settings' seed and its key (and, to float rounding, of the batch it is answered in)."""
    prompts, meta = [], []
    for key in keys:
        length, depth, index = _parse_key(key)
        rng = random.Random(cell_seed(settings.seed, key))
        needle = passkey_needle(rng) if needles == "passkey" else needles[rng.randrange(len(needles))]
        budget = length - len(loaded.prefix_ids)
        haystack = _cyclic(haystack_ids, rng.randrange(len(haystack_ids)), budget)
        prompt = build_prompt(loaded.tokenizer, haystack, needle, budget, depth, FORMATS[settings.format])
        prompts.append(loaded.prefix_ids + prompt.ids)
        meta.append((key, length, depth, index, needle, prompt))
    replies = model_answers(loaded, prompts, settings.answer_length, settings.block_length, settings.steps,
                            settings.temperature, seeds=[cell_seed(settings.seed, key + ":sample") for key in keys])
    cells = []
    for (key, length, depth, index, needle, prompt), reply in zip(meta, replies):
        text = loaded.tokenizer.decode(reply)
        score = needle_score(text, needle)
        cells.append({"key": key, "length": length, "depth": depth, "needle": index, "keyword": needle.keyword,
                      "distance": prompt.distance, "answer": text, "score": round(score, 4), "hit": score == 100.0})
    return cells


def batches(keys: list[str], size: int) -> list[list[str]]:
    """Fixed groups of at most ``size`` consecutive keys of one length (the same groups on every run)."""
    groups: list[list[str]] = []
    for key in keys:
        if groups and len(groups[-1]) < size and _parse_key(groups[-1][0])[0] == _parse_key(key)[0]:
            groups[-1].append(key)
        else:
            groups.append([key])
    return groups


def run_niah(loaded, haystack_ids: list[int], needles: list[Needle] | str, settings: NiahSettings,
             output: str | None = None, shard: tuple[int, int] = (0, 1), progress: bool = True) -> list[dict]:
    """Run (or resume) the grid; returns all cells of this shard, finished ones included."""
    from tqdm.auto import tqdm

    header = {**loaded.settings(), **asdict(settings)}
    store = ResultsFile.open(output, "niah", header, shard) if output else None
    done = dict(store.done) if store else {}
    keys = [k for i, k in enumerate(settings.keys()) if i % shard[1] == shard[0]]
    groups = [g for g in batches(keys, settings.batch_size) if not all(k in done for k in g)]
    bar = tqdm(total=sum(len(g) for g in groups), desc=f"NIAH {loaded.name}", unit="cell", disable=not progress)
    for group in groups:
        for cell in niah_cells(loaded, haystack_ids, needles, settings, group):
            if cell["key"] not in done:
                done[cell["key"]] = store.append(**cell) if store else cell
        bar.update(len(group))
    bar.close()
    return [done[k] for k in keys]


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
