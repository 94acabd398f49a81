"""Runs split by a launcher: torchrun's ranks and a SLURM array's tasks each take their shard from the environment and
write their own file (NAME.shardKofN.jsonl), a killed rank resumes, and `longllada merge` gives back the one-process
run cell for cell — or refuses a set of shards that is not one whole run."""

import json
import os
import subprocess
import sys

import pytest
import torch

from longllada_theory.cli import main
from longllada_theory.errors import LongLLaDAError
from longllada_theory.measure.results import load_results, merge_shards, parse_shard

from helpers import needs_transformers_5, tiny_tasks
from real_formats import build_llada_checkpoint

NIAH = ["niah", "toy:diffusion", "--lengths", "128,192", "--depths", "0,50,100", "--needles", "passkey",
        "--answer-length", "8", "--no-progress"]


def test_a_slurm_array_task_alone_selects_its_shard():
    assert parse_shard(None, {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4",
                              "SLURM_ARRAY_TASK_COUNT": "3"}) == (1, 3)
    assert parse_shard(None, {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "3", "WORLD_SIZE": "2",
                              "RANK": "1"}) == (1, 2)  # torchrun's ranks inside an array task win
    assert parse_shard("0/4", {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3"}) == (0, 4)
    with pytest.raises(LongLLaDAError, match="numbered without gaps"):
        parse_shard(None, {"SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_COUNT": "3"})


def test_slurm_array_tasks_write_their_shards_and_merge_into_the_one_process_run(tmp_path, monkeypatch, capsys):
    whole = tmp_path / "whole.jsonl"
    assert main([*NIAH, "--device", "cpu", "--output", str(whole)]) == 0
    for task in (0, 1):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task))
        monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
        assert main([*NIAH, "--device", "cpu", "--output", str(tmp_path / "niah.jsonl")]) == 0
    shards = [tmp_path / f"niah.shard{k}of2.jsonl" for k in (0, 1)]
    merged = merge_shards(shards, tmp_path / "merged.jsonl")
    assert load_results([merged]).cells == load_results([whole]).cells
    header = json.loads(merged.open().readline())
    assert header["settings"] == json.loads(whole.open().readline())["settings"] and header["shard"] == [0, 1]


def test_merge_refuses_a_set_of_shards_that_is_not_one_whole_run(tmp_path, monkeypatch, capsys):
    for task in (0, 1):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task))
        monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
        assert main([*NIAH, "--device", "cpu", "--output", str(tmp_path / "niah.jsonl")]) == 0
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    monkeypatch.delenv("SLURM_ARRAY_TASK_COUNT")
    first, second = (tmp_path / f"niah.shard{k}of2.jsonl" for k in (0, 1))
    out = str(tmp_path / "m.jsonl")
    for shards, message in (([first], "missing [1]"), ([first, first], "given twice [0]")):
        capsys.readouterr()
        assert main(["merge", *map(str, shards), "--output", out]) == 2
        assert message in capsys.readouterr().err
    lines = second.read_text().splitlines()
    second.write_text("\n".join(lines[:-1]) + "\n")  # as if the task was killed before its last cell
    assert main(["merge", str(first), str(second), "--output", out]) == 2
    assert f"holds {len(lines) - 2} of its {len(lines) - 1} cells: resume it" in capsys.readouterr().err
    assert main([*NIAH, "--device", "cpu", "--shard", "1/2", "--output", str(second)]) == 0  # resumes
    assert main(["merge", str(first), str(second), "--output", out]) == 0
    assert main(["merge", str(first), str(second), "--output", out]) == 2  # never over a file without --force


#: one small grid per measuring command; perplexity's losses agree to 1e-6 (a rank batches its own chunks, so a
#: forward can be shorter than one process's and the float sums differ in the last digits), the rest exactly
GRIDS = {"ppl": ["ppl", "toy:ar", "--max-length", "512", "--chunk", "64"],
         "niah": ["niah", "toy:diffusion", "--lengths", "128,192", "--depths", "0,50,100", "--needles", "passkey",
                  "--answer-length", "8"],
         "ruler": ["ruler", "toy:ar", "--lengths", "1k", "--tasks", "niah_single_1,vt", "--samples", "2"]}


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("grid", GRIDS)
def test_torchrun_ranks_on_the_cpu_then_merge_equal_one_process(tmp_path, grid):
    """`torchrun --nproc_per_node 2` on a machine without CUDA: each rank runs on the CPU, writes its shard, and the
    merged file holds the cells of one process."""
    command = [*GRIDS[grid], "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "longllada_theory.cli", *command, "--output", str(tmp_path / "run.jsonl")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    shards = [tmp_path / f"run.shard{k}of2.jsonl" for k in (0, 1)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread, as torchrun gives each rank: the same sums
    try:
        assert main([*command, "--device", "cpu", "--output", str(tmp_path / "whole.jsonl")]) == 0
    finally:
        torch.set_num_threads(threads)
    merged = load_results([merge_shards(shards, tmp_path / "merged.jsonl")]).cells
    whole = load_results([tmp_path / "whole.jsonl"]).cells
    assert all(load_results([shard]).cells for shard in shards)  # both ranks measured
    if grid != "ppl":
        assert merged == whole
        return
    assert [{**c, "loss": None} for c in merged] == [{**c, "loss": None} for c in whole]
    assert [c["loss"] for c in merged] == pytest.approx([c["loss"] for c in whole], rel=1e-6)


def test_device_map_loads_through_accelerate_and_measures_the_same(tmp_path, capsys):
    """--device-map auto (accelerate's placement; on a machine without a GPU every module lands on the CPU): the RoPE
    check, the scored logits and the attention probe work on the placed model and give the plain run's cells."""
    for command in (["ppl", "toy:ar", "--max-length", "256", "--chunk", "64"],
                    ["attention", "toy:diffusion", "--length", "256", "--queries", "last:16"]):
        placed, plain = tmp_path / f"{command[0]}_placed.jsonl", tmp_path / f"{command[0]}_plain.jsonl"
        assert main([*command, "--no-progress", "--device-map", "auto", "--output", str(placed)]) == 0
        assert main([*command, "--no-progress", "--device", "cpu", "--output", str(plain)]) == 0
        assert load_results([placed]).cells == load_results([plain]).cells


#: a layer's weights on disk, brought in by accelerate's hooks at each forward (as accelerate's own dispatch tests
#: split a model on a machine without GPUs)
SPLIT = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "disk", "model.norm": "cpu",
         "model.rotary_emb": "cpu", "lm_head": "cpu"}


