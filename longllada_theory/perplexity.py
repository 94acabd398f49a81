"""Perplexity against context length (the paper's Figure 1a protocol, DESIGN.md section 3).

The text is cut into chunks of ``chunk`` tokens; chunk k is scored given chunks 0 … k−1 as a clean prefix, and the
curve reports the running geometric mean of chunk perplexities.

- AR models: next-token cross-entropy, all chunks from one forward pass (the output head is applied slice by
  slice, so a 16k-token pass never holds a 16k × vocabulary logit matrix).
- Masked-diffusion models: a Monte-Carlo estimate of the masked-token loss of chunk k given its prefix, which is
  never masked (:func:`diffusion_chunk_samples`). The MC samples go through the model as one batch (or in batches
  of ``mc_batch``).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import numpy as np

from .errors import LongLLaDAError
from .results import cell_seed

ESTIMATORS = ("paper", "elbo")
ELBO_EPSILON = 1e-3


def stratified_mask_counts(n: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """The paper's mask sizes: k ~ U{1..n}; sample s masks round(k + s·n/b) tokens, wrapped into 1..n.

    The b counts are spread evenly over 1..n, so b samples cover the mask ratios far better than b independent
    draws (LLaDA's ``forward_process``)."""
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


def diffusion_chunk_samples(loaded, ids: Sequence[int], start: int, end: int, mc: int = 8, estimator: str = "paper",
                            seed: int = 0, mc_batch: int | None = None, stratify: bool = True) -> np.ndarray:
    """Per-sample losses (nats per token) of chunk ``ids[start:end]`` given the clean prefix ``ids[:start]``.

    ``estimator="paper"`` (LongLLaDA's ``get_ppl_llada.py``): sample s masks m_s tokens of the chunk at random
    positions, m_s stratified as in :func:`stratified_mask_counts`; its value is the mean cross-entropy over its
    masked tokens. The quantity estimated is

        E_{m ~ U{1..n}} E_{|M| = m} [ (1/m) Σ_{i∈M} −log p_θ(x_i | x_{chunk∖M}, prefix) ],

    which is exactly LLaDA's discrete-time likelihood bound per token, (1/n)·E_m[(n/m) Σ_{i∈M} −log p_θ(…)] (the
    L/num_masked weighting of LLaDA's ``get_log_likelihood``): exp of it is an upper bound on the chunk's perplexity.

    ``estimator="elbo"``: LLaDA's continuous-time training objective per token — t ~ U(ε, 1] (stratified over the
    samples), each token masked independently with probability t, value (1/(t·n)) Σ_{i∈M} −log p_θ(…). Both are
    unbiased for the same per-token loss when a token's prediction does not depend on which others are masked; in
    general they bound the log-likelihood with the Binomial vs. uniform distribution of mask counts.

    The chunk's perplexity is exp(mean of the samples); the tests check both expectations. ``stratify=False``
    draws each sample's mask size independently (a plain loop of one sample per forward, for comparison:
    ``longllada bench ppl``).
    """
    import torch
    import torch.nn.functional as F

    from .models import forward_logits

    if estimator not in ESTIMATORS:
        raise LongLLaDAError(f"estimator {estimator!r} is unknown; expected one of {', '.join(ESTIMATORS)}")
    if loaded.mask_token_id is None:
        raise LongLLaDAError(f"{loaded.name} has no mask token id; a masked-diffusion estimate needs one")
    shift = loaded.logits_shift
    first = max(start, shift)  # with a logits shift, position 0 has no logit that predicts it
    n = end - first
    if n <= 0:
        raise LongLLaDAError(f"chunk [{start}, {end}) has no scorable token")
    rng = np.random.default_rng(cell_seed(seed, f"mc:{start}:{end}"))
    masks, weights = _sample_masks(n, mc, estimator, rng, stratify)
    sequence = torch.tensor(ids[:end], dtype=torch.long, device=loaded.device)
    targets = sequence[first:end]
    losses = np.zeros(mc)
    batch = mc_batch or mc
    for lo in range(0, mc, batch):
        block = torch.as_tensor(masks[lo:lo + batch], device=loaded.device)
        inputs = sequence.repeat(len(block), 1)
        inputs[:, first:end] = torch.where(block, loaded.mask_token_id, inputs[:, first:end])
        logits = forward_logits(loaded.model, inputs, keep_last=n + shift)[:, :n]  # rows predict first … end−1
        ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.repeat(len(block)),
                             reduction="none").view(len(block), n).double().cpu().numpy()
        chosen = block.cpu().numpy()
        if estimator == "paper":
            losses[lo:lo + batch] = (ce * chosen).sum(1) / np.maximum(chosen.sum(1), 1)
        else:
            losses[lo:lo + batch] = (ce * chosen).sum(1) * weights[lo:lo + batch] / n
    return losses


def ar_token_losses(loaded, ids: Sequence[int], slice_tokens: int = 1024) -> np.ndarray:
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


def chunk_bounds(length: int, chunk: int, first_chunk: int = 0) -> list[tuple[int, int]]:
    if chunk <= 0:
        raise LongLLaDAError(f"--chunk {chunk} must be a positive number of tokens")
    return [(lo, min(lo + chunk, length)) for lo in range(first_chunk * chunk, length, chunk)]


