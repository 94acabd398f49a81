"""Print the README's result tables from the stored runs (longllada_theory/data/runs, data/twins/report.json), as
markdown. `tests/test_project.py` checks that every table row printed here is in the README.

Usage: python scripts/readme_tables.py
"""

from __future__ import annotations

import json
from pathlib import Path

from longllada_theory.figures.catalog import SMOLLM2_METHODS
from longllada_theory.lengths import format_length
from longllada_theory.measure.protocols.niah import niah_grid
from longllada_theory.measure.protocols.perplexity import perplexity_comparison, window_perplexity
from longllada_theory.measure.protocols.ruler import ruler_summary
from longllada_theory.measure.results import load_results
from longllada_theory.toy.methods import methods_table
from longllada_theory.toy.verdicts import verdicts

DATA = Path(__file__).resolve().parents[1] / "longllada_theory" / "data"
RUNS = DATA / "runs"
MiB, GiB = 2 ** 20, 2 ** 30
SMOLLM2_RUNS = (("direct", "direct"), ("longllada16k", "law's λ for 16k"))


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def smollm2_perplexity() -> list[str]:
    rows = []
    for name, label in SMOLLM2_RUNS:
        run = load_results([RUNS / f"ppl_smollm2_{name}.jsonl"])
        if run.settings["scaling"]:
            label += f" ({run.settings['scaling']['scaling_factor']:.2f})"
        windows = window_perplexity(run.cells, 1024)["ppl"]
        rows.append(_row([label] + [f"{p:.1f}" if p < 100 else f"{p:.0f}" for p in windows]))
    return rows


def smollm2_niah() -> list[str]:
    grids = {label: niah_grid(load_results([RUNS / f"niah_smollm2_{name}.jsonl"]).cells)
             for name, label in SMOLLM2_RUNS}
    lengths = list(next(iter(grids.values())).columns)
    rows = [_row(["SmolLM2-135M"] + [format_length(n) for n in lengths]), "|---|" + "---|" * len(lengths)]
    return rows + [_row([label] + [f"{grid[n].mean():.0f}" for n in lengths]) for label, grid in grids.items()]


def twins() -> list[str]:
    report = json.loads((DATA / "twins" / "report.json").read_text())
    t = report["train_length"]
    ppl = {kind: {int(n): v for n, v in report["ppl"][kind].items()} for kind in report["twins"]}
    lengths = sorted(ppl["ar"])
    rows = ["| " + _row([f"{n // t}T" for n in lengths]), "|---|" + "---|" * len(lengths)]
    rows += [_row([f"{kind} twin: last-window perplexity"] + [
        f"{ppl[kind][n]['ppl']:.2f} [{ppl[kind][n]['low']:.2f}, {ppl[kind][n]['high']:.2f}]" for n in lengths])
        for kind in report["twins"]]
    retrieval = {kind: {int(n): v for n, v in report["retrieval_all"][kind].items()} for kind in report["twins"]}
    rows += [_row([f"{kind} twin: passkey hit rate (all depths)"] + [
        f"{100 * retrieval[kind][n]['rate']:.0f} % [{100 * retrieval[kind][n]['low']:.0f}, "
        f"{100 * retrieval[kind][n]['high']:.0f}]" if n in retrieval[kind] else "–" for n in lengths])
        for kind in report["twins"]]
    rows += ["", _row(["twin", "phenomenon", "target", "measured", "met", "decided by the 95 % interval"]),
             "|---|---|---|---|---|---|"]
    return rows + [_row([v["twin"], v["phenomenon"], v["target"], v["measured"], "yes" if v["met"] else "**no**",
                         "yes" if v["decided"] else "no" if v["interval"] else "no interval"])
                   for v in verdicts(report)]


def _load(name: str) -> dict:
    return json.loads((RUNS / name).read_text())


