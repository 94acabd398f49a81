"""transformers' own diffusion LM, DiffusionGemma: recognised as a diffusion model with its attention kind per part,
its RoPE read per layer type and checked where it acts, NIAH through its own generation, and a clear refusal where
a measurement does not apply."""

import subprocess
import sys

import pytest

from longllada_theory import load_spec
from longllada_theory.measure.protocol import run
from longllada_theory.measure.protocols.niah import NeedleInAHaystack, NiahSettings
from longllada_theory.models.loading import load_model

from helpers import tiny_diffusion_gemma


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_diffusion_gemma(tmp_path_factory.mktemp("dg") / "model")


def test_it_is_a_diffusion_model_read_per_layer_type(folder):
    spec = load_spec(str(folder))
    assert spec.family == "diffusion_gemma" and spec.is_diffusion
    assert "decoder denoises its canvas with bidirectional attention" in spec.provenance["attention"]
    assert (spec.layer_type, spec.rope_type) == ("full_attention", "proportional")
    assert (spec.rotary_dim, spec.rope_dim, spec.rope_theta) == (8, 32, 1e6)  # proportional: 0.25 of a 32-dim head
    assert spec.other_settings[0]["layer_type"] == "sliding_attention"


def test_scaling_reaches_only_the_full_attention_layers(folder):
    loaded = load_model(str(folder), device="cpu", rope_scale=4.0, progress=False)
    checked = " ".join(loaded.verified)
    assert "[full_attention]" in checked and "[sliding_attention]" in checked
    rotary = loaded.model.model.encoder.language_model.rotary_emb
    assert rotary.config.rope_parameters["full_attention"]["rope_theta"] == 4e6
    assert rotary.config.rope_parameters["sliding_attention"]["rope_theta"] == 1e4


def test_niah_runs_through_its_own_generation(folder):
    loaded = load_model(str(folder), device="cpu", progress=False)
    settings = NiahSettings(lengths=(128,), depths=(0.0, 100.0), answer_length=8, needles="passkey")
    cells = run(NeedleInAHaystack(loaded, settings, ("passkey", "The grass is green. " * 40)), progress=False)
    assert len(cells) == 2 and all(isinstance(c["answer"], str) for c in cells)


@pytest.mark.parametrize("command, message", [(["ppl", "--max-length", "128"], "no masked-token likelihood"),
                                              (["attention", "--length", "64"], "two RoPE settings")])
def test_measurements_that_do_not_apply_are_refused_with_the_reason(folder, tmp_path, command, message):
    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", command[0], str(folder), *command[1:],
                             "--device", "cpu", "--output", str(tmp_path / "r.jsonl")], capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # the loading line and the error
