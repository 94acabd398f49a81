"""Scaling factors by method checked against the paper's factors, the factor used for the SmolLM2 runs, and
transformers' own RoPE initialisation."""

import math

import numpy as np
import pytest

from longllada_theory import (
    METHODS,
    LongLLaDAError,
    critical_dimension,
    diffusion_aware_factor,
    extrapolation_bound,
    load_spec,
    ntk_aware_factor,
    ntk_scaling_factor,
    plan_scaling,
    spec_from_config,
)


def test_law_reproduces_the_factors_longllada_ran_with():
    # LongLLaDA's evaluation configs use λ = 4, 14, 31, 55 for LLaDA at 8k/16k/24k/32k: the law's values rounded up.
    factors = ntk_scaling_factor(128, 500000, 4096, np.array([8192, 16384, 24576, 32768]))
    assert np.ceil(factors).tolist() == [4, 14, 31, 55]
    assert factors[1] == pytest.approx((16384 / (2 * math.pi)) ** 2 / 500000)


def test_law_factor_for_smollm2_at_16k_is_the_one_design_measured():
    assert ntk_scaling_factor(64, 100000, 8192, 16384) == pytest.approx(2.924, abs=1e-3)


def test_law_is_one_exactly_within_the_bound_and_reaches_the_target_beyond():
    bound = extrapolation_bound(128, 500000, critical_dimension(128, 500000, 4096))
    assert ntk_scaling_factor(128, 500000, 4096, 4096) == 1.0
    assert ntk_scaling_factor(128, 500000, 4096, math.floor(bound)) == 1.0
    assert ntk_scaling_factor(128, 500000, 4096, math.ceil(bound)) > 1.0
    plan = plan_scaling(128, 500000, 4096, 32768)
    assert plan.reaches() == pytest.approx(32768)


def test_diffusion_aware_is_the_law_at_twice_the_lengths():
    assert diffusion_aware_factor(128, 500000, 4096, 16384) == ntk_scaling_factor(128, 500000, 8192, 32768)


def test_ntk_aware_factor():
    assert ntk_aware_factor(128, 4096, 16384) == pytest.approx(4 ** (128 / 126))
    assert ntk_aware_factor(128, 4096, 2048) == 1.0
    with pytest.raises(LongLLaDAError, match="above 2"):
        ntk_aware_factor(2, 4096, 8192)


def test_every_method_has_a_plan_that_keeps_the_model_within_reach():
    for method in METHODS:
        plan = plan_scaling(64, 100000, 8192, 32768, method)
        assert plan.method == method and plan.target == 32768 and plan.needed
        assert plan.scaling_factor > 1
        assert plan.rope_parameters["rope_theta"] == plan.new_rope_theta
        unscaled = plan_scaling(64, 100000, 8192, 4096, method)
        assert not unscaled.needed and unscaled.new_rope_theta == 100000


def test_position_methods_keep_the_base_and_carry_their_factor():
    linear = plan_scaling(64, 100000, 8192, 32768, "linear")
    yarn = plan_scaling(64, 100000, 8192, 32768, "yarn")
    assert linear.new_rope_theta == yarn.new_rope_theta == 100000
    assert linear.rope_parameters == {"rope_type": "linear", "rope_theta": 100000.0, "factor": 4.0}
    assert yarn.rope_parameters["original_max_position_embeddings"] == 8192
    assert yarn.attention_factor == pytest.approx(0.1 * math.log(4) + 1)


def test_config_change_per_config_format():
    from longllada_theory.models.patching import config_change

    llada = load_spec("llada")
    plan = llada.plan(16384, "longllada")
    assert config_change(llada, plan) == {"rope_theta": plan.new_rope_theta}
    assert config_change(llada, llada.plan(16384, "yarn")) is None  # LLaDA's remote code has no RoPE types
    legacy = spec_from_config({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
                               "rope_theta": 500000.0, "max_position_embeddings": 8192}, "legacy", "legacy.json")
    assert config_change(legacy, legacy.plan(16384)) == {"rope_theta": legacy.plan(16384).new_rope_theta}
    assert config_change(legacy, legacy.plan(16384, "yarn"))["rope_scaling"]["rope_type"] == "yarn"
    current = spec_from_config({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
                                "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0},
                                "max_position_embeddings": 8192}, "current", "current.json")
    assert config_change(current, current.plan(16384)) == {"rope_parameters": {
        "rope_type": "default", "rope_theta": current.plan(16384).new_rope_theta}}


