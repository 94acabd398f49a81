"""Answers from a model: LLaDA's low-confidence remasking sampler for masked-diffusion models, greedy decoding for
AR models — one implementation each, used by the NIAH grid, the twins and the notebooks.

LLaDA's sampler (Nie et al. 2025, arXiv 2502.09992, Algorithm "low-confidence remasking"; the paper's
``generate.py``): the answer starts as ``gen_length`` [MASK] tokens, split into blocks of ``block_length`` filled
left to right; each block gets steps // blocks steps; at every step the model predicts all masked tokens, and the
``n`` most confident predictions of the current block are kept (n = masked tokens in the block / remaining steps,
the remainder spread over the first steps). Temperature τ > 0 draws by Gumbel-max, argmax(logits/τ + g) — the
same as the paper's exp(logits)/(−log u)^τ. ``remasking="random"`` keeps random positions instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LongLLaDAError

if TYPE_CHECKING:
    from ..models.loading import LoadedModel

REMASKING = ("low_confidence", "random")


def transfer_schedule(masked: int, steps: int) -> list[int]:
    """How many tokens to unmask at each of ``steps`` steps: masked // steps each, the remainder to the first."""
    base, remainder = divmod(masked, steps)
    return [base + (1 if i < remainder else 0) for i in range(steps)]


def check_sampler(gen_length: int, block_length: int, steps: int) -> int:
    """Validate the sampler's lengths; returns the steps per block."""
    if gen_length <= 0 or block_length <= 0 or steps <= 0:
        raise LongLLaDAError("answer length, block length and steps must be positive")
    if gen_length % block_length:
        raise LongLLaDAError(f"answer length {gen_length} must be a multiple of the block length {block_length}")
    blocks = gen_length // block_length
    if steps % blocks:
        raise LongLLaDAError(f"steps {steps} must be a multiple of the number of blocks ({blocks})")
    return steps // blocks


def diffusion_generate(loaded: LoadedModel, prompts: Sequence[Sequence[int]], gen_length: int = 32,
                       block_length: int = 32, steps: int = 32, temperature: float = 0.0,
                       remasking: str = "low_confidence", seeds: Sequence[int] | None = None) -> list[list[int]]:
    """Fill ``gen_length`` masked tokens after each prompt (see module docstring); returns each answer's ids.

    The prompts (all of one length) go through the model as one batch; row r draws its noise from its own
    generator seeded with ``seeds[r]``, so a row's answer does not depend on the others in the batch."""
    import torch

    from ..models.loading import forward_logits

    if remasking not in REMASKING:
        raise LongLLaDAError(f"remasking {remasking!r} is unknown; expected one of {', '.join(REMASKING)}")
    if loaded.mask_token_id is None:
        raise LongLLaDAError(f"{loaded.name} has no mask token id; the diffusion sampler needs one")
    if len({len(p) for p in prompts}) != 1:
        raise LongLLaDAError("a batch of prompts for the diffusion sampler must share one length")
    per_block = check_sampler(gen_length, block_length, steps)
    mask, shift = loaded.mask_token_id, loaded.logits_shift
    generators = [torch.Generator().manual_seed(int(s)) for s in (seeds or [0] * len(prompts))]
    x = torch.tensor([list(p) + [mask] * gen_length for p in prompts], dtype=torch.long, device=loaded.device)
    start = len(prompts[0])
    rows = torch.arange(len(prompts), device=loaded.device)[:, None]
    for block in range(gen_length // block_length):
        lo, hi = block * block_length, (block + 1) * block_length
        for count in transfer_schedule(block_length, per_block):
            logits = forward_logits(loaded.model, x, keep_last=gen_length + shift).double()
            logits = logits[:, :gen_length]  # row j predicts answer position j (shift 1: the last row is unused)
            logits[..., mask] = -np.inf  # [MASK] is never a prediction (trained models never give it weight)
            if temperature > 0:
                u = torch.stack([torch.rand(logits.shape[1:], generator=g, dtype=torch.float64) for g in generators])
                guess = (logits / temperature - torch.log(-torch.log(u.to(logits.device).clamp_min(1e-300)))).argmax(-1)
            else:
                guess = logits.argmax(-1)
            if remasking == "low_confidence":
                confidence = torch.softmax(logits, -1).gather(-1, guess[..., None])[..., 0]
            else:
                confidence = torch.stack([torch.rand(gen_length, generator=g, dtype=torch.float64)
                                          for g in generators]).to(logits.device)
            answer = x[:, start:]
            open_ = answer == mask
            open_[:, :lo] = False
            open_[:, hi:] = False
            confidence = torch.where(open_, confidence, torch.full_like(confidence, -np.inf))
            if count:
                chosen = confidence.topk(count, dim=-1).indices
                answer[rows, chosen] = guess[rows, chosen]
    return x[:, start:].tolist()


def greedy_generate(loaded: LoadedModel, prompts: Sequence[Sequence[int]], max_new_tokens: int = 32) -> list[list[int]]:
    """Greedy decoding with the KV cache (transformers ``generate``), prompts of one length in one batch."""
    import torch
    from transformers.utils import logging

    if len({len(p) for p in prompts}) != 1:
        raise LongLLaDAError("a batch of prompts for greedy decoding must share one length")
    inputs = torch.tensor([list(p) for p in prompts], dtype=torch.long, device=loaded.device)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # prompts longer than max_position_embeddings are the point here, not a mistake
    try:
        with torch.no_grad():
            out = loaded.model.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=max_new_tokens,
                                        do_sample=False, use_cache=True, pad_token_id=_pad_id(loaded))
    finally:
        logging.set_verbosity(verbosity)
    return out[:, inputs.shape[1]:].tolist()


def _pad_id(loaded: LoadedModel) -> int:
    config = loaded.model.config
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(config, name, None)
        if isinstance(value, list):
            value = value[0]
        if value is not None:
            return int(value)
    return 0


#: sampler name (a model family's ``sampler``) → function (loaded, prompts, gen_length, block_length, steps,
#: temperature, seeds) → answers
SAMPLERS: dict[str, Callable[..., list[list[int]]]] = {
    "greedy": lambda loaded, prompts, gen_length, block_length, steps, temperature, seeds:
        greedy_generate(loaded, prompts, gen_length),
    "low_confidence": lambda loaded, prompts, gen_length, block_length, steps, temperature, seeds:
        diffusion_generate(loaded, prompts, gen_length, block_length, steps, temperature, seeds=seeds),
}


def sampler_name(loaded: LoadedModel) -> str:
    """The sampler a model answers with: greedy for AR models; for diffusion models their family's sampler
    (low-confidence remasking unless the family names another)."""
    if loaded.kind != "diffusion":
        return "greedy"
    name = getattr(getattr(loaded, "family", None), "sampler", "auto")
    return "low_confidence" if name == "auto" else name


def answers(loaded: LoadedModel, prompts: Sequence[Sequence[int]], gen_length: int = 32, block_length: int = 32,
            steps: int = 32, temperature: float = 0.0, seeds: Sequence[int] | None = None) -> list[list[int]]:
    """The model's answers after prompts of one length, in one batch, by its sampler (:func:`sampler_name`)."""
    return SAMPLERS[sampler_name(loaded)](loaded, prompts, gen_length, block_length, steps, temperature, seeds)
