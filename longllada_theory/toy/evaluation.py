"""The twins' evaluation suite (``longllada toy report``): the paper's three phenomena measured on the AR and
diffusion twins with the library's own perplexity, sampler, NIAH and NTK-loading code.

1. **Stable perplexity** — perplexity of the last T tokens of held-out text at context lengths T, 2T, 4T, 8T
   (AR: next-token loss; diffusion: the Monte-Carlo masked estimate, chunks given their full prefix).
2. **Local perception** — passkey retrieval over lengths × depths; the diffusion twin's hit rate when the needle
   lies within the last T tokens before the question vs. farther than 1.5 T.
3. **The scaling law** — for each method and target (2T, 4T): λ, the length the law predicts the model reaches
   (the extrapolation bound after scaling), and the measured breakdown length: the first length at which the
   last-window perplexity exceeds 1.5 × its value at T, or retrieval falls below 50 %.

Each measured cell is appended to a results file under the work folder, so an interrupted report resumes.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LongLLaDAError
from ..measure.niah import NeedleInAHaystack, NiahSettings
from ..measure.perplexity import perplexity_cells
from ..measure.protocol import Protocol, option, run
from ..measure.results import cell_seed
from ..measure.texts import load_corpus
from ..theory.rope import extrapolation_bound

if TYPE_CHECKING:
    from ..models.loading import LoadedModel

KINDS = ("ar", "diffusion")


@dataclass(frozen=True)
class ReportSettings:
    multiples: tuple[float, ...] = (1, 2, 4, 8)
    depths: tuple[float, ...] = tuple(float(d) for d in range(0, 101, 10))
    samples: int = 30                  # passkeys per length × depth in the main grid
    segments: int = 8                  # held-out text segments per perplexity value
    chunk: int = 32
    mc: int = 8
    answer_length: int = 8
    methods: tuple[str, ...] = ("longllada", "diffusion-aware", "ntk-aware")
    targets: tuple[int, ...] = (2, 4)  # × T
    breakdown_multiples: tuple[float, ...] = (1, 1.5, 2, 3, 4, 6)
    breakdown_samples: int = 3         # passkeys per length × depth when searching for the breakdown
    sweep: tuple[float, ...] = (0.25, 0.5, 1, 2, 4)  # × the law's λ, at 4T
    seed: int = 0
    batch_size: int = 64               # passkeys answered in one batch


@dataclass(frozen=True)
class WindowSettings:
    length: int = option("context length", 0, cli=False, header=False)  # in every key: one file for all lengths
    chunk: int = option("chunk size", 32, cli=False)
    mc: int = option("Monte-Carlo samples per chunk", 8, cli=False)
    segments: int = option("held-out segments per length", 8, cli=False)
    seed: int = option("random seed", 0, cli=False)
    corpus: str = option("digest of the standard-library corpus", "", cli=False)


#: the reduced grid of ``longllada toy report --quick``
QUICK = ReportSettings(samples=5, segments=2, mc=4, breakdown_multiples=(1, 2, 4), breakdown_samples=2, sweep=(1,),
                       targets=(4,), methods=("longllada",))


class LastWindowPerplexity(Protocol):
    """Perplexity of the last T tokens of ``segments`` held-out segments of ``length`` tokens, each chunk given its
    full prefix; keys ``L{length}/S{segment}/{chunk start}``."""

    name = "twin-ppl"
    help = "the twins' last-window perplexity"
    settings_type = WindowSettings

    def segment_ids(self, segment: int) -> list[int]:
        s, heldout = self.settings, load_corpus().heldout
        start = np.random.default_rng(cell_seed(s.seed, f"segment:{s.length}:{segment}")).integers(
            0, len(heldout) - s.length)
        return heldout[start:start + s.length].tolist()

    def keys(self) -> list[str]:
        s, t = self.settings, self.loaded.spec.train_length
        starts = [lo for lo in range(0, s.length, s.chunk) if lo >= s.length - t
                  and not (self.loaded.kind == "diffusion" and lo == 0)]
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
                                 seed=s.seed, score_from=s.length - self.loaded.spec.train_length, key_prefix=prefix)
        return [c for c in cells if c["key"] in set(keys)]


class TwinRetrieval(NeedleInAHaystack):
    """Passkey cells on the held-out corpus (its bytes are the haystack ids); every length and sample count of one
    twin shares one results file, since the keys name both."""

    name = "twin-niah"

    @classmethod
    def read_inputs(cls, settings):
        return "passkey", None

    def prepare(self) -> None:
        self.cell_inputs = (load_corpus().heldout.tolist(), "passkey")

    def header(self) -> dict:
        header = {k: v for k, v in super().header().items()
                  if k not in ("lengths", "needles_per_cell", "inputs_sha256")}  # the corpus digest names the input
        return {**header, "corpus": load_corpus().digest}


def checked_corpus(twins_dir: Path):
    """The standard-library corpus, if it is the one the twins in ``twins_dir`` were trained on (the digest in their
    training records); a clear error otherwise — another Python's standard library gives other held-out text, so
    measurements would not be comparable with the stored ones."""
    import platform

    corpus = load_corpus()
    trained = {stage.get("corpus") for kind in KINDS
               if (twins_dir / kind / "training_record.json").is_file()
               for stage in json.loads((twins_dir / kind / "training_record.json").read_text())["stages"]}
    trained.discard(None)
    if trained and corpus.digest not in trained:
        raise LongLLaDAError(f"the twins in {twins_dir} were trained on a standard-library corpus with digest "
                             f"{', '.join(sorted(trained))}; this Python ({platform.python_version()}) gives "
                             f"{corpus.digest}, so its held-out text differs and results would not compare with the "
                             "stored ones — use the Python they were trained with, or retrain (longllada toy train)")
    return corpus


class TwinBench:
    """Measures one twin (optionally NTK-scaled) at many lengths, caching every cell in results files."""

    def __init__(self, twins_dir: Path, work: Path, settings: ReportSettings, progress: bool = True):
        self.twins_dir, self.work, self.settings, self.progress = Path(twins_dir), Path(work), settings, progress
        self.corpus = checked_corpus(self.twins_dir)
        self._models: dict = {}

    def model(self, kind: str, method: str | None = None, target: int | None = None, factor: float | None = None):
        from ..models.loading import load_model

        key = (kind, method, target, factor)
        if key not in self._models:
            folder = self.twins_dir / kind
            if not (folder / "model.safetensors").is_file():
                raise LongLLaDAError(f"twin checkpoint {folder} is missing; regenerate it with `longllada toy train`")
            self._models[key] = load_model(str(folder), device="cpu", rope_scale=factor,
                                           target=target if factor is None else None, method=method or "longllada")
        return self._models[key]

    def _path(self, loaded: LoadedModel, protocol: str) -> Path:
        scaling = "direct" if loaded.plan is None else f"{loaded.plan.method}-{loaded.plan.scaling_factor:.6g}"
        return self.work / f"{protocol}_{loaded.kind}_{scaling}.jsonl"

    def window_ppl(self, loaded: LoadedModel, length: int) -> tuple[float, float]:
        """Perplexity of the last T tokens at context ``length``, pooled over the held-out segments, with the
        standard error of its log across segments."""
        s = self.settings
        settings = WindowSettings(length=length, chunk=s.chunk, mc=s.mc, segments=s.segments, seed=s.seed,
                                  corpus=self.corpus.digest)
        cells = run(LastWindowPerplexity(loaded, settings), self._path(loaded, "twin-ppl"), progress=False)
        losses = []
        for segment in range(s.segments):
            mine = [c for c in cells if c["key"].startswith(f"L{length}/S{segment}/")]
            losses.append(sum(c["loss"] * c["tokens"] for c in mine) / sum(c["tokens"] for c in mine))
        losses = np.array(losses)
        return math.exp(losses.mean()), float(losses.std(ddof=1) / math.sqrt(len(losses)))

    def retrieval(self, loaded: LoadedModel, length: int, samples: int) -> list[dict]:
        """Passkey cells at ``length`` for every depth (``samples`` each)."""
        s = self.settings
        niah = NiahSettings(lengths=(length,), depths=s.depths, needles_per_cell=samples, format="plain",
                            answer_length=s.answer_length, block_length=s.answer_length, steps=s.answer_length,
                            seed=s.seed, haystack="builtin:stdlib", needles="passkey", batch_size=s.batch_size)
        return run(TwinRetrieval(loaded, niah), self._path(loaded, "twin-niah"), progress=False)


def _hit_rate(cells: list[dict]) -> float | None:
    return round(float(np.mean([c["hit"] for c in cells])), 4) if cells else None


def breakdown_length(lengths: list[int], values: list[float], fails) -> int | None:
    """The first length whose value fails (``fails(value)``), or None if none does."""
    for length, value in zip(lengths, values):
        if fails(value):
            return length
    return None


def build_report(twins_dir: Path, work: Path, settings: ReportSettings = ReportSettings(),
                 progress: bool = True) -> dict:
    """Run (or resume) the whole suite and return the report document (see ``longllada toy report --help``)."""
    from tqdm.auto import tqdm

    bench = TwinBench(twins_dir, work, settings, progress)
    t = bench.model("ar").spec.train_length
    lengths = [int(m * t) for m in settings.multiples]
    steps = tqdm(total=5, desc="twin report", disable=not progress, unit="part")
    report: dict = {"train_length": t, "lengths": lengths, "settings": asdict(settings),
                    "corpus": bench.corpus.digest}

    report["ppl"] = {}
    for kind in KINDS:
        report["ppl"][kind] = {}
        for length in lengths:
            ppl, se = bench.window_ppl(bench.model(kind), length)
            report["ppl"][kind][str(length)] = {"ppl": round(ppl, 4), "log_se": round(se, 4)}
    steps.update()

    report["retrieval"], report["distance"] = {}, {}
    for kind in KINDS:
        report["retrieval"][kind] = {}
        for length in lengths:
            cells = bench.retrieval(bench.model(kind), length, settings.samples)
            report["retrieval"][kind][str(length)] = {f"{d:g}": _hit_rate([c for c in cells if c["depth"] == d])
                                                      for d in settings.depths}
            report["distance"].setdefault(kind, {})[str(length)] = _by_distance(cells, t)
    steps.update()

    report["local_hit"], report["far_hit"] = {}, {}
    for multiple in (2, 4):
        cells = bench.retrieval(bench.model("diffusion"), multiple * t, settings.samples)
        report["local_hit"][str(multiple * t)] = _hit_rate([c for c in cells if c["distance"] <= t])
        report["far_hit"][str(multiple * t)] = _hit_rate([c for c in cells if c["distance"] > 1.5 * t])
    steps.update()

    grid = [int(m * t) for m in settings.breakdown_multiples]
    report["breakdown_lengths"] = grid
    report["ntk"] = {}
    for kind in KINDS:
        rows = [_breakdown_row(bench, kind, None, None, grid)]
        for method in settings.methods:
            for multiple in settings.targets:
                rows.append(_breakdown_row(bench, kind, method, multiple * t, grid))
        report["ntk"][kind] = rows
    steps.update()

    report["sweep"] = {}
    for kind in KINDS:
        law = bench.model(kind, "longllada", 4 * t).plan.scaling_factor
        rows = []
        for times in settings.sweep:
            loaded = bench.model(kind, factor=law * times)
            cells = bench.retrieval(loaded, 4 * t, settings.breakdown_samples)
            rows.append({"times_law": times, "scaling_factor": round(law * times, 4),
                         "retrieval": _hit_rate(cells), "ppl": round(bench.window_ppl(loaded, 4 * t)[0], 4)})
        report["sweep"][kind] = rows
    steps.update()
    steps.close()
    return report


def _by_distance(cells: list[dict], t: int) -> dict:
    """Hit rate by needle distance from the question, in bins of T/2."""
    bins: dict[str, list] = {}
    for c in cells:
        lo = int(c["distance"] // (t // 2)) * (t // 2)
        bins.setdefault(str(lo), []).append(c["hit"])
    return {k: round(float(np.mean(v)), 4) for k, v in sorted(bins.items(), key=lambda kv: int(kv[0]))}


def _breakdown_row(bench: TwinBench, kind: str, method: str | None, target: int | None, grid: list[int]) -> dict:
    loaded = bench.model(kind, method, target)
    spec = loaded.spec
    factor = loaded.plan.scaling_factor if loaded.plan else 1.0
    if loaded.plan is None or loaded.plan.rope_type == "default":
        predicted = float(extrapolation_bound(spec.rotary_dim, spec.rope_theta * factor, spec.critical_dimension))
    else:
        predicted = None
    ppl = [bench.window_ppl(loaded, length)[0] for length in grid]
    hits = [_hit_rate(bench.retrieval(loaded, length, bench.settings.breakdown_samples)) for length in grid]
    ppl_break = breakdown_length(grid, ppl, lambda v: v > 1.5 * ppl[0])
    hit_break = breakdown_length(grid, hits, lambda v: v < 0.5)
    return {"method": method or "direct", "target": target, "scaling_factor": round(factor, 4),
            "predicted": None if predicted is None else round(predicted, 1),
            "ppl": [round(v, 4) for v in ppl], "retrieval": hits,
            "measured_ppl_breakdown": ppl_break, "measured_retrieval_breakdown": hit_break,
            "ppl_ratio": None if predicted is None or ppl_break is None else round(ppl_break / predicted, 3),
            "retrieval_ratio": None if predicted is None or hit_break is None else round(hit_break / predicted, 3)}


def save_report(report: dict, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=1))


def verdicts(report: dict) -> list[dict]:
    """The twins issue's targets, each with the measured numbers and whether it is met (computed, not typed)."""
    t = report["train_length"]
    ppl = {kind: {int(k): v["ppl"] for k, v in report["ppl"][kind].items()} for kind in KINDS}
    growth = {kind: ppl[kind][4 * t] / ppl[kind][t] for kind in KINDS}
    rows = [
        {"phenomenon": "1 stable perplexity", "target": "AR last-window perplexity at 4T ≥ 2× its value at T",
         "measured": f"{growth['ar']:.2f}×", "met": growth["ar"] >= 2},
        {"phenomenon": "1 stable perplexity", "target": "diffusion last-window perplexity at 4T ≤ 1.25× its value at T",
         "measured": f"{growth['diffusion']:.2f}×", "met": growth["diffusion"] <= 1.25},
    ]
    for multiple in (2, 4):
        length = str(multiple * t)
        worst = max(v for v in report["retrieval"]["ar"][length].values())
        rows.append({"phenomenon": "2 local perception", "target": f"AR retrieves ≤ 20 % at every depth at {multiple}T",
                     "measured": f"max over depths {100 * worst:.0f} %", "met": worst <= 0.2})
        local, far = report["local_hit"][length], report["far_hit"][length]
        rows.append({"phenomenon": "2 local perception",
                     "target": f"diffusion ≥ 80 % with the needle within T of the question at {multiple}T",
                     "measured": "no such cells" if local is None else f"{100 * local:.0f} %",
                     "met": local is not None and local >= 0.8})
        rows.append({"phenomenon": "2 local perception",
                     "target": f"diffusion ≤ 30 % with the needle farther than 1.5T at {multiple}T",
                     "measured": "no such cells" if far is None else f"{100 * far:.0f} %",
                     "met": far is not None and far <= 0.3})
    law = {kind: next((r for r in report["ntk"][kind] if r["method"] == "longllada" and r["target"] == 4 * t), None)
           for kind in KINDS}
    if law["diffusion"] is not None:
        at_4t = law["diffusion"]["retrieval"][report["breakdown_lengths"].index(4 * t)]
        rows.append({"phenomenon": "3 scaling law",
                     "target": "diffusion with the law's λ for 4T retrieves ≥ 80 % at 4T",
                     "measured": f"{100 * at_4t:.0f} % (λ = {law['diffusion']['scaling_factor']:.3g})",
                     "met": at_4t >= 0.8})
    if law["ar"] is not None:
        ratio = law["ar"]["ppl_ratio"]
        rows.append({"phenomenon": "3 scaling law",
                     "target": "AR with the law's λ for 4T: measured / predicted breakdown length in [0.7, 1.5]",
                     "measured": "no breakdown within the grid" if ratio is None else
                     f"{ratio:.2f} (breaks at {law['ar']['measured_ppl_breakdown']}, "
                     f"predicted {law['ar']['predicted']:.0f})",
                     "met": ratio is not None and 0.7 <= ratio <= 1.5})
    return rows


