"""The paper's reference data (integrity, provenance) and `longllada compare`."""

import numpy as np
import pytest

from longllada_theory import LongLLaDAError
from longllada_theory.figures.compare import comparison_figure
from longllada_theory.measure.comparison import compare
from longllada_theory.measure.protocols.ruler import TASKS
from longllada_theory.measure.results import ResultsFile
from longllada_theory.reference import (
    PROVENANCE,
    _data,
    reference_curve,
    reference_grid,
    reference_names,
    table2_rows,
)

TASK_GROUPS = {name: task.group for name, task in TASKS.items()}


def test_reference_data_integrity_and_provenance():
    data = _data()
    assert "2506.14429" in data["source"] and "2506.14429" in PROVENANCE
    for model, series in data["figure1a_perplexity"]["series"].items():
        assert len(series) in (250, 255) and all(1 < v < 100 for v in series)
        ends, values = reference_curve(model)
        assert ends[-1] <= 16384 + 64 and np.all(np.diff(ends) == 64)
    niah = data["figure1b_figure2_niah"]
    assert niah["lengths"] == [2000, 4000, 8000, 16000, 24000, 32000] and niah["depths"] == list(range(0, 101, 10))
    for model in niah["scores"]:
        grid = reference_grid(model)
        assert grid.shape == (11, 6) and ((grid >= 0) & (grid <= 100)).all().all()
    # the paper's finding is in the data: LLaDA retrieves at 16k only near the end, LLaMA3 nowhere
    llada = reference_grid("LLaDA-8B-Base")
    assert llada.loc[100.0, 16000] == 100 and llada.loc[0.0, 16000] < 10
    assert reference_grid("LLaMA3-8B-Base")[16000].max() < 10


def _niah_results(path, model, grid, lengths=None, drop=(), protocol="paper"):
    store = ResultsFile.open(path, "niah", {"model": model, "protocol": protocol})
    for length in grid.columns:
        for depth in grid.index:
            if (length, depth) in drop:
                continue
            ours = (lengths or {}).get(length, length)
            store.append(f"L{ours}/D{depth:g}/N0", length=ours, depth=depth, score=float(grid.loc[depth, length]),
                         hit=bool(grid.loc[depth, length] == 100))
    return path


def test_identical_grid_is_reproduced_and_lengths_match_within_tolerance(tmp_path):
    grid = reference_grid("LLaDA-8B-Base")
    binary = {2000: 2048, 4000: 4096, 8000: 8192, 16000: 16384, 24000: 24576, 32000: 32768}
    path = _niah_results(tmp_path / "r.jsonl", "GSAI-ML/LLaDA-8B-Base", grid, lengths=binary)
    document, cells = compare([path], "paper:figure2:LLaDA-8B-Base")
    assert document["reproduced"] and document["mean_abs_difference"] == 0
    assert document["matched_lengths"][16000] == 16384 and "note" not in document
    figure = comparison_figure(document, cells)
    assert len(figure.axes) >= 3


def test_a_package_protocol_run_is_matched_at_the_haystack_the_papers_prompt_holds(tmp_path):
    grid = reference_grid("LLaDA-8B-Base")
    shorter = {length: length - 600 for length in grid.columns}
    path = _niah_results(tmp_path / "r.jsonl", "GSAI-ML/LLaDA-8B-Base", grid, lengths=shorter, protocol="package")
    document, _ = compare([path], "paper:figure2:LLaDA-8B-Base")
    assert document["matched_lengths"][4000] == 3400 and document["reproduced"]
    assert document["protocol"] == "package" and "--protocol paper" in document["note"]


def test_a_different_grid_is_not_reproduced(tmp_path):
    path = _niah_results(tmp_path / "r.jsonl", "GSAI-ML/LLaDA-8B-Base", reference_grid("LLaMA3-8B-Base"))
    document, _ = compare([path], "paper:figure2:LLaDA-8B-Base")
    assert not document["reproduced"] and document["mean_abs_difference"] > 10


