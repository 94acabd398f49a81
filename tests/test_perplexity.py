"""Perplexity: the Monte-Carlo masked estimate (its expectation and stratification), next-token losses, curves."""

import math

import numpy as np
import pytest
import torch

from longllada_theory.measure.protocols.perplexity import (
    ar_token_losses,
    diffusion_chunk_samples,
    paired_log_ratio,
    perplexity_cells,
    perplexity_curve,
    stratified_mask_counts,
    window_perplexity,
)

from helpers import FixedLossModel, fake_loaded, tiny_twin


def test_stratified_counts_follow_the_papers_forward_process():
    rng = np.random.default_rng(0)
    for _ in range(200):
        counts = stratified_mask_counts(64, 8, rng)
        assert counts.min() >= 1 and counts.max() <= 64
        # spread evenly: consecutive counts differ by n/b = 8 (mod 64, after wrapping)
        assert set(np.diff(np.sort(counts)).tolist()) <= {7, 8, 9}
    assert stratified_mask_counts(10, 1, np.random.default_rng(1)).shape == (1,)


@pytest.mark.parametrize("estimator", ["paper", "elbo"])
@pytest.mark.parametrize("shift", [0, 1])
@pytest.mark.parametrize("stratify", [True, False])
def test_masked_estimate_equals_the_chunks_mean_loss_when_predictions_ignore_the_mask(estimator, shift, stratify):
    # prefix of 16 tokens, chunk of 16; token losses differ by position, independent of what is masked
    rng = np.random.default_rng(3)
    tokens = rng.integers(0, 7, size=32).tolist()
    losses = rng.uniform(0.2, 3.0, size=32).tolist()
    loaded = fake_loaded(FixedLossModel(tokens, losses, shift=shift), shift=shift)
    estimates = np.concatenate([diffusion_chunk_samples(loaded, tokens, 16, 32, mc=8, estimator=estimator, seed=s,
                                                        stratify=stratify) for s in range(150)])
    truth = float(np.mean(losses[16:32]))
    assert abs(estimates.mean() - truth) < 4 * estimates.std() / math.sqrt(len(estimates))


class MaskCountModel(torch.nn.Module):
    """The true token's loss at chunk position i is a_i + b·(masked tokens in the chunk)/n: a model that does worse
    the more it must guess at once, as a real one does. For this model the likelihood bound per token,
    (1/n)·Σ_m E[Σ_{i∈M} loss_i | |M| = m]/m, is mean(a) + b·(n + 1)/(2n) — not the mean loss of any one masking."""

    def __init__(self, tokens, a, b, start, mask_id=7, vocab=8):
        super().__init__()
        self.tokens, self.a, self.b, self.start, self.mask_id, self.vocab = tokens, a, b, start, mask_id, vocab

    def forward(self, input_ids, logits_to_keep=None):
        batch, length = input_ids.shape
        n = len(self.tokens) - self.start
        masked = (input_ids[:, self.start:] == self.mask_id).sum(1).double()
        logits = torch.zeros(batch, length, self.vocab, dtype=torch.float64)
        for position in range(self.start, len(self.tokens)):
            loss = self.a[position - self.start] + self.b * masked / n
            p = torch.exp(-loss)
            probs = ((1 - p) / (self.vocab - 1))[:, None].repeat(1, self.vocab)
            probs[:, self.tokens[position]] = p
            logits[:, position] = probs.log()
        return type("Out", (), {"logits": logits[:, -logits_to_keep:] if logits_to_keep else logits})()


@pytest.mark.parametrize("estimator", ["paper", "elbo"])
def test_both_estimators_target_llada_s_likelihood_bound_when_predictions_depend_on_the_mask(estimator):
    """With t ~ U(0, 1] and Bernoulli(t) masks, P(|M| = m) integrates against 1/t to 1/m: the ELBO estimator and the
    paper's (m ~ U{1..n}, mean over the masked) have the same expectation for any model, the enumerated bound."""
    rng = np.random.default_rng(5)
    n, start = 12, 8
    tokens = rng.integers(0, 7, size=start + n).tolist()
    a, b = rng.uniform(0.2, 1.0, size=n), 1.5
    loaded = fake_loaded(MaskCountModel(tokens, a, b, start))
    bound = a.mean() + b * (n + 1) / (2 * n)
    estimates = np.concatenate([diffusion_chunk_samples(loaded, tokens, start, start + n, mc=8, estimator=estimator,
                                                        seed=s) for s in range(300)])
    assert abs(estimates.mean() - bound) < 4 * estimates.std() / math.sqrt(len(estimates))
    assert abs(bound - a.mean() - b / 2) > 0.05  # the bound is not the loss at any fixed mask ratio


