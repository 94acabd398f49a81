"""`longllada lm-eval`: the package's models as an lm-evaluation-harness model — exact AR log-likelihoods, LLaDA's
Monte-Carlo estimate for diffusion models, each family's sampler for generation, RoPE scaling verified at load —
run on a tiny local task, offline."""

import itertools
import json
import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("lm_eval")

import torch  # noqa: E402

from longllada_theory import LongLLaDAError  # noqa: E402
from longllada_theory.cli import main  # noqa: E402
from longllada_theory.harness import LongLLaDALM  # noqa: E402

from helpers import tiny_tasks, tiny_twin  # noqa: E402


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("twins")
    return {kind: str(tiny_twin(root / kind, kind)) for kind in ("ar", "diffusion")}


def request(*args):
    return SimpleNamespace(args=args)


def log_probs(lm, ids):
    with torch.no_grad():
        return torch.log_softmax(lm.loaded.model(input_ids=torch.tensor([ids])).logits[0].double(), -1)


def test_ar_log_likelihood_is_the_exact_sum_and_greedy_is_the_argmax(twins):
    lm = LongLLaDALM(twins["ar"], device="cpu")
    context, continuation = "The key is", " 4821."
    (value, greedy), = lm.loglikelihood([request(context, continuation)], disable_tqdm=True)
    ids = list((context + continuation).encode())
    table = log_probs(lm, ids)
    assert value == pytest.approx(sum(float(table[t - 1, ids[t]]) for t in range(len(context), len(ids))), abs=1e-4)
    assert greedy == all(int(table[t - 1].argmax()) == ids[t] for t in range(len(context), len(ids)))
    text = "abcdefghijklmnopqrst"  # one window (max_length: the twin's 32): every byte after the start token
    start = lm._start()
    table = log_probs(lm, start + list(text.encode()))
    rolling, longer = lm.loglikelihood_rolling([request(text), request(text * 4)], disable_tqdm=True)
    assert rolling == pytest.approx(sum(float(table[t, ord(c)]) for t, c in enumerate(text)), abs=1e-4)
    assert math.isfinite(longer) and longer < rolling  # 80 bytes in three windows, each byte scored once


def test_diffusion_log_likelihood_is_llada_s_monte_carlo_estimate(twins):
    """One masked token: the estimate is exact. Three: its mean over many samples is LLaDA's bound
    −E_m E_{|M|=m} [(n/m) Σ_{i∈M} −log p(x_i | unmasked)], enumerated here over every mask."""
    lm = LongLLaDALM(twins["diffusion"], device="cpu", mc=400, mc_batch=100)
    mask, shift = lm.loaded.mask_token_id, lm.loaded.logits_shift
    context = list(b"Passkey:")
    (one, _), = lm.loglikelihood([request("Passkey:", "7")], disable_tqdm=True)
    assert one == pytest.approx(float(log_probs(lm, context + [mask])[len(context) - shift, ord("7")]), abs=1e-5)
    continuation = list(b"734")
    n, bound = len(continuation), 0.0
    for m in range(1, n + 1):
        subsets = list(itertools.combinations(range(n), m))
        for subset in subsets:
            noisy = context + [mask if i in subset else c for i, c in enumerate(continuation)]
            table = log_probs(lm, noisy)
            nll = -sum(float(table[len(context) + i - shift, continuation[i]]) for i in subset)
            bound += (n / m) * nll / (n * len(subsets))
    (estimate, _), = lm.loglikelihood([request("Passkey:", "734")], disable_tqdm=True)
    assert estimate == pytest.approx(-bound, abs=0.05 * abs(bound))


def test_rope_scaling_is_applied_and_checked_at_load(twins):
    lm = LongLLaDALM(twins["diffusion"], target="256", method="longllada", device="cpu")
    assert lm.loaded.plan.scaling_factor > 1 and lm.loaded.verified and lm.max_length == 256


def test_bad_model_args_and_diffusion_perplexity_tasks_are_named(twins):
    with pytest.raises(LongLLaDAError, match="model_args temprature unknown"):
        LongLLaDALM(twins["ar"], temprature=0.5)
    lm = LongLLaDALM(twins["diffusion"], device="cpu")
    with pytest.raises(LongLLaDAError, match="AR models only"):
        lm.loglikelihood_rolling([request("some text")])


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["ar", "diffusion"])
def test_lm_eval_runs_a_local_task_offline(twins, tmp_path, kind):
    tasks = tiny_tasks(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "longllada_theory.cli", "lm-eval", "--model_args",
         f"pretrained={twins[kind]},target=64,mc=4,mc_batch=4", "--tasks", "tiny_choice,tiny_generate",
         "--include_path", str(tasks), "--device", "cpu", "--output_path", str(tmp_path / "out")],
        capture_output=True, text=True, env={"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
                                             "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())
    assert document["config"]["model"] == "longllada"
    accuracy = document["results"]["tiny_choice"]["acc,none"]
    assert accuracy in (0.0, 0.5, 1.0) and not math.isnan(document["results"]["tiny_generate"]["exact_match,none"])
    assert np.isfinite(accuracy)
    assert "|Tasks|Version|Filter|n-shot|Metric|" in result.stdout.replace(" ", "")  # the harness's own table headers


@pytest.mark.parametrize("model_args, task, message", [
    ("colour=red", "tiny_choice", "--model_args colour unknown; expected pretrained, target"),
    ("mc=0", "tiny_choice", "--model_args mc: 0 is out of range; expected a whole number from 1"),
    ("mc=4", "no_such_task", "lm-eval stopped: Tasks not found: no_such_task"),
])
@pytest.mark.slow
def test_lm_eval_bad_input_is_one_line(twins, tmp_path, model_args, task, message, capsys):
    status = main(["lm-eval", "--model_args", f"pretrained={twins['ar']},{model_args}", "--tasks", task,
                   "--include_path", str(tiny_tasks(tmp_path)), "--device", "cpu"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"longllada: error: {message}")


def test_lm_eval_finds_the_model_by_its_entry_point():
    """Declared in pyproject.toml under lm_eval.models, for harness versions that discover third-party models."""
    from importlib.metadata import entry_points

    point, = [p for p in entry_points(group="lm_eval.models") if p.name == "longllada"]
    assert point.load() is LongLLaDALM
