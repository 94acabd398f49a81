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
from ..theory.scaling import METHODS, ScalingPlan, check_method
from .commands import add_json_option, add_spec_options, command, console, lengths_option, print_json


def _finite(x: float) -> float | None:
    return None if x == float("inf") else float(x)


def plan_document(spec: RopeSpec, plan: ScalingPlan, pairs: bool = False) -> dict:
    """One plan as JSON: its factor, RoPE parameters, how far it reaches, the exact config change."""
    from ..models.pairs import pair_rows
    from ..models.patching import config_change

    document = {"target": plan.target, "method": plan.method, "scaling_factor": plan.scaling_factor,
                "new_rope_theta": plan.new_rope_theta, "rope_parameters": plan.rope_parameters,
                "attention_factor": plan.attention_factor, "needed": plan.needed, "reaches": _finite(plan.reaches()),
                "config_change": config_change(spec, plan), "note": plan.note}
    if plan.pair_factors is not None:
        document["pair_factors"] = list(plan.pair_factors)
    if pairs:
        document["pairs"] = pair_rows(spec, plan)
    return document


def plans_for(spec: RopeSpec, targets: list[int], methods: list[str], factors: str | None = None) -> list[ScalingPlan]:
    """The plans of every method for every target, and a LongRoPE plan with the given factors."""
    plans = [spec.plan(target, method) for target in targets for method in methods]
    if factors:
        values = read_factors(factors, spec)
        plans += [spec.plan_with_factors(target, values) for target in targets]
    return plans


def read_factors(source: str, spec: RopeSpec) -> list[float]:
    """Per-pair LongRoPE factors from ``longdllm`` (LongDLLM's for the spec's model, or LLaDA-8B-Instruct's), a JSON
    file (a list, or an object with ``factors`` / ``long_factor``), or a comma-separated list."""
    from pathlib import Path

    from ..reference import longdllm_factors

    if source == "longdllm":
        model = spec.name if spec.name in ("apple/DiffuCoder-7B-Instruct",) else "GSAI-ML/LLaDA-8B-Instruct"
        return list(longdllm_factors(model)["factors"])
    if Path(source).is_file():
        data = json.loads(Path(source).read_text(encoding="utf-8"))
        data = data.get("factors", data.get("long_factor")) if isinstance(data, dict) else data
    else:
        data = source.split(",")
    try:
        return [float(x) for x in data]
    except (TypeError, ValueError):
        raise LongLLaDAError(f"factors {source!r}: expected longdllm, a JSON list of numbers or a file holding one, "
                             "or a comma-separated list", parameters=("factors",)) from None


