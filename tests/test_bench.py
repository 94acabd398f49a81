"""The benchmarks measure what they say: sides timed in turn, ratios from the same pairs, memory of each side in a run
of its own, forward passes counted, eager compared — on tiny models and fake callables. (No timing is asserted
anywhere: the numbers are printed for a person to read.)"""

import json
import statistics
import subprocess
import sys

import pytest
import torch

from longllada_theory.cli import main
from longllada_theory.errors import LongLLaDAError
from longllada_theory.measure.bench import bench
from longllada_theory.measure.bench.bench import Timings, bench_attention, bench_niah, bench_perplexity
from longllada_theory.measure.bench.memory import TensorBytes
from longllada_theory.measure.probe import probe as probe_module
from longllada_theory.measure.protocols.niah import NeedleInAHaystack, NiahSettings
from longllada_theory.models.loading import load_model

from conftest import ROOT
from helpers import tiny_twin


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return {kind: load_model(str(tiny_twin(root / kind, kind)), device="cpu", progress=False)
            for kind in ("ar", "diffusion")}


def test_the_sides_run_in_turn_after_a_warm_up_of_each():
    calls = []
    sides = {name: (lambda name=name: calls.append(name) or len(calls)) for name in "ab"}
    timings = bench.time_interleaved(sides, repeats=3)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # one warm-up of each, then A B A B A B
    assert timings["a"].values == [3, 5, 7] and timings["b"].values == [4, 6, 8]  # only the timed runs are kept
    assert all(len(t.wall) == len(t.cpu) == 3 for t in timings.values())
    calls.clear()
    bench.time_interleaved({name: (lambda name=name: calls.append(name)) for name in "abc"}, repeats=2, warmup=0)
    assert calls == ["a", "b", "c", "a", "b", "c"]


def test_timing_refuses_bad_input():
    with pytest.raises(LongLLaDAError, match="repeats 0"):
        bench.time_interleaved({"a": lambda: None}, repeats=0)
    with pytest.raises(LongLLaDAError, match="at least one side"):
        bench.time_interleaved({}, repeats=1)
    with pytest.raises(LongLLaDAError, match="same rounds"):
        bench.time_ratio(Timings([1.0, 2.0], [1.0, 2.0]), Timings([1.0], [1.0]))


def test_the_ratios_come_from_the_same_pairs():
    probe, plain = Timings(wall=[3.0, 2.0, 10.0], cpu=[6.0, 4.0, 20.0]), Timings(wall=[1.0, 2.0, 4.0], cpu=[2.0] * 3)
    ratio = bench.time_ratio(probe, plain)
    assert ratio == {"median_of_pairs": 2.5, "of_minima": 2.0, "pairs": 3}  # pairs 3, 1, 2.5; minima 2 / 1
    summary = probe.summary()
    assert (summary["median_seconds"], summary["min_seconds"], summary["median_cpu_seconds"]) == (3.0, 2.0, 6.0)


def test_tensor_bytes_count_the_storages_created_and_held():
    weight = torch.ones(100, 100)
    with TensorBytes() as counted:
        a = torch.ones(1000)                      # 4000 bytes
        b = torch.mm(weight, weight.t())          # 40000 bytes; the view of a tensor made before is not counted
        b.add_(1)                                 # in place: nothing new
        view = b[:10]
        del a
        c = torch.zeros(500)                      # 2000 bytes, a freed
    assert counted.peak == 44000 and counted.current == 42000
    del b
    assert counted.current == 42000               # the view keeps the storage
    del view, c
    assert counted.current == 0


ATTENTION_KEYS = {"length", "queries", "device", "dtype", "layers", "model", "attn_implementation",
                  "eager_attention_bytes_estimate", "timing", "memory_measured", "plain", "instrumented",
                  "time_ratios", "time_ratio_instrumented_vs_plain", "probe_own_peak_bytes", "probe_extra_bytes",
                  "probe_extra_tensor_bytes", "probe_own_peak_tensor_bytes"}
