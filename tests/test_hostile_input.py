"""Careless input gets one clear line and exit status 2 — never a traceback — and loses nothing: a file that is not a
results file is never modified, a torn header is not emptied, and one results file has one writer at a time."""

import json
import os

import pytest

from longllada_theory.cli import main
from longllada_theory.measure.results import writer_lock

from conftest import ROOT

BASE = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 2, "max_position_embeddings": 512,
        "rope_theta": 10000.0}


@pytest.mark.parametrize("change, message", [
    ({"rope_theta": "abc"}, "rope_theta = 'abc' is not a number"),
    ({"num_attention_heads": 0}, "must be a positive finite number"),
    ({"max_position_embeddings": "2k"}, "is not a number"),
    ({"partial_rotary_factor": 3}, "must be at most 1"),
    ({"rope_scaling": "junk"}, "is not an object of RoPE parameters"),
    ({"rope_scaling": {"rope_type": "yarn", "factor": "x"}}, "rope parameter factor = 'x' is not a number"),
    ({"rope_theta": 1e308}, "at most 1e+100"),
])
def test_config_values_of_the_wrong_kind_name_the_key(tmp_path, capsys, change, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**BASE, **change}))
    assert main(["scale", str(path), "--target", "16k"]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1


def test_a_config_that_is_not_utf8_is_refused(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_bytes(json.dumps({**BASE, "model_type": "llamé"}, ensure_ascii=False).encode("latin-1"))
    assert main(["scale", str(path), "--target", "16k"]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["ppl", "toy:ar", "--device", "foo"], "--device 'foo' is unknown"),
    (["ppl", "toy:ar", "--device", "cuda:7"], "--device 'cuda:7'"),
    (["ppl", "toy:diffusion", "--max-length", "256", "--mc-batch", "-1"], "--mc-batch: -1 is out of range"),
    (["ppl", "toy:diffusion", "--max-length", "256", "--mc", "0"], "--mc: 0 is out of range; expected a whole number"),
    (["ruler", "toy:ar", "--lengths", "100"], "length 100 is too short for task niah_single_1"),
    (["attention", "toy:ar", "--length", "512", "--niah-depth", "50", "--during-denoising"], "needs a diffusion model"),
    (["ppl", "toy:ar", "--max-length", "256", "--chunk", "256"], "must be smaller than --max-length"),
    (["niah", "toy:ar", "--lengths", "512", "--temperature", "nan"], "--temperature: nan is out of range"),
    (["niah", "toy:ar", "--lengths", "512", "--depths", "0:1e9:1"], "at most 1001 values"),
    (["niah", "toy:ar", "--lengths", "512", "--answer-length", "1000"], "smaller than every length"),
    (["niah", "toy:ar", "--protocol", "paper"], "--needles needles.jsonl"),
    (["attention", "toy:ar", "--length", "256", "--queries", "last:abc"], "--queries 'last:abc'"),
    (["attention", "toy:ar", "--length", "256", "--queries", "range:5"], "range:A-B"),
    (["attention", "toy:ar", "--length", "256", "--map-bins", "-1"], "from 1 to 4096"),
    (["attention", "toy:ar", "--length", "256", "--layers", "a"], "--layers: 'a' is not a whole number"),
    (["bench", "ppl", "--length", "256", "--chunk", "300"], "shorter than the 256-token input"),
    (["ppl", "toy:ar", "--max-length", "256", "--rope-scale", "inf"], "--rope-scale: inf is out of range"),
    (["ppl", "toy:ar", "--max-length", "256", "--rope-scale", "1e300"], "RoPE base"),
    (["ppl", "toy:ar", "--max-length", "256", "--method", "yarn"], "give --target too"),
    (["bench", "attention", "toy:ar", "--length", "256", "--repeats", "0"], "--repeats: 0 is out of range"),
    (["bench", "niah", "toy:diffusion", "--cells", "0"], "--cells: 0 is out of range"),
    (["ppl", "toy:ar", "--max-length", "256", "--text", "a\x00b"], "--text: a value with a NUL character"),
    (["toy", "methods", "--work", "w\x00"], "--work: a value with a NUL character"),
])
def test_bad_options_get_one_line_before_any_work(tmp_path, capsys, argv, message):
    output = tmp_path / "out.jsonl"
    extra = [] if argv[0] == "bench" else ["--output", str(output)]
    assert main([*argv, *extra]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert message in error[-1] and len(error) <= 2  # at most the loading line, then the error
    assert not output.exists() or output.read_text().count("\n") <= 1


def test_an_output_that_is_not_ours_is_never_touched(tmp_path, capsys):
    for name, content in (("notes.txt", b"hello world, no final newline"), ("data.bin", bytes(range(256)) * 4),
                          ("torn.jsonl", b'{"type": "header", "proto')):
        path = tmp_path / name
        path.write_bytes(content)
        assert main(["ppl", "toy:ar", "--max-length", "256", "--device", "cpu", "--output", str(path)]) == 2
        assert path.read_bytes() == content
        assert ("cut off" if name == "torn.jsonl" else "not a longllada results file") in capsys.readouterr().err
    for output, message in ((tmp_path, "is a directory"), (tmp_path / "notes.txt" / "r.jsonl", "which is a file")):
        assert main(["ppl", "toy:ar", "--max-length", "256", "--output", str(output)]) == 2
        assert message in capsys.readouterr().err


def test_one_writer_per_results_file(tmp_path, capsys):
    output = tmp_path / "r.jsonl"
    argv = ["ppl", "toy:ar", "--max-length", "256", "--device", "cpu", "--no-progress", "--output", str(output)]
    with writer_lock(output):
        assert main(argv) == 2
    assert "another process is writing" in capsys.readouterr().err
    assert main(argv) == 0 and output.read_text().count("\n") == 1 + 4  # header and 4 chunks of 64


@pytest.mark.parametrize("argv, message", [
    (["plot", "{runs}/ppl_smollm2_direct.jsonl", "--output", "{tmp}/figure.txt"], "expected a file ending in .png"),
    (["plot", "{runs}/ppl_smollm2_direct.jsonl", "--output", "{tmp}"], "is a folder; a file name is expected"),
    (["plot", "{runs}/ppl_smollm2_direct.jsonl", "--output", "{runs}/ppl_smollm2_direct.jsonl"], "expected a file"),
    (["plot", "{tmp}/header-only.jsonl", "--output", "{tmp}/f.png"], "no finished cell yet"),
    (["figures", "--output", "{tmp}/header-only.jsonl"], "is a file; a folder is expected"),
    (["toy", "train", "--output", "{tmp}/header-only.jsonl"], "is a file; a folder is expected"),
    (["toy", "report", "--work", "{tmp}/header-only.jsonl"], "is a file; a folder is expected"),
    (["toy", "train", "--work", "{tmp}/w", "--output", "{tmp}/o", "--device", "tpu"], "--device 'tpu' is unknown"),
    (["toy", "report", "--twins", "{tmp}", "--work", "{tmp}/w"], "no trained twins in"),
    (["report", "{tmp}", "--output", "{tmp}/header-only.jsonl"], "is a file; a folder is expected"),
])
def test_outputs_of_the_other_commands_are_checked_before_any_work(tmp_path, capsys, argv, message):
    from longllada_theory.figures.catalog import DATA

    (tmp_path / "header-only.jsonl").write_text('{"type": "header", "protocol": "ppl", "settings": {}}\n')
    argv = [a.format(runs=DATA / "runs", tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_gguf_cut_short_and_a_folder_given_as_text_are_named(tmp_path, capsys):
    from longllada_theory.models.sources import resolve_model

    source = resolve_model("smollm2")
    if source.unavailable:
        pytest.skip(source.unavailable)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes((source.location_path / source.gguf_file).read_bytes()[:4000])
    assert main(["ppl", str(cut), "--max-length", "256", "--device", "cpu"]) == 2
    assert "is damaged or cut short" in capsys.readouterr().err
    assert main(["ppl", "toy:ar", "--text", str(tmp_path), "--max-length", "256", "--device", "cpu"]) == 2
    assert "is a folder, not a regular file" in capsys.readouterr().err


def test_a_file_the_package_did_not_write_is_never_overwritten_without_force(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG not ours")
    assert main(["figures", "--output", str(tmp_path), "--only", "rope_periods"]) == 0  # new files: written
    (tmp_path / "rope_periods.png").write_bytes(b"someone else's picture")
    assert main(["figures", "--output", str(tmp_path), "--only", "rope_periods"]) == 2
    assert "was not written by this package" in capsys.readouterr().err
    assert (tmp_path / "rope_periods.png").read_bytes() == b"someone else's picture"
    assert main(["figures", "--output", str(tmp_path), "--only", "rope_periods", "--force"]) == 0
    assert main(["figures", "--output", str(tmp_path), "--only", "rope_periods"]) == 0  # ours now: replaced freely
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("my notes")
    runs = ROOT / "longllada_theory" / "data" / "runs"
    assert main(["report", str(runs), "--output", str(report)]) == 2
    assert (report / "report.md").read_text() == "my notes"


def test_fifos_and_control_characters_never_hang_nor_break_the_one_line(tmp_path, capsys):
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for argv in (["scale", str(fifo), "--target", "16k"], ["ppl", "toy:ar", "--text", str(fifo)],
                 ["ppl", "toy:ar", "--output", str(fifo)], ["plot", str(fifo), "--output", str(tmp_path / "a.png")]):
        assert main(argv) == 2, argv
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and ("FIFO" in error[0] or "no finished cell" in error[0]), (argv, error)
    for name in ("a\nb\rc\x00", "a\u2028b\u2029c\x85d"):  # every character str.splitlines breaks at
        assert main(["scale", name, "--target", "16k"]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1, name


def test_errors_print_under_an_ascii_locale():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", "niah", "toy:ar", "--top-p", "2"],
                            capture_output=True, env={**os.environ, "LANG": "C", "LC_ALL": "C",
                                                      "PYTHONIOENCODING": "ascii"}, timeout=120)
    assert result.returncode == 2 and b"Traceback" not in result.stderr
    assert b"\\u2264" in result.stderr  # "≤" escaped, not a UnicodeEncodeError


@pytest.mark.parametrize("layers, what", [(3, "missing from the checkpoint"), (1, "no place in the model")])
def test_weights_that_do_not_fill_the_model_their_config_builds_are_refused(tmp_path, capsys, layers, what):
    from helpers import tiny_twin

    folder = tiny_twin(tmp_path / "twin", "ar")  # 2 layers of weights
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] = layers
    config["layer_types"] = (config.get("layer_types") or ["full_attention"])[:1] * layers
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["ppl", str(folder), "--max-length", "64", "--chunk", "32", "--output", str(tmp_path / "o.jsonl")]) == 2
    assert what in capsys.readouterr().err


def test_lm_eval_model_arguments_are_checked_before_the_harness_starts(capsys):
    pytest.importorskip("lm_eval")
    for args, message in (("target=16k", "needs pretrained=MODEL"), ("pretrained=toy:ar,foo=1", "foo unknown"),
                          ("pretrained=toy:ar,mc=0", "--model_args mc: 0 is out of range")):
        assert main(["lm-eval", "--model_args", args, "--tasks", "lambada"]) == 2
        assert message in capsys.readouterr().err
