"""``longllada scale``, ``explain`` and ``presets``: documents (JSON-ready dicts) and rich tables. These commands read
configs only (no torch import).

Schema of a scale document (one per model)::

    {"model", "model_type", "head_dim", "rotary_dim", "rope_theta", "train_length", "attention",
     "config_format", "critical_dimension", "extrapolation_bound",          # the pre-training RoPE
     "effective": {"scaled", "window", "critical_dimension", "extrapolation_bound"},  # with the model's scaling
     "existing_scaling", "layers", "notes", "provenance", "reach",
     "plans": [{"target", "method", "reading", "default", "scaling_factor", "new_rope_theta", "rope_parameters",
                "attention_factor", "needed", "applicable", "reaches", "reaches_read", "config_change", "note"}]}

``reading`` is ``compose`` or ``replace`` for a model that already has a RoPE scaling (None otherwise; ``default``
marks the one the measuring commands apply); ``reaches`` is how far the plan reaches by its method's own reading
(``reaches_read``: causal, or bidirectional for the diffusion-aware law); ``config_change`` is the exact edit to the
model's config.json (``null`` where the model's code cannot express the method, e.g. YaRN in LLaDA's remote code).
"""

from __future__ import annotations

import argparse
import json

from ..errors import LongLLaDAError
from ..files import parse_json, read_text
from ..lengths import format_length, parse_length
from ..models.presets import PRESETS
from ..models.spec import RopeSpec, load_spec
from ..theory.scaling import ABLATIONS, STANDARD_METHODS, ScalingPlan, check_method
from ..values import MAX_ITEMS, Real
from .commands import (
    add_json_option,
    add_reading_option,
    add_spec_options,
    command,
    console,
    lengths_option,
    print_json,
)


def _finite(x: float) -> float | None:
    return None if x == float("inf") else float(x)


def plan_document(spec: RopeSpec, plan: ScalingPlan, pairs: bool = False, default: bool = True) -> dict:
    """One plan as JSON: its factor, RoPE parameters, how far it reaches (by its method's own reading), the exact
    config change, which reading it is (compose / replace, for a model that already has a scaling) and whether it is
    the one a command applies by default."""
    from ..models.pairs import pair_rows
    from ..models.patching import config_change

    document = {"target": plan.target, "method": plan.method, "reading": plan.reading, "default": default,
                "scaling_factor": plan.scaling_factor, "new_rope_theta": plan.new_rope_theta,
                "rope_parameters": plan.rope_parameters, "attention_factor": plan.attention_factor,
                "needed": plan.needed, "applicable": plan.applicable, "reaches": _finite(plan.reaches()),
                "reaches_read": plan.attention,
                "config_change": config_change(spec, plan), "note": plan.note}
    if plan.pair_factors is not None:
        document["pair_factors"] = list(plan.pair_factors)
    if pairs:
        document["pairs"] = pair_rows(spec, plan)
    return document


def plans_for(spec: RopeSpec, targets: list[int], methods: list[str], factors: str | None = None,
              reading: str | None = None) -> list[tuple[ScalingPlan, bool]]:
    """(plan, is the default reading) for every method and target — both readings for a model that already has a
    RoPE scaling, unless ``reading`` picks one — and a LongRoPE plan with the given factors."""
    plans = []
    for target in targets:
        for method in methods:
            if reading is None:
                plans += [(plan, k == 0) for k, plan in enumerate(spec.plans(target, method))]
            else:
                plans.append((spec.plan(target, method, reading), True))
    if factors:
        values = read_factors(factors, spec)
        plans += [(spec.plan_with_factors(target, values), True) for target in targets]
    return plans


def read_factors(source: str, spec: RopeSpec) -> list[float]:
    """Per-pair LongRoPE factors from ``longdllm`` (LongDLLM's for the spec's model, or LLaDA-8B-Instruct's), a JSON
    file (a list, or an object with ``factors`` / ``long_factor``), or a comma-separated list."""
    from pathlib import Path

    from ..reference import longdllm_factors

    if source == "longdllm":
        model = spec.name if spec.name in ("apple/DiffuCoder-7B-Instruct",) else "GSAI-ML/LLaDA-8B-Instruct"
        return list(longdllm_factors(model)["factors"])
    if Path(source).exists():
        data = parse_json(read_text(source, "factors file"), source)
        data = data.get("factors", data.get("long_factor")) if isinstance(data, dict) else data
    else:
        data = source.split(",")
    try:
        return [Real(0, above=True)(x) for x in data][:MAX_ITEMS + 1]
    except (TypeError, LongLLaDAError):
        raise LongLLaDAError(f"factors {str(source)[:60]!r}: expected longdllm, a JSON list of positive finite numbers "
                             "or a file holding one, or a comma-separated list", parameters=("factors",)) from None


def scale_document(spec: RopeSpec, targets: list[int], methods: list[str], pairs: bool = False,
                   factors: str | None = None, reading: str | None = None) -> dict:
    return {**spec.to_dict(), "reach": _finite(spec.reach),
            "plans": [plan_document(spec, plan, pairs, default)
                      for plan, default in plans_for(spec, targets, methods, factors, reading)]}


