"""LLaDA- and Dream-format checkpoints on transformers' own classes, without their remote code.

LLaDA (``modeling_llada.py``, ML-GSAI/LLaDA) is a LLaMA-style transformer — RMSNorm, rotate-half RoPE with
θ_i = rope_theta^(−2i/d) on the whole head, SiLU-gated MLP, untied output head — with bidirectional attention and
OLMo-style config keys and weight names; each position predicts its own token. Dream (``modeling_dream.py``,
Dream-org) is Qwen2 (q/k/v biases) with bidirectional attention; its logits are those of its AR parent, shifted by
one (the shift lives in its sampler, not in its forward).

So :func:`load_native` translates the config (:func:`llada_config`, :func:`dream_config`), renames (and, for LLaDA's
fused ``sequential`` blocks, splits) the checkpoint's tensors, and builds ``LlamaForCausalLM`` /
``Qwen2ForCausalLM`` from them; :func:`make_bidirectional` switches off the causal mask. Config values the
translation cannot express are refused by name. The logits equal the original code's on the same weights (tests
compare with logits produced by the original code, stored as test data).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LongLLaDAError

if TYPE_CHECKING:
    import torch

Tensors = list[tuple[str, "torch.Tensor"]]


def _require(config: dict, key: str, allowed: tuple, family: str, default: Any = None) -> Any:
    value = config.get(key, default)
    if value not in allowed:
        raise LongLLaDAError(f"{family} config key {key} = {value!r} cannot be loaded natively (supported: "
                             f"{', '.join(map(repr, allowed))}); pass trust_remote_code to run the model's own code",
                             parameters=("trust_remote_code",))
    return value


def llada_config(raw: dict) -> tuple[str, dict]:
    """LLaDA's OLMo-style config → ("llama", LlamaConfig keyword arguments)."""
    block = _require(raw, "block_type", ("llama", "sequential"), "LLaDA", "sequential")
    activation = _require(raw, "activation_type", ("silu",) if block == "llama" else ("swiglu",), "LLaDA")
    for key, default in (("alibi", False), ("input_emb_norm", False), ("scale_logits", False),
                         ("attention_layer_norm", False), ("include_qkv_bias", False)):
        _require(raw, key, (default, None), "LLaDA")
    _require(raw, "rope", (True,), "LLaDA", True)
    _require(raw, "layer_norm_type", ("rms",), "LLaDA")
    _require(raw, "clip_qkv", (None,), "LLaDA")
    heads = int(raw["n_heads"])
    kv = raw.get("n_kv_heads") or (1 if raw.get("multi_query_attention") else heads)
    width = int(raw.get("mlp_hidden_size") or raw.get("mlp_ratio", 4) * raw["d_model"])
    intermediate = width // 2 if activation == "swiglu" else width
    bias = bool(raw.get("include_bias", False))
    return "llama", dict(
        vocab_size=int(raw.get("embedding_size") or raw["vocab_size"]), hidden_size=int(raw["d_model"]),
        intermediate_size=intermediate, num_hidden_layers=int(raw["n_layers"]), num_attention_heads=heads,
        num_key_value_heads=int(kv), head_dim=int(raw["d_model"]) // heads, hidden_act="silu",
        max_position_embeddings=int(raw.get("max_sequence_length", 4096)),
        rms_norm_eps=float(raw.get("rms_norm_eps", 1e-5)), tie_word_embeddings=bool(raw.get("weight_tying", False)),
        attention_bias=bias, mlp_bias=bias, rope_theta=float(raw.get("rope_theta", 10000.0)),
        pad_token_id=raw.get("pad_token_id"), bos_token_id=raw.get("bos_token_id"),
        eos_token_id=raw.get("eos_token_id"))


_LLADA_NAMES = {"attn_out": "self_attn.o_proj", "q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj",
                "v_proj": "self_attn.v_proj", "ff_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
                "ff_out": "mlp.down_proj", "attn_norm": "input_layernorm", "ff_norm": "post_attention_layernorm"}


