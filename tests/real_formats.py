"""Tiny checkpoints in the real on-disk formats of LLaDA-8B-Base and Dream-v0-Base-7B.

The folders written here look like the published Hub repositories (GSAI-ML/LLaDA-8B-Base,
Dream-org/Dream-v0-Base-7B): the same ``config.json`` keys, ``auto_map`` and weight names, the real vocabulary
sizes, mask ids and special-token ids, but a tiny transformer (hidden 16, 2 layers, 2 heads of dimension 8,
MLP width 32). They never contain the remote-code files (``modeling_*.py``): loading them must work without them.

Weights are drawn from ``numpy.random.RandomState(seed)`` (numpy's legacy generator, whose stream is frozen
across numpy versions) in the order the tensors appear in the state dict built below, with:

* embeddings: standard normal;
* weight matrices (including output heads): standard normal divided by sqrt(fan_in);
* biases: 0.1 x standard normal;
* norm weights: 1 + 0.1 x standard normal.

These scales keep every logit of order one, so an implementation that gets RoPE, the norms, the attention or
the MLP wrong differs from the reference by far more than the 1e-4 the tests allow.

``tests/data/real_format_logits.json`` holds the :func:`logit_digest` of the logits that the original remote
code (run outside this repository, in fp32) produced for :data:`LOGIT_INPUTS` on these checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

# Real vocabulary sizes and special-token ids.
LLADA_VOCAB = 126464  # vocab_size == embedding_size == rows of wte and ff_out
LLADA_BOS_ID = 126080  # <|startoftext|>
LLADA_EOS_ID = 126081  # <|endoftext|> (also pad)
LLADA_MASK_ID = 126336  # <|mdm_mask|>
DREAM_VOCAB = 152064  # rows of embed_tokens and lm_head; the tokenizer knows fewer ids
DREAM_EOS_ID = 151643  # <|endoftext|> (eos, pad, and bos in config.json)
DREAM_BOS_ID = 151665  # <|beginoftext|> (the tokenizer's bos_token)
DREAM_MASK_ID = 151666  # <|mask|>

HIDDEN, LAYERS, HEADS, HEAD_DIM, MLP_WIDTH = 16, 2, 2, 8, 32
DREAM_KV_HEADS = 1  # grouped queries: 2 query heads share 1 key/value head

# Fixed inputs of the logit tests: three sequences of 12 ids per family (BOS + text + masks + EOS, a mix
# including ids without a tokenizer entry, and a fully masked sequence).
LOGIT_INPUTS: dict[str, list[list[int]]] = {
    "llada": [
        [LLADA_BOS_ID, 72, 101, 108, 108, 111, LLADA_MASK_ID, LLADA_MASK_ID, LLADA_MASK_ID, LLADA_MASK_ID,
         LLADA_EOS_ID, LLADA_EOS_ID],
        [1, 500, 9999, LLADA_MASK_ID, 42, 126335, 77777, LLADA_MASK_ID, 0, LLADA_VOCAB - 1, 3, LLADA_MASK_ID],
        [LLADA_MASK_ID] * 12,
    ],
    "dream": [
        [DREAM_BOS_ID, 72, 101, 108, 108, 111, DREAM_MASK_ID, DREAM_MASK_ID, DREAM_MASK_ID, DREAM_MASK_ID,
         DREAM_EOS_ID, DREAM_EOS_ID],
        [1, 500, 9999, DREAM_MASK_ID, 42, 151667, DREAM_VOCAB - 1, DREAM_MASK_ID, 0, 120000, 3, DREAM_MASK_ID],
        [DREAM_MASK_ID] * 12,
    ],
}

_SPECIAL_IDS = (LLADA_BOS_ID, LLADA_EOS_ID, LLADA_MASK_ID, DREAM_EOS_ID, DREAM_BOS_ID, DREAM_MASK_ID)


def digest_ids(vocab: int) -> list[int]:
    """The 40 vocabulary ids whose logits are stored for a vocabulary of ``vocab`` ids.

    0, 1, 2, the special ids below ``vocab``, the last two ids, then distinct random ids (``RandomState(vocab)``)
    up to 40, sorted.
    """
    ids = {0, 1, 2, vocab - 2, vocab - 1} | {i for i in _SPECIAL_IDS if i < vocab}
    rng = np.random.RandomState(vocab)
    while len(ids) < 40:
        ids.add(int(rng.randint(0, vocab)))
    return sorted(ids)


def logit_digest(logits: torch.Tensor) -> dict[str, Any]:
    """Reduce logits ``[batch, length, vocab]`` to what the reference file stores.

    Returns ``{"ids": digest_ids(vocab), "logsumexp": [batch][length], "logits": [batch][length][40]}``; the
    log-sum-exp runs over the whole vocabulary in float64.
    """
    import torch

    ids = digest_ids(int(logits.shape[-1]))
    values = logits.detach().to(torch.float64).cpu()
    return {
        "ids": ids,
        "logsumexp": torch.logsumexp(values, dim=-1).tolist(),
        "logits": values[..., ids].tolist(),
    }


class _Draw:
    """Draws float32 tensors from ``RandomState(seed)`` with the scales documented in the module docstring."""

    def __init__(self, seed: int):
        self.rng = np.random.RandomState(seed)

    def embedding(self, rows: int, cols: int) -> np.ndarray:
        return self.rng.standard_normal((rows, cols)).astype(np.float32)

    def matrix(self, rows: int, cols: int) -> np.ndarray:
        return (self.rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def bias(self, size: int) -> np.ndarray:
        return (0.1 * self.rng.standard_normal(size)).astype(np.float32)

    def norm(self, size: int) -> np.ndarray:
        return (1.0 + 0.1 * self.rng.standard_normal(size)).astype(np.float32)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _save_weights(folder: Path, tensors: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file

    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})


def _bytes_to_unicode() -> dict[int, str]:
    """The byte-level BPE alphabet: printable bytes map to themselves, the others to code points from 256 on."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


