"""Documents (JSON-ready dicts) and rich tables for ``longllada scale`` and ``longllada explain``.

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

import json

from .lengths import format_length
from .rope import arc_coverage, first_unseen_position, rotation_angles
from .spec import RopeSpec


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
