"""The package's structure stays as the README's layout table says: no import cycles, layers that import only
downwards, the core independent of the twins, short functions, and a clean lint."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "longllada_theory"
#: each layer may import the ones listed (and itself); anything else is a wrong-way dependency
ALLOWED = {
    "errors": set(), "lengths": {"errors"}, "registry": {"errors"},
    "theory": {"errors", "lengths", "registry"},
    "models": {"errors", "lengths", "registry", "theory"},
    "reference": {"errors", "lengths", "registry", "theory", "models"},
    "measure": {"errors", "lengths", "registry", "theory", "models", "reference"},
    "figures": {"errors", "lengths", "registry", "theory", "models", "measure", "reference"},
    "claims": {"errors", "lengths", "registry", "theory", "models", "measure", "reference", "toy"},
    "report": {"errors", "lengths", "registry", "theory", "models", "measure", "reference", "figures", "claims"},
    "toy": {"errors", "lengths", "registry", "theory", "models", "measure"},
    "cli": {"errors", "lengths", "registry", "theory", "models", "measure", "reference", "figures", "toy", "claims",
            "report"},
}


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports, at the top or inside functions."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")
                base = base[:len(base) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                found = [f"{module}.{a.name}" for a in node.names if _is_module(f"{module}.{a.name}")]
                candidates = found or [module]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            targets |= {c for c in candidates if c.startswith("longllada_theory") and c != name and _is_module(c)}
        graph[name] = targets
    return graph


def _layer(module: str) -> str:
    return (module.split(".")[1:] or ["__init__"])[0]


def test_there_is_no_import_cycle():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for target in graph.get(node, ()):
            if target.endswith("__init__") or target == "longllada_theory":
                continue
            if state.get(target) == 1:
                pytest.fail("import cycle: " + " → ".join(path[path.index(target):] + [target]))
            if state.get(target) is None:
                visit(target, path + [target])
        state[node] = 2

    for module in sorted(graph):
        if state.get(module) is None:
            visit(module, [module])


def test_layers_import_only_downwards_and_the_core_not_the_twins():
    wrong = []
    for module, targets in import_graph().items():
        layer = _layer(module)
        if layer not in ALLOWED:
            continue
        for target in targets:
            other = _layer(target)
            if other != layer and other in ALLOWED and other not in ALLOWED[layer]:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_function_is_longer_than_80_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in PACKAGE.rglob("*.py") for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 80]
    assert long == []


#: ruff beside the interpreter running the tests (the dev extra installs it there), else on the PATH
RUFF = str(Path(sys.executable).parent / "ruff") if (Path(sys.executable).parent / "ruff").is_file() else shutil.which(
    "ruff")


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
def test_ruff_finds_nothing():
    result = subprocess.run([RUFF, "check", "--no-cache", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
