"""The mask-count sweep: NIAH retrieval of a diffusion model as the number of masked answer slots it is given grows —
with the sampler's steps, one token per step — at fixed contexts, over independently trained models (seeds). More
masks than the answer needs are more positions that attend to the context and to each other while they are denoised
("Masks Can Be Distracting", arXiv 2511.21338); the sweep measures whether they cost retrieval, within the window
and beyond it.

Each point is a set of ``longllada niah`` runs that differ only in ``--answer-length`` (and the model's seed): per
run the mean score over its cells at one length, then the mean over runs with its Student-t interval
(:func:`~longllada_theory.measure.stats.seed_interval`). A question about distraction needs models that retrieve in
the first place: with ``threshold``, a model whose score at the shortest length with the fewest masks is below it is
left out (and named), as the twins' report gates its far-retrieval rates on in-window retrieval.
"""

from __future__ import annotations

from ..stats import seed_interval


def mask_sweep(runs: list, confidence: float = 0.95, threshold: float | None = None) -> dict:
    """``{"rows": [{answer_length, steps, length, train_length, mean, low, high, n, models}], "left_out": [models]}``
    from NIAH results (one :class:`~longllada_theory.measure.results.Results` per model and answer length), rows
    sorted by length then answer length; scores 0–100 (see the module docstring for ``threshold``)."""
    groups: dict[tuple[int, int, int], dict[str, float]] = {}
    train_length = {}
    for run in runs:
        settings = run.settings
        by_length: dict[int, list[float]] = {}
        for cell in run.cells:
            by_length.setdefault(int(cell["length"]), []).append(float(cell["score"]))
        for length, scores in by_length.items():
            key = (length, int(settings["answer_length"]), int(settings["steps"]))
            groups.setdefault(key, {})[str(settings["model"])] = sum(scores) / len(scores)
            train_length[key] = settings.get("train_length")
    left_out = []
    if threshold is not None and groups:
        by_model = groups[min(groups)]  # the shortest length, the fewest masks
        left_out = sorted(model for model, score in by_model.items() if score < threshold)
    rows = []
    for (length, answer_length, steps), by_model in sorted(groups.items()):
        by_model = {model: score for model, score in by_model.items() if model not in left_out}
        interval = seed_interval(by_model.values(), confidence, bounds=(0, 100), over="models")
        rows.append({"length": length, "answer_length": answer_length, "steps": steps,
                     "train_length": train_length[length, answer_length, steps], "mean": interval["mean"],
                     "low": interval["low"], "high": interval["high"], "n": interval["n"],
                     "models": sorted(by_model)})
    return {"rows": rows, "left_out": left_out}
