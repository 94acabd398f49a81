"""The real diffusion LLMs' own checkpoint formats (LLaDA-8B, Dream-v0-7B), on tiny checkpoints written in them
(``real_formats.py``): they load without remote code, their logits equal the original code's, scaling acts where
the forward uses it, and every measuring command runs on them. This file also runs under transformers 4.x
(``.ci/run``)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from longllada_theory import LongLLaDAError, load_spec
from longllada_theory.models.loading import forward_logits, load_model

from conftest import ROOT
from real_formats import (
    DREAM_BOS_ID,
    DREAM_EOS_ID,
    DREAM_MASK_ID,
    LLADA_MASK_ID,
    LOGIT_INPUTS,
    build_dream_checkpoint,
    build_llada_checkpoint,
    logit_digest,
)

REFERENCE = json.loads((ROOT / "tests" / "data" / "real_format_logits.json").read_text())
CASES = {"llada_llama": ("llada", lambda f: build_llada_checkpoint(f, "llama")),
         "llada_sequential": ("llada", lambda f: build_llada_checkpoint(f, "sequential")),
         "dream": ("dream", build_dream_checkpoint)}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("real_formats")
    return {case: str(build(root / case)) for case, (_, build) in CASES.items()}


def run_cli(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "longllada_theory.cli", *argv], capture_output=True, text=True,
                          cwd=cwd)


@pytest.mark.parametrize("case", list(CASES))
def test_logits_equal_the_original_remote_code(checkpoints, case):
    loaded = load_model(checkpoints[case], device="cpu", progress=False)
    family = CASES[case][0]
    assert loaded.kind == "diffusion" and loaded.spec.family == family
    with torch.no_grad():
        digest = logit_digest(loaded.model(input_ids=torch.tensor(LOGIT_INPUTS[family])).logits)
    reference = REFERENCE[case]["digest"]
    assert digest["ids"] == reference["ids"]
    assert np.abs(np.array(digest["logsumexp"]) - np.array(reference["logsumexp"])).max() <= 1e-4
    assert np.abs(np.array(digest["logits"]) - np.array(reference["logits"])).max() <= 1e-4


def test_the_families_know_mask_shift_and_bos(checkpoints):
    llada = load_model(checkpoints["llada_llama"], device="cpu", progress=False)
    dream = load_model(checkpoints["dream"], device="cpu", progress=False)
    assert (llada.mask_token_id, llada.logits_shift) == (LLADA_MASK_ID, 0)
    assert (dream.mask_token_id, dream.logits_shift) == (DREAM_MASK_ID, 1)
    assert dream.prefix_ids == [DREAM_BOS_ID]  # LongLLaDA prepends Dream's BOS token
    assert dream.tokenizer.decode([72, 101, 151_900, 152_063]) == "He"  # ids without a tokenizer entry are skipped


@pytest.mark.parametrize("case", ["llada_llama", "dream"])
def test_scaling_reaches_the_cos_sin_the_forward_uses(checkpoints, case, monkeypatch):
    loaded = load_model(checkpoints[case], device="cpu", rope_scale=7.0, progress=False)
    assert loaded.verified[0].startswith("cos/sin of model.rotary_emb")
    rotary = loaded.model.model.rotary_emb
    cos, _ = rotary(torch.zeros(1), torch.tensor([[1000]]))
    theta = loaded.plan.new_rope_theta ** (-np.arange(0, 8, 2) / 8)
    assert np.allclose(cos[0, 0, :4].double().numpy(), np.cos(1000 * theta), atol=1e-4)
    import longllada_theory.models.loading as loading

    monkeypatch.setattr(loading, "patch_config", lambda config, *plan: config)  # the change never reaches it
    with pytest.raises(LongLLaDAError, match="does not match the scaling plan"):
        load_model(checkpoints[case], device="cpu", rope_scale=7.0, progress=False)


def test_only_the_scored_logits_are_computed(checkpoints):
    for case in ("llada_llama", "dream"):
        loaded = load_model(checkpoints[case], device="cpu", progress=False)
        ids = torch.tensor(LOGIT_INPUTS[CASES[case][0]])
        kept = forward_logits(loaded.model, ids, keep_last=3)
        full = forward_logits(loaded.model, ids)
        assert kept.shape[1] == 3 and torch.allclose(kept, full[:, -3:], atol=1e-5)


def test_a_local_copy_of_dream_gets_its_pretraining_length(tmp_path):
    from longllada_theory.models.presets import find_preset

    (tmp_path / "config.json").write_text(json.dumps({**find_preset("dream").config, "model_type": "Dream"}))
    spec = load_spec(str(tmp_path))
    assert spec.train_length == 2048 and "fingerprint of preset Dream-org/Dream-v0-Base-7B" in \
        spec.provenance["train_length"]


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_every_measuring_command_runs(checkpoints, case, tmp_path):
    model = checkpoints[case]
    common = ["--device", "cpu", "--no-progress", "--json", "--target", "8k"]
    ppl = run_cli("ppl", model, "--max-length", "128", "--chunk", "32", "--mc", "2", "--output",
                  str(tmp_path / "ppl.jsonl"), *common)
    assert ppl.returncode == 0, ppl.stderr
    assert json.loads(ppl.stdout)["final_running_ppl"] > 1
    niah = run_cli("niah", model, "--lengths", "256", "--depths", "0,100", "--answer-length", "8", "--output",
                   str(tmp_path / "niah.jsonl"), *common)
    assert niah.returncode == 0, niah.stderr
    assert set(json.loads(niah.stdout)["grid"]) == {"256"}
    attention = run_cli("attention", model, "--length", "64", "--queries", "last:4", "--output",
                        str(tmp_path / "attention.jsonl"), *common)
    assert attention.returncode == 0, attention.stderr
    assert len(json.loads(attention.stdout)["layers"]) == 2
    ruler = run_cli("ruler", model, "--lengths", "1k", "--tasks", "niah_single_1,cwe", "--samples", "1",
                    "--answer-length", "8", "--output", str(tmp_path / "ruler.jsonl"), *common)
    assert ruler.returncode == 0, ruler.stderr
    assert set(json.loads(ruler.stdout)["groups"]) == {"NIAH", "AGG", "Avg"}
    denoising = run_cli("attention", model, "--length", "160", "--niah-depth", "50", "--needles", "passkey",
                        "--answer-length", "4", "--during-denoising", "--output", str(tmp_path / "denoising.jsonl"),
                        *common)
    assert denoising.returncode == 0, denoising.stderr
    masked = [row["masked"] for row in json.loads(denoising.stdout)["steps"]]  # Dream unmasks on its own schedule
    assert len(masked) == 4 and masked[0] == 4 and masked == sorted(masked, reverse=True)


def test_the_probe_is_exact_on_every_family(checkpoints):
    """Probabilities of the probe against eager attention's own (an explicit all-visible mask keeps eager
    bidirectional under transformers 4.x too)."""
    from longllada_theory.measure.probe.probe import instrumented_forward

    for case, model in checkpoints.items():
        ids = (LOGIT_INPUTS[CASES[case][0]][1] * 4)[:40]
        loaded = load_model(model, device="cpu", progress=False)
        stats = instrumented_forward(loaded, ids, queries="sample:10", keep_probs=True)
        eager = load_model(model, device="cpu", attn_implementation="eager", kind="diffusion", progress=False)
        mask = torch.ones(1, 1, len(ids), len(ids), dtype=torch.bool)
        with torch.no_grad():
            reference = eager.model(input_ids=torch.tensor([ids]), attention_mask=mask,
                                    output_attentions=True).attentions
        worst = max(float(np.abs(reference[layer][0][:, s.queries].numpy() - s.probs).max())
                    for layer, s in stats.items())
        assert worst < 1e-5, (case, worst)


def test_dream_answers_with_its_own_sampler(checkpoints):
    from longllada_theory.measure.bench.bench import ForwardCounter
    from longllada_theory.measure.sampling import SamplerOptions, answers, dream_generate, sampler_name

    loaded = load_model(checkpoints["dream"], device="cpu", progress=False)
    assert sampler_name(loaded) == "dream" and loaded.family.sampler_defaults["top_p"] == 0.95
    prompts = [[DREAM_BOS_ID, 72, 101, 108, 108], [DREAM_BOS_ID, 111, 32, 119, 111]]
    with ForwardCounter(loaded.model) as counter:
        first = answers(loaded, prompts, gen_length=8, steps=4, seeds=[1, 2])
    assert counter.count == 4 and all(len(a) <= 8 and DREAM_EOS_ID not in a for a in first)
    assert answers(loaded, prompts, gen_length=8, steps=4, seeds=[1, 2]) == first  # seeded per row
    greedy = dream_generate(loaded, prompts, SamplerOptions(gen_length=8, steps=8, temperature=0.0, alg="maskgit_plus"))
    assert all(DREAM_MASK_ID not in a or len(a) < 8 for a in greedy)
    with pytest.raises(LongLLaDAError, match="no blocks"):
        dream_generate(loaded, prompts, SamplerOptions(gen_length=8, block_length=4, steps=8))


def test_llada_may_predict_its_mask_token_as_generate_py_does(checkpoints):
    from longllada_theory.measure.protocols.niah import NiahSettings

    loaded = load_model(checkpoints["llada_llama"], device="cpu", progress=False)
    assert NiahSettings(lengths=(256,)).resolved(loaded).predict_mask is True
    assert NiahSettings(lengths=(256,), predict_mask=False).resolved(loaded).predict_mask is False


@pytest.mark.parametrize("config, message", [
    ({"model_type": "llada", "block_type": "llama", "activation_type": "silu", "alibi": True}, "alibi"),
    ({"model_type": "llada", "block_type": "parallel"}, "block_type"),
])
def test_unsupported_llada_settings_are_refused_by_name(checkpoints, tmp_path, config, message):
    import shutil

    folder = tmp_path / "variant"
    shutil.copytree(checkpoints["llada_llama"], folder)
    raw = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**raw, **config}))
    result = run_cli("ppl", str(folder), "--max-length", "128", "--device", "cpu",
                     "--output", str(tmp_path / "r.jsonl"))
    assert result.returncode == 2 and message in result.stderr and "--trust-remote-code" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_remote_code_models_and_foreign_weights_get_one_clear_line(checkpoints, tmp_path):
    import shutil

    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({"model_type": "mystery", "architectures": ["MysteryLM"],
                                                    "auto_map": {"AutoConfig": "configuration_mystery.MysteryConfig"},
                                                    "hidden_size": 16, "num_attention_heads": 2, "rope_theta": 1e4,
                                                    "max_position_embeddings": 64}))
    result = run_cli("ppl", str(remote), "--max-length", "128", "--device", "cpu",
                     "--output", str(tmp_path / "a.jsonl"))
    assert result.returncode == 2 and "--trust-remote-code" in result.stderr and "natively" in result.stderr
    foreign = tmp_path / "foreign"
    shutil.copytree(checkpoints["dream"], foreign)
    from safetensors.numpy import save_file
    save_file({"encoder.weight": np.zeros((2, 2), dtype=np.float32)}, str(foreign / "model.safetensors"))
    result = run_cli("ppl", str(foreign), "--max-length", "128", "--device", "cpu", "--output",
                     str(tmp_path / "b.jsonl"))
    assert result.returncode == 2 and "do not match their Qwen2ForCausalLM mapping" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
