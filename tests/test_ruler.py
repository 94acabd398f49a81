"""`longllada ruler`: RULER's tasks generated offline — each prompt is RULER's template around the largest haystack that
leaves the answer room within the length, the expected strings are really in the context, and answers are scored
as RULER's string_match_all / string_match_part."""

import json
import random
import subprocess
import sys
from collections import Counter

import pytest

from longllada_theory import LongLLaDAError
from longllada_theory.cli import main
from longllada_theory.measure.ruler import TASKS, RulerSettings, expressible, fit, render, ruler_score, ruler_summary
from longllada_theory.measure.texts import load_text

ESSAY = load_text("builtin:stdlib", "text", limit_chars=100_000, field_parameter="haystack_field")


class Bytes:
    def encode(self, text):
        return list(text.encode())

    def decode(self, ids):
        return bytes(ids).decode(errors="replace")


class Lossy(Bytes):
    """A vocabulary without digits: every digit becomes an unknown token."""

    def encode(self, text):
        return [ord("?") if chr(c).isdigit() else c for c in super().encode(text)]


@pytest.mark.parametrize("name", list(TASKS))
def test_each_prompt_is_the_largest_that_fits_and_holds_its_answers(name):
    task = TASKS[name]
    ids, expected, size = fit(task, Bytes(), 3000, seed=1, essay=ESSAY)
    assert len(ids) <= 3000
    context, query, fields, _ = task.build(random.Random(1), size + 1, ESSAY)
    assert len(render(task, context, query, fields).encode()) > 3000  # one more haystack unit would not fit
    prompt = Bytes().decode(ids)
    assert expected and all(e in prompt for e in expected)
    context, query, fields, again = task.build(random.Random(1), size, ESSAY)
    assert prompt == render(task, context, query, fields) and again == expected  # deterministic in the seed


def test_the_niah_variants_ask_what_ruler_asks():
    context, query, fields, expected = TASKS["niah_multivalue"].build(random.Random(0), 200, ESSAY)
    assert len(expected) == 4 and len(set(expected)) == 4 and all(v.isdigit() and len(v) == 7 for v in expected)
    assert context.count(f"for {query} is:") == 4
    context, query, fields, expected = TASKS["niah_multiquery"].build(random.Random(0), 200, ESSAY)
    assert query.count(",") == 3 and len(expected) == 4
    prompt = render(TASKS["niah_single_1"], *TASKS["niah_single_1"].build(random.Random(0), 5, ESSAY)[:3])
    assert prompt.startswith("A special magic number is hidden")
    assert prompt.endswith("mentioned in the provided text is")


def test_variable_tracking_hides_one_chain_in_order():
    context, value, fields, names = TASKS["vt"].build(random.Random(3), 50, ESSAY)
    lines = [line for line in context.splitlines() if line.startswith("VAR")]
    assert lines[0] == f"VAR {names[0]} = {value}" and len(lines) == fields["num_v"] == 5
    assert all(line == f"VAR {b} = VAR {a}" for line, a, b in zip(lines[1:], names, names[1:]))


def test_the_aggregation_answers_are_the_most_frequent_words():
    context, _, _, expected = TASKS["cwe"].build(random.Random(0), 300, ESSAY)
    counts = Counter(context.split()[1::2])  # "1. word 2. word …"
    assert sorted(w for w, _ in counts.most_common(10)) == sorted(expected) and counts[expected[0]] == 30
    context, _, _, expected = TASKS["fwe"].build(random.Random(0), 2000, ESSAY)
    top = [w for w, _ in Counter(context.split()).most_common(4)]
    assert top[0] == "..." and top[1:] == expected


def test_scores_are_rulers_string_match_all_and_part():
    assert ruler_score("The numbers are 123 and 456.", ["123", "456", "789"], "all") == pytest.approx(200 / 3)
    assert ruler_score("it is MERKA town", ["Merka Town", "x"], "part") == 100.0
    assert ruler_score("nothing", ["123"], "part") == 0.0


def test_the_summary_averages_tasks_into_the_papers_groups():
    cells = [{"task": t, "length": 4096, "score": s} for t, s in
             [("niah_single_1", 100), ("niah_single_2", 50), ("cwe", 20), ("qa", 0)]]
    summary = ruler_summary(cells)
    assert summary["groups"]["NIAH"][4096]["mean"] == 75 and summary["groups"]["AGG"][4096]["mean"] == 20
    assert summary["groups"]["Avg"][4096]["mean"] == pytest.approx(42.5)


def test_bad_settings_are_named():
    with pytest.raises(LongLLaDAError, match="tasks niah_double unknown"):
        RulerSettings(tasks=("niah_double",))
    with pytest.raises(LongLLaDAError, match="too short for task niah_multikey_2"):
        fit(TASKS["niah_multikey_2"], Bytes(), 300, seed=0, essay=ESSAY)
    _, expected, _ = fit(TASKS["niah_single_1"], Lossy(), 1000, seed=0, essay=ESSAY)
    with pytest.raises(LongLLaDAError, match="cannot express task niah_single_1"):
        expressible(TASKS["niah_single_1"], Lossy(), expected)


def test_ruler_runs_on_the_diffusion_twin_resumes_and_plots(tmp_path, capsys):
    out = tmp_path / "ruler.jsonl"
    argv = ["ruler", "toy:diffusion", "--lengths", "1024", "--tasks", "niah_single_1,vt,qa", "--samples", "2",
            "--answer-length", "8", "--output", str(out), "--json", "--no-progress", "--device", "cpu"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first["tasks"]) == {"niah_single_1", "vt", "qa"} and set(first["groups"]) == {"NIAH", "VT", "QA", "Avg"}
    cells = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert len(cells) == 6 and all(len(c["answer"].encode()) <= 8 and 0 <= c["score"] <= 100 for c in cells)
    assert main(argv) == 0 and json.loads(capsys.readouterr().out) == first and len(out.read_text().splitlines()) == 7
    assert main(["plot", str(out), "--output", str(tmp_path / "ruler.png")]) == 0
    assert (tmp_path / "ruler.png").stat().st_size > 1000


@pytest.mark.parametrize("options, message", [
    (["--tasks", "niah_single_1,bogus"], "tasks bogus unknown"),
    (["--lengths", "300", "--tasks", "niah_multikey_2"], "too short for task niah_multikey_2"),
])
def test_bad_input_is_one_clear_line(tmp_path, options, message):
    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", "ruler", "toy:ar", *options,
                             "--answer-length", "8", "--output", str(tmp_path / "r.jsonl"), "--no-progress",
                             "--device", "cpu"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("longllada: error:") and message in result.stderr
    assert not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize("command", [["ruler", "--lengths", "1024", "--tasks", "niah_single_2", "--samples", "1"],
                                     ["niah", "--lengths", "512", "--depths", "50", "--needles", "passkey"]])
def test_an_edited_haystack_is_not_resumed_into_the_old_results(tmp_path, capsys, command):
    haystack = tmp_path / "essay.txt"
    haystack.write_text("An essay about gardens and the patience they teach. " * 200)
    argv = [command[0], "toy:ar", *command[1:], "--haystack", str(haystack), "--answer-length", "8",
            "--output", str(tmp_path / "r.jsonl"), "--no-progress", "--device", "cpu"]
    assert main(argv) == 0
    haystack.write_text("An essay about rivers and the patience they teach. " * 200)
    assert main(argv) == 2
    assert "other settings (inputs_sha256" in capsys.readouterr().err