def test_the_papers_protocol_draws_each_samples_mask_count_independently(monkeypatch):
    """LongLLaDA's get_ppl_llada.py runs its 8 samples as batches of one: each draws k ~ U{1..n} on its own."""
    import longllada_theory.measure.protocols.perplexity as perplexity

    drawn = []
    original = perplexity._sample_masks

    def record(n, samples, estimator, rng, stratify=True):
        masks, weights = original(n, samples, estimator, rng, stratify)
        drawn.append((stratify, sorted(masks.sum(1).tolist())))
        return masks, weights

    monkeypatch.setattr(perplexity, "_sample_masks", record)
    tokens, losses = list(range(8)) * 16, [1.0] * 128
    loaded = fake_loaded(FixedLossModel(tokens, losses))
    for protocol in ("paper", "package"):
        perplexity.perplexity_cells(loaded, tokens, chunk=64, mc=8, stratify=protocol == "package")
    (paper_stratified, paper_counts), (package_stratified, package_counts) = drawn
    assert not paper_stratified and package_stratified
    assert set(np.diff(package_counts).tolist()) <= {7, 8, 9}          # spread evenly over 1..64
    assert set(np.diff(paper_counts).tolist()) - {7, 8, 9}              # independent draws are not


def test_masked_estimate_is_seeded_by_run_seed_and_chunk():
    tokens, losses = list(range(7)) * 4, [1.0 + 0.1 * i for i in range(28)]
    loaded = fake_loaded(FixedLossModel(tokens, losses))
    a = diffusion_chunk_samples(loaded, tokens, 14, 28, mc=4, seed=5)
    b = diffusion_chunk_samples(loaded, tokens, 14, 28, mc=4, seed=5, mc_batch=1)
    c = diffusion_chunk_samples(loaded, tokens, 14, 28, mc=4, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_ar_losses_equal_a_plain_forward(tmp_path):
    from longllada_theory.models.loading import load_model

    loaded = load_model(str(tiny_twin(tmp_path / "ar", "ar")), device="cpu")
    ids = list(range(40, 140))
    losses = ar_token_losses(loaded, ids, slice_tokens=7)
    with torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([ids])).logits[0, :-1]
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:]), reduction="none").numpy()
    assert np.allclose(losses, expected, atol=1e-5)


def test_cells_curve_and_windows(tmp_path):
    from longllada_theory.models.loading import load_model

    ar = load_model(str(tiny_twin(tmp_path / "ar", "ar")), device="cpu")
    ids = list(range(100, 228))
    cells = list(perplexity_cells(ar, ids, chunk=32))
    assert [c["start"] for c in cells] == [0, 32, 64, 96] and cells[0]["tokens"] == 31
    curve = perplexity_curve(cells)
    assert curve["running_ppl"][-1] == pytest.approx(math.exp(np.mean([c["loss"] for c in cells])))
    windows = window_perplexity(cells, 64)
    assert windows["end"].tolist() == [64, 128]
    diffusion = load_model(str(tiny_twin(tmp_path / "diffusion", "diffusion")), device="cpu")
    cells = perplexity_cells(diffusion, ids, chunk=32, mc=4, score_from=32)
    assert [c["start"] for c in cells] == [32, 64, 96]  # chunks from 32 on
    cells = perplexity_cells(diffusion, ids, chunk=32, mc=4)
    assert [c["start"] for c in cells] == [32, 64, 96]  # chunk 0 has no prefix
    assert all(len(c["samples"]) == 4 and c["se"] >= 0 for c in cells)


def test_a_paired_ratio_compares_two_runs_chunk_by_chunk():
    base = [{"start": 64 * i, "end": 64 * (i + 1), "tokens": 64, "loss": 1.0 + (i % 4)} for i in range(8)]
    other = [{**c, "loss": c["loss"] + 0.1 + 0.01 * (i % 2)} for i, c in enumerate(base)]
    paired = paired_log_ratio(other, base, 128, 512)
    assert paired["chunks"] == 6 and paired["log_ratio"] == pytest.approx(0.105)
    assert paired["ratio"] == pytest.approx(math.exp(0.105))
    # the text's spread cancels; alternating differences are negatively correlated, which never narrows the SE
    assert paired["rho"] == 0 and paired["se"] == pytest.approx(np.std([0.1, 0.11] * 3, ddof=1) / math.sqrt(6))
    # a rising window (1, 2, 3, 4) has lag-1 autocorrelation 0.25: its SE is widened by √(1.25 / 0.75)
    window = window_perplexity(base, 256)
    assert window["log_se"][0] == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2 * math.sqrt(1.25 / 0.75))


def test_a_window_the_run_did_not_fill_ends_where_the_run_ends():
    """A 4k run read in the 8k windows of its model's training length: one window, labelled to 4k, not to 8k."""
    cells = [{"start": s, "end": s + 64, "tokens": 64, "loss": 1.0} for s in range(0, 4096, 64)]
    windows = window_perplexity(cells, 8192)
    assert windows["end"].tolist() == [4096] and windows["ppl"][0] == pytest.approx(math.e)
    assert window_perplexity(cells, 1024)["end"].tolist() == [1024, 2048, 3072, 4096]
