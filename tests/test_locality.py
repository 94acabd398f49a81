"""Readings of local perception: the uniform baseline, the attention sink share, keys near the window, and the local
bias over texts with its interval."""

import numpy as np
import pytest
import torch

from longllada_theory.measure.readings.locality import (
    attention_run_row,
    chance_inside_share,
    first_token_share,
    local_bias,
    nearest_inside_share,
    uniform_local_share,
)
from longllada_theory.models.loading import load_model

from helpers import tiny_twin


def test_uniform_attention_keeps_within_T_the_share_of_visible_keys_within_T():
    # causal: a query at position q sees q + 1 keys, min(q + 1, T) of them within T
    assert uniform_local_share([0, 255], 256, 128, causal=True) == pytest.approx((1 + 128 / 256) / 2)
    # bidirectional: every key is visible; within T of the middle query of 512 lie 2T − 1 of them
    assert uniform_local_share([256], 512, 128, causal=False) == pytest.approx(255 / 512)


def test_the_first_token_share_reads_position_zero_from_the_top_k():
    positions = [[0, 5, 9], [3, 4, 5]]
    weights = [[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]]
    assert first_token_share(positions, weights) == pytest.approx(0.25)


def test_keys_that_remember_their_side_of_the_window_have_their_nearest_neighbour_on_that_side():
    rng = np.random.default_rng(0)
    inside, outside = rng.normal(0, 0.1, (64, 4)), rng.normal(5, 0.1, (64, 4))
    assert nearest_inside_share(np.vstack([inside, outside]), 64) == 0.0
    assert chance_inside_share(128, 64) == pytest.approx(64 / 97)


def test_a_model_with_uniform_attention_has_no_local_bias_and_the_interval_is_over_texts(tmp_path):
    loaded = load_model(str(tiny_twin(tmp_path / "a", "ar", train_length=32)), device="cpu")
    with torch.no_grad():
        for layer in loaded.model.model.layers:
            layer.self_attn.q_proj.weight.zero_()  # every score 0: softmax is uniform over the visible keys
    texts = [list(np.random.default_rng(k).integers(0, 200, 128)) for k in range(4)]
    bias = local_bias(loaded, texts, train_length=32, queries=16)
    assert sorted(bias) == [0, 1]
    for reading in bias.values():
        assert reading["over"] == "texts" and reading["n"] == 4
        assert reading["mean"] == pytest.approx(0, abs=1e-5) and reading["high"] - reading["low"] < 1e-4


def test_a_run_row_reads_far_mass_sink_and_half_distance_from_the_cells():
    from types import SimpleNamespace

    cell = {"local": [[0.5, 0.7]], "half_distance": [[10, 30]], "edges": [0, 1, 2, 4],
            "mass": [[[0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0]]], "topk_positions": [[0, 5], [3, 0]],
            "topk_weights": [[0.25, 0.5], [0.5, 0.25]]}
    run = SimpleNamespace(settings={"length": 64, "scaling": None}, cells=[cell, cell])
    row = attention_run_row(run, far=2)
    assert row["share within T (mean over layers)"] == 0.6
    assert row["mass on keys ≥ 2 away"] == 0.7          # the bins from |Δ| = 2 on, keys before the query
    assert row["share on the first token"] == 0.25      # position 0's weight, mean over queries
    assert row["median half-mass distance"] == 20.0 and row["scaling"] == "direct"
