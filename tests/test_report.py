"""`longllada report RESULTS_DIR` builds the notebooks' tables, figures and claim verdicts from a user's own results
files: every run summarised with its uncertainty, the claims a run can speak to judged by the same criteria, one
figure per protocol."""

import json

import pytest

from longllada_theory import LongLLaDAError
from longllada_theory.cli import main
from longllada_theory.report import build_report


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    for argv in (["ppl", "toy:ar", "--max-length", "512", "--chunk", "64"],
                 ["ppl", "toy:diffusion", "--max-length", "512", "--chunk", "64", "--mc", "2"],
                 ["niah", "toy:diffusion", "--lengths", "128,256", "--depths", "0,100", "--needles", "passkey",
                  "--answer-length", "8", "--needles-per-cell", "2"]):
        name = "_".join(argv[:2]).replace(":", "_")
        assert main([*argv, "--device", "cpu", "--no-progress", "--output", str(folder / f"{name}.jsonl")]) == 0
    (folder / "notes.jsonl").write_text("not a results file\n")  # ignored
    return folder


def test_a_report_summarises_every_run_and_judges_the_claims(results, tmp_path):
    report = build_report(results, tmp_path / "report")
    assert sorted(r["protocol"] for r in report["runs"]) == ["niah", "ppl", "ppl"]
    ar = next(r for r in report["runs"] if r["protocol"] == "ppl" and r["kind"] == "ar")
    assert ar["summary"]["final_position"] == 512 and all(se >= 0 for se in ar["summary"]["window_log_se"].values())
    niah = next(r for r in report["runs"] if r["protocol"] == "niah")["summary"]
    assert set(niah["by_length"]) == {"128", "256"} and niah["by_length"]["256"]["n"] == 4
    claims = {c["claim"]: c for c in report["claims"]}
    for claim, holds in (("perplexity explodes past T", lambda g: g > 2), ("perplexity stays flat past T",
                                                                          lambda g: g <= 1.25)):
        measured = claims[claim]["measured"]
        assert "running perplexity at 512 / at T = 128" in measured
        assert claims[claim]["agrees"] == holds(float(measured.rsplit(" ", 1)[1].rstrip("×")))
    written = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"report.md", "report.json", "ppl.png", "niah.png"} <= written
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## The paper's claims these runs speak to" in text and "![](ppl.png)" in text
    assert json.loads((tmp_path / "report" / "report.json").read_text())["runs"]


def test_a_folder_without_results_is_refused(tmp_path, capsys):
    with pytest.raises(LongLLaDAError, match="holds no longllada results files"):
        build_report(tmp_path, tmp_path / "out")
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_ruler_and_denoising_runs_are_summarised(tmp_path):
    import shutil

    from longllada_theory.figures.catalog import DATA

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("ruler_smollm2_direct.jsonl", "denoising_twin_512_direct.jsonl"):
        shutil.copy(DATA / "runs" / name, folder / name)
    report = build_report(folder, tmp_path / "out")
    ruler, = [run["summary"]["groups"]["Avg"] for run in report["runs"] if run["protocol"] == "ruler"]
    assert ruler[4096]["mean"] == pytest.approx(30.6, abs=0.05) and ruler[12288]["mean"] == 0
    denoising, = [run["summary"] for run in report["runs"] if run["protocol"] == "attention"]
    assert denoising["steps"] and 0 < denoising["needle_share"] < 0.047  # below uniform on the needle
    assert "during denoising at 512" in (tmp_path / "out" / "report.md").read_text()


def test_a_run_of_one_of_the_papers_models_is_compared_with_the_papers_figure(tmp_path):
    """Each run is handed to its protocol's first paper figure when the model is one the paper measured, at the NTK
    factor the paper published (none for a scaled NIAH run); other models get no comparison."""
    from longllada_theory.measure.results import ResultsFile
    from longllada_theory.reference import reference_grid

    grid = reference_grid("LLaDA-8B-Base")
    folder = tmp_path / "results"
    folder.mkdir()
    for name, model, scaling in (("paper", "GSAI-ML/LLaDA-8B-Base", None),
                                 ("scaled", "GSAI-ML/LLaDA-8B-Base", {"method": "manual", "scaling_factor": 4.0}),
                                 ("other", "someone/LLaDA-8B-Base-finetune", None)):
        store = ResultsFile.open(folder / f"{name}.jsonl", "niah", {"model": model, "protocol": "paper",
                                                                    "kind": "diffusion", "train_length": 4096,
                                                                    "scaling": scaling})
        for length in grid.columns:
            for depth in grid.index:
                store.append(f"L{length}/D{depth:g}/N0", length=int(length), depth=float(depth),
                             distance=int(length * (1 - depth / 100)), score=float(grid.loc[depth, length]),
                             hit=bool(grid.loc[depth, length] == 100))
    report = build_report(folder, tmp_path / "report")
    assert [(c["reference"], c["model"], c["reproduced"]) for c in report["comparisons"]] == [
        ("paper:figure2:LLaDA-8B-Base", "GSAI-ML/LLaDA-8B-Base", True)]
    assert report["comparisons"][0]["results"] == [str(folder / "paper.jsonl")]
