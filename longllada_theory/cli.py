"""``longllada`` — the command line. Each subcommand is a thin layer over library functions.

Bad input ends with one line on stderr (``longllada: error: …``) and exit status 2. Heavy modules (torch,
transformers) are imported only by the subcommands that measure models, so ``longllada scale`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from typing import Callable, Sequence

from .errors import LongLLaDAError
from .lengths import format_length, parse_length, parse_lengths

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


def _lengths(values: Sequence[str] | None, what: str) -> list[int]:
    return [n for value in values or () for n in parse_lengths(value, what)]


def _print_json(document) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _console():
    from rich.console import Console
    return Console(soft_wrap=False, width=max(100, Console().width))


# ---------------------------------------------------------------- scale / explain / presets

@command("scale")
def run_scale(args: argparse.Namespace) -> int:
    from .report import scale_document, scale_markdown, scale_tables
    from .scaling import METHODS, check_method
    from .spec import load_spec

    targets = _lengths(args.target, "--target")
    if not targets:
        raise LongLLaDAError("give at least one --target length (e.g. --target 16k)")
    methods = args.method or list(METHODS)
    for method in methods:
        check_method(method)
    train_length = parse_length(args.train_length, "--train-length") if args.train_length else None
    models = list(args.model)
    if args.all_presets:
        from .presets import PRESETS
        models += [p.hub_id for p in PRESETS]
    if not models:
        raise LongLLaDAError("name at least one model (preset, config.json, folder or hub id), or pass --all-presets")
    specs = [load_spec(m, train_length, args.attention) for m in models]
    documents = [scale_document(spec, targets, methods) for spec in specs]
    if args.json:
        _print_json(documents[0] if len(documents) == 1 else {"models": documents})
    elif args.markdown:
        print(scale_markdown(documents))
    else:
        console = _console()
        for table in scale_tables(documents):
            console.print(table)
    return 0


@command("explain")
def run_explain(args: argparse.Namespace) -> int:
    from .report import explain_document, explain_table
    from .spec import load_spec

    train_length = parse_length(args.train_length, "--train-length") if args.train_length else None
    spec = load_spec(args.model, train_length, args.attention)
    document = explain_document(spec)
    if args.json:
        _print_json(document)
    else:
        _console().print(explain_table(document))
    return 0


@command("presets")
def run_presets(args: argparse.Namespace) -> int:
    from .presets import PRESETS
    from .spec import load_spec

    rows = []
    for preset in PRESETS:
        spec = load_spec(preset.hub_id)
        rows.append({"hub_id": preset.hub_id, "aliases": list(preset.aliases), "rotary_dim": spec.rotary_dim,
                     "rope_theta": spec.rope_theta, "train_length": spec.train_length, "attention": spec.attention,
                     "source": preset.source})
    if args.json:
        _print_json(rows)
        return 0
    from rich.table import Table
    table = Table(title="Built-in presets (no network needed)")
    for column in ("hub id", "aliases", "d", "rope_theta", "T_train", "attention"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["hub_id"], ", ".join(r["aliases"]), str(r["rotary_dim"]), f"{r['rope_theta']:g}",
                      format_length(r["train_length"]), r["attention"])
    _console().print(table)
    return 0


@command("figures")
def run_figures(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .figures import regenerate

    regenerate(Path(args.output), args.only)
    return 0


# ---------------------------------------------------------------- measurements

def _load(args: argparse.Namespace):
    import os

    from .models import load_model

    device = args.device
    if device is None and "LOCAL_RANK" in os.environ:  # one process per GPU under torchrun / accelerate launch
        device = f"cuda:{os.environ['LOCAL_RANK']}"
    target = parse_length(args.target, "--target") if args.target else None
    train_length = parse_length(args.train_length, "--train-length") if args.train_length else None
    loaded = load_model(args.model, gguf_file=args.gguf_file, rope_scale=args.rope_scale, target=target,
                        method=args.method, train_length=train_length, kind=args.kind,
                        trust_remote_code=args.trust_remote_code, dtype=args.dtype, device=device,
                        device_map=args.device_map, attn_implementation=args.attn_implementation,
                        progress=not getattr(args, "no_progress", False))
    scaling = "no scaling" if loaded.plan is None else (
        f"{loaded.plan.method} λ = {loaded.plan.scaling_factor:.4g} (rope_theta {loaded.plan.new_rope_theta:.6g})")
    print(f"loaded {loaded.name} ({loaded.kind}, {loaded.dtype}, {scaling}); RoPE checked: "
          f"{len(loaded.verified)} module(s)", file=sys.stderr)
    return loaded


def _default_output(protocol: str, loaded, shard: tuple[int, int] = (0, 1)) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", loaded.name.strip("/")).strip("_")
    scaling = "direct" if loaded.plan is None else f"{loaded.plan.method}{loaded.plan.scaling_factor:.3g}"
    part = f".shard{shard[0]}of{shard[1]}" if shard[1] > 1 else ""
    return f"results/{protocol}_{name}_{scaling}{part}.jsonl"


def _output(args, protocol: str, loaded, shard: tuple[int, int]) -> str:
    """--output, with the shard in the name when a launcher (torchrun) split the run; else the default name."""
    if args.output and shard[1] > 1 and args.shard is None:
        stem, dot, suffix = args.output.rpartition(".")
        return f"{stem}.shard{shard[0]}of{shard[1]}.{suffix}" if dot else f"{args.output}.shard{shard[0]}"
    return args.output or _default_output(protocol, loaded, shard)


@command("ppl")
def run_ppl(args: argparse.Namespace) -> int:
    from .perplexity import perplexity_curve, run_perplexity, window_perplexity
    from .results import parse_shard
    from .sources import load_text

    shard = parse_shard(args.shard)
    max_length = parse_length(args.max_length, "--max-length")
    text = load_text(args.text, args.text_field)
    loaded = _load(args)
    output = _output(args, "ppl", loaded, shard)
    cells = run_perplexity(loaded, text, args.text, max_length, args.chunk, args.mc, args.estimator, args.seed,
                           args.mc_batch, output, shard, progress=not args.no_progress)
    curve = perplexity_curve(cells)
    window = parse_length(args.window, "--window") if args.window else loaded.spec.train_length
    windows = window_perplexity(cells, window)
    document = {"results": output, "model": loaded.name, "kind": loaded.kind, "settings": loaded.settings(),
                "final_running_ppl": float(curve["running_ppl"][-1]) if len(cells) else None,
                "window": window, "window_ppl": {int(e): round(float(p), 4) for e, p in zip(windows["end"], windows["ppl"])}}
    if args.json:
        _print_json(document)
    else:
        print(f"{len(cells)} chunks in {output}; running perplexity at {int(curve['end'][-1])} tokens: "
              f"{document['final_running_ppl']:.3f}")
        print(f"perplexity per {window}-token window: " +
              " ".join(f"{format_length(e)}:{p:.2f}" for e, p in zip(windows["end"], windows["ppl"])))
    return 0


def _niah_inputs(args: argparse.Namespace, lengths: Sequence[int]):
    """The NIAH settings, needles and haystack text from the options of :func:`_add_niah_options`."""
    from .needles import load_needles
    from .niah import NiahSettings, parse_depths
    from .sources import load_text

    settings = NiahSettings(lengths=tuple(lengths), depths=parse_depths(args.depths),
                            needles_per_cell=args.needles_per_cell, format=args.format,
                            answer_length=args.answer_length, block_length=args.block_length or args.answer_length,
                            steps=args.steps or args.answer_length, temperature=args.temperature, seed=args.seed,
                            haystack=args.haystack, needles=args.needles, batch_size=args.batch_size)
    needles = "passkey" if args.needles == "passkey" else load_needles(None if args.needles == "builtin" else args.needles)
    return settings, needles, load_text(args.haystack, args.haystack_field)


@command("niah")
def run_niah_command(args: argparse.Namespace) -> int:
    from .niah import niah_grid, run_niah
    from .results import parse_shard

    shard = parse_shard(args.shard)
    settings, needles, haystack = _niah_inputs(args, _lengths([args.lengths], "--lengths"))
    loaded = _load(args)
    output = _output(args, "niah", loaded, shard)
    haystack_ids = loaded.tokenizer.encode(haystack[: 8 * max(settings.lengths) * 8])
    cells = run_niah(loaded, haystack_ids, needles, settings, output, shard, progress=not args.no_progress)
    grid = niah_grid(cells)
    document = {"results": output, "model": loaded.name, "settings": loaded.settings(),
                "mean_by_length": {str(k): round(float(v), 2) for k, v in grid.mean(axis=0).items()},
                "grid": {str(c): {str(d): round(float(v), 2) for d, v in grid[c].items()} for c in grid.columns}}
    if args.json:
        _print_json(document)
    else:
        print(f"{len(cells)} cells in {output}")
        print(grid.round(1).to_string())
        print("mean by length: " + " ".join(f"{format_length(float(k))}:{v}" for k, v in document["mean_by_length"].items()))
    return 0


@command("plot")
def run_plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .figures import save_figure
    from .plots import plot_results

    fig = plot_results(args.results, title=args.title)
    stem = Path(args.output)
    written = save_figure(fig, stem.with_suffix(""), (stem.suffix.lstrip(".") or "png",))
    print(f"wrote {written[0]}")
    return 0


@command("toy")
def run_toy(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from .models import TWINS_DIR

    if args.toy_command == "train":
        from .toy.train import Recipe, train_recipe

        start = time.perf_counter()
        twins = train_recipe(Recipe(), Path(args.work), Path(args.output or TWINS_DIR), progress=not args.no_progress)
        for kind, folder in twins.items():
            record = json.loads((folder / "training_record.json").read_text())["stages"]
            speeds = ", ".join(f"{r['stage']['name']}: {r['tokens_per_second']:.0f} tokens/s "
                               f"({100 * r['matmul_share']:.0f} % of measured matmul rate)" for r in record)
            print(f"{kind} twin → {folder}  [{speeds}]")
        print(f"total {time.perf_counter() - start:.0f} s")
        return 0

    from .toy.report import ReportSettings, build_report, save_report

    settings = ReportSettings()
    if args.quick:
        settings = ReportSettings(samples=5, segments=2, mc=4, breakdown_multiples=(1, 2, 4), breakdown_samples=2,
                                  sweep=(1,), targets=(4,), methods=("longllada",))
    twins = Path(args.twins or TWINS_DIR)
    for kind in ("ar", "diffusion"):
        if not (twins / kind / "model.safetensors").is_file():
            raise LongLLaDAError(f"no {kind} twin in {twins}; regenerate the twins with `longllada toy train`")
    report = build_report(twins, Path(args.work), settings, progress=not args.no_progress)
    if args.output:
        save_report(report, Path(args.output))
    if args.json or not args.output:
        _print_json(report)
    return 0


def _attention_input(args, loaded):
    """Token ids, the query spec and the needle span for ``longllada attention``."""
    from .needles import FORMATS, build_prompt, load_needles, passkey_needle
    from .sources import load_text

    length = parse_length(args.length, "--length")
    if args.niah_depth is None:
        if args.queries == "answer":
            raise LongLLaDAError("--queries answer needs a needle prompt: add --niah-depth D")
        return _text_ids(loaded, args.text, length, args.text_field), args.queries, None
    import random
    needle = passkey_needle(random.Random(args.seed)) if args.needles == "passkey" else load_needles(
        None if args.needles == "builtin" else args.needles)[0]
    haystack = loaded.tokenizer.encode(load_text(args.haystack)[: 8 * length])
    answer_length = args.answer_length if loaded.kind == "diffusion" else 0
    budget = length - len(loaded.prefix_ids) - answer_length
    prompt = build_prompt(loaded.tokenizer, haystack, needle, budget, args.niah_depth, FORMATS[args.format])
    ids = loaded.prefix_ids + prompt.ids + [loaded.mask_token_id] * answer_length
    offset = len(loaded.prefix_ids)
    queries = args.queries
    if queries == "answer":
        queries = list(range(len(ids) - answer_length, len(ids))) if answer_length else [len(ids) - 1]
    return ids, queries, (offset + prompt.needle_start, offset + prompt.needle_end)


@command("attention")
def run_attention(args: argparse.Namespace) -> int:
    from .attention import find_attention_modules, instrumented_forward
    from .results import ResultsFile

    layers = [int(x) for x in args.layers.split(",")] if args.layers else None
    heads = [int(x) for x in args.heads.split(",")] if args.heads else None
    loaded = _load(args)
    ids, queries, needle = _attention_input(args, loaded)
    output = args.output or _default_output("attention", loaded)
    header = {**loaded.settings(), "length": len(ids), "queries": queries if isinstance(queries, str) else "answer",
              "layers": layers, "heads": heads, "text": args.text if args.niah_depth is None else None,
              "niah_depth": args.niah_depth, "needle_span": needle, "map_bins": args.map_bins, "seed": args.seed}
    store = ResultsFile.open(output, "attention", header)
    wanted = layers if layers is not None else range(len(find_attention_modules(loaded.model)))
    if any(f"layer{layer}" not in store.done for layer in wanted):  # one forward gives every layer; keep the new
        stats = instrumented_forward(loaded, ids, layers=layers, heads=heads, queries=queries, needle=needle,
                                     map_bins=args.map_bins, seed=args.seed)
        for layer in sorted(stats):
            if f"layer{layer}" not in store.done:
                store.append(**stats[layer].to_cell())
    cells = sorted(store.done.values(), key=lambda c: c["layer"])
    summary = [{"layer": c["layer"], "local": round(float(np.mean(c["local"])), 4),
                "half_distance": float(np.median(c["half_distance"])),
                **({"needle": round(float(np.mean(c["needle"])), 4)} if "needle" in c else {})} for c in cells]
    if args.json:
        _print_json({"results": output, "model": loaded.name, "length": len(ids), "layers": summary})
    else:
        print(f"{len(cells)} layers in {output}; share of attention within T_train = {loaded.spec.train_length} "
              "of each query (local), median distance holding half the mass:")
        for row in summary:
            print(f"  layer {row['layer']:>3}: local {row['local']:.3f}  half-mass distance {row['half_distance']:.0f}"
                  + (f"  on the needle {row['needle']:.3f}" if "needle" in row else ""))
    return 0


@command("bench")
def run_bench(args: argparse.Namespace) -> int:
    return {"attention": _bench_attention, "ppl": _bench_ppl, "niah": _bench_niah}[args.bench_command](args)


def _text_ids(loaded, source: str, length: int, field: str = "text") -> list[int]:
    """The first ``length`` tokens of a text source (after the model's prefix, e.g. BOS)."""
    from .sources import load_text

    ids = loaded.prefix_ids + loaded.tokenizer.encode(load_text(source, field))
    if len(ids) < length:
        raise LongLLaDAError(f"--length {length} is larger than the text ({len(ids)} tokens in this tokenizer)")
    return ids[:length]


def _bench_attention(args: argparse.Namespace) -> int:
    from .bench import bench_attention, llada_shaped

    length = parse_length(args.length, "--length")
    if args.llada_shaped:
        loaded = llada_shaped(args.device or "cuda", layers=args.layers or 32)
        import torch
        ids = torch.randint(0, 126000, (length,), generator=torch.Generator().manual_seed(0)).tolist()
        layers = None
    else:
        loaded = _load(args)
        ids = _text_ids(loaded, args.text, length)
        layers = args.layers
    result = bench_attention(loaded, ids, args.queries, layers=layers, eager=not args.no_eager, repeats=args.repeats)
    if args.json:
        _print_json(result)
        return 0
    gib = 2 ** 30
    print(f"{result['model']} · {result['length']} tokens · {result['layers']} layers · {result['device']} "
          f"{result['dtype']} · queries {result['queries']}")
    for name in ("plain", "instrumented", "eager"):
        if name in result:
            print(f"  {name:>12}: {result[name]['seconds']:8.2f} s   peak +{result[name]['peak_extra_bytes'] / gib:7.3f} GiB")
    print(f"  time instrumented / plain: {result['time_ratio_instrumented_vs_plain']:.3f}")
    if "memory_ratio_probe_vs_eager_extra" in result:
        print(f"  probe's extra memory / eager's extra memory: {result['memory_ratio_probe_vs_eager_extra']:.4f}")
        print(f"  largest |p_probe − p_eager|: {result['max_abs_prob_difference']:.2e}")
    else:
        print(f"  eager skipped: {result['eager_skipped']}")
    return 0


def _bench_ppl(args: argparse.Namespace) -> int:
    from .bench import bench_perplexity

    loaded = _load(args)
    result = bench_perplexity(loaded, _text_ids(loaded, args.text, parse_length(args.length, "--length")), args.chunk,
                              args.mc, args.repeats)
    if args.json:
        _print_json(result)
        return 0
    print(f"{result['model']} · last {result['chunk']} of {result['length']} tokens · {result['mc']} sequences per "
          f"estimate · {result['repeats']} repeats · {result['device']} {result['dtype']}")
    for name in ("batched", "sequential"):
        r = result[name]
        print(f"  {name:>10}: {r['forwards_per_estimate']:4.0f} forwards, {r['seconds_per_estimate']:.4f} s, "
              f"loss {r['mean_loss']:.4f} ± {r['standard_error']:.4f} (spread over repeats)")
    print(f"  standard error batched / sequential: {result['se_ratio_batched_vs_sequential']:.3f}")
    print(f"  time batched / sequential: {result['time_ratio_batched_vs_sequential']:.3f}")
    return 0


def _bench_niah(args: argparse.Namespace) -> int:
    from .bench import bench_niah

    length = parse_length(args.length, "--length")
    settings, needles, haystack = _niah_inputs(args, [length])
    loaded = _load(args)
    result = bench_niah(loaded, loaded.tokenizer.encode(haystack[: 64 * length]), needles, settings, args.cells)
    if args.json:
        _print_json(result)
        return 0
    print(f"{result['model']} ({result['kind']}) · {result['length']} tokens · batches of {result['batch_size']} · "
          f"{result['steps']} steps · {result['device']} {result['dtype']}")
    print(f"  forwards per batch: {[g['forwards'] for g in result['batches']]} (expected "
          f"{'exactly' if result['kind'] == 'diffusion' else 'at most'} {result['forwards_per_batch_expected']}: "
          f"{'yes' if result['forwards_as_expected'] else 'NO'})")
    print(f"  seconds per cell: {result['seconds_per_cell']:.3f} · mean score {result['mean_score']}")
    return 0


@command("compare")
def run_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .figures import save_figure
    from .reference import compare

    document, fig = compare(args.results, args.reference, args.length_tolerance, args.any_model)
    if args.figure:
        stem = Path(args.figure)
        document["figure"] = str(save_figure(fig, stem.with_suffix(""), (stem.suffix.lstrip(".") or "png",))[0])
    if args.json:
        _print_json(document)
    else:
        verdict = "REPRODUCED" if document["reproduced"] else "NOT reproduced"
        if document["kind"] == "niah":
            print(f"{document['reference']}: mean |Δ| {document['mean_abs_difference']} points, max "
                  f"{document['max_abs_difference']}, {100 * document['share_within_20']:.0f} % of cells within 20")
            for length, means in document["mean_by_length"].items():
                print(f"  {format_length(length):>6}: ours {means['ours']:6.1f}   paper {means['paper']:6.1f}")
        else:
            print(f"{document['reference']}: {document['positions']} positions, median |Δ| "
                  f"{100 * document['median_abs_relative_difference']:.1f} %, log-correlation "
                  f"{document['log_correlation']}; at {document['final']['position']}: ours "
                  f"{document['final']['ours']}, paper {document['final']['paper']}")
        print(f"{verdict} ({document['criterion']})")
    return 0


# ---------------------------------------------------------------- parser

def _add_loading_options(parser: argparse.ArgumentParser, default_model: str | None = None, run: bool = True) -> None:
    help_text = "hub id, local folder, .gguf file, or a shortcut: smollm2, toy:ar, toy:diffusion"
    if default_model:
        parser.add_argument("model", nargs="?", default=default_model, metavar="MODEL",
                            help=f"{help_text} (default: {default_model})")
    else:
        parser.add_argument("model", metavar="MODEL", help=help_text)
    group = parser.add_argument_group("loading")
    group.add_argument("--gguf-file", help="GGUF file inside MODEL's folder")
    group.add_argument("--trust-remote-code", action="store_true",
                       help="allow the model's own code to run (needed for LLaDA and Dream)")
    group.add_argument("--kind", choices=("ar", "diffusion"), help="override the model kind read from its config")
    group.add_argument("--dtype", default="auto", help="auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16")
    group.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda if available)")
    group.add_argument("--device-map", help="e.g. auto: spread a large model over devices with accelerate")
    group.add_argument("--attn-implementation", help="sdpa, flash_attention_2, eager (default: the model's)")
    group.add_argument("--train-length", metavar="N", help="pre-training length (default: from the config)")
    group = parser.add_argument_group("RoPE scaling (applied before the model is built)")
    group.add_argument("--rope-scale", type=float, metavar="λ", help="multiply rope_theta by λ")
    group.add_argument("--target", metavar="LENGTH", help="scale for this target length with --method")
    group.add_argument("--method", default="longllada",
                       help="longllada, diffusion-aware, ntk-aware, linear, yarn (default: longllada)")
    if not run:
        return
    group = parser.add_argument_group("run")
    group.add_argument("--output", help="results JSONL (default: results/<protocol>_<model>_<scaling>.jsonl); "
                                        "rerunning resumes it")
    group.add_argument("--shard", metavar="I/N", help="run every N-th cell starting at I (default under torchrun: RANK/WORLD_SIZE)")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--json", action="store_true", help="print one JSON summary")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")