def test_a_partial_grid_is_compared_on_the_cells_it_shares_and_gets_no_verdict(tmp_path):
    grid = reference_grid("LLaDA-8B-Base")
    path = _niah_results(tmp_path / "m.jsonl", "GSAI-ML/LLaDA-8B-Base", grid, drop={(16000, 30.0)})
    document, cells = compare([path], "paper:figure2:LLaDA-8B-Base")
    assert document["cells_compared"] == grid.size - 1 and "length 16000 depth 30" in document["partial"]
    assert not document["reproduced"] and document["mean_abs_difference"] == 0
    short = _niah_results(tmp_path / "short.jsonl", "GSAI-ML/LLaDA-8B-Base", grid[[2000, 4000]])
    document, cells = compare([short], "paper:figure2:LLaDA-8B-Base")
    assert document["matched_lengths"] == {2000: 2000, 4000: 4000} and "length 8000 (all depths)" in document["partial"]
    assert len(comparison_figure(document, cells).axes) >= 3
    unrelated = _niah_results(tmp_path / "u.jsonl", "GSAI-ML/LLaDA-8B-Base", grid[[2000]], lengths={2000: 100})
    with pytest.raises(LongLLaDAError, match="share no cell .* run `longllada niah MODEL --protocol paper --lengths"):
        compare([unrelated], "paper:figure2:LLaDA-8B-Base")


def test_missing_cells_wrong_model_and_protocol_are_named(tmp_path):
    grid = reference_grid("LLaDA-8B-Base")
    path = _niah_results(tmp_path / "m.jsonl", "GSAI-ML/LLaDA-8B-Base", grid)
    other = _niah_results(tmp_path / "o.jsonl", "meta-llama/Meta-Llama-3-8B", grid)
    with pytest.raises(LongLLaDAError, match="not 'LLaDA-8B-Base'"):
        compare([other], "paper:figure2:LLaDA-8B-Base")
    assert compare([other], "paper:figure2:LLaDA-8B-Base", any_model=True)[0]["reproduced"]
    with pytest.raises(LongLLaDAError, match="needs 'ppl' results"):
        compare([path], "paper:figure1a:LLaDA-8B-Base")
    with pytest.raises(LongLLaDAError, match="available: paper:figure1a"):
        compare([path], "paper:table2:LLaDA")


def test_ppl_curve_comparison(tmp_path):
    ends, values = reference_curve("LLaMA3-8B-Base")
    store = ResultsFile.open(tmp_path / "p.jsonl", "ppl", {"model": "meta-llama/Meta-Llama-3-8B"})
    # chunk losses whose running mean reproduces the reference curve exactly
    logs = np.log(values) * np.arange(1, len(values) + 1)
    losses = np.diff(np.concatenate([[0.0], logs]))
    for k, loss in enumerate(losses):
        store.append(str(64 * k), start=64 * k, end=64 * (k + 1), tokens=64, loss=float(loss), se=0.0)
    document, _ = compare([tmp_path / "p.jsonl"], "paper:figure1a:LLaMA3-8B-Base")
    assert document["reproduced"] and document["median_abs_relative_difference"] < 1e-9
    assert document["log_correlation"] == pytest.approx(1.0)


def test_reference_names_cover_both_figures_and_table2():
    names = reference_names()
    assert "paper:figure2:LLaDA-8B-Instruct" in names and "paper:figure1a:LLaMA3-8B-Instruct" in names
    assert "paper:table2:LLaDA-8B-Base" in names and "paper:table2:LLaMA3-8B-Base@ntk13" in names


