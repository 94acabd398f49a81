"""`longllada figures` regenerates figures/ deterministically, and figures/ holds nothing else."""

import hashlib

import pytest

from longllada_theory.figures.catalog import FIGURES, regenerate

from conftest import ROOT


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_every_figure_regenerates_as_committed(tmp_path):
    """The README's main command rewrites figures/: it must leave the checkout as it is."""
    written = regenerate(tmp_path, progress=False)
    assert len(written) == 2 * len(FIGURES)
    changed = [p.name for p in written if _digest(p) != _digest(ROOT / "figures" / p.name)]
    assert not changed, f"regenerated figures differ from figures/: {changed} (run `longllada figures`)"


def test_figures_folder_holds_exactly_what_the_command_writes():
    expected = {f"{name}.{fmt}" for name in FIGURES for fmt in ("png", "pdf")}
    present = {p.name for p in (ROOT / "figures").iterdir() if not p.name.startswith(".")}
    assert present == expected
