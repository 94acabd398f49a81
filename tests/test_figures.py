"""`longllada figures` regenerates figures/ deterministically — PDFs byte for byte, PNGs pixel for pixel within the
anti-aliasing noise of another CPU — leaves files that show the same picture untouched, and figures/ holds nothing
else."""

import hashlib

import pytest

from longllada_theory.figures.catalog import FIGURES, regenerate
from longllada_theory.figures.draw import PIXEL_TOLERANCE, same_picture, save_figure

from conftest import ROOT


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_every_figure_regenerates_as_committed(tmp_path):
    """The README's main command rewrites figures/: it must leave the checkout as it is."""
    written = regenerate(tmp_path, progress=False)
    assert len(written) == 2 * len(FIGURES)
    committed = ROOT / "figures"
    changed = [p.name for p in written if not (same_picture(p.read_bytes(), committed / p.name) if p.suffix == ".png"
                                               else _digest(p) == _digest(committed / p.name))]
    assert not changed, f"regenerated figures differ from figures/: {changed} (run `longllada figures`)"


def test_figures_folder_holds_exactly_what_the_command_writes():
    expected = {f"{name}.{fmt}" for name in FIGURES for fmt in ("png", "pdf")}
    present = {p.name for p in (ROOT / "figures").iterdir() if not p.name.startswith(".")}
    assert present == expected


def test_niah_heatmaps_draw_the_theory_lengths_after_the_columns_they_cover():
    """T, 2T for a diffusion model and a scaled model's target, each a dashed line after the last column it covers."""
    import pandas as pd

    from longllada_theory.figures.draw import niah_heatmap, theory_marks

    assert theory_marks(128, "diffusion", {"target": 512}) == {"T": 128, "2T": 256, "target": 512}
    assert theory_marks(8192, "ar", None) == {"T": 8192}
    grid = pd.DataFrame({n: {0.0: 50.0, 100.0: 50.0} for n in (128, 192, 256, 512)})
    figure = niah_heatmap(grid, "twin", marks={"T": 128, "2T": 256, "short": 64})
    ax = figure.axes[0]
    dashed = sorted(line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--")
    assert dashed == [1, 3]  # after the 128 column and after the 256 one; 64 covers no column
    assert {t.get_text() for t in ax.texts} >= {"T = 128", "2T = 256"}
    assert theory_marks(128, "ar", None, bound=138.6) == {"T": 128, "bound": 139}


def test_a_diffusion_models_niah_heatmap_marks_the_needles_within_T_of_the_question():
    """Local perception: at length L the needle lies within T of the question from depth 100·(1 − T/L) on."""
    import pandas as pd

    from longllada_theory.figures.draw import niah_heatmap

    depths = [0.0, 25.0, 50.0, 75.0, 100.0]
    grid = pd.DataFrame({n: dict.fromkeys(depths, 50.0) for n in (128, 256, 512)})
    ax = niah_heatmap(grid, "twin", mean_row=False, marks={"T": 128, "2T": 256}).axes[0]
    dotted = sorted((line.get_xdata()[0], line.get_ydata()[0]) for line in ax.lines if line.get_linestyle() == ":")
    assert dotted == [(1, 2), (2, 3)]  # 256: depths ≥ 50 (rows 2…); 512: depths ≥ 75 (rows 3…); 128: all of them
    ax = niah_heatmap(grid, "twin", mean_row=False, marks={"T": 128}).axes[0]  # an AR model: no such window
    assert not [line for line in ax.lines if line.get_linestyle() == ":"]


def test_a_png_showing_the_same_picture_is_left_as_it_is_and_a_changed_one_is_rewritten(tmp_path):
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    def draw(height):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, height])
        return fig

    png, = save_figure(draw(1), tmp_path / "line", formats=("png",))
    pixels = np.asarray(Image.open(png).convert("RGBA")).copy()
    pixels[5:9, 5:9, 0] = np.clip(pixels[5:9, 5:9, 0].astype(int) - PIXEL_TOLERANCE, 0, 255)  # anti-aliasing noise
    Image.fromarray(pixels).save(png, pnginfo=_stamp())
    noisy = png.read_bytes()
    save_figure(draw(1), tmp_path / "line", formats=("png",))
    assert png.read_bytes() == noisy  # the same picture: not rewritten
    save_figure(draw(2), tmp_path / "line", formats=("png",))
    assert png.read_bytes() != noisy and not same_picture(noisy, png)


def _stamp():
    from PIL.PngImagePlugin import PngInfo

    from longllada_theory.outputs import STAMP

    info = PngInfo()
    info.add_text("Software", STAMP)
    return info