EAGER_KEYS = {"eager", "time_ratio_eager_vs_plain", "max_abs_prob_difference", "memory_ratio_probe_vs_eager_extra",
              "memory_ratio_probe_vs_eager_extra_tensors"}
SIDE_KEYS = {"seconds", "runs", "median_seconds", "min_seconds", "median_cpu_seconds", "wall_seconds", "cpu_seconds",
             "peak_extra_bytes", "peak_extra_tensor_bytes"}


def test_attention_bench_compares_the_probe_with_eager(twins):
    result = bench_attention(twins["ar"], list(range(3, 99)), "last:8", repeats=3)
    assert set(result) == ATTENTION_KEYS | EAGER_KEYS
    assert all(set(result[name]) == SIDE_KEYS for name in ("plain", "instrumented", "eager"))
    assert result["max_abs_prob_difference"] < 1e-5
    for name in ("instrumented", "eager"):  # each ratio from the same rounds' runs
        numerator, plain = result[name]["wall_seconds"], result["plain"]["wall_seconds"]
        ratio = result["time_ratios"][f"{name}_vs_plain"]
        assert ratio["pairs"] == len(numerator) == len(plain) == 3
        assert ratio["median_of_pairs"] == pytest.approx(statistics.median(a / b for a, b in zip(numerator, plain)),
                                                         rel=1e-3)
        assert ratio["of_minima"] == pytest.approx(min(numerator) / min(plain), rel=1e-3)
        assert result[f"time_ratio_{name}_vs_plain"] == ratio["median_of_pairs"]
        assert result[name]["seconds"] == result[name]["median_seconds"]
    assert result["probe_own_peak_tensor_bytes"] > 0  # the window around the probe's hook saw its statistics
    assert 0 < result["memory_ratio_probe_vs_eager_extra_tensors"]
    assert "tensor bytes" in result["memory_measured"] and "resident set" in result["memory_measured"]


def test_the_probes_memory_is_measured_without_the_comparisons_tensors(twins, monkeypatch):
    """Each measured region holds one forward: plain; the probe keeping no probabilities; eager. The probe that
    keeps probabilities for the comparison runs outside every measured region."""
    events = []

    class Measured(bench.PeakMemory):
        def __enter__(self):
            events.append("measure")
            return super().__enter__()

        def __exit__(self, *exc):
            events.append("end")
            return super().__exit__(*exc)

    class Probe(probe_module.AttentionProbe):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            events.append(("probe", self.keep_probs))

    monkeypatch.setattr(bench, "PeakMemory", Measured)
    monkeypatch.setattr(bench, "AttentionProbe", Probe)
    model = twins["ar"].model
    handle = model.register_forward_pre_hook(
        lambda module, args, kwargs: events.append(("forward", bool(kwargs.get("output_attentions")))),
        with_kwargs=True)
    try:
        bench_attention(twins["ar"], list(range(3, 99)), "last:8", repeats=1)
    finally:
        handle.remove()
    regions, inside = [], None
    for event in events:
        if event == "measure":
            inside = []
        elif event == "end":
            regions.append(inside)
            inside = None
        elif inside is not None:
            inside.append(event)
    assert regions == [[("forward", False)], [("probe", False), ("forward", False)], [("forward", True)]]
    after = events[len(events) - events[::-1].index("end"):]
    assert after == [("probe", True), ("forward", False)]  # the comparison: after the last measured region


def test_attention_bench_without_eager_says_why(twins):
    result = bench_attention(twins["ar"], list(range(3, 99)), "last:8", eager=False, repeats=1)
    assert result["eager_skipped"] == "not asked for (--no-eager)" and "eager" not in result
    assert set(result) == ATTENTION_KEYS | {"eager_skipped"} and set(result["time_ratios"]) == {"instrumented_vs_plain"}