def _fmt(x: float | None) -> str:
    if x is None:
        return "∞"
    return f"{x:.4g}" if abs(x) < 1e6 else f"{x:.4e}"


def _length(x: float | None) -> str:
    return "∞" if x is None else f"{x:.0f}"


def rope_summary(doc: dict) -> str:
    """The theory on the pre-training RoPE and, for a model with a scaling, on its effective RoPE."""
    text = (f"d = {doc['rotary_dim']}, rope_theta = {doc['rope_theta']:g}, T_train = {doc['train_length']} "
            f"({doc['attention']}), critical dimension {doc['critical_dimension']} of {doc['rotary_dim']}, "
            f"extrapolation bound {_length(doc['extrapolation_bound'])} tokens")
    effective = doc["effective"]
    if effective["scaled"]:
        scaling = doc["existing_scaling"]
        factor = scaling.get("factor", effective["window"] / doc["train_length"])
        text += (f"; with its {scaling['rope_type']} scaling ×{factor:g}"
                 f" (window {effective['window']}): effective critical dimension {effective['critical_dimension']}, "
                 f"effective bound {_length(effective['extrapolation_bound'])} tokens")
    return text


def scale_tables(documents: list[dict]):
    from rich.table import Table

    tables = []
    for doc in documents:
        title = f"{doc['model']} — {rope_summary(doc)}"
        caption = f"T_train: {doc['provenance']['train_length']}; attention: {doc['provenance']['attention']}"
        if doc["effective"]["scaled"]:
            caption += (f"\nthe model already uses RoPE scaling {json.dumps(doc['existing_scaling'])}. compose: keep "
                        "it and change on top of it what the method changes; replace: drop it and plan from the "
                        "pre-training RoPE. * = the reading the measuring commands apply (--reading to choose)")
        if doc.get("layer_type"):
            others = "; ".join(f"{o['layer_type']}: d {o['rotary_dim']}, rope_theta {o['rope_theta']:g}, "
                               f"{o['rope_type']}" for o in doc["other_settings"])
            caption += f"\nplans target the {doc['layer_type']} layers; the model's other RoPE settings: {others}"
        for note in doc.get("notes", []):
            caption += f"\nnote: {note}"
        for plan in doc["plans"]:
            if plan["note"]:
                caption += f"\n{format_length(plan['target'])} {plan['method']} ({plan['reading'] or 'plan'}): " \
                           f"{plan['note']}"
        table = Table(title=title, caption=caption, caption_justify="left")
        readings = doc["effective"]["scaled"]
        columns = [("target", "right"), ("method", "left")] + ([("reading", "left")] if readings else []) + [
            ("λ / s", "right"), ("new rope_theta", "right"), ("reaches", "right"), ("config change", "left")]
        for column, justify in columns:
            table.add_column(column, justify=justify, overflow="fold")
        for plan in doc["plans"]:
            change = plan["config_change"]
            reading = [f"{plan['reading'] or ''}{' *' if plan['default'] else ''}"] if readings else []
            table.add_row(format_length(plan["target"]), plan["method"], *reading, _fmt(plan["scaling_factor"]),
                          _fmt(plan["new_rope_theta"]),
                          _length(plan["reaches"]) + (" (bidir.)" if plan["reaches_read"] == "bidirectional" else ""),
                          "not applicable (see note)" if not plan["applicable"] else
                          "no change needed" if not plan["needed"] else
                          ("not expressible in this model's config" if change is None else json.dumps(change)))
        tables.append(table)
    return tables


def scale_markdown(documents: list[dict]) -> str:
    """One markdown table for all models (for READMEs and papers); a reading column where a model has a scaling."""
    readings = any(doc["effective"]["scaled"] for doc in documents)
    header = "| model | d | rope_theta | T_train | d_crit | bound | target | method |" + (
        " reading |" if readings else "")
    lines = [header + " λ / s | new rope_theta |", "|---" * (header.count("|") + 1) + "|"]
    for doc in documents:
        for plan in doc["plans"]:
            reading = f" {plan['reading'] or '—'}{' *' if plan['default'] and plan['reading'] else ''} |" \
                if readings else ""
            lines.append(f"| {doc['model']} | {doc['rotary_dim']} | {doc['rope_theta']:g} | "
                         f"{format_length(doc['train_length'])} | {doc['critical_dimension']} | "
                         f"{_length(doc['extrapolation_bound'])} | {format_length(plan['target'])} | {plan['method']} |"
                         f"{reading} {_fmt(plan['scaling_factor'])} | {plan['new_rope_theta']:.6g} |")
    return "\n".join(lines)


def explain_document(spec: RopeSpec, plan: ScalingPlan | None = None) -> dict:
    from ..models.pairs import pair_rows

    document = {**spec.to_dict(), "pairs": pair_rows(spec, plan)}
    if plan is not None:
        document["plan"] = plan_document(spec, plan)
    return document


