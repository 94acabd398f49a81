"""Model families: everything that differs between the kinds of checkpoints the package loads and measures, in one
registry (as transformers keeps its RoPE variants in ``ROPE_INIT_FUNCTIONS``). A new family is one entry in
:data:`FAMILIES`; the spec reader, the loader, the samplers and the attention probe ask the registry instead of
keeping their own tables.

A family says which configs it claims, where its config keeps the sizes RoPE theory needs, and — separately — how
its attention reads RoPE (causal or bidirectional: what the theory's critical dimension and window depend on) and how
it decodes (autoregressive, masked diffusion, block diffusion: how the package samples and scores it), its logits
shift, its mask token, which sampler answers with it, and where its attention layers and q/k projections are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..registry import Registry
from .native import DREAM, LLADA, NativeFormat

#: config keys in the order they are tried, per quantity (transformers' names first, then OLMo/LLaDA and GPT-2's)
HF_KEYS: dict[str, tuple[str, ...]] = {
    "hidden": ("hidden_size", "d_model", "n_embd"),
    "heads": ("num_attention_heads", "n_heads", "n_head"),
    "kv_heads": ("num_key_value_heads", "n_kv_heads"),
    "layers": ("num_hidden_layers", "n_layers", "n_layer"),
    "head_dim": ("head_dim",),
    "length": ("train_length", "max_sequence_length", "max_position_embeddings", "n_positions", "seq_length"),
}


#: how a family decodes → the package's model kind (how it samples and scores: ``ar`` or ``diffusion``)
DECODINGS = {"autoregressive": "ar", "masked_diffusion": "diffusion", "block_diffusion": "diffusion"}


@dataclass(frozen=True)
class Family:
    """One kind of checkpoint (see module docstring)."""

    name: str
    description: str
    claims: Callable[[dict], bool]
    bidirectional: Callable[[dict], str | None] = lambda config: None  # the reason it is bidirectional, or None
    causal_reason: str | None = None    # why a family that is not bidirectional counts as causal (block diffusion)
    decoding: str | None = None         # a key of DECODINGS (None: masked diffusion when bidirectional, else AR)
    logits_shift: int | None = None     # None: 1 for causal models, 0 for bidirectional ones (or config's logits_shift)
    mask_token_id: int | None = None    # used when the config names none
    sampler: str = "low_confidence"     # how a diffusion model of this family answers (measure.sampling.SAMPLERS)
    sampler_defaults: dict[str, Any] = field(default_factory=dict)  # the family's own evaluation settings
    prepend_bos: bool = False           # put the tokenizer's BOS token before every text (Dream, as LongLLaDA does)
    config_keys: dict[str, tuple[str, ...]] = field(default_factory=lambda: HF_KEYS)
    projections: tuple[str, str] = ("q_proj", "k_proj")
    output_projections: tuple[str, ...] = ("o_proj", "attn_out")  # where heads' outputs meet (transformers; LLaDA)
    byte_level: bool = False            # the tokenizer is UTF-8 bytes (the twins)
    native: NativeFormat | None = None  # load onto transformers' own classes instead of the checkpoint's own code
    tokenizer_classes: tuple[str, ...] = ()  # transformers classes that read its tokenizer files (else AutoTokenizer)
    model_class: str | None = None      # the transformers class to load (else AutoModelForCausalLM / AutoModel)
    no_likelihood: str | None = None    # why a perplexity cannot be measured on it (None: it can)
    no_probe: str | None = None         # why the attention probe cannot measure it (None: it can)
    behaviour_check: bool = True        # check at load that position 0 sees later tokens exactly when bidirectional

    def __post_init__(self):
        if self.decoding is not None and self.decoding not in DECODINGS:
            raise ValueError(f"family {self.name}: decoding {self.decoding!r}; expected one of {', '.join(DECODINGS)}")

    def kind(self, bidirectional: bool) -> str:
        """``ar`` or ``diffusion``: how models of this family are sampled and scored — the family's decoding when it
        states one (a block-diffusion model denoises though its attention is causal between blocks), else read from
        the attention (a bidirectional decoder is a masked-diffusion model)."""
        if self.decoding is not None:
            return DECODINGS[self.decoding]
        return "diffusion" if bidirectional else "ar"

    def value(self, config: dict, quantity: str):
        """(key, value) of the first of the family's keys for ``quantity`` present in ``config``, or (None, None)."""
        for key in self.config_keys[quantity]:
            if config.get(key) is not None:
                return key, config[key]
        return None, None

    def attention(self, config: dict) -> tuple[str, str]:
        """("causal" | "bidirectional", why) for a config of this family."""
        reason = self.bidirectional(config)
        if reason:
            return "bidirectional", reason
        return "causal", self.causal_reason or f"model_type {config.get('model_type')!r} (causal LM)"

    def shift(self, config: dict, attention: str) -> int:
        """Logits shift: 1 when the logits at position i predict token i+1 (AR models, and Dream, adapted from one);
        0 when each position predicts itself (LLaDA)."""
        if config.get("logits_shift") is not None:
            return int(config["logits_shift"])
        if self.logits_shift is not None:
            return self.logits_shift
        return 1 if attention == "causal" else 0


