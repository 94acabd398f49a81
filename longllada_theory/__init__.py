"""longllada-theory: RoPE extrapolation theory and measurements for diffusion and autoregressive LLMs,
after *LongLLaDA: Unlocking Long Context Capabilities in Diffusion LLMs* (Liu et al. 2025, arXiv 2506.14429).

Layout (data flows one way: config → RopeSpec → ScalingPlan → patched model → measurement → results file → figure):
:mod:`.theory` (RoPE theory, numeric and symbolic; scaling methods), :mod:`.models` (specs, presets, model
families, loading), :mod:`.measure` (measurement protocols and their runner), :mod:`.reference` (the paper's
published numbers), :mod:`.figures`, :mod:`.toy` (the twin tiny models) and :mod:`.cli`.

The package is light to import (numpy only); torch and transformers are imported by the modules that need them.
"""

from .errors import LongLLaDAError
from .lengths import format_length, parse_length
from .models.spec import RopeSpec, load_spec, spec_from_config
from .theory.rope import (
                          arc_coverage,
                          critical_dimension,
                          extrapolation_bound,
                          first_unseen_position,
                          rotation_angles,
                          rotation_periods,
                          unseen_angle_fraction,
)
from .theory.scaling import (
                          METHODS,
                          ScalingPlan,
                          diffusion_aware_factor,
                          interpolation_factor,
                          ntk_aware_factor,
                          ntk_scaling_factor,
                          plan_scaling,
)

__version__ = "0.1.0"

__all__ = [
    "LongLLaDAError", "METHODS", "RopeSpec", "ScalingPlan", "arc_coverage", "critical_dimension",
    "diffusion_aware_factor", "extrapolation_bound", "first_unseen_position", "format_length",
    "interpolation_factor", "load_spec", "ntk_aware_factor", "ntk_scaling_factor", "parse_length", "plan_scaling",
    "rotation_angles", "rotation_periods", "spec_from_config", "unseen_angle_fraction",
]
