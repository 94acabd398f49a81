"""The GPU protocol: one run on a lent GPU (H200 here) that measures what the CPU cannot.

1. The attention probe on a randomly initialised LLaDA-8B-shaped model (bf16, all 32 layers, last 64 queries) at
   4k, 8k, 16k and 32k tokens: plain vs instrumented forward time and peak memory (the probe's memory must grow
   linearly with length, its time stay ≤ 2× the plain forward).
2. Forward-pass costs that size the paper's protocols for README/REPRODUCE.md: one forward at each length
   (batch 1: a sampler step of the NIAH grid), and a batch of 8 at 16k (one perplexity chunk with 8 MC samples).
3. Exactness in bf16: probe vs eager output_attentions on the first 2 layers at 8k.

Usage: PYTHONPATH=. python3 scripts/gpu_protocol.py OUT_DIR [--tiny]   (--tiny: small shapes, CPU dry run)
"""

import json
import sys
import time
from pathlib import Path

import torch

from longllada_theory.measure.bench.bench import bench_attention, measure
from longllada_theory.models.shapes import llada_shaped


def main():
    out = Path(sys.argv[1])
    tiny = "--tiny" in sys.argv
    out.mkdir(parents=True, exist_ok=True)
    device = "cpu" if tiny else "cuda"
    shape = dict(d_model=256, n_heads=4, n_kv_heads=4, mlp_hidden_size=512, vocab_size=1024, embedding_size=1024,
                 mask_token_id=1000, layers=2) if tiny else {}
    lengths = [256, 512] if tiny else [4096, 8192, 16384, 32768]
    report = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if not tiny else "cpu"}
    import transformers
    report["transformers"] = transformers.__version__
    start = time.perf_counter()
    loaded = llada_shaped(device, dtype="float32" if tiny else "bfloat16", **shape)
    report["build_seconds"] = round(time.perf_counter() - start, 1)
    vocab = loaded.model.config.vocab_size
    g = torch.Generator().manual_seed(0)

    report["probe"] = []
    for length in lengths:
        ids = torch.randint(0, vocab - 200, (length,), generator=g).tolist()
        result = bench_attention(loaded, ids, "last:64", eager=False, repeats=2)
        report["probe"].append(result)
        print(json.dumps({k: result[k] for k in ("length", "plain", "instrumented", "time_ratio_instrumented_vs_plain",
                                                  "probe_extra_bytes", "probe_own_peak_bytes")}), flush=True)
        (out / "gpu_protocol.json").write_text(json.dumps(report, indent=1))

    report["forward"] = []
    model = loaded.model
    for length, batch in [(n, 1) for n in lengths] + [(lengths[-2], 8)]:
        inputs = torch.randint(0, vocab - 200, (batch, length), generator=g).to(device)

        def forward(inputs=inputs):
            with torch.no_grad():
                model(input_ids=inputs, logits_to_keep=64)
        forward()
        m = min((measure(forward, loaded.device) for _ in range(2)), key=lambda x: x.seconds)
        report["forward"].append({"length": length, "batch": batch, "seconds": round(m.seconds, 4),
                                  "peak_extra_bytes": m.peak_bytes})
        print(json.dumps(report["forward"][-1]), flush=True)
        (out / "gpu_protocol.json").write_text(json.dumps(report, indent=1))
    report["model_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())

    # an AR decoding step with the KV cache (the same weights made causal), for the AR NIAH estimate
    for layer in model.model.layers:
        layer.self_attn.is_causal = True
    model.config.use_bidirectional_attention = False
    prompt = torch.randint(0, vocab - 200, (1, lengths[-2]), generator=g).to(device)
    with torch.no_grad():
        step = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
        cache, token = step.past_key_values, step.logits[:, -1:].argmax(-1)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(16):
            step = model(input_ids=token, past_key_values=cache, use_cache=True)
            cache, token = step.past_key_values, step.logits[:, -1:].argmax(-1)
        if device == "cuda":
            torch.cuda.synchronize()
    report["decode_step_seconds"] = round((time.perf_counter() - start) / 16, 5)
    report["decode_context"] = lengths[-2]
    print(json.dumps({"decode_step_seconds": report["decode_step_seconds"]}), flush=True)
    del cache, step
    for layer in model.model.layers:
        layer.self_attn.is_causal = False
    model.config.use_bidirectional_attention = True

    ids = torch.randint(0, vocab - 200, (lengths[1],), generator=g).tolist()
    exact = bench_attention(loaded, ids, "last:16", layers=2, eager=True)
    report["exactness_2_layers"] = exact
    keys = ("length", "max_abs_prob_difference", "memory_ratio_probe_vs_eager_extra", "eager_skipped")
    print(json.dumps({k: exact.get(k) for k in keys}), flush=True)
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    (out / "gpu_protocol.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
