"""The paper's claims beside what this package measured (notebook ``06_paper_figures``): each claim with the paper's
number, the number measured here, the statistic each is (where they differ, the row says so), the criterion and
whether the measurement meets it — computed from the reference data, the stored SmolLM2 runs and the twins' report."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np

from .measure.protocol import PROTOCOLS
from .measure.protocols.niah import niah_grid
from .measure.protocols.perplexity import window_perplexity
from .measure.results import load_results
from .models.sources import TWINS_DIR
from .reference import figure6, paper_factors_against_the_law, reference_curve, reference_grid
from .toy.verdicts import verdicts

RUNS = Path(__file__).parent / "data" / "runs"


def _running_ratio(model: str, train_length: int) -> str:
    """The paper's running perplexity at the end of its curve over its value at the training length."""
    ends, values = reference_curve(model)
    return f"{model} at {ends[-1]} / at {train_length}: {values[-1] / np.interp(train_length, ends, values):.2f}×"


def _diffusion_twins(targets: dict, twins: list[str], target: str) -> tuple[str, bool]:
    """What every diffusion twin measured for ``target`` (verdicts keyed by twin and target), and whether all meet
    it."""
    rows = [(kind, targets[kind, target]) for kind in twins if kind != "ar"]
    return "; ".join(f"{kind} twin {row['measured']}" for kind, row in rows), all(row["met"] for _, row in rows)


