"""``longllada bench attention | ppl | niah``: benchmarks that print measured ratios (see
:mod:`longllada_theory.measure.bench.bench`)."""

from __future__ import annotations

import argparse

from ..lengths import parse_length
from ..measure.inputs.texts import text_ids
from ..measure.protocol import add_settings_arguments, settings_from_args
from ..measure.protocols.niah import NiahSettings
from ..values import Whole
from .commands import add_json_option, add_loading_options, command, group, load, print_json, typed

group("bench", "benchmarks that print measured ratios (attention probe, perplexity estimator, NIAH)")
MIB = 2 ** 20


def _attention_arguments(parser: argparse.ArgumentParser) -> None:
    add_loading_options(parser, default_model="smollm2")
    parser.add_argument("--length", default="4k", help="tokens of the input (default 4k)")
    parser.add_argument("--queries", default="last:64",
                        help="query positions the probe keeps statistics of: last, last:N, sample:N, range:A-B or all "
                             "(default last:64)")
    parser.add_argument("--layers", type=typed(Whole(1, 100_000)),
                        help="use only the first N layers (all three variants)")
    parser.add_argument("--text", default="builtin:stdlib",
                        help="the input text: a .txt, a .jsonl or builtin:stdlib (default builtin:stdlib)")
    parser.add_argument("--no-eager", action="store_true", help="skip the eager comparison")
    parser.add_argument("--repeats", type=typed(Whole(1, 1000)), default=3,
                        help="rounds of plain, instrumented (and eager) runs in turn, after one warm-up of each "
                             "(default 3)")
    parser.add_argument("--llada-shaped", action="store_true",
                        help="a randomly initialised LLaDA-8B-shaped model (bf16, GPU) instead of MODEL")
    add_json_option(parser)


def _timing_line(name: str, r: dict) -> str:
    """One side's times: median and min wall seconds, median CPU seconds."""
    return (f"  {name:>12}: median {r['median_seconds']:8.3f} s  min {r['min_seconds']:8.3f} s  "
            f"CPU {r['median_cpu_seconds']:8.3f} s")


def _ratio_line(label: str, ratio: dict) -> str:
    return (f"  time {label}: median of {ratio['pairs']} pairs {ratio['median_of_pairs']:.3f}, "
            f"of minima {ratio['of_minima']:.3f}")


def _memory_text(value: float | None) -> str:
    return "n/a (eager's extra not positive)" if value is None else f"{value:.4f}"


def _describe_attention(result: dict) -> str:
    lines = [f"{result['model']} · {result['length']} tokens · {result['layers']} layers · {result['device']} "
             f"{result['dtype']} · queries {result['queries']} · {result['timing']['order']}, "
             f"{result['timing']['rounds']} rounds",
             "  times (wall; CPU = all threads' user + system, so above wall with several threads):"]
    variants = [name for name in ("plain", "instrumented", "eager") if name in result]
    lines += [_timing_line(name, result[name]) for name in variants]
    lines += [_ratio_line(f"{name} / plain", result["time_ratios"][f"{name}_vs_plain"]) for name in variants[1:]]
    lines.append(f"  memory, each variant in a run of its own: {result['memory_measured']}")
    for name in variants:
        tensors = result[name].get("peak_extra_tensor_bytes")
        lines.append(f"  {name:>12}: peak +{result[name]['peak_extra_bytes'] / MIB:9.1f} MiB"
                     + (f"   tensors +{tensors / MIB:9.1f} MiB" if tensors is not None else ""))
    lines.append(f"  probe's own peak: {result['probe_own_peak_bytes'] / MIB:.1f} MiB"
                 + (f", tensors {result['probe_own_peak_tensor_bytes'] / MIB:.1f} MiB"
                    if "probe_own_peak_tensor_bytes" in result else ""))
    if "eager" in result:
        lines.append("  probe's extra memory / eager's extra memory (the larger of the probe's extra and its own peak):"
                     f" {_memory_text(result['memory_ratio_probe_vs_eager_extra'])}"
                     + (f", tensors {_memory_text(result['memory_ratio_probe_vs_eager_extra_tensors'])}"
                        if "memory_ratio_probe_vs_eager_extra_tensors" in result else ""))
        lines.append(f"  largest |p_probe − p_eager| (a separate pass): {result['max_abs_prob_difference']:.2e}")
    else:
        lines.append(f"  eager skipped: {result['eager_skipped']}")
    return "\n".join(lines)


@command("attention", "probe vs plain forward vs eager output_attentions: time, memory, ratios", _attention_arguments,
         "Times of a plain forward, the instrumented forward (all layers, --queries) and eager output_attentions on "
         "the same model and input, run in turn (median and min wall time, CPU time; ratios as the median of the "
         "per-round ratios and the ratio of the minima); the peak memory of each in a run of its own; and the "
         "largest probability difference, from a separate pass.",
         group="bench")
def run_attention(args: argparse.Namespace) -> int:
    from ..measure.bench.bench import bench_attention

    length = parse_length(args.length, "--length")
    if args.llada_shaped:
        import torch

        from ..models.shapes import llada_shaped
        loaded = llada_shaped(args.device or "cuda", layers=args.layers or 32)
        ids = torch.randint(0, 126000, (length,), generator=torch.Generator().manual_seed(0)).tolist()
        layers = None
    else:
        loaded = load(args)
        ids, layers = text_ids(loaded, args.text, length), args.layers
    result = bench_attention(loaded, ids, args.queries, layers=layers, eager=not args.no_eager, repeats=args.repeats)
    print_json(result) if args.json else print(_describe_attention(result))
    return 0


