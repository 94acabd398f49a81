#!/usr/bin/env bash
# The mask-count sweep shipped in longllada_theory/data/runs/ (notebook 10): NIAH on the adapted diffusion twins at
# T and 2T (passkeys in their held-out text, depths 0-100 % in steps of 25, two needles a cell) with 8, 16, 32 and
# 64 masked answer slots, one token per sampler step. Seeds 0 and 4 run with 8 slots only: they do not retrieve
# even then (the twins' report finds the same), and notebook 10 leaves them out on that stored evidence. About
# 15 minutes on 2 cores; each command resumes if interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=longllada_theory/data/runs
L=${LONGLLADA:-longllada}

$L niah toy:diffusion@0 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 8 --device cpu --no-progress --output "$RUNS/masks_twin_seed0_answer8.jsonl"
$L niah toy:diffusion@1 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 8 --device cpu --no-progress --output "$RUNS/masks_twin_seed1_answer8.jsonl"
$L niah toy:diffusion@1 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 16 --device cpu --no-progress --output "$RUNS/masks_twin_seed1_answer16.jsonl"
$L niah toy:diffusion@1 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 32 --device cpu --no-progress --output "$RUNS/masks_twin_seed1_answer32.jsonl"
$L niah toy:diffusion@1 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 64 --device cpu --no-progress --output "$RUNS/masks_twin_seed1_answer64.jsonl"
$L niah toy:diffusion@2 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 8 --device cpu --no-progress --output "$RUNS/masks_twin_seed2_answer8.jsonl"
$L niah toy:diffusion@2 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 16 --device cpu --no-progress --output "$RUNS/masks_twin_seed2_answer16.jsonl"
$L niah toy:diffusion@2 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 32 --device cpu --no-progress --output "$RUNS/masks_twin_seed2_answer32.jsonl"
$L niah toy:diffusion@2 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 64 --device cpu --no-progress --output "$RUNS/masks_twin_seed2_answer64.jsonl"
$L niah toy:diffusion@3 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 8 --device cpu --no-progress --output "$RUNS/masks_twin_seed3_answer8.jsonl"
$L niah toy:diffusion@3 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 16 --device cpu --no-progress --output "$RUNS/masks_twin_seed3_answer16.jsonl"
$L niah toy:diffusion@3 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 32 --device cpu --no-progress --output "$RUNS/masks_twin_seed3_answer32.jsonl"
$L niah toy:diffusion@3 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 64 --device cpu --no-progress --output "$RUNS/masks_twin_seed3_answer64.jsonl"
$L niah toy:diffusion@4 --lengths 128,256 --depths 0:100:25 --needles-per-cell 2 --needles passkey --haystack builtin:stdlib --answer-length 8 --device cpu --no-progress --output "$RUNS/masks_twin_seed4_answer8.jsonl"
