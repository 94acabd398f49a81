"""Retrieval heads: each head's most-attended key at the query that writes each answer token — at the sampler step
that unmasks it for a diffusion model — equals the argmax of transformers' eager attention maps; the score is a
count of copies; ablating heads zeroes exactly their outputs and changes NIAH."""

import json

import numpy as np
import pytest
import torch

from longllada_theory import LongLLaDAError
from longllada_theory.cli import main
from longllada_theory.measure.probe.ablation import heads_ablated
from longllada_theory.measure.probe.denoising import denoising_statistics
from longllada_theory.measure.protocols.niah import cell_prompt
from longllada_theory.measure.protocols.retrieval import (
    RetrievalHeads,
    RetrievalSettings,
    ablation_effect,
    control_heads,
    copy_hits,
    head_scores,
    top_heads,
    written_and_argmax,
)
from longllada_theory.measure.sampling import SamplerOptions
from longllada_theory.models.loading import load_model

TWINS = "longllada_theory/data/twins/v1"


def eager_argmax(folder, ids, query, kind):
    """[layers, heads]: the key each head attends to most at ``query``, from output_attentions of the eager model."""
    eager = load_model(folder, device="cpu", attn_implementation="eager", kind=kind)
    mask = torch.ones(1, 1, len(ids), len(ids), dtype=torch.bool) if kind == "diffusion" else None
    with torch.no_grad():
        out = eager.model(input_ids=torch.tensor([ids]), attention_mask=mask, output_attentions=True)
    return np.array([a[0, :, query].argmax(-1).numpy() for a in out.attentions])


@pytest.fixture(scope="module")
def needle_prompt():
    loaded = load_model(f"{TWINS}/ar", device="cpu")
    settings = RetrievalSettings(lengths=(128,), depths=(50.0,), needles="passkey", answer_length=8)
    protocol = RetrievalHeads(loaded, settings)
    return cell_prompt(loaded, protocol.cell_inputs, protocol.settings, settings.keys()[0])


def test_an_ar_models_heads_are_read_at_the_query_before_each_written_token(needle_prompt):
    loaded = load_model(f"{TWINS}/ar", device="cpu")
    answer, argmax = written_and_argmax(loaded, needle_prompt.ids, SamplerOptions(gen_length=8), seed=0)
    full = needle_prompt.ids + answer
    for i in range(len(answer)):
        assert (argmax[:, :, i] == eager_argmax(f"{TWINS}/ar", full, len(needle_prompt.ids) - 1 + i, "ar")).all()


def test_a_diffusion_models_heads_are_read_at_the_step_that_unmasks_each_token(needle_prompt):
    folder = f"{TWINS}/diffusion"
    loaded = load_model(folder, device="cpu")
    options = SamplerOptions(gen_length=8)
    answer, argmax = written_and_argmax(loaded, needle_prompt.ids, options, seed=0)
    _, steps = denoising_statistics(loaded, needle_prompt.ids, options, 0, layers=[0])
    start = len(needle_prompt.ids)
    for j in range(len(answer)):
        step = max(s for s, row in enumerate(steps[0]) if row["masked"][j])  # the last forward that saw it masked
        ids = needle_prompt.ids + [loaded.mask_token_id if m else a for m, a in zip(steps[0][step]["masked"], answer)]
        assert ids[start + j] == loaded.mask_token_id
        assert (argmax[:, :, j] == eager_argmax(folder, ids, start + j, "diffusion")).all()


def test_a_hit_is_a_head_pointing_at_the_needle_token_it_copies():
    ids = [5, 6, 7, 8, 9, 7, 1, 7, 2]          # needle = positions 1–3 (tokens 6 7 8); answer written: 7 then 2
    written = [7, 2]
    argmax = np.array([[[2, 3], [5, 2]]])       # layer 0: head 0 → pos 2 (7 ✓), pos 3; head 1 → pos 5 (7, outside)
    copies, hits = copy_hits(ids, (1, 4), written, argmax)
    assert copies == 1                          # 2 is not in the needle: no copy step
    assert hits.tolist() == [[1, 0]]
    copies, scores = head_scores([{"copies": 1, "hits": [[1, 0]]}, {"copies": 3, "hits": [[1, 3]]}])
    assert copies == 4 and scores.tolist() == [[0.5, 0.75]]
    assert top_heads(scores, 1) == [("0.1", 0.75)]


def test_ablating_a_head_zeroes_its_slice_of_the_output_projections_input_only():
    loaded = load_model(f"{TWINS}/ar", device="cpu")
    projection = loaded.model.model.layers[1].self_attn.o_proj
    ids = torch.tensor([list(range(40, 72))])
    width = loaded.spec.head_dim

    def projection_input():
        seen = []  # a pre-hook registered last runs last: it sees what the projection gets
        handle = projection.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
        with torch.no_grad():
            loaded.model(input_ids=ids)
        handle.remove()
        return seen[0]

    plain = projection_input()
    with heads_ablated(loaded, ["1.2"]):
        zeroed = projection_input()
    assert (zeroed[..., 2 * width:3 * width] == 0).all() and (plain[..., 2 * width:3 * width] != 0).any()
    assert torch.equal(zeroed[..., :2 * width], plain[..., :2 * width])
    assert torch.equal(zeroed[..., 3 * width:], plain[..., 3 * width:])
    assert torch.equal(projection_input(), plain)  # the hooks are gone after the block
    with pytest.raises(LongLLaDAError, match="head 9.0 does not exist"):
        with heads_ablated(loaded, ["9.0"]):
            pass


