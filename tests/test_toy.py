"""The twins: data from the standard library, the two losses, a short training run, resumption, the study's recipe,
and the report over seeds."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from longllada_theory import LongLLaDAError
from longllada_theory.measure.inputs.texts import load_corpus
from longllada_theory.models.tokenizers import ByteTokenizer
from longllada_theory.toy.data import ANSWER_LENGTH, MASK_ID, training_batch
from longllada_theory.toy.model import TwinShape
from longllada_theory.toy.train import (
    TWINS,
    Recipe,
    Stage,
    answer_only_rows,
    ar_loss,
    diffusion_loss,
    learning_rate,
    loss_weights,
    train_stage,
)

from helpers import tiny_twin

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
    key = ByteTokenizer().decode(row[answer]).strip().rstrip(".")
    assert f"The pass key is {key}." in text and text.endswith(f"The pass key is {key}.\n")
    assert len(answer) == ANSWER_LENGTH  # every slot the evaluation masks or generates


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    stage = Stage("s", "ar", 1000, lr=1e-3, warmup=100)
    assert learning_rate(stage, 0) == pytest.approx(1e-5)
    assert learning_rate(stage, 99) == pytest.approx(1e-3)
    assert learning_rate(stage, 999) == pytest.approx(1e-4, rel=1e-2)


@pytest.mark.slow
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


def test_the_study_trains_every_twin_with_one_schedule_and_one_set_of_hyperparameters():
    recipe = Recipe()
    for seed in recipe.seeds:
        stages = {stage.name: stage for stage in recipe.stages(seed)}
        assert {stages[name].init for name in TWINS} == {"ar-base", "diffusion-scratch-base"}
        bases = [stages["ar-base"], stages["diffusion-scratch-base"]]
        finals = [stages[name] for name in TWINS]
        for group in (bases, finals):
            settings = [{k: v for k, v in vars(s).items() if k not in ("name", "kind", "init")} for s in group]
            assert all(other == settings[0] for other in settings)  # only the objective and the start differ
        assert {s.kind for s in finals} == {"ar", "diffusion"}
    assert len(set(recipe.seeds)) >= 3


def test_the_twins_rope_geometry_is_llada_like():
    from longllada_theory.models.sources import TWINS_DIR
    from longllada_theory.models.spec import load_spec

    llada = load_spec("GSAI-ML/LLaDA-8B-Base")
    for twin in TWINS:
        spec = load_spec(str(TWINS_DIR / "seed0" / twin))
        assert spec.rotary_dim // 2 >= 16
        assert spec.critical_dimension / spec.rotary_dim == llada.critical_dimension / llada.rotary_dim == 0.5
        assert abs(spec.extrapolation_bound / spec.train_length - llada.extrapolation_bound / llada.train_length) < 0.05


def test_every_objective_weighs_each_token_alike_and_costs_log_v_under_uniform_logits():
    """The same rows count only their answer for every twin of a seed, each answer token weighs the same in both
    losses, and with uniform logits both losses are exactly log V (answer-only rows) or log V in expectation (random
    masks): neither objective gets more signal from the passkey than the other."""
    vocab = 258

    class Uniform(torch.nn.Module):
        def __init__(self, shift):
            super().__init__()
            self.config = type("C", (), {"logits_shift": shift})()

        def forward(self, input_ids):
            return type("O", (), {"logits": torch.zeros(*input_ids.shape, vocab)})()

    batch, answers = training_batch(seed=1, step=0, batch_size=8, length=96, passkey_share=1.0)
    batch = torch.from_numpy(batch)
    ar, diffusion = Stage("a", "ar", 1, seed=3), Stage("d", "diffusion", 1, seed=3)
    only = answer_only_rows(ar, 0, answers)
    assert only == answer_only_rows(diffusion, 0, answers) and 0 < sum(only) < len(only)
    weights = loss_weights(batch.shape, answers, 10.0, only)
    for row, answer in enumerate(answers):
        assert weights[row, answer].tolist() == [10.0] * len(answer)
        assert weights[row].sum().item() == (10.0 * len(answer) if only[row] else 10.0 * len(answer) + 96 - len(answer))
    assert ar_loss(Uniform(1), batch, weights).item() == pytest.approx(np.log(vocab), rel=1e-6)
    everything_answer_only = [True] * len(answers)
    exact = diffusion_loss(Uniform(0), batch, loss_weights(batch.shape, answers, 10.0, everything_answer_only),
                           everything_answer_only, answers, torch.Generator().manual_seed(0))
    assert exact.item() == pytest.approx(np.log(vocab), rel=1e-6)
    draws = [diffusion_loss(Uniform(1), batch, weights, only, answers, torch.Generator().manual_seed(k)).item()
             for k in range(400)]
    assert np.mean(draws) == pytest.approx(np.log(vocab), abs=4 * np.std(draws) / np.sqrt(len(draws)))


@pytest.mark.slow
def test_a_diffusion_twin_from_scratch_predicts_in_place_and_one_adapted_from_ar_keeps_the_shift(tmp_path):
    base = Stage("base", "ar", 3, warmup=1, batch_size=2)
    train_stage(base, SMALL, tmp_path, progress=False)
    adapted = train_stage(Stage("adapted", "diffusion", 3, init="base", warmup=1, batch_size=2), SMALL, tmp_path,
                          progress=False)
    scratch = train_stage(Stage("scratch", "diffusion", 3, warmup=1, batch_size=2), SMALL, tmp_path, progress=False)
    assert json.loads((adapted / "config.json").read_text())["logits_shift"] == 1   # as Dream
    assert json.loads((scratch / "config.json").read_text())["logits_shift"] == 0   # as LLaDA


def test_the_shipped_twins_are_what_the_report_says(tmp_path):
    from longllada_theory.models.sources import TWINS_DIR
    from longllada_theory.toy.evaluation import ReportSettings, TwinBench, seed_folders

    report = json.loads((TWINS_DIR / "report.json").read_text())
    folders = seed_folders(TWINS_DIR)
    assert sorted(folders) == report["seeds"] and len(folders) >= 3
    for seed, folder in folders.items():
        for twin in TWINS:
            record = json.loads((folder / twin / "training_record.json").read_text())
            names = [s["stage"]["name"] for s in record["stages"]]
            assert names[-1] == twin and len(names) == 2 and record["seed"] == seed
    settings = ReportSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in report["settings"].items()})
    bench = TwinBench(folders[report["seeds"][0]], tmp_path, settings, progress=False)
    t = report["train_length"]
    for twin in ("ar", "diffusion"):  # each twin's first-seed perplexity at T, measured again from its checkpoint
        ppl, _ = bench.window_ppl(bench.model(twin), t)
        assert ppl == pytest.approx(report["ppl"][twin][str(t)]["seeds"][0], rel=1e-3)


def test_the_report_pools_seeds_with_intervals_and_keeps_each_seed(tmp_path):
    from longllada_theory.toy.evaluation import QUICK, run_twin_suite
    from longllada_theory.toy.verdicts import verdicts

    for seed in (0, 1):
        for twin in TWINS:
            kind = "ar" if twin == "ar" else "diffusion"
            tiny_twin(tmp_path / "twins" / f"seed{seed}" / twin, kind, seed=seed, train_length=64)
    settings = dataclasses.replace(QUICK, depths=(0.0, 100.0), multiples=(1, 2, 4), retrieval_multiples=(1, 2, 4))
    report = run_twin_suite(tmp_path / "twins", tmp_path / "work", settings, progress=False, workers=1)
    assert report["seeds"] == [0, 1] and report["twins"] == list(TWINS)
    for twin in TWINS:
        for value in report["ppl"][twin].values():
            assert len(value["seeds"]) == 2 and value["ppl"] == pytest.approx(np.exp(np.log(value["seeds"]).mean()))
        for value in [*report["local_hit"][twin].values(), *report["retrieval_all"][twin].values()]:
            assert len(value["seeds"]) == 2 and value["low"] <= (value["rate"] or 0) <= value["high"]
        for row in report["ntk"][twin]:
            assert len(row["measured_ppl_breakdown"]) == 2 and row["predicted"] > 0
    methods = {twin: [row["method"] for row in report["ntk"][twin]] for twin in TWINS}
    assert methods["ar"] == ["direct", "longllada"] and methods["diffusion"] == ["direct", "longllada"]
    rows = verdicts(report)
    assert {row["twin"] for row in rows} == set(TWINS) and all(isinstance(row["met"], bool) for row in rows)


def test_each_method_is_judged_against_its_own_reading():
    """The law's λ makes the causal reading reach the target; the diffusion-aware law's λ the bidirectional one."""
    from longllada_theory.models.spec import spec_from_config
    from longllada_theory.toy.model import twin_config

    spec = spec_from_config(twin_config("ar").to_dict(), "twin", "test")
    t = spec.train_length
    assert spec.plan(4 * t, "longllada").reaches("causal") == pytest.approx(4 * t)
    assert spec.plan(4 * t, "diffusion-aware").reaches("bidirectional") == pytest.approx(4 * t)
    assert spec.plan(4 * t, "diffusion-aware").reaches("causal") < 4 * t


def test_the_breakdown_grid_resolves_a_tenth_of_any_length_on_it():
    from longllada_theory.toy.evaluation import ReportSettings

    grid = ReportSettings().grid(128)
    assert grid[0] == 128 and grid[-1] <= 6 * 128 < grid[-1] * 1.1
    assert all(b / a <= 1.1 + 1 / a for a, b in zip(grid, grid[1:]))


def test_the_methods_comparison_runs_each_plan_and_reports_intervals(tmp_path):
    from longllada_theory.models.sources import TWINS_DIR
    from longllada_theory.toy.evaluation import ReportSettings
    from longllada_theory.toy.methods import method_comparison

    settings = ReportSettings(depths=(0.0, 100.0), segments=2)
    document = method_comparison(TWINS_DIR / "seed0", tmp_path, methods=("critical", "longllada-slow-pairs"),
                                 samples=2, settings=settings, progress=False)
    assert document["target"] == 4 * document["train_length"] == 512
    assert [(r["kind"], r["method"]) for r in document["rows"]] == [
        (twin, method) for twin in TWINS for method in ("direct", "critical", "longllada-slow-pairs")]
    for row in document["rows"]:
        assert (row["scaling_factor"] == 1.0) == (row["method"] == "direct")
        retrieval = row["retrieval"]
        assert retrieval["n"] == 4 and retrieval["low"] <= retrieval["rate"] <= retrieval["high"]
        assert row["retrieval_at_T"]["n"] == 4  # what the plan costs the retrieval learned inside the window
        assert row["retrieval_within_T"]["n"] + row["retrieval_beyond_T"]["n"] == 4
        assert row["ppl_at_target"]["ppl"] > 1 and row["ppl_at_target"]["log_se"] >= 0


def test_toy_methods_refuses_an_unknown_method_before_measuring(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", "toy", "methods", "--methods",
                             "longllada,nope", "--work", str(tmp_path / "w")], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        result.stderr.strip().splitlines()[-1]] and "scaling method 'nope' is unknown" in result.stderr
    assert not (tmp_path / "w").exists()


def test_measuring_the_twins_on_another_pythons_corpus_is_refused(tmp_path, monkeypatch):
    import dataclasses

    import longllada_theory.toy.evaluation as evaluation
    from longllada_theory.models.sources import TWINS_DIR

    assert evaluation.checked_corpus(TWINS_DIR).digest  # this Python's corpus is the twins' own
    other = dataclasses.replace(evaluation.load_corpus(), digest="0" * 16)
    monkeypatch.setattr(evaluation, "load_corpus", lambda: other)
    with pytest.raises(LongLLaDAError, match="trained on a standard-library corpus with digest"):
        evaluation.TwinBench(TWINS_DIR / "seed0", tmp_path, evaluation.ReportSettings())


def test_a_shipped_twin_is_named_by_its_kind_and_seed():
    from longllada_theory.models.sources import TWINS_DIR, resolve_model

    assert resolve_model("toy:ar").location == str(TWINS_DIR / "seed0" / "ar")
    assert resolve_model("toy:diffusion-scratch@2").location == str(TWINS_DIR / "seed2" / "diffusion-scratch")
    for name in ("toy:ar@x", "toy:../../etc@0", "toy:ar/../x"):
        with pytest.raises(LongLLaDAError, match="SEED a whole number"):
            resolve_model(name)
    with pytest.raises(LongLLaDAError, match="shipped: toy:ar, toy:diffusion, toy:diffusion-scratch"):
        resolve_model("toy:gpt")


def test_the_answer_attention_probe_reports_shares(tmp_path):
    from longllada_theory.models.loading import load_model
    from longllada_theory.toy.probes import answer_attention

    model = load_model(str(tiny_twin(tmp_path / "d", "diffusion", train_length=64)), device="cpu")
    shares = answer_attention(model, 128, 100.0, prompts=2)
    assert 0 <= shares["needle"] <= 1 and 0 < shares["within_T"] <= 1 and 0 < shares["uniform"] < 1


def test_toy_report_prints_every_verdict_of_the_stored_report(capsys):
    from longllada_theory.cli import main
    from longllada_theory.models.sources import TWINS_DIR
    from longllada_theory.toy.verdicts import verdicts

    assert main(["toy", "report", "--stored"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = verdicts(json.loads((TWINS_DIR / "report.json").read_text()))
    assert len(lines) == len(rows)
    assert all(line.startswith("met" if row["met"] else "MISSED") and row["measured"] in line
               for line, row in zip(lines, rows))


def test_every_length_scores_the_same_window_with_the_same_masks(tmp_path):
    """Like for like: at T and at 4T the last-window perplexity scores the same tokens (the segment's last T − chunk),
    and a diffusion twin draws the same Monte-Carlo masks for them, so only the context before them differs."""
    import longllada_theory.measure.protocols.perplexity as perplexity
    from longllada_theory.models.loading import load_model
    from longllada_theory.toy.protocols import LastWindowPerplexity, WindowSettings

    model = load_model(str(tiny_twin(tmp_path / "d", "diffusion", train_length=64)), device="cpu")
    drawn = {}
    original = perplexity._sample_masks

    def spy(n, samples, estimator, rng, stratify=True):
        masks, weights = original(n, samples, estimator, rng, stratify)
        drawn.setdefault(length, []).append(masks)
        return masks, weights

    scored = {}
    for length in (64, 256):
        protocol = LastWindowPerplexity(model, WindowSettings(length=length, chunk=16, mc=2, segments=1))
        ids = protocol.segment_ids(0)
        scored[length] = ids[protocol.score_from:]
        perplexity._sample_masks = spy
        try:
            protocol.measure(protocol.keys())
        finally:
            perplexity._sample_masks = original
    assert scored[64] == scored[256] and len(scored[64]) == 64 - 16
    assert all(np.array_equal(a, b) for a, b in zip(drawn[64], drawn[256])) and len(drawn[64]) == 3


def test_method_rows_over_seeds_keep_the_seeds_that_learned_the_task_and_use_seed_intervals():
    from longllada_theory.toy.methods import methods_over_seeds

    def rate(hits, n=10):
        return {"rate": hits / n, "low": 0.0, "high": 1.0, "n": n}

    def row(method, at_t, at_target, ppl):
        return {"kind": "diffusion", "method": method, "retrieval_at_T": rate(at_t), "retrieval": rate(at_target),
                "retrieval_beyond_T": rate(at_target), "ppl_at_target": {"ppl": ppl}}

    documents = {seed: {"target": 512, "rows": [row("direct", direct, 0, 20.0), row("longllada", scaled, 1, 10.0)]}
                 for seed, direct, scaled in ((0, 10, 4), (1, 9, 6), (2, 0, 0))}
    direct, law = methods_over_seeds(documents)
    assert law["kept_seeds"] == [0, 1]  # seed 2 never retrieved at T unscaled: it says nothing about the plan
    assert law["retrieval"]["at T"]["rate"] == pytest.approx(0.5) and law["retrieval"]["at T"]["over"] == "seeds"
    assert law["retrieval"]["at T"]["seeds"] == [0.4, 0.6]
    assert law["ppl_at_target"]["ppl"] == pytest.approx(10.0) and law["ppl_at_target"]["n"] == 3
    assert direct["retrieval"]["at T"]["rate"] == pytest.approx(0.95)


def test_the_last_window_summary_pools_each_segments_token_weighted_loss():
    from longllada_theory.toy.protocols import LastWindowPerplexity

    cells = [{"key": "L64/S0/32", "loss": 1.0, "tokens": 16}, {"key": "L64/S0/48", "loss": 2.0, "tokens": 48},
             {"key": "L64/S1/32", "loss": 3.0, "tokens": 64}, {"key": "L96/S0/64", "loss": 0.5, "tokens": 32}]
    summary = LastWindowPerplexity.summarize({}, cells)["by_length"]
    losses = [(16 * 1.0 + 48 * 2.0) / 64, 3.0]
    assert summary["64"]["ppl"] == pytest.approx(math.exp(sum(losses) / 2))
    assert summary["64"]["log_se"] == pytest.approx(abs(losses[0] - losses[1]) / 2)
    assert summary["64"]["segments"] == 2 and summary["96"]["segments"] == 1
