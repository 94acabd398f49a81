"""Head ablation: the outputs of chosen attention heads set to zero where the heads meet, at the input of the
attention's output projection (``o_proj``; LLaDA's own code: ``attn_out``) — the ablation by which arXiv 2404.15574
shows that retrieval heads are needed to find a needle. ``longllada niah … --ablate-heads 12.3,14.0`` measures the
drop; a run of ``longllada retrieval`` names the heads to try.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ...errors import LongLLaDAError
from .probe import _family, find_attention_modules

if TYPE_CHECKING:
    from ...models.loading import LoadedModel


def head_outputs(loaded: LoadedModel, heads: Sequence[str]) -> dict[object, list[int]]:
    """The output projection of each layer named in ``heads`` (``layer.head``) and the heads to zero there; a head
    or layer the model does not have is one error."""
    if not heads:
        return {}
    family = _family(loaded)
    modules = find_attention_modules(loaded.model, family.projections)
    count = int(family.value(loaded.model.config.to_dict(), "heads")[1])
    chosen: dict[object, list[int]] = {}
    for text in heads:
        layer, head = (int(x) for x in text.split("."))
        if not (0 <= layer < len(modules) and 0 <= head < count):
            raise LongLLaDAError(f"head {text} does not exist: {loaded.name} has {len(modules)} layers (0–"
                                 f"{len(modules) - 1}) of {count} heads (0–{count - 1})", parameters=("ablate_heads",))
        name, attention = modules[layer]
        found = [getattr(attention, n) for n in family.output_projections if hasattr(attention, n)]
        if not found:
            raise LongLLaDAError(f"cannot ablate heads of {loaded.name}: its attention {name} has no output "
                                 f"projection named {' or '.join(family.output_projections)}",
                                 parameters=("ablate_heads",))
        chosen.setdefault(found[0], []).append(head)
    return chosen


@contextmanager
def heads_ablated(loaded: LoadedModel, heads: Sequence[str] | None) -> Iterator[None]:
    """Within the block, the heads ``heads`` (``layer.head``) contribute nothing: a pre-hook on each output
    projection zeroes their slices [h·d_head, (h+1)·d_head) of its input (None or empty: no change)."""
    handles = []
    width = loaded.spec.head_dim
    for projection, chosen in head_outputs(loaded, heads or ()).items():
        def zero(module, args, chosen=tuple(chosen)):
            x = args[0].clone()
            for head in chosen:
                x[..., head * width:(head + 1) * width] = 0
            return (x, *args[1:])
        handles.append(projection.register_forward_pre_hook(zero))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
