"""The needle-in-a-haystack grid (Figures 1b, 2 and 6 of the paper; the ``niah`` measurement): lengths × depths ×
needles, answered by the model's sampler (greedy for AR, the family's sampler for diffusion), scored 0–100 as
NeedleBench does (:func:`~longllada_theory.measure.inputs.needles.needle_score`).

Two protocols (``--protocol``):

- ``paper``: NeedleBench "origin" as LongLLaDA ran it (:mod:`.needlebench`): the haystack cut to length − 600 − needle
  tokens with the template on top, 10 repeats per cell with the needle and document order fixed per repeat, scored
  against the needle sentence. Needs NeedleBench's ``needles.jsonl``.
- ``package``: a prompt of exactly ``length`` tokens (haystack cut from a cyclic window at a random offset, a random
  needle per cell, the chosen ``--format``), scored against the needle's expected answer — every cell the same size,
  any needle set (built-in, pass keys).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from ...errors import LongLLaDAError
from ...lengths import format_length
from ...reference import Reference, reference_grid
from ...values import Head, Length, Listing, Whole
from ..inputs.needles import FORMATS, Needle, build_prompt, load_needles, needle_score, passkey_needle
from ..inputs.texts import load_documents, load_text
from ..probe.ablation import head_outputs, heads_ablated
from ..protocol import Protocol, option, register_protocol
from ..results import cell_seed
from ..sampling import SamplerSettings
from ..sampling import answers as model_answers
from ..stats import mean_with_se, rate_with_interval
from .needlebench import LENGTH_BUFFER, REPEATS, needle_rows, paper_prompt
from .needlebench import repeat as paper_repeat

if TYPE_CHECKING:
    from ...models.loading import LoadedModel


def parse_depths(text: str) -> tuple[float, ...]:
    """``0:100:10`` (start:stop:step, inclusive) or ``0,50,100``."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if not step > 0 or not (stop - start) / step <= 1000:
                raise ValueError
            return tuple(float(round(x, 6)) for x in np.arange(start, stop + step / 2, step))
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise LongLLaDAError(f"depths {text!r}: expected start:stop:step like 0:100:10 (at most 1001 values), or a "
                             "list like 0,50,100",
                             parameters=("depths",)) from None


@dataclass(frozen=True)
class NiahSettings(SamplerSettings):
    lengths: tuple[int, ...] = option("comma-separated context lengths", (2048, 4096, 8192),
                                      parse=Listing(Length()))
    depths: tuple[float, ...] = option("needle depths in %: start:stop:step or a list", tuple(range(0, 101, 10)),
                                       parse=parse_depths)
    protocol: str = option("paper: NeedleBench origin as LongLLaDA ran it (needs --needles needles.jsonl); package: "
                           "prompts of exactly each length", "package", choices=("paper", "package"), legacy="package")
    needles_per_cell: int | None = option("needles asked per length × depth (default: 10 repeats for paper, else 1)",
                                          None, parse=Whole(1, 10_000))
    format: str = option("prompt layout", "plain", choices=tuple(FORMATS))
    seed: int = option("random seed", 0, cli=False)
    haystack: str = option("a .txt, a .jsonl (see --haystack-field), builtin:noise or builtin:stdlib", "builtin:noise")
    needles: str = option("builtin (English set), passkey, or a NeedleBench-style needles.jsonl", "builtin")
    haystack_field: str = option("field of a .jsonl haystack file", "text", header=False)
    ablate_heads: tuple[str, ...] | None = option("zero these attention heads' outputs (layer.head, comma-separated, "
                                                  "e.g. the top heads a retrieval run names)", None,
                                                  parse=Listing(Head()), legacy=None)

    def __post_init__(self):
        super().__post_init__()
        if self.needles_per_cell is None:
            object.__setattr__(self, "needles_per_cell", REPEATS if self.protocol == "paper" else 1)
        if self.protocol == "paper" and self.needles in ("builtin", "passkey"):
            raise LongLLaDAError("--protocol paper asks NeedleBench's own needles: give --needles needles.jsonl",
                                 parameters=("needles",))
        FORMATS.entry(self.format, parameter="format")
        if not self.lengths:
            raise LongLLaDAError("give at least one length", parameters=("lengths",))
        if any(b <= a for a, b in zip(self.lengths, self.lengths[1:])):
            raise LongLLaDAError(f"lengths {', '.join(map(str, self.lengths))} must be increasing, each larger than "
                                 "the one before (e.g. 2k,4k,8k)", parameters=("lengths",))
        for depth in self.depths:
            if not 0 <= depth <= 100:
                raise LongLLaDAError(f"depth {depth} must be a percentage from 0 to 100", parameters=("depths",))
        if self.protocol == "package" and self.answer_length >= min(self.lengths):
            raise LongLLaDAError(f"answer_length {self.answer_length} must be smaller than every length (the prompt "
                                 "holds the answer)", parameters=("answer_length",))

    def keys(self) -> list[str]:
        return [cell_key(length, depth, j) for length in self.lengths for depth in self.depths
                for j in range(self.needles_per_cell)]


