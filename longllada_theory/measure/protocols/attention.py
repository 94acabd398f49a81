"""Attention statistics by relative distance — local perception (the ``attention`` measurement).

One forward pass with the attention probe (:mod:`..probe.probe`) over a text, or over a needle prompt (with a diffusion
model's masked answer slots appended), gives one cell per layer: attention mass by relative distance, each query's
share within T_train, the half-mass distance, the most-attended keys, pre-softmax scores by RoPE band, and the mass
on the needle. With ``during_denoising`` a diffusion model answers the needle prompt with its sampler and each
layer's cell holds the answer positions' share within T_train and on the needle at every step
(:mod:`..probe.denoising`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

import numpy as np

from ...errors import LongLLaDAError
from ...lengths import format_length
from ...values import Length, Listing, Real, Whole
from ..inputs.needles import FORMATS, build_prompt, load_needles, needle_score, passkey_needle
from ..inputs.texts import load_text, text_ids
from ..probe.denoising import denoising_curve, denoising_distances, denoising_statistics
from ..probe.probe import find_attention_modules, instrumented_forward, parse_queries
from ..protocol import Protocol, option, register_protocol
from ..readings.pairs import pair_use, pair_use_sentence
from ..sampling import SamplerSettings


@dataclass(frozen=True)
class AttentionSettings:
    length: int = option("tokens", 4096, parse=Length())
    queries: str = option("last, last:N, sample:N, range:A-B, all, or answer (with --niah-depth)", "last:64")
    layers: tuple[int, ...] | None = option("comma-separated layer indices (default: all)", None,
                                            parse=Listing(Whole(0, 100_000)))
    heads: tuple[int, ...] | None = option("comma-separated head indices (default: all)", None,
                                           parse=Listing(Whole(0, 100_000)))
    text: str = option("text to read (ignored with --niah-depth)", "builtin:stdlib")
    text_field: str = option("field of a .jsonl text file", "text")
    map_bins: int | None = option("also store a downsampled attention map of this many bins", None,
                                  parse=Whole(1, 4096))
    niah_depth: float | None = option("instead of --text: a needle prompt with the needle at this depth (%)", None,
                                      parse=Real(0, 100))
    needles: str = option("builtin, passkey or a needles.jsonl (with --niah-depth)", "builtin")
    haystack: str = option("haystack text (with --niah-depth)", "builtin:noise")
    format: str = option("prompt layout (with --niah-depth)", "plain", choices=tuple(FORMATS))
    answer_length: int = option("masked answer tokens appended for diffusion models (with --niah-depth)", 32,
                                parse=Whole(1, 4096))
    during_denoising: bool = option("with --niah-depth, a diffusion model: answer with its sampler (as many steps as "
                                    "answer tokens) and record the answer positions' statistics at every step", False,
                                    legacy=False)
    pair_use: bool = option("also record each RoPE pair's mean query and key norm per head: which frequencies the "
                            "model uses, the critical pair marked", False, legacy=False)
    seed: int = option("random seed", 0, cli=False)

    def __post_init__(self):
        defaults = {f.name: f.default for f in fields(self)}
        needle_only = [n for n in ("needles", "haystack", "format", "answer_length")
                       if getattr(self, n) != defaults[n]]
        if needle_only and self.niah_depth is None:
            raise LongLLaDAError(f"{', '.join(needle_only)} shape a needle prompt: add niah_depth D (or leave them "
                                 "out)", parameters=tuple(needle_only))
        text_only = [n for n in ("text", "text_field") if getattr(self, n) != defaults[n]]
        if text_only and self.niah_depth is not None:
            raise LongLLaDAError(f"{', '.join(text_only)}: a needle prompt (niah_depth) reads the haystack, not a text",
                                 parameters=tuple(text_only))
        if self.during_denoising and self.niah_depth is None:
            raise LongLLaDAError("during_denoising needs a needle prompt: add niah_depth D",
                                 parameters=("during_denoising", "niah_depth"))
        if self.pair_use and self.during_denoising:
            raise LongLLaDAError("pair_use measures one forward pass; leave out during_denoising",
                                 parameters=("pair_use", "during_denoising"))
        if self.queries == "answer" and self.niah_depth is None:
            raise LongLLaDAError("queries answer needs a needle prompt: add niah_depth D",
                                 parameters=("queries", "niah_depth"))
        if self.queries != "answer":
            parse_queries(self.queries, self.length, self.seed)  # a malformed spec fails before the model loads
        if self.map_bins is not None and not 1 <= self.map_bins <= 4096:
            raise LongLLaDAError(f"map_bins {self.map_bins} must be from 1 to 4096", parameters=("map_bins",))


@register_protocol
class Attention(Protocol):
    """The probe's statistics, one cell per layer (module docstring)."""

    name = "attention"
    help = "attention statistics by relative distance (local perception)"
    description = ("One forward pass with the attention probe (hooks on the query/key projections and the model's "
                   "RoPE; no output_attentions, no eager): attention mass by relative distance, the share within "
                   "T_train of each query, the half-mass distance, top-k positions, pre-softmax scores by RoPE band, "
                   "and the mass on a needle. One cell per layer.")
    settings_type = AttentionSettings
    refused_by = "no_probe"

    @classmethod
    def read_inputs(cls, settings: AttentionSettings):
        if settings.niah_depth is None:
            return load_text(settings.text, settings.text_field)
        needles = "passkey" if settings.needles == "passkey" else load_needles(
            None if settings.needles == "builtin" else settings.needles)
        return needles, load_text(settings.haystack)

    def prepare(self) -> None:
        s, loaded = self.settings, self.loaded
        self.needle_span = None
        self.query_spec = s.queries
        if s.niah_depth is None:
            self.ids = text_ids(loaded, s.text, s.length, s.text_field)
            return
        needles, haystack = self.inputs
        needle = passkey_needle(random.Random(s.seed)) if needles == "passkey" else needles[0]
        if s.during_denoising and loaded.kind != "diffusion":
            raise LongLLaDAError(f"{loaded.name} is an AR model; during_denoising needs a diffusion model",
                                 parameters=("during_denoising",))
        self.needle = needle
        answer_length = s.answer_length if loaded.kind == "diffusion" else 0
        budget = s.length - len(loaded.prefix_ids) - answer_length
        prompt = build_prompt(loaded.tokenizer, loaded.tokenizer.encode(haystack[: 8 * s.length]), needle, budget,
                              s.niah_depth, FORMATS[s.format])
        self.ids = loaded.prefix_ids + prompt.ids + [loaded.mask_token_id] * answer_length
        offset = len(loaded.prefix_ids)
        self.needle_span = (offset + prompt.needle_start, offset + prompt.needle_end)
        if s.queries == "answer":
            self.query_spec = (list(range(len(self.ids) - answer_length, len(self.ids))) if answer_length
                               else [len(self.ids) - 1])

    def derived(self) -> dict:
        return {"tokens": len(self.ids), "needle_span": self.needle_span}

    def keys(self) -> list[str]:
        count = len(find_attention_modules(self.loaded.model, self.loaded.family.projections))
        return [f"layer{layer}" for layer in (self.settings.layers if self.settings.layers is not None
                                              else range(count))]

    def batches(self, keys: list[str]) -> list[list[str]]:
        return [keys] if keys else []  # one forward pass gives every layer

    def measure(self, keys: list[str]) -> list[dict]:
        s = self.settings
        layers = [int(k[len("layer"):]) for k in keys]
        if s.during_denoising:
            options = SamplerSettings(answer_length=s.answer_length).resolved(self.loaded).sampler_options()
            answer, steps = denoising_statistics(self.loaded, self.ids[:len(self.ids) - s.answer_length], options,
                                                 s.seed, layers=layers, heads=s.heads, needle=self.needle_span)
            text = self.loaded.tokenizer.decode(answer)
            return [{"key": f"layer{layer}", "layer": layer, "answer": text,
                     "score": round(needle_score(text, self.needle), 4), "steps": steps[layer]} for layer in layers]
        stats = instrumented_forward(self.loaded, self.ids, layers=layers,
                                     heads=s.heads, queries=self.query_spec, needle=self.needle_span,
                                     map_bins=s.map_bins, seed=s.seed, pair_use=s.pair_use)
        return [stats[layer].to_cell() for layer in sorted(stats)]

    @classmethod
    def summarize(cls, settings: dict, cells: list[dict]) -> dict:
        cells = sorted(cells, key=lambda c: c["layer"])
        common = {"length": settings.get("tokens", settings["length"]), "train_length": settings["train_length"]}
        if settings.get("during_denoising"):
            curve = denoising_curve(cells)
            steps = [{k: (int(v[i]) if k in ("step", "masked") else None if np.isnan(v[i])
                          else round(float(v[i]), 4)) for k, v in curve.items()} for i in range(len(curve["step"]))]
            forward = {}
            if all("sinks" in row for c in cells for row in c["steps"]):  # runs of this version keep them
                distances = denoising_distances(cells, settings["tokens"])
                after = len(distances["edges"]) - 1  # the first column of keys after the query
                for row, masked, sinks in zip(steps, distances["masked"], distances["sinks"], strict=True):
                    row["sink"], row["sink_mass"] = sinks[0][0], round(sinks[0][1], 4)
                    row["forward_masked"] = None if np.isnan(masked[0]) else round(float(masked[after:].sum()), 4)
                forward = {"forward_share": float(np.nanmean([np.nan if r["forward_masked"] is None
                                                              else r["forward_masked"] for r in steps]))}
            return {**common, "answer": cells[0]["answer"], "score": cells[0]["score"],
                    "share_within_T": float(np.nanmean(curve["local_masked"])),
                    "needle_share": float(np.nanmean(curve["needle_masked"])), **forward, "steps": steps}
        pairs = {"pairs": pair_use(settings, cells)} if settings.get("pair_use") else {}
        return {**common, "share_within_T": float(np.mean([np.mean(c["local"]) for c in cells])), "layers": [
            {"layer": c["layer"], "local": round(float(np.mean(c["local"])), 4),
             "half_distance": float(np.median(c["half_distance"])),
             **({"needle": round(float(np.mean(c["needle"])), 4)} if "needle" in c else {})} for c in cells], **pairs}

    @classmethod
    def result(cls, summary: dict) -> str:
        if "steps" in summary:
            forward = (f", on keys after them {summary['forward_share']:.3f}" if "forward_share" in summary else "")
            return (f"during denoising at {format_length(summary['length'])}: masked answer positions' share within "
                    f"T {summary['share_within_T']:.3f}, on the needle {summary['needle_share']:.4f}{forward} (mean "
                    f"over steps, layers, heads); answer score {summary['score']:.0f}")
        pairs = summary.get("pairs")
        return (f"share of attention within T at {format_length(summary['length'])}: {summary['share_within_T']:.3f} "
                "(mean over layers and heads)" + (f"; {pair_use_sentence(pairs)}" if pairs else ""))

    @classmethod
    def describe(cls, summary: dict) -> str:
        if "steps" in summary:
            lines = [f"answer {summary['answer']!r} (score {summary['score']:.0f}); by sampler step, the answer "
                     f"positions still masked: their share of attention within T_train = {summary['train_length']} "
                     "and on the needle (mean over layers and heads)"]
            lines += [f"  step {row['step']:>3}: {row['masked']:>3} masked  within T {row['local_masked']:.3f}"
                      + (f"  on the needle {row['needle_masked']:.4f}" if row["needle_masked"] is not None else "")
                      + (f"  after them {row['forward_masked']:.3f}" if row.get("forward_masked") is not None else "")
                      + (f"  top sink: position {row['sink']} ({row['sink_mass']:.3f})" if "sink" in row else "")
                      for row in summary["steps"]]
            return "\n".join(lines)
        lines = [f"share of attention within T_train = {summary['train_length']} of each query (local), median "
                 "distance holding half the mass:"]
        for row in summary["layers"]:
            lines.append(f"  layer {row['layer']:>3}: local {row['local']:.3f}  half-mass distance "
                         f"{row['half_distance']:.0f}" + (f"  on the needle {row['needle']:.3f}" if "needle" in row
                                                          else ""))
        if summary.get("pairs"):
            lines.append(pair_use_sentence(summary["pairs"]))
        return "\n".join(lines)
