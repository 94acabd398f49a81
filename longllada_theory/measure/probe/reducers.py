"""The attention probe's statistics, one small reducer each: ``__init__`` (from the layer's context), ``update`` (one
chunk of queries' attention at a time) and ``finalize`` (the fields it adds to a layer's statistics). A new
statistic is one class added to :data:`REDUCERS`.

Every reducer sees a :class:`Chunk`: the probabilities ``p`` [heads, queries, keys] of a chunk of queries, the
rotated queries and keys, and each (query, key) pair's signed relative distance Δ = key − query and its bin — log
spaced in |Δ| (:func:`distance_edges`), separately for keys before (sign 0) and after (sign 1) the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def distance_edges(max_distance: int) -> np.ndarray:
    """Log-spaced bin edges for |Δ|: 0, 1, 2, 4, …, ≥ max_distance."""
    edges = [0, 1]
    while edges[-1] < max_distance:
        edges.append(edges[-1] * 2)
    return np.array(edges)


@dataclass
class LayerContext:
    """What every reducer of one layer knows before the first chunk."""

    heads: int                  # heads measured
    queries: list[int]          # query positions
    length: int                 # keys
    edges: np.ndarray           # |Δ| bin edges
    device: Any
    options: Any                # the probe (train_length, needle, map_bins, topk, keep_probs, spec)

    @property
    def bins(self) -> int:
        return len(self.edges)

    def zeros(self, *shape: int):
        import torch
        return torch.zeros(*shape, dtype=torch.float64, device=self.device)


@dataclass
class Chunk:
    """One chunk of queries of one layer."""

    lo: int        # index of the chunk's first query among the layer's queries
    positions: Any  # [Q] query positions
    p: Any         # [h, Q, L] attention probabilities
    q: Any         # [h, Q, hd] rotated queries (float32)
    k: Any         # [h, L, hd] rotated keys
    delta: Any     # [Q, L] key − query
    flat_bin: Any  # [Q, L] sign · bins + |Δ| bin
    visible: Any   # [Q, L] keys the query may attend to (causal models: not after it)
    scale: float   # the score scale (1/√head_dim unless the model sets its own)

    @property
    def span(self) -> slice:
        return slice(self.lo, self.lo + self.positions.shape[0])


class Reducer:
    """Base class: ``enabled`` says whether the probe's options ask for this statistic."""

    @classmethod
    def enabled(cls, options) -> bool:
        return True

    def __init__(self, context: LayerContext):
        self.context = context

    def update(self, chunk: Chunk) -> None:
        raise NotImplementedError

    def finalize(self) -> dict:
        raise NotImplementedError

    def by_bin(self, chunk: Chunk, values) -> Any:
        """Sum ``values`` [h, Q, L] into the signed distance bins, over the chunk's queries: [h, 2, bins]."""
        import torch

        c = self.context
        summed = torch.zeros(c.heads, chunk.positions.shape[0], 2 * c.bins, dtype=torch.float64, device=c.device)
        summed.scatter_add_(2, chunk.flat_bin[None].expand(c.heads, -1, -1), values.double())
        return summed.sum(1).view(c.heads, 2, c.bins)


class Mass(Reducer):
    """``mass`` [heads, 2, bins]: attention mass by signed relative distance, averaged over queries."""

    def __init__(self, context):
        super().__init__(context)
        self.mass = context.zeros(context.heads, 2, context.bins)

    def update(self, chunk):
        self.mass += self.by_bin(chunk, chunk.p)

    def finalize(self):
        return {"mass": (self.mass / len(self.context.queries)).cpu().numpy()}


class Local(Reducer):
    """``local`` [heads, queries]: each query's share of mass within |key − query| < T_train."""

    def __init__(self, context):
        super().__init__(context)
        self.local = context.zeros(context.heads, len(context.queries))

    def update(self, chunk):
        near = chunk.delta.abs() < self.context.options.train_length
        self.local[:, chunk.span] = (chunk.p * near[None]).sum(-1).double()

    def finalize(self):
        return {"local": self.local.cpu().numpy()}


