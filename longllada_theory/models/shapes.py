"""Randomly initialised models with the shapes of real ones, for speed and memory measurements without their
weights (``longllada bench attention --llada-shaped``, the GPU protocol)."""

from __future__ import annotations

from .loading import LoadedModel, check_device
from .native import llada_config, make_bidirectional
from .presets import find_preset
from .spec import spec_from_config


def llada_shaped(device: str = "cuda", layers: int = 32, dtype: str = "bfloat16", seed: int = 0,
                 **shape: int) -> LoadedModel:
    """A randomly initialised LLaDA-8B: the LLaDA-8B-Base preset's config (d_model 4096, 32 heads of 128, MLP 12288,
    vocabulary 126464, rope_theta 5e5, T 4096) built exactly as a LLaDA checkpoint loads natively
    (:mod:`.native`: transformers' LLaMA with bidirectional attention) — LLaDA-8B's shapes, attention and logits
    cost, no weights needed. ``layers`` and ``shape`` (any LLaDA config key, e.g. ``d_model=256``) shrink it for a
    dry run on the CPU."""
    import torch
    from transformers import AutoConfig, LlamaForCausalLM

    check_device(device)
    raw = {**find_preset("llada").config, "n_layers": layers, **shape}
    config = AutoConfig.for_model(*llada_config(raw)[:1], **llada_config(raw)[1])
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    make_bidirectional(model)
    model.eval()
    spec = spec_from_config(raw, "LLaDA-8B-shaped (random)", "the LLaDA-8B-Base preset")
    return LoadedModel(model, None, spec, None, "LLaDA-8B-shaped (random weights)", torch.device(device), dtype)