class NiahCell(TypedDict):
    """One answered needle: where it was, how far from the question, the answer and its NeedleBench score."""

    key: str
    length: int
    depth: float
    needle: int
    keyword: str
    distance: int
    answer: str
    score: float
    hit: bool


def cell_key(length: int, depth: float, index: int) -> str:
    return f"L{length}/D{depth:g}/N{index}"


def niah_cells(loaded: LoadedModel, inputs: tuple, settings: NiahSettings, keys: list[str]) -> list[NiahCell]:
    """Build, answer (in one batch) and score the cells ``keys`` of one length; ``inputs`` is what
    :meth:`NeedleInAHaystack.prepare` made of the needles and haystack. Each cell is a pure function of the
    settings' seed and its key (and, to float rounding, of the batch it is answered in)."""
    prompts = [cell_prompt(loaded, inputs, settings, key) for key in keys]
    with heads_ablated(loaded, settings.ablate_heads):
        replies = model_answers(loaded, [p.ids for p in prompts], settings.resolved(loaded).sampler_options(),
                                seeds=[answer_seed(settings, key) for key in keys])
    return [scored(loaded, prompt, reply) for prompt, reply in zip(prompts, replies)]


def answer_seed(settings: NiahSettings, key: str) -> int:
    """The sampler's seed of one cell."""
    return cell_seed(settings.seed, key + ":sample")


def scored(loaded: LoadedModel, prompt: CellPrompt, reply: list[int]) -> NiahCell:
    """A cell from its prompt and the model's answer: the answer's text and its NeedleBench score."""
    text = loaded.tokenizer.decode(reply)
    score = needle_score(text, prompt.needle)
    length, depth, index = _parse_key(prompt.key)
    return {"key": prompt.key, "length": length, "depth": depth, "needle": index, "keyword": prompt.needle.keyword,
            "distance": prompt.distance, "answer": text, "score": round(score, 4), "hit": score == 100.0}


@dataclass(frozen=True)
class CellPrompt:
    """One cell's prompt ids, its needle, the needle's distance in tokens from the answer and, for the package
    protocol, the needle's token span in ``ids``."""

    key: str
    ids: list[int]
    needle: Needle
    distance: int
    needle_span: tuple[int, int] | None


