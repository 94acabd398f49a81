"""Every RoPE architecture transformers knows is read as transformers reads it — checked against each model's own
rotary embedding (the oracle is transformers itself), on the default config of every model type, on legacy-format
configs and on real published configs (``tests/data/configs``, with their provenance)."""

import copy
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from longllada_theory import LongLLaDAError
from longllada_theory.models.reading import language_part, settings
from longllada_theory.models.spec import spec_from_config

from conftest import ROOT

spec = importlib.util.spec_from_file_location("rope_sweep", ROOT / "scripts" / "rope_sweep.py")
rope_sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rope_sweep)
CONFIGS = ROOT / "tests" / "data" / "configs"


@pytest.fixture(scope="module")
def sweep():
    return rope_sweep.sweep()


def test_no_model_type_is_read_wrong_or_crashes(sweep):
    outcomes = {outcome for outcome, _ in sweep.values()}
    wrong = {k: v for k, v in sweep.items() if v[0] in ("wrong", "crash")}
    assert wrong == {}
    assert outcomes <= {"right", "refused", "no_rope", "no_oracle", "no_default_config"}
    right = sum(outcome == "right" for outcome, _ in sweep.values())
    assert right >= 290, right


def test_every_refusal_of_a_rope_model_gives_a_real_reason(sweep):
    reasons = ("odd number of dimensions", "2-D axial RoPE", "no training length", "must be at most 1",
               "is not a number", "must be a positive")
    refused = {k: detail for k, (outcome, detail) in sweep.items() if outcome == "refused"}
    assert all(any(r in detail for r in reasons) and "\n" not in detail for detail in refused.values()), refused


def test_the_cases_once_misread_are_read_right(sweep):
    """Per-layer head dims and 'proportional' RoPE, attribute_map aliases, bases in modeling code, RoPE inside
    text_config, the long-range attention preferred over a windowed one."""
    for model_type in ("gemma4_text", "diffusion_gemma_text", "lfm3", "jetmoe", "zamba2", "glm4_moe_lite",
                       "minimax_m3_vl_text", "gptj", "codegen", "roformer", "dbrx", "llava", "qwen2_vl", "gemma3",
                       "mistral3", "llama4", "idefics3", "internvl", "aria", "deepseek_v4", "modernbert"):
        assert sweep[model_type][0] == "right", (model_type, sweep[model_type])
    deepseek = spec_from_config(__import__("transformers").DeepseekV4Config().to_dict(), "ds4", "default")
    # its main RoPE serves the sliding-window layers; the compressed layers see the whole context: plans target them
    assert deepseek.layer_type == "compress" and deepseek.other_settings[0]["layer_type"] == "main"


def test_encoders_are_not_called_causal():
    from transformers import ModernBertConfig

    spec = spec_from_config(ModernBertConfig().to_dict(), "modernbert", "default")
    assert spec.attention == "bidirectional" and spec.encoder and "encoder" in spec.provenance["attention"]
    assert not spec.is_diffusion


def _oracle(config) -> dict:
    return rope_sweep.model_tables(config.model_type, config)


LEGACY = {  # config.json contents in the format most hub files still have (top-level rope_theta / rope_scaling)
    "llama-2 (no rope_theta: the class default)": {"model_type": "llama", "hidden_size": 256,
                                                   "num_attention_heads": 4, "max_position_embeddings": 4096},
    "llama-3.1 (llama3 scaling)": {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4,
                                   "rope_theta": 500000.0, "max_position_embeddings": 131072,
                                   "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                    "high_freq_factor": 4.0,
                                                    "original_max_position_embeddings": 8192}},
    "qwen2-vl (mrope)": {"model_type": "qwen2_vl", "text_config": {
        "model_type": "qwen2_vl_text", "hidden_size": 256, "num_attention_heads": 2, "rope_theta": 1000000.0,
        "max_position_embeddings": 32768, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}}},
    "gemma-3 (legacy per-layer keys in text_config)": {"model_type": "gemma3", "text_config": {
        "model_type": "gemma3_text", "hidden_size": 256, "num_attention_heads": 2, "head_dim": 128,
        "rope_local_base_freq": 10000.0, "rope_scaling": {"rope_type": "linear", "factor": 8.0},
        "max_position_embeddings": 131072}},
    "phi-3 (longrope)": {"model_type": "phi3", "hidden_size": 256, "num_attention_heads": 4, "rope_theta": 10000.0,
                         "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
                         "rope_scaling": {"type": "longrope", "short_factor": [1.0 + i / 100 for i in range(32)],
                                          "long_factor": [1.0 + i for i in range(32)]}},
    "deepseek-v3 (MLA, yarn ×40)": {"model_type": "deepseek_v3", "hidden_size": 512, "num_attention_heads": 8,
                                    "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "rope_theta": 10000.0,
                                    "max_position_embeddings": 163840,
                                    "rope_scaling": {"type": "yarn", "factor": 40, "beta_fast": 32, "beta_slow": 1,
                                                     "mscale": 1.0, "mscale_all_dim": 1.0,
                                                     "original_max_position_embeddings": 4096}},
    "gpt-neox (rotary_pct, rotary_emb_base)": {"model_type": "gpt_neox", "hidden_size": 256,
                                               "num_attention_heads": 4, "rotary_pct": 0.25,
                                               "rotary_emb_base": 10000, "max_position_embeddings": 2048},
    "modernbert (legacy global/local thetas)": {"model_type": "modernbert", "hidden_size": 256,
                                                "num_attention_heads": 4, "global_rope_theta": 160000.0,
                                                "local_rope_theta": 10000.0, "max_position_embeddings": 8192},
}


