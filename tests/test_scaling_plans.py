"""Plans on real models: they start from the scaling a model already has, never shorten its reach, change only what
they own in a config, and per-pair methods say pair by pair what they do."""

import json

import numpy as np
import pytest

from longllada_theory import LongLLaDAError, load_spec, spec_from_config
from longllada_theory.cli import main
from longllada_theory.models.pairs import critical_pair, pair_comparison, pair_rows
from longllada_theory.models.patching import config_change, patch_config_dict
from longllada_theory.reference import longdllm_factors
from longllada_theory.theory.scaling import longrope_plan

from conftest import ROOT

CONFIGS = ROOT / "tests" / "data" / "configs"


def real(name: str):
    raw = json.loads((CONFIGS / name).read_text())
    return raw, spec_from_config(raw, name, name)


def test_a_model_that_already_reaches_the_target_needs_nothing():
    _, v3 = real("deepseek-v3.json")  # YaRN ×40 from 4096: window 163840, effective bound a little beyond
    assert v3.window == 163840 and v3.reach >= 163840
    for method in ("longllada", "yarn", "linear", "critical"):
        plan = v3.plan(32768, method)
        assert not plan.needed and "already reaches" in plan.note and config_change(v3, plan) is None


@pytest.mark.parametrize("name", ["llama3.1-70b.json", "gpt-oss-20b.json", "gemma-3-4b-it.json",
                                  "phi-4-mini-instruct.json", "kimi-k2-instruct.json", "deepseek-r1.json"])
def test_the_law_on_a_scaled_model_reaches_the_target_in_both_readings_never_a_multiple_of_it(name):
    _, spec = real(name)
    compose, replace = spec.plan(262144, "longllada", "compose"), spec.plan(262144, "longllada", "replace")
    assert spec.plan(262144) == compose and compose.reading == "compose" and replace.reading == "replace"
    for plan in (compose, replace):
        assert plan.reaches() == pytest.approx(262144, rel=1e-9) or not plan.needed
    assert compose.rope_type == spec.rope_type and compose.parameters == {
        k: v for k, v in spec.existing_scaling.items() if k != "rope_type"}           # the model's scaling kept
    assert replace.rope_type == "default" and replace.scaling_factor > compose.scaling_factor   # dropped
    assert config_change(spec, replace)                                                 # and written


def test_llama31_at_256k_composes_a_small_base_change_on_its_llama3_scaling():
    """The effective critical pair of Llama 3.1's llama3 ×8 RoPE at its 131072 window is pair 39 (period
    8·2π·b^(78/128));
    λ brings it to 256k — not the pre-training law's 562, which kept with the ×8 scaling reaches 8 × 256k."""
    raw, spec = real("llama3.1-70b.json")
    assert (spec.critical_dimension, round(spec.extrapolation_bound)) == (70, 8219)
    assert spec.window == 131072 and spec.effective_critical_dimension == 78
    assert spec.effective_bound == pytest.approx(8 * 2 * np.pi * 500000 ** (78 / 128))
    compose = spec.plan(262144)
    assert compose.scaling_factor == pytest.approx((262144 / spec.effective_bound) ** (128 / 78))
    replace = spec.plan(262144, reading="replace")
    assert replace.scaling_factor == pytest.approx(561.94, abs=0.01)
    patched = patch_config_dict(raw, spec, compose)
    assert patched["rope_scaling"] == raw["rope_scaling"] and patched["rope_theta"] == compose.new_rope_theta
    assert patch_config_dict(raw, spec, replace)["rope_scaling"] is None  # Llama's class default is unscaled


def test_a_new_rope_type_cannot_be_stacked_on_another_so_it_replaces_it():
    raw, llama31 = real("llama3.1-8b.json")  # llama3 ×8 from 8192
    linear = llama31.plan(262144, "linear")
    assert linear.rope_type == "linear" and linear.reading == "replace" and "cannot be composed" in linear.note
    assert linear.reaches() >= 262144
    with pytest.raises(LongLLaDAError, match="cannot be composed"):
        llama31.plan(262144, "linear", "compose")
    patched = patch_config_dict(raw, llama31, linear)
    assert patched["rope_scaling"] == {"rope_type": "linear", "factor": 32.0} and patched["hidden_size"] == \
        raw["hidden_size"]


def test_the_same_rope_type_composes_by_multiplying_its_factor():
    _, gpt_oss = real("gpt-oss-20b.json")  # yarn ×32 from 4096, truncate false
    plan = gpt_oss.plan(262144, "yarn")
    assert plan.reading == "compose" and plan.parameters["factor"] == 64 and plan.parameters["truncate"] is False
    assert plan.reaches() >= 262144


