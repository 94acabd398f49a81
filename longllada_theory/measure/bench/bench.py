"""Benchmarks that print measured ratios (never timing assertions in tests):

- ``longllada bench attention``: the attention probe's cost against a plain forward and against eager
  ``output_attentions=True`` on the same model and input;
- ``longllada bench ppl``: the diffusion perplexity estimator, batched and stratified, against a loop of one
  independent sample per forward, at the same number of sequences through the model: spread and time;
- ``longllada bench niah``: forward passes and seconds per NIAH answer (the diffusion sampler must take exactly
  ``steps`` forwards per batch of answers).

Time: every command times with :func:`time_interleaved` — a warm-up of each side, then the sides in turn (A B A B …)
so that both sides of a pair run under the same load — wall time (``time.perf_counter``) and the process's CPU time
(``time.process_time``: user + system time of all its threads; with several threads it exceeds the wall time).
A ratio is given two ways from the same rounds (:func:`time_ratio`): the median of the per-round ratios and the
ratio of the minima.

Memory: measured in runs of their own, never timed and never holding anything for another measurement — the
probe's run keeps no probabilities; the eager comparison is a separate pass after the measured runs. Each peak
(:class:`~longllada_theory.measure.bench.memory.PeakMemory`) is relative to the memory in use before the run: on the CPU
the resident set (which includes freed memory the C allocator keeps) and the tensor bytes (storages created and
held, no allocator in the count); on a GPU the CUDA allocator's counter. The whole instrumented forward's peak is
often the plain forward's (the output logits dominate), so the probe's own peak is also recorded: the most its
statistics take at once, in any layer. Where eager attention over all layers cannot fit (it keeps layers × heads ×
L² probabilities), the comparison runs on the first ``layers`` layers of the model for all three variants — the
output says so.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import LongLLaDAError
from ..probe.probe import AttentionProbe
from ..protocols.perplexity import diffusion_chunk_samples
from .memory import PeakMemory, describe

if TYPE_CHECKING:
    from ...models.loading import LoadedModel

CLOCKS = ("wall: time.perf_counter; cpu: time.process_time (user + system time of all the process's threads, "
          "so above the wall time when several threads work)")


@dataclass
class Timings:
    """The timed runs of one side, in order: wall and CPU seconds, and what each run returned."""
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    values: list = field(default_factory=list)

    def summary(self) -> dict:
        """Median and min wall seconds, median CPU seconds, and every run's (for the ratios to be recomputed)."""
        return {"runs": len(self.wall), "median_seconds": round(statistics.median(self.wall), 4),
                "min_seconds": round(min(self.wall), 4), "median_cpu_seconds": round(statistics.median(self.cpu), 4),
                "wall_seconds": [round(x, 9) for x in self.wall], "cpu_seconds": [round(x, 9) for x in self.cpu]}


def _timed(fn: Callable[[], Any], device=None) -> tuple[float, float, Any]:
    """One run of ``fn()``: wall seconds, CPU seconds, its value (on CUDA synchronised before and after)."""
    cuda = getattr(device, "type", None) == "cuda"
    if cuda:
        import torch
        torch.cuda.synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    if cuda:
        torch.cuda.synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu, value