def explain_table(doc: dict):
    """One row per pair, in columns narrow enough for a 100-column terminal (the JSON has every field, θ_i too)."""
    from rich.table import Table

    plan = doc.get("plan")
    title = f"{doc['model']}: RoPE pairs — {rope_summary(doc)}"
    if plan:
        title += f"; {plan['method']} for {format_length(plan['target'])}" + (
            f" ({plan['reading']} reading: after and unseen judged against the RoPE it starts from)"
            if plan["reading"] else "")
    scaled = doc["effective"]["scaled"]
    caption = ("cov. c / b: share of the pair's circle pre-training showed (causal: Δ ∈ [0, T); bidirectional: "
               "Δ ∈ (−T, T)); a pair whose circle was not shown whole meets unseen angles from |Δ| = T on")
    if scaled:
        caption += "; eff. /W: its period with the model's scaling over the window W it was scaled to"
    if plan:
        caption += ("; factor θ/θ′ and period after over T′: the pair at the target; ≤T′: completes a turn within "
                    "it; unseen: meets angles training never showed (c causal, b bidirectional)")
    table = Table(title=title, caption=caption, caption_justify="left")
    columns = ["pair", "period", "/T", "cov. c", "cov. b"] + (["eff. /W"] if scaled else [])
    if plan:
        columns += ["factor", "after /T′", "≤T′", "unseen"]
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    for p in doc["pairs"]:
        style = "bold red" if p["beyond_critical"] and p["pair"] == doc["critical_dimension"] // 2 else None
        row = [str(p["pair"]), f"{p['period']:.3g}", f"{p['period_over_train_length']:.2g}",
               f"{p['coverage_causal']:.2f}", f"{p['coverage_bidirectional']:.2f}"]
        if scaled:
            row.append(f"{p['effective_period_over_window']:.2g}")
        if plan:
            unseen = "+".join(k for k, key in (("c", "unseen_at_target_causal"),
                                               ("b", "unseen_at_target_bidirectional")) if p[key]) or "—"
            row += [f"{p['factor']:.3g}", f"{p['period_after'] / plan['target']:.2g}",
                    "yes" if p["completes_turn_within_target"] else "no", unseen]
        table.add_row(*row, style=style)
    return table


def _scale_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="*", metavar="MODEL")
    parser.add_argument("--target", action="append", metavar="LENGTH",
                        help="target context length (16k, 32768); repeat or comma-separate for several")
    parser.add_argument("--method", action="append", metavar="METHOD",
                        help=f"{', '.join(STANDARD_METHODS)}, longrope (with --factors), or all (repeatable or "
                             f"comma-separated; default: all); the ablations {', '.join(ABLATIONS)} when named")
    parser.add_argument("--factors", help="also a LongRoPE plan with these per-pair factors: longdllm (LongDLLM's "
                                          "searched factors), a JSON file, or a comma-separated list")
    parser.add_argument("--pairs", action="store_true", help="add each plan's per-pair table (JSON: a pairs list)")
    parser.add_argument("--all-presets", action="store_true", help="add every built-in preset to the models")
    add_reading_option(parser, "(default: both, the default marked)")
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
    asked = [m for value in (args.method or ["all"]) for m in value.split(",") if m.strip()]
    if "longrope" in asked and not args.factors:
        raise LongLLaDAError("--method longrope plans with given per-pair factors: add --factors (longdllm, a JSON "
                             "file or a comma-separated list)")
    methods = [m for m in asked if m not in ("all", "longrope")] or (
        [] if "longrope" in asked else list(STANDARD_METHODS))
    for method in methods:
        check_method(method)
    train_length = parse_length(args.train_length, "--train-length") if args.train_length else None
    models = list(args.model) + ([p.hub_id for p in PRESETS] if args.all_presets else [])
    if not models:
        raise LongLLaDAError("name at least one model (preset, config.json, folder or hub id), or pass --all-presets")
    documents = [scale_document(load_spec(m, train_length, args.attention), targets, methods, args.pairs,
                                args.factors, args.reading) for m in models]
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
                        help=f"the scaling method with --target: {', '.join(STANDARD_METHODS)}, or longrope with "
                             f"--factors (default: longllada); also the ablations {', '.join(ABLATIONS)}")
    parser.add_argument("--factors", help="per-pair LongRoPE factors: longdllm, a JSON file, or a comma list")
    add_reading_option(parser)
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
            plan = plans_for(spec, [target], [], args.factors)[0][0]
        else:
            check_method(args.method)
            plan = spec.plan(target, args.method, args.reading)
    elif args.factors or args.method != "longllada" or args.reading:
        raise LongLLaDAError("--method, --reading and --factors need a --target length")
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
        train_length = r["train_length_source"].replace(f"preset {r['hub_id']} ({r['source']})", "its config")
        out.print(f"[bold]{r['hub_id']}[/bold]: {r['source']}; T_train: {train_length}.{uncertain}")
    return 0
