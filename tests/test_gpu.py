"""On a machine with a CUDA device (skipped elsewhere): the measurements give on the GPU what they give on the CPU —
perplexity losses and the attention probe's statistics in float32 to 1e-4, a native LLaDA checkpoint's sampler
answering in bfloat16."""

import pytest
import torch

from longllada_theory.cli import main
from longllada_theory.measure.results import load_results

from helpers import needs_transformers_5
from real_formats import build_llada_checkpoint

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")]


@needs_transformers_5
@pytest.mark.parametrize("command, field", [
    (["ppl", "toy:ar", "--max-length", "512", "--chunk", "64"], "loss"),
    (["attention", "toy:diffusion", "--length", "512", "--queries", "last:32"], "local"),
])
def test_the_gpu_measures_what_the_cpu_measures(tmp_path, command, field):
    cells = {}
    for device in ("cpu", "cuda"):
        output = tmp_path / f"{device}.jsonl"
        assert main([*command, "--device", device, "--dtype", "float32", "--no-progress", "--output", str(output)]) == 0
        cells[device] = load_results([output]).cells
    assert [c["key"] for c in cells["cpu"]] == [c["key"] for c in cells["cuda"]]
    for cpu, gpu in zip(cells["cpu"], cells["cuda"], strict=True):
        assert gpu[field] == pytest.approx(cpu[field], rel=1e-4, abs=1e-5)


def test_a_native_llada_checkpoint_answers_on_the_gpu_in_bfloat16(tmp_path):
    model = str(build_llada_checkpoint(tmp_path / "llada"))
    output = tmp_path / "niah.jsonl"
    assert main(["niah", model, "--device", "cuda", "--dtype", "bfloat16", "--lengths", "96", "--depths", "50",
                 "--needles", "passkey", "--answer-length", "8", "--no-progress", "--output", str(output)]) == 0
    assert load_results([output]).cells
