"""A new measurement is one file: this test module defines a protocol, registers it, and runs it through the command
line with sharding and resume — no other file knows about it."""

import json
from dataclasses import dataclass

import pytest

from longllada_theory.cli import build_parser, main
from longllada_theory.lengths import parse_length
from longllada_theory.measure.protocol import PROTOCOLS, Protocol, option, register_protocol
from longllada_theory.measure.results import load_results

from helpers import tiny_twin

MEASURED: list[str] = []  # every key this protocol computed, to see what a resumed run recomputes


@dataclass(frozen=True)
class NextTokenSettings:
    length: int = option("tokens of the text", 64, parse=lambda v: parse_length(v, "--length"))
    every: int = option("score every N-th position", 8, parse=int)
    seed: int = option("random seed", 0, cli=False)


class NextTokenGuess(Protocol):
    """Whether the model's most likely next token at a position is the text's next token."""

    name = "next-token-guess"
    help = "a toy measurement defined in a test"
    settings_type = NextTokenSettings

    def prepare(self):
        self.ids = list(range(40, 40 + self.settings.length))

    def keys(self):
        return [f"p{p}" for p in range(0, self.settings.length - 1, self.settings.every)]

    def batches(self, keys):
        return [keys[i:i + 2] for i in range(0, len(keys), 2)]

    def measure(self, keys):
        import torch

        MEASURED.extend(keys)
        with torch.no_grad():
            logits = self.loaded.model(input_ids=torch.tensor([self.ids])).logits[0]
        return [{"key": k, "guess": int(logits[int(k[1:])].argmax()), "truth": self.ids[int(k[1:]) + 1]} for k in keys]

    @classmethod
    def summarize(cls, settings, cells):
        return {"hit_rate": sum(c["guess"] == c["truth"] for c in cells) / len(cells)}

    @classmethod
    def claims(cls, settings, cells):
        rate = cls.summarize(settings, cells)["hit_rate"]
        return [{"claim": "a random twin guesses the next token rarely", "measured": f"hit rate {rate:.2f}",
                 "criterion": "≤ 0.5", "agrees": rate <= 0.5}]


@pytest.fixture
def registered():
    register_protocol(NextTokenGuess)
    MEASURED.clear()
    yield
    PROTOCOLS.unregister(NextTokenGuess.name)


def test_a_registered_protocol_is_a_command_with_its_own_options(registered):
    parser = build_parser()
    args = parser.parse_args(["next-token-guess", "toy:ar", "--every", "4", "--shard", "1/2"])
    assert args.every == "4" and args.shard == "1/2" and args.model == "toy:ar"


def test_it_runs_sharded_and_resumes_exactly(registered, tmp_path, capsys):
    model = str(tiny_twin(tmp_path / "twin", "ar"))
    common = ["next-token-guess", model, "--length", "64", "--every", "8", "--device", "cpu", "--no-progress",
              "--json"]
    shards = [tmp_path / f"s{i}.jsonl" for i in range(2)]
    for index, path in enumerate(shards):
        assert main(common + ["--shard", f"{index}/2", "--output", str(path)]) == 0
    merged = load_results(shards)
    assert sorted(c["key"] for c in merged) == sorted(f"p{p}" for p in range(0, 63, 8))
    assert sorted(MEASURED) == sorted(c["key"] for c in merged)  # every cell computed once

    whole = shards[0].read_text().splitlines()
    shards[0].write_text("\n".join(whole[:3]) + "\n")  # as if killed after two cells
    MEASURED.clear()
    capsys.readouterr()
    assert main(common + ["--shard", "0/2", "--output", str(shards[0])]) == 0
    assert MEASURED == ["p32", "p48"]  # shard 0 is p0 p16 p32 p48 in batches of two: only the unfinished batch
    assert shards[0].read_text().splitlines() == whole


def test_other_settings_are_refused_with_the_flag_named(registered, tmp_path, capsys):
    model = str(tiny_twin(tmp_path / "twin", "ar"))
    out = str(tmp_path / "r.jsonl")
    assert main(["next-token-guess", model, "--every", "8", "--device", "cpu", "--no-progress", "--output", out]) == 0
    assert main(["next-token-guess", model, "--every", "4", "--device", "cpu", "--no-progress", "--output", out]) == 2
    assert "other settings (every: 8 → 4)" in capsys.readouterr().err


def test_report_summarises_a_new_protocol_with_its_own_summary_and_claims(registered, tmp_path, capsys):
    """No edit outside this file: the protocol's summarize and result give report's row, its claims report's
    verdicts."""
    from longllada_theory.report import build_report

    model = str(tiny_twin(tmp_path / "twin", "ar"))
    results = tmp_path / "results"
    assert main(["next-token-guess", model, "--every", "8", "--device", "cpu", "--no-progress", "--json",
                 "--output", str(results / "guess.jsonl")]) == 0
    printed = json.loads(capsys.readouterr().out)["hit_rate"]
    report = build_report(results, tmp_path / "report")
    run, = report["runs"]
    assert run["protocol"] == "next-token-guess" and run["summary"] == {"hit_rate": printed}
    assert f"| hit_rate {printed} |" in (tmp_path / "report" / "report.md").read_text()
    claim, = report["claims"]
    assert claim["claim"] == "a random twin guesses the next token rarely" and claim["agrees"] == (printed <= 0.5)
    assert claim["run"].startswith(model)
