"""Results files: append-only, resumable, never mixed, shard-aware; a killed run resumes to the same result."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from longllada_theory import LongLLaDAError
from longllada_theory.measure.results import ResultsFile, cell_seed, load_results, parse_shard

from helpers import tiny_twin


def test_append_and_resume(tmp_path):
    path = tmp_path / "r.jsonl"
    store = ResultsFile.open(path, "niah", {"a": 1})
    store.append("k1", score=1.0)
    again = ResultsFile.open(path, "niah", {"a": 1})
    assert set(again.done) == {"k1"} and again.todo(["k1", "k2"]) == ["k2"]


def test_other_settings_or_protocol_are_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    ResultsFile.open(path, "niah", {"a": 1, "b": 2})
    with pytest.raises(LongLLaDAError, match="other settings.*a: 1 → 3"):
        ResultsFile.open(path, "niah", {"a": 3, "b": 2})
    with pytest.raises(LongLLaDAError, match="holds 'niah' results"):
        ResultsFile.open(path, "ppl", {"a": 1, "b": 2})
    (tmp_path / "junk.jsonl").write_text("hello\n")
    with pytest.raises(LongLLaDAError, match="not a longllada results file"):
        ResultsFile.open(tmp_path / "junk.jsonl", "niah", {})


def test_a_line_cut_by_a_kill_is_dropped_and_its_cell_runs_again(tmp_path):
    path = tmp_path / "r.jsonl"
    store = ResultsFile.open(path, "ppl", {})
    store.append("0", loss=1.0)
    with path.open("a") as handle:
        handle.write('{"type": "cell", "key": "64", "lo')
    again = ResultsFile.open(path, "ppl", {})
    assert set(again.done) == {"0"}
    again.append("64", loss=2.0)
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()[1:]] == ["0", "64"]


def test_shards_split_cells_and_merge_back(tmp_path):
    keys = [f"k{i}" for i in range(7)]
    for index in range(3):
        store = ResultsFile.open(tmp_path / f"s{index}.jsonl", "niah", {"x": 1}, (index, 3))
        for key in store.todo(keys):
            store.append(key, value=key)
    merged = load_results(sorted(tmp_path.glob("s*.jsonl")))
    assert sorted(c["key"] for c in merged) == sorted(keys)
    ResultsFile.open(tmp_path / "other.jsonl", "niah", {"x": 2})
    with pytest.raises(LongLLaDAError, match="another run"):
        load_results([tmp_path / "s0.jsonl", tmp_path / "other.jsonl"])


@pytest.mark.parametrize("text, message", [("3", "I/N"), ("3/2", "0 ≤ I < N"), ("a/b", "I/N")])
def test_bad_shards(text, message):
    with pytest.raises(LongLLaDAError, match=message):
        parse_shard(text)


def test_launcher_rank_and_world_size_choose_the_shard():
    assert parse_shard(None, {"RANK": "3", "WORLD_SIZE": "8"}) == (3, 8)
    assert parse_shard(None, {}) == (0, 1)
    assert parse_shard("1/2", {"RANK": "3", "WORLD_SIZE": "8"}) == (1, 2)


def test_cell_seed_is_stable():
    assert cell_seed(0, "L128/D50/N0") == cell_seed(0, "L128/D50/N0") != cell_seed(1, "L128/D50/N0")


@pytest.mark.slow
def test_killed_niah_run_resumes_to_the_uninterrupted_result(tmp_path):
    model = tiny_twin(tmp_path / "twin", "diffusion")
    command = [sys.executable, "-m", "longllada_theory.cli", "niah", str(model), "--lengths", "96,128",
               "--depths", "0:100:10", "--needles", "passkey", "--answer-length", "8", "--steps", "8",
               "--haystack", "builtin:stdlib", "--no-progress", "--device", "cpu"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference = tmp_path / "reference.jsonl"
    subprocess.run(command + ["--output", str(reference)], check=True, capture_output=True, env=env)
    killed = tmp_path / "killed.jsonl"
    process = subprocess.Popen(command + ["--output", str(killed)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and (not killed.exists() or len(killed.read_text().splitlines()) < 4):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = len(killed.read_text().splitlines()) - 1
    assert 0 < partial < 22, "the run should have been killed midway"
    subprocess.run(command + ["--output", str(killed)], check=True, capture_output=True, env=env)

    def cells(path):
        return {c["key"]: (c["answer"], c["score"]) for c in load_results([path])}

    assert cells(killed) == cells(reference) and len(cells(reference)) == 22
