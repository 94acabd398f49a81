"""`longllada scale`, `explain`, `presets`: output schema, clear one-line errors, and no torch import."""

import json
import subprocess
import sys

import pytest

from longllada_theory.cli import main
from longllada_theory.theory.scaling import STANDARD_METHODS


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_scale_json_schema_for_one_model(capsys):
    doc = run_json(capsys, "scale", "GSAI-ML/LLaDA-8B-Base", "--target", "16k", "--target", "32768,24k", "--json")
    for key in ("model", "head_dim", "rope_theta", "train_length", "critical_dimension", "extrapolation_bound",
                "provenance", "plans"):
        assert key in doc
    assert doc["critical_dimension"] == 64
    targets = sorted({p["target"] for p in doc["plans"]})
    assert targets == [16384, 24576, 32768]
    law = {p["target"]: p for p in doc["plans"] if p["method"] == "longllada"}
    assert law[16384]["scaling_factor"] == pytest.approx(13.599, abs=1e-3)
    assert law[16384]["new_rope_theta"] == pytest.approx(500000 * law[16384]["scaling_factor"])
    assert law[16384]["config_change"] == {"rope_theta": law[16384]["new_rope_theta"]}
    assert {p["method"] for p in doc["plans"]} == set(STANDARD_METHODS)  # every method, no ablation, by default


def test_scale_several_models_and_methods(capsys):
    doc = run_json(capsys, "scale", "llada", "smollm2", "--target", "16k", "--method", "longllada", "--json")
    assert [m["model"] for m in doc["models"]] == ["GSAI-ML/LLaDA-8B-Base", "HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert all(len(m["plans"]) == 1 for m in doc["models"])


def test_scale_all_presets_table_and_train_length_override(capsys):
    assert main(["scale", "--all-presets", "--target", "16k"]) == 0
    out = capsys.readouterr().out
    assert "LLaDA-8B-Base" in out and "Dream-v0-Base-7B" in out and "config change" in out
    doc = run_json(capsys, "scale", "llama3", "--target", "32k", "--train-length", "4k", "--json")
    assert doc["train_length"] == 4096 and doc["provenance"]["train_length"] == "given by the user"


def test_explain_lists_every_pair(capsys):
    doc = run_json(capsys, "explain", "llada", "--json")
    assert len(doc["pairs"]) == 64
    first_tail = doc["pairs"][32]
    assert first_tail["beyond_critical"] and first_tail["first_unseen_causal"] == 4096
    assert doc["pairs"][31]["coverage_causal"] == 1.0


@pytest.mark.parametrize("argv, message", [
    (["scale", "llada", "--target", "sixteen"], "is not a length"),
    (["scale", "llada"], "at least one --target"),
    (["scale", "llada", "--target", "16k", "--method", "ntk"], "is unknown"),
    (["scale", "nosuchmodel", "--target", "16k"], "is not a preset"),
    (["scale", "llada", "--target", "16k", "--train-length", "3"], "must exceed 2π"),
    (["explain", "./missing/config.json"], "does not exist"),
    (["bench", "ppl", "--repeats", "2"], "expected a whole number from 3"),  # before any model loads
])
def test_bad_input_exits_2_with_one_line(argv, message):
    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", *argv], capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("longllada: error:") and message in lines[0]


def test_scale_does_not_import_torch_or_transformers():
    code = ("import sys; from longllada_theory.cli import main; "
            "main(['scale', 'llada', '--target', '16k', '--json']); "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_presets_listing(capsys):
    rows = run_json(capsys, "presets", "--json")
    assert {r["hub_id"] for r in rows} >= {"GSAI-ML/LLaDA-8B-Base", "meta-llama/Meta-Llama-3-8B"}


def test_every_command_prints_its_help(capsys):
    from longllada_theory.cli.commands import COMMANDS
    from longllada_theory.cli.main import build_parser

    build_parser()  # registers every command
    for group, name in COMMANDS:
        argv = [name, "--help"] if group is None else [group, name, "--help"]
        assert main(argv) == 0, argv
        assert "usage:" in capsys.readouterr().out


def test_every_option_of_every_command_says_what_it_is():
    import argparse

    from longllada_theory.cli.main import build_parser

    def commands(parser, prefix=()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield (*prefix, name), sub
                    yield from commands(sub, (*prefix, name))

    silent = [(" ".join(words), action.option_strings[0]) for words, sub in commands(build_parser())
              for action in sub._actions
              if action.option_strings and not isinstance(action, argparse._HelpAction) and not action.help]
    assert silent == []