def _ruler_results(path, model, reference, scaling=None, protocol="package"):
    """A RULER run whose task scores give Table 2's groups and average: every NIAH task scores NIAH, cwe and fwe
    AGG, qa QA, and vt what makes the mean over the 12 tasks Table 2's Avg."""
    store = ResultsFile.open(path, "ruler", {"model": model, "scaling": scaling, "protocol": protocol})
    for row in table2_rows():
        if (row["model"], row["ntk_scaling_factor"]) != reference:
            continue
        vt = 12 * row["Avg"] - 8 * row["NIAH"] - 2 * row["AGG"] - row["QA"]
        for task, group in TASK_GROUPS.items():
            score = {"NIAH": row["NIAH"], "AGG": row["AGG"], "QA": row["QA"], "VT": vt}[group]
            store.append(f"{task}/L{row['length']}/N0", task=task, group=group, length=row["length"], score=score)
    return path


def test_a_ruler_run_is_compared_with_table2_group_by_group(tmp_path):
    path = _ruler_results(tmp_path / "r.jsonl", "GSAI-ML/LLaDA-8B-Base", ("LLaDA-8B-Base", 1))
    document, cells = compare([path], "paper:table2:LLaDA-8B-Base")
    assert document["reproduced"] and document["mean_abs_difference"] < 1e-6
    assert [ax.get_title() for ax in comparison_figure(document, cells).axes] == ["NIAH", "AGG", "QA", "Avg"]
    assert document["groups"]["AGG"][16384] == {"ours": 1.9, "se": 0.0, "paper": 1.9, "difference": 0.0}
    with pytest.raises(LongLLaDAError, match="reference paper:table2:LLaDA-8B-Base@ntk14 used NTK factor 14"):
        compare([path], "paper:table2:LLaDA-8B-Base@ntk14")
    scaled = _ruler_results(tmp_path / "s.jsonl", "GSAI-ML/LLaDA-8B-Base", ("LLaDA-8B-Base", 1),
                            scaling={"method": "rope-scale", "scaling_factor": 14.0})
    document, _ = compare([scaled], "paper:table2:LLaDA-8B-Base@ntk14")
    assert not document["reproduced"] and document["groups"]["NIAH"][16384]["difference"] < -50


def test_a_ruler_comparison_names_the_runs_protocol_and_what_it_does_not_reproduce(tmp_path):
    package = compare([_ruler_results(tmp_path / "p.jsonl", "GSAI-ML/LLaDA-8B-Base", ("LLaDA-8B-Base", 1))],
                      "paper:table2:LLaDA-8B-Base")[0]
    paper = compare([_ruler_results(tmp_path / "o.jsonl", "GSAI-ML/LLaDA-8B-Base", ("LLaDA-8B-Base", 1),
                                    protocol="paper")], "paper:table2:LLaDA-8B-Base")[0]
    assert package["protocol"] == "package" and "--protocol package" in package["note"]
    assert paper["protocol"] == "paper" and "OpenCompass" in paper["note"] and "tiktoken" in paper["note"]


def test_the_papers_factors_are_the_law_rounded_up_at_the_targets_it_names():
    from longllada_theory.reference import paper_factors_against_the_law

    rows = {(r["model"], r["factor"]): r for r in paper_factors_against_the_law()}
    for factor, target in ((4, 8192), (14, 16384), (31, 24576), (55, 32768)):
        row = rows[("GSAI-ML/LLaDA-8B-Base", factor)]
        assert row["paper's target"] == target and row["targets where ⌈law λ⌉ = factor"] == [target]
    assert rows[("meta-llama/Meta-Llama-3-8B", 4)]["targets where ⌈law λ⌉ = factor"] == [16384]
    assert rows[("meta-llama/Meta-Llama-3-8B", 13)]["targets where ⌈law λ⌉ = factor"] == [32768]
    assert rows[("Dream-org/Dream-v0-Base-7B", 5)]["targets where ⌈law λ⌉ = factor"] == [4096]


def test_every_reference_is_compared_by_the_protocol_that_measures_its_figure():
    from longllada_theory.measure.comparison import protocol_for
    from longllada_theory.reference import parse_reference

    wanted = {"figure1a": "ppl", "figure1b": "niah", "figure2": "niah", "table2": "ruler"}
    for name in reference_names():
        reference = parse_reference(name)
        assert protocol_for(reference).name == wanted[reference.figure], name
