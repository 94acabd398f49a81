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
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LongLLaDAError
from ..measure.inputs.texts import load_corpus
from ..measure.protocol import run
from ..measure.stats import geometric_seed_interval, rate_with_interval, seed_interval
from ..models.loading import load_model
from ..outputs import write_json
from ..theory.scaling import plan_scaling
from .protocols import LastWindowPerplexity, TwinRetrieval, TwinRetrievalSettings, WindowSettings
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


#: the reduced grid of ``longllada toy report --quick``
QUICK = ReportSettings(samples=2, segments=2, mc=4, retrieval_multiples=(1, 2, 4), grid_ratio=2.0, grid_end=4.0,
                       breakdown_samples=1, breakdown_segments=2, sweep=(1,), methods=("longllada",))


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
        window = LastWindowPerplexity.summarize(asdict(settings), cells)["by_length"][str(length)]
        return window["ppl"], window["log_se"]

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