def llada_tensors(name: str, tensor, raw: dict) -> Tensors:
    """One LLaDA checkpoint tensor → LLaMA tensors. ``sequential`` blocks fuse q/k/v in ``att_proj`` (split
    [d_model, kv·hd, kv·hd]) and the SwiGLU input in ``ff_proj`` (first half the value, second half the gate)."""
    name = name.removeprefix("model.")
    top = {"transformer.wte.weight": "model.embed_tokens.weight", "transformer.ln_f.weight": "model.norm.weight",
           "transformer.ff_out.weight": "lm_head.weight"}
    if name in top:
        return [(top[name], tensor)]
    match = re.fullmatch(r"transformer\.blocks\.(\d+)\.(\w+)\.(weight|bias)", name)
    if not match:
        raise LongLLaDAError(f"LLaDA checkpoint tensor {name!r} matches no known weight name (expected "
                             "transformer.wte / blocks.N.… / ln_f / ff_out)")
    layer, part, kind = match.groups()
    prefix = f"model.layers.{layer}."
    if part == "att_proj":
        width = int(raw["d_model"])
        kv = (raw.get("n_kv_heads") or int(raw["n_heads"])) * (width // int(raw["n_heads"]))
        q, k, v = tensor.split([width, kv, kv], dim=0)
        return [(prefix + f"self_attn.{p}_proj.{kind}", t) for p, t in (("q", q), ("k", k), ("v", v))]
    if part == "ff_proj" and raw.get("block_type") == "sequential":
        value, gate = tensor.chunk(2, dim=0)
        return [(prefix + f"mlp.up_proj.{kind}", value), (prefix + f"mlp.gate_proj.{kind}", gate)]
    if part not in _LLADA_NAMES:
        raise LongLLaDAError(f"LLaDA checkpoint tensor {name!r}: block part {part!r} is not a known LLaDA weight")
    return [(prefix + f"{_LLADA_NAMES[part]}.{kind}", tensor)]


def dream_config(raw: dict) -> tuple[str, dict]:
    """Dream's config → ("qwen2", Qwen2Config keyword arguments): Qwen2's keys, bidirectional attention. Its
    ``rope_scaling`` is read as Dream's rotary embedding reads it (a copy of transformers 4.4x's LLaMA one, which
    takes every RoPE type of ``ROPE_INIT_FUNCTIONS``)."""
    keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "hidden_act", "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings",
            "rope_theta", "rope_scaling", "pad_token_id", "bos_token_id", "eos_token_id", "attention_dropout")
    kwargs = {k: raw[k] for k in keys if raw.get(k) is not None}
    kwargs["head_dim"] = int(raw["hidden_size"]) // int(raw["num_attention_heads"])  # Dream ignores a head_dim key
    kwargs["use_sliding_window"] = False  # Dream's attention never slides
    return "qwen2", kwargs


def dream_tensors(name: str, tensor, raw: dict) -> Tensors:
    """Dream's weight names are Qwen2's."""
    return [(name, tensor)]


@dataclass(frozen=True)
class NativeFormat:
    """How one family's checkpoints map onto a transformers class."""

    model_class: str                                   # e.g. "LlamaForCausalLM"
    config: Callable[[dict], tuple[str, dict]]         # config.json → (transformers model_type, config kwargs)
    tensors: Callable[[str, Any, dict], Tensors]       # one checkpoint tensor → transformers tensors


LLADA = NativeFormat("LlamaForCausalLM", llada_config, llada_tensors)
DREAM = NativeFormat("Qwen2ForCausalLM", dream_config, dream_tensors)


def checkpoint_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint folder (one file, or the shards its index names)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / name for name in names]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise LongLLaDAError(f"{folder} has no .safetensors weights (native loading reads safetensors; convert "
                             "a .bin checkpoint or pass trust_remote_code)", parameters=("trust_remote_code",))
    return files


def read_state(folder: Path, fmt: NativeFormat, raw: dict, dtype, device) -> dict:
    """The checkpoint's tensors under transformers' names, in ``dtype`` on ``device``."""
    from safetensors import safe_open

    state = {}
    for path in checkpoint_files(folder):
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            for name in handle.keys():
                for new_name, tensor in fmt.tensors(name, handle.get_tensor(name), raw):
                    state[new_name] = tensor.to(dtype)
    return state


def make_bidirectional(model) -> None:
    """Switch a transformers decoder to full attention: ``config.is_causal = False`` (transformers ≥ 5 builds a
    bidirectional mask from it) and every attention module's ``is_causal`` (which sdpa and flash attention read when
    no mask is given, transformers 4.5x). The loader checks the result by behaviour."""
    model.config.is_causal = False
    for module in model.modules():
        if hasattr(module, "is_causal"):
            module.is_causal = False


def _check_names(folder: Path, fmt: NativeFormat, state: dict, config, model_class) -> None:
    """Every weight of the transformers model comes from the checkpoint, and nothing in the checkpoint is left over."""
    import torch

    with torch.device("meta"):
        expected = set(model_class(config).state_dict())
    if config.tie_word_embeddings:
        expected.discard("lm_head.weight")
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise LongLLaDAError(f"{folder}: the checkpoint's weights do not match their {fmt.model_class} mapping "
                             f"({len(missing)} missing, e.g. {missing[:1]}; {len(unexpected)} unexpected, e.g. "
                             f"{unexpected[:1]}) — is it a complete checkpoint of this family?")


def load_native(folder: Path, raw: dict, fmt: NativeFormat, config_changes: Callable[[Any], Any], dtype, device,
                attn_implementation: str | None = None):
    """Build the transformers model of a native-format checkpoint; ``config_changes`` edits the transformers config
    before the model is built (the RoPE scaling plan)."""
    import transformers
    from transformers import AutoConfig

    model_type, kwargs = fmt.config(raw)
    config = AutoConfig.for_model(model_type, **kwargs)
    config_changes(config)
    model_class = getattr(transformers, fmt.model_class)
    state = read_state(Path(folder), fmt, raw, dtype, device)
    _check_names(Path(folder), fmt, state, config, model_class)
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    options = {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": dtype}
    if attn_implementation:
        options["attn_implementation"] = attn_implementation
    model = model_class.from_pretrained(None, config=config, state_dict=state, **options)
    make_bidirectional(model)
    return model.to(device)
