"""The benchmarks measure what they say: forward passes counted, ratios computed, eager compared — on tiny models.
(No timing is asserted anywhere: the numbers are printed for a person to read.)"""

import json
import subprocess
import sys

import pytest

from longllada_theory.errors import LongLLaDAError
from longllada_theory.measure.bench import bench_attention, bench_niah, bench_perplexity
from longllada_theory.measure.niah import NeedleInAHaystack, NiahSettings
from longllada_theory.models.loading import load_model

from conftest import ROOT
from helpers import tiny_twin


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return {kind: load_model(str(tiny_twin(root / kind, kind)), device="cpu", progress=False)
            for kind in ("ar", "diffusion")}


def test_attention_bench_compares_the_probe_with_eager(twins):
    result = bench_attention(twins["ar"], list(range(3, 99)), "last:8")
    assert result["max_abs_prob_difference"] < 1e-5
    assert 0 < result["memory_ratio_probe_vs_eager_extra"] and result["time_ratio_instrumented_vs_plain"] > 0
    assert {"plain", "instrumented", "eager"} <= set(result)


def test_attention_bench_without_eager_says_why(twins):
    result = bench_attention(twins["ar"], list(range(3, 99)), "last:8", eager=False)
    assert result["eager_skipped"] == "not asked for (--no-eager)" and "eager" not in result


def test_perplexity_bench_batches_the_samples_into_one_forward(twins):
    result = bench_perplexity(twins["diffusion"], list(range(3, 131)), chunk=32, mc=4, repeats=3)
    assert result["batched"]["forwards_per_estimate"] == 1
    assert result["sequential"]["forwards_per_estimate"] == 4
    assert result["se_ratio_batched_vs_sequential"] == pytest.approx(
        result["batched"]["standard_error"] / result["sequential"]["standard_error"], rel=1e-2)
    assert set(result["memory"]) == {"scored_logits_peak_bytes", "all_logits_peak_bytes"}


def test_perplexity_bench_needs_a_diffusion_model(twins):
    with pytest.raises(LongLLaDAError, match="needs a diffusion model"):
        bench_perplexity(twins["ar"], list(range(3, 131)))


@pytest.mark.parametrize("kind, batch_size", [("diffusion", 1), ("diffusion", 3), ("ar", 2)])
def test_niah_bench_counts_the_forwards_of_each_answer(twins, kind, batch_size):
    sampler = {"block_length": 4, "steps": 6} if kind == "diffusion" else {}  # greedy AR answers take neither
    settings = NiahSettings(lengths=(96,), depths=(0.0, 50.0, 100.0), answer_length=8, batch_size=batch_size,
                            needles="passkey", **sampler)
    result = bench_niah(NeedleInAHaystack(twins[kind], settings), cells=3)
    assert sum(g["cells"] for g in result["batches"]) == 3
    forwards = [g["forwards"] for g in result["batches"]]
    assert result["forwards_as_expected"]
    assert all(f == 6 for f in forwards) if kind == "diffusion" else all(1 <= f <= 8 for f in forwards)


def test_bench_commands_print_json(tmp_path):
    folder = tiny_twin(tmp_path / "twin", "diffusion")
    for what, extra in (("ppl", ["--length", "96", "--chunk", "32", "--mc", "2", "--repeats", "3"]),
                        ("niah", ["--length", "96", "--cells", "2", "--needles", "passkey", "--answer-length", "4"])):
        result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", "bench", what, str(folder), *extra,
                                 "--device", "cpu", "--json"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["model"] == str(folder)


def test_gpu_protocol_dry_run_on_cpu(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_protocol.py"), str(tmp_path), "--tiny"],
                            capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_protocol.json").read_text())
    assert [p["length"] for p in report["probe"]] == [256, 512]
    assert report["exactness_2_layers"]["max_abs_prob_difference"] < 1e-4
