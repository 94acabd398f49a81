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
    _, v3 = real("deepseek-v3.json")  # YaRN ×40 from 4096: reaches 163840
    assert v3.reach == 163840
    for method in ("longllada", "yarn", "linear", "critical"):
        plan = v3.plan(32768, method)
        assert not plan.needed and "already reaches" in plan.note and config_change(v3, plan) is None


def test_beyond_its_reach_a_base_change_keeps_the_scaling_and_a_new_type_replaces_it():
    raw, llama31 = real("llama3.1-8b.json")  # llama3 ×8 from 8192
    law = llama31.plan(262144, "longllada")
    assert law.rope_type == "llama3" and law.parameters["factor"] == 8 and "keeps" in law.note
    linear = llama31.plan(262144, "linear")
    assert linear.rope_type == "linear" and "replaces" in linear.note and linear.reaches() >= llama31.reach
    patched = patch_config_dict(raw, llama31, linear)
    assert patched["rope_scaling"]["rope_type"] == "linear" and patched["hidden_size"] == raw["hidden_size"]


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
    assert "whether it meets angles training never showed" in capsys.readouterr().out