def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-length", metavar="N",
                        help="pre-training length in tokens (16k, 4096); default: from the preset or config")
    parser.add_argument("--attention", choices=("causal", "bidirectional"),
                        help="override the attention kind read from the config")


def _add_niah_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--depths", default="0:100:10", help="start:stop:step or a list, in %% (default 0:100:10)")
    p.add_argument("--needles", default="builtin",
                   help="builtin (English set), passkey, or a NeedleBench-style needles.jsonl")
    p.add_argument("--needles-per-cell", type=int, default=1, help="needles asked per length × depth (default 1)")
    p.add_argument("--haystack", default="builtin:noise",
                   help="a .txt, a .jsonl (see --haystack-field), builtin:noise (default) or builtin:stdlib")
    p.add_argument("--haystack-field", default="text")
    p.add_argument("--format", default="plain", help="prompt layout: plain (default) or needlebench")
    p.add_argument("--answer-length", type=int, default=32, help="answer tokens (default 32)")
    p.add_argument("--block-length", type=int, help="diffusion sampler block length (default: answer length)")
    p.add_argument("--steps", type=int, help="diffusion sampler steps (default: answer length)")
    p.add_argument("--temperature", type=float, default=0.0, help="diffusion sampler temperature (default 0)")
    p.add_argument("--batch-size", type=int, default=1,
                   help="cells of one length answered in one batch (default 1; part of the run's settings)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longllada",
        description="RoPE extrapolation theory and measurements for diffusion and autoregressive LLMs "
                    "(LongLLaDA, arXiv 2506.14429).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("scale", help="critical dimension, extrapolation bound and scaling factors for a model",
                       description="Critical dimension, extrapolation bound, and for each target length and method the "
                                   "scaling factor, the new rope_theta and the exact config change. MODEL is a preset "
                                   "(hub id or alias, see `longllada presets`), a config.json, a model folder, a .gguf "
                                   "file or a Hugging Face model id.")
    p.add_argument("model", nargs="*", metavar="MODEL")
    p.add_argument("--target", action="append", metavar="LENGTH",
                   help="target context length (16k, 32768); repeat or comma-separate for several")
    p.add_argument("--method", action="append", metavar="METHOD",
                   help="longllada, diffusion-aware, ntk-aware, linear, yarn (repeatable; default: all)")
    p.add_argument("--all-presets", action="store_true", help="add every built-in preset to the models")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    p.add_argument("--markdown", action="store_true", help="print one markdown table instead")
    _add_model_options(p)

    p = sub.add_parser("explain", help="per-pair rotation periods and arc coverage of one model",
                       description="For each RoPE pair: rotation per token, period, period / T, the share of its circle "
                                   "that causal and bidirectional training covered, and the first distance it leaves "
                                   "the range it saw.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    _add_model_options(p)

    p = sub.add_parser("presets", help="list the built-in model presets")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ppl", help="perplexity against context length (the paper's Figure 1a protocol)",
                       description="Perplexity of a text in chunks, each given all earlier chunks as a clean prefix: "
                                   "next-token loss for AR models, the Monte-Carlo masked-token estimate for "
                                   "diffusion models. Every chunk is appended to the results file as it finishes.")
    _add_loading_options(p)
    p.add_argument("--text", default="builtin:stdlib",
                   help="a .txt, a .jsonl (see --text-field) or builtin:stdlib (default)")
    p.add_argument("--text-field", default="text", help="field of a .jsonl text file (default: text)")
    p.add_argument("--max-length", default="16k", help="tokens to score (default 16k)")
    p.add_argument("--chunk", type=int, default=64, help="chunk size in tokens (default 64, the paper's)")
    p.add_argument("--mc", type=int, default=8, help="Monte-Carlo samples per chunk for diffusion models (default 8)")
    p.add_argument("--mc-batch", type=int, help="samples per forward pass (default: all in one)")
    p.add_argument("--estimator", choices=("paper", "elbo"), default="paper",
                   help="paper: mean masked loss, stratified counts (LongLLaDA); elbo: LLaDA's 1/t-weighted loss")
    p.add_argument("--window", help="also report perplexity per window of this many tokens (default: T_train)")

    p = sub.add_parser("niah", help="needle-in-a-haystack grid of lengths × depths (the paper's Figures 1b/2)",
                       description="Lengths × depths × needles; prompts measured in the model's own tokens; answers "
                                   "by greedy decoding (AR) or the low-confidence remasking sampler (diffusion); "
                                   "NeedleBench's 0–100 score.")
    _add_loading_options(p)
    p.add_argument("--lengths", default="2k,4k,8k", help="comma-separated context lengths (default 2k,4k,8k)")
    _add_niah_options(p)

    p = sub.add_parser("plot", help="draw a figure from results files (perplexity curves or NIAH heatmaps)")
    p.add_argument("results", nargs="+", help="results JSONL files (shards of one run are merged)")
    p.add_argument("--output", required=True, help="image file (.png or .pdf)")
    p.add_argument("--title")

    p = sub.add_parser("attention", help="attention statistics by relative distance (local perception)",
                       description="One forward pass with the attention probe (hooks on q_proj/k_proj and the model's "
                                   "RoPE; no output_attentions, no eager): attention mass by relative distance, the "
                                   "share within T_train of each query, the half-mass distance, top-k positions, "
                                   "pre-softmax scores by RoPE band, and the mass on a needle. One cell per layer.")
    _add_loading_options(p)
    p.add_argument("--text", default="builtin:stdlib", help="text to read (ignored with --niah-depth)")
    p.add_argument("--text-field", default="text")
    p.add_argument("--length", default="4k", help="tokens (default 4k)")
    p.add_argument("--queries", default="last:64",
                   help="last, last:N, sample:N, range:A-B, all, or answer (with --niah-depth)")
    p.add_argument("--layers", help="comma-separated layer indices (default: all)")
    p.add_argument("--heads", help="comma-separated head indices (default: all)")
    p.add_argument("--map-bins", type=int, help="also store a downsampled attention map of this many bins")
    p.add_argument("--niah-depth", type=float, help="instead of --text: a needle prompt with the needle at this depth")
    p.add_argument("--needles", default="builtin", help="builtin, passkey or a needles.jsonl (with --niah-depth)")
    p.add_argument("--haystack", default="builtin:noise")
    p.add_argument("--format", default="plain")
    p.add_argument("--answer-length", type=int, default=32, help="masked answer tokens appended for diffusion models")

    p = sub.add_parser("bench", help="benchmarks that print measured ratios (attention probe, perplexity estimator, NIAH)")
    bench = p.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    q = bench.add_parser("attention", help="probe vs plain forward vs eager output_attentions: time, memory, ratios",
                         description="Times and peak memory of a plain forward, the instrumented forward (all "
                                     "layers, --queries) and eager output_attentions on the same model and input, "
                                     "their ratios, and the largest probability difference.")
    _add_loading_options(q, default_model="smollm2", run=False)
    q.add_argument("--length", default="4k")
    q.add_argument("--queries", default="last:64")
    q.add_argument("--layers", type=int, help="use only the first N layers (all three variants)")
    q.add_argument("--text", default="builtin:stdlib")
    q.add_argument("--no-eager", action="store_true", help="skip the eager comparison")
    q.add_argument("--repeats", type=int, default=1, help="take the fastest of this many plain/instrumented runs")
    q.add_argument("--llada-shaped", action="store_true",
                   help="a randomly initialised LLaDA-8B-shaped model (bf16, GPU) instead of MODEL")
    q.add_argument("--json", action="store_true")

    q = bench.add_parser("ppl", help="diffusion perplexity: batched stratified MC vs one sample per forward",
                         description="The Monte-Carlo estimate of the last chunk, --repeats times with fresh seeds, "
                                     "batched with stratified mask sizes (the package's) and as a loop of one "
                                     "independent sample per forward, at the same --mc sequences per estimate: "
                                     "forwards, seconds, the spread over repeats (the real standard error), ratios.")
    _add_loading_options(q, default_model="toy:diffusion", run=False)
    q.add_argument("--length", default="512", help="context tokens, the last --chunk scored (default 512)")
    q.add_argument("--chunk", type=int, default=64)
    q.add_argument("--mc", type=int, default=8, help="sequences per estimate (default 8)")
    q.add_argument("--repeats", type=int, default=32, help="estimates per way (default 32)")
    q.add_argument("--text", default="builtin:stdlib")
    q.add_argument("--json", action="store_true")
    q = bench.add_parser("niah", help="forward passes and seconds per NIAH answer",
                         description="Answers the first --cells cells of a one-length NIAH grid and counts the "
                                     "model's forward passes per batch: exactly --steps for a diffusion model, at "
                                     "most --answer-length for an AR model; seconds per cell.")
    _add_loading_options(q, default_model="toy:diffusion", run=False)
    q.add_argument("--length", default="512", help="prompt tokens (default 512)")
    q.add_argument("--cells", type=int, default=4, help="cells to answer (default 4)")
    q.add_argument("--seed", type=int, default=0)
    _add_niah_options(q)
    q.add_argument("--json", action="store_true")

    p = sub.add_parser("toy", help="the twin tiny models: train them, or measure the paper's phenomena on them")
    toy = p.add_subparsers(dest="toy_command", metavar="ACTION", required=True)
    q = toy.add_parser("train", help="regenerate both twin checkpoints (CPU; resumable)",
                       description="Train the AR twin, then continue it and adapt a copy to masked diffusion side by "
                                   "side (see longllada_theory/toy/train.py). Deterministic from the seeds; rerun "
                                   "the same command to resume after an interruption.")
    q.add_argument("--output", help="where the twins go (default: the package's shipped checkpoints)")
    q.add_argument("--work", default="results/twins-training", help="checkpoints for resuming")
    q.add_argument("--no-progress", action="store_true")
    q = toy.add_parser("report", help="measure stable perplexity, local perception and the scaling law on the twins",
                       description="Runs the evaluation suite on the twins and prints one JSON document: "
                                   "train_length; ppl[model][length] (last-window perplexity); "
                                   "retrieval[model][length][depth] (passkey hit rate); local_hit / far_hit "
                                   "(diffusion twin, needle within T vs. beyond 1.5 T of the question, at 2T and "
                                   "4T); ntk[model] (per method and target: λ, predicted and measured breakdown "
                                   "lengths); sweep[model] (retrieval at 4T for multiples of the law's λ).")
    q.add_argument("--twins", help="folder with ar/ and diffusion/ (default: the shipped twins)")
    q.add_argument("--work", default="results/twins-report", help="results files of every cell (resumable)")
    q.add_argument("--output", help="also write the report JSON here")
    q.add_argument("--json", action="store_true", help="print the JSON document (default when no --output)")
    q.add_argument("--quick", action="store_true", help="a reduced grid (for a first look and the notebook)")
    q.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("compare", help="compare your results with the paper's published numbers",
                       description="Per-cell differences of a NIAH grid with Figure 2, or of a perplexity curve with "
                                   "Figure 1a; an overall verdict and a side-by-side figure.")
    p.add_argument("results", nargs="+", help="results JSONL files (shards of one run)")
    p.add_argument("--reference", required=True,
                   help="e.g. paper:figure2:LLaDA-8B-Base or paper:figure1a:LLaMA3-8B-Base (a wrong name lists all)")
    p.add_argument("--figure", help="write the side-by-side figure here (.png/.pdf)")
    p.add_argument("--length-tolerance", type=float, default=0.05,
                   help="relative tolerance matching lengths (the paper counts gpt-4 tokens: 2000, 4000, …)")
    p.add_argument("--any-model", action="store_true", help="compare even if the results are for another model")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("figures", help="regenerate every figure (PNG and PDF) from code and stored results",
                       description="Draw every figure of the package into a folder, deterministically (same names, "
                                   "fixed seeds, no timestamps).")
    p.add_argument("--output", default="figures", help="folder to write into (default: figures)")
    p.add_argument("--only", action="append", metavar="NAME", help="draw only this figure (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LongLLaDAError as error:
        print(f"longllada: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("longllada: interrupted; finished cells are saved, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
