"""A model split over devices with accelerate's big-model dispatch (``--device-map``).

A device map is a strategy — ``auto``, ``balanced``, ``balanced_low_0`` or ``sequential``, the names of transformers'
``from_pretrained(device_map=…)`` — or a JSON object from module names to devices (``"cpu"``, ``"cuda:1"``, a GPU
index, ``"mps"``, or ``"disk"``: weights kept in ``offload_folder`` and brought in by accelerate's hooks for each
forward). Checkpoints loaded through transformers' Auto classes are placed by ``from_pretrained``; native LLaDA and
Dream checkpoints are built first, then placed by :func:`dispatch` with ``infer_auto_device_map`` and
``dispatch_model``, as accelerate's big-model guide does.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ..errors import LongLLaDAError

#: the strategies transformers and accelerate accept by name
STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")


def parse_device_map(text: str) -> str | dict[str, str | int]:
    """``text`` as a strategy name or a module → device mapping (one clear error otherwise)."""
    if text in STRATEGIES:
        return text
    expected = (f"expected {', '.join(STRATEGIES)} or a JSON object from module names to devices, e.g. "
                '\'{"model.embed_tokens": 0, "model.layers": 1, "model.norm": 1, "lm_head": 1}\'')
    try:
        mapping = json.loads(text)
    except ValueError:
        raise LongLLaDAError(f"device map {text!r}: {expected}", parameters=("device_map",)) from None
    if not isinstance(mapping, dict) or not mapping:
        raise LongLLaDAError(f"device map {text!r}: {expected}", parameters=("device_map",))
    for module, device in mapping.items():
        if not _is_device(device):
            raise LongLLaDAError(f"device map: module {module!r} is sent to {device!r}; expected cpu, disk, mps, "
                                 "cuda:N or a GPU index", parameters=("device_map",))
    return mapping


def checked_device_map(text: str) -> str:
    """``text`` unchanged once :func:`parse_device_map` reads it (for the command line, which stores the text)."""
    parse_device_map(text)
    return text


def _is_device(device) -> bool:
    if isinstance(device, int) and not isinstance(device, bool):
        return device >= 0
    if not isinstance(device, str):
        return False
    kind, _, index = device.partition(":")
    return device in ("cpu", "disk", "mps", "cuda") or (kind == "cuda" and index.isdigit())


def offload_folder(device_map: str | dict, folder: str | None) -> str | None:
    """Where ``disk`` modules keep their weights: ``folder``, else a temporary folder for this process."""
    if not (isinstance(device_map, dict) and "disk" in device_map.values()):
        return folder
    if folder is None:
        return tempfile.mkdtemp(prefix="longllada-offload-")
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LongLLaDAError(f"--offload-folder {folder}: cannot be created ({error.strerror}); expected a writable "
                             "folder for the weights of modules mapped to disk",
                             parameters=("offload_folder",)) from None
    return folder


def dispatch(model, device_map: str | dict, folder: str | None):
    """``model`` (built on the CPU) placed by ``device_map``: a strategy is turned into a map by accelerate's
    ``infer_auto_device_map`` (balanced memory unless ``sequential``, never splitting the model's
    ``_no_split_modules``), then ``dispatch_model`` moves each module and hooks the forwards across devices."""
    from accelerate import dispatch_model, infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    if isinstance(device_map, str):
        keep_whole = getattr(model, "_no_split_modules", None) or []
        memory = None if device_map == "sequential" else get_balanced_memory(
            model, no_split_module_classes=keep_whole, low_zero=device_map == "balanced_low_0")
        device_map = infer_auto_device_map(model, max_memory=memory, no_split_module_classes=keep_whole)
    try:
        return dispatch_model(model, device_map=device_map, offload_dir=offload_folder(device_map, folder))
    except (ValueError, KeyError, RuntimeError, OSError) as error:
        raise LongLLaDAError(f"device map: accelerate could not place the model ({str(error).strip()})",
                             parameters=("device_map",)) from None


def input_device(model):
    """The device a placed model takes its inputs on: the first device of its map that is not ``disk`` (the CPU when
    every module is offloaded), else where its parameters are."""
    import torch

    mapping = getattr(model, "hf_device_map", None)
    if not mapping:
        return next(model.parameters()).device
    first = next((d for d in mapping.values() if d != "disk"), "cpu")
    return torch.device(f"cuda:{first}" if isinstance(first, int) else first)
