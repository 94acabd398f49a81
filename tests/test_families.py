"""A model family is one entry: how its attention reads RoPE and how it decodes are stated apart, so a
block-diffusion family (causal between blocks, sampled by denoising) defined here — in a test file, with no edit
to the package — loads, reads RoPE as causal and samples as a diffusion model; a mask id outside the vocabulary is
refused at load."""

import json

import pytest

from longllada_theory.cli import main
from longllada_theory.errors import LongLLaDAError
from longllada_theory.measure.results import load_results
from longllada_theory.models.families import FAMILIES, Family, register_family
from longllada_theory.models.loading import load_model

from helpers import byte_tokenizer, needs_transformers_5, tiny_twin

pytestmark = needs_transformers_5  # the tiny checkpoint is a twin's Gemma


@pytest.fixture
def block_family():
    family = register_family(Family(
        "tiny_block", "a block-diffusion test family: causal between blocks, blocks of 4 tokens denoised",
        claims=lambda config: "tiny_block" in config, decoding="block_diffusion", mask_token_id=256,
        sampler_defaults={"block_length": 4}))
    yield family
    FAMILIES.unregister("tiny_block")


def block_checkpoint(folder, mask_token_id=None):
    tiny_twin(folder, "ar", train_length=64)
    config = json.loads((folder / "config.json").read_text())
    del config["twin"], config["mask_token_id"]
    config.update({"tiny_block": True},
                  **({"mask_token_id": mask_token_id} if mask_token_id is not None else {}))
    (folder / "config.json").write_text(json.dumps(config))
    byte_tokenizer(folder)
    return folder


def test_a_block_diffusion_family_reads_rope_as_causal_and_samples_as_diffusion(block_family, tmp_path, capsys):
    folder = block_checkpoint(tmp_path / "model")
    loaded = load_model(str(folder), progress=False)
    assert loaded.spec.family == "tiny_block" and loaded.spec.attention == "causal"
    assert loaded.kind == "diffusion" and loaded.mask_token_id == 256  # the family's, as the config names none
    output = tmp_path / "niah.jsonl"
    assert main(["niah", str(folder), "--lengths", "96", "--depths", "50", "--needles", "passkey",
                 "--answer-length", "8", "--no-progress", "--output", str(output)]) == 0
    err = capsys.readouterr().err
    assert "low_confidence sampler" in err and "block_length 4 (tiny_block family), steps 8" in err
    settings = json.loads(output.open().readline())["settings"]
    assert settings["kind"] == "diffusion" and settings["block_length"] == 4 and load_results([output]).cells


def test_kind_given_at_load_wins_over_the_family(block_family, tmp_path):
    folder = block_checkpoint(tmp_path / "model")
    assert load_model(str(folder), kind="ar", progress=False).kind == "ar"


def test_a_mask_id_outside_the_vocabulary_is_refused_at_load(block_family, tmp_path):
    folder = block_checkpoint(tmp_path / "model", mask_token_id=258)
    with pytest.raises(LongLLaDAError, match="mask_token_id 258 is outside the model.s vocabulary of 258 tokens"):
        load_model(str(folder), progress=False)


def test_a_family_states_a_known_decoding():
    with pytest.raises(ValueError, match="decoding 'speculative'; expected one of autoregressive"):
        Family("odd", "", claims=lambda config: False, decoding="speculative")
