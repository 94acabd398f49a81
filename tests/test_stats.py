"""Uncertainties: a hit rate comes with its Wilson 95 % interval, a mean with its standard error."""

import math

import numpy as np
import pytest

from longllada_theory.measure.stats import mean_with_se, rate_with_interval


def test_a_rate_carries_the_wilson_interval():
    none = rate_with_interval([False] * 110)
    assert none["rate"] == 0 and none["low"] == 0 and 0.03 < none["high"] < 0.04   # 0/110 is not "exactly zero"
    some = rate_with_interval([True] * 4 + [False] * 106)
    assert some["low"] < 4 / 110 < some["high"] and some["n"] == 110
    # the textbook formula (Wilson 1927) at z = 1.96
    z, p, n = 1.959964, 4 / 110, 110
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (
        1 + z * z / n)
    assert abs(some["low"] - (centre - half)) < 1e-4 and abs(some["high"] - (centre + half)) < 1e-4


def test_fewer_trials_give_a_wider_interval_and_none_give_no_rate():
    wide, narrow = rate_with_interval([True, False] * 5), rate_with_interval([True, False] * 50)
    assert wide["high"] - wide["low"] > narrow["high"] - narrow["low"]
    assert rate_with_interval([]) == {"rate": None, "low": 0.0, "high": 1.0, "n": 0}


def test_a_mean_carries_its_standard_error():
    summary = mean_with_se([1.0, 2.0, 3.0, 4.0])
    assert summary["mean"] == 2.5 and abs(summary["se"] - math.sqrt(5 / 3) / 2) < 1e-12 and summary["n"] == 4


def test_a_claim_about_a_recipe_is_uncertain_over_its_seeds_with_the_t_quantile():
    from longllada_theory.measure.stats import seed_interval, t_quantile

    assert abs(t_quantile(3) - 4.303) < 1e-3 and abs(t_quantile(5) - 2.776) < 1e-3
    interval = seed_interval([0.0, 0.42, 0.70])  # three twins' retrieval: the recipe, not 330 prompts
    half = t_quantile(3) * np.std([0.0, 0.42, 0.70], ddof=1) / math.sqrt(3)
    assert interval["low"] == pytest.approx(0.3733 - half, abs=1e-3) and interval["over"] == "seeds"
    clipped = seed_interval([0.0, 0.42, 0.70], bounds=(0, 1))
    assert clipped["low"] == 0 and clipped["clipped"]
    assert seed_interval([0.5])["low"] is None  # one seed says nothing about the spread of a recipe


def test_the_seed_interval_covers_the_recipe_mean_95_percent_of_the_time():
    from longllada_theory.measure.stats import seed_interval

    samples = np.random.default_rng(0).normal(0.5, 0.2, size=(4000, 5))  # 4000 recipes of five seeds
    intervals = [seed_interval(s) for s in samples]
    assert 0.935 < np.mean([i["low"] <= 0.5 <= i["high"] for i in intervals]) < 0.965


def test_a_perplexity_over_seeds_is_a_geometric_mean_with_a_t_band():
    from longllada_theory.measure.stats import geometric_seed_interval, t_quantile

    values = [10.9, 6.8, 8.4]
    interval = geometric_seed_interval(values)
    logs = np.log(values)
    assert interval["mean"] == pytest.approx(np.exp(logs.mean()))
    band = np.exp(t_quantile(3) * logs.std(ddof=1) / np.sqrt(3))
    assert interval["high"] / interval["mean"] == pytest.approx(band) and band > np.exp(2 * logs.std(ddof=1) / 3 ** .5)


def test_the_standard_error_of_a_chunk_series_counts_its_autocorrelation():
    from longllada_theory.measure.stats import series_se

    rng = np.random.default_rng(1)
    means, ses = [], []
    for _ in range(400):  # AR(1) series with ρ = 0.5: the naive SE understates the spread of the mean by ≈ √3
        x = np.zeros(256)
        for i in range(1, 256):
            x[i] = 0.5 * x[i - 1] + rng.normal()
        summary = series_se(x)
        means.append(summary["mean"])
        ses.append(summary["se"])
    assert np.mean(ses) == pytest.approx(np.std(means), rel=0.15)
    assert series_se(rng.normal(size=256))["rho"] < 0.15
