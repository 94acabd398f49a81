"""``longllada plot``, ``compare`` and ``figures``: figures from results files, the comparison with the paper's
published numbers, and the catalog of every figure in ``figures/``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import LongLLaDAError
from ..outputs import claim
from ..values import Real
from .commands import add_json_option, command, file_option, folder_option, print_json, typed

IMAGE_SUFFIXES = (".png", ".pdf")


def _save(fig, target: str, force: bool = False) -> str:
    from ..figures.draw import save_figure

    stem = Path(target)
    return str(save_figure(fig, stem.with_suffix(""), (stem.suffix.lstrip(".") or "png",), force)[0])


def add_force_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="overwrite an existing file this package did not write")


def _plot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="results JSONL files (shards of one run are merged)")
    parser.add_argument("--output", required=True, help="image file (.png or .pdf)")
    parser.add_argument("--title", help="figure title (default: the runs' models and settings)")
    add_force_option(parser)


@command("plot", "draw a figure from results files (perplexity curves, NIAH heatmaps, attention by distance)",
         _plot_arguments)
def run_plot(args: argparse.Namespace) -> int:
    from ..figures.runs import plot_results

    output = file_option(args.output, "--output", IMAGE_SUFFIXES, inputs=tuple(args.results))
    claim(output, args.force)  # before any work
    print(f"wrote {_save(plot_results(args.results, title=args.title), str(output), args.force)}")
    return 0


def _merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", help="the shard files of one run (NAME.shardKofN.jsonl, every K once)")
    parser.add_argument("--output", required=True, help="the merged results file (.jsonl)")
    add_force_option(parser)


@command("merge", "merge the shard files of one run into one results file, checking it is whole", _merge_arguments,
         "Combines the files of a run split with --shard, torchrun, accelerate launch or a SLURM array into one "
         "results file, the cells in the order one process writes them; refuses headers of another run, a missing, "
         "doubled or unfinished shard, and a cell in two shards.")
def run_merge(args: argparse.Namespace) -> int:
    from ..measure.results import merge_shards

    output = file_option(args.output, "--output", (".jsonl",), inputs=tuple(args.shards))
    if output.exists() and not args.force:
        raise LongLLaDAError(f"--output {output} exists; choose another name or pass --force to overwrite it")
    merged = merge_shards(args.shards, output)
    print(f"wrote {merged} ({sum(1 for _ in merged.open()) - 1} cells from {len(args.shards)} shards)")
    return 0


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="results JSONL files (shards of one run)")
    parser.add_argument("--reference", required=True,
                        help="e.g. paper:figure2:LLaDA-8B-Base, paper:figure1a:LLaMA3-8B-Base or "
                             "paper:table2:LLaDA-8B-Base@ntk14 (a wrong name lists all)")
    parser.add_argument("--figure", help="write the side-by-side figure here (.png/.pdf)")
    parser.add_argument("--length-tolerance", type=typed(Real(0, 1)), default=0.05,
                        help="relative tolerance matching lengths (the paper counts gpt-4 tokens: 2000, 4000, …)")
    parser.add_argument("--any-model", action="store_true", help="compare even if the results are for another model")
    add_force_option(parser)
    add_json_option(parser)


@command("compare", "compare your results with the paper's published numbers", _compare_arguments,
         "Per-cell differences of a NIAH grid with Figure 2, of a perplexity curve with Figure 1a, or of a RULER "
         "run's task groups with Table 2; an overall verdict and a side-by-side figure.")
def run_compare(args: argparse.Namespace) -> int:
    from ..measure.comparison import compare, describe

    figure = args.figure and claim(file_option(args.figure, "--figure", IMAGE_SUFFIXES, inputs=tuple(args.results)),
                                   args.force)
    document, cells = compare(args.results, args.reference, args.length_tolerance, args.any_model)
    if figure:
        from ..figures.compare import comparison_figure
        document["figure"] = _save(comparison_figure(document, cells), str(figure), args.force)
    print_json(document) if args.json else print(describe(document))
    return 0


def _figures_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="figures", help="folder to write into (default: figures)")
    parser.add_argument("--only", action="append", metavar="NAME", help="draw only this figure (repeatable)")
    add_force_option(parser)


@command("figures", "regenerate every figure (PNG and PDF) from code and stored results", _figures_arguments,
         "Draw every figure of the package into a folder, deterministically (same names, fixed seeds, no "
         "timestamps).")
def run_figures(args: argparse.Namespace) -> int:
    from ..figures.catalog import regenerate

    regenerate(folder_option(args.output, "--output"), args.only, force=args.force)
    return 0


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    from ..measure.protocol import PROTOCOLS

    parser.add_argument("results", help=f"a folder of results files written by {', '.join(PROTOCOLS)} (searched "
                                        "recursively; shards are merged)")
    parser.add_argument("--output", default="report", help="folder for report.md, report.json and the figures "
                                                           "(default: report)")
    add_force_option(parser)
    add_json_option(parser)


@command("report", "tables, figures and claim verdicts from a folder of your own results", _report_arguments,
         "Reads every results file under RESULTS (your runs of any measurement, e.g. of LLaDA-8B on a GPU), "
         "draws each protocol's runs in one figure, summarises each run with its uncertainty, gives the verdicts of "
         "the paper's claims each run can speak to, and compares runs of the paper's models with its published "
         "numbers. Writes report.md, report.json and PNG figures to --output.")
def run_report(args: argparse.Namespace) -> int:
    from ..report import build_report

    report = build_report(Path(args.results), folder_option(args.output, "--output"), args.force)
    if args.json:
        print_json(report)
    else:
        print(f"{len(report['runs'])} run(s), {len(report['claims'])} claim verdict(s), "
              f"{len(report['comparisons'])} comparison(s) with the paper → {Path(args.output) / 'report.md'}")
    return 0