def _compare(raw: dict, transformers_config) -> None:
    tables = _oracle(transformers_config)
    assert tables, "transformers has a rotary embedding for this config"
    spec_from_config(raw, "legacy", "a legacy config")  # reads without complaint
    found = {s.layer_type or "": s for s in settings(language_part(raw, "legacy")[0])}
    for key, table in tables.items():
        setting = found.get(key) or found[""]
        assert rope_sweep._agrees(table, setting, 4096), (key, setting)


@pytest.mark.parametrize("name", list(LEGACY))
def test_legacy_format_configs_are_read_as_transformers_reads_them(name):
    from transformers import AutoConfig

    raw = LEGACY[name]
    kwargs = {k: v for k, v in raw.items() if k != "model_type"}
    _compare(raw, AutoConfig.for_model(raw["model_type"], **kwargs))


def _real_configs() -> list[str]:
    return sorted(p.name for p in CONFIGS.glob("*.json") if p.name != "PROVENANCE.json")


@pytest.mark.parametrize("name", _real_configs())
def test_real_published_configs(name):
    from transformers import CONFIG_MAPPING, AutoConfig

    raw = json.loads((CONFIGS / name).read_text())
    spec = spec_from_config(raw, name, name)
    assert spec.rotary_dim > 0 and spec.train_length > 0
    if raw.get("model_type") in CONFIG_MAPPING:  # a deep copy: some config classes edit the dicts they are given
        kwargs = copy.deepcopy({k: v for k, v in raw.items() if k != "model_type"})
        _compare(raw, AutoConfig.for_model(raw["model_type"], **kwargs))


def test_published_facts_of_the_real_configs():
    def read(name):
        return spec_from_config(json.loads((CONFIGS / name).read_text()), name, name)

    assert read("llama2-7b.json").rope_theta == 10000.0  # the file has no rope_theta: LlamaConfig's default
    v3 = read("deepseek-v3.json")
    assert v3.rotary_dim == 64 and v3.rope_type == "yarn" and v3.existing_scaling["factor"] == 40
    assert read("deepseek-v2-lite.json").rotary_dim == 64
    chatglm = read("chatglm3-6b.json")
    assert (chatglm.rotary_dim, chatglm.train_length) == (64, 8192)  # half of each 128-dim head; seq_length
    assert read("llada-8b.json").family == "llada"


def test_scale_piped_into_head_ends_quietly():
    command = f"{sys.executable} -m longllada_theory.cli scale --all-presets --target 16k --json | head -1"
    result = subprocess.run(command, shell=True, capture_output=True, text=True)
    assert result.stdout.strip() == "{" and result.stderr == ""


def test_wrong_types_in_a_config_name_the_key(tmp_path):
    base = {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 4096}
    for key, value in (("rope_theta", "abc"), ("num_attention_heads", 0), ("max_position_embeddings", "2k"),
                       ("partial_rotary_factor", 3)):
        with pytest.raises(LongLLaDAError, match=key):
            spec_from_config({**base, key: value}, "bad", "bad.json")
    assert np.isfinite(spec_from_config(base, "ok", "ok.json").extrapolation_bound)