@pytest.mark.parametrize("source", ["llada", pytest.param("toy:ar", marks=needs_transformers_5)])
def test_a_model_split_by_a_device_map_measures_as_the_whole_model(tmp_path, source):
    """A device map with one layer offloaded to disk, for a native LLaDA checkpoint (built, then placed by
    accelerate's dispatch_model) and a transformers checkpoint (placed by from_pretrained): the model is really
    hooked (the offloaded layer's weights are not in memory), the RoPE check passes, and perplexity, the attention
    probe and NIAH's sampler give the plain run's cells."""
    from longllada_theory.models.loading import load_model

    model = str(build_llada_checkpoint(tmp_path / "llada")) if source == "llada" else source
    split = json.dumps(SPLIT)
    loaded = load_model(model, device_map=split, offload_folder=str(tmp_path / "offload"), progress=False)
    layer = loaded.model.model.layers[1]
    assert hasattr(layer, "_hf_hook") and layer.self_attn.q_proj.weight.device.type == "meta"
    assert loaded.verified and loaded.device.type == "cpu"
    for command in (["ppl", model, "--max-length", "128", "--chunk", "32", "--mc", "2"],
                    ["attention", model, "--length", "96", "--queries", "last:8"],
                    ["niah", model, "--lengths", "96", "--depths", "50", "--needles", "passkey",
                     "--answer-length", "4"]):
        if source == "toy:ar" and command[0] == "ppl":
            command = [c for c in command if c not in ("--mc", "2")]
        outputs = [tmp_path / f"{command[0]}_{name}.jsonl" for name in ("split", "plain")]
        assert main([*command, "--no-progress", "--device-map", split, "--output", str(outputs[0])]) == 0
        assert main([*command, "--no-progress", "--device", "cpu", "--output", str(outputs[1])]) == 0
        split_cells, plain_cells = (load_results([path]).cells for path in outputs)
        assert split_cells == plain_cells


@pytest.mark.parametrize("device_map, message", [
    ("everywhere", "expected auto, balanced, balanced_low_0, sequential or a JSON object"),
    ('{"model.layers": "gpu"}', "module 'model.layers' is sent to 'gpu'; expected cpu, disk, mps, cuda:N"),
    ("[1, 2]", "expected auto, balanced"),
])
def test_a_device_map_that_cannot_be_read_is_one_line(device_map, message, capsys):
    assert main(["ppl", "toy:ar", "--device-map", device_map, "--output", "/dev/null"]) == 2  # before loading
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.e2e
def test_lm_eval_under_accelerate_launch_splits_requests_and_gives_one_process_scores(tmp_path):
    """`accelerate launch --num_processes 2` (gloo on the CPU): each process scores its rank's share of the requests
    (five documents: one rank gets a padding request, as the harness pads), rank 0 gathers them, and every sample's
    log-likelihoods, generations and the task metrics equal one process's."""
    pytest.importorskip("lm_eval")
    tasks = tiny_tasks(tmp_path / "tasks", documents=5)
    harness = ["-m", "longllada_theory.cli", "lm-eval", "--model_args", "pretrained=toy:diffusion,target=16k,mc=4",
               "--tasks", "tiny_choice,tiny_generate", "--include_path", str(tasks), "--log_samples", "--device", "cpu"]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    runs = {"launched": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *harness],
            "one": [sys.executable, *harness]}
    found = {}
    for name, command in runs.items():
        result = subprocess.run([*command, "--output_path", str(tmp_path / name)], capture_output=True, text=True,
                                env=env, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        assert ("on rank 1" in result.stderr) == (name == "launched")  # the harness split the requests by rank
        found[name] = read_harness_run(tmp_path / name)
    assert found["launched"] == found["one"]
    assert len(found["launched"]["samples"]["tiny_choice"]) == 5  # every document once, none of the padding


def read_harness_run(folder):
    """The metrics and, per task, each document's responses from an lm-eval output folder."""
    results = json.loads(next(folder.rglob("results_*.json")).read_text())["results"]
    samples = {}
    for path in folder.rglob("samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        samples[task] = sorted((row["doc_id"], json.dumps(row["filtered_resps"])) for row in rows)
    return {"results": results, "samples": samples}


def test_an_offload_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert main(["ppl", "toy:ar", "--max-length", "128", "--chunk", "32", "--device-map", json.dumps(SPLIT),
                 "--offload-folder", str(blocked / "offload"), "--output", str(tmp_path / "r.jsonl")]) == 2
    error = capsys.readouterr().err
    assert f"--offload-folder {blocked / 'offload'}: cannot be created" in error
    assert len(error.strip().splitlines()) == 1