def cell_prompt(loaded: LoadedModel, inputs: tuple, settings: NiahSettings, key: str) -> CellPrompt:
    """The prompt of the cell ``key``, by the run's protocol."""
    tokenizer = loaded.tokenizer
    length, depth, index = _parse_key(key)
    if settings.protocol == "paper":
        documents, rows = inputs
        chosen = paper_repeat(documents, rows, index)
        prompt = paper_prompt(tokenizer, chosen.documents, chosen.needle, length, depth)
        return CellPrompt(key, loaded.prefix_ids + tokenizer.encode(prompt.text), chosen.needle,
                          len(tokenizer.encode(prompt.distance_text)), None)
    haystack_ids, needles = inputs
    rng = random.Random(cell_seed(settings.seed, key))
    needle = passkey_needle(rng) if needles == "passkey" else needles[rng.randrange(len(needles))]
    budget = length - len(loaded.prefix_ids)
    haystack = _cyclic(haystack_ids, rng.randrange(len(haystack_ids)), budget)
    prompt = build_prompt(tokenizer, haystack, needle, budget, depth, FORMATS[settings.format])
    offset = len(loaded.prefix_ids)
    return CellPrompt(key, loaded.prefix_ids + prompt.ids, needle, prompt.distance,
                      (offset + prompt.needle_start, offset + prompt.needle_end))


def batches(keys: list[str], size: int) -> list[list[str]]:
    """Fixed groups of at most ``size`` consecutive keys of one length (the same groups on every run)."""
    groups: list[list[str]] = []
    for key in keys:
        if groups and len(groups[-1]) < size and _parse_key(groups[-1][0])[0] == _parse_key(key)[0]:
            groups[-1].append(key)
        else:
            groups.append([key])
    return groups


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


def score_by_length(cells: Iterable[dict]) -> dict[int, dict]:
    """Per length, over all depths and needles: the mean score with its standard error and n, and the share of
    exact answers (score 100) with its Wilson 95 % interval."""
    by_length: dict[int, list[float]] = {}
    for cell in cells:
        by_length.setdefault(int(cell["length"]), []).append(float(cell["score"]))
    return {length: {**{k: round(v, 3) for k, v in mean_with_se(scores).items() if k != "n"}, "n": len(scores),
                     "exact": rate_with_interval(score >= 100 for score in scores)}
            for length, scores in sorted(by_length.items())}


def paper_length_in_run(length: int, protocol: str) -> int:
    """Where the paper's nominal NIAH length falls in a run of ``protocol``: the same nominal length under the paper's
    protocol (its prompts hold length − 600 − needle tokens of haystack, then the template); under the package's,
    whose prompts are exactly their length, the haystack and needle the paper's prompt holds, length − 600."""
    return length if protocol == "paper" else length - LENGTH_BUFFER


def _shared_cells(ours, theirs, tolerance: float, protocol: str) -> tuple[dict[int, int], dict[int, list]]:
    """Each paper length matched to the run's length nearest :func:`paper_length_in_run` (within ``tolerance``,
    relative), and the depths at each matched length where the run has a score."""
    matched, depths = {}, {}
    for length in theirs.columns:
        wanted = paper_length_in_run(int(length), protocol)
        close = [c for c in ours.columns if abs(c - wanted) <= tolerance * wanted]
        if close:
            matched[int(length)] = min(close, key=lambda c: abs(c - wanted))
            depths[int(length)] = [d for d in theirs.index
                                   if d in ours.index and not np.isnan(ours.loc[d, matched[int(length)]])]
    return matched, {length: found for length, found in depths.items() if found}


