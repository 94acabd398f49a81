"""The twins' evaluation suite (``longllada toy report``): the paper's three phenomena measured on every seed's AR
twin and two diffusion twins (adapted from the AR twin; from scratch) with the library's own perplexity, sampler, NIAH
and NTK-loading code, then summarised over the seeds.

1. **Stable perplexity** — perplexity of the last T tokens of held-out text at context lengths T, 2T, 4T, 8T
   (AR: next-token loss; diffusion: the Monte-Carlo masked estimate, chunks given their full prefix). Like for like
   at every length and for every twin: the window's first chunk is not scored, so each scored token has at least one
   chunk of context and the same positions count for every twin.
2. **Local perception** — passkey retrieval over lengths × depths; the hit rate when the needle lies within the
   last T tokens before the question vs. farther than 1.5 T.
3. **The scaling law** — for each method's λ for 4T: the length the method predicts the model reaches (its own
   reading: causal for the law, bidirectional for the diffusion-aware law) and the measured breakdown length — the
   first length on a grid of 10 % steps at which the last-window perplexity exceeds 1.5 × its value at T, or
   retrieval falls below 50 %.

Rates are pooled over the seeds with Wilson 95 % intervals, perplexities averaged in log space with the standard
error across seeds; each seed's values are kept. Each measured cell is appended to a results file under the work
folder, so an interrupted report resumes.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LongLLaDAError
from ..lengths import format_length
from ..measure.niah import NeedleInAHaystack, NiahSettings
from ..measure.perplexity import perplexity_cells
from ..measure.protocol import Protocol, option, run
from ..measure.results import cell_seed
from ..measure.stats import geometric_seed_interval, rate_with_interval, seed_interval, t_quantile
from ..measure.texts import load_corpus
from ..outputs import write_json
from .train import TWINS

if TYPE_CHECKING:
    from ..models.loading import LoadedModel

DIFFUSION_TWINS = tuple(twin for twin in TWINS if twin != "ar")
#: how each method reads its own prediction (the attention it assumes)
READING = {"longllada": "causal", "diffusion-aware": "bidirectional"}


@dataclass(frozen=True)
class ReportSettings:
    multiples: tuple[float, ...] = (1, 2, 4, 8)           # × T: perplexity
    retrieval_multiples: tuple[float, ...] = (1, 1.5, 2, 4)  # × T: passkey retrieval over depths
    depths: tuple[float, ...] = tuple(float(d) for d in range(0, 101, 10))
    samples: int = 10                  # passkeys per length × depth and seed in the main grid
    segments: int = 8                  # held-out text segments per perplexity value
    chunk: int = 32
    mc: int = 4
    answer_length: int = 8
    methods: tuple[str, ...] = ("longllada", "diffusion-aware")
    targets: tuple[int, ...] = (4,)    # × T
    grid_ratio: float = 1.1            # breakdown grid: T·ratio^k up to grid_end × T
    grid_end: float = 6.0
    breakdown_samples: int = 3         # passkeys per length × depth and seed when searching for the breakdown
    breakdown_segments: int = 4
    sweep: tuple[float, ...] = (0.5, 1, 2)  # × the law's λ for 4T, retrieval at 4T
    seed: int = 0
    batch_size: int = 64               # passkeys answered in one batch

    def grid(self, t: int) -> list[int]:
        """The breakdown grid: T·ratio^k rounded to whole tokens, from T to ``grid_end``·T."""
        count = int(math.floor(math.log(self.grid_end) / math.log(self.grid_ratio) + 1e-9))
        return sorted({round(t * self.grid_ratio ** k) for k in range(count + 1)})


@dataclass(frozen=True)
class WindowSettings:
    length: int = option("context length", 0, cli=False, header=False)  # in every key: one file for all lengths
    chunk: int = option("chunk size", 32, cli=False)
    mc: int = option("Monte-Carlo samples per chunk", 8, cli=False)
    segments: int = option("held-out segments per length", 8, cli=False, header=False)  # keys name the segment
    span: int = option("tokens of each held-out segment; length L reads its last L", 4096, cli=False)
    masks: str = option("Monte-Carlo masks counted from", "window", cli=False)
    seed: int = option("random seed", 0, cli=False)
    corpus: str = option("digest of the standard-library corpus", "", cli=False)


#: the reduced grid of ``longllada toy report --quick``
QUICK = ReportSettings(samples=2, segments=2, mc=4, retrieval_multiples=(1, 2, 4), grid_ratio=2.0, grid_end=4.0,
                       breakdown_samples=1, breakdown_segments=2, sweep=(1,), methods=("longllada",))


class LastWindowPerplexity(Protocol):
    """Perplexity of the last T tokens but their first chunk, for the last ``length`` tokens of ``segments`` held-out
    segments of ``span`` tokens, each chunk given its full prefix; keys ``L{length}/S{segment}/{chunk start}``.
    Every length scores the same text — each segment's last T − chunk tokens — with more or less context before it,
    and a diffusion twin's Monte-Carlo masks are the same at every length (counted from the window's start), so
    values at different lengths differ by the context alone."""

    name = "twin-ppl"
    help = "the twins' last-window perplexity"
    settings_type = WindowSettings

    @property
    def score_from(self) -> int:
        return self.settings.length - self.loaded.spec.train_length + self.settings.chunk

    def segment_ids(self, segment: int) -> list[int]:
        s, heldout = self.settings, load_corpus().heldout
        if not s.length <= s.span <= len(heldout):
            raise LongLLaDAError(f"length {s.length} must lie within the segment span {s.span} (at most "
                                 f"{len(heldout)}, the held-out corpus)")
        start = np.random.default_rng(cell_seed(s.seed, f"segment:{segment}")).integers(0, len(heldout) - s.span)
        end = start + s.span
        return heldout[end - s.length:end].tolist()

    def keys(self) -> list[str]:
        s = self.settings
        starts = range(self.score_from, s.length, s.chunk)
        return [f"L{s.length}/S{segment}/{lo}" for segment in range(s.segments) for lo in starts]

    def batches(self, keys: list[str]) -> list[list[str]]:
        """One segment per batch (one forward pass for an AR twin)."""
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(key.rsplit("/", 1)[0], []).append(key)
        return list(groups.values())

    def measure(self, keys: list[str]) -> list[dict]:
        s = self.settings
        prefix = keys[0].rsplit("/", 1)[0] + "/"
        cells = perplexity_cells(self.loaded, self.segment_ids(int(prefix.split("/")[1][1:])), s.chunk, s.mc,
                                 seed=s.seed, score_from=self.score_from, key_prefix=prefix,
                                 origin=s.length - self.loaded.spec.train_length)
        return [c for c in cells if c["key"] in set(keys)]


@dataclass(frozen=True)
class TwinRetrievalSettings(NiahSettings):
    """NIAH's settings, with the length and the samples per cell out of the header: the keys name both, so every
    length and sample count of one twin shares one results file."""

    lengths: tuple[int, ...] = option("context lengths", (128,), cli=False, header=False)
    needles_per_cell: int | None = option("passkeys per length × depth", None, cli=False, header=False)


class TwinRetrieval(NeedleInAHaystack):
    """Passkey cells on the held-out corpus (its bytes are the haystack ids)."""

    name = "twin-niah"
    settings_type = TwinRetrievalSettings

    @classmethod
    def read_inputs(cls, settings):
        return "passkey", load_corpus().digest

    def prepare(self) -> None:
        self.cell_inputs = (load_corpus().heldout.tolist(), "passkey")


def seed_folders(twins_dir: Path) -> dict[int, Path]:
    """``{seed: folder}`` of the ``seed<s>/`` folders under ``twins_dir`` that hold every twin; a clear error when
    there are none."""
    found = {int(folder.name[4:]): folder for folder in Path(twins_dir).glob("seed*")
             if folder.name[4:].isdigit() and all((folder / twin / "model.safetensors").is_file() for twin in TWINS)}
    if not found:
        raise LongLLaDAError(f"no trained twins in {twins_dir} (expected seed<N>/{{{','.join(TWINS)}}}/ folders); "
                             "train them with `longllada toy train`")
    return dict(sorted(found.items()))


def checked_corpus(twins_dir: Path):
    """The standard-library corpus, if it is the one the twins under ``twins_dir`` were trained on (the digest in
    their training records); a clear error otherwise — another Python's standard library gives other held-out text,
    so measurements would not be comparable with the stored ones."""
    import platform

    corpus = load_corpus()
    trained = {stage.get("corpus") for record in Path(twins_dir).glob("**/training_record.json")
               for stage in json.loads(record.read_text()).get("stages", [])}
    trained.discard(None)
    if trained and corpus.digest not in trained:
        raise LongLLaDAError(f"the twins in {twins_dir} were trained on a standard-library corpus with digest "
                             f"{', '.join(sorted(trained))}; this Python ({platform.python_version()}) gives "
                             f"{corpus.digest}, so its held-out text differs and results would not compare with the "
                             "stored ones — use the Python they were trained with, or retrain (longllada toy train)")
    return corpus


class TwinBench:
    """Measures the twins of one seed folder (optionally NTK-scaled) at many lengths, caching every cell in results
    files under ``work``."""

    def __init__(self, folder: Path, work: Path, settings: ReportSettings, progress: bool = True):
        self.folder, self.work, self.settings, self.progress = Path(folder), Path(work), settings, progress
        self.corpus = checked_corpus(self.folder)
        self._models: dict = {}

    def model(self, twin: str, method: str | None = None, target: int | None = None, factor: float | None = None):
        from ..models.loading import load_model

        key = (twin, method, target, factor)
        if key not in self._models:
            folder = self.folder / twin
            if not (folder / "model.safetensors").is_file():
                raise LongLLaDAError(f"twin checkpoint {folder} is missing; regenerate it with `longllada toy train`")
            self._models[key] = load_model(str(folder), device="cpu", rope_scale=factor,
                                           target=target if factor is None else None, method=method or "longllada")
        return self._models[key]

    def _path(self, loaded: LoadedModel, protocol: str) -> Path:
        scaling = "direct" if loaded.plan is None else f"{loaded.plan.method}-{loaded.plan.scaling_factor:.6g}"
        twin = Path(loaded.name).name  # the twin's folder, which names it
        return self.work / f"{protocol}_{twin}_{scaling}.jsonl"

    def window_ppl(self, loaded: LoadedModel, length: int, segments: int | None = None) -> tuple[float, float]:
        """Perplexity of the last window at context ``length`` (see :class:`LastWindowPerplexity`), pooled over the
        held-out segments, with the standard error of its log across segments."""
        s = self.settings
        settings = WindowSettings(length=length, chunk=s.chunk, mc=s.mc, segments=segments or s.segments,
                                  seed=s.seed, corpus=self.corpus.digest)
        cells = run(LastWindowPerplexity(loaded, settings), self._path(loaded, "twin-ppl"), progress=False)
        losses = []
        for segment in range(settings.segments):
            mine = [c for c in cells if c["key"].startswith(f"L{length}/S{segment}/")]
            losses.append(sum(c["loss"] * c["tokens"] for c in mine) / sum(c["tokens"] for c in mine))
        losses = np.array(losses)
        return math.exp(losses.mean()), float(losses.std(ddof=1) / math.sqrt(len(losses)))

    def retrieval(self, loaded: LoadedModel, length: int, samples: int) -> list[dict]:
        """Passkey cells at ``length`` for every depth (``samples`` each)."""
        s = self.settings
        niah = TwinRetrievalSettings(lengths=(length,), depths=s.depths, needles_per_cell=samples, format="plain",
                            answer_length=s.answer_length, block_length=s.answer_length, steps=s.answer_length,
                            seed=s.seed, haystack="builtin:stdlib", needles="passkey", batch_size=s.batch_size)
        return run(TwinRetrieval(loaded, niah), self._path(loaded, "twin-niah"), progress=False)


def _counts(cells: list[dict]) -> list[int]:
    """[hits, n] of some passkey cells."""
    return [int(sum(c["hit"] for c in cells)), len(cells)]


def predicted_length(loaded: LoadedModel) -> float:
    """The length a scaled (or unscaled) twin should reach, by its method's own reading: the law's causal one, the
    diffusion-aware law's bidirectional one; unscaled, the causal extrapolation bound for an AR twin and the
    bidirectional one for a diffusion twin."""
    from ..theory.scaling import plan_scaling

    spec = loaded.spec
    plan = loaded.plan or plan_scaling(spec.rotary_dim, spec.rope_theta, spec.train_length, spec.train_length)
    reading = READING.get(plan.method, "causal") if loaded.plan else (
        "bidirectional" if loaded.kind == "diffusion" else "causal")
    return plan.reaches(reading)


def breakdown_row(bench: TwinBench, twin: str, method: str | None, target: int | None) -> dict:
    """One twin, scaled by ``method`` for ``target`` (or direct), on the breakdown grid: last-window perplexity and
    retrieval at each length until each has failed (perplexity above 1.5 × its value at T, retrieval below 50 %)."""
    s = bench.settings
    loaded = bench.model(twin, method, target)
    t = loaded.spec.train_length
    lengths, ppl, hits, ppl_break, hit_break = [], [], [], None, None
    for length in s.grid(t):
        if ppl_break is not None and hit_break is not None:
            break
        lengths.append(length)
        ppl.append(None if ppl_break else round(bench.window_ppl(loaded, length, s.breakdown_segments)[0], 4))
        hits.append(None if hit_break else _counts(bench.retrieval(loaded, length, s.breakdown_samples)))
        if ppl_break is None and ppl[-1] > 1.5 * ppl[0]:
            ppl_break = length
        if hit_break is None and hits[-1][0] < 0.5 * hits[-1][1]:
            hit_break = length
    predicted = predicted_length(loaded)
    return {"method": method or "direct", "target": target,
            "scaling_factor": round(loaded.plan.scaling_factor, 4) if loaded.plan else 1.0,
            "predicted": round(predicted, 1), "lengths": lengths, "ppl": ppl, "retrieval": hits,
            "measured_ppl_breakdown": ppl_break, "measured_retrieval_breakdown": hit_break,
            "ppl_ratio": None if ppl_break is None else round(ppl_break / predicted, 3),
            "retrieval_ratio": None if hit_break is None else round(hit_break / predicted, 3)}


def seed_settings(folder: Path, settings: ReportSettings) -> ReportSettings:
    """The evaluation settings of one seed folder (``seedN``): the evaluation seed is the settings' plus the training
    seed N, so each seed reads its own prompts and text segments and the seeds of a recipe are independent samples of
    the model and of its evaluation alike (a folder not named ``seedN`` keeps the settings' seed)."""
    name = Path(folder).name
    return replace(settings, seed=settings.seed + int(name[4:])) if re.fullmatch(r"seed\d+", name) else settings


def twin_report(folder: Path, twin: str, work: Path, settings: ReportSettings) -> dict:
    """Every measurement of the report on one twin of one seed folder (:func:`seed_settings`); rates as [hits, n]
    counts."""
    settings = seed_settings(folder, settings)
    bench = TwinBench(folder, work, settings, progress=False)
    loaded = bench.model(twin)
    t = loaded.spec.train_length
    report: dict = {"ppl": {}, "retrieval": {}, "local": {}, "far": {}, "distance": {}}
    for multiple in settings.multiples:
        ppl, se = bench.window_ppl(loaded, int(multiple * t))
        report["ppl"][str(int(multiple * t))] = {"ppl": round(ppl, 4), "log_se": round(se, 4)}
    for multiple in settings.retrieval_multiples:
        length = str(int(multiple * t))
        cells = bench.retrieval(loaded, int(multiple * t), settings.samples)
        report["retrieval"][length] = {f"{d:g}": _counts([c for c in cells if c["depth"] == d])
                                       for d in settings.depths}
        report["local"][length] = _counts([c for c in cells if c["distance"] <= t])
        report["far"][length] = _counts([c for c in cells if c["distance"] > 1.5 * t])
        bins: dict[str, list] = {}
        for c in cells:
            bins.setdefault(str(int(c["distance"] // (t // 2)) * (t // 2)), []).append(c)
        report["distance"][length] = {k: _counts(v) for k, v in bins.items()}
    methods = [m for m in settings.methods if twin != "ar" or READING.get(m) != "bidirectional"]
    report["ntk"] = [breakdown_row(bench, twin, None, None)] + [
        breakdown_row(bench, twin, method, multiple * t) for method in methods for multiple in settings.targets]
    law = bench.model(twin, "longllada", 4 * t).plan.scaling_factor
    report["sweep"] = [{"times_law": times, "scaling_factor": round(law * times, 4),
                        "retrieval": _counts(bench.retrieval(bench.model(twin, factor=law * times), 4 * t,
                                                             settings.breakdown_samples))} for times in settings.sweep]
    return report


def _twin_job(args) -> dict:
    import torch

    folder, twin, work, settings = args
    torch.set_num_threads(1)
    return twin_report(Path(folder), twin, Path(work), settings)


def run_twin_suite(twins_dir: Path, work: Path, settings: ReportSettings = ReportSettings(), progress: bool = True,
                 workers: int = 2) -> dict:
    """Run (or resume) the suite on every twin of every seed — ``workers`` twins side by side, one torch thread
    each — and return the report document (see ``longllada toy report --help``)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    folders = seed_folders(twins_dir)
    corpus = checked_corpus(Path(twins_dir))
    jobs = {(seed, twin): (str(folder), twin, str(Path(work) / f"seed{seed}"), settings)
            for seed, folder in folders.items() for twin in TWINS}
    results: dict[tuple[int, str], dict] = {}
    bar = tqdm(total=len(jobs), desc="twin report (seeds × twins)", disable=not progress, unit="twin")
    if workers == 1:
        for key, job in jobs.items():
            results[key] = _twin_job(job)
            bar.update()
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_twin_job, job): key for key, job in jobs.items()}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    bar.close()
    per_seed = {seed: {name: {twin: results[seed, twin][name] for twin in TWINS} for name in results[seed, "ar"]}
                for seed in folders}
    t = json.loads((next(iter(folders.values())) / "ar" / "config.json").read_text())["train_length"]
    return summarise(per_seed, t, settings, corpus.digest)


def seed_rate(counts: list[list[int]]) -> dict:
    """Per-seed counts [[hits, n], …] → a rate over seeds: the mean of the seeds' rates with its Student-t 95 %
    interval (clipped to [0, 1]), each seed's rate and its own Wilson interval (over that model's prompts), and how
    many prompts each seed answered. The claim is about the recipe, so the seeds — not the pooled prompts — are the
    sample; where the seeds agree so closely that their interval is narrower than the pooled prompts' Wilson interval
    (all at 0 %, say), it is widened to that: the prompts' own sampling error remains."""
    rates = [None if c[1] == 0 else c[0] / c[1] for c in counts]
    interval = seed_interval(rates, bounds=(0.0, 1.0))
    wilson = [rate_with_interval([True] * c[0] + [False] * (c[1] - c[0])) for c in counts]
    pooled = rate_with_interval([True] * sum(c[0] for c in counts) + [False] * sum(c[1] - c[0] for c in counts))
    low, high, widened = interval["low"], interval["high"], False
    if low is not None and (pooled["low"] < low or pooled["high"] > high):  # seeds that agree leave the prompts'
        low, high, widened = min(low, pooled["low"]), max(high, pooled["high"]), True  # own sampling error
    return {"rate": interval["mean"], "low": low, "high": high, "n": interval["n"],
            "over": "seeds", "seeds": [None if r is None else round(r, 4) for r in rates],
            "seed_wilson": [[w["low"], w["high"]] for w in wilson], "prompts": [c[1] for c in counts],
            **({"clipped": True} if interval.get("clipped") else {}),
            **({"widened_to_prompts": True} if widened else {})}


def seed_ppl(values: list[float]) -> dict:
    """Seed values of a perplexity → their geometric mean with the Student-t 95 % ×/÷ band over seeds."""
    interval = geometric_seed_interval(values)
    return {"ppl": round(interval["mean"], 4), "low": interval["low"], "high": interval["high"], "n": interval["n"],
            "over": "seeds", "seeds": values}


def conditioned(rates: dict, gate: dict, threshold: float = 0.8) -> dict:
    """A rate over the seeds whose model meets a precondition (in-window retrieval ≥ ``threshold``): the seeds that
    fail it answer nothing about what the rate claims (a twin that cannot retrieve at T says nothing about locality
    beyond T)."""
    kept = [i for i, r in enumerate(gate["seeds"]) if r is not None and r >= threshold]
    counts = [[round(rates["seeds"][i] * rates["prompts"][i]), rates["prompts"][i]] for i in kept
              if rates["seeds"][i] is not None]
    result = seed_rate(counts) if counts else {"rate": None, "low": None, "high": None, "n": 0, "over": "seeds",
                                               "seeds": []}
    return {**result, "kept_seeds": kept, "precondition": f"retrieval at T ≥ {100 * threshold:.0f} %"}


def summarise(per_seed: dict[int, dict], t: int, settings: ReportSettings, corpus: str) -> dict:
    """The report document: the fields of one twin's report (``ppl``, ``retrieval``, ``local_hit``, ``far_hit``,
    ``distance``, ``ntk``, ``sweep``) over the seeds — each a mean over seeds with its Student-t interval (the claims
    are about the recipe), with every seed's value; ``local_hit_in_window`` / ``far_hit_in_window`` keep only the
    seeds whose twin retrieves at T (the precondition of a locality claim)."""
    seeds = sorted(per_seed)
    reports = [per_seed[seed] for seed in seeds]
    first = reports[0]
    report: dict = {"train_length": t, "seeds": seeds, "twins": list(TWINS),
                    "lengths": [int(m * t) for m in settings.multiples], "breakdown_lengths": settings.grid(t),
                    "settings": asdict(settings), "corpus": corpus,
                    "uncertainty": "mean over seeds with its Student-t 95 % interval (seeds: independently trained "
                                   "twins, each with its own prompts and texts); each seed's value beside it"}
    report["ppl"] = {twin: {length: seed_ppl([r["ppl"][twin][length]["ppl"] for r in reports])
                            for length in first["ppl"][twin]} for twin in TWINS}
    report["retrieval"] = {twin: {length: {depth: seed_rate([r["retrieval"][twin][length][depth] for r in reports])
                                           ["rate"] for depth in by} for length, by in first["retrieval"][twin].items()}
                           for twin in TWINS}
    report["retrieval_all"] = {twin: {length: seed_rate([[sum(v[0] for v in r["retrieval"][twin][length].values()),
                                                          sum(v[1] for v in r["retrieval"][twin][length].values())]
                                                         for r in reports]) for length in first["retrieval"][twin]}
                               for twin in TWINS}
    for name, field in (("local", "local_hit"), ("far", "far_hit")):
        report[field] = {twin: {length: seed_rate([r[name][twin][length] for r in reports])
                                for length in first[name][twin]} for twin in TWINS}
        report[f"{field}_in_window"] = {twin: {length: conditioned(value, report["retrieval_all"][twin][str(t)])
                                               for length, value in report[field][twin].items()} for twin in TWINS}
    report["distance"] = {twin: {length: {k: seed_rate([r["distance"][twin][length].get(k, [0, 0])
                                                        for r in reports])["rate"] for k in sorted(by, key=int)}
                                 for length, by in first["distance"][twin].items()} for twin in TWINS}
    report["ntk"] = {twin: [_ntk_row([r["ntk"][twin][i] for r in reports]) for i in range(len(first["ntk"][twin]))]
                     for twin in TWINS}
    report["sweep"] = {twin: [{**{k: v for k, v in row.items() if k != "retrieval"},
                               "retrieval": seed_rate([r["sweep"][twin][i]["retrieval"] for r in reports])}
                              for i, row in enumerate(first["sweep"][twin])] for twin in TWINS}
    return report


def _ntk_row(rows: list[dict]) -> dict:
    """One breakdown row over the seeds: each seed's curves, breakdowns and ratios, the mean ratio, and the curves
    (geometric mean perplexity, pooled retrieval) over the seeds that measured each length — a seed stops measuring a
    quantity after it has broken down, so read the pooled curves beside each seed's."""
    first = max(rows, key=lambda r: len(r["lengths"]))
    ratios = [r["ppl_ratio"] for r in rows]
    hit_ratios = [r["retrieval_ratio"] for r in rows]

    def at(r: dict, name: str, i: int):
        return r[name][i] if i < len(r[name]) else None

    ppl, retrieval = [], []
    for i in range(len(first["lengths"])):
        values = [v for v in (at(r, "ppl", i) for r in rows) if v is not None]
        counts = [v for v in (at(r, "retrieval", i) for r in rows) if v is not None]
        ppl.append(round(float(np.exp(np.mean(np.log(values)))), 4) if values else None)
        retrieval.append(seed_rate(counts)["rate"] if counts else None)
    return {"method": first["method"], "target": first["target"], "scaling_factor": first["scaling_factor"],
            "predicted": first["predicted"], "lengths": first["lengths"], "ppl": ppl, "retrieval": retrieval,
            "ppl_seeds": [r["ppl"] for r in rows],
            "retrieval_seeds": [[None if v is None else round(v[0] / v[1], 4) for v in r["retrieval"]] for r in rows],
            "measured_ppl_breakdown": [r["measured_ppl_breakdown"] for r in rows],
            "measured_retrieval_breakdown": [r["measured_retrieval_breakdown"] for r in rows],
            "ppl_ratio": None if None in ratios else round(float(np.mean(ratios)), 3), "ppl_ratio_seeds": ratios,
            "retrieval_ratio": None if None in hit_ratios else round(float(np.mean(hit_ratios)), 3),
            "retrieval_ratio_seeds": hit_ratios}


def save_report(report: dict, path: Path, force: bool = False) -> None:
    """The report as JSON, stamped (:mod:`longllada_theory.outputs`: never over a file this package did not write)."""
    write_json(Path(path), report, force)


def describe_rate(value: dict) -> str:
    """A rate over seeds for reading: "mean % [95 % t-interval] over n seeds; seeds a, b, c"."""
    if value["rate"] is None:
        return "no seed" if not value.get("kept_seeds", True) else "no such cells"
    seeds = ", ".join("–" if v is None else f"{100 * v:.0f}" for v in value["seeds"])
    interval = "" if value["low"] is None else f" [{100 * value['low']:.0f}, {100 * value['high']:.0f}]"
    kept = f" passing the precondition ({value['precondition']})" if "kept_seeds" in value else ""
    return f"{100 * value['rate']:.0f} %{interval} over {value['n']} seed(s){kept}; seeds {seeds}"


def _verdict(twin: str, phenomenon: str, target: str, value: dict | None, text: str, meets) -> dict:
    """One target: met when the seed mean meets it; ``decided`` when the whole 95 % interval lies on the same side
    (with five seeds most are not: the interval is the honest width of a recipe's spread)."""
    mean, low, high = (None, None, None) if value is None else (value.get("rate", value.get("ppl")),
                                                                 value.get("low"), value.get("high"))
    met = mean is not None and meets(mean)
    decided = low is not None and meets(low) == met and meets(high) == met
    return {"twin": twin, "phenomenon": phenomenon, "target": target, "measured": text, "met": met,
            "decided": decided, "interval": low is not None}


def verdicts(report: dict) -> list[dict]:
    """The twins' targets, each with the measured numbers (means over seeds with Student-t 95 % intervals, each
    seed's value), whether the seed mean meets it and whether the interval decides it (computed, not typed)."""
    t = report["train_length"]
    rows = []

    def growth(twin: str) -> tuple[dict, str]:
        at_t, at_4t = report["ppl"][twin][str(t)], report["ppl"][twin][str(4 * t)]
        interval = geometric_seed_interval([b / a for a, b in zip(at_t["seeds"], at_4t["seeds"])])
        band = "" if interval["low"] is None else f" [{interval['low']:.2f}, {interval['high']:.2f}]"
        seeds = ", ".join(f"{b / a:.2f}" for a, b in zip(at_t["seeds"], at_4t["seeds"]))
        return {"rate": interval["mean"], **interval}, f"{interval['mean']:.2f}×{band} over {interval['n']} seeds; " \
                                                       f"seeds {seeds}"

    for twin in TWINS:  # what every retrieval target presupposes
        at_t = report["retrieval_all"][twin].get(str(t))
        if at_t is not None:
            rows.append(_verdict(twin, "0 precondition", "retrieves ≥ 80 % at T (every depth), what the retrieval "
                                 "targets presuppose", at_t, describe_rate(at_t), lambda v: v >= 0.8))
    value, text = growth("ar")
    rows.append(_verdict("ar", "1 stable perplexity", "AR last-window perplexity at 4T ≥ 2× its value at T", value,
                         text, lambda v: v >= 2))
    for twin in DIFFUSION_TWINS:
        value, text = growth(twin)
        rows.append(_verdict(twin, "1 stable perplexity", "diffusion last-window perplexity at 4T ≤ 1.25× its value "
                             "at T", value, text, lambda v: v <= 1.25))
    for multiple in (2, 4):
        length = str(multiple * t)
        depths = report["retrieval"]["ar"].get(length)
        if depths:
            worst = max(depths.values())
            rows.append(_verdict("ar", "2 local perception", f"AR retrieves ≤ 20 % at every depth at {multiple}T",
                                 {"rate": worst}, f"max over depths {100 * worst:.0f} % (mean over seeds)",
                                 lambda v: v <= 0.2))
        for twin in DIFFUSION_TWINS:
            local = report["local_hit_in_window"][twin].get(length)
            if multiple == 2 and local is not None:
                rows.append(_verdict(twin, "2 local perception", "diffusion ≥ 80 % with the needle within T of the "
                                     "question at 2T", local, describe_rate(local), lambda v: v >= 0.8))
            far = report["far_hit_in_window"][twin].get(length)
            if far is not None and multiple * t > 1.5 * t:
                rows.append(_verdict(twin, "2 local perception", f"diffusion ≤ 30 % with the needle farther than "
                                     f"1.5T at {multiple}T", far, describe_rate(far), lambda v: v <= 0.3))
    for twin in TWINS:
        law = next((r for r in report["ntk"][twin] if r["method"] == "longllada" and r["target"] == 4 * t), None)
        if law is None:
            continue
        if twin == "ar":
            ratios = law["ppl_ratio_seeds"]
            unbroken = sum(r is None for r in ratios)
            mean = (f"no breakdown up to {report['settings']['grid_end']:g}T in {unbroken} of {len(ratios)} seeds"
                    if law["ppl_ratio"] is None else f"{law['ppl_ratio']:.2f}")
            rows.append(_verdict(twin, "3 scaling law", "AR with the law's λ for 4T: measured / predicted breakdown "
                                 "length in [0.8, 1.25]", {"rate": law["ppl_ratio"]},
                                 f"{mean} (seeds {', '.join('–' if r is None else f'{r:.2f}' for r in ratios)}; "
                                 f"predicted {law['predicted']:.0f}, λ = {law['scaling_factor']:.3g})",
                                 lambda v: 0.8 <= v <= 1.25))
        else:
            at_4t = next((v for v in report["sweep"][twin] if v["times_law"] == 1), None)
            if at_4t is not None:
                rows.append(_verdict(twin, "3 scaling law", "diffusion with the law's λ for 4T retrieves ≥ 80 % at 4T",
                                     at_4t["retrieval"], f"{describe_rate(at_4t['retrieval'])} (λ = "
                                                         f"{at_4t['scaling_factor']:.3g})", lambda v: v >= 0.8))
    return rows


#: the scaling methods ``toy methods`` compares by default
COMPARED = ("longllada", "critical", "yarn", "ntk-by-parts")


def method_comparison(twins_dir: Path, work: Path, methods: tuple[str, ...] = COMPARED,
                      multiple: int = 4, samples: int = 10, settings: ReportSettings = ReportSettings(),
                      progress: bool = True) -> dict:
    """Each scaling method's plan for ``multiple`` × T on the twins of one seed folder, and no scaling: the
    last-window perplexity at T (what the plan costs inside the window) and at the target (Student-t 95 % bands over the
    held-out segments), passkey retrieval at T (what the plan costs the retrieval learned inside the window) and at the
    target over all depths, with the needle within T of the question, and farther (Wilson 95 % intervals over the
    prompts: the claim is about these models). ``methods`` may name ablations (e.g. the law on the fast or the slow
    pairs alone). A ``seedN`` folder reads that seed's prompts and segments (:func:`seed_settings`)."""
    from tqdm.auto import tqdm

    bench = TwinBench(twins_dir, work / twins_dir.name, seed_settings(twins_dir, settings), progress)
    t = bench.model("ar").spec.train_length
    length = multiple * t
    rows = []
    plans = [(kind, method) for kind in TWINS for method in ("direct", *methods)]
    for kind, method in tqdm(plans, desc="scaling methods on the twins", disable=not progress):
        loaded = bench.model(kind, None if method == "direct" else method, None if method == "direct" else length)
        cells = bench.retrieval(loaded, length, samples)
        row = {"kind": kind, "method": method, "target": length,
               "scaling_factor": round(loaded.plan.scaling_factor, 4) if loaded.plan else 1.0,
               "retrieval_at_T": rate_with_interval(c["hit"] for c in bench.retrieval(loaded, t, samples))}
        for name, at in (("ppl_at_T", t), ("ppl_at_target", length)):
            ppl, log_se = bench.window_ppl(loaded, at)
            band = math.exp(t_quantile(settings.segments) * log_se)
            row[name] = {"ppl": round(ppl, 4), "log_se": round(log_se, 4), "low": round(ppl / band, 4),
                         "high": round(ppl * band, 4), "n": settings.segments, "over": "held-out segments"}
        row["retrieval"] = rate_with_interval(c["hit"] for c in cells)
        row["retrieval_within_T"] = rate_with_interval(c["hit"] for c in cells if c["distance"] <= t)
        row["retrieval_beyond_T"] = rate_with_interval(c["hit"] for c in cells if c["distance"] > t)
        rows.append(row)
    return {"train_length": t, "target": length, "samples_per_depth": samples, "depths": list(settings.depths),
            "corpus": bench.corpus.digest, "rows": rows}


def methods_table(document: dict) -> list[dict]:
    """The rows of :func:`method_comparison` for reading: perplexities with their Student-t 95 % band over the held-out
    segments and hit rates in % with their Wilson 95 % intervals over the prompts (one seed's twins: the claim is
    about these models)."""
    def ppl(value: dict) -> str:
        if "low" not in value:  # a document from before the bands (the first twins' stored run): ±2 SE, as it says
            return f"{value['ppl']:.2f} (×/÷ {math.exp(2 * value['log_se']):.2f})"
        return f"{value['ppl']:.2f} [{value['low']:.2f}, {value['high']:.2f}]"

    def rate(value: dict) -> str:
        return f"{100 * value['rate']:.0f} [{100 * value['low']:.0f}, {100 * value['high']:.0f}] of {value['n']}"

    return [{"twin": row["kind"], "method": row["method"], "factor": f"{row['scaling_factor']:.3g}",
             "ppl at T": ppl(row["ppl_at_T"]), f"ppl at {document['target']}": ppl(row["ppl_at_target"]),
             **({"retrieval at T %": rate(row["retrieval_at_T"])} if "retrieval_at_T" in row else {}),
             "retrieval %": rate(row["retrieval"]), "needle within T %": rate(row["retrieval_within_T"]),
             "needle beyond T %": rate(row["retrieval_beyond_T"])} for row in document["rows"]]


def methods_over_seeds(documents: dict[int, dict], threshold: float = 0.8) -> list[dict]:
    """:func:`method_comparison` documents of several seeds → one row per twin and method, each a claim about the
    recipe: retrieval at T, at the target and with the needle farther than T at the target, as rates over the seeds
    whose unscaled twin retrieves at T (≥ ``threshold``: a twin that never learned the task says nothing about what a
    plan costs it), with Student-t 95 % intervals over those seeds (:func:`seed_rate`); and the perplexity at the
    target over every seed (geometric mean, Student-t band)."""
    first = next(iter(documents.values()))
    keys = [(row["kind"], row["method"]) for row in first["rows"]]
    by_seed = {seed: {(row["kind"], row["method"]): row for row in doc["rows"]} for seed, doc in documents.items()}

    def counts(value: dict) -> list[int]:
        return [round(value["rate"] * value["n"]), value["n"]]

    rows = []
    for kind, method in keys:
        kept = [seed for seed, rows_ in by_seed.items() if rows_[kind, "direct"]["retrieval_at_T"]["rate"] >= threshold]
        rates = {name: seed_rate([counts(by_seed[seed][kind, method][field]) for seed in kept]) if kept else None
                 for name, field in (("at T", "retrieval_at_T"), ("at target", "retrieval"),
                                     ("beyond T at target", "retrieval_beyond_T"))}
        rows.append({"twin": kind, "method": method, "target": first["target"], "kept_seeds": kept,
                     "precondition": f"unscaled retrieval at T ≥ {100 * threshold:.0f} %",
                     "retrieval": rates,
                     "ppl_at_target": seed_ppl([by_seed[seed][kind, method]["ppl_at_target"]["ppl"]
                                                for seed in by_seed])})
    return rows


def over_seeds_table(rows: list[dict]) -> list[dict]:
    """The rows of :func:`methods_over_seeds` for reading: each rate as "mean [Student-t 95 % over seeds] (each
    kept seed)" in %, the perplexity as its geometric mean with its band over seeds."""
    def rate(value: dict | None) -> str:
        if value is None or value["rate"] is None:
            return "no seed learned the task"
        seeds = ", ".join(f"{100 * v:.0f}" for v in value["seeds"])
        return f"{100 * value['rate']:.0f} [{100 * value['low']:.0f}, {100 * value['high']:.0f}] ({seeds})"

    target = format_length(rows[0]["target"]) if rows else ""
    return [{"twin": row["twin"], "method": row["method"], "seeds kept": ", ".join(map(str, row["kept_seeds"])) or "–",
             "retrieval at T %": rate(row["retrieval"]["at T"]),
             f"retrieval at {target} %": rate(row["retrieval"]["at target"]),
             f"needle farther than T at {target} %": rate(row["retrieval"]["beyond T at target"]),
             f"ppl at {target}, all seeds": f"{row['ppl_at_target']['ppl']:.2f} [{row['ppl_at_target']['low']:.2f}, "
                                            f"{row['ppl_at_target']['high']:.2f}]"} for row in rows]


def passkey_probe(loaded: LoadedModel, length: int, depth: float = 100.0, seed: int = 0,
                  answer_length: int = 8) -> tuple[list[int], list[int], tuple[int, int]]:
    """A passkey prompt of ``length`` tokens on held-out text for the attention probe: its ids (a diffusion model's
    answer as ``answer_length`` mask tokens at the end), the answer's query positions (an AR model's: its last
    position) and the needle's span."""
    from ..measure.needles import FORMATS, build_prompt, passkey_needle

    rng = random.Random(seed)
    needle = passkey_needle(rng)
    answer = answer_length if loaded.kind == "diffusion" else 0
    heldout = load_corpus().heldout
    start = rng.randrange(len(heldout) - length)
    prompt = build_prompt(loaded.tokenizer, heldout[start:start + length].tolist(), needle, length - answer, depth,
                          FORMATS["plain"])
    ids = prompt.ids + [loaded.mask_token_id] * answer
    queries = list(range(len(ids) - answer, len(ids))) if answer else [len(ids) - 1]
    return ids, queries, (prompt.needle_start, prompt.needle_end)


def passkey_attention(loaded: LoadedModel, length: int, seeds: int = 8, train_length: int | None = None
                      ) -> tuple[dict, dict]:
    """Where a twin's answer looks in ``seeds`` passkey prompts of ``length`` tokens (needle at depth 100 %,
    :func:`passkey_probe`): the share within T (mean over layers, heads and answer queries), the best head's share on
    the needle (max over layers of the mean over queries), the share on the first token — each the mean over the
    prompts — and the first prompt's probe statistics by layer."""
    from ..measure.locality import first_token_share
    from ..measure.probe import instrumented_forward

    local, needle, sink, first = [], [], [], None
    for seed in range(seeds):
        ids, queries, span = passkey_probe(loaded, length, seed=seed)
        stats = instrumented_forward(loaded, ids, queries=queries, needle=span, train_length=train_length)
        local.append(np.mean([s.local.mean() for s in stats.values()]))
        needle.append(max(s.needle.mean(axis=1).max() for s in stats.values()))
        sink.append(np.mean([first_token_share(s.topk_positions, s.topk_weights) for s in stats.values()]))
        first = first or stats
    return {"share within T (mean over layers, heads)": round(float(np.mean(local)), 2),
            "best head's share on the needle": round(float(np.mean(needle)), 2),
            "share on the first token": round(float(np.mean(sink)), 2)}, first


def answer_attention(loaded: LoadedModel, length: int, depth: float, prompts: int = 4) -> dict:
    """Where a twin looks when it produces the passkey, in a prompt of ``length`` tokens with the needle at
    ``depth`` % (the attention probe on :func:`passkey_probe` prompts, mean over ``prompts`` of them). The queries
    are the positions that produce the answer: a diffusion twin's masked answer slots; for an AR twin, the answer is
    teacher-forced and the queries are the positions that predict its five digits. ``needle`` — the best head's
    share on the needle (max over layers and heads of the mean over the queries); ``within_T`` — the share within T
    of each query (mean over layers, heads and queries); ``uniform`` — the needle's share under uniform attention."""
    import re

    from ..measure.probe import instrumented_forward

    needle, local, uniform = [], [], []
    for seed in range(prompts):
        ids, queries, span = passkey_probe(loaded, length, depth=depth, seed=seed)
        if loaded.kind != "diffusion":
            key = re.search(r"\d{5}", loaded.tokenizer.decode(ids[span[0]:span[1]])).group()
            answer = loaded.tokenizer.encode(f" {key}")
            queries = list(range(len(ids), len(ids) + len(answer) - 1))
            ids = ids + answer[:-1]
        stats = instrumented_forward(loaded, ids, queries=queries, needle=span, train_length=loaded.spec.train_length)
        needle.append(max(float(s.needle.mean(axis=1).max()) for s in stats.values()))
        local.append(float(np.mean([s.local.mean() for s in stats.values()])))
        uniform.append((span[1] - span[0]) / len(ids))
    return {"needle": round(float(np.mean(needle)), 3), "within_T": round(float(np.mean(local)), 3),
            "uniform": round(float(np.mean(uniform)), 3)}
