"""The paper's published numbers (Figure 1a curves, Figure 1b/2 NIAH grids, Table 2 RULER groups) as reference data
with provenance — see ``data/reference/README.md`` — and the comparison of a user's results with them
(``longllada compare``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from .errors import LongLLaDAError
from .lengths import format_length
from .measure.protocols.needlebench import LENGTH_BUFFER
from .measure.protocols.niah import niah_grid
from .measure.protocols.perplexity import perplexity_curve
from .measure.protocols.ruler import RULES, ruler_summary
from .measure.results import load_results

REFERENCE = Path(__file__).parent / "data" / "reference"
DATA = REFERENCE / "longllada_figure1_figure2.json"
PROVENANCE = ("LongLLaDA (Liu et al. 2025, arXiv 2506.14429), numbers as carried by the paper's plotting code "
              "(ppl/get_ppl_plot.py); see longllada_theory/data/reference/README.md")

#: NTK factors λ the paper's evaluation scripts run (eval/eval_llada_niah.py, eval_llada_ruler.py, eval_llada_long.py of
#: OpenMOSS/LongLLaDA at cb4278f), by model. The paper names the targets of LLaDA's (Figure 6: 8k, 16k, 24k, 32k);
#: the scripts run LLaMA3's and Dream's without naming a target, Dream's 5 at every length.
PAPER_SCALING_FACTORS = {"GSAI-ML/LLaDA-8B-Base": (4, 14, 31, 55), "meta-llama/Meta-Llama-3-8B": (4, 13),
                         "Dream-org/Dream-v0-Base-7B": (5,)}


def paper_factors_against_the_law(targets: tuple[int, ...] = (4096, 8192, 16384, 24576, 32768)) -> list[dict]:
    """Each factor of :data:`PAPER_SCALING_FACTORS` beside the scaling law: the target the paper names for it (None
    where it names none) and the targets among ``targets`` whose law λ rounds up to it."""
    from .models.spec import load_spec

    stated = {int(k): v for k, v in figure6()["target_of_each_factor"].items()}
    rows = []
    for model, factors in PAPER_SCALING_FACTORS.items():
        spec = load_spec(model)
        law = {target: spec.plan(target).scaling_factor for target in targets}
        for factor in factors:
            matches = [t for t, lam in law.items() if math.ceil(lam) == factor]
            rows.append({"model": model, "factor": factor,
                         "paper's target": stated.get(factor) if model == "GSAI-ML/LLaDA-8B-Base" else None,
                         "targets where ⌈law λ⌉ = factor": matches,
                         "law λ there": [round(law[t], 2) for t in matches]})
    return rows


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(DATA.read_text())


@cache
def _reference(name: str) -> dict:
    return json.loads((REFERENCE / name).read_text())


def table2_rows() -> list[dict]:
    """The paper's Table 2 (RULER NIAH / AGG / QA / Avg at 4k–16k, direct and with NTK factors), one dict per row."""
    return list(_reference("longllada_table2_ruler.json")["rows"])


def figure6() -> dict:
    """The paper's Figure 6: LLaDA-8B-Base's overall NIAH score under NTK factors 4/14/31/55, and the direct ones."""
    return dict(_reference("longllada_figure6_ntk_niah.json"))


def longdllm_factors(model: str = "GSAI-ML/LLaDA-8B-Instruct") -> dict:
    """LongDLLM's searched per-pair LongRoPE factors for a model (head_dim, rope_theta, original_length,
    target_length, factors), with the file's provenance under ``source``."""
    data = _reference("longdllm_rescale_factors.json")
    if model not in data["models"]:
        raise LongLLaDAError(f"LongDLLM ships no factors for {model!r}; it has {', '.join(data['models'])}")
    return {**data["models"][model], "source": data["source"], "how_applied": data["how_applied"]}


def reference_names() -> list[str]:
    data = _data()
    names = [f"paper:figure1a:{m}" for m in data["figure1a_perplexity"]["series"]]
    names += [f"paper:figure2:{m}" for m in data["figure1b_figure2_niah"]["scores"]]
    names += [f"paper:figure1b:{m}" for m in data["figure1b_figure2_niah"]["scores"]]
    rows = dict.fromkeys((r["model"], r["ntk_scaling_factor"]) for r in table2_rows())
    names += [f"paper:table2:{m}" + (f"@ntk{f}" if f != 1 else "") for m, f in rows]
    return names


@dataclass(frozen=True)
class Reference:
    name: str
    figure: str      # figure1a, figure1b, figure2 or table2
    model: str
    factor: float = 1.0  # Table 2's NTK factor (1: no scaling)

    @property
    def protocol(self) -> str:
        return {"figure1a": "ppl", "table2": "ruler"}.get(self.figure, "niah")


def parse_reference(name: str) -> Reference:
    if name not in reference_names():
        raise LongLLaDAError(f"reference {name!r} does not exist; available: {', '.join(reference_names())}")
    _, figure, model = name.split(":", 2)
    model, _, factor = model.partition("@ntk")
    return Reference(name, figure, model, float(factor or 1))


