"""Readings of the attention probe's statistics for local perception (notebook ``04_local_perception``): the share of
attention on the first token (an attention sink), the share uniform attention would keep within T — the baseline a
measured local share is read against — and whether keys beyond T sit near keys inside it."""

from __future__ import annotations

import numpy as np

from ..probe.probe import instrumented_forward
from ..stats import seed_interval


def first_token_share(topk_positions, topk_weights) -> float:
    """Mean over queries of the (head-averaged) attention on position 0, read from the probe's top-k positions:
    exact whenever position 0 is among a query's top k, counted 0 otherwise."""
    positions, weights = np.asarray(topk_positions), np.asarray(topk_weights)
    return float((weights * (positions == 0)).sum(axis=1).mean())


def uniform_local_share(queries, length: int, train_length: int, causal: bool) -> float:
    """The share of attention within ``train_length`` of each query that uniform attention over the keys it sees
    would give (causal: the keys up to the query; bidirectional: all ``length``), averaged over ``queries``."""
    queries = np.asarray(queries)
    if causal:
        return float(np.mean(np.minimum(queries + 1, train_length) / (queries + 1)))
    near = np.minimum(queries + train_length, length) - np.maximum(queries - train_length + 1, 0)
    return float(np.mean(near / length))


def nearest_inside_share(keys, train_length: int, gap: int = 16) -> float:
    """For each key beyond ``train_length``: is its nearest key (Euclidean, among keys at least ``gap`` positions
    away, so neighbouring tokens do not decide) inside the window? The share over the keys beyond it."""
    keys = np.asarray(keys, dtype=float)
    distance = ((keys[:, None, :] - keys[None, :, :]) ** 2).sum(-1)
    positions = np.arange(len(keys))
    distance[np.abs(positions[:, None] - positions[None, :]) < gap] = np.inf
    nearest = distance.argmin(axis=1)
    return float((nearest[positions >= train_length] < train_length).mean())


def chance_inside_share(length: int, train_length: int, gap: int = 16) -> float:
    """What :func:`nearest_inside_share` gives when position does not matter: the share of a far key's candidate
    neighbours that lie inside the window."""
    return train_length / (length - 2 * gap + 1)


def local_bias(loaded, texts, train_length: int, queries: int = 64, confidence: float = 0.95) -> dict[int, dict]:
    """Per layer, how much more of each query's attention stays within ``train_length`` than uniform attention would
    keep (:func:`uniform_local_share`): one value per text (``queries`` positions drawn anew for each, seed = the
    text's index), the mean over texts with its Student-t ``confidence`` interval (:func:`~..stats.seed_interval`
    over texts). Positive: a local bias; negative: far keys draw more than their share."""
    by_layer: dict[int, list[float]] = {}
    for index, text in enumerate(texts):
        stats = instrumented_forward(loaded, text, queries=f"sample:{queries}", seed=index,
                                     train_length=train_length)
        positions = next(iter(stats.values())).queries
        baseline = uniform_local_share(positions, len(text), train_length, causal=loaded.kind == "ar")
        for layer, layer_stats in stats.items():
            by_layer.setdefault(layer, []).append(float(layer_stats.local.mean()) - baseline)
    return {layer: seed_interval(values, confidence, over="texts") for layer, values in by_layer.items()}


def attention_run_row(run, far: int) -> dict:
    """One row for a table of ``attention`` runs (a :class:`~longllada_theory.measure.results.Results`): the share
    within T (mean over layers), the mass on keys at least ``far`` tokens away (bins from ``far`` on, mean over layers
    and heads), the share on the first token, and the median half-mass distance."""
    s, cells = run.settings, run.cells
    mass_far = [np.sum(np.array(c["mass"])[:, 0, :][:, np.array(c["edges"]) >= far], axis=1).mean() for c in cells]
    return {"length": s["length"],
            "scaling": "direct" if s["scaling"] is None else f"law λ {s['scaling']['scaling_factor']:.3g}",
            "share within T (mean over layers)": round(float(np.mean([np.mean(c["local"]) for c in cells])), 3),
            f"mass on keys ≥ {far} away": round(float(np.mean(mass_far)), 3),
            "share on the first token": round(float(np.mean([first_token_share(c["topk_positions"], c["topk_weights"])
                                                             for c in cells])), 3),
            "median half-mass distance": float(np.median([np.median(c["half_distance"]) for c in cells]))}