def probe_benchmarks() -> list[str]:
    rows = [_row(["tokens", "layers", "plain forward", "instrumented",
                  "time ratio: median of rounds / of minima (target ≤ 1.5)", "eager's extra memory",
                  "probe's extra memory: RSS / tensors", "memory ratio: RSS / tensors (target ≤ 0.1)",
                  "largest \\|p − p_eager\\|"]), "|---|---|---|---|---|---|---|---|---|"]
    for name in ("bench_smollm2_4k.json", "bench_smollm2_8k.json"):
        r = _load(name)
        eager_extra = r["eager"]["peak_extra_tensor_bytes"] - r["plain"]["peak_extra_tensor_bytes"]
        ratio = r["time_ratios"]["instrumented_vs_plain"]
        rows.append(_row([r["length"], r["layers"], f"{r['plain']['median_seconds']:.2f} s",
                          f"{r['instrumented']['median_seconds']:.2f} s",
                          f"{ratio['median_of_pairs']:.2f} / {ratio['of_minima']:.2f}", f"{eager_extra / GiB:.2f} GiB",
                          f"{r['probe_extra_bytes'] / MiB:.1f} / {r['probe_own_peak_tensor_bytes'] / MiB:.1f} MiB",
                          f"{r['memory_ratio_probe_vs_eager_extra']:.4f} / "
                          f"{r['memory_ratio_probe_vs_eager_extra_tensors']:.4f}",
                          f"{r['max_abs_prob_difference']:.1e}"]))
    runs = [_load(f"bench_smollm2_probe_{n}.json") for n in ("1k", "2k", "4k", "8k")]
    rows += ["", _row(["tokens"] + [r["length"] for r in runs]), "|---|" + "---|" * len(runs)]
    rows.append(_row(["probe's own peak (tensors)"] + [f"{r['probe_own_peak_tensor_bytes'] / MiB:.1f} MiB"
                                                       for r in runs]))
    rows.append(_row(["per 1k tokens"] + [f"{r['probe_own_peak_tensor_bytes'] / MiB / (r['length'] / 1024):.2f} MiB"
                                          for r in runs]))
    rows.append(_row(["time instrumented / plain (median of rounds)"] +
                     [f"{r['time_ratios']['instrumented_vs_plain']['median_of_pairs']:.2f}" for r in runs]))
    gpu = _load("gpu_protocol_h200.json")["probe"]
    rows += ["", _row(["tokens"] + [p["length"] for p in gpu]), "|---|" + "---|" * len(gpu)]
    rows.append(_row(["plain forward"] + [f"{p['plain']['seconds']:.2f} s" for p in gpu]))
    rows.append(_row(["instrumented forward"] + [f"{p['instrumented']['seconds']:.2f} s" for p in gpu]))
    rows.append(_row(["time ratio (target ≤ 2)"] + [f"{p['time_ratio_instrumented_vs_plain']:.2f}" for p in gpu]))
    rows.append(_row(["probe's own peak"] + [f"{p['probe_own_peak_bytes'] / GiB:.2f} GiB" for p in gpu]))
    rows.append(_row(["eager would keep"] + [f"{p['eager_attention_bytes_estimate'] / GiB:.0f} GiB" for p in gpu]))
    return rows


def scaling_methods() -> list[str]:
    runs = {label: load_results([RUNS / f"ppl_smollm2_{name}.jsonl"]).cells for name, label, _ in SMOLLM2_METHODS}
    rows = [_row(["SmolLM2-135M, plan for 16k", "perplexity 0–8k", "perplexity 8k–16k",
                  "8k–16k ratio to the law (± paired SE, widened for lag-1 autocorrelation)"]), "|---|---|---|---|"]
    table = perplexity_comparison(runs, "law's λ for 16k", 8192)
    for label in runs:
        inside, beyond = (r for r in table if r["run"] == label)
        rows.append(_row([label, f"{inside['ppl']:.2f}", f"{beyond['ppl']:.2f}",
                          f"{beyond['ratio']:.3f} ± {beyond['log_ratio_se']:.3f}"]))
    twins_table = methods_table(json.loads((DATA / "twins" / "v1" / "methods.json").read_text()))
    columns = ["twin", "method", "factor", "ppl at 512", "retrieval %"]
    rows += ["", _row(columns), "|---" * len(columns) + "|"]
    return rows + [_row([r[c] for c in columns]) for r in twins_table]


def smollm2_ruler() -> list[str]:
    groups = ("NIAH", "VT", "AGG", "QA", "Avg")
    rows = [_row(["SmolLM2-135M (T = 8k)", "length", *groups]), "|---" * (2 + len(groups)) + "|"]
    for name, label in SMOLLM2_RUNS:
        summary = ruler_summary(load_results([RUNS / f"ruler_smollm2_{name}.jsonl"]).cells)
        for length in summary["lengths"]:
            rows.append(_row([label, format_length(length), *(f"{summary['groups'][g][length]['mean']:.1f} ± "
                                                              f"{summary['groups'][g][length]['se']:.1f}"
                                                              for g in groups)]))
    return rows


TABLES = {"SmolLM2 perplexity per 1k window": smollm2_perplexity, "SmolLM2 NIAH": smollm2_niah,
          "The twins": twins, "The attention probe": probe_benchmarks, "Scaling methods": scaling_methods,
          "SmolLM2 RULER": smollm2_ruler}


def main() -> None:
    for title, table in TABLES.items():
        print(f"## {title}\n")
        print("\n".join(table()) + "\n")


if __name__ == "__main__":
    main()
