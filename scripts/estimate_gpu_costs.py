"""Estimate what the paper's protocols cost on one GPU and on 8 from the forward-pass times the GPU protocol measured
(scripts/gpu_protocol.py on a random LLaDA-8B-shaped model, bf16). Prints a markdown table for REPRODUCE.md.

Each grid is a list of cell times in the order the runner walks the cells; on N GPUs (torchrun, accelerate launch or
a SLURM array, one process per GPU) each process takes every N-th cell (`shard_cells`), so the wall time is the
slowest shard's sum and the GPU-hours are the sum over all cells (every process also loads the model once).

Usage: python scripts/estimate_gpu_costs.py longllada_theory/data/runs/gpu_protocol_h200.json
"""

import json
import sys

import numpy as np

from longllada_theory.measure.results import shard_cells

GPUS = 8


def wall(cells: list[float], processes: int) -> float:
    """Seconds until the slowest of ``processes`` shards is done."""
    return max(sum(cells[i] for i in shard_cells(range(len(cells)), (k, processes))) for k in range(processes))


def duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def main():
    data = json.load(open(sys.argv[1]))
    single = {f["length"]: f["seconds"] for f in data["forward"] if f["batch"] == 1}
    batch8 = {f["length"]: f["seconds"] for f in data["forward"] if f["batch"] == 8}
    lengths = np.array(sorted(single))
    times = np.array([single[n] for n in lengths])
    # t(L) = a·L + b·L² through the measured points (least squares, no intercept)
    design = np.stack([lengths, lengths ** 2], axis=1).astype(float)
    a, b = np.linalg.lstsq(design, times, rcond=None)[0]

    def t1(n):
        return a * n + b * n * n

    ratio8 = batch8[16384] / single[16384]
    decode = data["decode_step_seconds"]                                     # measured at 16k context
    niah_lengths = [2000, 4000, 8000, 16000, 24000, 32000]                   # × 11 depths × 10 needles, length-major
    ruler_lengths = [4096, 8192, 16384, 32768]                               # × 13 tasks × 100 samples
    grids = {
        "LLaDA perplexity curve, 255 chunks to 16k, 8 MC samples each (Figure 1a)":
            [ratio8 * t1(64 * (k + 2)) for k in range(255)],
        f"LLaDA NIAH grid, {len(niah_lengths) * 110} cells 2k–32k, 32 sampler steps (Figure 2)":
            [32 * t1(n) for n in niah_lengths for _ in range(110)],
        f"LLaMA3 NIAH grid, {len(niah_lengths) * 110} cells, greedy 32 tokens":
            [t1(n) + 32 * decode for n in niah_lengths for _ in range(110)],
        "LLaDA RULER, 13 tasks × 100 samples at 4k–32k, 64 answer tokens in 64 steps":
            [64 * t1(n) for n in ruler_lengths for _ in range(1300)],
    }
    probe = {p["length"]: p for p in data["probe"]}
    gib = 2 ** 30
    single_peak = max(f["peak_extra_bytes"] for f in data["forward"] if f["batch"] == 1)
    batch_peak = next(f["peak_extra_bytes"] for f in data["forward"] if f["batch"] == 8)
    rows = [
        ("model weights (bf16)", f"{data['model_bytes'] / gib:.1f} GiB", "measured"),
        ("one forward, 32k tokens", f"{single[32768]:.2f} s, +{single_peak / gib:.1f} GiB", "measured"),
        ("perplexity chunk at 16k, 8 MC samples in one batch", f"{batch8[16384]:.2f} s, +{batch_peak / gib:.1f} GiB",
         "measured"),
        ("attention probe, 32k tokens, all layers, last 64 queries",
         f"{probe[32768]['instrumented']['seconds']:.2f} s vs {probe[32768]['plain']['seconds']:.2f} s plain "
         f"(×{probe[32768]['time_ratio_instrumented_vs_plain']:.2f})", "measured"),
    ]
    print(f"GPU: {data['device']}, torch {data['torch']}, transformers {data['transformers']}\n")
    print("| what | time / memory | |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n| grid (estimated) | 1 GPU | {GPUS} GPUs, wall | GPU-hours |\n|---|---|---|---|")
    for name, cells in grids.items():
        print(f"| {name} | {duration(sum(cells))} | {duration(wall(cells, GPUS))} | {sum(cells) / 3600:.1f} |")
    fitted = ", ".join(str(n) for n in lengths)
    print(f"\nForward time model: t(L) = {a:.3e}·L + {b:.3e}·L² s (fit to {fitted} tokens).")


if __name__ == "__main__":
    main()
