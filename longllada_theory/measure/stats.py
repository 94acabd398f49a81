"""Uncertainty of measured numbers, each over what varies for the claim it backs: Wilson intervals on the hit rate of
one model (prompts vary), Student-t intervals over seeds for a training recipe (models vary), and standard errors of
chunk series corrected for their serial correlation."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def rate_with_interval(outcomes: Iterable[bool]) -> dict:
    """{"rate", "low", "high", "n"} of a list of hits: the rate and its Wilson score 95 % interval (Wilson 1927, as
    ``scipy.stats.binomtest(...).proportion_ci(method="wilson")``), which stays in [0, 1] and is not empty at 0 or
    n hits."""
    from scipy.stats import binomtest

    values = [bool(o) for o in outcomes]
    if not values:
        return {"rate": None, "low": 0.0, "high": 1.0, "n": 0}
    interval = binomtest(sum(values), len(values)).proportion_ci(confidence_level=0.95, method="wilson")
    return {"rate": sum(values) / len(values), "low": round(float(interval.low), 4),
            "high": round(float(interval.high), 4), "n": len(values)}


def mean_with_se(values: Iterable[float]) -> dict:
    """{"mean", "se", "n"}: the mean and its standard error (sample standard deviation / √n)."""
    array = np.asarray(list(values), dtype=float)
    se = float(array.std(ddof=1) / math.sqrt(len(array))) if len(array) > 1 else 0.0
    return {"mean": float(array.mean()) if len(array) else None, "se": se, "n": int(len(array))}


def t_quantile(n: int, confidence: float = 0.95) -> float:
    """Student's t quantile for a two-sided ``confidence`` interval of a mean of n values (n − 1 degrees of freedom);
    t(0.975, 2) = 4.30, t(0.975, 4) = 2.78."""
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, n - 1))


def seed_interval(values: Iterable[float], confidence: float = 0.95, bounds: tuple[float, float] | None = None,
                  over: str = "seeds") -> dict:
    """The mean over seeds (one value per independently trained model) with its Student-t ``confidence`` interval,
    mean ± t(n − 1)·sd/√n — the uncertainty of a claim about a training recipe, which varies from seed to seed (or,
    with ``over``, about any population sampled by independent units: texts, query sets). With ``bounds`` (a rate's
    [0, 1]) the interval is clipped to them and ``clipped`` says so. {"mean", "low", "high", "n", "sd", "over"};
    fewer than two units give no interval (low and high None)."""
    array = np.asarray([v for v in values if v is not None], dtype=float)
    n = len(array)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "n": 0, "sd": None, "over": over}
    mean = float(array.mean())
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "n": 1, "sd": None, "over": over}
    sd = float(array.std(ddof=1))
    half = t_quantile(n, confidence) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    clipped = bool(bounds) and (low < bounds[0] or high > bounds[1])
    if bounds:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "low": low, "high": high, "n": n, "sd": sd, "over": over, "confidence": confidence,
            **({"clipped": True} if clipped else {})}


def geometric_seed_interval(values: Iterable[float], confidence: float = 0.95) -> dict:
    """A positive quantity over seeds (a perplexity, a ratio of perplexities): the geometric mean with the Student-t
    interval of the mean log, exp(mean ± t(n − 1)·sd/√n) — a ×/÷ band whose width uses the right quantile for n
    seeds, not 2."""
    logs = [math.log(v) for v in values if v is not None]
    interval = seed_interval(logs, confidence)
    return {**interval, **{k: None if interval[k] is None else math.exp(interval[k]) for k in ("mean", "low", "high")},
            "log_sd": interval["sd"], "sd": None}


def lag1_autocorrelation(values: Iterable[float]) -> float:
    """The lag-1 autocorrelation of a series (consecutive chunks of one text are not independent)."""
    array = np.asarray(list(values), dtype=float)
    if len(array) < 3 or array.std() == 0:
        return 0.0
    centred = array - array.mean()
    return float(np.sum(centred[1:] * centred[:-1]) / np.sum(centred ** 2))


def series_se(values: Iterable[float]) -> dict:
    """The standard error of the mean of a series with serial correlation (perplexity chunks of one text): the
    independent-values SE times √((1 + ρ₁)/(1 − ρ₁)), the AR(1) effective-sample-size correction, with the lag-1
    autocorrelation ρ₁ clipped to [0, 0.9]. {"mean", "se", "n", "rho", "effective_n"}."""
    array = np.asarray(list(values), dtype=float)
    n = len(array)
    if n < 2:
        return {"mean": float(array.mean()) if n else None, "se": 0.0, "n": n, "rho": 0.0, "effective_n": n}
    rho = min(max(lag1_autocorrelation(array), 0.0), 0.9)
    factor = (1 + rho) / (1 - rho)
    return {"mean": float(array.mean()), "se": float(array.std(ddof=1) / math.sqrt(n) * math.sqrt(factor)),
            "n": n, "rho": rho, "effective_n": n / factor}