def perplexity_cells(loaded, ids: Sequence[int], chunk: int = 64, mc: int = 8, estimator: str = "paper",
                     seed: int = 0, score_from: int = 0, mc_batch: int | None = None, key_prefix: str = "",
                     skip: Iterable[str] = (), progress: Callable[[Iterable], Iterable] | None = None):
    """Yield one cell dict per chunk of ``ids`` that starts at or after ``score_from`` (and whose key is not in
    ``skip``): ``{key, start, end, tokens, loss, se, samples?}``. Diffusion models skip chunk 0, which has no prefix
    (as the paper does)."""
    skip = set(skip)
    diffusion = loaded.kind == "diffusion"
    bounds = [(lo, hi) for lo, hi in chunk_bounds(len(ids), chunk) if lo >= score_from and not (diffusion and lo == 0)]
    todo = [(lo, hi) for lo, hi in bounds if f"{key_prefix}{lo}" not in skip]
    if not todo:
        return
    if not diffusion:
        token_losses = ar_token_losses(loaded, ids[:todo[-1][1]])
        for lo, hi in todo:
            part = token_losses[max(lo, 1) - 1:hi - 1]
            yield {"key": f"{key_prefix}{lo}", "start": lo, "end": hi, "tokens": len(part),
                   "loss": float(part.mean()), "se": 0.0}
        return
    for lo, hi in (progress(todo) if progress else todo):
        samples = diffusion_chunk_samples(loaded, ids, lo, hi, mc, estimator, seed, mc_batch)
        yield {"key": f"{key_prefix}{lo}", "start": lo, "end": hi, "tokens": hi - max(lo, loaded.logits_shift),
               "loss": float(samples.mean()), "se": float(samples.std(ddof=1) / math.sqrt(mc)) if mc > 1 else 0.0,
               "samples": [round(float(x), 6) for x in samples]}


def perplexity_curve(cells: Iterable[dict]) -> dict[str, np.ndarray]:
    """From chunk cells: chunk ends, chunk perplexity, running geometric mean (the paper's curve) and its standard
    error on the log scale (MC error only), sorted by position."""
    cells = sorted(cells, key=lambda c: c["start"])
    loss = np.array([c["loss"] for c in cells])
    se = np.array([c.get("se", 0.0) for c in cells])
    count = np.arange(1, len(cells) + 1)
    running = np.cumsum(loss) / count
    return {"end": np.array([c["end"] for c in cells]), "chunk_ppl": np.exp(loss), "running_ppl": np.exp(running),
            "running_log_se": np.sqrt(np.cumsum(se ** 2)) / count}


def window_perplexity(cells: Iterable[dict], window: int) -> dict[str, np.ndarray]:
    """Perplexity of consecutive windows of ``window`` tokens (token-weighted mean of chunk losses inside each)."""
    cells = list(cells)
    starts = np.array([c["start"] for c in cells])
    loss = np.array([c["loss"] for c in cells])
    tokens = np.array([c["tokens"] for c in cells])
    edges = np.arange(0, starts.max() + window, window) if len(cells) else np.array([0])
    out_end, out_ppl = [], []
    for lo in edges:
        inside = (starts >= lo) & (starts < lo + window)
        if inside.any():
            out_end.append(lo + window)
            out_ppl.append(math.exp(float((loss[inside] * tokens[inside]).sum() / tokens[inside].sum())))
    return {"end": np.array(out_end), "ppl": np.array(out_ppl)}


def run_perplexity(loaded, text: str, text_name: str, max_length: int, chunk: int = 64, mc: int = 8,
                   estimator: str = "paper", seed: int = 0, mc_batch: int | None = None, output: str | None = None,
                   shard: tuple[int, int] = (0, 1), progress: bool = True) -> list[dict]:
    """Run (or resume) the perplexity curve of ``text`` up to ``max_length`` tokens; returns this shard's cells.

    With ``output``, each chunk is appended to the results file as soon as it is scored."""
    import hashlib

    from tqdm.auto import tqdm

    from .results import ResultsFile, shard_cells

    if max_length % chunk:
        raise LongLLaDAError(f"--max-length {max_length} is not a multiple of --chunk {chunk}; use "
                             f"{max_length - max_length % chunk} or {max_length - max_length % chunk + chunk}")
    ids = loaded.prefix_ids + loaded.tokenizer.encode(text)
    if len(ids) < max_length:
        raise LongLLaDAError(f"the text {text_name} has {len(ids)} tokens in this model's tokenizer, fewer than "
                             f"--max-length {max_length}")
    ids = ids[:max_length]
    header = {**loaded.settings(), "text": text_name, "tokens_sha256": hashlib.sha256(str(ids).encode()).hexdigest()[:16],
              "max_length": max_length, "chunk": chunk, "mc": mc if loaded.kind == "diffusion" else None,
              "estimator": estimator if loaded.kind == "diffusion" else "next-token", "seed": seed}
    store = ResultsFile.open(output, "ppl", header, shard) if output else None
    all_keys = [str(lo) for lo, _ in chunk_bounds(max_length, chunk) if not (loaded.kind == "diffusion" and lo == 0)]
    mine = shard_cells(all_keys, shard)
    skip = set(all_keys) - set(mine) | (set(store.done) if store else set())
    bar = (lambda items: tqdm(items, desc=f"perplexity {loaded.name}", unit="chunk")) if progress else None
    new = {}
    for cell in perplexity_cells(loaded, ids, chunk, mc, estimator, seed, mc_batch=mc_batch, skip=skip, progress=bar):
        new[cell["key"]] = store.append(**cell) if store else cell
    done = store.done if store else new
    return [done[k] for k in mine if k in done]
