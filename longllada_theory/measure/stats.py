"""Uncertainty of measured numbers: Wilson intervals on hit rates, standard errors of means."""

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
