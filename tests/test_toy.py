"""The twins: data from the standard library, the two losses, a short training run, resumption."""

import json

import numpy as np
import pytest
import torch

from longllada_theory import LongLLaDAError
from longllada_theory.measure.texts import load_corpus
from longllada_theory.models.tokenizers import ByteTokenizer
from longllada_theory.toy.data import MASK_ID, training_batch
from longllada_theory.toy.model import TwinShape
from longllada_theory.toy.train import Stage, learning_rate, train_stage

SMALL = TwinShape(layers=2, hidden=32, heads=2, head_dim=16, intermediate=64, train_length=96)


def test_corpus_holds_out_every_tenth_file_and_is_deterministic():
    corpus = load_corpus()
    assert corpus.files > 100 and len(corpus.train) > 5 * len(corpus.heldout) > 0
    a, answers_a = training_batch(seed=3, step=7, batch_size=8, length=96)
    b, answers_b = training_batch(seed=3, step=7, batch_size=8, length=96)
    assert np.array_equal(a, b) and answers_a == answers_b and a.shape == (8, 96)
    rows_with_keys = [(row, answer) for row, answer in zip(a, answers_a) if answer]
    assert rows_with_keys
    row, answer = rows_with_keys[0]
    text = ByteTokenizer().decode(row)
    key = ByteTokenizer().decode(row[answer]).strip()
    assert f"The pass key is {key}." in text and text.endswith(f"The pass key is {key}.")


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    stage = Stage("s", "ar", 1000, lr=1e-3, warmup=100)
    assert learning_rate(stage, 0) == pytest.approx(1e-5)
    assert learning_rate(stage, 99) == pytest.approx(1e-3)
    assert learning_rate(stage, 999) == pytest.approx(1e-4, rel=1e-2)


@pytest.mark.parametrize("kind", ["ar", "diffusion"])
def test_a_short_training_run_lowers_the_loss_and_resumes_exactly(tmp_path, kind):
    base = Stage("base", "ar", 120, lr=3e-3, warmup=10, batch_size=8)
    train_stage(base, SMALL, tmp_path / "a", progress=False, checkpoint_every=1000)
    stage = Stage(kind, kind, 80, init="base", lr=2e-3, warmup=5, batch_size=8, seed=1)
    final = train_stage(stage, SMALL, tmp_path / "a", progress=False, checkpoint_every=30)
    record = json.loads((final / "training_record.json").read_text())
    curve = [loss for _, loss in record["loss_curve"]]
    if kind == "ar":
        first = json.loads((tmp_path / "a" / "base" / "final" / "training_record.json").read_text())["loss_curve"]
        assert first[-1][1] < first[0][1] - 0.5  # from scratch, the loss falls fast
    assert curve[-1] < curve[0]
    assert record["tokens_per_second"] > 0 and 0 < record["matmul_share"] < 5
    config = json.loads((final / "config.json").read_text())
    assert config["use_bidirectional_attention"] == (kind == "diffusion") and config["mask_token_id"] == MASK_ID

    # interrupted right after the checkpoint at step 30, then rerun: the same weights as the uninterrupted run
    import shutil

    from safetensors.torch import load_file

    shutil.copytree(tmp_path / "a" / "base", tmp_path / "b" / "base")
    assert train_stage(stage, SMALL, tmp_path / "b", progress=False, checkpoint_every=30, stop_at=30) is None
    assert (tmp_path / "b" / kind / "state.pt").is_file()
    resumed = train_stage(stage, SMALL, tmp_path / "b", progress=False, checkpoint_every=30)
    assert json.loads((resumed / "training_record.json").read_text())["resumed_at"] == 30
    reference, again = load_file(final / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(reference[k], again[k]) for k in reference)


def test_the_shipped_twins_are_what_the_report_says():
    from longllada_theory.models.loading import load_model
    from longllada_theory.models.sources import TWINS_DIR
    from longllada_theory.toy.train import passkey_hit_rate

    for kind in ("ar", "diffusion"):
        loaded = load_model(f"toy:{kind}", device="cpu")
        assert loaded.kind == kind and loaded.spec.train_length == 128
        assert passkey_hit_rate(loaded.model, 128) >= 0.9          # both retrieve within their window
        record = json.loads((TWINS_DIR / kind / "training_record.json").read_text())
        assert [s["stage"]["name"] for s in record["stages"]] == ["ar-base", "ar-retrieval", kind]
    assert passkey_hit_rate(load_model("toy:ar", device="cpu").model, 512) <= 0.2  # the AR twin fails at 4T


def test_the_methods_comparison_runs_each_plan_and_reports_intervals(tmp_path):
    from longllada_theory.models.sources import TWINS_DIR
    from longllada_theory.toy.evaluation import ReportSettings, method_comparison

    settings = ReportSettings(depths=(0.0, 100.0), segments=2)
    document = method_comparison(TWINS_DIR, tmp_path, methods=("critical",), samples=2, settings=settings,
                                 progress=False)
    assert document["target"] == 4 * document["train_length"] == 512
    assert [(r["kind"], r["method"]) for r in document["rows"]] == [
        ("ar", "direct"), ("ar", "critical"), ("diffusion", "direct"), ("diffusion", "critical")]
    for row in document["rows"]:
        assert (row["scaling_factor"] == 1.0) == (row["method"] == "direct")
        retrieval = row["retrieval"]
        assert retrieval["n"] == 4 and retrieval["low"] <= retrieval["rate"] <= retrieval["high"]
        assert row["retrieval_within_T"]["n"] + row["retrieval_beyond_T"]["n"] == 4
        assert row["ppl_at_target"]["ppl"] > 1 and row["ppl_at_target"]["log_se"] >= 0


def test_measuring_the_twins_on_another_pythons_corpus_is_refused(tmp_path, monkeypatch):
    import dataclasses

    import longllada_theory.toy.evaluation as evaluation
    from longllada_theory.models.sources import TWINS_DIR

    assert evaluation.checked_corpus(TWINS_DIR).digest  # this Python's corpus is the twins' own
    other = dataclasses.replace(evaluation.load_corpus(), digest="0" * 16)
    monkeypatch.setattr(evaluation, "load_corpus", lambda: other)
    with pytest.raises(LongLLaDAError, match="trained on a standard-library corpus with digest"):
        evaluation.TwinBench(TWINS_DIR, tmp_path, evaluation.ReportSettings())
