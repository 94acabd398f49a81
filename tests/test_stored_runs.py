"""The results files shipped in longllada_theory/data/runs are what the commands in scripts/ write: every one is named
by a script, and one whose header names its checkpoint's fingerprint and its inputs resumes under that command (the
runner rebuilds the same header and finds every cell done)."""

import fnmatch
import functools
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from longllada_theory.cli.main import main

from conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "longllada_theory" / "data" / "runs"


def script_commands() -> list[tuple[str, str]]:
    """(file name pattern, command) for every ``--output "$RUNS/…"`` in scripts/*.sh (continued lines joined)."""
    commands = []
    for script in sorted((ROOT / "scripts").glob("*.sh")):
        for line in script.read_text().replace("\\\n", " ").splitlines():
            match = re.search(r'--output "\$RUNS/([^"]+)"', line)
            if match:
                commands.append((re.sub(r"\$\{?\w+\}?", "*", match.group(1)), line.strip()))
    return commands


def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


def current_runs() -> list[str]:
    """Stored runs whose header was built by the runner as it is now (with the package that wrote it)."""
    return [p.name for p in sorted(RUNS.glob("*.jsonl")) if "created_by" in json.loads(p.open().readline())]


@pytest.mark.parametrize("name", [p.name for p in sorted(RUNS.glob("*.jsonl"))])
def test_every_stored_run_is_written_by_a_script(name):
    assert any(fnmatch.fnmatch(name, pattern) for pattern, _ in script_commands()), f"no script writes {name}"


def resume_command(name: str, folder: Path) -> list[str]:
    """The script's command for stored run ``name``, writing into ``folder`` (where a copy of the run is), as
    arguments of ``longllada``."""
    literal = [command for pattern, command in script_commands() if pattern == name]
    assert literal, f"{name}: no script gives its command literally"
    shutil.copyfile(RUNS / name, folder / name)
    command = literal[0].replace('"$RUNS/', f'"{folder}/')
    if "$DATA/" in command:  # the scripts' default, relative to the checkout (the header keeps the path as given)
        shared_data()
        command = command.replace('"$DATA/', '"../shared/data/')
    arguments = shlex.split(command)
    assert arguments[0] == "$L"
    return arguments[1:]


@pytest.fixture(scope="module")
def each_model_loaded_once():
    """The commands' models, each loaded once for this module: a resume that finds every cell done reads the model
    (its settings, tokenizer, fingerprint) and never changes it, so a second load of the same options would only
    repeat the first."""
    from longllada_theory.models import loading

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loading, "load_model", functools.cache(loading.load_model))
        yield


@pytest.mark.parametrize("name", current_runs())
def test_a_stored_run_resumes_under_its_scripts_command(name, tmp_path, monkeypatch, capsys, each_model_loaded_once):
    arguments = resume_command(name, tmp_path)
    monkeypatch.chdir(ROOT)
    code = main(arguments)
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / name).read_bytes() == (RUNS / name).read_bytes()  # every cell was done: nothing written


def test_a_stored_run_resumes_as_a_user_runs_its_command(tmp_path):
    """The same, once, as a process of its own started as the scripts start it (a twin's run: the quickest to load)."""
    name = next(name for name in current_runs() if "_twin_" in name)
    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", *resume_command(name, tmp_path)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / name).read_bytes() == (RUNS / name).read_bytes()
