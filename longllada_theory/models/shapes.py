"""Randomly initialised models with the shapes of real ones, for speed and memory measurements without their
weights (``longllada bench attention --llada-shaped``, the GPU protocol)."""

from __future__ import annotations


def llada_shaped(device: str = "cuda", layers: int = 32, dtype: str = "bfloat16", seed: int = 0, hidden: int = 4096,
                 heads: int = 32, intermediate: int = 12288, vocab: int = 126464):
    """A randomly initialised LLaDA-8B-shaped bidirectional model (d_model 4096, 32 heads of 128, MLP 12288,
    vocabulary 126464, rope_theta 5e5, T 4096) as a transformers Gemma with bidirectional attention — the same
    shapes and attention cost as LLaDA-8B, for speed and memory measurements (no weights needed). Smaller shapes
    can be asked for a dry run on the CPU."""
    import torch
    from transformers import GemmaConfig, GemmaForCausalLM

    from .loading import LoadedModel
    from .spec import spec_from_config

    config = GemmaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         head_dim=hidden // heads, max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
                         use_bidirectional_attention=True, mask_token_id=vocab - 128, logits_shift=0,
                         train_length=4096, use_cache=False)
    torch.manual_seed(seed)
    with torch.device(device):
        model = GemmaForCausalLM(config).to(getattr(torch, dtype))
    model.eval()
    spec = spec_from_config(config.to_dict(), "LLaDA-8B-shaped (random)", "generated config")
    return LoadedModel(model, None, spec, None, "LLaDA-8B-shaped (random weights)", torch.device(device), dtype)
