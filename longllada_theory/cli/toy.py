"""``longllada toy train`` and ``longllada toy report``: the twin tiny models."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import LongLLaDAError
from ..models.sources import TWINS_DIR
from .commands import command, file_option, folder_option, group, print_json

group("toy", "the twin tiny models: train them, or measure the paper's phenomena on them")


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", help="where the twins go (default: the package's shipped checkpoints)")
    parser.add_argument("--work", default="results/twins-training", help="checkpoints for resuming")
    parser.add_argument("--no-progress", action="store_true")


@command("train", "regenerate both twin checkpoints (CPU; resumable)", _train_arguments,
         "Train the AR twin, then continue it and adapt a copy to masked diffusion side by side (see "
         "longllada_theory/toy/train.py). Deterministic from the seeds; rerun the same command to resume after an "
         "interruption.", group="toy")
def run_train(args: argparse.Namespace) -> int:
    from ..toy.train import Recipe, train_recipe

    start = time.perf_counter()
    work, output = folder_option(args.work, "--work"), folder_option(args.output or str(TWINS_DIR), "--output")
    twins = train_recipe(Recipe(), work, output, progress=not args.no_progress)
    for kind, folder in twins.items():
        record = json.loads((folder / "training_record.json").read_text())["stages"]
        speeds = ", ".join(f"{r['stage']['name']}: {r['tokens_per_second']:.0f} tokens/s "
                           f"({100 * r['matmul_share']:.0f} % of measured matmul rate)" for r in record)
        print(f"{kind} twin → {folder}  [{speeds}]")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--twins", help="folder with ar/ and diffusion/ (default: the shipped twins)")
    parser.add_argument("--work", default="results/twins-report", help="results files of every cell (resumable)")
    parser.add_argument("--output", help="also write the report JSON here")
    parser.add_argument("--json", action="store_true", help="print the JSON document (default when no --output)")
    parser.add_argument("--quick", action="store_true", help="a reduced grid (for a first look and the notebook)")
    parser.add_argument("--no-progress", action="store_true")


@command("report", "measure stable perplexity, local perception and the scaling law on the twins", _report_arguments,
         "Runs the evaluation suite on the twins and prints one JSON document: train_length; ppl[model][length] "
         "(last-window perplexity); retrieval[model][length][depth] (passkey hit rate); local_hit / far_hit "
         "(diffusion twin, needle within T vs. beyond 1.5 T of the question, at 2T and 4T); ntk[model] (per method "
         "and target: λ, predicted and measured breakdown lengths); sweep[model] (retrieval at 4T for multiples of "
         "the law's λ).", group="toy")
def run_report(args: argparse.Namespace) -> int:
    from ..toy.evaluation import QUICK, ReportSettings, build_report, save_report

    twins = Path(args.twins or TWINS_DIR)
    for kind in ("ar", "diffusion"):
        if not (twins / kind / "model.safetensors").is_file():
            raise LongLLaDAError(f"no {kind} twin in {twins}; regenerate the twins with `longllada toy train`")
    output = args.output and file_option(args.output, "--output", (".json",))
    report = build_report(twins, folder_option(args.work, "--work"), QUICK if args.quick else ReportSettings(),
                          progress=not args.no_progress)
    if output:
        save_report(report, output)
    if args.json or not output:
        print_json(report)
    return 0


def _methods_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--twins", help="folder with ar/ and diffusion/ (default: the shipped twins)")
    parser.add_argument("--work", default="results/twins-methods", help="results files of every cell (resumable)")
    parser.add_argument("--output", help="also write the JSON here")
    parser.add_argument("--multiple", type=int, default=4, help="target = this × T (default 4)")
    parser.add_argument("--samples", type=int, default=10, help="passkeys per depth (default 10)")
    parser.add_argument("--no-progress", action="store_true")


@command("methods", "the scaling methods side by side on the twins (perplexity and retrieval at a target)",
         _methods_arguments, "Each method's plan for --multiple × T (the law, the critical method, YaRN, NTK-by-parts) "
         "and no scaling, on both twins: last-window perplexity at T and at the target with standard errors, passkey "
         "retrieval at the target (all depths, needle within T of the question, farther) with Wilson intervals.",
         group="toy")
def run_methods(args: argparse.Namespace) -> int:
    from ..toy.evaluation import method_comparison, save_report

    output = args.output and file_option(args.output, "--output", (".json",))
    document = method_comparison(Path(args.twins or TWINS_DIR), folder_option(args.work, "--work"),
                                 multiple=args.multiple, samples=args.samples, progress=not args.no_progress)
    if output:
        save_report(document, output)
    print_json(document)
    return 0