# A handful of merges on top of the 256 byte tokens ("Ġ" is the byte-level space).
_MERGES = [("Ġ", "t"), ("h", "e"), ("Ġ", "a"), ("i", "n"), ("Ġt", "he"), ("e", "r"), ("o", "n"), ("Ġ", "s"),
           ("r", "e"), ("a", "t")]


def _byte_bpe_vocab() -> dict[str, int]:
    """Ids 0..255 are the bytes (in byte order), then one id per merge result."""
    vocab = {symbol: byte for byte, symbol in _bytes_to_unicode().items()}
    for left, right in _MERGES:
        vocab[left + right] = len(vocab)
    return vocab


def _added_token(content: str, special: bool = True) -> dict[str, Any]:
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
            "special": special}


# ---------------------------------------------------------------------------------------------------- LLaDA

_LLADA_SPECIALS = {LLADA_BOS_ID: "<|startoftext|>", LLADA_EOS_ID: "<|endoftext|>", 126082: "[CLS]",
                   126083: "[gMASK]", LLADA_MASK_ID: "<|mdm_mask|>"}


def _llada_config(block_type: str) -> dict[str, Any]:
    """Every key of the published LLaDA-8B config.json, with tiny dimensions.

    The sequential block has no ``up_proj``: it uses the OLMo ``swiglu`` activation, which splits ``ff_proj``'s
    output in halves (value, gate), so its ``mlp_hidden_size`` is twice the MLP width.
    """
    sequential = block_type == "sequential"
    return {
        "activation_type": "swiglu" if sequential else "silu",
        "alibi": False,
        "alibi_bias_max": 8.0,
        "architectures": ["LLaDAModelLM"],
        "attention_dropout": 0.0,
        "attention_layer_norm": False,
        "attention_layer_norm_with_affine": True,
        "auto_map": {
            "AutoConfig": "configuration_llada.LLaDAConfig",
            "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
            "AutoModel": "modeling_llada.LLaDAModelLM",
        },
        "bias_for_layer_norm": False,
        "block_group_size": 1,
        "block_type": block_type,
        "d_model": HIDDEN,
        "embedding_dropout": 0.0,
        "embedding_size": LLADA_VOCAB,
        "eos_token_id": LLADA_EOS_ID,
        "flash_attention": False,
        "include_bias": False,
        "include_qkv_bias": False,
        "init_cutoff_factor": None,
        "init_device": "meta",
        "init_fn": "mitchell",
        "init_std": 0.02,
        "input_emb_norm": False,
        "layer_norm_type": "rms",
        "layer_norm_with_affine": True,
        "mask_token_id": LLADA_MASK_ID,
        "max_sequence_length": 4096,
        "mlp_hidden_size": 2 * MLP_WIDTH if sequential else MLP_WIDTH,
        "mlp_ratio": 4,
        "model_type": "llada",
        "multi_query_attention": None,
        "n_heads": HEADS,
        "n_kv_heads": HEADS,
        "n_layers": LAYERS,
        "pad_token_id": LLADA_EOS_ID,
        "precision": "amp_bf16",
        "residual_dropout": 0.0,
        "rms_norm_eps": 1e-05,
        "rope": True,
        "rope_full_precision": True,
        "rope_theta": 500000.0,
        "scale_logits": False,
        "transformers_version": "4.46.3",
        "use_cache": False,
        "vocab_size": LLADA_VOCAB,
        "weight_tying": False,
    }


