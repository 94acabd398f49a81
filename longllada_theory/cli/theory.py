"""``longllada scale``, ``explain`` and ``presets``: documents (JSON-ready dicts) and rich tables. These commands read
configs only (no torch import).

Schema of a scale document (one per model)::

    {"model", "model_type", "head_dim", "rotary_dim", "rope_theta", "train_length", "attention",
     "config_family", "critical_dimension", "extrapolation_bound", "existing_scaling", "provenance",
     "plans": [{"target", "method", "scaling_factor", "new_rope_theta", "rope_parameters",
                "attention_factor", "needed", "reaches", "config_change"}]}

``reaches`` is the extrapolation bound after scaling by the law's reading (``null`` for position-scaling methods,
which do not change the base); ``config_change`` is the exact edit to the model's config.json (``null`` where the
model's code cannot express the method, e.g. YaRN in LLaDA's remote code).
"""

from __future__ import annotations

import argparse
import json

from ..errors import LongLLaDAError
from ..lengths import format_length, parse_length
from ..models.presets import PRESETS
from ..models.spec import RopeSpec, load_spec
from ..theory.rope import arc_coverage, first_unseen_position, rotation_angles
from ..theory.scaling import METHODS, check_method
from .commands import add_json_option, add_spec_options, command, console, lengths_option, print_json


def scale_document(spec: RopeSpec, targets: list[int], methods: list[str]) -> dict:
    plans = []
    for target in targets:
        for method in methods:
            plan = spec.plan(target, method)
            plans.append({
                "target": plan.target, "method": plan.method, "scaling_factor": plan.scaling_factor,
                "new_rope_theta": plan.new_rope_theta, "rope_parameters": plan.rope_parameters,
                "attention_factor": plan.attention_factor, "needed": plan.needed,
                "reaches": plan.reaches() if plan.rope_type == "default" else None,
                "config_change": plan.config_change(spec.config_family),
            })
    return {**spec.to_dict(), "plans": plans}


def _fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1e6 else f"{x:.4e}"


def scale_tables(documents: list[dict]):
    from rich.table import Table

    tables = []
    for doc in documents:
        title = (f"{doc['model']} — d = {doc['rotary_dim']}, rope_theta = {doc['rope_theta']:g}, "
                 f"T_train = {doc['train_length']} ({doc['attention']}), critical dimension "
                 f"{doc['critical_dimension']} of {doc['rotary_dim']}, extrapolation bound "
                 f"{doc['extrapolation_bound']:.0f} tokens")
        caption = f"T_train: {doc['provenance']['train_length']}"
        if doc["existing_scaling"]:
            caption += f"\nnote: the model already uses RoPE scaling {json.dumps(doc['existing_scaling'])}"
        table = Table(title=title, caption=caption, caption_justify="left")
        for column, justify in (("target", "right"), ("method", "left"), ("λ / s", "right"),
                                ("new rope_theta", "right"), ("reaches", "right"), ("config change", "left")):
            table.add_column(column, justify=justify, overflow="fold")
        for plan in doc["plans"]:
            change = plan["config_change"]
            table.add_row(format_length(plan["target"]), plan["method"], _fmt(plan["scaling_factor"]),
                          _fmt(plan["new_rope_theta"]),
                          "—" if plan["reaches"] is None else f"{plan['reaches']:.0f}",
                          "no change needed" if not plan["needed"] else
                          ("not expressible in this model's config" if change is None else json.dumps(change)))
        tables.append(table)
    return tables


