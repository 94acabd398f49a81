"""The scaling methods side by side on the twins (``longllada toy methods``): each method's factor for a target,
perplexity and retrieval at T and at the target, per seed and over seeds."""

from __future__ import annotations

import math
from pathlib import Path

from ..lengths import format_length
from ..measure.stats import rate_with_interval, t_quantile
from .evaluation import ReportSettings, TwinBench, seed_ppl, seed_rate, seed_settings
from .train import TWINS

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

