"""Which layers a RoPE plan reaches: per kind of layer, how many there are, whether they rotate by RoPE, and how far
back they can look — read from a config as transformers' config classes lay the layers out.

A RoPE scaling changes the angles of every layer that uses RoPE, but it only matters where a layer compares positions
farther apart than it was trained on:

- ``full_attention`` layers with RoPE: the plan applies;
- ``sliding_attention`` (window w) and ``chunked_attention`` (chunks of c) layers rotate by RoPE but never compare
  positions more than w (or c) apart — within the pre-training length, nothing a plan changes is new to them;
- layers without RoPE (NoPE: Llama 4's and SmolLM3's ``no_rope_layers``, EXAONE 4's global layers when it has
  sliding ones) and ``linear_attention`` layers (Qwen3-Next / Qwen3.5's Gated DeltaNet) use no rotary angles at all.

Layouts read (as each config class's ``__post_init__`` derives them when a file leaves them out): the file's
``layer_types``; ``no_rope_layers`` or a NoPE layer every ``no_rope_layer_interval`` layers (Llama 4, SmolLM3);
``attention_chunk_size`` on Llama 4's RoPE layers; ``sliding_window_pattern`` (Gemma 3, EXAONE 4);
``full_attention_interval`` (Qwen3-Next, Qwen3.5).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..errors import LongLLaDAError
from .reading import ConfigView

#: model types whose class puts a NoPE layer every ``no_rope_layer_interval`` layers when the file lists none
NOPE_INTERVAL_TYPES = ("llama4_text", "smollm3")
#: model types whose full-attention layers skip RoPE when the model has sliding-window layers (EXAONE 4's code:
#: RoPE where ``sliding_window is None or is_sliding``)
NOPE_GLOBAL_TYPES = ("exaone4",)
#: model types whose class lays out linear-attention layers with one full-attention layer every
#: ``full_attention_interval`` layers
LINEAR_INTERVAL_TYPES = ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text")


@dataclass(frozen=True)
class LayerGroup:
    """The layers of one kind."""

    kind: str                 # full_attention, sliding_attention, chunked_attention, linear_attention, …
    layers: int
    rope: bool
    window: int | None = None  # how far back a query looks, where attention is limited

    def to_dict(self) -> dict:
        return {"kind": self.kind, "layers": self.layers, "rope": self.rope, "window": self.window}


#: more layers than any model has: a config beyond it is refused
MAX_LAYERS = 100_000


def _count(view: ConfigView) -> int | None:
    value = view.get("num_hidden_layers")
    if value is None:
        value = view.raw.get("n_layers")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_LAYERS:
        raise LongLLaDAError(f"{view.source}: num_hidden_layers = {str(value)[:40]!r} is not a number of layers "
                             f"(1 to {MAX_LAYERS})")
    return value


def _uses_rope(view: ConfigView, layers: int) -> list[bool]:
    listed = view.raw.get("no_rope_layers")
    if isinstance(listed, list) and listed:
        return [bool(flag) for flag in listed[:layers]]
    if view.model_type in NOPE_INTERVAL_TYPES:
        interval = view.raw.get("no_rope_layer_interval") or 4
        return [bool((i + 1) % interval) for i in range(layers)]
    return [True] * layers


def _kinds(view: ConfigView, layers: int, rope: list[bool]) -> list[str]:
    listed = view.raw.get("layer_types")
    if listed is not None and (not isinstance(listed, list) or not all(isinstance(k, str) for k in listed)):
        raise LongLLaDAError(f"{view.source}: layer_types = {str(listed)[:40]!r} is not a list of layer kinds")
    if isinstance(listed, list) and len(listed) >= layers:
        return [str(kind) for kind in listed[:layers]]
    if view.model_type == "llama4_text" and view.get("attention_chunk_size"):
        return ["chunked_attention" if uses else "full_attention" for uses in rope]
    pattern = view.raw.get("sliding_window_pattern")
    if isinstance(pattern, int) and not isinstance(pattern, bool) and pattern > 1 and view.raw.get("sliding_window"):
        return ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(layers)]
    if view.model_type in LINEAR_INTERVAL_TYPES:
        interval = view.raw.get("full_attention_interval") or 4
        return ["linear_attention" if (i + 1) % interval else "full_attention" for i in range(layers)]
    return ["full_attention"] * layers


def _window(view: ConfigView, kind: str) -> int | None:
    key = {"sliding_attention": "sliding_window", "chunked_attention": "attention_chunk_size"}.get(kind)
    value = view.get(key) if key else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1 << 40:
        raise LongLLaDAError(f"{view.source}: {key} = {str(value)[:40]!r} is not a window length")
    return int(value)


def layer_groups(view: ConfigView) -> list[LayerGroup]:
    """The language model's layers grouped by (kind, RoPE), in order of first appearance; empty where the config
    does not say how many layers there are."""
    layers = _count(view)
    if layers is None:
        return []
    rope = _uses_rope(view, layers)
    kinds = _kinds(view, layers, rope)
    if view.model_type in NOPE_GLOBAL_TYPES and "sliding_attention" in kinds:
        rope = [uses and kind == "sliding_attention" for uses, kind in zip(rope, kinds)]
    rope = [uses and kind != "linear_attention" for uses, kind in zip(rope, kinds)]
    counts = Counter(zip(kinds, rope))
    return [LayerGroup(kind, counts[(kind, uses)], uses, _window(view, kind))
            for kind, uses in dict.fromkeys(zip(kinds, rope))]


def describe(groups: list[LayerGroup], train_length: int, shared: bool) -> list[str]:
    """One sentence per group that a plan does not fully reach, and one for a model where no RoPE layer looks
    farther back than the pre-training length (then no RoPE scaling extends its context). ``shared``: one RoPE
    setting serves every layer, so a plan changes the windowed layers' angles too."""
    total = sum(g.layers for g in groups)
    notes = []
    for g in groups:
        share = f"{g.layers} of {total} layers"
        if g.kind == "linear_attention":
            notes.append(f"{share} are linear attention: no RoPE, no plan reaches them")
        elif not g.rope:
            notes.append(f"{share} ({g.kind}) use no RoPE (NoPE): no plan reaches them")
        elif g.window is not None:
            where = "within" if g.window <= train_length else "beyond"
            also = "; the plan changes their angles too (one RoPE setting for every layer)" if shared else ""
            notes.append(f"{share} are {g.kind.replace('_', ' ')} (window {g.window}): they never compare positions "
                         f"more than {g.window} apart, {where} the pre-training length {train_length}{also}")
    unlimited = [g for g in groups if g.rope and g.window is None]
    if groups and not unlimited:
        farthest = max((g.window for g in groups if g.rope and g.window), default=0)
        notes.append(f"no layer with RoPE compares positions more than {farthest} apart: RoPE scaling does not "
                     "extend this model's context (its long-range layers use no rotary angles)")
    return notes
