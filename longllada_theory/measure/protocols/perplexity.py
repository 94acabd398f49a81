"""Perplexity against context length (the paper's Figure 1a protocol; the ``ppl`` measurement).

The text is cut into chunks of ``chunk`` tokens; chunk k is scored given chunks 0 … k−1 as a clean prefix, and the
curve reports the running geometric mean of chunk perplexities.

- AR models: next-token cross-entropy, all chunks from one forward pass (the output head is applied slice by
  slice, so a 16k-token pass never holds a 16k × vocabulary logit matrix).
- Masked-diffusion models: a Monte-Carlo estimate of the masked-token loss of chunk k given its prefix, which is
  never masked (:func:`diffusion_chunk_samples`). The MC samples go through the model as one batch (or in batches
  of ``mc_batch``).

Protocols (``--protocol``): ``paper`` is LongLLaDA's ``ppl/get_ppl_llada.py`` — each of the 8 samples draws its mask
count independently; ``package`` spreads the counts evenly over the samples as LLaDA's ``get_log_likelihood.py``
does — the same expectation; ``longllada bench ppl`` measured its standard error at 0.95–0.98 of the paper protocol's
with 8 samples, no meaningful reduction. AR perplexity is the same under both.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from ...errors import LongLLaDAError
from ...lengths import format_length
from ...models.loading import forward_logits
from ...reference import reference_curve
from ...values import Length, Whole
from ..inputs.texts import load_text
from ..protocol import Protocol, option, register_protocol
from ..results import cell_seed
from ..stats import series_se

if TYPE_CHECKING:
    from ...models.loading import LoadedModel
    from ...reference import Reference

ESTIMATORS = ("paper", "elbo")
PROTOCOL_VARIANTS = ("paper", "package")  # the --protocol setting: whose protocol runs (not the Protocol class)


class ChunkCell(TypedDict, total=False):
    """One scored chunk: tokens [start, end), its mean loss (nats per token) and, for the Monte-Carlo estimate, the
    standard error and the per-sample values."""

    key: str
    start: int
    end: int
    tokens: int
    loss: float
    se: float
    samples: list[float]
ELBO_EPSILON = 1e-3


def stratified_mask_counts(n: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """LLaDA's stratified mask sizes (``forward_process`` of ``get_log_likelihood.py`` over a batch of b): k ~ U{1..n};
    sample s masks round(k + s·n/b) tokens, wrapped into 1..n. The b counts are spread evenly over 1..n, so b samples
    cover the mask ratios better than b independent draws (LongLLaDA's batch of one, ``stratify=False``)."""
    k = int(rng.integers(1, n + 1))
    counts = np.round(np.linspace(k, k + (samples - 1) * n / samples, samples)).astype(int)
    return (counts - 1) % n + 1


def _sample_masks(n: int, samples: int, estimator: str, rng: np.random.Generator,
                  stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks [samples, n] and per-sample weights (see :func:`diffusion_chunk_samples`). Without
    ``stratify`` every sample draws its mask size (or t) independently."""
    masks = np.zeros((samples, n), dtype=bool)
    if estimator == "paper":
        counts = stratified_mask_counts(n, samples, rng) if stratify else rng.integers(1, n + 1, size=samples)
        for s, count in enumerate(counts):
            masks[s, rng.permutation(n)[:count]] = True
        return masks, np.ones(samples)
    offsets = (rng.uniform() + np.arange(samples) / samples) % 1.0 if stratify else rng.uniform(size=samples)
    t = ELBO_EPSILON + (1 - ELBO_EPSILON) * (1.0 - offsets)  # stratified in (ε, 1]
    masks = rng.uniform(size=(samples, n)) < t[:, None]
    return masks, 1.0 / t


def diffusion_chunk_samples(loaded: LoadedModel, ids: Sequence[int], start: int, end: int, mc: int = 8,
                            estimator: str = "paper", seed: int = 0, mc_batch: int | None = None,
                            stratify: bool = True, all_logits: bool = False, origin: int = 0) -> np.ndarray:
    """Per-sample losses (nats per token) of chunk ``ids[start:end]`` given the clean prefix ``ids[:start]``.

    ``estimator="paper"`` (LongLLaDA's ``get_ppl_llada.py``): sample s masks m_s tokens of the chunk at random
    positions — m_s ~ U{1..n} drawn independently per sample (``stratify=False``, LongLLaDA's protocol) or spread
    over the samples as in :func:`stratified_mask_counts` (``stratify=True``, LLaDA's); its value is the mean
    cross-entropy over its masked tokens. The quantity estimated is

        E_{m ~ U{1..n}} E_{|M| = m} [ (1/m) Σ_{i∈M} −log p_θ(x_i | x_{chunk∖M}, prefix) ],

    which is exactly LLaDA's discrete-time likelihood bound per token, (1/n)·E_m[(n/m) Σ_{i∈M} −log p_θ(…)] (the
    L/num_masked weighting of LLaDA's ``get_log_likelihood``): exp of it is an upper bound on the chunk's perplexity.

    ``estimator="elbo"``: LLaDA's continuous-time training objective per token — t ~ U(ε, 1] (stratified over the
    samples), each token masked independently with probability t, value (1/(t·n)) Σ_{i∈M} −log p_θ(…). Both estimate
    the same quantity for any model: given t the mask count is Binomial(n, t), and ∫₀¹ (1/t)·P(|M| = m | t) dt = 1/m,
    so the ELBO's expectation is (1/n)·Σ_m E[Σ_{i∈M} −log p_θ | |M| = m]/m — the paper estimator's (up to the ε
    truncation of t). That is LLaDA's likelihood bound, not a chunk's loss at any one masking: the two coincide only
    for a model whose predictions ignore what else is masked.

    The chunk's perplexity is exp(mean of the samples); the tests check both expectations under both ways of drawing
    the counts. ``all_logits=True`` projects every position to the vocabulary, as a model that cannot be told which
    logits are scored would (the benchmark's memory baseline). The masks are drawn from ``seed`` and the chunk's
    bounds counted from ``origin``: the same chunk relative to ``origin`` gets the same masks.
    """
    import torch
    import torch.nn.functional as F

    if estimator not in ESTIMATORS:
        raise LongLLaDAError(f"estimator {estimator!r} is unknown; expected one of {', '.join(ESTIMATORS)}")
    if loaded.mask_token_id is None:
        raise LongLLaDAError(f"{loaded.name} has no mask token id; a masked-diffusion estimate needs one")
    shift = loaded.logits_shift
    first = max(start, shift)  # with a logits shift, position 0 has no logit that predicts it
    n = end - first
    if n <= 0:
        raise LongLLaDAError(f"chunk [{start}, {end}) has no scorable token")
    rng = np.random.default_rng(cell_seed(seed, f"mc:{start - origin}:{end - origin}"))
    masks, weights = _sample_masks(n, mc, estimator, rng, stratify)
    sequence = torch.tensor(ids[:end], dtype=torch.long, device=loaded.device)
    targets = sequence[first:end]
    losses = np.zeros(mc)
    batch = mc_batch or mc
    for lo in range(0, mc, batch):
        block = torch.as_tensor(masks[lo:lo + batch], device=loaded.device)
        inputs = sequence.repeat(len(block), 1)
        inputs[:, first:end] = torch.where(block, loaded.mask_token_id, inputs[:, first:end])
        kept = forward_logits(loaded.model, inputs, keep_last=None if all_logits else n + shift)
        logits = kept[:, kept.shape[1] - n - shift:][:, :n]  # rows predict first … end−1
        ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.repeat(len(block)),
                             reduction="none").view(len(block), n).double().cpu().numpy()
        chosen = block.cpu().numpy()
        if estimator == "paper":
            losses[lo:lo + batch] = (ce * chosen).sum(1) / np.maximum(chosen.sum(1), 1)
        else:
            losses[lo:lo + batch] = (ce * chosen).sum(1) * weights[lo:lo + batch] / n
    return losses


def ar_token_losses(loaded: LoadedModel, ids: Sequence[int], slice_tokens: int = 1024) -> np.ndarray:
    """Next-token losses: entry t is −log p(x_{t+1} | x_≤t), for t = 0 … len−2, from one forward pass."""
    import torch
    import torch.nn.functional as F

    model = loaded.model
    inputs = torch.tensor([list(ids)], dtype=torch.long, device=loaded.device)
    targets = inputs[0, 1:]
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    base = getattr(model, "base_model", None)
    losses = []
    with torch.no_grad():
        hidden = None
        if head is not None and base is not None and base is not model:
            out = base(input_ids=inputs)
            hidden = getattr(out, "last_hidden_state", None)
        if hidden is None:
            logits = model(input_ids=inputs).logits[0, :-1]
            return F.cross_entropy(logits.float(), targets, reduction="none").double().cpu().numpy()
        cap = getattr(model.config, "final_logit_softcapping", None)
        for lo in range(0, len(ids) - 1, slice_tokens):
            logits = head(hidden[0, lo:min(lo + slice_tokens, len(ids) - 1)]).float()
            if cap:
                logits = cap * torch.tanh(logits / cap)
            losses.append(F.cross_entropy(logits, targets[lo:lo + slice_tokens], reduction="none"))
    return torch.cat(losses).double().cpu().numpy()


def chunk_bounds(length: int, chunk: int, origin: int = 0) -> list[tuple[int, int]]:
    """[start, end) of each chunk of ``chunk`` tokens, on a grid through ``origin`` (the first and last chunks may be
    shorter)."""
    if chunk <= 0:
        raise LongLLaDAError(f"chunk {chunk} must be a positive number of tokens", parameters=("chunk",))
    starts = sorted({0, *range(origin % chunk, length, chunk)})
    return list(zip(starts, [*starts[1:], length]))


def perplexity_cells(loaded: LoadedModel, ids: Sequence[int], chunk: int = 64, mc: int = 8, estimator: str = "paper",
                     seed: int = 0, score_from: int = 0, mc_batch: int | None = None,
                     key_prefix: str = "", stratify: bool = True, origin: int = 0) -> list[ChunkCell]:
    """One cell dict per chunk of ``ids`` that starts at or after ``score_from`` (chunks are laid from
    ``score_from``): ``{key, start, end, tokens, loss, se, samples?}``. Diffusion models skip chunk 0, which has no
    prefix (as the paper does); ``stratify`` chooses how their mask counts are drawn
    (:func:`diffusion_chunk_samples`)."""
    diffusion = loaded.kind == "diffusion"
    todo = [(lo, hi) for lo, hi in chunk_bounds(len(ids), chunk, score_from)
            if lo >= score_from and not (diffusion and lo == 0)]
    if not todo:
        return []
    if not diffusion:
        token_losses = ar_token_losses(loaded, ids[:todo[-1][1]])
        return [{"key": f"{key_prefix}{lo}", "start": lo, "end": hi, "tokens": hi - max(lo, 1),
                 "loss": float(token_losses[max(lo, 1) - 1:hi - 1].mean()), "se": 0.0} for lo, hi in todo]
    cells = []
    for lo, hi in todo:
        samples = diffusion_chunk_samples(loaded, ids, lo, hi, mc, estimator, seed, mc_batch, stratify,
                                          origin=origin)
        cells.append({"key": f"{key_prefix}{lo}", "start": lo, "end": hi, "tokens": hi - max(lo, loaded.logits_shift),
                      "loss": float(samples.mean()),
                      "se": float(samples.std(ddof=1) / math.sqrt(mc)) if mc > 1 else 0.0,
                      "samples": [round(float(x), 6) for x in samples]})
    return cells


def perplexity_curve(cells: Iterable[ChunkCell]) -> dict[str, np.ndarray]:
    """From chunk cells: chunk ends, chunk perplexity, running geometric mean (the paper's curve) and its standard
    error on the log scale (MC error only), sorted by position."""
    cells = sorted(cells, key=lambda c: c["start"])
    loss = np.array([c["loss"] for c in cells])
    se = np.array([c.get("se", 0.0) for c in cells])
    count = np.arange(1, len(cells) + 1)
    running = np.cumsum(loss) / count
    return {"end": np.array([c["end"] for c in cells]), "chunk_ppl": np.exp(loss), "running_ppl": np.exp(running),
            "running_log_se": np.sqrt(np.cumsum(se ** 2)) / count}


def window_perplexity(cells: Iterable[ChunkCell], window: int) -> dict[str, np.ndarray]:
    """Perplexity of consecutive windows of ``window`` tokens (token-weighted mean of chunk losses inside each; the
    last ends where the run ends, so a 4k run on a model with an 8k window has one window, to 4k) and
    its standard error on the log scale: the spread of the window's chunk losses / √chunks, widened for the lag-1
    autocorrelation of consecutive chunks (:func:`~..stats.series_se`) — how much the value depends on which text
    fell in the window; it includes the Monte-Carlo error of diffusion estimates."""
    cells = list(cells)
    starts = np.array([c["start"] for c in cells])
    ends = np.array([c["end"] for c in cells])
    loss = np.array([c["loss"] for c in cells])
    tokens = np.array([c["tokens"] for c in cells])
    edges = np.arange(0, starts.max() + window, window) if len(cells) else np.array([0])
    out_end, out_ppl, out_se = [], [], []
    for lo in edges:
        inside = (starts >= lo) & (starts < lo + window)
        if inside.any():
            out_end.append(min(lo + window, int(ends[inside].max())))  # a window the run did not fill ends with it
            out_ppl.append(math.exp(float((loss[inside] * tokens[inside]).sum() / tokens[inside].sum())))
            out_se.append(series_se(loss[inside])["se"])
    return {"end": np.array(out_end), "ppl": np.array(out_ppl), "log_se": np.array(out_se)}


def paired_log_ratio(cells: Iterable[ChunkCell], baseline: Iterable[ChunkCell], start: int, end: int) -> dict:
    """How two runs on the same text differ over tokens [start, end): the mean difference of their chunk losses
    (the log of the perplexity ratio) with its paired standard error — chunk by chunk, so the text's own difficulty
    cancels; the differences of consecutive chunks are correlated, so the SE is widened for their lag-1
    autocorrelation (:func:`~..stats.series_se`). {"ratio", "log_ratio", "se", "chunks", "rho"}."""
    own, base = ({c["start"]: c["loss"] for c in run if start <= c["start"] < end} for run in (cells, baseline))
    common = sorted(set(own) & set(base))
    if not common:
        raise LongLLaDAError(f"the two runs share no chunks in [{start}, {end})")
    summary = series_se([own[k] - base[k] for k in common])
    return {"ratio": math.exp(summary["mean"]), "log_ratio": summary["mean"], "se": summary["se"],
            "chunks": summary["n"], "rho": summary["rho"]}


def perplexity_comparison(runs: dict[str, list[ChunkCell]], baseline: str, window: int) -> list[dict]:
    """Runs on the same text side by side, one row per run and window of ``window`` tokens: the window's perplexity
    with its standard error (:func:`window_perplexity`) and its ratio to the ``baseline`` run's (``ratio``), paired
    chunk by chunk (:func:`paired_log_ratio`)."""
    rows = []
    for name, cells in runs.items():
        windows = window_perplexity(cells, window)
        for end, ppl, log_se in zip(windows["end"], windows["ppl"], windows["log_se"]):
            paired = paired_log_ratio(cells, runs[baseline], int(end) - window, int(end))
            rows.append({"run": name, "window": f"{format_length(int(end) - window)}–{format_length(int(end))}",
                         "ppl": float(ppl), "log_se": float(log_se), "ratio": paired["ratio"],
                         "log_ratio_se": paired["se"]})
    return rows


@dataclass(frozen=True)
class PerplexitySettings:
    text: str = option("a .txt, a .jsonl (see --text-field) or builtin:stdlib", "builtin:stdlib")
    text_field: str = option("field of a .jsonl text file", "text")
    max_length: int = option("tokens to score", 16384, parse=Length())
    chunk: int = option("chunk size in tokens (the paper's: 64)", 64, parse=Whole(1, 1 << 20))
    mc: int = option("Monte-Carlo samples per chunk for diffusion models", 8, parse=Whole(1, 100_000))
    mc_batch: int | None = option("samples per forward pass (default: all in one)", None, parse=Whole(1, 100_000))
    estimator: str = option("paper: the mean loss over the masked tokens (LongLLaDA's); elbo: LLaDA's 1/t-weighted "
                            "loss", "paper", choices=ESTIMATORS)
    protocol: str = option("paper: LongLLaDA's, each Monte-Carlo sample draws its mask count independently; package: "
                           "the counts spread over the samples as LLaDA's get_log_likelihood (same expectation; bench "
                           "ppl measured 0.95-0.98 of the paper's standard error at 8 samples)", "paper",
                           choices=PROTOCOL_VARIANTS, legacy="package")
    window: int | None = option("also report perplexity per window of this many tokens (default: T_train)", None,
                                parse=Length())
    seed: int = option("random seed", 0, cli=False)

    def __post_init__(self):
        if self.chunk <= 0:
            raise LongLLaDAError(f"chunk {self.chunk} must be a positive number of tokens", parameters=("chunk",))
        if self.chunk >= self.max_length:
            raise LongLLaDAError(f"chunk {self.chunk} must be smaller than max_length {self.max_length}: a diffusion "
                                 "model scores a chunk given the ones before it", parameters=("chunk", "max_length"))
        for name in ("mc", "mc_batch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise LongLLaDAError(f"{name} {value} must be at least 1", parameters=(name,))
        if self.max_length % self.chunk:
            low = self.max_length - self.max_length % self.chunk
            raise LongLLaDAError(f"max_length {self.max_length} is not a multiple of chunk {self.chunk}; use {low} or "
                                 f"{low + self.chunk}", parameters=("max_length", "chunk"))


@register_protocol
class Perplexity(Protocol):
    """Perplexity of a text in chunks, each given all earlier chunks as a clean prefix (module docstring)."""

    name = "ppl"
    paper_figures = ("figure1a",)
    help = "perplexity against context length (the paper's Figure 1a protocol)"
    description = ("Perplexity of a text in chunks, each given all earlier chunks as a clean prefix: next-token loss "
                   "for AR models, the Monte-Carlo masked-token estimate for diffusion models. Every chunk is "
                   "appended to the results file as it finishes.")
    settings_type = PerplexitySettings
    refused_by = "no_likelihood"

    @classmethod
    def read_inputs(cls, settings: PerplexitySettings) -> str:
        return load_text(settings.text, settings.text_field)

    @property
    def diffusion(self) -> bool:
        return self.loaded.kind == "diffusion"

    def prepare(self) -> None:
        s = self.settings
        defaults = PerplexitySettings()
        monte_carlo = [n for n in ("mc", "mc_batch", "estimator", "protocol") if getattr(s, n) != getattr(defaults, n)]
        if monte_carlo and not self.diffusion:
            raise LongLLaDAError(f"{', '.join(monte_carlo)}: the Monte-Carlo estimate is for diffusion models; "
                                 f"{self.loaded.name} is scored by its exact next-token loss",
                                 parameters=tuple(monte_carlo))
        ids = self.loaded.prefix_ids + self.loaded.tokenizer.encode(self.inputs)
        if len(ids) < s.max_length:
            raise LongLLaDAError(f"the text {s.text} has {len(ids)} tokens in this model's tokenizer, fewer than "
                                 f"max_length {s.max_length}", parameters=("max_length",))
        self.ids = ids[:s.max_length]

    def derived(self) -> dict:
        return {"tokens_sha256": hashlib.sha256(str(self.ids).encode()).hexdigest()[:16]}

    def keys(self) -> list[str]:
        return [str(lo) for lo, _ in chunk_bounds(self.settings.max_length, self.settings.chunk)
                if not (self.diffusion and lo == 0)]

    def batches(self, keys: list[str]) -> list[list[str]]:
        """AR: every chunk from one forward pass; diffusion: one chunk (its Monte-Carlo samples) per batch."""
        if not self.diffusion:
            return [keys] if keys else []
        return super().batches(keys)

    def measure(self, keys: list[str]) -> list[dict]:
        s = self.settings
        first, last = int(keys[0]), int(keys[-1])
        cells = perplexity_cells(self.loaded, self.ids[:min(last + s.chunk, s.max_length)], s.chunk, s.mc,
                                 s.estimator, s.seed, score_from=first, mc_batch=s.mc_batch,
                                 stratify=s.protocol == "package")
        return [c for c in cells if c["key"] in set(keys)]

    @classmethod
    def summarize(cls, settings: dict, cells: list[dict]) -> dict:
        curve = perplexity_curve(cells)
        window = settings.get("window") or settings["train_length"]
        windows = window_perplexity(cells, window)
        return {"kind": settings["kind"],
                "final_running_ppl": float(curve["running_ppl"][-1]) if len(cells) else None,
                "final_running_log_se": float(curve["running_log_se"][-1]) if len(cells) else None,
                "final_position": int(curve["end"][-1]) if len(cells) else None, "window": window,
                "window_ppl": {int(e): round(float(p), 4) for e, p in zip(windows["end"], windows["ppl"])},
                "window_log_se": {int(e): round(float(s), 4) for e, s in zip(windows["end"], windows["log_se"])}}

    @classmethod
    def result(cls, summary: dict) -> str:
        end, last = list(summary["window_ppl"].items())[-1]
        return (f"running perplexity {summary['final_running_ppl']:.3f} at {format_length(summary['final_position'])}"
                f"; last window to {format_length(end)}: {last:.3f} (log SE {summary['window_log_se'][end]:.3f})")

    @classmethod
    def compare(cls, settings: dict, cells: list[dict], reference: Reference, tolerance: float) -> dict:
        """The running perplexity at Figure 1a's positions (every 64 tokens): relative differences and the correlation
        of the log curves; reproduced when the median |relative difference| is ≤ 10 % and no position is missing."""
        curve = perplexity_curve(cells)
        ends, theirs = reference_curve(reference.model)
        ours_at = dict(zip(curve["end"].tolist(), curve["running_ppl"].tolist()))
        common = [i for i, e in enumerate(ends) if int(e) in ours_at]
        if not common:
            raise LongLLaDAError("the results share no position with the reference curve; run `longllada ppl` with "
                                 "chunk 64 on the same document", parameters=("chunk",))
        missing = [int(e) for e in ends if int(e) not in ours_at]
        ours = np.array([ours_at[int(ends[i])] for i in common])
        paper = theirs[common]
        relative = ours / paper - 1
        correlation = float(np.corrcoef(np.log(ours), np.log(paper))[0, 1]) if len(common) > 2 else float("nan")
        median = float(np.median(np.abs(relative)))
        protocol = settings.get("protocol", "package") if settings.get("kind") == "diffusion" else "next-token"
        document = {"reference": reference.name, "kind": "ppl", "protocol": protocol, "positions": len(common),
                    "positions_missing": len(missing), "median_abs_relative_difference": round(median, 4),
                    "max_abs_relative_difference": round(float(np.abs(relative).max()), 4),
                    "log_correlation": round(correlation, 4),
                    "final": {"position": int(ends[common[-1]]), "ours": round(float(ours[-1]), 3),
                              "paper": round(float(paper[-1]), 3)},
                    "reproduced": bool(median <= 0.10 and not missing),
                    "criterion": "median |relative difference| ≤ 10 % at every reference position"}
        if protocol == "package":
            document["note"] = ("this run used the package's protocol, not the paper's (--protocol paper); its "
                                "stratified mask counts estimate the same quantity with a lower variance")
        return document

    @classmethod
    def describe_comparison(cls, document: dict) -> str:
        final = document["final"]
        return (f"{document['reference']}: {document['positions']} positions, median |Δ| "
                f"{100 * document['median_abs_relative_difference']:.1f} %, log-correlation "
                f"{document['log_correlation']}; at {final['position']}: ours {final['ours']}, paper {final['paper']}")

    @classmethod
    def claims(cls, settings: dict, cells: list[dict]) -> list[dict]:
        """An AR model's perplexity explodes past T (> 2×), a diffusion model's or a scaled model's stays flat
        (≤ 1.25×): running perplexity at the largest length up to 4T over its value at T."""
        t, kind, flat = settings.get("train_length"), settings.get("kind"), settings.get("kind") == "diffusion" or bool(
            settings.get("scaling"))
        if not t or kind not in ("ar", "diffusion"):
            return []
        curve = perplexity_curve(cells)
        ends, ppl = curve["end"], curve["running_ppl"]
        reach = ends[ends <= 4 * t]
        if not len(reach) or reach[-1] < 2 * t:
            return []
        growth = float(ppl[len(reach) - 1] / np.interp(t, ends, ppl))
        return [{"claim": "perplexity stays flat past T" if flat else "perplexity explodes past T",
                 "measured": f"running perplexity at {int(reach[-1])} / at T = {t}: {growth:.2f}×",
                 "criterion": "≤ 1.25×" if flat else "> 2×", "agrees": growth <= 1.25 if flat else growth > 2}]

    @classmethod
    def describe(cls, summary: dict) -> str:
        return (f"running perplexity at {summary['final_position']} tokens: {summary['final_running_ppl']:.3f}\n"
                f"perplexity per {summary['window']}-token window: "
                + " ".join(f"{format_length(e)}:{p:.2f}" for e, p in summary["window_ppl"].items()))