def reference_curve(model: str) -> tuple[np.ndarray, np.ndarray]:
    """(context length, running perplexity) of Figure 1a for ``model`` (positions as in the data README)."""
    series = _data()["figure1a_perplexity"]["series"]
    if model not in series:
        raise LongLLaDAError(f"Figure 1a has no series {model!r}; it has {', '.join(series)}")
    values = np.array(series[model], dtype=float)
    first = 2 if model.startswith("LLaDA") else 1
    return 64 * (np.arange(len(values)) + first), values


def reference_grid(model: str):
    """Figure 2's NIAH scores for ``model``: a depth × length DataFrame (0–100)."""
    import pandas as pd

    data = _data()["figure1b_figure2_niah"]
    if model not in data["scores"]:
        raise LongLLaDAError(f"Figure 2 has no model {model!r}; it has {', '.join(data['scores'])}")
    scores = data["scores"][model]
    frame = pd.DataFrame({int(length): {float(d): float(v) for d, v in by_depth.items()}
                          for length, by_depth in scores.items()})
    frame.index.name, frame.columns.name = "depth", "length"
    return frame.sort_index()


#: the reference's model names → the hub ids of the models they are
HUB_IDS = {"LLaDA-8B-Base": "GSAI-ML/LLaDA-8B-Base", "LLaDA-8B-Instruct": "GSAI-ML/LLaDA-8B-Instruct",
           "LLaDA-1.5": "GSAI-ML/LLaDA-1.5",
           "LLaMA3-8B-Base": "meta-llama/Meta-Llama-3-8B", "LLaMA3-8B-Instruct": "meta-llama/Meta-Llama-3-8B-Instruct"}


def _check_model(settings: dict, reference: Reference) -> None:
    """The results' model must be the reference's: its hub id, or a folder or name ending in the same name."""
    model = str(settings.get("model", "")).rstrip("/")
    last = model.split("/")[-1].lower()
    accepted = {reference.model.lower(), HUB_IDS.get(reference.model, reference.model).split("/")[-1].lower()}
    if last not in accepted:
        raise LongLLaDAError(f"the results are for model {model!r}, not {reference.model!r} (reference "
                             f"{reference.name}); pass any_model to compare anyway", parameters=("any_model",))


def paper_length_in_run(length: int, protocol: str) -> int:
    """Where the paper's nominal NIAH length falls in a run of ``protocol``: the same nominal length under the paper's
    protocol (its prompts hold length − 600 − needle tokens of haystack, then the template); under the package's,
    whose prompts are exactly their length, the haystack and needle the paper's prompt holds, length − 600."""
    return length if protocol == "paper" else length - LENGTH_BUFFER


def _shared_niah_cells(ours, theirs, tolerance: float, protocol: str) -> tuple[dict[int, int], dict[int, list]]:
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


def compare_niah(cells: list[dict], reference: Reference, tolerance: float = 0.05, protocol: str = "paper") -> dict:
    """Per-cell differences between a NIAH grid and the paper's, on the cells both have (the paper counts tokens with
    gpt-4's tiktoken encoding, the run with the model's own tokenizer, so lengths match within ``tolerance``). A run
    that lacks some of the paper's cells is compared on the rest and gets no verdict (``partial`` says what is
    missing); one that shares none is refused with the command that runs the paper's grid."""
    ours, theirs = niah_grid(cells), reference_grid(reference.model)
    matched, depths = _shared_niah_cells(ours, theirs, tolerance, protocol)
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
    return document


def verdict(document: dict) -> str:
    """A comparison's verdict in words: reproduced, not reproduced, or none (a partial comparison)."""
    if document.get("partial"):
        return "partial (no verdict)"
    return "reproduced" if document["reproduced"] else "not reproduced"


def compare_ppl(cells: list[dict], reference: Reference) -> dict:
    """The running perplexity at the paper's positions: relative differences and the correlation of log curves."""
    curve = perplexity_curve(cells)
    ends, theirs = reference_curve(reference.model)
    ours_at = dict(zip(curve["end"].tolist(), curve["running_ppl"].tolist()))
    common = [i for i, e in enumerate(ends) if int(e) in ours_at]
    if not common:
        raise LongLLaDAError("the results share no position with the reference curve; run `longllada ppl` with "
                             "chunk 64 on the same document", parameters=("chunk",))
    missing = [int(e) for e in ends if int(e) not in ours_at]
    ours = np.array([ours_at[int(ends[i])] for i in common])
    paper = theirs[common]
    relative = ours / paper - 1
    correlation = float(np.corrcoef(np.log(ours), np.log(paper))[0, 1]) if len(common) > 2 else float("nan")
    median = float(np.median(np.abs(relative)))
    return {"reference": reference.name, "kind": "ppl", "positions": len(common),
            "positions_missing": len(missing), "median_abs_relative_difference": round(median, 4),
            "max_abs_relative_difference": round(float(np.abs(relative).max()), 4),
            "log_correlation": round(correlation, 4),
            "final": {"position": int(ends[common[-1]]), "ours": round(float(ours[-1]), 3),
                      "paper": round(float(paper[-1]), 3)},
            "reproduced": bool(median <= 0.10 and not missing),
            "criterion": "median |relative difference| ≤ 10 % at every reference position"}


