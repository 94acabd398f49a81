"""``longllada toy train`` and ``longllada toy report``: the twin tiny models."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import LongLLaDAError
from ..models.sources import TWINS_DIR
from ..outputs import claim
from ..theory.scaling import ABLATIONS, check_method
from ..toy.methods import COMPARED
from ..values import Whole
from .commands import (
    add_json_option,
    command,
    console,
    file_option,
    folder_option,
    group,
    print_json,
    rows_table,
    typed,
)

group("toy", "the twin tiny models: train them, or measure the paper's phenomena on them")


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="results/twins",
                        help="where the twins go (default: results/twins; copy them into longllada_theory/data/twins "
                             "to ship them)")
    parser.add_argument("--work", default="results/twins-training", help="checkpoints for resuming")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda; the checkpoints are saved for the CPU")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


@command("train", "regenerate the twin checkpoints of every seed (CPU; resumable)", _train_arguments,
         "For each seed, train the AR twin, a diffusion twin adapted from it and a diffusion twin from scratch, with "
         "one schedule and one set of hyperparameters (see longllada_theory/toy/train.py); two stages run side by "
         "side. Deterministic from the seeds; rerun the same command to resume after an interruption.", group="toy")
def run_train(args: argparse.Namespace) -> int:
    from ..toy.train import Recipe, train_recipe

    start = time.perf_counter()
    work, output = folder_option(args.work, "--work"), folder_option(args.output, "--output")
    device = args.device
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise LongLLaDAError(f"--device {device!r} is unknown; expected cpu, cuda or cuda:N")
    for folder in train_recipe(Recipe(), work, output, progress=not args.no_progress, device=device):
        record = json.loads((folder / "training_record.json").read_text())["stages"]
        speeds = ", ".join(f"{r['stage']['name']}: {r['tokens_per_second']:.0f} tokens/s "
                           f"({100 * r['matmul_share']:.0f} % of measured matmul rate)" for r in record)
        print(f"{folder.parent.name} {folder.name} → {folder}  [{speeds}]")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--twins", help="folder with seed<N>/{ar,diffusion,diffusion-scratch}/ (default: the shipped "
                                        "twins)")
    parser.add_argument("--work", default="results/twins-report", help="results files of every cell (resumable)")
    parser.add_argument("--output", help="also write the report JSON here")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file this package did not write")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of the verdicts")
    parser.add_argument("--quick", action="store_true", help="a reduced grid (for a first look and the notebook)")
    parser.add_argument("--stored", action="store_true", help="measure nothing: print the verdicts of the stored "
                                                              "report shipped with the package")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


@command("report", "measure stable perplexity, local perception and the scaling law on the twins", _report_arguments,
         "Runs the evaluation suite on every seed's twins (two seeds side by side) and prints the targets' verdicts "
         "(seed means, pooled rates with Wilson 95 % intervals, each seed's value). --output writes the JSON "
         "document: train_length, seeds, twins; ppl[twin][length] (last-window perplexity: geometric mean over "
         "seeds, log SE across seeds, seeds); retrieval[twin][length][depth] (pooled passkey hit rate); "
         "retrieval_all, local_hit, far_hit [twin][length] (rate, Wilson interval, n, seeds; needle within T / "
         "farther than 1.5 T of the question); distance; ntk[twin] (per method: λ, its own predicted length, the "
         "breakdown grid's curves, each seed's breakdowns and measured/predicted ratios); sweep[twin] (retrieval at "
         "4T for multiples of the law's λ).", group="toy")
def run_report(args: argparse.Namespace) -> int:
    from ..toy.evaluation import QUICK, ReportSettings, run_twin_suite, save_report, seed_folders
    from ..toy.verdicts import verdicts

    twins = Path(args.twins or TWINS_DIR)
    output = args.output and claim(file_option(args.output, "--output", (".json",)), args.force)
    if args.stored:
        report = json.loads((TWINS_DIR / "report.json").read_text())
    else:
        work = folder_option(args.work, "--work")
        seed_folders(twins)
        report = run_twin_suite(twins, work, QUICK if args.quick else ReportSettings(), progress=not args.no_progress)
    if output:
        save_report(report, output, args.force)
    if args.json:
        print_json(report)
    else:
        for row in verdicts(report):
            verdict = ("met   " if row["met"] else "MISSED") + (
                " (decided by the 95 % interval)" if row["decided"] else " (the interval spans the target)"
                if row["interval"] else " (no interval)")
            print(f"{verdict} {row['twin']:<17} {row['target']}: {row['measured']}")
    return 0


def _methods_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--twins", help="folder with ar/, diffusion/ and diffusion-scratch/ (default: the shipped "
                                        "twins of seed 0)")
    parser.add_argument("--work", default="results/twins-methods",
                        help="results files of every cell, one folder per twins folder (resumable)")
    parser.add_argument("--output", help="also write the JSON here")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file this package did not write")
    parser.add_argument("--multiple", type=typed(Whole(2, 1024)), default=4, help="target = this × T (default 4)")
    parser.add_argument("--samples", type=typed(Whole(1, 10_000)), default=10, help="passkeys per depth (default 10)")
    parser.add_argument("--methods", default=",".join(COMPARED),
                        help=f"scaling methods to compare, comma-separated (default: {','.join(COMPARED)}); the "
                             f"registry's ablations too ({', '.join(ABLATIONS)}: the law on the fast or the slow "
                             "RoPE pairs alone)")
    add_json_option(parser, "print the JSON document instead of the table")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


@command("methods", "the scaling methods side by side on the twins (perplexity and retrieval at a target)",
         _methods_arguments, "Each method's plan for --multiple × T (the law, the critical method, YaRN, NTK-by-parts) "
         "and no scaling, on the three twins of one seed: last-window perplexity at T and at the target with "
         "standard errors, passkey retrieval at the target (all depths, needle within T of the question, farther) "
         "with Wilson intervals.",
         group="toy")
def run_methods(args: argparse.Namespace) -> int:
    from ..toy.evaluation import save_report
    from ..toy.methods import method_comparison, methods_table

    output = args.output and claim(file_option(args.output, "--output", (".json",)), args.force)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if not methods:
        raise LongLLaDAError("--methods is empty; expected scaling methods, comma-separated (e.g. longllada,yarn)")
    for method in methods:
        check_method(method)
    document = method_comparison(Path(args.twins or TWINS_DIR / "seed0"), folder_option(args.work, "--work"),
                                 methods, multiple=args.multiple, samples=args.samples, progress=not args.no_progress)
    if output:
        save_report(document, output, args.force)
    if args.json:
        print_json(document)
    else:
        console().print(rows_table(
            methods_table(document), f"Scaling methods on {args.twins or 'toy seed 0'}, plans for {document['target']} "
            "tokens", "perplexity: last window, Student-t 95 % band over the held-out segments; rates: % with the "
            "Wilson 95 % interval over the prompts (one seed's twins: a claim about these models)"))
    return 0
