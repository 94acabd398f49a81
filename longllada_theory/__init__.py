"""longllada-theory: RoPE extrapolation theory and measurements for diffusion and autoregressive LLMs,
after *LongLLaDA: Unlocking Long Context Capabilities in Diffusion LLMs* (Liu et al. 2025, arXiv 2506.14429).

The library is light to import (numpy only); torch and transformers are imported by the modules that need them.
"""

from .errors import LongLLaDAError
from .lengths import format_length, parse_length
from .rope import (arc_coverage, critical_dimension, extrapolation_bound, first_unseen_position, rotation_angles,
                   rotation_periods, unseen_angle_fraction)
from .scaling import (METHODS, ScalingPlan, diffusion_aware_factor, interpolation_factor, ntk_aware_factor,
                      ntk_scaling_factor, plan_scaling)
from .spec import RopeSpec, load_spec, spec_from_config

__version__ = "0.1.0"

__all__ = [
    "LongLLaDAError", "METHODS", "RopeSpec", "ScalingPlan", "arc_coverage", "critical_dimension",
    "diffusion_aware_factor", "extrapolation_bound", "first_unseen_position", "format_length",
    "interpolation_factor", "load_spec", "ntk_aware_factor", "ntk_scaling_factor", "parse_length", "plan_scaling",
    "rotation_angles", "rotation_periods", "spec_from_config", "unseen_angle_fraction",
]