def scale_markdown(documents: list[dict]) -> str:
    """One markdown table for all models (for READMEs and papers)."""
    lines = ["| model | d | rope_theta | T_train | d_crit | bound | target | method | λ / s | new rope_theta |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for doc in documents:
        for plan in doc["plans"]:
            lines.append(f"| {doc['model']} | {doc['rotary_dim']} | {doc['rope_theta']:g} | "
                         f"{format_length(doc['train_length'])} | {doc['critical_dimension']} | "
                         f"{doc['extrapolation_bound']:.0f} | {format_length(plan['target'])} | {plan['method']} | "
                         f"{_fmt(plan['scaling_factor'])} | {plan['new_rope_theta']:.6g} |")
    return "\n".join(lines)


def explain_document(spec: RopeSpec) -> dict:
    theta = rotation_angles(spec.rotary_dim, spec.rope_theta)
    periods = spec.periods()
    causal = arc_coverage(spec.rotary_dim, spec.rope_theta, spec.train_length, "causal")
    bidir = arc_coverage(spec.rotary_dim, spec.rope_theta, spec.train_length, "bidirectional")
    unseen_c = first_unseen_position(spec.rotary_dim, spec.rope_theta, spec.train_length, "causal")
    unseen_b = first_unseen_position(spec.rotary_dim, spec.rope_theta, spec.train_length, "bidirectional")
    pairs = [{"pair": i, "dims": [2 * i, 2 * i + 1], "theta": float(theta[i]), "period": float(periods[i]),
              "period_over_train_length": float(periods[i] / spec.train_length),
              "beyond_critical": 2 * i >= spec.critical_dimension,
              "coverage_causal": float(causal[i]), "coverage_bidirectional": float(bidir[i]),
              "first_unseen_causal": None if unseen_c[i] == float("inf") else float(unseen_c[i]),
              "first_unseen_bidirectional": None if unseen_b[i] == float("inf") else float(unseen_b[i])}
             for i in range(spec.rotary_dim // 2)]
    return {**spec.to_dict(), "pairs": pairs}


def explain_table(doc: dict):
    from rich.table import Table

    table = Table(title=f"{doc['model']}: RoPE pairs (d = {doc['rotary_dim']}, rope_theta = {doc['rope_theta']:g}, "
                        f"T_train = {doc['train_length']}, critical dimension {doc['critical_dimension']})",
                  caption="coverage: share of the pair's circle that training showed (causal: Δ ∈ [0, T); "
                          "bidirectional: Δ ∈ (−T, T)); first unseen: the first distance whose angle training never "
                          "showed (— = never)", caption_justify="left")
    for column in ("pair", "θ_i", "period", "period / T", "causal", "bidirectional", "first unseen (causal)",
                   "first unseen (bidir.)"):
        table.add_column(column, justify="right")
    for p in doc["pairs"]:
        style = "bold red" if p["beyond_critical"] and p["pair"] == doc["critical_dimension"] // 2 else None
        table.add_row(str(p["pair"]), f"{p['theta']:.3e}", f"{p['period']:.4g}", f"{p['period_over_train_length']:.3g}",
                      f"{p['coverage_causal']:.3f}", f"{p['coverage_bidirectional']:.3f}",
                      "—" if p["first_unseen_causal"] is None else f"{p['first_unseen_causal']:.0f}",
                      "—" if p["first_unseen_bidirectional"] is None else f"{p['first_unseen_bidirectional']:.0f}",
                      style=style)
    return table


def _scale_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="*", metavar="MODEL")
    parser.add_argument("--target", action="append", metavar="LENGTH",
                        help="target context length (16k, 32768); repeat or comma-separate for several")
    parser.add_argument("--method", action="append", metavar="METHOD",
                        help=f"{', '.join(METHODS)} (repeatable; default: all)")
    parser.add_argument("--all-presets", action="store_true", help="add every built-in preset to the models")
    add_json_option(parser, "print one JSON document instead of tables")
    parser.add_argument("--markdown", action="store_true", help="print one markdown table instead")
    add_spec_options(parser)


@command("scale", "critical dimension, extrapolation bound and scaling factors for a model", _scale_arguments,
         "Critical dimension, extrapolation bound, and for each target length and method the scaling factor, the new "
         "rope_theta and the exact config change. MODEL is a preset (hub id or alias, see `longllada presets`), a "
         "config.json, a model folder, a .gguf file or a Hugging Face model id.")
def run_scale(args: argparse.Namespace) -> int:
    targets = lengths_option(args.target, "--target")
    if not targets:
        raise LongLLaDAError("give at least one --target length (e.g. --target 16k)")
    methods = args.method or list(METHODS)
    for method in methods:
        check_method(method)
    train_length = parse_length(args.train_length, "--train-length") if args.train_length else None
    models = list(args.model) + ([p.hub_id for p in PRESETS] if args.all_presets else [])
    if not models:
        raise LongLLaDAError("name at least one model (preset, config.json, folder or hub id), or pass --all-presets")
    documents = [scale_document(load_spec(m, train_length, args.attention), targets, methods) for m in models]
    if args.json:
        print_json(documents[0] if len(documents) == 1 else {"models": documents})
    elif args.markdown:
        print(scale_markdown(documents))
    else:
        out = console()
        for table in scale_tables(documents):
            out.print(table)
    return 0


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    add_json_option(parser, "print one JSON document instead of a table")
    add_spec_options(parser)


@command("explain", "per-pair rotation periods and arc coverage of one model", _explain_arguments,
         "For each RoPE pair: rotation per token, period, period / T, the share of its circle that causal and "
         "bidirectional training covered, and the first distance it leaves the range it saw.")
def run_explain(args: argparse.Namespace) -> int:
    train_length = parse_length(args.train_length, "--train-length") if args.train_length else None
    document = explain_document(load_spec(args.model, train_length, args.attention))
    if args.json:
        print_json(document)
    else:
        console().print(explain_table(document))
    return 0


@command("presets", "list the built-in model presets", add_json_option)
def run_presets(args: argparse.Namespace) -> int:
    rows = []
    for preset in PRESETS:
        spec = load_spec(preset.hub_id)
        rows.append({"hub_id": preset.hub_id, "aliases": list(preset.aliases), "rotary_dim": spec.rotary_dim,
                     "rope_theta": spec.rope_theta, "train_length": spec.train_length, "attention": spec.attention,
                     "source": preset.source})
    if args.json:
        print_json(rows)
        return 0
    from rich.table import Table
    table = Table(title="Built-in presets (no network needed)")
    for column in ("hub id", "aliases", "d", "rope_theta", "T_train", "attention"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["hub_id"], ", ".join(r["aliases"]), str(r["rotary_dim"]), f"{r['rope_theta']:g}",
                      format_length(r["train_length"]), r["attention"])
    console().print(table)
    return 0
