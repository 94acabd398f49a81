"""``longllada lm-eval``: lm-evaluation-harness with the package's models (:mod:`longllada_theory.harness`)."""

from __future__ import annotations

import argparse

from ..errors import LongLLaDAError
from .commands import command

EXAMPLE = ("longllada lm-eval --model_args pretrained=GSAI-ML/LLaDA-8B-Base,target=16k,method=longllada,mc=128 "
           "--tasks TASKS --output_path results/")


@command("lm-eval", "evaluate a model on lm-evaluation-harness tasks, RoPE scaling applied and verified",
         description="Runs lm-evaluation-harness's command line (all its options) with the package's model "
                     f"registered as `longllada` and chosen by default, e.g. `{EXAMPLE}`. Model args: see "
                     "`longllada_theory.harness.LongLLaDALM`. Needs the lm-eval extra: "
                     "pip install 'longllada-theory[lm-eval]'.")
def run_lm_eval(args: argparse.Namespace) -> int:
    return forward(getattr(args, "harness_arguments", []))


def forward(argv: list[str]) -> int:
    try:
        from ..harness import main
    except ImportError as error:
        raise LongLLaDAError(f"lm-eval is not installed ({error}); pip install 'longllada-theory[lm-eval]'") from None
    try:
        return main(argv)
    except LongLLaDAError:
        raise
    except (ValueError, KeyError, FileNotFoundError) as error:  # the harness's own refusals (unknown task, …)
        raise LongLLaDAError(f"lm-eval stopped: {error}") from error
