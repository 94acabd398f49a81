"""Every config change a plan writes, built by transformers: for each published config (``tests/data/configs``, with
provenance), each preset and a few legacy-format cases (llama3, YaRN with and without ``truncate`` and with an explicit
attention factor, LongRoPE with a top-level original length, linear, dynamic, partial rotary, MRoPE, MLA, per-layer-type
RoPE, nested text configs), every method and both readings, the model's own rotary class built from the changed
config gives the plan's frequencies and attention factor, and the method keeps its promise on transformers' numbers
(``scripts/plan_sweep.py``). Runs under transformers 5.x and 4.x alike."""

import importlib.util

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("plan_sweep", ROOT / "scripts" / "plan_sweep.py")
plan_sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plan_sweep)

LLAMA = {"model_type": "llama", "hidden_size": 512, "num_attention_heads": 4, "num_hidden_layers": 2}
EXTRA = {  # legacy-format cases the published files do not cover
    "yarn with an explicit attention factor (Olmo-3 style)": {
        **LLAMA, "rope_theta": 500000.0, "max_position_embeddings": 65536,
        "rope_scaling": {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 8192,
                         "attention_factor": 1.2079441541679836, "beta_fast": 32.0, "beta_slow": 1.0}},
    "yarn added to a config that kept its original length (Qwen's card)": {
        **LLAMA, "model_type": "qwen2", "rope_theta": 1000000.0, "max_position_embeddings": 32768,
        "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}},
    "linear (a linear-scaled Llama-3 fine-tune)": {
        **LLAMA, "rope_theta": 500000.0, "max_position_embeddings": 32768,
        "rope_scaling": {"rope_type": "linear", "factor": 4.0}},
    "dynamic NTK": {**LLAMA, "rope_theta": 10000.0, "max_position_embeddings": 4096,
                    "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}},
    "MRoPE sections (Qwen2-VL)": {"model_type": "qwen2_vl", "text_config": {
        "model_type": "qwen2_vl_text", "hidden_size": 256, "num_attention_heads": 2, "rope_theta": 1000000.0,
        "max_position_embeddings": 32768, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}}},
    "MiniCPM3 (MLA, LongRoPE, no rope_theta key)": {
        "model_type": "minicpm3", "hidden_size": 2560, "num_attention_heads": 40, "qk_rope_head_dim": 32,
        "qk_nope_head_dim": 64, "max_position_embeddings": 32768, "num_hidden_layers": 2,
        "rope_scaling": {"type": "longrope", "long_factor": [1.0 + i / 10 for i in range(16)],
                         "short_factor": [1.0 + i / 100 for i in range(16)],
                         "original_max_position_embeddings": 32768}},
}
CONFIGS = {**plan_sweep.published_configs(), **EXTRA}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_plan_is_what_transformers_builds_from_the_change_it_writes(name):
    results = plan_sweep.sweep_config(name, CONFIGS[name])
    bad = {key: detail for key, (outcome, detail) in results.items() if outcome in ("wrong", "refused")}
    assert bad == {}
    assert all(outcome in ("right", "no_oracle") for outcome, _ in results.values())


def test_the_sweep_covers_every_method_reading_and_scaling_type():
    import transformers

    results = plan_sweep.sweep({name: CONFIGS[name] for name in (
        "llama3.1-70b.json", "gpt-oss-20b.json", "phi-4-mini-instruct.json", "deepseek-r1.json",
        "qwen3.5-27b.json", *EXTRA)})
    right = [key for key, (outcome, _) in results.items() if outcome == "right"]
    for word in ("compose", "replace", *plan_sweep.METHODS):
        assert any(f" {word} " in key for key in right), word
    assert len(right) >= (100 if transformers.__version__.startswith("5") else 40)
