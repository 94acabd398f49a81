"""Attention during denoising: at every step of a diffusion model's sampler the probe records where the answer
positions look — the same numbers a plain probed forward over that step's input gives."""

import json

import numpy as np
import pytest

from longllada_theory import LongLLaDAError
from longllada_theory.cli import main
from longllada_theory.measure.probe.denoising import SINKS, denoising_curve, denoising_distances, denoising_statistics
from longllada_theory.measure.probe.probe import instrumented_forward
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


def test_mass_by_signed_distance_and_sinks_equal_a_count_over_the_full_attention_maps(twins):
    loaded = load_model(twins["diffusion"], device="cpu", progress=False)
    prompt = list(range(40, 120))
    answer, steps = denoising_statistics(loaded, prompt, SamplerOptions(gen_length=6), layers=[0])
    queries = np.arange(len(prompt), len(prompt) + 6)
    for row in steps[0]:
        ids = prompt + [loaded.mask_token_id if m else a for m, a in zip(row["masked"], answer)]
        probs = instrumented_forward(loaded, ids, queries=queries.tolist(), layers=[0], keep_probs=True)[0].probs
        p = probs.mean(0)                                           # [queries, keys], mean over heads
        delta = np.arange(len(ids))[None, :] - queries[:, None]
        for name, chosen in (("mass_masked", np.array(row["masked"])), ("mass_decoded", ~np.array(row["masked"]))):
            if not chosen.any():
                assert row[name] is None
                continue
            stored = np.array(row[name])
            by_hand = p[chosen]
            assert stored[0, 0] == pytest.approx(by_hand[delta[chosen] == 0].sum() / chosen.sum(), abs=1e-5)
            assert stored[0, 3] == pytest.approx(by_hand[(-delta[chosen] >= 4) & (-delta[chosen] < 8)].sum()
                                                 / chosen.sum(), abs=1e-5)       # keys 4–7 before the query
            assert stored[1, 2] == pytest.approx(by_hand[(delta[chosen] >= 2) & (delta[chosen] < 4)].sum()
                                                 / chosen.sum(), abs=1e-5)       # keys 2–3 after it
            assert stored.sum() == pytest.approx(1.0, abs=1e-5)
        received = p.mean(0)
        top = np.argsort(-received)[:SINKS]
        assert [s[0] for s in row["sinks"]] == top.tolist()
        assert [s[1] for s in row["sinks"]] == pytest.approx(received[top], abs=1e-5)


def test_the_distance_heatmap_runs_from_far_before_the_query_to_far_after_it():
    row = {"masked": [True, False], "sinks": [[0, 0.5]],
           "mass_masked": [[0.5, 0.2, 0.1, 0.0, 0.0], [0.0, 0.1, 0.1, 0.0, 0.0]],
           "mass_decoded": [[0.6, 0.4, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]}
    d = denoising_distances([{"steps": [row]}], tokens=8)  # edges 0 1 2 4 8: the ≥ 8 bin is always empty
    assert d["labels"] == ["−4", "−2", "−1", "0", "+1", "+2", "+4"]
    assert d["masked"][0].tolist() == [0.0, 0.1, 0.2, 0.5, 0.1, 0.1, 0.0]
    assert d["sinks"] == [[(0, 0.5)]]


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
    assert all(0 <= row["forward_masked"] <= 1 and 0 <= row["sink"] < 96 for row in first["steps"])
    assert main(argv) == 0 and json.loads(capsys.readouterr().out) == first and len(out.read_text().splitlines()) == 3
    assert main(["plot", str(out), "--output", str(tmp_path / "denoising.png")]) == 0
    assert (tmp_path / "denoising.png").stat().st_size > 1000
    assert main(["attention", twins["diffusion"], "--length", "96", "--during-denoising", "--output",
                 str(tmp_path / "x.jsonl"), "--device", "cpu"]) == 2
    assert "needs a needle prompt" in capsys.readouterr().err