def time_interleaved(sides: Mapping[str, Callable[[], Any]], repeats: int, device=None,
                     warmup: int = 1) -> dict[str, Timings]:
    """Run each side ``warmup`` times untimed, then all sides in turn ``repeats`` times (A B A B … for two sides),
    timing every run: its wall time (``time.perf_counter``) and the process's CPU time (``time.process_time``).
    Interleaving gives both sides of a round the same machine load, so per-round ratios cancel slow drifts."""
    if not sides:
        raise LongLLaDAError("time_interleaved needs at least one side to time")
    if repeats < 1 or warmup < 0:
        raise LongLLaDAError(f"repeats {repeats} must be at least 1 and warmup {warmup} at least 0",
                             parameters=("repeats", "warmup"))
    for _ in range(warmup):
        for fn in sides.values():
            fn()
    timings = {name: Timings() for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            wall, cpu, value = _timed(fn, device)
            timings[name].wall.append(wall)
            timings[name].cpu.append(cpu)
            timings[name].values.append(value)
    return timings


def time_ratio(numerator: Timings, denominator: Timings) -> dict:
    """numerator / denominator from the same rounds, two ways: the median of the per-round ratios (round i's run of
    one side against round i's of the other, under the same load) and the ratio of the two minima."""
    if len(numerator.wall) != len(denominator.wall):
        raise LongLLaDAError(f"time_ratio needs the same rounds: {len(numerator.wall)} runs against "
                             f"{len(denominator.wall)}")
    pairs = [a / max(b, 1e-12) for a, b in zip(numerator.wall, denominator.wall)]
    return {"median_of_pairs": round(statistics.median(pairs), 4),
            "of_minima": round(min(numerator.wall) / max(min(denominator.wall), 1e-12), 4), "pairs": len(pairs)}


@dataclass
class Measurement:
    seconds: float
    peak_bytes: int  # above the memory in use before the pass


def measure(fn, device) -> Measurement:
    """Run ``fn()`` once: its wall time and peak extra memory in the same run (for scripts that size a forward,
    e.g. ``scripts/gpu_protocol.py``; the bench commands time with :func:`time_interleaved` and measure memory in
    runs of their own)."""
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
    with PeakMemory(device) as peak:
        seconds, _, _ = _timed(fn, device)
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
    and ``sequential`` (one forward per sample, each mask size drawn independently), timed in turn
    (:func:`time_interleaved`; round r uses seed + r + 1, seed itself warms up). The spread (standard deviation over
    repeats) is the estimator's real standard error; the ratios compare the two. ``memory``: the peak of one batched
    estimate computing only the scored logits (the package's) against projecting every position to the vocabulary
    (what a forward without ``logits_to_keep`` does), each in a run of its own."""
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

    def estimate(options: dict) -> Callable[[], tuple[float, int]]:
        seeds = iter(range(seed, seed + repeats + 1))

        def run() -> tuple[float, int]:
            with ForwardCounter(loaded.model) as counter:
                value = float(diffusion_chunk_samples(loaded, ids, start, end, mc, seed=next(seeds), **options).mean())
            return value, counter.count
        return run

    timings = time_interleaved({name: estimate(options) for name, options in ways.items()}, repeats, loaded.device)
    results = {"model": loaded.name, "device": str(loaded.device), "dtype": loaded.dtype, "length": len(ids),
               "chunk": chunk, "mc": mc, "repeats": repeats,
               "timing": {"order": "batched, sequential in turn, after one warm-up of each", "clocks": CLOCKS}}
    for name, timing in timings.items():
        estimates = [value for value, _ in timing.values]
        summary = timing.summary()
        results[name] = {"forwards_per_estimate": sum(count for _, count in timing.values) / repeats,
                         "sequences_per_estimate": mc,
                         "seconds_per_estimate": summary["median_seconds"],
                         "min_seconds_per_estimate": summary["min_seconds"],
                         "cpu_seconds_per_estimate": summary["median_cpu_seconds"],
                         "wall_seconds": summary["wall_seconds"], "cpu_seconds": summary["cpu_seconds"],
                         "mean_loss": round(statistics.fmean(estimates), 5),
                         "standard_error": round(statistics.stdev(estimates), 5)}
    peaks = {}
    cpu = loaded.device.type == "cpu"
    for name, all_logits in (("scored_logits", False), ("all_logits", True)):
        with PeakMemory(loaded.device, tensors=cpu) as peaks[name]:
            diffusion_chunk_samples(loaded, ids, start, end, mc, seed=seed, all_logits=all_logits)
    results["memory"] = {f"{name}_peak_bytes": int(peak.bytes) for name, peak in peaks.items()}
    if cpu:
        results["memory"].update({f"{name}_peak_tensor_bytes": int(peak.tensor_bytes) for name, peak in peaks.items()})
    results["memory_measured"] = describe(loaded.device, tensors=cpu)
    results["memory_ratio_scored_vs_all_logits"] = round(peaks["scored_logits"].bytes
                                                         / max(peaks["all_logits"].bytes, 1), 4)
    if cpu:
        results["memory_ratio_scored_vs_all_logits_tensors"] = round(
            peaks["scored_logits"].tensor_bytes / max(peaks["all_logits"].tensor_bytes, 1), 4)
    batched, sequential = results["batched"], results["sequential"]
    results["se_ratio_batched_vs_sequential"] = round(batched["standard_error"] / sequential["standard_error"], 3)
    ratio = time_ratio(timings["batched"], timings["sequential"])
    results["time_ratio_batched_vs_sequential"] = ratio["median_of_pairs"]
    results["time_ratio_batched_vs_sequential_of_minima"] = ratio["of_minima"]
    return results


def bench_niah(niah, cells: int = 4) -> dict:
    """Answer the first ``cells`` cells of a NIAH run (a :class:`~..protocols.niah.NeedleInAHaystack` protocol) in its
    settings' batches, each batch timed once (:func:`time_interleaved`, one side, no warm-up: the first batch pays
    it): forward passes, wall and CPU seconds. A diffusion model must take exactly ``steps`` forwards per batch (no
    hidden passes); an AR model one prefill plus one per generated token at most."""
    if cells < 1:
        raise LongLLaDAError(f"cells {cells} must be at least 1", parameters=("cells",))
    loaded, settings = niah.loaded, niah.settings
    keys = niah.keys()[:cells]
    groups, scores = [], []
    for group in niah.batches(keys):
        def answer(group=group) -> tuple[list[dict], int]:
            with ForwardCounter(loaded.model) as counter:
                answered = niah.measure(group)
            return answered, counter.count

        timing = time_interleaved({"batch": answer}, 1, loaded.device, warmup=0)["batch"]
        answered, forwards = timing.values[0]
        scores += [c["score"] for c in answered]
        groups.append({"cells": len(group), "forwards": forwards, "seconds": round(timing.wall[0], 3),
                       "cpu_seconds": round(timing.cpu[0], 3)})
    expected = settings.steps if loaded.kind == "diffusion" else settings.answer_length
    return {"model": loaded.name, "kind": loaded.kind, "device": str(loaded.device), "dtype": loaded.dtype,
            "length": settings.lengths[0], "batch_size": settings.batch_size, "steps": settings.steps,
            "answer_length": settings.answer_length, "batches": groups,
            "forwards_per_batch_expected": expected,
            "forwards_as_expected": all(g["forwards"] == expected if loaded.kind == "diffusion"
                                        else g["forwards"] <= expected for g in groups),
            "seconds_per_cell": round(sum(g["seconds"] for g in groups) / len(keys), 3),
            "cpu_seconds_per_cell": round(sum(g["cpu_seconds"] for g in groups) / len(keys), 3),
            "timing": {"order": "each batch once, no warm-up", "clocks": CLOCKS},
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


def _probe_window(probe, window, own: dict) -> list:
    """Hooks that measure the probe's own peak with a :class:`~.memory.TensorBytes` counter: the probe computes a
    layer's statistics in a forward hook on the key projection, so a hook placed before it marks the counter and one
    placed after it reads the most held since the mark (``own["bytes"]``, the largest over layers)."""
    def start(*_):
        window.mark()

    def stop(*_):
        own["bytes"] = max(own["bytes"], window.since_mark())

    handles = []
    for layer in probe.layers:
        key = getattr(probe.modules[layer][1], probe.projections[1])
        handles += [key.register_forward_hook(start, prepend=True), key.register_forward_hook(stop)]
    return handles


def _memory_ratio(probe: int, eager: int) -> float | None:
    """probe / eager extra bytes; None where eager's extra is not positive (too small to measure: no ratio)."""
    return round(probe / eager, 4) if eager > 0 else None


def _variants(timings: dict[str, Timings], memory: dict[str, PeakMemory]) -> dict:
    """Each variant's times and peak memory, and the time ratios to plain (from the same rounds)."""
    results = {}
    for name, timing in timings.items():
        summary = timing.summary()  # "seconds": the median (with one round, the run: as before interleaving)
        results[name] = {"seconds": summary["median_seconds"], **summary, "peak_extra_bytes": int(memory[name].bytes)}
        if memory[name].tensor_bytes is not None:
            results[name]["peak_extra_tensor_bytes"] = int(memory[name].tensor_bytes)
    ratios = {f"{name}_vs_plain": time_ratio(timings[name], timings["plain"]) for name in timings if name != "plain"}
    results["time_ratios"] = ratios
    for name, ratio in ratios.items():
        results[f"time_ratio_{name}"] = ratio["median_of_pairs"]
    return results


def _probe_memory(memory: dict[str, PeakMemory], own_peak: int, own_tensor_peak: int | None) -> dict:
    """The probe's extra peak over the plain forward's and its ratio to eager's extra, each variant measured alone;
    in resident (or CUDA) bytes, and in tensor bytes where they were counted. The probe's side of a ratio is the
    larger of its extra and its own peak (the forward's peak is often the logits', which the probe does not raise)."""
    def extra(name: str, attribute: str) -> int:
        return getattr(memory[name], attribute) - getattr(memory["plain"], attribute)

    results = {"probe_extra_bytes": int(max(0, extra("instrumented", "bytes")))}
    if own_tensor_peak is not None:
        results["probe_extra_tensor_bytes"] = int(max(0, extra("instrumented", "tensor_bytes")))
        results["probe_own_peak_tensor_bytes"] = int(own_tensor_peak)
    if "eager" in memory:
        results["memory_ratio_probe_vs_eager_extra"] = _memory_ratio(
            max(extra("instrumented", "bytes"), own_peak), extra("eager", "bytes"))
        if own_tensor_peak is not None:
            results["memory_ratio_probe_vs_eager_extra_tensors"] = _memory_ratio(
                max(extra("instrumented", "tensor_bytes"), own_tensor_peak), extra("eager", "tensor_bytes"))
    return results


def _eager_choice(loaded: LoadedModel, length: int, eager: bool, device, dtype_bytes: int) -> tuple[bool, dict]:
    """Whether to run eager ``output_attentions`` (asked for, and its probabilities fit in 60 % of the memory
    available), with its estimated size and why it was skipped."""
    need = eager_bytes(loaded, length, 4 if dtype_bytes == 4 else dtype_bytes)
    available = available_bytes(device)
    info: dict = {"eager_attention_bytes_estimate": need}
    with_eager = eager and need < 0.6 * available
    if not with_eager:
        info["eager_skipped"] = "not asked for (--no-eager)" if not eager else (
            f"eager output_attentions would keep {need / 2**30:.1f} GiB, more than 60 % of the "
            f"{available / 2**30:.1f} GiB available")
    return with_eager, info


def bench_attention(loaded: LoadedModel, ids: list[int], queries: str = "last:64", layers: int | None = None,
                    eager: bool = True, repeats: int = 3) -> dict:
    """Plain (the model's attention implementation), instrumented (the probe on all layers, ``queries``) and eager
    ``output_attentions`` forwards over ``ids``. Time: the variants in turn, ``repeats`` rounds after a warm-up of
    each (:func:`time_interleaved`); ratios to plain by :func:`time_ratio`. Memory: one untimed run of each variant
    alone — the probe's keeps no probabilities —, then a run for the probe's own peak. Exactness: after the measured
    runs, a separate pass of the probe keeping its probabilities, compared with the eager run's."""
    import torch

    if repeats < 1:
        raise LongLLaDAError(f"repeats {repeats} must be at least 1", parameters=("repeats",))
    model, device = loaded.model, loaded.device
    if layers is not None:
        truncate_layers(model, layers)
    inputs = torch.tensor([ids], dtype=torch.long, device=device)
    dtype_bytes = next(model.parameters()).element_size()
    implementation = getattr(model.config, "_attn_implementation", None)
    cpu = device.type == "cpu"

    def plain() -> None:
        with torch.no_grad():
            model(input_ids=inputs)

    def instrumented(keep_probs: bool = False, window=None, own: dict | None = None) -> AttentionProbe:
        with AttentionProbe(loaded, queries=queries, keep_probs=keep_probs) as probe, torch.no_grad():
            handles = _probe_window(probe, window, own) if window is not None else []
            try:
                model(input_ids=inputs)
            finally:
                for handle in handles:
                    handle.remove()
        return probe

    def eager_forward():
        model.config._attn_implementation = "eager"
        try:
            with torch.no_grad():
                mask = None
                if loaded.kind == "diffusion":
                    mask = torch.ones(1, 1, len(ids), len(ids), dtype=torch.bool, device=device)
                return model(input_ids=inputs, attention_mask=mask, output_attentions=True).attentions
        finally:
            model.config._attn_implementation = implementation

    results = {"length": len(ids), "queries": queries, "device": str(device), "dtype": loaded.dtype,
               "layers": model.config.num_hidden_layers, "model": loaded.name, "attn_implementation": implementation}
    with_eager, eager_info = _eager_choice(loaded, len(ids), eager, device, dtype_bytes)
    results.update(eager_info)
    # a timed run keeps nothing: `and None` drops the probe and the probabilities before the next run
    sides = {"plain": plain, "instrumented": lambda: instrumented() and None}
    sides |= {"eager": lambda: eager_forward() and None} if with_eager else {}
    timings = time_interleaved(sides, repeats, device)
    results["timing"] = {"rounds": repeats, "order": ", ".join(sides) + " in turn, after one warm-up of each",
                         "clocks": CLOCKS}

    memory, own = {}, {"bytes": 0}
    with PeakMemory(device, tensors=cpu) as memory["plain"]:
        plain()
    with PeakMemory(device, tensors=cpu) as memory["instrumented"]:
        instrumented(window=memory["instrumented"].tensors, own=own)
    with AttentionProbe(loaded, queries=queries, track_memory=True) as probe, torch.no_grad():
        model(input_ids=inputs)
    results["probe_own_peak_bytes"] = int(probe.peak_bytes)
    if with_eager:
        with PeakMemory(device, tensors=cpu) as memory["eager"]:
            attentions = eager_forward()
        stats = instrumented(keep_probs=True).stats  # the comparison: a pass of its own, outside every measured run
        results["max_abs_prob_difference"] = max(
            float(np.abs(attentions[layer][0][:, s.queries].float().cpu().numpy() - s.probs).max())
            for layer, s in stats.items())
        del attentions, stats

    results["memory_measured"] = describe(device, tensors=cpu)
    results.update(_variants(timings, memory))
    results.update(_probe_memory(memory, results["probe_own_peak_bytes"], own["bytes"] if cpu else None))
    return results
