"""`longllada figures` regenerates figures/ deterministically, and figures/ holds nothing else."""

import hashlib

from longllada_theory.figures.catalog import FIGURES, regenerate

from conftest import ROOT


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_regenerating_a_figure_gives_identical_files(tmp_path):
    first = regenerate(tmp_path / "a", ["rope_periods"], progress=False)
    second = regenerate(tmp_path / "b", ["rope_periods"], progress=False)
    assert [p.name for p in first] == ["rope_periods.png", "rope_periods.pdf"]
    assert [_digest(p) for p in first] == [_digest(p) for p in second]


def test_figures_folder_holds_exactly_what_the_command_writes():
    expected = {f"{name}.{fmt}" for name in FIGURES for fmt in ("png", "pdf")}
    present = {p.name for p in (ROOT / "figures").iterdir() if not p.name.startswith(".")}
    assert present == expected
