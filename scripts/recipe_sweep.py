"""How the twins' recipe was chosen: AR variants trained side by side (on a GPU: minutes), passkey retrieval
measured every 500 steps, then the best AR adapted to masked diffusion and both measured at T, 2T and 4T.
Writes recipe_sweep.json to OUT_DIR. Usage: PYTHONPATH=. python3 scripts/recipe_sweep.py OUT_DIR [--steps N]
"""

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from longllada_theory.measure.niah import NiahSettings, niah_cells
from longllada_theory.measure.texts import load_corpus
from longllada_theory.models.loading import LoadedModel
from longllada_theory.models.spec import spec_from_config
from longllada_theory.models.tokenizers import ByteTokenizer
from longllada_theory.toy.model import TwinShape, build_twin
from longllada_theory.toy.train import Stage, set_attention, training_step

OUT = Path(sys.argv[1])
STEPS = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 4000
EVAL_EVERY = min(500, STEPS)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
SHAPE = TwinShape()
CORPUS = load_corpus()
HAY = CORPUS.heldout.tolist()


def wrap(model, kind):
    model.eval()
    spec = spec_from_config(model.config.to_dict(), kind, "sweep")
    return LoadedModel(model, ByteTokenizer(), spec, None, kind, torch.device(DEVICE), "float32")


def retrieval(model, kind, length, samples=30, depths=(0.0, 25.0, 50.0, 75.0, 100.0)):
    loaded = wrap(model, kind)
    settings = NiahSettings(lengths=(length,), depths=depths, answer_length=8, block_length=8, steps=8,
                            needles_per_cell=samples, seed=7)
    with torch.no_grad():
        cells = niah_cells(loaded, HAY, "passkey", replace(settings, needles_per_cell=samples // len(depths)),
                           replace(settings, needles_per_cell=samples // len(depths)).keys())
    model.train()
    hits = [c["hit"] for c in cells]
    local = [c["hit"] for c in cells if c["distance"] <= SHAPE.train_length]
    far = [c["hit"] for c in cells if c["distance"] > 1.5 * SHAPE.train_length]
    mean = lambda xs: round(sum(xs) / len(xs), 3) if xs else None
    return {"all": mean(hits), "local": mean(local), "far": mean(far)}


def run(stage: Stage, model, log: list, eval_every=EVAL_EVERY):
    set_attention(model.to(DEVICE), stage.kind).train()
    opt = torch.optim.AdamW(model.parameters(), lr=stage.lr, betas=(0.9, 0.95), weight_decay=stage.weight_decay)
    start = time.perf_counter()
    losses = []
    for step in range(stage.steps):
        losses.append(training_step(model, opt, stage, step, SHAPE.train_length, DEVICE))
        if (step + 1) % eval_every == 0:
            entry = {"stage": stage.name, "step": step + 1, "loss": round(sum(losses[-eval_every:]) / eval_every, 4),
                     "T": retrieval(model, stage.kind, SHAPE.train_length),
                     "seconds": round(time.perf_counter() - start, 1)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
    return model


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    log, summary = [], {}
    base = Stage("ar-base", "ar", STEPS)
    variants = {
        "A_base": base,
        "B_answer_weight_10": replace(base, answer_weight=10.0),
        "C_lr_1e-3": replace(base, lr=1e-3),
        "D_aw10_wd0_share075": replace(base, answer_weight=10.0, weight_decay=0.0, passkey_share=0.75),
    }
    models = {}
    for name, stage in variants.items():
        models[name] = run(replace(stage, name=name), build_twin("ar", SHAPE, 0), log)
        (OUT / "recipe_sweep.json").write_text(json.dumps({"log": log}, indent=1))
    best = max(variants, key=lambda n: [e for e in log if e["stage"] == n][-1]["T"]["all"])
    summary["best_ar"] = best
    import copy
    ar = models[best]
    diffusion = run(Stage("diffusion", "diffusion", STEPS // 2, lr=1.5e-3, seed=1), copy.deepcopy(ar), log,
                    eval_every=min(EVAL_EVERY, STEPS // 2))
    ar_cont = run(replace(variants[best], name="ar-continued", steps=STEPS // 2, lr=1.5e-3, seed=1), ar, log,
                  eval_every=min(EVAL_EVERY, STEPS // 2))
    for kind, model in (("ar", ar_cont), ("diffusion", diffusion)):
        summary[kind] = {f"{m}T": retrieval(model, kind, m * SHAPE.train_length, samples=40,
                                             depths=tuple(float(d) for d in range(0, 101, 10)))
                         for m in (1, 2, 4)}
        print(kind, json.dumps(summary[kind]), flush=True)
    (OUT / "recipe_sweep.json").write_text(json.dumps({"log": log, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
