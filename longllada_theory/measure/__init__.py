"""Measurements: the protocol registry and its one runner (:mod:`.protocol`), results files (:mod:`.results`), and
one module per protocol — perplexity (:mod:`.perplexity`), needle in a haystack (:mod:`.niah`), a RULER-style task
suite (:mod:`.ruler`), attention
(:mod:`.attention`, with the probe in :mod:`.probe` and its statistics in :mod:`.reducers`) — plus their inputs
(:mod:`.texts`, :mod:`.needles`) and samplers (:mod:`.sampling`). Importing it does not import torch."""

from . import attention, niah, perplexity, retrieval, ruler  # noqa: F401  (registers the built-in protocols)
from .protocol import PROTOCOLS, Protocol, register_protocol, run

__all__ = ["PROTOCOLS", "Protocol", "register_protocol", "run"]