def _llada_weights(block_type: str, seed: int) -> dict[str, np.ndarray]:
    """State dict of ``LLaDAModelLM`` (prefix ``model.transformer.``), drawn in insertion order."""
    draw, prefix = _Draw(seed), "model.transformer."
    kv_width = HEADS * HEAD_DIM  # n_kv_heads == n_heads
    tensors = {prefix + "wte.weight": draw.embedding(LLADA_VOCAB, HIDDEN)}
    for layer in range(LAYERS):
        block = f"{prefix}blocks.{layer}."
        tensors[block + "attn_norm.weight"] = draw.norm(HIDDEN)
        if block_type == "llama":
            tensors[block + "q_proj.weight"] = draw.matrix(HIDDEN, HIDDEN)
            tensors[block + "k_proj.weight"] = draw.matrix(kv_width, HIDDEN)
            tensors[block + "v_proj.weight"] = draw.matrix(kv_width, HIDDEN)
        else:  # fused rows: q (d_model), then k, then v (n_kv_heads * head_dim each)
            tensors[block + "att_proj.weight"] = draw.matrix(HIDDEN + 2 * kv_width, HIDDEN)
        tensors[block + "attn_out.weight"] = draw.matrix(HIDDEN, HIDDEN)
        tensors[block + "ff_norm.weight"] = draw.norm(HIDDEN)
        if block_type == "llama":
            tensors[block + "ff_proj.weight"] = draw.matrix(MLP_WIDTH, HIDDEN)  # gate (gets the activation)
            tensors[block + "up_proj.weight"] = draw.matrix(MLP_WIDTH, HIDDEN)
        else:  # rows: value half, then gate half (swiglu)
            tensors[block + "ff_proj.weight"] = draw.matrix(2 * MLP_WIDTH, HIDDEN)
        tensors[block + "ff_out.weight"] = draw.matrix(HIDDEN, MLP_WIDTH)
    tensors[prefix + "ln_f.weight"] = draw.norm(HIDDEN)
    tensors[prefix + "ff_out.weight"] = draw.matrix(LLADA_VOCAB, HIDDEN)
    return tensors


