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

from typing import Sequence

import numpy as np

from .errors import LongLLaDAError

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


def diffusion_generate(loaded, prompt: Sequence[int], gen_length: int = 32, block_length: int = 32,
                       steps: int = 32, temperature: float = 0.0, remasking: str = "low_confidence",
                       seed: int = 0) -> list[int]:
    """Fill ``gen_length`` masked tokens after ``prompt`` (see module docstring); returns the answer's ids."""
    import torch

    from .models import forward_logits

    if remasking not in REMASKING:
        raise LongLLaDAError(f"remasking {remasking!r} is unknown; expected one of {', '.join(REMASKING)}")
    if loaded.mask_token_id is None:
        raise LongLLaDAError(f"{loaded.name} has no mask token id; the diffusion sampler needs one")
    per_block = check_sampler(gen_length, block_length, steps)
    mask = loaded.mask_token_id
    shift = loaded.logits_shift
    generator = torch.Generator().manual_seed(seed)
    x = torch.tensor([list(prompt) + [mask] * gen_length], dtype=torch.long, device=loaded.device)
    start = len(prompt)
    for block in range(gen_length // block_length):
        lo, hi = start + block * block_length, start + (block + 1) * block_length
        schedule = transfer_schedule(int((x[0, lo:hi] == mask).sum()), per_block)
        for count in schedule:
            logits = forward_logits(loaded.model, x, keep_last=gen_length + shift)[0].double()
            logits = logits[:gen_length] if shift else logits  # row j predicts answer position j
            if temperature > 0:
                u = torch.rand(logits.shape, generator=generator, dtype=torch.float64).to(logits.device)
                guess = (logits / temperature - torch.log(-torch.log(u.clamp_min(1e-300)))).argmax(-1)
            else:
                guess = logits.argmax(-1)
            if remasking == "low_confidence":
                confidence = torch.softmax(logits, -1).gather(-1, guess[:, None])[:, 0]
            else:
                confidence = torch.rand(gen_length, generator=generator, dtype=torch.float64).to(logits.device)
            answer = x[0, start:]
            open_ = answer == mask
            open_[: lo - start] = False
            open_[hi - start:] = False
            confidence = torch.where(open_, confidence, torch.tensor(-np.inf, dtype=torch.float64, device=logits.device))
            if count:
                chosen = confidence.topk(count).indices
                answer[chosen] = guess[chosen]
    return x[0, start:].tolist()


def greedy_generate(loaded, prompt: Sequence[int], max_new_tokens: int = 32) -> list[int]:
    """Greedy decoding with the KV cache (transformers ``generate``)."""
    import torch

    from transformers.utils import logging

    inputs = torch.tensor([list(prompt)], dtype=torch.long, device=loaded.device)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # prompts longer than max_position_embeddings are the point here, not a mistake
    try:
        with torch.no_grad():
            out = loaded.model.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=max_new_tokens,
                                        do_sample=False, use_cache=True, pad_token_id=_pad_id(loaded))
    finally:
        logging.set_verbosity(verbosity)
    return out[0, len(prompt):].tolist()


def _pad_id(loaded) -> int:
    config = loaded.model.config
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(config, name, None)
        if isinstance(value, list):
            value = value[0]
        if value is not None:
            return int(value)
    return 0


def answer(loaded, prompt: Sequence[int], gen_length: int = 32, block_length: int = 32, steps: int = 32,
           temperature: float = 0.0, seed: int = 0) -> list[int]:
    """The model's answer after ``prompt``: the diffusion sampler or greedy decoding, by the model's kind."""
    if loaded.kind == "diffusion":
        return diffusion_generate(loaded, prompt, gen_length, block_length, steps, temperature, seed=seed)
    return greedy_generate(loaded, prompt, gen_length)