def compare_with_paper(cells: list[dict], reference: Reference, tolerance: float, protocol: str) -> dict:
    """Per-cell differences between a NIAH grid and the paper's, on the cells both have (the paper counts tokens with
    gpt-4's tiktoken encoding, the run with the model's own tokenizer, so lengths match within ``tolerance``). A run
    that lacks some of the paper's cells is compared on the rest and gets no verdict (``partial`` says what is
    missing); one that shares none is refused with the command that runs the paper's grid."""
    ours, theirs = niah_grid(cells), reference_grid(reference.model)
    matched, depths = _shared_cells(ours, theirs, tolerance, protocol)
    if not depths:
        raise LongLLaDAError(
            f"the results share no cell with {reference.name} (lengths {', '.join(map(str, theirs.columns))} "
            f"± {tolerance:.0%}, depths {', '.join(f'{d:g}' for d in theirs.index)}); run `longllada niah MODEL "
            f"--protocol paper --lengths {','.join(map(str, theirs.columns))} --depths "
            f"{','.join(f'{d:g}' for d in theirs.index)} --haystack PaulGrahamEssays.jsonl --needles needles.jsonl`")
    missing = []
    for length in map(int, theirs.columns):
        if length not in depths:
            missing.append(f"length {length} (all depths)")
        else:
            missing += [f"length {length} depth {d:g}" for d in theirs.index if d not in depths[length]]
    diff = {length: {f"{d:g}": round(float(ours.loc[d, matched[length]] - theirs.loc[d, length]), 2) for d in found}
            for length, found in depths.items()}
    values = np.array([v for by in diff.values() for v in by.values()])
    by_length = {length: {"ours": round(float(ours.loc[found, matched[length]].mean()), 2),
                          "paper": round(float(theirs.loc[found, length].mean()), 2)}
                 for length, found in depths.items()}
    mae = float(np.abs(values).mean())
    worst_length = max(abs(v["ours"] - v["paper"]) for v in by_length.values())
    document = {"reference": reference.name, "kind": "niah", "protocol": protocol,
                "matched_lengths": {length: int(matched[length]) for length in depths},
                "difference": diff, "mean_by_length": by_length, "mean_abs_difference": round(mae, 2),
                "max_abs_difference": round(float(np.abs(values).max()), 2),
                "share_within_20": round(float((np.abs(values) <= 20).mean()), 4),
                "cells_compared": len(values), "cells_in_reference": int(theirs.size),
                "reproduced": bool(not missing and mae <= 10 and worst_length <= 15),
                "criterion": "mean |Δ| ≤ 10 points over cells and every length's mean within 15 points"}
    if missing:
        document["partial"] = (f"compared on {len(values)} of {theirs.size} cells, no verdict; missing: "
                               f"{', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}")
    if protocol != "paper":
        document["note"] = ("this run used the package's protocol, not the paper's (--protocol paper); the paper's "
                            "lengths are matched to its prompt's haystack and needle, length − 600")
    return document


