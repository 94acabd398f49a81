"""The one named difference between the twins' objectives, measured both ways: diffusion twins adapted from each
seed's AR base stage exactly as the shipped `diffusion` twins, but with no answer-only rows (every passkey row
masked at random, as every text row). Needs the work folder of `longllada toy train` (its `ar-base` stages).

Writes data/runs/twin_answer_only_ablation.json: per seed, for the shipped twin and the ablation, retrieval at T,
retrieval at 2T with the needle within T of the question and farther than 1.5T, and last-window perplexity at 4T / T
(the report's settings and code).
Usage: PYTHONPATH=. python scripts/answer_only_ablation.py TRAIN_WORK_DIR EVAL_WORK_DIR"""

import json
import shutil
import sys
from dataclasses import asdict, replace
from pathlib import Path

from longllada_theory.models.sources import TWINS_DIR
from longllada_theory.toy.evaluation import ReportSettings, twin_report
from longllada_theory.toy.train import Recipe, train_stage

OUT = Path(__file__).resolve().parents[1] / "longllada_theory" / "data" / "runs" / "twin_answer_only_ablation.json"


def summary(report: dict, t: int) -> dict:
    def rate(counts):
        return None if counts[1] == 0 else round(counts[0] / counts[1], 4)

    at_t = report["retrieval"][str(t)].values()
    return {"retrieval_at_T": rate([sum(v[0] for v in at_t), sum(v[1] for v in at_t)]),
            "local_at_2T": rate(report["local"][str(2 * t)]), "far_at_2T": rate(report["far"][str(2 * t)]),
            "local_counts_at_2T": report["local"][str(2 * t)],
            "ppl_growth_4T": round(report["ppl"][str(4 * t)]["ppl"] / report["ppl"][str(t)]["ppl"], 4)}


def main(train_work: Path, eval_work: Path) -> None:
    recipe, settings = Recipe(), ReportSettings()
    t = recipe.shape.train_length
    rows = []
    for seed in recipe.seeds:
        shipped = next(s for s in recipe.stages(seed) if s.name == "diffusion")
        stage = replace(shipped, name="diffusion-all-random-masks", answer_only_share=0.0)
        final = train_stage(stage, recipe.shape, train_work / f"seed{seed}", threads=2)
        folder = eval_work / f"seed{seed}" / "twins"
        shutil.copytree(final, folder / stage.name, dirs_exist_ok=True)
        shutil.copytree(TWINS_DIR / f"seed{seed}" / "diffusion", folder / "diffusion", dirs_exist_ok=True)
        rows.append({"seed": seed, "stage": asdict(stage),
                     "shipped": summary(twin_report(folder, "diffusion", eval_work / f"seed{seed}", settings), t),
                     "ablation": summary(twin_report(folder, stage.name, eval_work / f"seed{seed}", settings), t)})
        print(rows[-1], flush=True)
    OUT.write_text(json.dumps({"about": __doc__.split("Usage")[0].strip(), "train_length": t, "rows": rows},
                              indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
