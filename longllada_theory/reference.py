"""The paper's published numbers (Figure 1a curves, Figure 1b/2 NIAH grids, Table 2 RULER groups, Figure 6) as
reference data with provenance — see ``data/reference/README.md``. Each protocol compares its runs with them
(:meth:`~longllada_theory.measure.protocol.Protocol.compare`; ``longllada compare``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from .errors import LongLLaDAError
from .models.spec import load_spec

REFERENCE = Path(__file__).parent / "data" / "reference"
DATA = REFERENCE / "longllada_figure1_figure2.json"
PROVENANCE = ("LongLLaDA (Liu et al. 2025, arXiv 2506.14429), numbers as carried by the paper's plotting code "
              "(ppl/get_ppl_plot.py); see longllada_theory/data/reference/README.md")

#: NTK factors λ the paper's evaluation scripts run (eval/eval_llada_niah.py, eval_llada_ruler.py, eval_llada_long.py of
#: OpenMOSS/LongLLaDA at cb4278f), by model. The paper names the targets of LLaDA's (Figure 6: 8k, 16k, 24k, 32k);
#: the scripts run LLaMA3's and Dream's without naming a target, Dream's 5 at every length.
PAPER_SCALING_FACTORS = {"GSAI-ML/LLaDA-8B-Base": (4, 14, 31, 55), "meta-llama/Meta-Llama-3-8B": (4, 13),
                         "Dream-org/Dream-v0-Base-7B": (5,)}


def paper_factors_against_the_law(targets: tuple[int, ...] = (4096, 8192, 16384, 24576, 32768)) -> list[dict]:
    """Each factor of :data:`PAPER_SCALING_FACTORS` beside the scaling law: the target the paper names for it (None
    where it names none) and the targets among ``targets`` whose law λ rounds up to it."""
    stated = {int(k): v for k, v in figure6()["target_of_each_factor"].items()}
    rows = []
    for model, factors in PAPER_SCALING_FACTORS.items():
        spec = load_spec(model)
        law = {target: spec.plan(target).scaling_factor for target in targets}
        for factor in factors:
            matches = [t for t, lam in law.items() if math.ceil(lam) == factor]
            rows.append({"model": model, "factor": factor,
                         "paper's target": stated.get(factor) if model == "GSAI-ML/LLaDA-8B-Base" else None,
                         "targets where ⌈law λ⌉ = factor": matches,
                         "law λ there": [round(law[t], 2) for t in matches]})
    return rows


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(DATA.read_text())


@cache
def _reference(name: str) -> dict:
    return json.loads((REFERENCE / name).read_text())


def table2_rows() -> list[dict]:
    """The paper's Table 2 (RULER NIAH / AGG / QA / Avg at 4k–16k, direct and with NTK factors), one dict per row."""
    return list(_reference("longllada_table2_ruler.json")["rows"])


def figure6() -> dict:
    """The paper's Figure 6: LLaDA-8B-Base's overall NIAH score under NTK factors 4/14/31/55, and the direct ones."""
    return dict(_reference("longllada_figure6_ntk_niah.json"))


def longdllm_factors(model: str = "GSAI-ML/LLaDA-8B-Instruct") -> dict:
    """LongDLLM's searched per-pair LongRoPE factors for a model (head_dim, rope_theta, original_length,
    target_length, factors), with the file's provenance under ``source``."""
    data = _reference("longdllm_rescale_factors.json")
    if model not in data["models"]:
        raise LongLLaDAError(f"LongDLLM ships no factors for {model!r}; it has {', '.join(data['models'])}")
    return {**data["models"][model], "source": data["source"], "how_applied": data["how_applied"]}


def reference_names() -> list[str]:
    data = _data()
    names = [f"paper:figure1a:{m}" for m in data["figure1a_perplexity"]["series"]]
    names += [f"paper:figure2:{m}" for m in data["figure1b_figure2_niah"]["scores"]]
    names += [f"paper:figure1b:{m}" for m in data["figure1b_figure2_niah"]["scores"]]
    rows = dict.fromkeys((r["model"], r["ntk_scaling_factor"]) for r in table2_rows())
    names += [f"paper:table2:{m}" + (f"@ntk{f}" if f != 1 else "") for m, f in rows]
    return names


@dataclass(frozen=True)
class Reference:
    name: str
    figure: str      # figure1a, figure1b, figure2 or table2
    model: str
    factor: float = 1.0  # Table 2's NTK factor (1: no scaling)

    def is_of(self, model: str) -> bool:
        """Whether ``model`` (a hub id, a folder or a name) is the reference's model: its last path part is the
        reference's name or the last part of its hub id."""
        last = str(model).rstrip("/").split("/")[-1].lower()
        return last in {self.model.lower(), HUB_IDS.get(self.model, self.model).split("/")[-1].lower()}


def parse_reference(name: str) -> Reference:
    if name not in reference_names():
        raise LongLLaDAError(f"reference {name!r} does not exist; available: {', '.join(reference_names())}")
    _, figure, model = name.split(":", 2)
    model, _, factor = model.partition("@ntk")
    return Reference(name, figure, model, float(factor or 1))


def reference_curve(model: str) -> tuple[np.ndarray, np.ndarray]:
    """(context length, running perplexity) of Figure 1a for ``model`` (positions as in the data README)."""
    series = _data()["figure1a_perplexity"]["series"]
    if model not in series:
        raise LongLLaDAError(f"Figure 1a has no series {model!r}; it has {', '.join(series)}")
    values = np.array(series[model], dtype=float)
    first = 2 if model.startswith("LLaDA") else 1
    return 64 * (np.arange(len(values)) + first), values


def reference_grid(model: str):
    """Figure 2's NIAH scores for ``model``: a depth × length DataFrame (0–100)."""
    import pandas as pd

    data = _data()["figure1b_figure2_niah"]
    if model not in data["scores"]:
        raise LongLLaDAError(f"Figure 2 has no model {model!r}; it has {', '.join(data['scores'])}")
    scores = data["scores"][model]
    frame = pd.DataFrame({int(length): {float(d): float(v) for d, v in by_depth.items()}
                          for length, by_depth in scores.items()})
    frame.index.name, frame.columns.name = "depth", "length"
    return frame.sort_index()


#: the reference's model names → the hub ids of the models they are
HUB_IDS = {"LLaDA-8B-Base": "GSAI-ML/LLaDA-8B-Base", "LLaDA-8B-Instruct": "GSAI-ML/LLaDA-8B-Instruct",
           "LLaDA-1.5": "GSAI-ML/LLaDA-1.5",
           "LLaMA3-8B-Base": "meta-llama/Meta-Llama-3-8B", "LLaMA3-8B-Instruct": "meta-llama/Meta-Llama-3-8B-Instruct"}


def table2_frame(reference: Reference):
    """Table 2's scores for ``reference``'s model and NTK factor: a group × length DataFrame (NIAH, AGG, QA, Avg)."""
    import pandas as pd

    rows = [r for r in table2_rows() if r["model"] == reference.model and r["ntk_scaling_factor"] == reference.factor]
    return pd.DataFrame({int(r["length"]): {g: float(r[g]) for g in TABLE2_GROUPS} for r in rows})


TABLE2_GROUPS = ("NIAH", "AGG", "QA", "Avg")