def test_the_cli_scores_heads_resumes_and_its_top_heads_break_niah(tmp_path, capsys):
    out = tmp_path / "retrieval.jsonl"
    common = ["--lengths", "128", "--depths", "0,50,100", "--needles", "passkey", "--answer-length", "8",
              "--device", "cpu", "--no-progress", "--json"]
    argv = ["retrieval", f"{TWINS}/ar", *common, "--output", str(out)]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["niah_mean"] == 100 and summary["copies"] == 24
    assert summary["retrieval_heads"] >= 1 and summary["top"][0]["score"] >= 0.1
    assert main(argv) == 0 and json.loads(capsys.readouterr().out) == summary
    assert main(["niah", f"{TWINS}/ar", *common, "--ablate-heads", summary["top"][0]["head"]]) == 0
    ablated = json.loads(capsys.readouterr().out)
    assert ablated["by_length"]["128"]["mean"] < 50  # the top head gone, the needle is lost
    assert main(["plot", str(out), "--output", str(tmp_path / "heads.png")]) == 0
    assert main(["niah", f"{TWINS}/ar", *common, "--ablate-heads", "1.x"]) == 2
    assert "'1.x' is not a head" in capsys.readouterr().err
    assert main(["niah", f"{TWINS}/ar", *common, "--ablate-heads", "9.0"]) == 2  # refused before any cell
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("longllada: error:")]
    assert len(errors) == 1 and "head 9.0 does not exist" in errors[0] and "Traceback" not in err
    assert main(["retrieval", f"{TWINS}/ar", *common, "--protocol", "paper"]) == 2  # not an option of retrieval
    assert "--protocol" in capsys.readouterr().err
    with pytest.raises(LongLLaDAError, match="use --protocol package"):
        RetrievalSettings(protocol="paper", needles="x.jsonl")


class Run:  # what ablation_effect reads of a results file
    def __init__(self, model, cells, ablate=None):
        self.settings, self.cells = {"model": model, "ablate_heads": ablate}, cells


def test_an_ablation_is_a_retrieval_ablation_when_it_removes_top_heads_and_a_control_otherwise():
    retrieval = [Run(m, [{"copies": 2, "hits": [[2, 0], [1, 0]]}]) for m in ("a", "b")]  # top heads 0.0 then 1.0
    niah = [Run("a", [{"score": 100}]), Run("a", [{"score": 10}], ["0.0"]), Run("a", [{"score": 90}], ["0.1"]),
            Run("b", [{"score": 80}]), Run("b", [{"score": 20}], ["1.0"]), Run("b", [{"score": 80}], ["1.1"])]
    effect = ablation_effect(retrieval, niah)
    assert [(r["retrieval_drop"], r["control_drop"]) for r in effect["rows"]] == [(90, 10), (60, 0)]
    assert effect["retrieval"]["mean"] == 75 and effect["difference"]["mean"] == 70 and effect["difference"]["n"] == 2
    with pytest.raises(LongLLaDAError, match="one NIAH run without ablation"):
        ablation_effect(retrieval, niah[1:])


def test_control_heads_are_drawn_among_heads_below_the_threshold_reproducibly():
    scores = np.array([[0.5, 0.0, 0.05], [0.2, 0.0, 0.09]])
    drawn = control_heads(scores, 3, seed=1)
    assert set(drawn) <= {"0.1", "0.2", "1.1", "1.2"} and len(set(drawn)) == 3  # never 0.0 or 1.0 (≥ 0.1)
    assert control_heads(scores, 3, seed=1) == drawn


def test_the_scripts_ablations_remove_the_heads_the_stored_retrieval_runs_name():
    from pathlib import Path

    from longllada_theory.measure.results import load_results

    root = Path(__file__).resolve().parents[1]
    commands = [line for line in (root / "scripts" / "retrieval_runs.sh").read_text().splitlines()
                if "--ablate-heads" in line]
    assert len(commands) == 16
    for line in commands:
        name = line.split('"$RUNS/ablation_')[1].split('.jsonl"')[0]
        study, which = name.rsplit("_", 1)
        heads = line.split("--ablate-heads ")[1].split()[0].split(",")
        run = load_results([root / "longllada_theory" / "data" / "runs" / f"retrieval_{study}.jsonl"])
        summary = RetrievalHeads.summarize(run.settings, run.cells)
        named = summary["ablate" if which == "retrieval" else "control"].split(",")
        assert heads == named[:len(heads)], name
