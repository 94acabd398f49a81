"""A frequency-band ablation of the law's λ on the shipped twins: for each seed, `longllada toy methods --methods
longllada,longllada-fast-pairs,longllada-slow-pairs` — the law's per-pair slowing λ^(2i/d) on every RoPE pair, on the
pairs below the critical dimension alone, and on the pairs beyond it alone (the others kept as trained) — plus no
scaling: perplexity at T and 4T, passkey retrieval at T and at 4T (needle within T of the question and farther).
It asks which pairs the law must slow to keep perplexity flat and which, slowed, break the retrieval the twins
learned inside their window.

Writes data/runs/twin_band_ablation.json: each seed's `toy methods` document (cells resumable in WORK).
Usage (from the checkout): PYTHONPATH=. python scripts/band_ablation.py [WORK]  (5 min per seed on 2 cores)"""

import os
import sys
from pathlib import Path

from longllada_theory.models.sources import TWINS_DIR
from longllada_theory.outputs import write_json
from longllada_theory.toy.methods import method_comparison

OUT = Path(__file__).resolve().parents[1] / "longllada_theory" / "data" / "runs" / "twin_band_ablation.json"
METHODS = ("longllada", "longllada-fast-pairs", "longllada-slow-pairs")


def main(work: Path) -> None:
    twins = Path(os.path.relpath(TWINS_DIR))  # as `longllada toy methods --twins` names them from the checkout
    seeds = sorted(int(p.name.removeprefix("seed")) for p in twins.glob("seed*"))
    documents = {str(seed): method_comparison(twins / f"seed{seed}", work, METHODS, progress=False) for seed in seeds}
    write_json(OUT, {"about": __doc__.split("Usage")[0].strip(), "methods": list(METHODS), "seeds": documents},
               force=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/twins-methods"))