def scale_document(spec: RopeSpec, targets: list[int], methods: list[str], pairs: bool = False,
                   factors: str | None = None) -> dict:
    return {**spec.to_dict(), "reach": _finite(spec.reach),
            "plans": [plan_document(spec, plan, pairs) for plan in plans_for(spec, targets, methods, factors)]}


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
        caption = f"T_train: {doc['provenance']['train_length']}; attention: {doc['provenance']['attention']}"
        if doc["existing_scaling"]:
            caption += (f"\nthe model already uses RoPE scaling {json.dumps(doc['existing_scaling'])} "
                        f"(reaches {doc['reach']})")
        if doc.get("layer_type"):
            others = "; ".join(f"{o['layer_type']}: d {o['rotary_dim']}, rope_theta {o['rope_theta']:g}, "
                               f"{o['rope_type']}" for o in doc["other_settings"])
            caption += f"\nplans target the {doc['layer_type']} layers; the model's other RoPE settings: {others}"
        for note in doc.get("notes", []):
            caption += f"\nnote: {note}"
        for plan in doc["plans"]:
            if plan["note"]:
                caption += f"\n{format_length(plan['target'])} {plan['method']}: {plan['note']}"
        table = Table(title=title, caption=caption, caption_justify="left")
        for column, justify in (("target", "right"), ("method", "left"), ("λ / s", "right"),
                                ("new rope_theta", "right"), ("reaches", "right"), ("config change", "left")):
            table.add_column(column, justify=justify, overflow="fold")
        for plan in doc["plans"]:
            change = plan["config_change"]
            table.add_row(format_length(plan["target"]), plan["method"], _fmt(plan["scaling_factor"]),
                          _fmt(plan["new_rope_theta"]),
                          "∞" if plan["reaches"] is None else f"{plan['reaches']:.0f}",
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


def explain_document(spec: RopeSpec, plan: ScalingPlan | None = None) -> dict:
    from ..models.pairs import pair_rows

    document = {**spec.to_dict(), "pairs": pair_rows(spec, plan)}
    if plan is not None:
        document["plan"] = plan_document(spec, plan)
    return document


def explain_table(doc: dict):
    from rich.table import Table

    plan = doc.get("plan")
    title = (f"{doc['model']}: RoPE pairs (d = {doc['rotary_dim']}, rope_theta = {doc['rope_theta']:g}, "
             f"T_train = {doc['train_length']}, critical dimension {doc['critical_dimension']})")
    if plan:
        title += f" and {plan['method']} for {format_length(plan['target'])}"
    caption = ("coverage: share of the pair's circle that training showed (causal: Δ ∈ [0, T); bidirectional: "
               "Δ ∈ (−T, T)); first unseen: the first distance whose angle training never showed (— = never)")
    if plan:
        caption += ("; after: the scaled pair at the target — its factor θ/θ′, its period, whether it completes a "
                    "turn within the target, and whether it meets angles training never showed (causal / bidir.)")
    table = Table(title=title, caption=caption, caption_justify="left")
    columns = ["pair", "θ_i", "period", "period / T", "causal", "bidirectional", "first unseen (causal)",
               "first unseen (bidir.)"]
    if plan:
        columns += ["factor", "period after", "turn within T′", "unseen (causal)", "unseen (bidir.)"]
    for column in columns:
        table.add_column(column, justify="right")
    for p in doc["pairs"]:
        style = "bold red" if p["beyond_critical"] and p["pair"] == doc["critical_dimension"] // 2 else None
        row = [str(p["pair"]), f"{p['theta']:.3e}", f"{p['period']:.4g}", f"{p['period_over_train_length']:.3g}",
               f"{p['coverage_causal']:.3f}", f"{p['coverage_bidirectional']:.3f}",
               "—" if p["first_unseen_causal"] is None else f"{p['first_unseen_causal']:.0f}",
               "—" if p["first_unseen_bidirectional"] is None else f"{p['first_unseen_bidirectional']:.0f}"]
        if plan:
            row += [f"{p['factor']:.3g}", f"{p['period_after']:.4g}", "yes" if p["completes_turn_within_target"]
                    else "no", "yes" if p["unseen_at_target_causal"] else "no",
                    "yes" if p["unseen_at_target_bidirectional"] else "no"]
        table.add_row(*row, style=style)
    return table


def _scale_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="*", metavar="MODEL")
    parser.add_argument("--target", action="append", metavar="LENGTH",
                        help="target context length (16k, 32768); repeat or comma-separate for several")
    parser.add_argument("--method", action="append", metavar="METHOD",
                        help=f"{', '.join(METHODS)}, or all (repeatable; default: all)")
    parser.add_argument("--factors", help="also a LongRoPE plan with these per-pair factors: longdllm (LongDLLM's "
                                          "searched factors), a JSON file, or a comma-separated list")
    parser.add_argument("--pairs", action="store_true", help="add each plan's per-pair table (JSON: a pairs list)")
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
    methods = [m for m in (args.method or ["all"]) if m != "all"] or list(METHODS)
    for method in methods:
        check_method(method)
    train_length = parse_length(args.train_length, "--train-length") if args.train_length else None
    models = list(args.model) + ([p.hub_id for p in PRESETS] if args.all_presets else [])
    if not models:
        raise LongLLaDAError("name at least one model (preset, config.json, folder or hub id), or pass --all-presets")
    documents = [scale_document(load_spec(m, train_length, args.attention), targets, methods, args.pairs,
                                args.factors) for m in models]
    if args.json:
        print_json(documents[0] if len(documents) == 1 else {"models": documents})
    elif args.markdown:
        print(scale_markdown(documents))
    else:
        out = console()
        for table in scale_tables(documents):
            out.print(table)
        if args.pairs:
            for doc in documents:
                for plan in doc["plans"]:
                    out.print(explain_table({**doc, "plan": plan, "pairs": plan["pairs"]}))
    return 0


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("--target", metavar="LENGTH", help="also show each pair after scaling for this length")
    parser.add_argument("--method", default="longllada",
                        help=f"the scaling method with --target: {', '.join(METHODS)}, or longrope with --factors "
                             "(default: longllada)")
    parser.add_argument("--factors", help="per-pair LongRoPE factors: longdllm, a JSON file, or a comma list")
    add_json_option(parser, "print one JSON document instead of a table")
    add_spec_options(parser)


@command("explain", "per-pair rotation periods and arc coverage of one model, before and after a scaling",
         _explain_arguments,
         "For each RoPE pair: rotation per token, period, period / T, the share of its circle that causal and "
         "bidirectional training covered, and the first distance it leaves the range it saw; with --target and "
         "--method (or --factors), the pair after scaling: its factor, its period, whether it completes a turn "
         "within the target and whether it meets angles training never showed, for causal and bidirectional "
         "attention.")
def run_explain(args: argparse.Namespace) -> int:
    train_length = parse_length(args.train_length, "--train-length") if args.train_length else None
    spec = load_spec(args.model, train_length, args.attention)
    plan = None
    if args.target:
        target = parse_length(args.target, "--target")
        if args.factors:
            plan = plans_for(spec, [target], [], args.factors)[0]
        else:
            check_method(args.method)
            plan = spec.plan(target, args.method)
    elif args.factors or args.method != "longllada":
        raise LongLLaDAError("--method and --factors need a --target length")
    document = explain_document(spec, plan)
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
                     "family": spec.family, "source": preset.source,
                     "train_length_source": spec.provenance["train_length"], "uncertain": list(preset.uncertain),
                     "notes": preset.notes})
    if args.json:
        print_json(rows)
        return 0
    from rich.table import Table
    table = Table(title="Built-in presets (no network needed)",
                  caption="⚑: a number from a secondary copy (a vendored config, a report quoted elsewhere): verify "
                          "it before relying on it. Sources below.", caption_justify="left")
    for column in ("hub id", "aliases", "d", "rope_theta", "T_train", "attention"):
        table.add_column(column, overflow="fold")
    for r in rows:
        flag = {key: " ⚑" if key in r["uncertain"] else "" for key in ("rope_theta", "train_length")}
        table.add_row(r["hub_id"], ", ".join(r["aliases"]), str(r["rotary_dim"]),
                      f"{r['rope_theta']:g}{flag['rope_theta']}",
                      format_length(r["train_length"]) + flag["train_length"], r["attention"])
    out = console()
    out.print(table)
    for r in rows:
        uncertain = f" Uncertain: {', '.join(r['uncertain'])}." if r["uncertain"] else ""
        out.print(f"[bold]{r['hub_id']}[/bold]: {r['source']}; T_train: {r['train_length_source']}.{uncertain}")
    return 0