def _write_llada_tokenizer(folder: Path) -> None:
    """A byte-level BPE ``tokenizer.json`` (loadable by ``PreTrainedTokenizerFast``) with LLaDA's special tokens
    at their real ids; they also sit in the model vocabulary so that the ids are not renumbered."""
    vocab = _byte_bpe_vocab()
    vocab.update({content: token_id for token_id, content in _LLADA_SPECIALS.items()})
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    _write_json(folder / "tokenizer.json", {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": token_id, **_added_token(content)} for token_id, content in _LLADA_SPECIALS.items()],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", **byte_level},
        "post_processor": {"type": "ByteLevel", **byte_level},
        "decoder": {"type": "ByteLevel", **byte_level},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [[left, right] for left, right in _MERGES]},
    })
    _write_json(folder / "tokenizer_config.json", {
        "add_bos_token": False,
        "add_eos_token": False,
        "added_tokens_decoder": {str(i): _added_token(content) for i, content in _LLADA_SPECIALS.items()},
        "additional_special_tokens": ["<|mdm_mask|>"],
        "bos_token": "<|startoftext|>",
        "clean_up_tokenization_spaces": False,
        "cls_token": "[CLS]",
        "eos_token": "<|endoftext|>",
        "model_max_length": 1000000000000000019884624838656,
        "pad_token": "<|endoftext|>",
        "tokenizer_class": "PreTrainedTokenizerFast",
    })
    named = {key: {k: v for k, v in _added_token(content).items() if k != "special"}
             for key, content in (("bos_token", "<|startoftext|>"), ("cls_token", "[CLS]"),
                                  ("eos_token", "<|endoftext|>"), ("pad_token", "<|endoftext|>"))}
    _write_json(folder / "special_tokens_map.json", {"additional_special_tokens": ["<|mdm_mask|>"], **named})


