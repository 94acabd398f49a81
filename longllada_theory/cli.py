"""``longllada`` — the command line. Each subcommand is a thin layer over library functions.

Bad input ends with one line on stderr (``longllada: error: …``) and exit status 2. Heavy modules (torch,
transformers) are imported only by the subcommands that measure models, so ``longllada scale`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Sequence

from .errors import LongLLaDAError
from .lengths import format_length, parse_length, parse_lengths

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


def _lengths(values: Sequence[str] | None, what: str) -> list[int]:
    return [n for value in values or () for n in parse_lengths(value, what)]


def _print_json(document) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _console():
    from rich.console import Console
    return Console(soft_wrap=False, width=max(100, Console().width))


# ---------------------------------------------------------------- scale / explain / presets

@command("scale")
def run_scale(args: argparse.Namespace) -> int:
    from .report import scale_document, scale_markdown, scale_tables
    from .scaling import METHODS, check_method
    from .spec import load_spec

    targets = _lengths(args.target, "--target")
    if not targets:
        raise LongLLaDAError("give at least one --target length (e.g. --target 16k)")
    methods = args.method or list(METHODS)
    for method in methods:
        check_method(method)
    train_length = parse_length(args.train_length, "--train-length") if args.train_length else None
    models = list(args.model)
    if args.all_presets:
        from .presets import PRESETS
        models += [p.hub_id for p in PRESETS]
    if not models:
        raise LongLLaDAError("name at least one model (preset, config.json, folder or hub id), or pass --all-presets")
    specs = [load_spec(m, train_length, args.attention) for m in models]
    documents = [scale_document(spec, targets, methods) for spec in specs]
    if args.json:
        _print_json(documents[0] if len(documents) == 1 else {"models": documents})
    elif args.markdown:
        print(scale_markdown(documents))
    else:
        console = _console()
        for table in scale_tables(documents):
            console.print(table)
    return 0


@command("explain")
def run_explain(args: argparse.Namespace) -> int:
    from .report import explain_document, explain_table
    from .spec import load_spec

    train_length = parse_length(args.train_length, "--train-length") if args.train_length else None
    spec = load_spec(args.model, train_length, args.attention)
    document = explain_document(spec)
    if args.json:
        _print_json(document)
    else:
        _console().print(explain_table(document))
    return 0


@command("presets")
def run_presets(args: argparse.Namespace) -> int:
    from .presets import PRESETS
    from .spec import load_spec

    rows = []
    for preset in PRESETS:
        spec = load_spec(preset.hub_id)
        rows.append({"hub_id": preset.hub_id, "aliases": list(preset.aliases), "rotary_dim": spec.rotary_dim,
                     "rope_theta": spec.rope_theta, "train_length": spec.train_length, "attention": spec.attention,
                     "source": preset.source})
    if args.json:
        _print_json(rows)
        return 0
    from rich.table import Table
    table = Table(title="Built-in presets (no network needed)")
    for column in ("hub id", "aliases", "d", "rope_theta", "T_train", "attention"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["hub_id"], ", ".join(r["aliases"]), str(r["rotary_dim"]), f"{r['rope_theta']:g}",
                      format_length(r["train_length"]), r["attention"])
    _console().print(table)
    return 0


@command("figures")
def run_figures(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .figures import regenerate

    regenerate(Path(args.output), args.only)
    return 0


# ---------------------------------------------------------------- parser

def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-length", metavar="N",
                        help="pre-training length in tokens (16k, 4096); default: from the preset or config")
    parser.add_argument("--attention", choices=("causal", "bidirectional"),
                        help="override the attention kind read from the config")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longllada",
        description="RoPE extrapolation theory and measurements for diffusion and autoregressive LLMs "
                    "(LongLLaDA, arXiv 2506.14429).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("scale", help="critical dimension, extrapolation bound and scaling factors for a model",
                       description="Critical dimension, extrapolation bound, and for each target length and method the "
                                   "scaling factor, the new rope_theta and the exact config change. MODEL is a preset "
                                   "(hub id or alias, see `longllada presets`), a config.json, a model folder, a .gguf "
                                   "file or a Hugging Face model id.")
    p.add_argument("model", nargs="*", metavar="MODEL")
    p.add_argument("--target", action="append", metavar="LENGTH",
                   help="target context length (16k, 32768); repeat or comma-separate for several")
    p.add_argument("--method", action="append", metavar="METHOD",
                   help="longllada, diffusion-aware, ntk-aware, linear, yarn (repeatable; default: all)")
    p.add_argument("--all-presets", action="store_true", help="add every built-in preset to the models")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    p.add_argument("--markdown", action="store_true", help="print one markdown table instead")
    _add_model_options(p)

    p = sub.add_parser("explain", help="per-pair rotation periods and arc coverage of one model",
                       description="For each RoPE pair: rotation per token, period, period / T, the share of its circle "
                                   "that causal and bidirectional training covered, and the first distance it leaves "
                                   "the range it saw.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    _add_model_options(p)

    p = sub.add_parser("presets", help="list the built-in model presets")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("figures", help="regenerate every figure (PNG and PDF) from code and stored results",
                       description="Draw every figure of the package into a folder, deterministically (same names, "
                                   "fixed seeds, no timestamps).")
    p.add_argument("--output", default="figures", help="folder to write into (default: figures)")
    p.add_argument("--only", action="append", metavar="NAME", help="draw only this figure (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LongLLaDAError as error:
        print(f"longllada: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("longllada: interrupted; finished cells are saved, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
