"""``longllada`` — the command line, built from the command registry (:mod:`.commands`) and the measurement
protocol registry (:mod:`.measure`).

Bad input ends with one line on stderr (``longllada: error: …``) and exit status 2. Heavy modules (torch,
transformers) are imported only by the commands that measure models, so ``longllada scale`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..errors import LongLLaDAError, one_line
from ..lengths import MAX_TOKENS
from ..measure.protocol import PROTOCOLS
from ..values import allow_huge
from . import bench, figures, harness, theory, toy  # noqa: F401  (each module registers its commands)
from .commands import COMMANDS
from .measure import register_measurements


def _order(item) -> tuple:
    """Top-level commands in the order a reader meets them: theory, measurements, figures, the rest; groups before
    their subcommands."""
    (group, name), _ = item
    first = ["scale", "explain", "presets", *PROTOCOLS, "merge", "plot", "compare", "figures", "bench", "toy"]
    return (group is not None, first.index(name) if name in first and group is None else len(first))


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line and exit status 2 like every other error."""

    def error(self, message: str):
        print(one_line(f"longllada: error: {self.prog.removeprefix('longllada ')}: {message}"), file=sys.stderr)
        sys.exit(2)

    def _get_values(self, action, arg_strings):
        """Every value of every option passes here first: an empty one is an error, never "not given", and so is one
        with a NUL character, which no path or name can hold (a value a positional argument takes is checked the
        same way)."""
        if not isinstance(action, argparse._SubParsersAction):
            name = "/".join(action.option_strings) or action.metavar or action.dest
            if any(isinstance(s, str) and not s.strip() for s in arg_strings):
                self.error(f"argument {name}: an empty value; leave the option out for its default")
            if any(isinstance(s, str) and "\x00" in s for s in arg_strings):
                self.error(f"argument {name}: a value with a NUL character; no path or name can hold one")
        return super()._get_values(action, arg_strings)


def build_parser() -> argparse.ArgumentParser:
    register_measurements()
    parser = Parser(prog="longllada", description="RoPE extrapolation theory and measurements for diffusion and "
                                                  "autoregressive LLMs (LongLLaDA, arXiv 2506.14429).")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    parser.add_argument("--allow-huge", action="store_true", help=f"accept lengths above {MAX_TOKENS} tokens")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    groups: dict[str, argparse._SubParsersAction] = {}
    for (group, name), spec in sorted(COMMANDS.items(), key=_order):
        parent = commands if group is None else groups[group]
        sub = parent.add_parser(name, help=spec.help, description=spec.description)
        sub.set_defaults(handler=spec.run)
        if spec.run is None:
            groups[name] = sub.add_subparsers(dest=f"{name}_command", metavar="WHAT", required=True,
                                              parser_class=Parser)
        spec.arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # under LANG=C a λ or ≥ must not end in UnicodeEncodeError
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["lm-eval"] and len(argv) > 1 and argv[1] not in ("-h", "--help"):
            args = build_parser().parse_args(["lm-eval"])  # the harness parses the rest itself
            args.harness_arguments = argv[1:]
        else:
            args = build_parser().parse_args(argv)
    except SystemExit as exit:  # --help (0) or an option argparse refused (2, its one line already printed)
        return int(exit.code or 0)
    allow_huge(args.allow_huge)
    try:
        return args.handler(args)
    except LongLLaDAError as error:
        if args.debug:
            raise
        print(f"longllada: error: {error.for_cli()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("longllada: interrupted; finished cells are saved, rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `longllada scale … | head`: the reader is gone, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor at exit, when Python flushes stdout
        return 0
    except OSError as error:  # a file the checks could not foresee (a full disk, a special file system)
        if args.debug:
            raise
        print(one_line(f"longllada: error: cannot use {error.filename or 'a file'}: {error.strerror or error}"),
              file=sys.stderr)
        return 2
