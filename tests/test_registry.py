"""Every registry of the package follows one set of rules: no silent replacement, a "did you mean" for a typo, lazy
entries, and entries that other packages declare as entry points."""

import sys

import pytest

from longllada_theory.errors import LongLLaDAError
from longllada_theory.figures.catalog import FIGURES
from longllada_theory.measure.inputs.needles import FORMATS
from longllada_theory.measure.protocol import PROTOCOLS
from longllada_theory.measure.protocols.ruler import TASKS
from longllada_theory.measure.sampling import SAMPLERS
from longllada_theory.models.families import FAMILIES
from longllada_theory.registry import Registry
from longllada_theory.theory.rope_types import ROPE_TYPES
from longllada_theory.theory.scaling import METHODS, ScalingMethod, plan_scaling
from longllada_theory.theory.symbolic import DERIVATIONS

REGISTRIES = (PROTOCOLS, FAMILIES, METHODS, ROPE_TYPES, SAMPLERS, FORMATS, TASKS, FIGURES, DERIVATIONS)


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.name)
def test_every_registry_refuses_to_replace_an_entry(registry):
    assert isinstance(registry, Registry) and len(registry) > 1
    name = next(iter(registry))
    with pytest.raises(LongLLaDAError, match="registered already"):
        registry.register(name, registry[name])


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.name)
def test_an_unknown_name_is_one_error_that_lists_the_names(registry):
    with pytest.raises(LongLLaDAError, match=f"{registry.what} 'no-such-entry' is unknown; expected one of"):
        registry["no-such-entry"]
    with pytest.raises(KeyError):  # still a Mapping: code that catches KeyError keeps working
        registry["no-such-entry"]
    assert registry.get("no-such-entry") is None


def test_a_typo_gets_the_closest_names():
    with pytest.raises(LongLLaDAError, match="did you mean longllada"):
        METHODS["longlada"]
    with pytest.raises(LongLLaDAError, match="did you mean niah_single_1"):
        TASKS["niah_single1"]


def test_an_entry_given_as_module_and_attribute_is_imported_on_first_use():
    registry = Registry("example", "example", {"sqrt": "math:sqrt"})
    assert registry["sqrt"](9.0) == 3.0


def test_a_new_scaling_method_is_one_entry():
    double = ScalingMethod("double-base", "λ = 2 (a test entry)", "default", lambda d, b, t, target, pairs: 2.0)
    METHODS.register(double.name, double)
    try:
        plan = plan_scaling(128, 500000.0, 8192, 16384, method="double-base")
        assert plan.method == "double-base" and plan.new_rope_theta == pytest.approx(1e6)
    finally:
        METHODS.unregister(double.name)
    assert "double-base" not in METHODS


def test_another_package_adds_entries_through_its_entry_points(tmp_path, monkeypatch):
    """A distribution on the path that declares ``[longllada_theory.methods]`` entry points: the registry finds its
    entry by name, imports it only when asked, and a built-in name keeps the built-in entry."""
    (tmp_path / "plugin_methods.py").write_text("ENTRY = 'from the plugin'\n")
    info = tmp_path / "plugin_methods-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-methods\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[longllada_theory.methods]\nplugin-method = plugin_methods:ENTRY\n"
                                           "builtin = plugin_methods:ENTRY\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("methods", "scaling method", {"builtin": "the package's own"})
    assert "plugin-method" in registry and "plugin_methods" not in sys.modules
    assert registry["plugin-method"] == "from the plugin"
    assert registry["builtin"] == "the package's own"
