"""The twins' own measurements, on the library's runner: the perplexity of the last window of held-out text at
a context length (:class:`LastWindowPerplexity`) and passkey retrieval in held-out text (:class:`TwinRetrieval`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import LongLLaDAError
from ..measure.inputs.texts import load_corpus
from ..measure.protocol import Protocol, option
from ..measure.protocols.niah import NeedleInAHaystack, NiahSettings
from ..measure.protocols.perplexity import perplexity_cells
from ..measure.results import cell_seed


@dataclass(frozen=True)
class WindowSettings:
    length: int = option("context length", 0, cli=False, header=False)  # in every key: one file for all lengths
    chunk: int = option("chunk size", 32, cli=False)
    mc: int = option("Monte-Carlo samples per chunk", 8, cli=False)
    segments: int = option("held-out segments per length", 8, cli=False, header=False)  # keys name the segment
    span: int = option("tokens of each held-out segment; length L reads its last L", 4096, cli=False)
    masks: str = option("Monte-Carlo masks counted from", "window", cli=False)
    seed: int = option("random seed", 0, cli=False)
    corpus: str = option("digest of the standard-library corpus", "", cli=False)


class LastWindowPerplexity(Protocol):
    """Perplexity of the last T tokens but their first chunk, for the last ``length`` tokens of ``segments`` held-out
    segments of ``span`` tokens, each chunk given its full prefix; keys ``L{length}/S{segment}/{chunk start}``.
    Every length scores the same text — each segment's last T − chunk tokens — with more or less context before it,
    and a diffusion twin's Monte-Carlo masks are the same at every length (counted from the window's start), so
    values at different lengths differ by the context alone."""

    name = "twin-ppl"
    help = "the twins' last-window perplexity"
    settings_type = WindowSettings

    @property
    def score_from(self) -> int:
        return self.settings.length - self.loaded.spec.train_length + self.settings.chunk

    def segment_ids(self, segment: int) -> list[int]:
        s, heldout = self.settings, load_corpus().heldout
        if not s.length <= s.span <= len(heldout):
            raise LongLLaDAError(f"length {s.length} must lie within the segment span {s.span} (at most "
                                 f"{len(heldout)}, the held-out corpus)")
        start = np.random.default_rng(cell_seed(s.seed, f"segment:{segment}")).integers(0, len(heldout) - s.span)
        end = start + s.span
        return heldout[end - s.length:end].tolist()

    def keys(self) -> list[str]:
        s = self.settings
        starts = range(self.score_from, s.length, s.chunk)
        return [f"L{s.length}/S{segment}/{lo}" for segment in range(s.segments) for lo in starts]

    def batches(self, keys: list[str]) -> list[list[str]]:
        """One segment per batch (one forward pass for an AR twin)."""
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(key.rsplit("/", 1)[0], []).append(key)
        return list(groups.values())

    def measure(self, keys: list[str]) -> list[dict]:
        s = self.settings
        prefix = keys[0].rsplit("/", 1)[0] + "/"
        cells = perplexity_cells(self.loaded, self.segment_ids(int(prefix.split("/")[1][1:])), s.chunk, s.mc,
                                 seed=s.seed, score_from=self.score_from, key_prefix=prefix,
                                 origin=s.length - self.loaded.spec.train_length)
        return [c for c in cells if c["key"] in set(keys)]

    @classmethod
    def summarize(cls, settings: dict, cells: list[dict]) -> dict:
        """By length: the last window's perplexity exp(mean over segments of each segment's token-weighted mean loss)
        and the standard error of its log across the segments."""
        segments: dict[str, dict[str, list[dict]]] = {}
        for cell in cells:
            length, segment, _ = cell["key"].split("/")
            segments.setdefault(length[1:], {}).setdefault(segment, []).append(cell)
        by_length = {}
        for length, by_segment in segments.items():
            losses = np.array([sum(c["loss"] * c["tokens"] for c in mine) / sum(c["tokens"] for c in mine)
                               for mine in by_segment.values()])
            by_length[length] = {"ppl": math.exp(losses.mean()), "segments": len(losses),
                                 "log_se": float(losses.std(ddof=1) / math.sqrt(len(losses)))}
        return {"by_length": by_length}


@dataclass(frozen=True)
class TwinRetrievalSettings(NiahSettings):
    """NIAH's settings, with the length and the samples per cell out of the header: the keys name both, so every
    length and sample count of one twin shares one results file."""

    lengths: tuple[int, ...] = option("context lengths", (128,), cli=False, header=False)
    needles_per_cell: int | None = option("passkeys per length × depth", None, cli=False, header=False)


class TwinRetrieval(NeedleInAHaystack):
    """Passkey cells on the held-out corpus (its bytes are the haystack ids)."""

    name = "twin-niah"
    settings_type = TwinRetrievalSettings

    @classmethod
    def read_inputs(cls, settings):
        return "passkey", load_corpus().digest

    def prepare(self) -> None:
        self.cell_inputs = (load_corpus().heldout.tolist(), "passkey")