class HalfDistance(Reducer):
    """``half_distance`` [heads, queries]: the distance |Δ| within which half of the query's mass lies."""

    def __init__(self, context):
        import torch

        super().__init__(context)
        self.half = torch.zeros(context.heads, len(context.queries), dtype=torch.long, device=context.device)

    def update(self, chunk):
        import torch

        magnitude = chunk.delta.abs()
        order = torch.argsort(magnitude, dim=-1, stable=True)              # keys by |Δ|, nearest first
        cumulative = torch.cumsum(torch.gather(chunk.p, 2, order[None].expand(self.context.heads, -1, -1)), dim=-1)
        first_half = (cumulative < 0.5).sum(-1).clamp(max=self.context.length - 1)
        self.half[:, chunk.span] = torch.gather(magnitude, 1, torch.gather(order, 1, first_half.T)).T

    def finalize(self):
        return {"half_distance": self.half.cpu().numpy()}


class TopK(Reducer):
    """``topk_positions`` / ``topk_weights`` [queries, k]: the most-attended keys (mass averaged over heads)."""

    def __init__(self, context):
        super().__init__(context)
        self.positions, self.weights = [], []

    def update(self, chunk):
        weights, where = chunk.p.mean(0).topk(min(self.context.options.topk, self.context.length), dim=-1)
        self.positions.append(where.cpu())
        self.weights.append(weights.double().cpu())

    def finalize(self):
        import torch
        return {"topk_positions": torch.cat(self.positions).numpy(), "topk_weights": torch.cat(self.weights).numpy()}


class BandScores(Reducer):
    """``band_scores`` {band: [heads, 2, bins]}: the mean pre-softmax score carried by the RoPE pairs below the
    critical dimension and by those beyond it, per distance bin — which dimensions carry far-away attention."""

    def __init__(self, context):
        import torch

        super().__init__(context)
        options = context.options
        half, pairs = options.spec.critical_dimension // 2, options.rotary_dim // 2
        dims = torch.arange(options.rotary_dim)
        self.dims = {"below_critical": torch.cat((dims[:half], dims[pairs:pairs + half])).to(context.device),
                     "beyond_critical": torch.cat((dims[half:pairs], dims[pairs + half:])).to(context.device)}
        self.sums = {band: context.zeros(context.heads, 2, context.bins) for band in self.dims}
        self.count = context.zeros(2 * context.bins)

    def update(self, chunk):
        import torch

        self.count.scatter_add_(0, chunk.flat_bin.reshape(-1), chunk.visible.reshape(-1).double())
        for band, dims in self.dims.items():
            partial = torch.einsum("hqd,hkd->hqk", chunk.q[..., dims], chunk.k[..., dims]) * chunk.scale
            self.sums[band] += self.by_bin(chunk, torch.where(chunk.visible[None], partial, torch.zeros_like(partial)))

    def finalize(self):
        count = self.count.view(2, self.context.bins).clamp_min(1)[None]
        return {"band_scores": {band: (total / count).cpu().numpy() for band, total in self.sums.items()}}


class Needle(Reducer):
    """``needle`` [heads, queries]: the mass on a span of keys (e.g. a needle)."""

    @classmethod
    def enabled(cls, options):
        return options.needle is not None

    def __init__(self, context):
        super().__init__(context)
        self.needle = context.zeros(context.heads, len(context.queries))

    def update(self, chunk):
        start, end = self.context.options.needle
        self.needle[:, chunk.span] = chunk.p[..., start:end].sum(-1).double()

    def finalize(self):
        return {"needle": self.needle.cpu().numpy()}


