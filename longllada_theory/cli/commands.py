"""The command registry and the options several commands share (declared once here).

A command is a handler ``(args) -> exit status`` registered with :func:`command`, its options added by the function
passed as ``arguments`` — written right above the handler in its module. Subcommands of a group (``bench …``,
``toy …``) name their ``group``. Measurement commands are generated from the protocol registry (:mod:`.measure`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import LongLLaDAError
from ..lengths import parse_length
from ..models.placement import checked_device_map
from ..theory.scaling import ABLATIONS, STANDARD_METHODS
from ..values import Real, Whole


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace], int] | None
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    description: str = ""
    group: str | None = None   # the parent command of a subcommand (e.g. bench)


COMMANDS: dict[tuple[str | None, str], Command] = {}


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
            description: str = "", group: str | None = None):
    """Register the decorated handler as ``longllada [group] name``."""
    def register(run: Callable[[argparse.Namespace], int]):
        COMMANDS[(group, name)] = Command(name, help, run, arguments, description or help, group)
        return run
    return register


def group(name: str, help: str, description: str = "") -> None:
    """A command that only holds subcommands (``longllada bench …``)."""
    COMMANDS[(None, name)] = Command(name, help, None, description=description or help)


def typed(parse):
    """An argparse ``type`` from a parser of :mod:`longllada_theory.values`: its error becomes argparse's one line."""
    def convert(text: str):
        try:
            return parse(text)
        except LongLLaDAError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = type(parse).__name__.lower()
    return convert


def print_json(document) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def rows_table(rows: list[dict], title: str, caption: str | None = None):
    """A rich table of rows that share their keys (the column headers)."""
    from rich.table import Table

    table = Table(title=title, caption=caption, caption_justify="left")
    for key in rows[0] if rows else []:
        table.add_column(str(key))
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    return table


def console():
    from rich.console import Console
    return Console(soft_wrap=False, width=max(100, Console().width))


def lengths_option(values, what: str) -> list[int]:
    """Repeatable, comma-separated length options (``--target 16k --target 32k,64k``)."""
    from ..lengths import parse_lengths
    return [n for value in values or () for n in parse_lengths(value, what)]


# ---------------------------------------------------------------- shared options

def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """Overrides of what a model's config says, for commands that read specs only."""
    parser.add_argument("--train-length", metavar="N",
                        help="pre-training length in tokens (16k, 4096); default: from the preset or config")
    parser.add_argument("--attention", choices=("causal", "bidirectional"),
                        help="override the attention kind read from the config")


def add_reading_option(parser, default: str = "(default: compose where it can be expressed, else replace)") -> None:
    parser.add_argument("--reading", choices=("compose", "replace"),
                        help="for a model that already has a RoPE scaling: compose (keep it, change on top of it what "
                             "the method changes) or replace (drop it, plan from the pre-training RoPE) " + default)


def add_model_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    help_text = ("hub id, local folder, .gguf file, or a shortcut: smollm2, toy:ar, toy:diffusion, "
                 "toy:diffusion-scratch (a shipped twin, seed 0; toy:TWIN@SEED for another seed)")
    if default:
        parser.add_argument("model", nargs="?", default=default, metavar="MODEL",
                            help=f"{help_text} (default: {default})")
    else:
        parser.add_argument("model", metavar="MODEL", help=help_text)


def add_loading_options(parser: argparse.ArgumentParser, default_model: str | None = None) -> None:
    """MODEL and how to load it, with RoPE scaling applied before it is built."""
    add_model_argument(parser, default_model)
    group = parser.add_argument_group("loading")
    group.add_argument("--gguf-file", help="GGUF file inside MODEL's folder")
    group.add_argument("--trust-remote-code", action="store_true",
                       help="allow the model's own code to run (LLaDA and Dream load natively without it)")
    group.add_argument("--kind", choices=("ar", "diffusion"), help="override the model kind read from its config")
    group.add_argument("--dtype", default="auto",
                       help="auto (bfloat16 on GPU, float32 on CPU), float32, float16, bfloat16")
    group.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda if available)")
    group.add_argument("--device-map", type=typed(checked_device_map),
                       help="split the model over devices with accelerate: auto, balanced, balanced_low_0, "
                            "sequential, or a JSON object from module names to devices (cpu, cuda:N, N, disk)")
    group.add_argument("--offload-folder", metavar="DIR",
                       help="where modules mapped to disk keep their weights (default: a temporary folder)")
    group.add_argument("--attn-implementation", help="sdpa, flash_attention_2, eager (default: the model's)")
    group.add_argument("--train-length", metavar="N", help="pre-training length (default: from the config)")
    group = parser.add_argument_group("RoPE scaling (applied before the model is built)")
    group.add_argument("--rope-scale", type=typed(Real(0, above=True)), metavar="λ", help="multiply rope_theta by λ")
    group.add_argument("--target", metavar="LENGTH", help="scale for this target length with --method")
    group.add_argument("--method", help=f"scaling method for --target: {', '.join(STANDARD_METHODS)} (default: "
                                        f"longllada); also the ablations {', '.join(ABLATIONS)}")
    add_reading_option(group)
    group.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_output_options(parser: argparse.ArgumentParser, shard: bool = True) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--output", help="results JSONL (default: results/<protocol>_<model>_<scaling>_<settings "
                                        "digest>.jsonl); rerunning resumes it")
    if shard:
        group.add_argument("--shard", metavar="I/N",
                           help="run every N-th cell starting at I (default under torchrun: RANK/WORLD_SIZE)")
    group.add_argument("--seed", type=typed(Whole(0, 2 ** 63 - 1)), default=0,
                       help="seed of every random draw; a cell's own seed comes from it and the cell's key (default 0)")
    add_json_option(group)