def _model_type(config: dict) -> str:
    return str(config.get("model_type") or "").lower()


def _flag_bidirectional(config: dict) -> str | None:
    if config.get("use_bidirectional_attention"):
        return "use_bidirectional_attention in the config"
    if config.get("is_causal") is False:
        return "is_causal false in the config"
    return None


def _gemma_encoder(config: dict) -> str:
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    return "bidirectional" if text.get("use_bidirectional_attention") == "all" else "causal"


FAMILIES: Registry[Family] = Registry("families", "model family")
FALLBACK = "transformers"


def register_family(family: Family) -> Family:
    """Add a family to the registry; families are tried in the order registered, the ``transformers`` fallback
    last."""
    FAMILIES.register(family.name, family)
    return family


register_family(Family(
    "llada", "LLaDA (GSAI-ML): OLMo-style config keys, bidirectional, each position predicts itself",
    claims=lambda config: _model_type(config) == "llada",
    bidirectional=lambda config: "LLaDA is a masked-diffusion LM (model_type llada)",
    logits_shift=0, mask_token_id=126336, native=LLADA, tokenizer_classes=("PreTrainedTokenizerFast",),
    # LLaDA's generate.py (as LongLLaDA's evaluation runs it) lets the argmax be the mask token
    sampler_defaults={"predict_mask": True}))

register_family(Family(
    "dream", "Dream (Dream-org): Qwen2.5 layout made bidirectional, logits shifted by one as in its AR parent",
    claims=lambda config: _model_type(config) == "dream",
    bidirectional=lambda config: "Dream is a masked-diffusion LM (model_type Dream)",
    logits_shift=1, mask_token_id=151666, native=DREAM, prepend_bos=True, sampler="dream",
    tokenizer_classes=("Qwen2TokenizerFast", "Qwen2Tokenizer"),  # the files of its DreamTokenizer are Qwen2's
    # Dream's diffusion_generate with the settings of LongLLaDA's evaluation (llada/llada_wrapper.py)
    sampler_defaults={"alg": "entropy", "temperature": 0.2, "top_p": 0.95}))

register_family(Family(
    "llada_moe", "LLaDA-MoE (inclusionAI): a masked-diffusion mixture of experts, remote code",
    claims=lambda config: _model_type(config) == "llada_moe",
    bidirectional=lambda config: "LLaDA-MoE is a masked-diffusion LM (model_type llada_moe)", logits_shift=0))

register_family(Family(
    "block_diffusion", "block-diffusion LMs (SDAR, LLaDA2.0): diffusion inside blocks of a few tokens, causal between "
                       "them; remote code",
    claims=lambda config: _model_type(config) in ("sdar", "llada2_moe"), decoding="block_diffusion",
    causal_reason="block diffusion: attention is causal between blocks (bidirectional only inside a block of a few "
                  "tokens), so training sees relative distances as a causal model does"))

register_family(Family(
    "diffusion_gemma", "transformers' DiffusionGemma: block diffusion with an encoder over the context and a decoder "
                       "that denoises a canvas of tokens",
    claims=lambda config: _model_type(config) in ("diffusion_gemma", "diffusion_gemma_text"),
    bidirectional=lambda config: "DiffusionGemma's decoder denoises its canvas with bidirectional attention (its "
                                 f"encoder over the context is {_gemma_encoder(config)})",
    logits_shift=0, sampler="model_generate", model_class="DiffusionGemmaForBlockDiffusion", behaviour_check=False,
    no_likelihood="DiffusionGemma denoises a canvas that starts from random tokens, without a mask token: its "
                  "objective defines no masked-token likelihood to estimate a perplexity from",
    no_probe="DiffusionGemma's layers use two RoPE settings (sliding and full attention, with different head sizes) "
             "and its decoder attends to the encoder's cache; the probe handles one setting per model and "
             "self-attention"))

register_family(Family(
    "twin", "the package's twin tiny models (transformers Gemma, UTF-8 bytes as tokens)",
    claims=lambda config: bool(config.get("twin")),
    bidirectional=_flag_bidirectional, byte_level=True))

register_family(Family(
    "transformers", "a model transformers builds itself (LLaMA, Qwen, Gemma, Mistral, … and GGUF files)",
    claims=lambda config: True, bidirectional=_flag_bidirectional))



def family_of(config: dict) -> Family:
    """The first registered family that claims ``config`` (a config.json dict); ``transformers`` otherwise."""
    specific = (family for name, family in FAMILIES.items() if name != FALLBACK and family.claims(config))
    return next(specific, FAMILIES[FALLBACK])
