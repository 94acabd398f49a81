"""`longllada ppl`, `niah` and `plot` end to end on tiny models: results files, resume, JSON, clear errors."""

import json
import subprocess
import sys

import pytest

from longllada_theory.cli import main

from helpers import tiny_twin


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("twins")
    return {kind: str(tiny_twin(root / kind, kind)) for kind in ("ar", "diffusion")}


def test_ppl_writes_every_chunk_and_resumes(twins, tmp_path, capsys):
    out = tmp_path / "ppl.jsonl"
    argv = ["ppl", twins["diffusion"], "--max-length", "256", "--chunk", "32", "--mc", "2", "--target", "256",
            "--output", str(out), "--json", "--no-progress", "--device", "cpu"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["settings"]["scaling"]["method"] == "longllada" and len(out.read_text().splitlines()) == 1 + 7
    assert main(argv) == 0  # nothing left to do: same numbers, no new lines
    assert json.loads(capsys.readouterr().out)["final_running_ppl"] == first["final_running_ppl"]
    assert len(out.read_text().splitlines()) == 8


def test_niah_and_plot(twins, tmp_path, capsys):
    out = tmp_path / "niah.jsonl"
    assert main(["niah", twins["ar"], "--lengths", "128,160", "--depths", "0,100", "--needles", "passkey",
                 "--answer-length", "8", "--output", str(out), "--json", "--no-progress", "--device", "cpu"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["grid"]) == {"128", "160"} and set(doc["grid"]["128"]) == {"0.0", "100.0"}
    assert main(["plot", str(out), "--output", str(tmp_path / "niah.png")]) == 0
    assert (tmp_path / "niah.png").stat().st_size > 1000


def test_attention_writes_one_cell_per_layer_resumes_and_plots(twins, tmp_path, capsys):
    out = tmp_path / "attention.jsonl"
    argv = ["attention", twins["diffusion"], "--length", "96", "--queries", "last:8", "--output", str(out),
            "--json", "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert [row["layer"] for row in first["layers"]] == [0, 1] and len(out.read_text().splitlines()) == 3
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:2]) + "\n")  # as if killed after the first layer
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == first and out.read_text().splitlines() == lines
    assert main(["plot", str(out), "--output", str(tmp_path / "attention.png")]) == 0
    assert (tmp_path / "attention.png").stat().st_size > 1000


@pytest.mark.parametrize("extra, message", [
    (["ppl", "--text", "short.txt", "--max-length", "1k"], "fewer than --max-length"),
    (["ppl", "--max-length", "1000"], "not a multiple of --chunk 64"),
    (["ppl", "--target", "1k", "--method", "ntk"], "is unknown"),
    (["ppl", "--rope-scale", "2", "--target", "1k"], "not both"),
    (["ppl", "--text", "missing.txt"], "does not exist"),
    (["niah", "--depths", "0:100:-5"], "start:stop:step"),
    (["niah", "--answer-length", "30", "--block-length", "8"], "multiple of the block"),
    (["niah", "--lengths", "40"], "too short"),
    (["niah", "--lengths", "8k,4k"], "must be increasing"),
    (["niah", "--depths", "0,120"], "percentage from 0 to 100"),
    (["niah", "--shard", "4/2"], "0 ≤ I < N"),
    (["attention", "--text", "short.txt", "--length", "1k"], "larger than the text"),
    (["attention", "--layers", "7"], "out of range"),
])
def test_bad_input_is_one_clear_line(twins, tmp_path, extra, message):
    command, *options = extra
    (tmp_path / "short.txt").write_text("a short text of fewer than a thousand bytes\n" * 10)
    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", command, twins["ar"], *options,
                             "--output", str(tmp_path / "r.jsonl"), "--no-progress", "--device", "cpu"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("longllada: error:") and message in last


def test_toy_report_without_twins_says_how_to_regenerate(tmp_path):
    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", "toy", "report", "--twins", str(tmp_path),
                             "--work", str(tmp_path / "w")], capture_output=True, text=True)
    assert result.returncode == 2 and "longllada toy train" in result.stderr


def test_a_folder_without_weights_is_named(tmp_path):
    folder = tiny_twin(tmp_path / "twin", "ar")
    (folder / "model.safetensors").unlink()
    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", "ppl", str(folder), "--max-length", "128",
                             "--device", "cpu", "--output", str(tmp_path / "r.jsonl")], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "longllada: error: cannot load the weights" in result.stderr and "model.safetensors" in result.stderr


def test_a_corrupted_checkpoint_is_named(tmp_path):
    folder = tiny_twin(tmp_path / "twin", "ar")
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", "ppl", str(folder), "--max-length", "128",
                             "--device", "cpu", "--output", str(tmp_path / "r.jsonl")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("longllada: error: cannot load the weights")
