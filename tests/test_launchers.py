"""Runs split by a launcher: torchrun's ranks and a SLURM array's tasks each take their shard from the environment and
write their own file (NAME.shardKofN.jsonl), a killed rank resumes, and `longllada merge` gives back the one-process
run cell for cell — or refuses a set of shards that is not one whole run."""

import json
import os
import subprocess
import sys

import pytest

from longllada_theory.cli import main
from longllada_theory.errors import LongLLaDAError
from longllada_theory.measure.results import load_results, merge_shards, parse_shard

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


@pytest.mark.slow
def test_torchrun_ranks_on_the_cpu_then_merge_equal_one_process(tmp_path):
    """`torchrun --nproc_per_node 2` on a machine without CUDA: each rank runs on the CPU, writes its shard, and the
    merged file holds the cells of one process (losses to 1e-6: the ranks batch their own chunks)."""
    command = ["ppl", "toy:ar", "--max-length", "512", "--chunk", "64", "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "longllada_theory.cli", *command, "--output", str(tmp_path / "ppl.jsonl")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    shards = [tmp_path / f"ppl.shard{k}of2.jsonl" for k in (0, 1)]
    one = subprocess.run([sys.executable, "-m", "longllada_theory.cli", *command, "--device", "cpu", "--output",
                          str(tmp_path / "whole.jsonl")], capture_output=True, text=True, env=env, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]  # one thread, as torchrun gives each rank: the same sums
    merged = load_results([merge_shards(shards, tmp_path / "merged.jsonl")]).cells
    whole = load_results([tmp_path / "whole.jsonl"]).cells
    # the same cells, in the same order; a shard batches its own chunks, so a forward can be shorter than one
    # process's and the float sums differ in the last digits
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