def method_comparison(twins_dir: Path, work: Path, methods: tuple[str, ...] = ("longllada", "critical", "yarn",
                                                                                 "ntk-by-parts"),
                      multiple: int = 4, samples: int = 10, settings: ReportSettings = ReportSettings(),
                      progress: bool = True) -> dict:
    """Each scaling method's plan for ``multiple`` × T on both twins, and no scaling: the last-window perplexity at
    T (what the plan costs inside the window) and at the target (standard errors across held-out segments), and
    passkey retrieval at the target over all depths, with the needle within T of the question, and farther (Wilson
    95 % intervals)."""
    from tqdm.auto import tqdm

    from ..measure.stats import rate_with_interval

    bench = TwinBench(twins_dir, work, settings, progress)
    t = bench.model("ar").spec.train_length
    length = multiple * t
    rows = []
    plans = [(kind, method) for kind in KINDS for method in ("direct", *methods)]
    for kind, method in tqdm(plans, desc="scaling methods on the twins", disable=not progress):
        loaded = bench.model(kind, None if method == "direct" else method, None if method == "direct" else length)
        cells = bench.retrieval(loaded, length, samples)
        row = {"kind": kind, "method": method, "target": length,
               "scaling_factor": round(loaded.plan.scaling_factor, 4) if loaded.plan else 1.0}
        for name, at in (("ppl_at_T", t), ("ppl_at_target", length)):
            ppl, log_se = bench.window_ppl(loaded, at)
            row[name] = {"ppl": round(ppl, 4), "log_se": round(log_se, 4)}
        row["retrieval"] = rate_with_interval(c["hit"] for c in cells)
        row["retrieval_within_T"] = rate_with_interval(c["hit"] for c in cells if c["distance"] <= t)
        row["retrieval_beyond_T"] = rate_with_interval(c["hit"] for c in cells if c["distance"] > t)
        rows.append(row)
    return {"train_length": t, "target": length, "samples_per_depth": samples, "depths": list(settings.depths),
            "corpus": bench.corpus.digest, "rows": rows}


