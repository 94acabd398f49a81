"""``longllada report RESULTS_DIR``: the tables, figures and claim verdicts of the notebooks, built from the results
files a user wrote with ``ppl`` / ``niah`` / ``attention`` on their own models (e.g. LLaDA-8B on a GPU).

Every results file under the folder is read; shards of one run are merged; each protocol's runs are drawn in one
figure by the protocol's own figure code; each run gets its summary (with uncertainties) and the verdicts of the
paper's claims it can speak to (:func:`~longllada_theory.claims.run_claims`); a NIAH or perplexity run of one of the
paper's models is compared with the paper's published numbers. Written: ``report.md``, ``report.json`` and one
PNG per protocol.
"""

from __future__ import annotations

from pathlib import Path

from .claims import run_claims
from .errors import LongLLaDAError
from .figures.draw import save_figure
from .figures.protocols import protocol_figure
from .figures.runs import group_runs
from .measure.comparison import compare, verdict
from .measure.protocol import PROTOCOLS
from .measure.results import read_header
from .outputs import claim, write_json, write_markdown
from .reference import HUB_IDS, parse_reference, reference_names


def results_files(folder: Path) -> list[Path]:
    """The results files under ``folder`` (any ``.jsonl`` whose first line is one of our headers)."""
    if not folder.is_dir():
        raise LongLLaDAError(f"results folder {folder} does not exist or is not a folder", parameters=("results",))
    found = []
    for path in sorted(folder.rglob("*.jsonl")):
        try:
            read_header(path)
        except LongLLaDAError:
            continue
        found.append(path)
    if not found:
        raise LongLLaDAError(f"{folder} holds no longllada results files (.jsonl written by {', '.join(PROTOCOLS)})",
                             parameters=("results",))
    return found


def run_summary(run) -> dict:
    """What one run measured, with its uncertainty where it has one: what every run has (protocol, model, scaling,
    cells) and the protocol's own summary of its results (:meth:`Protocol.summarize`)."""
    settings = run.settings
    summary = {"protocol": run.protocol, "model": settings.get("model"), "kind": settings.get("kind"),
               "scaling": settings.get("scaling"), "protocol_variant": settings.get("protocol", "package"),
               "cells": len(run.cells), "files": [str(p) for p in run.paths]}
    if run.cells:
        summary["summary"] = PROTOCOLS[run.protocol].summarize(settings, run.cells)
    return summary


def _paper_reference(run) -> str | None:
    """The paper's reference this run can be compared with: its protocol's first paper figure for one of the paper's
    models, at the run's NTK factor rounded (1: no scaling) where the paper published one (Table 2's factors)."""
    figures = PROTOCOLS[run.protocol].paper_figures
    factor = round(float((run.settings.get("scaling") or {}).get("scaling_factor") or 1))
    for name in HUB_IDS if figures else ():
        wanted = f"paper:{figures[0]}:{name}" + (f"@ntk{factor}" if factor != 1 else "")
        if wanted in reference_names() and parse_reference(wanted).is_of(run.settings.get("model", "")):
            return wanted
    return None


