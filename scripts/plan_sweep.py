"""Every plan checked with transformers as the oracle: for each config (the published ones in
``tests/data/configs``, the presets, and legacy-format cases), every scaling method, every reading (compose / replace
for a model that already has a RoPE scaling) and targets within and beyond the model's reach, the config.json the
plan writes is built into transformers' config class, the model's own rotary-embedding class is instantiated and run
at the last position of the target (so dynamic NTK grows its base and LongRoPE switches to its long factors, as in a
real forward), and its inverse frequencies and attention factor are compared with the plan's. Then the method's
promise is checked on transformers' frequencies — not the package's:

- the law (``longllada``): the critical pair's period equals the target (its own critical pair: the pre-training
  one for a plan from pre-training, the effective one for a plan composed on a model's scaling);
- ``diffusion-aware``: half the period of the bidirectional critical pair equals the target;
- ``ntk-aware``: the slowest pair turns T′/L times slower than training fixed (L: the length it was trained at);
  ``dynamic`` (NTK-aware's base grown at the target length): at least T′/L times slower;
- position methods (linear, YaRN, NTK-by-parts, critical): the critical pair's period reaches the target;
- ablations (the law on one band of pairs): none beyond the frequencies.

Outcomes: ``right``; ``wrong`` (frequencies, attention factor or promise differ); ``refused`` (the package refused a
config transformers builds); ``no_oracle`` (no transformers class: remote-code models such as SDAR or LLaDA-MoE).

Usage: python scripts/plan_sweep.py [CONFIG.json …]   (counts, then every case that is not right)
"""

from __future__ import annotations

import collections
import copy
import importlib.util
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from longllada_theory.errors import LongLLaDAError
from longllada_theory.models.patching import config_change, patch_config, patch_config_dict
from longllada_theory.models.presets import PRESETS
from longllada_theory.models.spec import RopeSpec, spec_from_config
from longllada_theory.theory.scaling import METHODS, ScalingPlan

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "tests" / "data" / "configs"
RTOL = 2e-5  # transformers forms the frequencies in float32