def methods_table(document: dict) -> list[dict]:
    """The rows of :func:`method_comparison` for reading: perplexities with a ×/÷ e^(2·SE) band and hit rates in % with
    their Wilson 95 % intervals."""
    def ppl(value: dict) -> str:
        return f"{value['ppl']:.2f} (×/÷ {math.exp(2 * value['log_se']):.2f})"

    def rate(value: dict) -> str:
        return f"{100 * value['rate']:.0f} [{100 * value['low']:.0f}, {100 * value['high']:.0f}] of {value['n']}"

    return [{"twin": row["kind"], "method": row["method"], "factor": f"{row['scaling_factor']:.3g}",
             "ppl at T": ppl(row["ppl_at_T"]), f"ppl at {document['target']}": ppl(row["ppl_at_target"]),
             "retrieval %": rate(row["retrieval"]), "needle within T %": rate(row["retrieval_within_T"]),
             "needle beyond T %": rate(row["retrieval_beyond_T"])} for row in document["rows"]]


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


def recipe_sweep(path: Path | None = None) -> list[dict]:
    """The retrieval of the twins trained on an H200 by ``scripts/recipe_sweep.py`` with the recipe the shipped twins
    use (its stored summary): hit rates at 1T, 2T and 4T over all depths, with the needle within T of the question,
    and farther than 1.5T."""
    path = path or Path(__file__).resolve().parents[1] / "data" / "runs" / "recipe_sweep_h200.json"
    summary = json.loads(Path(path).read_text())["summary"]
    return [{"twin": kind, "length": length, "all depths": rates["all"], "needle within T": rates["local"],
             "needle farther than 1.5T": rates["far"]} for kind in KINDS for length, rates in summary[kind].items()]
