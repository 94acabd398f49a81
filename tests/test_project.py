"""The project's set-up stays consistent: environment.yml ↔ pyproject.toml, README commands ↔ .ci/run, README
result tables ↔ the stored runs, REPRODUCE.md's cost tables ↔ the measured GPU run."""

import os
import re
import subprocess
import sys

import tomllib
import yaml

from conftest import ROOT


def _names(requirements):
    return {re.split(r"[<>=!~ \[]", r.strip(), maxsplit=1)[0].lower() for r in requirements}


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _names(project["dependencies"]) | _names(project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = _names(p for p in pip if not p.startswith("-e"))
    assert listed == wanted
    # and the version constraints agree too
    spec = {re.split(r"[<>=!~ ]", r, maxsplit=1)[0].lower(): r for r in
            project["dependencies"] + project["optional-dependencies"]["dev"]}
    for requirement in pip:
        if not requirement.startswith("-e"):
            assert spec[_names([requirement]).pop()] == requirement


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```(?:bash|sh)\n(.+?)\n```", text, flags=re.S)[:2]


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_test_one():
    main_command, test_command = _readme_commands()
    assert "pip install torch==2.13.0" in main_command and "longllada figures" in main_command
    assert "pytest" in test_command and "pip install torch==2.13.0" in test_command
    assert test_command.strip() in (ROOT / ".ci" / "run").read_text()


def test_readme_command_outputs_are_what_the_commands_print(capsys):
    """Every block of the README between ``<!-- output of: longllada ARGS -->`` and ``<!-- end of output -->`` is what
    that command prints now."""
    from longllada_theory.cli import main

    blocks = re.findall(r"<!-- output of: longllada (.+?) -->\n(.*?)\n<!-- end of output -->",
                        (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 2
    for arguments, shown in blocks:
        assert main(arguments.split()) == 0
        assert capsys.readouterr().out.strip() == shown.strip(), arguments


def test_readme_result_tables_are_what_the_stored_runs_give():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_tables.py")], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("|")]
    readme = (ROOT / "README.md").read_text().splitlines()
    assert len(rows) > 30 and [row for row in rows if row not in readme] == []


def test_reproduce_md_cost_tables_are_what_the_estimate_prints():
    measured = ROOT / "longllada_theory" / "data" / "runs" / "gpu_protocol_h200.json"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "estimate_gpu_costs.py"), str(measured)],
                            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("|")]
    page = (ROOT / "REPRODUCE.md").read_text().splitlines()
    assert len(rows) > 10 and [row for row in rows if row not in page] == []


def _resolves(dotted: str) -> bool:
    """Whether ``a.b.c`` names a module of the package or an attribute reached from one."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for part in parts[i:]:
                obj = getattr(obj, part)
        except AttributeError:
            return False
        return True
    return False


def _entry_point_groups() -> set[str]:
    """``longllada_theory.<registry>``: the entry-point group of each registry the package defines."""
    import importlib
    import pkgutil

    import longllada_theory
    from longllada_theory.registry import GROUP, Registry

    modules = [importlib.import_module(m.name) for m in pkgutil.walk_packages(longllada_theory.__path__,
                                                                               "longllada_theory.")
               if not m.name.endswith("__main__")]
    return {GROUP + value.name for module in modules for value in vars(module).values() if isinstance(value, Registry)}


def test_every_dotted_name_of_the_package_in_the_code_and_docs_resolves():
    """A docstring's :mod:/:func:/:class: reference or a README line that names ``longllada_theory.x.y`` points at
    something that exists (modules moved in the split must not leave stale names behind), or is the entry-point
    group of one of its registries."""
    files = [*ROOT.glob("longllada_theory/**/*.py"), ROOT / "README.md", *ROOT.glob("notebooks/*.ipynb"),
             *ROOT.glob("scripts/*.py")]
    names = {(path.name, name) for path in files
             for name in re.findall(r"longllada_theory(?:\.[A-Za-z_]\w*)+", path.read_text(encoding="utf-8"))}
    groups = _entry_point_groups()
    assert len(names) > 20 and "longllada_theory.protocols" in groups
    assert [(file, name) for file, name in sorted(names) if not _resolves(name) and name not in groups] == []