def test_phi4_mini_longrope_needs_nothing_to_128k_and_takes_only_its_own_rope_types():
    raw, phi = real("phi-4-mini-instruct.json")  # longrope, partial rotary 0.75, top-level original 4096
    assert (phi.rotary_dim, phi.train_length, phi.window) == (96, 4096, 131072)
    assert not phi.plan(131072, "longllada").needed
    yarn = phi.plan(262144, "yarn", "replace")
    assert not yarn.applicable and not yarn.needed and "accepts only RoPE types default, longrope" in yarn.note
    assert phi.plan(262144, "critical").reading == "compose"  # its own longrope, the beyond-critical pairs slowed


def test_minicpm3_without_rope_theta_takes_its_class_default():
    config = {"model_type": "minicpm3", "hidden_size": 2560, "num_attention_heads": 40, "qk_rope_head_dim": 32,
              "max_position_embeddings": 32768,
              "rope_scaling": {"type": "longrope", "long_factor": [1.0] * 16, "short_factor": [1.0] * 16,
                               "original_max_position_embeddings": 32768}}
    spec = spec_from_config(config, "minicpm3", "minicpm3.json")
    assert (spec.rope_theta, spec.rotary_dim) == (10000.0, 32) and "default rope_theta" in spec.provenance["rope_theta"]


def test_a_known_pretraining_length_is_used_with_its_source_and_both_numbers():
    raw, qwen3 = real("qwen3-8b.json")
    assert qwen3.train_length == 32768 and "32,768 natively" in qwen3.provenance["train_length"]
    assert "40960" in qwen3.provenance["train_length"]
    assert qwen3.plan(131072).scaling_factor == pytest.approx(8.146, abs=1e-3)
    assert spec_from_config(raw, "q", "q", train_length=40960).plan(131072).scaling_factor == pytest.approx(5.53,
                                                                                                          abs=0.01)
    _, gemma3 = real("gemma-3-4b-it.json")
    assert gemma3.train_length == 32768 and "⚑" in gemma3.provenance["train_length"]


def test_layers_a_plan_does_not_reach_are_named_as_transformers_lays_them_out():
    llama4 = {"model_type": "llama4_text", "num_hidden_layers": 4, "hidden_size": 512, "num_attention_heads": 4,
              "head_dim": 128, "rope_theta": 500000.0, "max_position_embeddings": 10485760,
              "attention_chunk_size": 8192}
    spec = spec_from_config(llama4, "llama4", "llama4.json")
    assert [(g["kind"], g["layers"], g["rope"]) for g in spec.layers] == [("chunked_attention", 3, True),
                                                                        ("full_attention", 1, False)]
    assert any("1 of 4 layers (full_attention) use no RoPE" in n for n in spec.notes)
    assert any("does not extend this model's context" in n for n in spec.notes)
    exaone = {"model_type": "exaone4", "hidden_size": 512, "num_attention_heads": 4, "head_dim": 128,
              "num_hidden_layers": 8, "rope_theta": 1e6, "max_position_embeddings": 131072, "sliding_window": 4096,
              "sliding_window_pattern": 4}
    groups = spec_from_config(exaone, "exaone4", "exaone4.json").layers
    assert [(g["kind"], g["layers"], g["rope"], g["window"]) for g in groups] == [
        ("sliding_attention", 6, True, 4096), ("full_attention", 2, False, None)]
    _, qwen35 = real("qwen3.5-27b.json")
    assert any("48 of 64 layers are linear attention" in n for n in qwen35.notes)
    _, gpt_oss = real("gpt-oss-20b.json")
    assert any("sliding attention (window 128)" in n and "changes their angles too" in n for n in gpt_oss.notes)


def test_a_config_change_rewrites_every_place_the_file_keeps_rope_keys():
    """A file with rope_parameters and a top-level rope_theta (remote code written for transformers 4.x reads the
    latter) gets both; a legacy file gets legacy keys; a replace never leaves a null block a class would refill."""
    both = {"model_type": "llada2_moe", "hidden_size": 2048, "num_attention_heads": 16, "head_dim": 128,
            "max_position_embeddings": 32768, "rope_theta": 600000.0,
            "rope_parameters": {"rope_type": "default", "rope_theta": 600000.0, "partial_rotary_factor": 0.5}}
    spec = spec_from_config(both, "llada2", "llada2.json")
    change = config_change(spec, spec.plan(131072))
    assert change["rope_theta"] == change["rope_parameters"]["rope_theta"] > 600000
    assert change["rope_parameters"]["partial_rotary_factor"] == 0.5
    raw, gpt_oss = real("gpt-oss-20b.json")
    assert config_change(gpt_oss, gpt_oss.plan(262144, reading="replace"))["rope_scaling"] == {"rope_type": "default"}


