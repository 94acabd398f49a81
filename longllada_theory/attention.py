"""Attention instrumentation that works on any RoPE model and any attention implementation (sdpa, flash, eager),
without ``output_attentions`` and without materialising an L × L map per head.

How: forward hooks on each attention block's ``q_proj`` and ``k_proj`` take the projections as the model computes
them; the probe applies the model's own q/k norms (where it has them) and its RoPE — the inverse frequencies read
from the loaded model, the rotate-half convention of LLaMA, Qwen, Gemma and LLaDA, partial rotary dims, YaRN's
attention factor — and repeats grouped key heads. For the chosen queries it then computes, in chunks of queries,
scores = q·kᵀ·scale (+ the causal mask of an AR model), softmax over keys, and reduces them at once to statistics:

- ``mass``: attention mass by signed relative distance (key − query) in log-spaced bins, per head;
- ``local``: each query's share of mass within |key − query| < T_train (for the last query: the most recent T keys);
- ``half_distance``: the distance |Δ| within which half of the query's mass lies;
- ``topk``: the most-attended key positions (mass averaged over heads);
- ``needle``: the mass on a given span of keys (e.g. a needle), per head;
- ``band_scores``: the pre-softmax score split into the RoPE pairs below and beyond the critical dimension, averaged
  by distance bin — which dimensions carry far-away attention;
- ``map``: a downsampled query-bin × key-bin attention map, averaged over heads (when ``map_bins`` is given).

Memory grows with the length (one layer's keys at a time), not with its square; the statistics are O(L) at most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from .errors import LongLLaDAError

PROJECTION_NAMES = ("q_proj", "k_proj")


def distance_edges(max_distance: int) -> np.ndarray:
    """Log-spaced bin edges for |Δ|: 0, 1, 2, 4, …, ≥ max_distance."""
    edges = [0, 1]
    while edges[-1] < max_distance:
        edges.append(edges[-1] * 2)
    return np.array(edges)


def find_attention_modules(model) -> list[tuple[str, object]]:
    """Every module that owns both a ``q_proj`` and a ``k_proj`` (LLaMA/Qwen/Gemma attention, LLaDA's blocks)."""
    found = [(name, module) for name, module in model.named_modules()
             if all(hasattr(module, p) for p in PROJECTION_NAMES)]
    if not found:
        raise LongLLaDAError(f"no attention modules found: looked for modules with {' and '.join(PROJECTION_NAMES)} "
                             "(LLaMA/Qwen/Gemma/LLaDA naming); for other names pass "
                             "attention_modules=[module, …] to AttentionProbe")
    return found


def parse_queries(spec: str | Sequence[int], length: int, seed: int = 0) -> list[int]:
    """``last``, ``last:N``, ``sample:N`` (N positions drawn without replacement, sorted), ``range:A-B`` or a list."""
    if not isinstance(spec, str):
        positions = sorted(int(p) for p in spec)
    elif spec == "last":
        positions = [length - 1]
    elif spec.startswith("last:"):
        positions = list(range(max(0, length - int(spec[5:])), length))
    elif spec.startswith("sample:"):
        count = min(int(spec[7:]), length)
        positions = sorted(np.random.default_rng(seed).choice(length, size=count, replace=False).tolist())
    elif spec.startswith("range:"):
        lo, hi = (int(x) for x in spec[6:].split("-"))
        positions = list(range(lo, hi))
    elif spec == "all":
        positions = list(range(length))
    else:
        raise LongLLaDAError(f"queries {spec!r}: expected last, last:N, sample:N, range:A-B or all")
    bad = [p for p in positions if not 0 <= p < length]
    if bad or not positions:
        raise LongLLaDAError(f"query positions {bad[:5] or positions} are outside the input of {length} tokens")
    return positions


@dataclass
class LayerStats:
    layer: int
    name: str
    queries: list[int]
    edges: list[int]                          # |Δ| bin edges; signed bins are (−edges … , +edges)
    mass: np.ndarray                          # [heads, 2, bins]: sign (0: key before query, 1: after), |Δ| bin
    local: np.ndarray                         # [heads, queries]
    half_distance: np.ndarray                 # [heads, queries]
    topk_positions: np.ndarray                # [queries, k]
    topk_weights: np.ndarray                  # [queries, k]
    band_scores: dict[str, np.ndarray]        # band → [heads, 2, bins] mean pre-softmax score
    needle: np.ndarray | None = None          # [heads, queries]
    map: np.ndarray | None = None             # [query bins, key bins]
    probs: np.ndarray | None = None           # [heads, queries, keys] — only with keep_probs (tests, small inputs)
    keys: np.ndarray | None = None            # [heads, keys, head_dim] post-RoPE keys — only with keep_keys

    def to_cell(self) -> dict:
        cell = {"key": f"layer{self.layer}", "layer": self.layer, "module": self.name, "queries": self.queries,
                "edges": self.edges, "mass": _round(self.mass), "local": _round(self.local),
                "half_distance": self.half_distance.tolist(), "topk_positions": self.topk_positions.tolist(),
                "topk_weights": _round(self.topk_weights),
                "band_scores": {k: _round(v) for k, v in self.band_scores.items()}}
        if self.needle is not None:
            cell["needle"] = _round(self.needle)
        if self.map is not None:
            cell["map"] = _round(self.map)
        return cell


def _round(array: np.ndarray, digits: int = 6):
    return np.round(np.asarray(array, dtype=np.float64), digits).tolist()


def rotate_half(x):
    import torch
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class AttentionProbe:
    """Context manager: ``with AttentionProbe(loaded, layers=…, queries=…) as probe: model(ids)``; then
    ``probe.stats`` holds one :class:`LayerStats` per instrumented layer (see module docstring)."""

    def __init__(self, loaded, layers: Iterable[int] | None = None, heads: Iterable[int] | None = None,
                 queries: str | Sequence[int] = "last", train_length: int | None = None, topk: int = 8,
                 needle: tuple[int, int] | None = None, map_bins: int | None = None, keep_probs: bool = False,
                 query_chunk: int = 256, attention_modules: list | None = None, seed: int = 0,
                 track_memory: bool = False, keep_keys: bool = False):
        self.loaded = loaded
        modules = attention_modules or find_attention_modules(loaded.model)
        self.modules = [(name, module) for name, module in modules]
        count = len(self.modules)
        self.layers = list(range(count)) if layers is None else sorted(set(int(x) for x in layers))
        bad = [x for x in self.layers if not 0 <= x < count]
        if bad:
            raise LongLLaDAError(f"layers {bad} out of range: the model has {count} attention layers (0–{count - 1})")
        config = loaded.model.config
        self.n_heads = int(getattr(config, "num_attention_heads", None) or getattr(config, "n_heads"))
        self.n_kv = int(getattr(config, "num_key_value_heads", None) or getattr(config, "n_kv_heads", None)
                        or self.n_heads)
        self.heads = list(range(self.n_heads)) if heads is None else sorted(set(int(h) for h in heads))
        bad = [h for h in self.heads if not 0 <= h < self.n_heads]
        if bad:
            raise LongLLaDAError(f"heads {bad} out of range: the model has {self.n_heads} heads (0–{self.n_heads - 1})")
        self.spec = loaded.spec
        self.head_dim = self.spec.head_dim
        self.rotary_dim = self.spec.rotary_dim
        self.train_length = int(train_length or self.spec.train_length)
        self.causal = loaded.kind == "ar"
        self.queries_spec, self.topk, self.needle, self.map_bins = queries, topk, needle, map_bins
        self.keep_probs, self.query_chunk, self.seed = keep_probs, query_chunk, seed
        self.track_memory, self.keep_keys = track_memory, keep_keys
        self.peak_bytes = 0  # with track_memory: the most memory the statistics of one layer took at once
        self.inv_freq, self.attention_factor = self._rope()
        self.stats: dict[int, LayerStats] = {}
        self._handles: list = []
        self._pending: dict[int, object] = {}

    def _rope(self):
        """The inverse frequencies the model really uses (its rotary buffer when it has one) and YaRN's factor."""
        import torch

        for _, module in self.loaded.model.named_modules():
            buffer = getattr(module, "inv_freq", None)
            if isinstance(buffer, torch.Tensor):
                return buffer.detach().float(), float(getattr(module, "attention_scaling", 1.0) or 1.0)
        plan = self.loaded.plan
        theta = plan.inverse_frequencies() if plan else (
            self.spec.rope_theta ** (-np.arange(0, self.rotary_dim, 2) / self.rotary_dim))
        return torch.tensor(theta, dtype=torch.float32), float(plan.attention_factor if plan else 1.0)

    # ------------------------------------------------------------------ hooks
    def __enter__(self):
        for layer in self.layers:
            name, module = self.modules[layer]
            self._handles.append(module.q_proj.register_forward_hook(self._keep_query(layer)))
            self._handles.append(module.k_proj.register_forward_hook(self._measure(layer, name, module)))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._pending.clear()

    def _keep_query(self, layer: int):
        def hook(module, inputs, output):
            self._pending[layer] = output.detach()
        return hook

    def _measure(self, layer: int, name: str, attention):
        def hook(module, inputs, output):
            query = self._pending.pop(layer, None)
            if query is None:
                raise LongLLaDAError(f"layer {layer}: k_proj ran before q_proj; this model computes attention in an "
                                     "order the probe does not support")
            if not self.track_memory:
                self.stats[layer] = self._statistics(layer, name, attention, query, output.detach())
                return
            from .memory import PeakMemory
            with PeakMemory(output.device, release=False) as peak:
                self.stats[layer] = self._statistics(layer, name, attention, query, output.detach())
            self.peak_bytes = max(self.peak_bytes, peak.bytes)
        return hook

    # ------------------------------------------------------------------ maths
    def _heads(self, attention, projected, count: int, which: str):
        """[1, L, count·hd] → [count, L, hd], with the module's q/k norm where it has one."""
        batch, length, _ = projected.shape
        if batch != 1:
            raise LongLLaDAError(f"the probe measures one sequence at a time; got a batch of {batch}")
        norm = getattr(attention, f"{which}_norm", None)
        width = getattr(getattr(norm, "weight", None), "shape", (None,))[0] if norm is not None else None
        if norm is not None and width == projected.shape[-1]:
            projected = norm(projected)
        x = projected.view(length, count, self.head_dim).transpose(0, 1)
        if norm is not None and width == self.head_dim:
            x = norm(x)
        return x

    def _rotate(self, x, positions):
        import torch

        freqs = positions.float()[:, None] * self.inv_freq.to(x.device)[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = (emb.cos() * self.attention_factor).to(x.dtype)
        sin = (emb.sin() * self.attention_factor).to(x.dtype)
        rot, rest = x[..., :self.rotary_dim], x[..., self.rotary_dim:]
        return torch.cat((rot * cos + rotate_half(rot) * sin, rest), dim=-1)

    def _statistics(self, layer: int, name: str, attention, q_proj_out, k_proj_out) -> LayerStats:
        import torch

        length = k_proj_out.shape[1]
        queries = parse_queries(self.queries_spec, length, self.seed)
        device = k_proj_out.device
        positions = torch.arange(length, device=device)
        q_all = self._heads(attention, q_proj_out, self.n_heads, "q")
        k = self._rotate(self._heads(attention, k_proj_out, self.n_kv, "k"), positions)
        group = self.n_heads // self.n_kv
        heads = torch.tensor(self.heads, device=device)
        k = k[heads // group].float()                                   # [h, L, hd]
        q_index = torch.tensor(queries, device=device)
        q = self._rotate(q_all[:, q_index], q_index)[heads].float()     # [h, Q, hd]
        scale = float(getattr(attention, "scaling", None) or self.head_dim ** -0.5)
        cap = getattr(self.loaded.model.config, "attn_logit_softcapping", None)

        edges = distance_edges(length)
        n_bins = len(edges)
        key_pos = torch.arange(length, device=device)
        half_pairs = self.spec.critical_dimension // 2
        band_slices = {"below_critical": (slice(0, half_pairs), slice(self.rotary_dim // 2, self.rotary_dim // 2 + half_pairs)),
                       "beyond_critical": (slice(half_pairs, self.rotary_dim // 2),
                                           slice(self.rotary_dim // 2 + half_pairs, self.rotary_dim))}
        h = len(self.heads)
        mass = torch.zeros(h, 2, n_bins, dtype=torch.float64, device=device)
        band_sum = {b: torch.zeros(h, 2, n_bins, dtype=torch.float64, device=device) for b in band_slices}
        bin_count = torch.zeros(2, n_bins, dtype=torch.float64, device=device)
        local = torch.zeros(h, len(queries), dtype=torch.float64, device=device)
        half = torch.zeros(h, len(queries), dtype=torch.long, device=device)
        needle = torch.zeros(h, len(queries), dtype=torch.float64, device=device) if self.needle else None
        top_pos, top_w, probs_out = [], [], []
        bins_map = self.map_bins
        amap = torch.zeros(bins_map, bins_map, dtype=torch.float64, device=device) if bins_map else None
        map_count = torch.zeros(bins_map, dtype=torch.float64, device=device) if bins_map else None
        edges_t = torch.tensor(edges, device=device)

        for lo in range(0, len(queries), self.query_chunk):
            qs = q_index[lo:lo + self.query_chunk]
            qc = q[:, lo:lo + self.query_chunk]
            scores = torch.einsum("hqd,hkd->hqk", qc, k) * scale
            if cap:
                scores = cap * torch.tanh(scores / cap)
            delta = key_pos[None, :] - qs[:, None]                      # [Q, L]
            if self.causal:
                scores = scores.masked_fill(delta[None] > 0, float("-inf"))
            p = torch.softmax(scores, dim=-1)
            if self.keep_probs:
                probs_out.append(p.cpu())
            sign = (delta > 0).long()
            magnitude = delta.abs()
            bin_index = torch.bucketize(magnitude, edges_t, right=True) - 1   # [Q, L]
            flat = sign * n_bins + bin_index
            visible = (~(delta > 0)) if self.causal else torch.ones_like(delta, dtype=torch.bool)
            one_hot_count = torch.zeros(qs.shape[0], 2 * n_bins, dtype=torch.float64, device=device)
            one_hot_count.scatter_add_(1, flat, visible.double())
            bin_count += one_hot_count.sum(0).view(2, n_bins)
            index = flat[None].expand(h, -1, -1)
            mass_q = torch.zeros(h, qs.shape[0], 2 * n_bins, dtype=torch.float64, device=device)
            mass_q.scatter_add_(2, index, p.double())
            mass += mass_q.sum(1).view(h, 2, n_bins)
            for band, (first, second) in band_slices.items():
                dims = torch.cat((torch.arange(self.rotary_dim)[first], torch.arange(self.rotary_dim)[second])).to(device)
                partial = torch.einsum("hqd,hkd->hqk", qc[..., dims], k[..., dims]) * scale
                partial = torch.where(visible[None], partial, torch.zeros_like(partial))
                summed = torch.zeros(h, qs.shape[0], 2 * n_bins, dtype=torch.float64, device=device)
                summed.scatter_add_(2, index, partial.double())
                band_sum[band] += summed.sum(1).view(h, 2, n_bins)
            near = magnitude < self.train_length
            local[:, lo:lo + len(qs)] = (p * near[None]).sum(-1).double()
            order = torch.argsort(magnitude, dim=-1, stable=True)         # keys by |Δ|, nearest first
            cumulative = torch.cumsum(torch.gather(p, 2, order[None].expand(h, -1, -1)), dim=-1)
            first_half = (cumulative < 0.5).sum(-1).clamp(max=length - 1)
            half[:, lo:lo + len(qs)] = torch.gather(magnitude, 1, torch.gather(order, 1, first_half.T)).T
            if needle is not None:
                a, b = self.needle
                needle[:, lo:lo + len(qs)] = p[..., a:b].sum(-1).double()
            mean_heads = p.mean(0)
            weights, where = mean_heads.topk(min(self.topk, length), dim=-1)
            top_pos.append(where.cpu())
            top_w.append(weights.double().cpu())
            if amap is not None:
                q_bin = (qs * bins_map // length).long()
                k_bin = (key_pos * bins_map // length).long()
                per_key_bin = torch.zeros(len(qs), bins_map, dtype=torch.float64, device=device)
                per_key_bin.scatter_add_(1, k_bin[None].expand(len(qs), -1), mean_heads.double())
                amap.index_add_(0, q_bin, per_key_bin)
                map_count.index_add_(0, q_bin, torch.ones(len(qs), dtype=torch.float64, device=device))

        n_q = len(queries)
        band_mean = {b: (v / bin_count.clamp_min(1)[None]).cpu().numpy() for b, v in band_sum.items()}
        return LayerStats(
            layer=layer, name=name, queries=queries, edges=edges.tolist(),
            mass=(mass / n_q).cpu().numpy(), local=local.cpu().numpy(), half_distance=half.cpu().numpy(),
            topk_positions=torch.cat(top_pos).numpy(), topk_weights=torch.cat(top_w).numpy(),
            band_scores=band_mean,
            needle=None if needle is None else needle.cpu().numpy(),
            map=None if amap is None else (amap / map_count.clamp_min(1)[:, None]).cpu().numpy(),
            probs=torch.cat(probs_out, dim=1).numpy() if self.keep_probs else None,
            keys=k.cpu().numpy() if self.keep_keys else None)


def instrumented_forward(loaded, ids: Sequence[int], **probe_options) -> dict[int, LayerStats]:
    """One plain forward pass over ``ids`` with an :class:`AttentionProbe`; returns its statistics by layer."""
    import torch

    inputs = torch.tensor([list(ids)], dtype=torch.long, device=loaded.device)
    with AttentionProbe(loaded, **probe_options) as probe, torch.no_grad():
        loaded.model(input_ids=inputs)
    return probe.stats