class AttentionMap(Reducer):
    """``map`` [query bins, key bins]: a downsampled attention map averaged over heads (``map_bins`` of them)."""

    @classmethod
    def enabled(cls, options):
        return bool(options.map_bins)

    def __init__(self, context):
        super().__init__(context)
        bins = context.options.map_bins
        self.map, self.count = context.zeros(bins, bins), context.zeros(bins)

    def update(self, chunk):
        import torch

        bins, length = self.context.options.map_bins, self.context.length
        queries = chunk.positions.shape[0]
        q_bin = (chunk.positions * bins // length).long()
        k_bin = (torch.arange(length, device=self.context.device) * bins // length).long()
        per_key_bin = self.context.zeros(queries, bins)
        per_key_bin.scatter_add_(1, k_bin[None].expand(queries, -1), chunk.p.mean(0).double())
        self.map.index_add_(0, q_bin, per_key_bin)
        self.count.index_add_(0, q_bin, self.context.zeros(queries) + 1)

    def finalize(self):
        return {"map": (self.map / self.count.clamp_min(1)[:, None]).cpu().numpy()}


class Probabilities(Reducer):
    """``probs`` [heads, queries, keys]: the probabilities themselves (``keep_probs``; tests and small inputs)."""

    @classmethod
    def enabled(cls, options):
        return options.keep_probs

    def __init__(self, context):
        super().__init__(context)
        self.chunks = []

    def update(self, chunk):
        self.chunks.append(chunk.p.cpu())

    def finalize(self):
        import torch
        return {"probs": torch.cat(self.chunks, dim=1).numpy()}


class PairUse(Reducer):
    """``pair_q`` / ``pair_k`` [heads, pairs]: each RoPE pair's mean norm over the queries and over all keys. RoPE
    turns pair i — dimensions i and i + d/2 of a head (transformers' and LLaDA's ``rotate_half`` layout) — by
    position·θ_i, which keeps its norm, so these are the pair norms before rotation; pair i adds at most
    |q_i|·|k_i| to a score q·k (Cauchy–Schwarz). They show which frequencies a model can use at all — low-frequency
    pairs with large norms are the "massive values" of arXiv 2502.01563 — and whether the pairs beyond the critical
    dimension, which never turned a full period in pre-training, carry the model's scores."""

    @classmethod
    def enabled(cls, options):
        return options.pair_use

    def __init__(self, context):
        super().__init__(context)
        self.pairs = context.options.rotary_dim // 2
        self.q, self.k = context.zeros(context.heads, self.pairs), None

    def norms(self, x):
        """[…, head_dim] → […, pairs]: the norm of each rotary pair."""
        half = x[..., :2 * self.pairs].double()
        return (half[..., :self.pairs] ** 2 + half[..., self.pairs:] ** 2).sqrt()

    def update(self, chunk):
        self.q += self.norms(chunk.q).sum(1)
        if self.k is None:
            self.k = self.norms(chunk.k).mean(1)

    def finalize(self):
        return {"pair_q": (self.q / len(self.context.queries)).cpu().numpy(), "pair_k": self.k.cpu().numpy()}


class QueryMass(Reducer):
    """``query_mass`` [queries, 2, bins]: each query's attention mass by signed relative distance, averaged over heads
    (``query_mass``; attention during denoising splits the answer positions into masked and decoded ones)."""

    @classmethod
    def enabled(cls, options):
        return options.query_mass

    def __init__(self, context):
        super().__init__(context)
        self.mass = context.zeros(len(context.queries), 2 * context.bins)

    def update(self, chunk):
        self.mass[chunk.span].scatter_add_(1, chunk.flat_bin, chunk.p.mean(0).double())

    def finalize(self):
        return {"query_mass": self.mass.view(len(self.context.queries), 2, self.context.bins).cpu().numpy()}


class Sinks(Reducer):
    """``sink_positions`` / ``sink_weights`` [sinks]: the keys that receive the most attention — mass averaged over
    heads and queries — the attention sinks (arXiv 2510.15731 tracks them in diffusion LMs), ``sinks`` of them."""

    @classmethod
    def enabled(cls, options):
        return bool(options.sinks)

    def __init__(self, context):
        super().__init__(context)
        self.received = context.zeros(context.length)

    def update(self, chunk):
        self.received += chunk.p.double().sum((0, 1)) / self.context.heads

    def finalize(self):
        weights, where = (self.received / len(self.context.queries)).topk(min(self.context.options.sinks,
                                                                              self.context.length))
        return {"sink_positions": where.cpu().numpy(), "sink_weights": weights.cpu().numpy()}


class HeadArgmax(Reducer):
    """``head_argmax`` [heads, queries]: the key each head attends to most — what a retrieval head copies from
    (arXiv 2404.15574), read at the query that writes a token (``head_argmax``)."""

    @classmethod
    def enabled(cls, options):
        return options.head_argmax

    def __init__(self, context):
        import torch

        super().__init__(context)
        self.top = torch.zeros(context.heads, len(context.queries), dtype=torch.long, device=context.device)

    def update(self, chunk):
        self.top[:, chunk.span] = chunk.p.argmax(-1)

    def finalize(self):
        return {"head_argmax": self.top.cpu().numpy()}


REDUCERS: list[type[Reducer]] = [Mass, Local, HalfDistance, TopK, BandScores, Needle, AttentionMap, Probabilities,
                                 PairUse, QueryMass, Sinks, HeadArgmax]