def test_a_config_change_never_drops_what_it_does_not_own():
    qwen2_vl = {"model_type": "qwen2_vl", "text_config": {
        "model_type": "qwen2_vl_text", "hidden_size": 256, "num_attention_heads": 2, "rope_theta": 1000000.0,
        "max_position_embeddings": 32768, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}}}
    spec = spec_from_config(qwen2_vl, "qwen2-vl", "qwen2-vl.json")
    change = config_change(spec, spec.plan(131072, "yarn"))
    scaling = change["text_config"]["rope_scaling"]
    assert scaling["rope_type"] == "yarn" and scaling["mrope_section"] == [16, 24, 24]
    patched = patch_config_dict(qwen2_vl, spec, spec.plan(131072, "yarn"))
    assert patched["text_config"]["hidden_size"] == 256 and patched["model_type"] == "qwen2_vl"
    gemma3 = {"model_type": "gemma3_text", "hidden_size": 256, "num_attention_heads": 2, "head_dim": 128,
              "max_position_embeddings": 32768,
              "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                                  "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}}
    spec = spec_from_config(gemma3, "gemma3", "gemma3.json")
    params = config_change(spec, spec.plan(262144, "longllada"))["rope_parameters"]
    assert params["sliding_attention"] == {"rope_type": "default", "rope_theta": 10000.0}
    assert params["full_attention"]["rope_theta"] > 1e6


def test_rope_only_in_a_vision_tower_is_refused_with_that_reason():
    siglip_like = {"model_type": "my_vlm", "vision_config": {"model_type": "my_vision", "rope_theta": 100.0,
                                                             "hidden_size": 64, "num_attention_heads": 2}}
    with pytest.raises(LongLLaDAError, match="RoPE only in vision_config .* no text RoPE to extend"):
        spec_from_config(siglip_like, "vlm", "vlm.json")


def test_the_critical_method_stretches_exactly_the_pairs_beyond_the_critical_dimension():
    llada = load_spec("llada")
    plan = llada.plan(131072, "critical")
    factors = np.array(plan.pair_factors)
    assert (factors[: llada.critical_dimension // 2] == 1).all()
    assert (factors[llada.critical_dimension // 2:] == 131072 / 4096).all()
    rows = pair_rows(llada, plan)
    assert not any(r["unseen_at_target_causal"] or r["unseen_at_target_bidirectional"] for r in rows)
    direct = pair_rows(llada, llada.plan(131072, "linear"))
    assert not any(r["unseen_at_target_causal"] for r in direct)  # linear: every pair interpolated


def test_longdllm_factors_read_as_a_longrope_plan():
    llada = load_spec("GSAI-ML/LLaDA-8B-Instruct")
    reference = longdllm_factors()
    plan = longrope_plan(llada.d, llada.rope_theta, llada.train_length, 131072, reference["factors"])
    theta = plan.inverse_frequencies(at_length=131072)
    assert np.allclose(theta, llada.inverse_frequencies()[0] / np.array(reference["factors"]))
    assert plan.attention_factor == pytest.approx(np.sqrt(1 + np.log(32) / np.log(4096)))
    with pytest.raises(LongLLaDAError, match="64 positive per-pair factors"):
        longrope_plan(128, 5e5, 4096, 131072, [1.0] * 10)


def test_longdllms_step_lies_between_the_causal_and_the_bidirectional_critical_pair():
    llada = load_spec("GSAI-ML/LLaDA-8B-Instruct")
    assert critical_pair(llada, "causal") == llada.critical_dimension // 2 == 32   # period > T from here
    assert critical_pair(llada, "bidirectional") == 35                            # period > 2T from here
    searched = longdllm_factors()
    rows = pair_comparison(llada, {"longdllm": llada.plan_with_factors(131072, searched["factors"]),
                                   "critical": llada.plan(131072, "critical")})
    stretched = [r["pair"] for r in rows if r["longdllm_factor"] > 30]
    assert stretched == list(range(34, 64))
    assert all(r["critical_factor"] == pytest.approx(32) for r in rows[32:])
    assert rows[34]["critical_period_over_target"] == pytest.approx(rows[34]["period"] * 32 / 131072)


def test_scale_compares_every_method_and_explains_pairs(capsys):
    assert main(["scale", "llada", "--target", "128k", "--method", "all", "--factors", "longdllm", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    methods = [p["method"] for p in doc["plans"]]
    assert "critical" in methods and "longrope" in methods and len(doc["plans"]) == len(set(methods))
    assert main(["explain", "llada", "--target", "128k", "--method", "critical", "--json"]) == 0
    pairs = json.loads(capsys.readouterr().out)["pairs"]
    assert pairs[40]["factor"] == pytest.approx(32) and pairs[10]["factor"] == 1
    assert main(["scale", "llada", "--target", "32k", "--method", "critical", "--pairs"]) == 0
    assert "meets angles training never showed" in capsys.readouterr().out