@pytest.mark.parametrize("method", list(METHODS))
def test_inverse_frequencies_equal_those_transformers_builds_from_the_patched_config(method):
    from transformers import LlamaConfig

    from longllada_theory.models.patching import patch_config, transformers_inverse_frequencies

    spec = load_spec("meta-llama/Meta-Llama-3-8B")
    plan = spec.plan(32768, method)
    config = LlamaConfig(hidden_size=4096, num_attention_heads=32, num_key_value_heads=8,
                         max_position_embeddings=8192, rope_parameters={"rope_type": "default", "rope_theta": 500000.0})
    inv_freq, attention_factor = transformers_inverse_frequencies(patch_config(config, plan))
    assert np.allclose(inv_freq, plan.inverse_frequencies(), rtol=1e-6, atol=0)
    assert attention_factor == pytest.approx(plan.attention_factor, rel=1e-6)


def test_patching_llada_style_config_sets_rope_theta_and_refuses_yarn():
    from longllada_theory.models.patching import patch_config, patch_config_dict

    class OlmoStyle:  # LLaDA's remote config: rope_theta only, no rope_parameters
        rope_theta = 500000.0

    plan = plan_scaling(128, 500000, 4096, 16384)
    assert patch_config(OlmoStyle(), plan).rope_theta == plan.new_rope_theta
    with pytest.raises(LongLLaDAError, match="rope_parameters"):
        patch_config(OlmoStyle(), plan_scaling(128, 500000, 4096, 16384, "yarn"))
    llada = load_spec("llada")
    patched = patch_config_dict({"rope_theta": 500000.0, "d_model": 4096}, llada, llada.plan(16384))
    assert patched == {"rope_theta": llada.plan(16384).new_rope_theta, "d_model": 4096}


def test_verify_inverse_frequencies_raises_on_a_mismatch():
    import torch

    from longllada_theory.models.patching import verify_inverse_frequencies

    class Rotary(torch.nn.Module):
        def __init__(self, inv_freq):
            super().__init__()
            self.register_buffer("inv_freq", torch.tensor(inv_freq))

    plan = plan_scaling(64, 10000, 128, 512)
    good = torch.nn.Sequential(Rotary(plan.inverse_frequencies()))
    assert verify_inverse_frequencies(good, plan.inverse_frequencies()) == 1
    stale = torch.nn.Sequential(Rotary(plan_scaling(64, 10000, 128, 128).inverse_frequencies()))
    with pytest.raises(LongLLaDAError, match="does not match"):
        verify_inverse_frequencies(stale, plan.inverse_frequencies())


@pytest.mark.parametrize("target", [0, -5, 3, float("nan")])
def test_a_target_that_is_not_a_length_is_refused(target):
    with pytest.raises(LongLLaDAError, match="target length"):
        ntk_scaling_factor(128, 500000, 4096, target)


def test_unknown_method_is_refused_with_the_list():
    with pytest.raises(LongLLaDAError, match="longllada, diffusion-aware, ntk-aware, linear, yarn"):
        plan_scaling(128, 500000, 4096, 16384, "ntk")


def test_the_band_ablations_split_the_laws_per_pair_slowing_at_the_critical_dimension():
    from longllada_theory.theory.scaling import ABLATIONS, STANDARD_METHODS

    assert set(ABLATIONS) == {"longllada-fast-pairs", "longllada-slow-pairs"} and not set(ABLATIONS) & set(
        STANDARD_METHODS)
    law = plan_scaling(32, 500, 128, 512)
    fast, slow = (plan_scaling(32, 500, 128, 512, m) for m in ("longllada-fast-pairs", "longllada-slow-pairs"))
    half = int(critical_dimension(32, 500, 128)) // 2  # 8 fast pairs of 16
    assert fast.scaling_factor == slow.scaling_factor == law.scaling_factor
    per_pair = 500.0 ** (-np.arange(16) / 16) / law.inverse_frequencies()  # θ_i / θ′_i of the law's base change
    assert np.allclose(np.array(fast.pair_factors) * np.array(slow.pair_factors), per_pair)
    assert np.allclose(fast.pair_factors[half:], 1) and np.allclose(slow.pair_factors[:half], 1)
    assert fast.attention_factor == slow.attention_factor == 1.0
