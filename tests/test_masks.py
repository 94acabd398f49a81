"""The mask-count sweep: NIAH runs that differ in their answer length (and model) summarised per context length
and answer length — the mean over models of each model's mean score, with the t interval over models."""

from types import SimpleNamespace

import pytest

from longllada_theory.measure.readings.masks import mask_sweep
from longllada_theory.measure.stats import t_quantile


def run(model, answer_length, scores_by_length):
    cells = [{"length": length, "score": score} for length, scores in scores_by_length.items() for score in scores]
    return SimpleNamespace(settings={"model": model, "answer_length": answer_length, "steps": answer_length,
                                     "train_length": 128}, cells=cells)


def test_each_point_is_the_mean_over_models_of_their_mean_scores():
    runs = [run("m0", 8, {128: [100, 50], 256: [0, 0]}), run("m1", 8, {128: [100, 100], 256: [20, 0]}),
            run("m2", 8, {128: [75, 100], 256: [0, 0]}),
            run("m0", 64, {128: [0, 100]}), run("m1", 64, {128: [50, 50]})]
    rows = {(r["length"], r["answer_length"]): r for r in mask_sweep(runs)["rows"]}
    assert list(rows) == [(128, 8), (128, 64), (256, 8)]
    first = rows[128, 8]
    assert first["mean"] == pytest.approx(87.5) and first["n"] == 3 and first["models"] == ["m0", "m1", "m2"]
    half = t_quantile(3) * 12.5 / 3 ** 0.5  # the sd of the models' means 75, 100, 87.5
    assert first["low"] == pytest.approx(87.5 - half) and first["high"] == 100  # clipped to the score's range
    assert rows[128, 64]["mean"] == pytest.approx(50) and rows[128, 64]["low"] == pytest.approx(50)  # sd 0
    assert rows[256, 8]["mean"] == pytest.approx(10 / 3) and rows[256, 8]["low"] == 0


def test_models_that_do_not_retrieve_with_the_fewest_masks_at_the_shortest_length_are_left_out():
    runs = [run("learns", 8, {128: [100, 100]}), run("learns", 64, {128: [0, 50]}),
            run("never", 8, {128: [0, 10]}), run("never", 64, {128: [0, 0]})]
    sweep = mask_sweep(runs, threshold=50)
    assert sweep["left_out"] == ["never"]
    assert [(r["answer_length"], r["mean"], r["models"]) for r in sweep["rows"]] == [(8, 100, ["learns"]),
                                                                                       (64, 25, ["learns"])]