def table2_frame(reference: Reference):
    """Table 2's scores for ``reference``'s model and NTK factor: a group × length DataFrame (NIAH, AGG, QA, Avg)."""
    import pandas as pd

    rows = [r for r in table2_rows() if r["model"] == reference.model and r["ntk_scaling_factor"] == reference.factor]
    return pd.DataFrame({int(r["length"]): {g: float(r[g]) for g in TABLE2_GROUPS} for r in rows})


TABLE2_GROUPS = ("NIAH", "AGG", "QA", "Avg")


def compare_ruler(cells: list[dict], reference: Reference, settings: dict, tolerance: float = 0.05) -> dict:
    """Table 2's groups beside the run's at each paper length (matched within ``tolerance``, relative: the paper
    counts gpt-4 tokens, the run the model's own); the run's scaling factor must be the reference's."""
    scaling = settings.get("scaling") or {}
    factor = float(scaling.get("scaling_factor") or 1.0)
    if abs(factor - reference.factor) > 0.5:
        raise LongLLaDAError(f"the run's scaling factor is {factor:g} but reference {reference.name} used NTK factor "
                             f"{reference.factor:g}; run with --rope-scale {reference.factor:g}",
                             parameters=("rope_scale",))
    rules = RULES[settings.get("protocol", "package")]
    summary = ruler_summary(cells)
    groups = summary["groups"]
    paper = table2_frame(reference)
    matched, rows, missing = {}, {}, []
    for length in paper.columns:
        close = [n for n in summary["lengths"] if abs(n - length) <= tolerance * length]
        if not close:
            missing.append(f"length {length}")
            continue
        matched[int(length)] = min(close, key=lambda n: abs(n - length))
        for group in TABLE2_GROUPS:
            ours = groups.get(group, {}).get(matched[int(length)])
            if ours is None:
                missing.append(f"{group} at {length}")
                continue
            rows.setdefault(group, {})[int(length)] = {"ours": round(ours["mean"], 2), "se": round(ours["se"], 2),
                                                      "paper": paper.loc[group, length],
                                                      "difference": round(ours["mean"] - paper.loc[group, length], 2)}
    if missing:
        raise LongLLaDAError(f"the results lack {len(missing)} cell(s) of the reference: {', '.join(missing)} (run "
                             f"every task at {', '.join(format_length(int(n)) for n in paper.columns)})")
    differences = np.array([abs(v["difference"]) for by in rows.values() for v in by.values()])
    return {"reference": reference.name, "kind": "ruler", "matched_lengths": matched, "groups": rows,
            "mean_abs_difference": round(float(differences.mean()), 2),
            "max_abs_difference": round(float(differences.max()), 2),
            "reproduced": bool(differences.mean() <= 10),
            "criterion": "mean |Δ| ≤ 10 points over the groups NIAH, AGG, QA, Avg at every length",
            "protocol": rules.protocol,
            "note": (f"this run used --protocol {rules.protocol} ({rules.reference}), generated offline from the "
                     f"package's own files; what differs: {'; '.join(rules.notes)}")}


def compare(paths: list[str], name: str, tolerance: float = 0.05, any_model: bool = False) -> tuple[dict, list[dict]]:
    """Compare results files with a reference; returns the comparison document and the cells compared (for
    :func:`~longllada_theory.figures.compare.comparison_figure`)."""
    reference = parse_reference(name)
    results = load_results(paths)
    if results.protocol != reference.protocol:
        raise LongLLaDAError(f"the results are {results.protocol!r} results; reference {name} needs "
                             f"{reference.protocol!r} results (from `longllada {reference.protocol}`)")
    if not any_model:
        _check_model(results.settings, reference)
    cells = list(results.cells)
    protocol = results.settings.get("protocol", "package")  # files written before --protocol existed: the package's
    if reference.protocol == "ruler":
        document = compare_ruler(cells, reference, results.settings, tolerance)
    elif reference.protocol == "niah":
        document = compare_niah(cells, reference, tolerance, protocol)
    else:
        document = compare_ppl(cells, reference)
        document["protocol"] = protocol if results.settings.get("kind") == "diffusion" else "next-token"
    if reference.protocol != "ruler" and protocol != "paper" and document["protocol"] != "next-token":
        document["note"] = ("this run used the package's protocol, not the paper's (--protocol paper); " +
                            ("the paper's lengths are matched to its prompt's haystack and needle, length − 600"
                             if reference.protocol == "niah" else
                             "its stratified mask counts estimate the same quantity with a lower variance"))
    document["results"] = [str(p) for p in paths]
    document["model"] = results.settings.get("model")
    return document, cells
