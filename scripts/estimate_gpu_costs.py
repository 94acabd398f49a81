"""Estimate what the paper's protocols cost on one GPU from the forward-pass times the GPU protocol measured
(scripts/gpu_protocol.py on a random LLaDA-8B-shaped model, bf16). Prints a markdown table for REPRODUCE.md.

Usage: python scripts/estimate_gpu_costs.py longllada_theory/data/runs/gpu_protocol_h200.json
"""

import json
import sys

import numpy as np


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
    ppl = sum(ratio8 * t1(64 * (k + 2)) for k in range(255))              # chunks 1…255, 8 MC samples each
    niah_lengths = [2000, 4000, 8000, 16000, 24000, 32000]
    cells = len(niah_lengths) * 11 * 10                                      # 11 depths × 10 needles per length
    niah_llada = sum(32 * t1(n) for n in niah_lengths) * 11 * 10           # 32 sampler steps per cell
    decode = data["decode_step_seconds"]                                     # measured at 16k context
    niah_ar = sum(t1(n) + 32 * decode for n in niah_lengths) * 11 * 10
    probe = {p["length"]: p for p in data["probe"]}
    gib = 2 ** 30
    single_peak = max(f["peak_extra_bytes"] for f in data["forward"] if f["batch"] == 1)
    batch_peak = next(f["peak_extra_bytes"] for f in data["forward"] if f["batch"] == 8)
    rows = [
        ("model weights (bf16)", f"{data['model_bytes'] / gib:.1f} GiB", "measured"),
        ("one forward, 32k tokens", f"{single[32768]:.2f} s, +{single_peak / gib:.1f} GiB", "measured"),
        ("perplexity chunk at 16k, 8 MC samples in one batch", f"{batch8[16384]:.2f} s, +{batch_peak / gib:.1f} GiB",
         "measured"),
        ("LLaDA perplexity curve, 255 chunks to 16k (Figure 1a)", f"{ppl / 60:.0f} min", "estimated"),
        (f"LLaDA NIAH grid, {cells} cells 2k–32k, 32 sampler steps (Figure 2)", f"{niah_llada / 3600:.1f} h",
         "estimated"),
        (f"LLaMA3 NIAH grid, {cells} cells, greedy 32 tokens", f"{niah_ar / 60:.0f} min", "estimated"),
        ("attention probe, 32k tokens, all layers, last 64 queries",
         f"{probe[32768]['instrumented']['seconds']:.2f} s vs {probe[32768]['plain']['seconds']:.2f} s plain "
         f"(×{probe[32768]['time_ratio_instrumented_vs_plain']:.2f})", "measured"),
    ]
    print(f"GPU: {data['device']}, torch {data['torch']}, transformers {data['transformers']}\n")
    print("| what | time / memory | |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    fitted = ", ".join(str(n) for n in lengths)
    print(f"\nForward time model: t(L) = {a:.3e}·L + {b:.3e}·L² s (fit to {fitted} tokens).")


if __name__ == "__main__":
    main()
