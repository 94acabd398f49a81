"""The attention probe: attention instrumentation that works on any RoPE model and any attention implementation
(sdpa, flash, eager), without ``output_attentions`` and without materialising an L × L map per head.

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
- ``map``: a downsampled query-bin × key-bin attention map, averaged over heads (when ``map_bins`` is given);
- ``pair_q`` / ``pair_k``: each RoPE pair's mean query and key norm per head — which frequencies the model uses
  (when ``pair_use`` is set);
- ``query_mass``: each query's mass by signed distance bin, averaged over heads (when ``query_mass`` is set);
- ``sink_positions`` / ``sink_weights``: the ``sinks`` keys receiving the most attention (attention sinks);
- ``head_argmax``: the key each head attends to most, per query (when ``head_argmax`` is set: retrieval heads).

Memory grows with the length (one layer's keys at a time), not with its square; the statistics are O(L) at most.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...errors import LongLLaDAError
from ...models.families import FALLBACK, FAMILIES, Family
from ..bench.memory import PeakMemory
from .reducers import REDUCERS, Chunk, LayerContext, distance_edges

if TYPE_CHECKING:
    from ...models.loading import LoadedModel

def _family(loaded: LoadedModel) -> Family:
    return getattr(loaded, "family", None) or FAMILIES[FALLBACK]


def find_attention_modules(model, projections: tuple[str, str] = FAMILIES[FALLBACK].projections
                           ) -> list[tuple[str, object]]:
    """Every module that owns both query and key projections (named by the model's family; ``q_proj``/``k_proj`` for
    LLaMA/Qwen/Gemma attention and LLaDA's blocks)."""
    found = [(name, module) for name, module in model.named_modules()
             if all(hasattr(module, p) for p in projections)]
    if not found:
        raise LongLLaDAError(f"no attention modules found: looked for modules with {' and '.join(projections)} "
                             "(LLaMA/Qwen/Gemma/LLaDA naming); for other names pass "
                             "attention_modules=[module, …] to AttentionProbe")
    return found


def parse_queries(spec: str | Sequence[int], length: int, seed: int = 0) -> list[int]:
    """``last``, ``last:N``, ``sample:N`` (N positions drawn without replacement, sorted), ``range:A-B`` or a list."""
    try:
        positions = _query_positions(spec, length, seed)
    except ValueError:
        raise LongLLaDAError(f"queries {spec!r}: expected last, last:N, sample:N, range:A-B (A < B) or all, with whole "
                             "numbers", parameters=("queries",)) from None
    bad = [p for p in positions if not 0 <= p < length]
    if bad or not positions:
        raise LongLLaDAError(f"query positions {bad[:5] or positions} are outside the input of {length} tokens",
                             parameters=("queries",))
    return positions


def _query_positions(spec: str | Sequence[int], length: int, seed: int) -> list[int]:
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
        raise ValueError(spec)
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
    band_scores: dict[str, np.ndarray]        # band → [heads, 2, bins] mean pre-softmax score (see reducers)
    needle: np.ndarray | None = None          # [heads, queries]
    map: np.ndarray | None = None             # [query bins, key bins]
    probs: np.ndarray | None = None           # [heads, queries, keys] — only with keep_probs (tests, small inputs)
    keys: np.ndarray | None = None            # [heads, keys, head_dim] post-RoPE keys — only with keep_keys
    pair_q: np.ndarray | None = None          # [heads, pairs] mean norm of each RoPE pair of the queries (pair_use)
    pair_k: np.ndarray | None = None          # [heads, pairs] the same over every key
    query_mass: np.ndarray | None = None      # [queries, 2, bins] mass by signed distance, mean over heads
    sink_positions: np.ndarray | None = None  # [sinks] the keys receiving the most mass (mean over heads, queries)
    sink_weights: np.ndarray | None = None    # [sinks] their mass
    head_argmax: np.ndarray | None = None     # [heads, queries] each head's most-attended key

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
        if self.pair_q is not None:
            cell["pair_q"], cell["pair_k"] = _round(self.pair_q), _round(self.pair_k)
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

    def __init__(self, loaded: LoadedModel, layers: Iterable[int] | None = None, heads: Iterable[int] | None = None,
                 queries: str | Sequence[int] = "last", train_length: int | None = None, topk: int = 8,
                 needle: tuple[int, int] | None = None, map_bins: int | None = None, keep_probs: bool = False,
                 query_chunk: int = 256, attention_modules: list | None = None, seed: int = 0,
                 track_memory: bool = False, keep_keys: bool = False, pair_use: bool = False,
                 query_mass: bool = False, sinks: int = 0, head_argmax: bool = False):
        self.loaded = loaded
        family = _family(loaded)
        if family.no_probe:
            raise LongLLaDAError(f"the attention probe cannot measure {getattr(loaded, 'name', 'this model')}: "
                                 f"{family.no_probe}")
        self.projections = family.projections
        self.modules = list(attention_modules or find_attention_modules(loaded.model, family.projections))
        count = len(self.modules)
        self.layers = list(range(count)) if layers is None else sorted(set(int(x) for x in layers))
        bad = [x for x in self.layers if not 0 <= x < count]
        if bad:
            raise LongLLaDAError(f"layers {bad} out of range: the model has {count} attention layers (0–{count - 1})")
        config = loaded.model.config.to_dict()
        self.n_heads = int(family.value(config, "heads")[1])
        self.n_kv = int(family.value(config, "kv_heads")[1] or self.n_heads)
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
        self.track_memory, self.keep_keys, self.pair_use = track_memory, keep_keys, pair_use
        self.query_mass, self.sinks, self.head_argmax = query_mass, sinks, head_argmax
        self.peak_bytes = 0  # with track_memory: the most memory the statistics of one layer took at once
        self.inv_freq, self.attention_factor = self._rope()
        #: LLaDA's own code rotates q and k in float32 (``rope_full_precision``); transformers' classes in their dtype
        self.rotate_fp32 = bool(getattr(loaded.model.config, "rope_full_precision", False))
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
            query, key = (getattr(module, p) for p in self.projections)
            self._handles.append(query.register_forward_hook(self._keep_query(layer)))
            self._handles.append(key.register_forward_hook(self._measure(layer, name, module)))
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
        dtype = torch.float32 if self.rotate_fp32 else x.dtype  # as the model rotates (LLaDA's code: in fp32)
        cos = (emb.cos() * self.attention_factor).to(dtype)
        sin = (emb.sin() * self.attention_factor).to(dtype)
        rot, rest = x[..., :self.rotary_dim].to(dtype), x[..., self.rotary_dim:]
        return torch.cat(((rot * cos + rotate_half(rot) * sin).to(x.dtype), rest), dim=-1)

    def _statistics(self, layer: int, name: str, attention, q_proj_out, k_proj_out) -> LayerStats:
        """Rotate the layer's queries and keys, then feed each chunk of queries' attention to the reducers."""
        import torch

        length = k_proj_out.shape[1]
        queries = parse_queries(self.queries_spec, length, self.seed)
        device = k_proj_out.device
        q_all = self._heads(attention, q_proj_out, self.n_heads, "q")
        k = self._rotate(self._heads(attention, k_proj_out, self.n_kv, "k"), torch.arange(length, device=device))
        heads = torch.tensor(self.heads, device=device)
        k = k[heads // (self.n_heads // self.n_kv)].float()                  # [h, L, hd]
        q_index = torch.tensor(queries, device=device)
        q = self._rotate(q_all[:, q_index], q_index)[heads].float()         # [h, Q, hd]
        context = LayerContext(heads=len(self.heads), queries=queries, length=length,
                               edges=distance_edges(length), device=device, options=self)
        reducers = [reducer(context) for reducer in REDUCERS if reducer.enabled(self)]
        scale = float(getattr(attention, "scaling", None) or self.head_dim ** -0.5)
        cap = getattr(self.loaded.model.config, "attn_logit_softcapping", None)
        key_pos = torch.arange(length, device=device)
        edges_t = torch.tensor(context.edges, device=device)
        for lo in range(0, len(queries), self.query_chunk):
            positions = q_index[lo:lo + self.query_chunk]
            qc = q[:, lo:lo + self.query_chunk]
            scores = torch.einsum("hqd,hkd->hqk", qc, k) * scale
            if cap:
                scores = cap * torch.tanh(scores / cap)
            delta = key_pos[None, :] - positions[:, None]                    # [Q, L]
            if self.causal:
                scores = scores.masked_fill(delta[None] > 0, float("-inf"))
            bins = torch.bucketize(delta.abs(), edges_t, right=True) - 1
            chunk = Chunk(lo=lo, positions=positions, p=torch.softmax(scores, dim=-1), q=qc, k=k, delta=delta,
                          flat_bin=(delta > 0).long() * len(context.edges) + bins,
                          visible=~(delta > 0) if self.causal else torch.ones_like(delta, dtype=torch.bool),
                          scale=scale)
            for reducer in reducers:
                reducer.update(chunk)
        values: dict = {}
        for reducer in reducers:
            values.update(reducer.finalize())
        return LayerStats(layer=layer, name=name, queries=queries, edges=context.edges.tolist(),
                          keys=k.cpu().numpy() if self.keep_keys else None, **values)


def instrumented_forward(loaded: LoadedModel, ids: Sequence[int], **probe_options) -> dict[int, LayerStats]:
    """One plain forward pass over ``ids`` with an :class:`AttentionProbe`; returns its statistics by layer."""
    import torch

    inputs = torch.tensor([list(ids)], dtype=torch.long, device=loaded.device)
    with AttentionProbe(loaded, **probe_options) as probe, torch.no_grad():
        loaded.model(input_ids=inputs)
    return probe.stats