@register_protocol
class NeedleInAHaystack(Protocol):
    """The NIAH grid (module docstring)."""

    name = "niah"
    paper_figures = ("figure2", "figure1b")
    help = "needle-in-a-haystack grid of lengths × depths (the paper's Figures 1b/2)"
    description = ("Lengths × depths × needles; prompts measured in the model's own tokens; answers by greedy "
                   "decoding (AR) or the diffusion model's sampler; NeedleBench's 0–100 score.")
    settings_type = NiahSettings

    @classmethod
    def read_inputs(cls, settings: NiahSettings) -> tuple:
        if settings.protocol == "paper":
            return needle_rows(settings.needles), load_documents(settings.haystack, settings.haystack_field,
                                                                 field_parameter="haystack_field")
        if settings.needles == "passkey":
            needles = "passkey"
        else:
            needles = load_needles(None if settings.needles == "builtin" else settings.needles)
        return needles, load_text(settings.haystack, settings.haystack_field, field_parameter="haystack_field")

    def prepare(self) -> None:
        self.settings = self.settings.resolved(self.loaded)  # the header records what the sampler really used
        head_outputs(self.loaded, self.settings.ablate_heads or ())  # a head the model lacks fails before any cell
        needles, haystack = self.inputs
        if self.settings.protocol == "paper":
            self.cell_inputs = (haystack, needles)
        else:
            self.cell_inputs = (self.loaded.tokenizer.encode(haystack[: 64 * max(self.settings.lengths)]), needles)

    def keys(self) -> list[str]:
        return self.settings.keys()

    def batches(self, keys: list[str]) -> list[list[str]]:
        return batches(keys, self.settings.batch_size)

    def measure(self, keys: list[str]) -> list[dict]:
        return niah_cells(self.loaded, self.cell_inputs, self.settings, keys)

    @classmethod
    def summarize(cls, settings: dict, cells: list[dict]) -> dict:
        grid = niah_grid(cells)
        return {"mean_by_length": {str(k): round(float(v), 2) for k, v in grid.mean(axis=0).items()},
                "by_length": {str(k): v for k, v in score_by_length(cells).items()},
                "grid": {str(c): {str(d): round(float(v), 2) for d, v in grid[c].items()} for c in grid.columns}}

    @classmethod
    def compare(cls, settings: dict, cells: list[dict], reference: Reference, tolerance: float) -> dict:
        """Per-cell differences from the paper's grid (Figures 1b/2) on the cells both have; see
        :func:`compare_with_paper`."""
        return compare_with_paper(cells, reference, tolerance, settings.get("protocol", "package"))

    @classmethod
    def describe_comparison(cls, document: dict) -> str:
        return "\n".join([f"{document['reference']}: mean |Δ| {document['mean_abs_difference']} points, max "
                          f"{document['max_abs_difference']}, {100 * document['share_within_20']:.0f} % of cells "
                          "within 20"] +
                         [f"  {format_length(length):>6}: ours {means['ours']:6.1f}   paper {means['paper']:6.1f}"
                          for length, means in document["mean_by_length"].items()])

    @classmethod
    def claims(cls, settings: dict, cells: list[dict]) -> list[dict]:
        """An AR model fails every cell beyond T (score ≤ 20); a diffusion model retrieves needles within T of the
        question (≥ 80 %) but not farther than 1.5T (≤ 30 %), with Wilson intervals."""
        t, kind = settings.get("train_length"), settings.get("kind")
        beyond = [c for c in cells if t and c["length"] > t]
        if not beyond or kind not in ("ar", "diffusion") or (kind == "ar" and settings.get("scaling")):
            return []
        if kind == "ar":
            worst = max(c["score"] for c in beyond)
            return [{"claim": "an AR model fails NIAH beyond its window",
                     "measured": f"highest score of {len(beyond)} cells longer than T = {t}: {worst:.0f}",
                     "criterion": "every cell ≤ 20", "agrees": worst <= 20}]
        near = rate_with_interval(c["hit"] for c in beyond if c["distance"] <= t)
        far = rate_with_interval(c["hit"] for c in beyond if c["distance"] > 1.5 * t)
        if not near["n"] or not far["n"]:
            return []
        text = (f"needle within T: {100 * near['rate']:.0f} % [{100 * near['low']:.0f}, {100 * near['high']:.0f}] of "
                f"{near['n']}; farther than 1.5T: {100 * far['rate']:.0f} % [{100 * far['low']:.0f}, "
                f"{100 * far['high']:.0f}] of {far['n']}")
        return [{"claim": "local perception: retrieves needles within about T of the question only",
                 "measured": text, "criterion": "≥ 80 % within T and ≤ 30 % beyond 1.5T",
                 "agrees": near["rate"] >= 0.8 and far["rate"] <= 0.3}]

    @classmethod
    def result(cls, summary: dict) -> str:
        return "; ".join(f"{format_length(float(k))}: {v['mean']:.1f} ± {v['se']:.1f} (n {v['n']})"
                         for k, v in summary["by_length"].items())

    @classmethod
    def describe(cls, summary: dict) -> str:
        import pandas as pd

        grid = pd.DataFrame(summary["grid"])
        def score(v: dict) -> str:  # one cell has no standard error
            return f"{v['mean']:.1f} ± {v['se']:.1f} (n = {v['n']})" if v["n"] > 1 else f"{v['mean']:.1f} (one cell)"

        lines = [f"  {format_length(float(k))}: score {score(v)}, exact "
                 f"{100 * v['exact']['rate']:.0f}% [{100 * v['exact']['low']:.0f}, {100 * v['exact']['high']:.0f}]"
                 for k, v in summary["by_length"].items()]
        return grid.to_string() + "\nby length (mean ± standard error; exact answers with Wilson 95 %):\n" + "\n".join(
            lines)