def folder_option(value: str, flag: str) -> Path:
    """A folder a command writes into: refused at once when it is a file."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise LongLLaDAError(f"{flag} {value} is a file; a folder is expected")
    return path


def file_option(value: str, flag: str, suffixes: tuple[str, ...] = (), inputs: tuple[str, ...] = ()) -> Path:
    """A file a command writes: refused at once when it is a folder, has another suffix than ``suffixes``, or is one
    of the command's ``inputs``."""
    path = Path(value)
    if path.is_dir():
        raise LongLLaDAError(f"{flag} {value} is a folder; a file name is expected")
    if suffixes and path.suffix.lower() not in suffixes:
        raise LongLLaDAError(f"{flag} {value}: expected a file ending in {', '.join(suffixes)}")
    if any(path.resolve() == Path(i).resolve() for i in inputs):
        raise LongLLaDAError(f"{flag} {value} is one of the inputs; it would be overwritten")
    return path


def add_json_option(parser, what: str = "print one JSON document") -> None:
    parser.add_argument("--json", action="store_true", help=what)


def load(args: argparse.Namespace):
    """The model named by the loading options, with a one-line report on stderr."""
    from ..models.loading import load_model

    if (args.method or args.reading) and not args.target:
        raise LongLLaDAError(f"--{'method' if args.method else 'reading'} chooses how to reach a --target length; "
                             "give --target too")
    device = args.device
    if device is None and "LOCAL_RANK" in os.environ:  # one process per GPU under torchrun / accelerate launch
        import torch

        device = f"cuda:{os.environ['LOCAL_RANK']}" if torch.cuda.is_available() else "cpu"
    loaded = load_model(args.model, gguf_file=args.gguf_file, rope_scale=args.rope_scale,
                        target=parse_length(args.target, "--target") if args.target else None,
                        method=args.method or "longllada", reading=args.reading,
                        train_length=parse_length(args.train_length, "--train-length") if args.train_length else None,
                        kind=args.kind, trust_remote_code=args.trust_remote_code, dtype=args.dtype, device=device,
                        device_map=args.device_map, offload_folder=args.offload_folder,
                        attn_implementation=args.attn_implementation,
                        progress=not args.no_progress)
    plan = loaded.plan
    scaling = "no scaling" if plan is None else (
        f"{plan.method} λ = {plan.scaling_factor:.4g} (rope_theta {plan.new_rope_theta:.6g})")
    print(f"loaded {loaded.name} ({loaded.kind}, {loaded.dtype}, {scaling}); RoPE checked: "
          f"{len(loaded.verified)} module(s)", file=sys.stderr)
    return loaded


def default_output(protocol: str, args: argparse.Namespace, settings, shard: tuple[int, int] = (0, 1)) -> str:
    """``results/<protocol>_<model>_<scaling>_<settings digest>.jsonl``, known before the model loads: another length,
    text or option gives another file (a run is never refused for the settings of the last one)."""
    from dataclasses import asdict

    from ..models.fingerprint import digest

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(args.model).strip("/")).strip("_")[:60]
    scaling = (f"lambda{args.rope_scale:g}" if args.rope_scale else
               f"{args.method or 'longllada'}-{args.target}" if args.target else "direct")
    chosen = {k: getattr(args, k, None) for k in ("dtype", "attn_implementation", "train_length", "kind", "reading")}
    part = f".shard{shard[0]}of{shard[1]}" if shard[1] > 1 else ""
    return f"results/{protocol}_{name}_{scaling}_{digest([asdict(settings), chosen])[:8]}{part}.jsonl"


def output_path(args: argparse.Namespace, protocol: str, settings, shard: tuple[int, int]) -> str:
    """--output, with the shard in the name when a launcher (torchrun) split the run; else the default name."""
    if args.output and shard[1] > 1 and args.shard is None:
        stem, dot, suffix = args.output.rpartition(".")
        return f"{stem}.shard{shard[0]}of{shard[1]}.{suffix}" if dot else f"{args.output}.shard{shard[0]}"
    return args.output or default_output(protocol, args, settings, shard)
