"""The side-by-side figure of ``longllada compare``: a user's results beside the paper's published numbers."""

from __future__ import annotations

from ..lengths import format_length
from ..measure.protocols.niah import niah_grid
from ..measure.protocols.perplexity import perplexity_curve
from ..reference import parse_reference, reference_curve, reference_grid
from .draw import niah_heatmap, perplexity_figure, style


def comparison_figure(document: dict, cells: list[dict]):
    """Side by side: the user's results and the paper's (heatmaps and their difference, or the two curves), from
    :func:`~longllada_theory.measure.comparison.compare`'s document and cells."""
    reference = parse_reference(document["reference"])
    plt = style()
    if document["kind"] == "ruler":
        fig, axes = plt.subplots(1, len(document["groups"]), figsize=(3.2 * len(document["groups"]), 3.2),
                                 squeeze=False, sharey=True)
        for ax, (group, by) in zip(axes[0], document["groups"].items()):
            lengths = list(by)
            ax.errorbar(lengths, [by[n]["ours"] for n in lengths], yerr=[by[n]["se"] for n in lengths], marker="o",
                        capsize=3, label=f"ours: {document['model']}")
            ax.plot(lengths, [by[n]["paper"] for n in lengths], "--s", label=f"paper: {reference.model}")
            ax.set_xscale("log", base=2)
            ax.set_xticks(lengths, [format_length(int(n)) for n in lengths])
            ax.set_title(group, fontsize=10)
            ax.set_ylim(-5, 105)
        axes[0][0].set_ylabel("score")
        axes[0][-1].legend(fontsize=7)
        fig.suptitle(f"{reference.name}: mean |Δ| {document['mean_abs_difference']:.1f}", fontsize=10)
        fig.tight_layout()
        return fig
    if document["kind"] == "ppl":
        curve = perplexity_curve(cells)
        ends, paper = reference_curve(reference.model)
        return perplexity_figure([{"label": f"paper: {reference.model}", "end": ends, "ppl": paper, "ls": "--"},
                                  {"label": f"ours: {document['model']}", "end": curve["end"],
                                   "ppl": curve["running_ppl"]}],
                                 f"{reference.name}: median |Δ| "
                                 f"{100 * document['median_abs_relative_difference']:.1f} %")
    import pandas as pd
    ours = niah_grid(cells)
    paper = reference_grid(reference.model)
    lengths = [c for c in paper.columns if int(c) in document["matched_lengths"]]  # a partial run: the shared ones
    matched = ours[[document["matched_lengths"][int(c)] for c in lengths]].reindex(paper.index)
    matched.columns = lengths
    diff = pd.DataFrame({int(k): {float(d): v for d, v in by.items()} for k, by in document["difference"].items()})
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    niah_heatmap(matched, f"ours: {document['model']}", ax=axes[0], colorbar=False)
    niah_heatmap(paper, f"paper: {reference.model}", ax=axes[1], colorbar=True)
    import seaborn as sns
    sns.heatmap(diff.sort_index(), ax=axes[2], cmap="RdBu", center=0, vmin=-100, vmax=100, annot=True, fmt=".0f",
                annot_kws={"fontsize": 7})
    cells = (f", {document['cells_compared']} of {document['cells_in_reference']} cells" if document.get("partial")
             else "")
    axes[2].set_title(f"ours − paper (mean |Δ| {document['mean_abs_difference']:.1f}{cells})", fontsize=10)
    axes[2].set_xlabel("context length")
    fig.tight_layout()
    return fig