def build_llada_checkpoint(folder: Path, block_type: str = "llama", seed: int = 0) -> Path:
    """Write a tiny LLaDA-8B-Base-format checkpoint into ``folder`` and return ``folder``.

    ``block_type`` is ``"llama"`` (separate q/k/v and ff_proj/up_proj, as the released model) or ``"sequential"``
    (OLMo layout: fused ``att_proj`` = [q; k; v] rows and a swiglu ``ff_proj`` = [value; gate] rows).
    """
    if block_type not in ("llama", "sequential"):
        raise ValueError(f"unknown LLaDA block_type {block_type!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "config.json", _llada_config(block_type))
    _write_json(folder / "generation_config.json", {
        "_from_model_config": True, "bos_token_id": LLADA_BOS_ID, "eos_token_id": LLADA_EOS_ID,
        "pad_token_id": LLADA_EOS_ID, "transformers_version": "4.46.3"})
    _save_weights(folder, _llada_weights(block_type, seed))
    _write_llada_tokenizer(folder)
    return folder


# ---------------------------------------------------------------------------------------------------- Dream

_QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                  "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
                  "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                  "<|repo_name|>", "<|file_sep|>", "<|beginoftext|>", "<|mask|>"]
_DREAM_SPECIALS = {DREAM_EOS_ID + offset: content for offset, content in enumerate(_QWEN_SPECIALS)}


def _dream_config() -> dict[str, Any]:
    """Every key of the published Dream-v0-Base-7B config.json (Qwen2 keys), with tiny dimensions."""
    return {
        "architectures": ["DreamModel"],
        "attention_dropout": 0.0,
        "auto_map": {"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"},
        "bos_token_id": DREAM_EOS_ID,
        "eos_token_id": DREAM_EOS_ID,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": MLP_WIDTH,
        "mask_token_id": DREAM_MASK_ID,
        "max_position_embeddings": 131072,
        "max_window_layers": LAYERS,
        "model_type": "Dream",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": DREAM_KV_HEADS,
        "pad_token_id": DREAM_EOS_ID,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.2",
        "use_cache": False,
        "use_sliding_window": False,
        "vocab_size": DREAM_VOCAB,
    }


def _dream_weights(seed: int) -> dict[str, np.ndarray]:
    """State dict of ``DreamModel`` (Qwen2 names, q/k/v biases, untied ``lm_head``), drawn in insertion order."""
    draw = _Draw(seed)
    kv_width = DREAM_KV_HEADS * HEAD_DIM
    tensors = {"model.embed_tokens.weight": draw.embedding(DREAM_VOCAB, HIDDEN)}
    for layer in range(LAYERS):
        block = f"model.layers.{layer}."
        tensors[block + "input_layernorm.weight"] = draw.norm(HIDDEN)
        for name, rows in (("q_proj", HEADS * HEAD_DIM), ("k_proj", kv_width), ("v_proj", kv_width)):
            tensors[block + f"self_attn.{name}.weight"] = draw.matrix(rows, HIDDEN)
            tensors[block + f"self_attn.{name}.bias"] = draw.bias(rows)
        tensors[block + "self_attn.o_proj.weight"] = draw.matrix(HIDDEN, HEADS * HEAD_DIM)
        tensors[block + "post_attention_layernorm.weight"] = draw.norm(HIDDEN)
        tensors[block + "mlp.gate_proj.weight"] = draw.matrix(MLP_WIDTH, HIDDEN)
        tensors[block + "mlp.up_proj.weight"] = draw.matrix(MLP_WIDTH, HIDDEN)
        tensors[block + "mlp.down_proj.weight"] = draw.matrix(HIDDEN, MLP_WIDTH)
    tensors["model.norm.weight"] = draw.norm(HIDDEN)
    tensors["lm_head.weight"] = draw.matrix(DREAM_VOCAB, HIDDEN)
    return tensors


def _write_dream_tokenizer(folder: Path) -> None:
    """``vocab.json`` + ``merges.txt`` and a ``tokenizer_config.json`` naming ``DreamTokenizer`` with the real
    special tokens at their real ids.

    As in Qwen2.5, ``vocab.json`` holds the ordinary ids 0..151642 and the 24 added tokens follow at
    151643..151666 (loaders that number added tokens consecutively get the real ids); ids 151667..152063 have
    no entry. Only the byte tokens and a few merges are reachable; the rest of ``vocab.json`` is placeholders.
    """
    vocab = _byte_bpe_vocab()
    vocab.update({f"<unused_{i}>": i for i in range(len(vocab), DREAM_EOS_ID)})
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges = "".join(f"{left} {right}\n" for left, right in _MERGES)
    (folder / "merges.txt").write_text("#version: 0.2\n" + merges, encoding="utf-8")
    # As in Qwen2.5, the tool-call and fill-in-the-middle tokens (151657..151664) are not "special".
    decoder = {str(i): _added_token(content, special=not 151657 <= i <= 151664)
               for i, content in _DREAM_SPECIALS.items()}
    extra = ["<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
             "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
             "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
    _write_json(folder / "tokenizer_config.json", {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": decoder,
        "additional_special_tokens": extra,
        "auto_map": {"AutoTokenizer": ["tokenization_dream.DreamTokenizer", None]},
        "bos_token": "<|beginoftext|>",
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "mask_token": "<|mask|>",
        "model_max_length": 131072,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "DreamTokenizer",
        "unk_token": None,
    })
    named = {key: {k: v for k, v in _added_token(content).items() if k != "special"}
             for key, content in (("bos_token", "<|beginoftext|>"), ("eos_token", "<|endoftext|>"),
                                  ("mask_token", "<|mask|>"), ("pad_token", "<|endoftext|>"))}
    _write_json(folder / "special_tokens_map.json", {"additional_special_tokens": extra, **named})


def build_dream_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Write a tiny Dream-v0-Base-7B-format checkpoint into ``folder`` and return ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "config.json", _dream_config())
    _write_json(folder / "generation_config.json", {
        "_from_model_config": True, "alg": "origin", "alg_temp": None, "bos_token_id": DREAM_EOS_ID,
        "eos_token_id": DREAM_EOS_ID, "eps": 0.001, "mask_token_id": None, "output_history": False,
        "pad_token_id": DREAM_EOS_ID, "steps": 512, "temperature": 0.0, "top_k": None, "top_p": None,
        "transformers_version": "4.46.2"})
    _save_weights(folder, _dream_weights(seed))
    _write_dream_tokenizer(folder)
    return folder