def test_perplexity_bench_batches_the_samples_into_one_forward(twins):
    result = bench_perplexity(twins["diffusion"], list(range(3, 131)), chunk=32, mc=4, repeats=3)
    assert result["batched"]["forwards_per_estimate"] == 1
    assert result["sequential"]["forwards_per_estimate"] == 4
    assert result["se_ratio_batched_vs_sequential"] == pytest.approx(
        result["batched"]["standard_error"] / result["sequential"]["standard_error"], rel=1e-2)
    assert set(result["memory"]) == {"scored_logits_peak_bytes", "all_logits_peak_bytes",
                                     "scored_logits_peak_tensor_bytes", "all_logits_peak_tensor_bytes"}
    assert result["memory"]["scored_logits_peak_tensor_bytes"] < result["memory"]["all_logits_peak_tensor_bytes"]
    for name in ("batched", "sequential"):
        r = result[name]
        assert len(r["wall_seconds"]) == len(r["cpu_seconds"]) == 3
        assert r["seconds_per_estimate"] == pytest.approx(statistics.median(r["wall_seconds"]), abs=1e-4)  # 4 digits
        assert r["min_seconds_per_estimate"] == pytest.approx(min(r["wall_seconds"]), abs=1e-4)
        assert r["cpu_seconds_per_estimate"] == pytest.approx(statistics.median(r["cpu_seconds"]), abs=1e-4)
    pairs = [a / b for a, b in zip(result["batched"]["wall_seconds"], result["sequential"]["wall_seconds"])]
    assert result["time_ratio_batched_vs_sequential"] == pytest.approx(statistics.median(pairs), rel=1e-3)


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
    assert all(set(g) == {"cells", "forwards", "seconds", "cpu_seconds"} for g in result["batches"])


@pytest.mark.slow
def test_bench_commands_print_json(tmp_path, capsys):
    folder = tiny_twin(tmp_path / "twin", "diffusion")
    expected = {"ppl": {"timing", "memory_measured", "time_ratio_batched_vs_sequential_of_minima"},
                "niah": {"timing", "cpu_seconds_per_cell"}, "attention": ATTENTION_KEYS | EAGER_KEYS}
    for what, extra in (("ppl", ["--length", "96", "--chunk", "32", "--mc", "2", "--repeats", "3"]),
                        ("niah", ["--length", "96", "--cells", "2", "--needles", "passkey", "--answer-length", "4"]),
                        ("attention", ["--length", "96", "--queries", "last:8", "--repeats", "1"])):
        for output in (["--json"], []):
            status = main(["bench", what, str(folder), *extra, "--device", "cpu", *output])
            printed = capsys.readouterr()
            assert status == 0, printed.err
            if output:
                document = json.loads(printed.out)
                assert document["model"] == str(folder) and expected[what] <= set(document)
            else:
                assert "CPU" in printed.out and ("min" in printed.out or what == "niah")


@pytest.mark.slow
def test_gpu_protocol_dry_run_on_cpu(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_protocol.py"), str(tmp_path), "--tiny"],
                            capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_protocol.json").read_text())
    assert [p["length"] for p in report["probe"]] == [256, 512]
    assert report["exactness_2_layers"]["max_abs_prob_difference"] < 1e-4


def test_timed_attention_runs_keep_nothing_between_rounds(tmp_path, monkeypatch):
    import longllada_theory.measure.bench.bench as bench
    from longllada_theory.models.loading import load_model

    kept = {}
    real = bench.time_interleaved

    def spy(sides, repeats, device=None, warmup=1):
        timings = real(sides, repeats, device, warmup)
        kept.update({name: t.values for name, t in timings.items()})
        return timings

    monkeypatch.setattr(bench, "time_interleaved", spy)
    loaded = load_model(str(tiny_twin(tmp_path / "a", "ar")), device="cpu")
    bench.bench_attention(loaded, list(range(40)), queries="last:4", repeats=2)
    assert set(kept) == {"plain", "instrumented", "eager"}
    assert all(value is None for values in kept.values() for value in values)  # no probabilities held across rounds