def _rope_sweep():
    spec = importlib.util.spec_from_file_location("rope_sweep", ROOT / "scripts" / "rope_sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def transformers_config(raw: dict):
    """transformers' config object for a config.json dict (LLaDA and Dream through their native translation)."""
    from transformers import CONFIG_MAPPING, AutoConfig

    from longllada_theory.models.native import dream_config, llada_config

    model_type = raw.get("model_type")
    if model_type == "llada":
        model_type, kwargs = llada_config(raw)
    elif str(model_type).lower() == "dream":
        model_type, kwargs = dream_config(raw)
    elif model_type in CONFIG_MAPPING:
        kwargs = {k: v for k, v in raw.items() if k != "model_type"}
    else:
        return None
    return AutoConfig.for_model(model_type, **copy.deepcopy(kwargs))  # some classes edit the dicts they get


def oracle(config, length: int) -> dict[str, tuple[np.ndarray, float]] | None:
    """{layer type or '': (inverse frequencies, attention factor)} of the model's own rotary class (for a transformers
    config object) run at position ``length`` − 1, or None where transformers has no class for it."""
    import torch

    if config is None:
        return None
    text = config.get_text_config()
    found, failure = {}, None
    for owner, cfg in ((text.model_type, text), (config.model_type, config)):
        for cls in _rope_sweep()._rotary_classes(owner):
            try:
                module = cls(config=cfg)
            except Exception as error:
                failure = failure or error
                continue
            names = [n for n, _ in module.named_buffers() if n.endswith("inv_freq") and "original" not in n]
            for name in names:
                layer_type = name[: -len("inv_freq")].rstrip("_")
                extra = {"layer_type": layer_type} if layer_type else {}
                with torch.no_grad():
                    try:
                        module(torch.zeros(1, 1), torch.tensor([[length - 1]]), **extra)
                    except (IndexError, RuntimeError):  # MRoPE under transformers 4.x: (time, height, width) ids
                        module(torch.zeros(1, 1), torch.full((3, 1, 1), length - 1), **extra)
                scaling = getattr(module, f"{layer_type}_attention_scaling", None) if layer_type else None
                scaling = getattr(module, "attention_scaling", 1.0) if scaling is None else scaling
                found[layer_type] = (getattr(module, name).double().numpy(), float(scaling))
            if found:
                return found
    if failure is not None:
        raise failure
    return None


def promise(plan: ScalingPlan, theta: np.ndarray) -> str | None:
    """Why transformers' frequencies break the method's promise, or None (an ablation promises no reach: its
    frequencies alone are compared)."""
    if plan.method in METHODS and METHODS[plan.method].ablation:
        return None
    periods = 2 * math.pi / theta
    trained, length = plan.trained()
    span = 2 if plan.attention == "bidirectional" else 1
    pair = plan.critical_pair()
    reach = periods[pair] / span if pair < len(periods) else math.inf
    if plan.scaling_factor == 1.0:  # nothing scaled (a replace plan within reach drops the scaling): reach it
        return None if reach >= plan.target * (1 - RTOL) else f"critical pair {pair} reaches {reach:.6g} < " \
                                                              f"{plan.target}"
    if plan.method in ("ntk-aware", "dynamic"):  # NTK's promise: the slowest pair slowed by T′/L (dynamic: at least;
        ratio, wanted = periods[-1] / trained[-1], plan.target / length  # composed: the model's own scaling may add)
        at_least = plan.method == "dynamic" or plan.reading == "compose"
        kept = math.isclose(ratio, wanted, rel_tol=1e-4) or (at_least and ratio >= wanted)
        return None if kept else f"slowest pair slowed ×{ratio:.5g}, not ×{wanted:.5g}"
    if reach == math.inf:
        return None
    if plan.method in ("longllada", "diffusion-aware"):
        return None if math.isclose(reach, plan.target, rel_tol=RTOL) else f"critical pair {pair} reaches " \
                                                                           f"{reach:.6g}, target {plan.target}"
    return None if reach >= plan.target * (1 - RTOL) else f"critical pair {pair} reaches {reach:.6g} < {plan.target}"


def changed_config(raw: dict, spec: RopeSpec, plan: ScalingPlan):
    """transformers' config of the model after the plan: the config.json the plan writes, built by transformers; for
    a plan the file's format cannot express (LLaDA's remote code knows only rope_theta), the model's native config
    with the plan applied as loading applies it."""
    if config_change(spec, plan) is None and plan.needed:
        return patch_config(transformers_config(raw), plan, spec.layer_type)
    return transformers_config(patch_config_dict(raw, spec, plan))


def check_plan(raw: dict, spec: RopeSpec, plan: ScalingPlan) -> tuple[str, str]:
    try:
        tables = oracle(changed_config(raw, spec, plan), plan.target)
    except Exception as error:  # transformers refuses the changed config: the change is wrong for its users
        return "wrong", f"transformers cannot build the changed config: {type(error).__name__}: " \
                        f"{str(error).splitlines()[-1][:160]}"
    if tables is None:
        return "no_oracle", "no transformers class"
    key = spec.layer_type if spec.layer_type in tables else ("" if "" in tables else next(iter(tables)))
    theta, attention = tables[key]
    mine = plan.inverse_frequencies(at_length=plan.target)
    if plan.rope_type == "proportional":  # the pairs beyond the rotated ones have θ = 0
        theta, rest = theta[: len(mine)], theta[len(mine):]
        if np.any(rest != 0):
            return "wrong", "proportional RoPE rotates pairs the plan does not"
    if theta.shape != mine.shape or not np.allclose(theta, mine, rtol=RTOL, atol=0):
        return "wrong", f"frequencies differ ({theta.shape} vs {mine.shape})"
    if not math.isclose(attention, plan.attention_factor, rel_tol=1e-5):
        return "wrong", f"attention factor {attention:.6g} vs the plan's {plan.attention_factor:.6g}"
    broken = promise(plan, theta) if plan.needed else None
    return ("wrong", broken) if broken else ("right", "")


def targets(spec: RopeSpec) -> list[int]:
    """Within the model's reach, and 2× and 8× beyond its window."""
    reach = spec.reach if spec.reach != float("inf") else 8 * spec.window
    return [max(64, int(min(reach, spec.window) // 2)), 2 * max(spec.window, int(min(reach, 1e9))),
            8 * max(spec.window, int(min(reach, 1e9)))]


def sweep_config(name: str, raw: dict) -> dict[str, tuple[str, str]]:
    """{"name method reading target": (outcome, detail)} for one config."""
    results = {}
    try:
        if oracle(transformers_config(raw), 1) is None:
            return {name: ("no_oracle", "no transformers class")}
    except Exception as error:  # this transformers cannot build the published config itself
        return {name: ("no_oracle", f"transformers {_version()} cannot build it: {type(error).__name__}")}
    try:
        spec = spec_from_config(raw, name, name)
    except LongLLaDAError as error:
        return {name: ("refused", str(error))}
    for target in targets(spec):
        for method in METHODS:
            try:
                plans = spec.plans(target, method)
            except LongLLaDAError as error:
                results[f"{name} {method} {target}"] = ("refused", str(error))
                continue
            for plan in plans:
                try:
                    results[f"{name} {method} {plan.reading or '-'} {target}"] = check_plan(raw, spec, plan)
                except LongLLaDAError as error:
                    results[f"{name} {method} {plan.reading or '-'} {target}"] = ("refused", str(error))
    return results


def _version() -> str:
    import transformers

    return transformers.__version__


def published_configs() -> dict[str, dict]:
    configs = {p.name: json.loads(p.read_text()) for p in sorted(CONFIGS.glob("*.json")) if p.name != "PROVENANCE.json"}
    configs.update({f"preset {p.hub_id}": p.config for p in PRESETS})
    return configs


def sweep(configs: dict[str, dict] | None = None) -> dict[str, tuple[str, str]]:
    from transformers.utils import logging

    logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    results = {}
    for name, raw in (configs or published_configs()).items():
        results.update(sweep_config(name, raw))
    return results


def main() -> None:
    configs = {Path(a).name: json.loads(Path(a).read_text()) for a in sys.argv[1:]} or None
    results = sweep(configs)
    print(json.dumps(collections.Counter(outcome for outcome, _ in results.values())))
    for key, (outcome, detail) in results.items():
        if outcome != "right":
            print(f"{outcome:>9}  {key}: {detail[:200]}")


if __name__ == "__main__":
    main()
