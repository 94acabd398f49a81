"""Every option of every command, given hostile values, ends in exit 0 or 2 with at most one line on stderr — never a
traceback, never a hang. The commands and their options are read from the parser the registries build, so a new
command or option is covered without a new test. Work that would load a model, train, draw or read results is
replaced by a sentinel: reaching it means the command accepted its options (the value passed every check before the
work starts)."""

import argparse
import contextlib
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longllada_theory.cli import main
from longllada_theory.cli.main import build_parser

HOSTILE = ["", " ", "abc", "nan", "inf", "-inf", "0", "-1", "1e30", "1.5", "99999999999999999999", "../../etc",
           "1,,2", "0:1e9:1", "x" * 300, "\x00", "🙂", "-", "--", "2k,2k", "1e-300"]
#: what each command needs besides the option under test (a model, a target, files that need not exist)
REQUIRED = {"scale": ["llada", "--target", "16k"], "explain": ["llada"], "plot": ["missing.jsonl", "--output", "a.png"],
            "compare": ["missing.jsonl", "--reference", "paper:figure2:LLaDA-8B-Base"], "report": ["missing-folder"]}
MODEL_COMMANDS = {"ppl", "niah", "ruler", "attention", "bench attention", "bench ppl", "bench niah"}


class Reached(Exception):
    """The command got past every check of its options to its work."""


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    def stop(*args, **kwargs):
        raise Reached
    for target in ("longllada_theory.models.loading.load_model", "longllada_theory.figures.catalog.regenerate",
                   "longllada_theory.toy.train.train_recipe", "longllada_theory.toy.evaluation.run_twin_suite",
                   "longllada_theory.toy.methods.method_comparison", "longllada_theory.report.build_report",
                   "longllada_theory.figures.runs.plot_results", "longllada_theory.measure.comparison.compare",
                   "longllada_theory.harness.evaluate", "longllada_theory.measure.bench.bench.bench_attention",
                   "longllada_theory.measure.bench.bench.bench_perplexity",
                   "longllada_theory.measure.bench.bench.bench_niah"):
        module, name = target.rsplit(".", 1)
        monkeypatch.setattr(__import__(module, fromlist=[name]), name, stop, raising=False)


def command_options() -> list[tuple[list[str], str]]:
    """(the command's words, option) for every option of every command (flags and --help left out)."""
    found = []

    def walk(parser: argparse.ArgumentParser, words: list[str]):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*words, name])
            elif words and action.option_strings and action.nargs != 0 and "--help" not in action.option_strings:
                found.append((words, action.option_strings[-1]))
    walk(build_parser(), [])
    return found


OPTIONS = command_options()


def run(words: list[str], option: str, value: str, tmp_path) -> tuple[int, str]:
    command = " ".join(words)
    extra = REQUIRED.get(command, ["toy:ar"] if command in MODEL_COMMANDS else [])
    argv = [*words, *extra, option, value]
    if "--output" not in argv and command in ("ppl", "niah", "ruler", "attention"):
        argv += ["--output", str(tmp_path / "out.jsonl")]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except Reached:
            status = 0
    return status, err.getvalue()


def check(status: int, err: str, words, option, value) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert status in (0, 2), (words, option, value, status, err)
    assert "Traceback" not in err, (words, option, value, err)
    if status == 2:
        assert len(lines) == 1 and lines[0].startswith("longllada: error:"), (words, option, value, err)


def test_the_options_walked_cover_every_command():
    commands = {" ".join(words) for words, _ in OPTIONS}
    assert {"scale", "explain", "ppl", "niah", "ruler", "attention", "plot", "compare", "figures", "report",
            "bench attention", "bench ppl", "bench niah", "toy train", "toy report", "toy methods"} <= commands
    assert len(OPTIONS) > 100


@pytest.mark.parametrize("words, option", OPTIONS, ids=[f"{' '.join(w)} {o}" for w, o in OPTIONS])
def test_every_hostile_value_of_every_option_is_one_line_or_accepted(words, option, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for value in HOSTILE:
        check(*run(words, option, value, tmp_path), words, option, value)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.sampled_from(OPTIONS), value=st.text(min_size=0, max_size=40))
def test_any_text_for_any_option_is_one_line_or_accepted(pick, value, tmp_path_factory):
    words, option = pick
    folder = tmp_path_factory.mktemp("cli")
    with contextlib.chdir(folder):
        check(*run(words, option, value, folder), words, option, value)
