"""Benchmarks that print measured ratios (never timing assertions in tests):

- ``longllada bench attention``: the attention probe's cost against a plain forward and against eager
  ``output_attentions=True`` on the same model and input;
- ``longllada bench ppl``: the diffusion perplexity estimator, batched and stratified, against a loop of one
  independent sample per forward, at the same number of sequences through the model: spread and time;
- ``longllada bench niah``: forward passes and seconds per NIAH answer (the diffusion sampler must take exactly
  ``steps`` forwards per batch of answers).

Peak memory is measured per forward pass (:class:`~longllada_theory.memory.PeakMemory`), relative to the memory in
use before it. The whole instrumented forward's peak is often the plain forward's (the output logits dominate), so a
separate instrumented run also records the probe's own peak: the most memory its statistics take at once, in any
layer. Where eager attention over all layers cannot fit (it keeps layers × heads × L² probabilities), the comparison
runs on the first ``layers`` layers of the model for all three variants — the output says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LongLLaDAError
from .memory import PeakMemory

if TYPE_CHECKING:
    from ..models.loading import LoadedModel


@dataclass
class Measurement:
    seconds: float
    peak_bytes: int  # above the memory in use before the pass


def measure(fn, device) -> Measurement:
    """Run ``fn()`` once; its wall time and peak extra memory."""
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    return Measurement(seconds, peak.bytes)


class ForwardCounter:
    """Counts the forward passes of a module (a forward pre-hook) while the context is open."""

    def __init__(self, module):
        self.module, self.count = module, 0

    def __enter__(self) -> ForwardCounter:
        self.handle = self.module.register_forward_pre_hook(lambda *_: setattr(self, "count", self.count + 1))
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def bench_perplexity(loaded: LoadedModel, ids: list[int], chunk: int = 64, mc: int = 8, repeats: int = 32,
                     seed: int = 0) -> dict:
    """The MC estimate of the last chunk of ``ids`` (given the rest as prefix), ``repeats`` times with fresh seeds,
    two ways at ``mc`` sequences each: ``batched`` (the package's: stratified mask sizes, one forward of ``mc`` rows)
    and ``sequential`` (one forward per sample, each mask size drawn independently). The spread (standard deviation
    over repeats) is the estimator's real standard error; the ratios compare the two. ``memory``: the peak of one
    batched estimate computing only the scored logits (the package's) against projecting every position to the
    vocabulary (what a forward without ``logits_to_keep`` does)."""
    import statistics

    from .perplexity import diffusion_chunk_samples

    if loaded.kind != "diffusion":
        raise LongLLaDAError(f"{loaded.name} is an AR model; the Monte-Carlo estimator benchmark needs a diffusion "
                             "model")
    if repeats < 3:
        raise LongLLaDAError(f"repeats {repeats}: the spread needs at least 3 repeats", parameters=("repeats",))
    if not 0 < chunk < len(ids) or mc < 2:
        raise LongLLaDAError(f"chunk {chunk} must be positive and shorter than the {len(ids)}-token input (the rest is "
                             f"its prefix), and mc {mc} at least 2", parameters=("chunk", "mc"))
    start, end = len(ids) - chunk, len(ids)
    ways = {"batched": dict(mc_batch=None, stratify=True), "sequential": dict(mc_batch=1, stratify=False)}
    diffusion_chunk_samples(loaded, ids, start, end, mc, seed=seed)  # warm-up
    results = {"model": loaded.name, "device": str(loaded.device), "dtype": loaded.dtype, "length": len(ids),
               "chunk": chunk, "mc": mc, "repeats": repeats}
    for name, options in ways.items():
        estimates, seconds = [], []
        with ForwardCounter(loaded.model) as counter:
            for r in range(repeats):
                began = time.perf_counter()
                estimates.append(float(diffusion_chunk_samples(loaded, ids, start, end, mc, seed=seed + r,
                                                               **options).mean()))
                seconds.append(time.perf_counter() - began)
        results[name] = {"forwards_per_estimate": counter.count / repeats, "sequences_per_estimate": mc,
                         "seconds_per_estimate": round(statistics.median(seconds), 4),
                         "mean_loss": round(statistics.fmean(estimates), 5),
                         "standard_error": round(statistics.stdev(estimates), 5)}
    peaks = {}
    for name, all_logits in (("scored_logits", False), ("all_logits", True)):
        peaks[name] = measure(lambda all_logits=all_logits: diffusion_chunk_samples(
            loaded, ids, start, end, mc, seed=seed, all_logits=all_logits), loaded.device).peak_bytes
    results["memory"] = {f"{name}_peak_bytes": int(value) for name, value in peaks.items()}
    results["memory_ratio_scored_vs_all_logits"] = round(peaks["scored_logits"] / max(peaks["all_logits"], 1), 4)
    batched, sequential = results["batched"], results["sequential"]
    results["se_ratio_batched_vs_sequential"] = round(batched["standard_error"] / sequential["standard_error"], 3)
    results["time_ratio_batched_vs_sequential"] = round(batched["seconds_per_estimate"]
                                                        / sequential["seconds_per_estimate"], 3)
    return results


def bench_niah(niah, cells: int = 4) -> dict:
    """Answer the first ``cells`` cells of a NIAH run (a :class:`~.niah.NeedleInAHaystack` protocol) in its settings'
    batches; forward passes and seconds of each batch. A diffusion model must take exactly ``steps`` forwards per
    batch (no hidden passes); an AR model one prefill plus one per generated token at most."""
    if cells < 1:
        raise LongLLaDAError(f"cells {cells} must be at least 1", parameters=("cells",))
    loaded, settings = niah.loaded, niah.settings
    keys = niah.keys()[:cells]
    groups, scores = [], []
    for group in niah.batches(keys):
        with ForwardCounter(loaded.model) as counter:
            began = time.perf_counter()
            scores += [c["score"] for c in niah.measure(group)]
            seconds = time.perf_counter() - began
        groups.append({"cells": len(group), "forwards": counter.count, "seconds": round(seconds, 3)})
    expected = settings.steps if loaded.kind == "diffusion" else settings.answer_length
    return {"model": loaded.name, "kind": loaded.kind, "device": str(loaded.device), "dtype": loaded.dtype,
            "length": settings.lengths[0], "batch_size": settings.batch_size, "steps": settings.steps,
            "answer_length": settings.answer_length, "batches": groups,
            "forwards_per_batch_expected": expected,
            "forwards_as_expected": all(g["forwards"] == expected if loaded.kind == "diffusion"
                                        else g["forwards"] <= expected for g in groups),
            "seconds_per_cell": round(sum(g["seconds"] for g in groups) / len(keys), 3),
            "mean_score": round(float(np.mean(scores)), 2)}


def truncate_layers(model, layers: int) -> None:
    """Keep the first ``layers`` decoder layers (LLaMA/Gemma/Qwen layout: ``model.model.layers``)."""
    base = getattr(model, "model", None)
    if base is None or not hasattr(base, "layers"):
        raise LongLLaDAError("layers needs a model with model.model.layers (LLaMA/Gemma/Qwen layout)",
                             parameters=("layers",))
    if not 0 < layers <= len(base.layers):
        raise LongLLaDAError(f"layers {layers}: the model has {len(base.layers)} layers", parameters=("layers",))
    del base.layers[layers:]
    model.config.num_hidden_layers = layers


def eager_bytes(loaded: LoadedModel, length: int, dtype_bytes: int) -> int:
    """What eager output_attentions keeps: layers × heads × L² probabilities."""
    config = loaded.model.config.to_dict()
    heads, layers = (int(loaded.family.value(config, quantity)[1]) for quantity in ("heads", "layers"))
    return layers * heads * length * length * dtype_bytes


def available_bytes(device) -> int:
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    with open("/proc/meminfo") as handle:
        info = dict(line.split(":", 1) for line in handle)
    return int(info["MemAvailable"].split()[0]) * 1024


def bench_attention(loaded: LoadedModel, ids: list[int], queries: str = "last:64", layers: int | None = None,
                    eager: bool = True, repeats: int = 1) -> dict:
    """Plain (the model's attention implementation), instrumented (all layers, ``queries``) and eager
    ``output_attentions`` forwards over ``ids``: times, peak memory, ratios and the largest probability difference."""
    import torch

    from .probe import AttentionProbe

    if repeats < 1:
        raise LongLLaDAError(f"repeats {repeats} must be at least 1", parameters=("repeats",))
    model, device = loaded.model, loaded.device
    if layers is not None:
        truncate_layers(model, layers)
    inputs = torch.tensor([ids], dtype=torch.long, device=device)
    dtype_bytes = next(model.parameters()).element_size()

    def plain():
        with torch.no_grad():
            model(input_ids=inputs)

    probe_holder = {}

    def instrumented():
        with AttentionProbe(loaded, queries=queries, keep_probs=eager) as probe, torch.no_grad():
            model(input_ids=inputs)
        probe_holder["stats"] = probe.stats

    with torch.no_grad():  # warm-up on a short input (kernels, allocator)
        model(input_ids=inputs[:, :64])
    results = {"length": len(ids), "queries": queries, "device": str(device), "dtype": loaded.dtype,
               "layers": model.config.num_hidden_layers, "model": loaded.name,
               "attn_implementation": getattr(model.config, "_attn_implementation", None)}
    runs = {"plain": min((measure(plain, device) for _ in range(repeats)), key=lambda m: m.seconds),
            "instrumented": min((measure(instrumented, device) for _ in range(repeats)), key=lambda m: m.seconds)}
    with AttentionProbe(loaded, queries=queries, track_memory=True) as probe, torch.no_grad():
        model(input_ids=inputs)
    results["probe_own_peak_bytes"] = int(probe.peak_bytes)
    need = eager_bytes(loaded, len(ids), 4 if dtype_bytes == 4 else dtype_bytes)
    results["eager_attention_bytes_estimate"] = need
    if eager and need < 0.6 * available_bytes(device):
        eager_holder = {}

        def eager_forward():
            model.config._attn_implementation = "eager"
            try:
                with torch.no_grad():
                    mask = None
                    if loaded.kind == "diffusion":
                        mask = torch.ones(1, 1, len(ids), len(ids), dtype=torch.bool, device=device)
                    out = model(input_ids=inputs, attention_mask=mask, output_attentions=True)
                eager_holder["probs"] = out.attentions
            finally:
                model.config._attn_implementation = results["attn_implementation"]

        runs["eager"] = measure(eager_forward, device)
        stats = probe_holder["stats"]
        diff = 0.0
        for layer, s in stats.items():
            reference = eager_holder["probs"][layer][0][:, s.queries].float().cpu().numpy()
            diff = max(diff, float(np.abs(reference - s.probs).max()))
        results["max_abs_prob_difference"] = diff
        del eager_holder
    elif not eager:
        results["eager_skipped"] = "not asked for (--no-eager)"
    else:
        results["eager_skipped"] = (f"eager output_attentions would keep {need / 2**30:.1f} GiB, more than 60 % of "
                                    f"the {available_bytes(device) / 2**30:.1f} GiB available")
    for name, m in runs.items():
        results[name] = {"seconds": round(m.seconds, 3), "peak_extra_bytes": int(m.peak_bytes)}
    results["time_ratio_instrumented_vs_plain"] = round(runs["instrumented"].seconds / runs["plain"].seconds, 3)
    extra = runs["instrumented"].peak_bytes - runs["plain"].peak_bytes
    results["probe_extra_bytes"] = int(max(0, extra))
    if "eager" in runs:
        eager_extra = max(1, runs["eager"].peak_bytes - runs["plain"].peak_bytes)
        results["memory_ratio_probe_vs_eager_extra"] = round(max(extra, probe.peak_bytes) / eager_extra, 4)
        results["time_ratio_eager_vs_plain"] = round(runs["eager"].seconds / runs["plain"].seconds, 3)
    return results
