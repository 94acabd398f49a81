"""Small models and stand-ins shared by the tests (no network, no shipped checkpoints needed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch


def tiny_twin(folder: Path, kind: str, seed: int = 0, train_length: int = 32) -> Path:
    """A randomly initialised twin (2 layers, d_model 32) saved with save_pretrained."""
    from longllada_theory.toy.model import TwinShape, build_twin

    shape = TwinShape(layers=2, hidden=32, heads=2, head_dim=16, intermediate=64, train_length=train_length)
    build_twin(kind, shape, seed).save_pretrained(folder)
    return folder


class FixedLossModel(torch.nn.Module):
    """A model whose cross-entropy on the true token at position p is ``losses[p]`` whatever is masked: the
    expectation of any unbiased masked-loss estimator of a chunk is then the chunk's mean loss."""

    def __init__(self, tokens: list[int], losses: list[float], vocab: int = 8, shift: int = 0):
        super().__init__()
        self.tokens, self.losses, self.vocab, self.shift = tokens, losses, vocab, shift

    def forward(self, input_ids, logits_to_keep=None):
        batch, length = input_ids.shape
        logits = torch.zeros(batch, length, self.vocab, dtype=torch.float64)
        for row in range(length):
            target_position = row + self.shift
            if target_position >= len(self.tokens):
                continue
            p = torch.exp(-torch.tensor(self.losses[target_position], dtype=torch.float64))
            rest = (1 - p) / (self.vocab - 1)
            probs = torch.full((self.vocab,), rest, dtype=torch.float64)
            probs[self.tokens[target_position]] = p
            logits[:, row] = probs.log()
        if logits_to_keep:
            logits = logits[:, -logits_to_keep:]
        return SimpleNamespace(logits=logits)


def fake_loaded(model, mask_token_id: int = 7, shift: int = 0, kind: str = "diffusion"):
    return SimpleNamespace(model=model, device=torch.device("cpu"), mask_token_id=mask_token_id,
                           logits_shift=shift, kind=kind, name="fake")
