"""The twins' report read against the paper: each phenomenon's verdict per twin, with the rate or ratio it rests on
(:func:`verdicts`), and rates over seeds for reading (:func:`describe_rate`)."""

from __future__ import annotations

from ..measure.stats import geometric_seed_interval
from .evaluation import DIFFUSION_TWINS
from .train import TWINS


def describe_rate(value: dict) -> str:
    """A rate over seeds for reading: "mean % [95 % t-interval] over n seeds; seeds a, b, c"."""
    if value["rate"] is None:
        return "no seed" if not value.get("kept_seeds", True) else "no such cells"
    seeds = ", ".join("–" if v is None else f"{100 * v:.0f}" for v in value["seeds"])
    interval = "" if value["low"] is None else f" [{100 * value['low']:.0f}, {100 * value['high']:.0f}]"
    kept = f" passing the precondition ({value['precondition']})" if "kept_seeds" in value else ""
    return f"{100 * value['rate']:.0f} %{interval} over {value['n']} seed(s){kept}; seeds {seeds}"


def _verdict(twin: str, phenomenon: str, target: str, value: dict | None, text: str, meets) -> dict:
    """One target: met when the seed mean meets it; ``decided`` when the whole 95 % interval lies on the same side
    (with five seeds most are not: the interval is the honest width of a recipe's spread)."""
    mean, low, high = (None, None, None) if value is None else (value.get("rate", value.get("ppl")),
                                                                 value.get("low"), value.get("high"))
    met = mean is not None and meets(mean)
    decided = low is not None and meets(low) == met and meets(high) == met
    return {"twin": twin, "phenomenon": phenomenon, "target": target, "measured": text, "met": met,
            "decided": decided, "interval": low is not None}


def verdicts(report: dict) -> list[dict]:
    """The twins' targets, each with the measured numbers (means over seeds with Student-t 95 % intervals, each
    seed's value), whether the seed mean meets it and whether the interval decides it (computed, not typed)."""
    t = report["train_length"]
    rows = []

    def growth(twin: str) -> tuple[dict, str]:
        at_t, at_4t = report["ppl"][twin][str(t)], report["ppl"][twin][str(4 * t)]
        interval = geometric_seed_interval([b / a for a, b in zip(at_t["seeds"], at_4t["seeds"])])
        band = "" if interval["low"] is None else f" [{interval['low']:.2f}, {interval['high']:.2f}]"
        seeds = ", ".join(f"{b / a:.2f}" for a, b in zip(at_t["seeds"], at_4t["seeds"]))
        return {"rate": interval["mean"], **interval}, f"{interval['mean']:.2f}×{band} over {interval['n']} seeds; " \
                                                       f"seeds {seeds}"

    for twin in TWINS:  # what every retrieval target presupposes
        at_t = report["retrieval_all"][twin].get(str(t))
        if at_t is not None:
            rows.append(_verdict(twin, "0 precondition", "retrieves ≥ 80 % at T (every depth), what the retrieval "
                                 "targets presuppose", at_t, describe_rate(at_t), lambda v: v >= 0.8))
    value, text = growth("ar")
    rows.append(_verdict("ar", "1 stable perplexity", "AR last-window perplexity at 4T ≥ 2× its value at T", value,
                         text, lambda v: v >= 2))
    for twin in DIFFUSION_TWINS:
        value, text = growth(twin)
        rows.append(_verdict(twin, "1 stable perplexity", "diffusion last-window perplexity at 4T ≤ 1.25× its value "
                             "at T", value, text, lambda v: v <= 1.25))
    for multiple in (2, 4):
        length = str(multiple * t)
        depths = report["retrieval"]["ar"].get(length)
        if depths:
            worst = max(depths.values())
            rows.append(_verdict("ar", "2 local perception", f"AR retrieves ≤ 20 % at every depth at {multiple}T",
                                 {"rate": worst}, f"max over depths {100 * worst:.0f} % (mean over seeds)",
                                 lambda v: v <= 0.2))
        for twin in DIFFUSION_TWINS:
            local = report["local_hit_in_window"][twin].get(length)
            if multiple == 2 and local is not None:
                rows.append(_verdict(twin, "2 local perception", "diffusion ≥ 80 % with the needle within T of the "
                                     "question at 2T", local, describe_rate(local), lambda v: v >= 0.8))
            far = report["far_hit_in_window"][twin].get(length)
            if far is not None and multiple * t > 1.5 * t:
                rows.append(_verdict(twin, "2 local perception", f"diffusion ≤ 30 % with the needle farther than "
                                     f"1.5T at {multiple}T", far, describe_rate(far), lambda v: v <= 0.3))
    for twin in TWINS:
        law = next((r for r in report["ntk"][twin] if r["method"] == "longllada" and r["target"] == 4 * t), None)
        if law is None:
            continue
        if twin == "ar":
            ratios = law["ppl_ratio_seeds"]
            unbroken = sum(r is None for r in ratios)
            mean = (f"no breakdown up to {report['settings']['grid_end']:g}T in {unbroken} of {len(ratios)} seeds"
                    if law["ppl_ratio"] is None else f"{law['ppl_ratio']:.2f}")
            rows.append(_verdict(twin, "3 scaling law", "AR with the law's λ for 4T: measured / predicted breakdown "
                                 "length in [0.8, 1.25]", {"rate": law["ppl_ratio"]},
                                 f"{mean} (seeds {', '.join('–' if r is None else f'{r:.2f}' for r in ratios)}; "
                                 f"predicted {law['predicted']:.0f}, λ = {law['scaling_factor']:.3g})",
                                 lambda v: 0.8 <= v <= 1.25))
        else:
            at_4t = next((v for v in report["sweep"][twin] if v["times_law"] == 1), None)
            if at_4t is not None:
                rows.append(_verdict(twin, "3 scaling law", "diffusion with the law's λ for 4T retrieves ≥ 80 % at 4T",
                                     at_4t["retrieval"], f"{describe_rate(at_4t['retrieval'])} (λ = "
                                                         f"{at_4t['scaling_factor']:.3g})", lambda v: v >= 0.8))
    return rows

