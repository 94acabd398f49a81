"""Small models and stand-ins shared by the tests (no network, no shipped checkpoints needed)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import transformers

#: the twins are transformers-5 models: their config keeps RoPE in rope_parameters and their diffusion kind needs
#: Gemma's use_bidirectional_attention, neither of which transformers 4.x has (load_model refuses them there)
TWINS_NEED_TRANSFORMERS_5 = (f"the twins need transformers 5 (RoPE in rope_parameters, Gemma's "
                             f"use_bidirectional_attention); this is {transformers.__version__}")
needs_transformers_5 = pytest.mark.skipif(int(transformers.__version__.split(".")[0]) < 5,
                                          reason=TWINS_NEED_TRANSFORMERS_5)


def tiny_twin(folder: Path, kind: str, seed: int = 0, train_length: int = 32) -> Path:
    """A randomly initialised twin (2 layers, d_model 32) saved with save_pretrained."""
    from longllada_theory.toy.model import TwinShape, build_twin

    shape = TwinShape(layers=2, hidden=32, heads=2, head_dim=16, intermediate=64, train_length=train_length)
    build_twin(kind, shape, seed).save_pretrained(folder)
    return folder


class FixedLossModel(torch.nn.Module):
    """A model whose cross-entropy on the true token at position p is ``losses[p]`` whatever is masked: the
    expectation of any unbiased masked-loss estimator of a chunk is then the chunk's mean loss."""

    def __init__(self, tokens: list[int], losses: list[float], vocab: int = 8, shift: int = 0):
        super().__init__()
        self.tokens, self.losses, self.vocab, self.shift = tokens, losses, vocab, shift

    def forward(self, input_ids, logits_to_keep=None):
        batch, length = input_ids.shape
        logits = torch.zeros(batch, length, self.vocab, dtype=torch.float64)
        for row in range(length):
            target_position = row + self.shift
            if target_position >= len(self.tokens):
                continue
            p = torch.exp(-torch.tensor(self.losses[target_position], dtype=torch.float64))
            rest = (1 - p) / (self.vocab - 1)
            probs = torch.full((self.vocab,), rest, dtype=torch.float64)
            probs[self.tokens[target_position]] = p
            logits[:, row] = probs.log()
        if logits_to_keep:
            logits = logits[:, -logits_to_keep:]
        return SimpleNamespace(logits=logits)


def fake_loaded(model, mask_token_id: int = 7, shift: int = 0, kind: str = "diffusion"):
    return SimpleNamespace(model=model, device=torch.device("cpu"), mask_token_id=mask_token_id,
                           logits_shift=shift, kind=kind, name="fake")


def byte_tokenizer(folder: Path, vocab: int = 300) -> None:
    """A byte-level BPE tokenizer (the 256 bytes and an end-of-text token) saved in transformers' format."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tokenizer = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(sorted(alphabet))}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<eos>"])
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<eos>").save_pretrained(folder)


def tiny_diffusion_gemma(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised transformers DiffusionGemma (2 text layers — one sliding, one full attention with its
    proportional RoPE and larger head — 2 experts, a one-layer vision tower) with a byte-level tokenizer."""
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion

    text = dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=16, global_head_dim=32, sliding_window=8,
                layer_types=["sliding_attention", "full_attention"], max_position_embeddings=512, num_experts=2,
                top_k_experts=1, moe_intermediate_size=32, eos_token_id=256, pad_token_id=256, bos_token_id=256)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=1, head_dim=8)
    torch.manual_seed(seed)
    config = DiffusionGemmaConfig(text_config=text, vision_config=vision, canvas_length=8)
    DiffusionGemmaForBlockDiffusion(config).save_pretrained(folder)
    byte_tokenizer(folder)
    return folder


def tiny_tasks(folder: Path, documents: int = 2) -> Path:
    """A multiple-choice and a generation task from local JSONL files (the harness's `json` dataset builder),
    with the first ``documents`` of five questions."""
    rows = [{"question": "The passkey is 4821. The passkey is", "choices": [" 4821", " 7730"], "answer": 0,
             "target": "4821"},
            {"question": "One two three four five", "choices": [" six", " ten"], "answer": 0, "target": "six"},
            {"question": "Red, green and", "choices": [" blue", " seven"], "answer": 0, "target": "blue"},
            {"question": "The capital of France is", "choices": [" Paris", " Oslo"], "answer": 0, "target": "Paris"},
            {"question": "Monday, Tuesday,", "choices": [" Wednesday", " Friday"], "answer": 0,
             "target": "Wednesday"}][:documents]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    common = (f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {folder / 'tiny.jsonl'}\n"
              "test_split: test\n")
    (folder / "tiny_choice.yaml").write_text(
        "task: tiny_choice\n" + common + "output_type: multiple_choice\ndoc_to_text: '{{question}}'\n"
        "doc_to_choice: '{{choices}}'\ndoc_to_target: '{{answer}}'\nmetric_list:\n  - metric: acc\n")
    (folder / "tiny_generate.yaml").write_text(
        "task: tiny_generate\n" + common + "output_type: generate_until\ndoc_to_text: '{{question}}'\n"
        "doc_to_target: '{{target}}'\ngeneration_kwargs:\n  until: ['.']\n  max_gen_toks: 8\n"
        "metric_list:\n  - metric: exact_match\n")
    return folder
