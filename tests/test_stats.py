"""Uncertainties: a hit rate comes with its Wilson 95 % interval, a mean with its standard error."""

import math

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