def _ppl_arguments(parser: argparse.ArgumentParser) -> None:
    add_loading_options(parser, default_model="toy:diffusion")
    parser.add_argument("--length", default="512", help="context tokens, the last --chunk scored (default 512)")
    parser.add_argument("--chunk", type=typed(Whole(1, 1 << 20)), default=64, help="tokens scored (default 64)")
    parser.add_argument("--mc", type=typed(Whole(1, 100_000)), default=8, help="sequences per estimate (default 8)")
    parser.add_argument("--repeats", type=typed(Whole(3, 10_000)), default=32,
                        help="estimates per way, the two ways in turn; the spread over them is the standard error "
                             "(default 32)")
    parser.add_argument("--text", default="builtin:stdlib",
                        help="the text scored: a .txt, a .jsonl or builtin:stdlib (default builtin:stdlib)")
    add_json_option(parser)


@command("ppl", "diffusion perplexity: batched stratified MC vs one sample per forward", _ppl_arguments,
         "The Monte-Carlo estimate of the last chunk, --repeats times with fresh seeds, batched with stratified mask "
         "sizes (the package's) and as a loop of one independent sample per forward, at the same --mc sequences per "
         "estimate, the two ways in turn: forwards, median and min seconds and CPU time, the spread over repeats (the "
         "real standard error), ratios; the peak memory of scored vs all logits, each in a run of its own.",
         group="bench")
def run_ppl(args: argparse.Namespace) -> int:
    from ..measure.bench.bench import bench_perplexity

    loaded = load(args)
    result = bench_perplexity(loaded, text_ids(loaded, args.text, parse_length(args.length, "--length")), args.chunk,
                              args.mc, args.repeats)
    if args.json:
        print_json(result)
        return 0
    print(f"{result['model']} · last {result['chunk']} of {result['length']} tokens · {result['mc']} sequences per "
          f"estimate · {result['repeats']} repeats · {result['device']} {result['dtype']}")
    print(f"  {result['timing']['order']}; CPU = all threads' user + system time")
    for name in ("batched", "sequential"):
        r = result[name]
        print(f"  {name:>10}: {r['forwards_per_estimate']:4.0f} forwards, median {r['seconds_per_estimate']:.4f} s "
              f"(min {r['min_seconds_per_estimate']:.4f} s, CPU {r['cpu_seconds_per_estimate']:.4f} s), "
              f"loss {r['mean_loss']:.4f} ± {r['standard_error']:.4f} (spread over repeats)")
    print(f"  standard error batched / sequential: {result['se_ratio_batched_vs_sequential']:.3f}")
    print(f"  time batched / sequential: median of {result['repeats']} pairs "
          f"{result['time_ratio_batched_vs_sequential']:.3f}, of minima "
          f"{result['time_ratio_batched_vs_sequential_of_minima']:.3f}")
    memory = result["memory"]
    print(f"  peak memory of one estimate, each way in a run of its own; measured: {result['memory_measured']}")
    print(f"    scored logits only {memory['scored_logits_peak_bytes'] / MIB:.1f} MiB, all logits "
          f"{memory['all_logits_peak_bytes'] / MIB:.1f} MiB (ratio {result['memory_ratio_scored_vs_all_logits']:.3f})")
    if "memory_ratio_scored_vs_all_logits_tensors" in result:
        print(f"    tensors: scored logits only {memory['scored_logits_peak_tensor_bytes'] / MIB:.1f} MiB, all logits "
              f"{memory['all_logits_peak_tensor_bytes'] / MIB:.1f} MiB (ratio "
              f"{result['memory_ratio_scored_vs_all_logits_tensors']:.3f})")
    return 0


def _niah_arguments(parser: argparse.ArgumentParser) -> None:
    add_loading_options(parser, default_model="toy:diffusion")
    parser.add_argument("--length", default="512", help="prompt tokens (default 512)")
    parser.add_argument("--cells", type=typed(Whole(1, 10_000)), default=4, help="cells to answer (default 4)")
    parser.add_argument("--seed", type=typed(Whole(0, 2 ** 63 - 1)), default=0, help="random seed (default 0)")
    add_settings_arguments(parser.add_argument_group("NIAH settings"), NiahSettings, exclude=("lengths",))
    add_json_option(parser)


@command("niah", "forward passes and seconds per NIAH answer", _niah_arguments,
         "Answers the first --cells cells of a one-length NIAH grid and counts the model's forward passes per batch: "
         "exactly --steps for a diffusion model, at most --answer-length for an AR model; seconds per cell.",
         group="bench")
def run_niah(args: argparse.Namespace) -> int:
    from ..measure.bench.bench import bench_niah
    from ..measure.protocols.niah import NeedleInAHaystack

    settings = settings_from_args(NiahSettings, args, lengths=(parse_length(args.length, "--length"),),
                                  seed=args.seed)
    inputs = NeedleInAHaystack.read_inputs(settings)
    result = bench_niah(NeedleInAHaystack(load(args), settings, inputs), args.cells)
    if args.json:
        print_json(result)
        return 0
    print(f"{result['model']} ({result['kind']}) · {result['length']} tokens · batches of {result['batch_size']} · "
          f"{result['steps']} steps · {result['device']} {result['dtype']}")
    print(f"  forwards per batch: {[g['forwards'] for g in result['batches']]} (expected "
          f"{'exactly' if result['kind'] == 'diffusion' else 'at most'} {result['forwards_per_batch_expected']}: "
          f"{'yes' if result['forwards_as_expected'] else 'NO'})")
    print(f"  seconds per cell: {result['seconds_per_cell']:.3f} (CPU {result['cpu_seconds_per_cell']:.3f}; "
          f"{result['timing']['order']}) · mean score {result['mean_score']}")
    return 0
