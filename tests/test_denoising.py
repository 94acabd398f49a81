"""Attention during denoising: at every step of a diffusion model's sampler the probe records where the answer
positions look — the same numbers a plain probed forward over that step's input gives."""

import json

import numpy as np
import pytest

from longllada_theory import LongLLaDAError
from longllada_theory.cli import main
from longllada_theory.measure.denoising import denoising_curve, denoising_statistics
from longllada_theory.measure.probe import instrumented_forward
from longllada_theory.measure.sampling import SamplerOptions
from longllada_theory.models.loading import load_model

from helpers import tiny_twin


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("twins")
    return {kind: str(tiny_twin(root / kind, kind)) for kind in ("ar", "diffusion")}


def test_every_step_is_the_probe_on_that_steps_input(twins):
    loaded = load_model(twins["diffusion"], device="cpu", progress=False)
    prompt = list(range(40, 120))
    needle = (30, 40)
    answer, steps = denoising_statistics(loaded, prompt, SamplerOptions(gen_length=6), needle=needle)
    assert sorted(steps) == [0, 1] and len(steps[0]) == 6  # one token unmasked per step: six forwards
    assert [sum(row["masked"]) for row in steps[0]] == [6, 5, 4, 3, 2, 1]
    queries = list(range(len(prompt), len(prompt) + 6))
    for row in steps[1]:
        ids = prompt + [loaded.mask_token_id if m else a for m, a in zip(row["masked"], answer)]
        plain = instrumented_forward(loaded, ids, queries=queries, needle=needle, layers=[1])[1]
        assert row["local"] == pytest.approx(plain.local.mean(0), abs=1e-6)
        assert row["needle"] == pytest.approx(plain.needle.mean(0), abs=1e-6)


def test_the_curve_splits_masked_from_decoded_positions():
    cells = [{"steps": [{"masked": [True, True], "local": [0.2, 0.4], "needle": [0.1, 0.3]},
                        {"masked": [False, True], "local": [0.9, 0.5], "needle": [0.0, 0.2]}]}]
    curve = denoising_curve(cells)
    assert curve["masked"].tolist() == [2, 1] and curve["local_masked"] == pytest.approx([0.3, 0.5])
    assert np.isnan(curve["local_decoded"][0]) and curve["needle_decoded"][1] == 0.0


def test_an_ar_model_is_refused(twins):
    loaded = load_model(twins["ar"], device="cpu", progress=False)
    with pytest.raises(LongLLaDAError, match="needs a diffusion model"):
        denoising_statistics(loaded, [1, 2, 3], SamplerOptions(gen_length=2))


def test_the_cli_records_every_step_per_layer_resumes_and_plots(twins, tmp_path, capsys):
    out = tmp_path / "denoising.jsonl"
    argv = ["attention", twins["diffusion"], "--length", "96", "--niah-depth", "50", "--needles", "passkey",
            "--answer-length", "8", "--during-denoising", "--output", str(out), "--json", "--device", "cpu",
            "--no-progress"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert [row["masked"] for row in first["steps"]] == list(range(8, 0, -1))
    assert all(0 <= row["local_masked"] <= 1 and 0 <= row["needle_masked"] <= 1 for row in first["steps"])
    assert main(argv) == 0 and json.loads(capsys.readouterr().out) == first and len(out.read_text().splitlines()) == 3
    assert main(["plot", str(out), "--output", str(tmp_path / "denoising.png")]) == 0
    assert (tmp_path / "denoising.png").stat().st_size > 1000
    assert main(["attention", twins["diffusion"], "--length", "96", "--during-denoising", "--output",
                 str(tmp_path / "x.jsonl"), "--device", "cpu"]) == 2
    assert "needs a needle prompt" in capsys.readouterr().err
