"""The twins' architecture: a tiny transformers ``GemmaForCausalLM`` (RMSNorm, gated MLP, RoPE from
``config.rope_parameters``, LLaMA-style ``q_proj``/``k_proj``/``v_proj``/``o_proj``). The AR twin has causal
attention; the diffusion twins set Gemma's ``use_bidirectional_attention``. Nothing else differs, so the same
loading, NTK patching and attention hooks serve the twins and real models.

RoPE geometry like LLaDA-8B's: LLaDA (head dim 128, base 500000, T = 4096) has critical dimension 64 of 128 — half
of its rotary pairs complete a turn within T — and an extrapolation bound 2π·b^(1/2) = 1.08 T. The twins' 16 pairs
per head with base 500 and T = 128 give the same: critical dimension 16 of 32, bound 1.10 T.

Extra config keys the package reads: ``mask_token_id``, ``logits_shift`` (1: the logits at position i predict
token i+1 — the AR convention, kept by the diffusion twin adapted from the AR twin, as Dream kept Qwen2.5's; 0 for
the diffusion twin trained from scratch, as LLaDA), ``train_length`` (the twins' pre-training length) and
``byte_level`` (the tokenizer is UTF-8 bytes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .data import MASK_ID, PAD_ID, VOCAB_SIZE


@dataclass(frozen=True)
class TwinShape:
    layers: int = 2
    hidden: int = 128
    heads: int = 4
    head_dim: int = 32
    intermediate: int = 352
    rope_theta: float = 500.0
    train_length: int = 128


def twin_config(kind: str, shape: TwinShape = TwinShape(), logits_shift: int | None = None):
    """A twin's config; ``logits_shift`` defaults to 1 for the AR twin and 0 for a diffusion twin (LLaDA's)."""
    from transformers import GemmaConfig

    if kind not in ("ar", "diffusion"):
        raise ValueError(f"twin kind {kind!r}: expected ar or diffusion")
    return GemmaConfig(
        vocab_size=VOCAB_SIZE, hidden_size=shape.hidden, intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers, num_attention_heads=shape.heads, num_key_value_heads=shape.heads,
        head_dim=shape.head_dim, max_position_embeddings=shape.train_length,
        rope_parameters={"rope_type": "default", "rope_theta": shape.rope_theta},
        use_bidirectional_attention=(kind == "diffusion"), pad_token_id=PAD_ID, bos_token_id=PAD_ID,
        eos_token_id=PAD_ID, tie_word_embeddings=True, use_cache=False,
        mask_token_id=MASK_ID, logits_shift=(1 if kind == "ar" else 0) if logits_shift is None else logits_shift,
        train_length=shape.train_length, byte_level=True, twin=kind,
        twin_shape=asdict(shape))


def build_twin(kind: str, shape: TwinShape = TwinShape(), seed: int = 0):
    import torch
    from transformers import GemmaForCausalLM

    torch.manual_seed(seed)
    return GemmaForCausalLM(twin_config(kind, shape))
