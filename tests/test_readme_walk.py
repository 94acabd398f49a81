"""The README's "What it does" table, walked top to bottom from an empty folder: every command it shows runs.

Each command of the table is run as written, with its placeholders filled in (MODEL: a preset for the commands that
read configs, a shipped twin for those that measure; FILE: a built-in text) and its sizes made small enough for a CPU
test (a few hundred tokens instead of 16k; two training steps instead of the recipe's thousands; one figure of the
catalog, which tests/test_figures.py regenerates whole). A command added to
or changed in the table fails the first test until it has its invocation here."""

import re
from pathlib import Path

import pytest

from longllada_theory.cli import main

from conftest import ROOT
from helpers import tiny_tasks

#: the table's commands → how this test runs each: the same command and options, placeholders filled, sizes cut
INVOCATIONS = {
    "longllada scale MODEL --target 32k": ["scale", "llada", "--target", "32k"],
    "longllada scale MODEL --target 128k --method all --pairs --factors longdllm":
        ["scale", "llada", "--target", "128k", "--method", "all", "--pairs", "--factors", "longdllm"],
    "longllada explain MODEL [--target 128k --method critical]":
        ["explain", "llada", "--target", "128k", "--method", "critical"],
    "longllada ppl MODEL --text FILE --max-length 16k":
        ["ppl", "toy:ar", "--text", "builtin:stdlib", "--max-length", "512", "--chunk", "64"],
    "longllada niah MODEL --lengths 2k,4k,8k --depths 0:100:10":  # 1400: what the paper's 2000 holds (compare)
        ["niah", "toy:diffusion", "--lengths", "1400", "--depths", "0:100:50", "--needles", "passkey",
         "--answer-length", "8"],
    "longllada ruler MODEL --lengths 4k,8k,16k [--tasks niah_single_1,vt,cwe,…]":
        ["ruler", "toy:ar", "--lengths", "1k", "--tasks", "niah_single_1,vt", "--samples", "1"],
    "longllada lm-eval --model_args pretrained=MODEL,target=16k --tasks …": None,  # run_lm_eval, below
    "longllada attention MODEL --length 8k --queries last:64":
        ["attention", "toy:ar", "--length", "512", "--queries", "last:64"],
    "longllada attention MODEL --length 4k --queries sample:256 --pair-use":
        ["attention", "toy:diffusion", "--length", "256", "--queries", "sample:32", "--pair-use"],
    "longllada retrieval MODEL --lengths 4k --depths 0:100:25":
        ["retrieval", "toy:ar", "--lengths", "128", "--depths", "0:100:50", "--needles", "passkey",
         "--answer-length", "8"],
    "longllada niah MODEL … --ablate-heads 17.3,18.6":  # the twin's heads; not in results/, which compare reads
        ["niah", "toy:ar", "--lengths", "128", "--depths", "50", "--needles", "passkey", "--answer-length", "8",
         "--ablate-heads", "1.0,1.2", "--output", "ablated.jsonl"],
    "longllada attention MODEL --niah-depth 50 --during-denoising":
        ["attention", "toy:diffusion", "--length", "128", "--niah-depth", "50", "--needles", "passkey",
         "--answer-length", "8", "--during-denoising"],
    "longllada bench attention --length 4k": ["bench", "attention", "toy:ar", "--length", "512", "--repeats", "1"],
    "longllada bench ppl": ["bench", "ppl", "--repeats", "3"],
    "longllada bench niah": ["bench", "niah", "--cells", "1"],
    "longllada toy train [--device cuda]": ["toy", "train", "--no-progress"],  # two steps a stage: see below
    "longllada toy report [--stored]": ["toy", "report", "--stored"],
    "longllada toy methods --output methods.json":
        ["toy", "methods", "--output", "methods.json", "--methods", "longllada", "--samples", "1"],
    "longllada plot …": ["plot", "{ppl}", "--output", "ppl.png"],
    "longllada compare … --reference paper:figure2:LLaDA-8B-Base":
        ["compare", "{niah}", "--reference", "paper:figure2:LLaDA-8B-Base", "--any-model"],
    "longllada report results/ --output report/": ["report", "results/", "--output", "report/"],
    "longllada figures": ["figures", "--only", "rope_periods"],  # every figure: tests/test_figures.py
}


def readme_commands() -> list[str]:
    """The commands in the second column of the README's "What it does" table, in order."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## What it does", 1)[1].split("\n\n", 2)[1]
    rows = [line.split(" | ")[1] for line in table.splitlines()[2:]]
    return [c for row in rows for c in re.findall(r"`(longllada [^`]*)`", row)]


def test_every_command_of_the_table_has_its_invocation_here():
    """The same commands in the same order, each run with its own subcommand and every option the README shows."""
    assert readme_commands() == list(INVOCATIONS)
    for command, argv in INVOCATIONS.items():
        words = [w.strip("[]") for w in command.split()[1:]]
        placeholder = next(i for i, w in enumerate(words + ["-"]) if w.isupper() or w.startswith(("-", "…")))
        assert argv is None or argv[:placeholder] == words[:placeholder], (command, argv)
        assert argv is None or all(w in argv for w in words if w.startswith("--") and w != "--device"), (command, argv)


@pytest.mark.slow
def test_the_table_walked_top_to_bottom_from_an_empty_folder(tmp_path, monkeypatch, capsys):
    import functools

    from longllada_theory.toy import train

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train, "Recipe", functools.partial(train.Recipe, seeds=(0,), base_steps=2, final_steps=2))
    outputs = {}
    for command, argv in INVOCATIONS.items():
        if argv is None:
            run_lm_eval(tmp_path, monkeypatch, capsys)
            continue
        argv = [word.format(**outputs) for word in argv]
        status = main([*argv, "--device", "cpu"] if _takes_device(argv) else argv)
        printed = capsys.readouterr()
        assert status == 0, (command, argv, printed.err[-2000:])
        if argv[0] in ("ppl", "niah"):
            outputs[argv[0]] = next(iter(sorted(Path("results").glob(f"{argv[0]}_*.jsonl"))))
    assert sorted(p.name for p in (tmp_path / "results" / "twins" / "seed0").iterdir()) == [
        "ar", "diffusion", "diffusion-scratch"]
    assert (tmp_path / "report" / "report.md").is_file() and (tmp_path / "figures" / "rope_periods.png").is_file()


def _takes_device(argv: list[str]) -> bool:
    return argv[0] in ("ppl", "niah", "ruler", "attention", "bench") or argv[:2] == ["toy", "train"]


def run_lm_eval(folder: Path, monkeypatch, capsys) -> None:
    """`longllada lm-eval` on a task defined in a local file, offline (tests/test_harness.py runs it in a process of
    its own)."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    status = main(["lm-eval", "--model_args", "pretrained=toy:ar,target=16k", "--tasks", "tiny_choice",
                   "--include_path", str(tiny_tasks(folder / "tasks")), "--device", "cpu", "--output_path", "lm-eval"])
    assert status == 0, capsys.readouterr().err[-2000:]
    assert next((folder / "lm-eval").rglob("results_*.json"))
