"""Measurements. The core: the protocol registry and its one runner (:mod:`.protocol`), results files
(:mod:`.results`), statistics (:mod:`.stats`) and the samplers that answer (:mod:`.sampling`). Then, one folder per
kind of part: the measurements themselves, one module per protocol (:mod:`.protocols`); what they read — texts,
needles (:mod:`.inputs`); the attention probe, its statistics, the probe over denoising steps and head ablation
(:mod:`.probe`); readings of finished runs — local perception, RoPE pair use, the mask-count sweep
(:mod:`.readings`); the benchmarks of speed and memory (:mod:`.bench`). Importing it does not import torch."""

from .protocol import PROTOCOLS, Protocol, register_protocol, run
from .protocols import attention, niah, perplexity, retrieval, ruler  # noqa: F401  (registers the built-in protocols)

__all__ = ["PROTOCOLS", "Protocol", "register_protocol", "run"]
