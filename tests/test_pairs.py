"""Which RoPE pairs a model uses (`attention --pair-use`): the probe's per-pair norms equal a direct computation
from the model's own q/k projections (RoPE keeps a pair's norm), and the summary's share beyond the critical pair
is what the definition gives on cells made by hand."""

import json

import numpy as np
import pytest
import torch

from longllada_theory.cli import main
from longllada_theory.measure.probe.probe import find_attention_modules, instrumented_forward
from longllada_theory.measure.readings.pairs import pair_use
from longllada_theory.models.loading import load_model
from longllada_theory.theory.rope import critical_dimension

from helpers import needs_transformers_5, tiny_twin


def pair_norms(x: torch.Tensor, pairs: int) -> torch.Tensor:
    """[…, head_dim] → […, pairs]: the norm of dimensions (i, i + pairs), by hand."""
    return torch.stack([torch.hypot(x[..., i], x[..., i + pairs]) for i in range(pairs)], dim=-1)


@needs_transformers_5
@pytest.mark.parametrize("queries", ["all", "last:8"])
def test_pair_norms_equal_the_projections_norms(tmp_path, queries):
    loaded = load_model(str(tiny_twin(tmp_path / "ar", "ar", train_length=64)), progress=False)
    config, spec = loaded.model.config, loaded.spec
    heads, kv_heads, head_dim = config.num_attention_heads, config.num_key_value_heads, spec.head_dim
    pairs = spec.rotary_dim // 2
    captured, handles = {}, []
    for layer, (_, module) in enumerate(find_attention_modules(loaded.model, ("q_proj", "k_proj"))):
        for name in ("q_proj", "k_proj"):
            handles.append(getattr(module, name).register_forward_hook(
                lambda m, i, out, key=(layer, name): captured.__setitem__(key, out.detach()[0])))
    ids = list(range(1, 97))
    stats = instrumented_forward(loaded, ids, queries=queries, pair_use=True)
    for handle in handles:
        handle.remove()
    for layer, layer_stats in stats.items():
        q = captured[layer, "q_proj"].view(len(ids), heads, head_dim).transpose(0, 1).double()
        k = captured[layer, "k_proj"].view(len(ids), kv_heads, head_dim).transpose(0, 1).double()
        k = k.repeat_interleave(heads // kv_heads, dim=0)
        chosen = layer_stats.queries
        assert np.allclose(layer_stats.pair_q, pair_norms(q[:, chosen], pairs).mean(1).numpy(), rtol=1e-5)
        assert np.allclose(layer_stats.pair_k, pair_norms(k, pairs).mean(1).numpy(), rtol=1e-5)


def test_the_share_beyond_the_critical_pair_is_the_definition():
    settings = {"rope_theta": 10000.0, "train_length": 128}
    pairs = 16
    critical = critical_dimension(2 * pairs, 10000.0, 128) // 2
    equal = [{"layer": 0, "pair_q": [[1.0] * pairs], "pair_k": [[2.0] * pairs]}]
    assert pair_use(settings, equal)["share_beyond_critical"] == pytest.approx((pairs - critical) / pairs)
    fast_only = [{"layer": 1, "pair_q": [[1.0] * critical + [0.0] * (pairs - critical)], "pair_k": [[1.0] * pairs]}]
    summary = pair_use(settings, equal + fast_only)
    assert summary["critical_pair"] == critical and pair_use(settings, fast_only)["share_beyond_critical"] == 0
    assert summary["share_beyond_critical_range"] == pytest.approx([0.0, (pairs - critical) / pairs])
    assert summary["critical_period"] == pytest.approx(2 * np.pi * 10000 ** (2 * critical / (2 * pairs)))


@needs_transformers_5
def test_attention_pair_use_end_to_end(tmp_path, capsys):
    output = tmp_path / "pairs.jsonl"
    assert main(["attention", "toy:ar", "--length", "256", "--queries", "sample:32", "--pair-use", "--no-progress",
                 "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "beyond the critical pair" in out and "equal norms would give" in out
    cells = [json.loads(line) for line in output.read_text().splitlines()[1:]]
    assert all(len(c["pair_q"]) == len(c["pair_k"]) for c in cells)
    assert main(["plot", str(output), "--output", str(tmp_path / "pairs.png")]) == 0
    assert (tmp_path / "pairs.png").stat().st_size > 10_000
    assert main(["attention", "toy:diffusion", "--length", "128", "--niah-depth", "50", "--during-denoising",
                 "--pair-use", "--output", str(tmp_path / "x.jsonl")]) == 2
    assert "--pair-use measures one forward pass; leave out --during-denoising" in capsys.readouterr().err