def build_report(folder: Path, output: Path, force: bool = False) -> dict:
    """Read every run under ``folder``, write figures, ``report.json`` and ``report.md`` into ``output``; return the
    report."""
    every = group_runs([str(p) for p in results_files(Path(folder))])
    skipped = [run for run in every if run.protocol not in PROTOCOLS]  # e.g. the twins' cells of `toy report`
    runs = [run for run in every if run.cells and run.protocol in PROTOCOLS]
    if not runs:
        raise LongLLaDAError(f"the results files under {folder} hold no finished cell yet", parameters=("results",))
    protocols = list(dict.fromkeys(run.protocol for run in runs))
    for path in [output / "report.json", output / "report.md", *(output / f"{p}.png" for p in protocols)]:
        claim(path, force)  # before any work: never a file this package did not write
    output.mkdir(parents=True, exist_ok=True)
    report = {"results": str(folder), "runs": [], "claims": [], "comparisons": [], "figures": [],
              "without_cells": [str(p) for run in every if not run.cells for p in run.paths],
              "skipped": [{"protocol": run.protocol, "files": [str(p) for p in run.paths],
                           "why": "not a measuring command's results (the twins' commands write these: read them with "
                                  "longllada toy report)"} for run in skipped]}
    for protocol in dict.fromkeys(run.protocol for run in runs):
        mine = [run for run in runs if run.protocol == protocol]
        figure = protocol_figure(protocol, mine, f"{protocol}: {len(mine)} run(s) from {folder}")
        report["figures"] += [str(p) for p in save_figure(figure, output / protocol, ("png",), force)] if figure else []
    for run in runs:
        report["runs"].append(run_summary(run))
        report["claims"] += run_claims(run)
        reference = _paper_reference(run)
        if reference:
            try:
                document, _ = compare([str(p) for p in run.paths], reference)
                report["comparisons"].append(document)
            except LongLLaDAError as error:  # e.g. lengths the paper did not run: say so in the report
                report["comparisons"].append({"reference": reference, "model": run.settings.get("model"),
                                              "not_compared": str(error)})
    write_json(output / "report.json", report, force)
    write_markdown(output / "report.md", markdown(report), force)
    return report


def markdown(report: dict) -> str:
    """The report for a person: runs, claim verdicts, comparisons with the paper, figures."""
    lines = [f"# Report on {report['results']}", "", "## Runs", "",
             "| protocol | model | kind | scaling | protocol variant | cells | result |", "|---" * 7 + "|"]
    for run in report["runs"]:
        scaling = run["scaling"]["method"] + f" {run['scaling']['scaling_factor']:.3g}" if run["scaling"] else "none"
        result = PROTOCOLS[run["protocol"]].result(run["summary"]) if "summary" in run else "—"
        variant = "next-token" if run["protocol"] == "ppl" and run["kind"] == "ar" else run["protocol_variant"]
        lines.append(f"| {run['protocol']} | {run['model']} | {run['kind']} | {scaling} | {variant} "
                     f"| {run['cells']} | {result} |")
    lines += ["", "## The paper's claims these runs speak to", ""]
    if report["claims"]:
        lines += ["| run | claim | measured | criterion | agrees |", "|---|---|---|---|---|"]
        lines += [f"| {c['run']} | {c['claim']} | {c['measured']} | {c['criterion']} | "
                  f"{'yes' if c['agrees'] else '**no**'} |" for c in report["claims"]]
    else:
        lines.append("None: a claim needs a run longer than the model's training length.")
    lines += ["", "## Against the paper's published numbers", ""]
    for document in report["comparisons"] or [{}]:
        if not document:
            lines.append("No run of one of the paper's models without scaling (for RULER: or with one of Table 2's NTK "
                         "factors).")
        elif "not_compared" in document:
            lines.append(f"- {document['reference']}: not compared — {document['not_compared']}")
        else:
            said = verdict(document)
            said = f"**{said}**" if said == "not reproduced" else said
            variant = f" ({document['protocol']} protocol)" if document.get("protocol") else ""
            lines.append(f"- {document['reference']}{variant}: {said} ({document['criterion']})" + "".join(
                f"; {key}: {document[key]}" for key in ("partial", "note") if document.get(key)))
    lines += ["", "## Figures", ""] + [f"![]({Path(f).name})" for f in report["figures"]]
    if report.get("skipped"):
        lines += ["", "## Not summarised here", ""] + [
            f"- {len(s['files'])} {s['protocol']} file(s): {s['why']}" for s in report["skipped"]]
    if report.get("without_cells"):
        lines += ["", f"{len(report['without_cells'])} results file(s) hold no finished cell yet."]
    return "\n".join(lines) + "\n"