def paper_claims(runs: Path = RUNS, report: dict | None = None) -> list[dict]:
    """One row per claim: ``claim``, ``paper``, ``measured here``, ``statistic``, ``criterion``, ``agrees``."""
    report = report or json.loads((TWINS_DIR / "report.json").read_text())
    t = report["train_length"]
    twin = {kind: {int(k): v["ppl"] for k, v in report["ppl"][kind].items()} for kind in report["twins"]}
    direct = window_perplexity(load_results([runs / "ppl_smollm2_direct.jsonl"]).cells, 1024)["ppl"]
    scaled = window_perplexity(load_results([runs / "ppl_smollm2_longllada16k.jsonl"]).cells, 1024)["ppl"]
    targets = {(v["twin"], v["target"]): v for v in verdicts(report)}
    both = partial(_diffusion_twins, targets, report["twins"])  # target → (what they measured, all meet it)
    rows, window = [], f"the last T − {report['settings']['chunk']} tokens"  # the first chunk has no prefix within T

    smol_growth, ar_growth = direct[-1] / direct[7], twin["ar"][4 * t] / twin["ar"][t]
    rows.append({"claim": "an AR model's perplexity explodes past its training length",
                 "paper": _running_ratio("LLaMA3-8B-Base", 8192),
                 "measured here": f"SmolLM2 15–16k / 7–8k window: {smol_growth:.0f}×; AR twin 4T / T: {ar_growth:.1f}×",
                 "statistic": f"paper: running mean; here: one window (SmolLM2: 1k tokens; twin: {window})",
                 "criterion": "both AR models grow > 2×", "agrees": bool(smol_growth > 2 and ar_growth > 2)})

    flat, flat_met = both("diffusion last-window perplexity at 4T ≤ 1.25× its value at T")
    rows.append({"claim": "a diffusion LLM keeps a flat perplexity to 4× its training length",
                 "paper": _running_ratio("LLaDA-8B-Base", 4096),
                 "measured here": f"4T / T, geometric mean over seeds: {flat}",
                 "statistic": f"paper: running mean; here: {window} (a stricter statistic: the running mean "
                              "includes the in-window part)",
                 "criterion": "both diffusion twins ≤ 1.25×", "agrees": bool(flat_met)})

    smol_niah = niah_grid(load_results([runs / "niah_smollm2_direct.jsonl"]).cells)
    beyond = max(float(smol_niah[c].max()) for c in smol_niah.columns if c > 8192)
    twin_ar = max(max(report["retrieval"]["ar"][str(m * t)].values()) for m in (2, 4))
    paper_ar = float(reference_grid("LLaMA3-8B-Base")[[16000, 24000, 32000]].max().max())
    rows.append({"claim": "beyond its window an AR model fails NIAH at every depth",
                 "paper": f"LLaMA3-8B-Base at 16k–32k: ≤ {paper_ar:.0f}",
                 "measured here": f"SmolLM2 beyond 8k: ≤ {beyond:.0f} (3 cells per length); AR twin at 2T/4T: "
                                  f"≤ {100 * twin_ar:.0f} %",
                 "statistic": "NeedleBench score (0–100) per cell; twin: passkey hit rate per cell",
                 "criterion": "every depth ≤ 20", "agrees": bool(beyond <= 20 and twin_ar <= 0.2)})

    grid = reference_grid("LLaDA-8B-Base")
    local, local_met = both("diffusion ≥ 80 % with the needle within T of the question at 2T")
    far, far_met = both("diffusion ≤ 30 % with the needle farther than 1.5T at 2T")
    rows.append({"claim": "a diffusion LLM retrieves only needles within about T of the question (local perception)",
                 "paper": f"LLaDA-8B-Base at 8k: depth ≥ 50 % → ≥ {grid.loc[50:, 8000].min():.0f}, depth ≤ 30 % → "
                          f"≤ {grid.loc[:30, 8000].max():.0f}",
                 "measured here": f"at 2T, needle within T: {local}. Farther than 1.5T: {far}",
                 "statistic": "paper: score by depth; here: hit rate by the needle's distance from the question, mean "
                              "over the seeds whose twin retrieves at T (Student-t 95 % over seeds)",
                 "criterion": "≥ 80 % within T and ≤ 30 % beyond 1.5T, both diffusion twins",
                 "agrees": bool(local_met and far_met)})

    law_ar = targets["ar", "AR with the law's λ for 4T: measured / predicted breakdown length in [0.8, 1.25]"]
    rows.append({"claim": "the scaling law's λ extends an AR model's window to the length it predicts",
                 "paper": "LLaMA3-8B with NTK factors 4 and 13 (the paper's Table 2)",
                 "measured here": f"SmolLM2 + law's λ for 16k: last window {scaled[-1]:.1f} against {direct[-1]:.0f} "
                                  f"direct; AR twin + law's λ for 4T, where perplexity breaks down: "
                                  f"{law_ar['measured']}",
                 "statistic": "perplexity of one window; twin: each seed's breakdown / predicted length",
                 "criterion": "SmolLM2 scaled within 2× of its 7–8k window at 15–16k, and the twin's breakdown at 0.8–"
                              "1.25 × the law's prediction (the verdict table's rule: no breakdown within the grid "
                              "does not meet it)",
                 "agrees": bool(scaled[-1] < 2 * scaled[7] and law_ar["met"])})

    law_diffusion, law_diffusion_met = both("diffusion with the law's λ for 4T retrieves ≥ 80 % at 4T")
    ntk = figure6()
    best = max(ntk["overall_with_ntk"]["LLaDA-8B-Base"].items(), key=lambda kv: kv[1])
    rows.append({"claim": "the scaling law's λ extends a diffusion LLM's window (LongLLaDA)",
                 "paper": f"LLaDA-8B-Base overall NIAH {ntk['overall_direct']['LLaDA-8B-Base']:.1f} direct, "
                          f"{best[1]:.1f} with λ = {best[0]} (Figure 6)",
                 "measured here": f"law's λ for 4T, at 4T: {law_diffusion}",
                 "statistic": "paper: mean NIAH score over 2k–32k × depths; here: passkey hit rate at 4T, mean over "
                              "seeds (Student-t 95 % over seeds)",
                 "criterion": "≥ 80 % at 4T, both diffusion twins", "agrees": bool(law_diffusion_met)})

    factors = [r for r in paper_factors_against_the_law() if r["model"] == "GSAI-ML/LLaDA-8B-Base"]
    rows.append({"claim": "LLaDA's NTK factors 4, 14, 31, 55 for 8k–32k come from the scaling law",
                 "paper": "factors in the paper's scripts: " + ", ".join(str(r["factor"]) for r in factors),
                 "measured here": "targets where ⌈law λ⌉ equals each: " + ", ".join(
                     "/".join(str(x) for x in r["targets where ⌈law λ⌉ = factor"]) for r in factors),
                 "statistic": "the law's λ rounded up", "criterion": "each at the target the paper names",
                 "agrees": all(r["targets where ⌈law λ⌉ = factor"] == [r["paper's target"]] for r in factors)})
    return rows


def run_claims(run) -> list[dict]:
    """The paper's claims that one results run of any model can speak to — its protocol's
    (:meth:`~longllada_theory.measure.protocol.Protocol.claims`, with the criteria of :func:`paper_claims`) — each
    named by the run's model, kind and scaling."""
    settings, scaling = run.settings, run.settings.get("scaling") or {}
    name = f"{settings.get('model')} ({settings.get('kind')}" + (
        f", {scaling.get('method')} {scaling.get('scaling_factor', 0):.3g}" if scaling else "") + ")"
    return [{"run": name, **claim} for claim in PROTOCOLS[run.protocol].claims(settings, run.cells)]
