"""LLaDA's low-confidence remasking sampler, Dream's sampler and greedy decoding; the diffusion samplers against the
token ids the upstream samplers gave (``tests/data/upstream_samplers.json``)."""

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from longllada_theory import LongLLaDAError
from longllada_theory.measure.sampling import SamplerOptions, check_sampler, diffusion_generate, transfer_schedule

from helpers import TWINS_NEED_TRANSFORMERS_5, FixedLossModel, fake_loaded, needs_transformers_5, tiny_twin
from real_formats import DREAM_BOS_ID, LLADA_MASK_ID, _dream_config, build_dream_checkpoint, build_llada_checkpoint


def test_transfer_schedule_spreads_the_remainder_over_the_first_steps():
    assert transfer_schedule(10, 4) == [3, 3, 2, 2]
    assert transfer_schedule(32, 32) == [1] * 32
    assert sum(transfer_schedule(7, 3)) == 7


@pytest.mark.parametrize("gen, block, steps, message", [(30, 32, 32, "multiple of the block"),
                                                        (64, 32, 33, "multiple of the number of blocks"),
                                                        (0, 32, 32, "positive")])
def test_bad_sampler_lengths_are_refused(gen, block, steps, message):
    with pytest.raises(LongLLaDAError, match=message):
        check_sampler(gen, block, steps)


class Recorder(FixedLossModel):
    """Predicts the true token everywhere; its confidence rises with position, so low-confidence remasking must
    unmask the answer from its end backwards (one token per step)."""

    def __init__(self, tokens, vocab=8):
        super().__init__(tokens, [2.0 - 0.05 * i for i in range(len(tokens))], vocab)
        self.seen = []

    def forward(self, input_ids, logits_to_keep=None):
        self.seen.append(input_ids.clone())
        return super().forward(input_ids, logits_to_keep)


def test_low_confidence_remasking_keeps_the_most_confident_prediction_each_step():
    tokens = [1, 2, 3, 4, 5, 6, 1, 2, 3, 4]
    model = Recorder(tokens)
    loaded = fake_loaded(model, mask_token_id=7)
    (out,) = diffusion_generate(loaded, [tokens[:6]], SamplerOptions(gen_length=4, block_length=4, steps=4))
    assert out == tokens[6:]
    # after step 1 only the last answer position (highest confidence) is filled
    assert model.seen[1][0, 6:].tolist() == [7, 7, 7, 4]
    assert len(model.seen) == 4


def test_blocks_fill_left_to_right():
    tokens = [1, 2, 3, 4, 5, 6, 1, 2, 3, 4]
    model = Recorder(tokens)
    (out,) = diffusion_generate(fake_loaded(model, mask_token_id=7), [tokens[:6]],
                                SamplerOptions(gen_length=4, block_length=2, steps=2))
    assert out == tokens[6:]
    assert model.seen[1][0, 6:].tolist() == [1, 2, 7, 7]  # the first block is complete before the second starts


@needs_transformers_5
def test_sampler_and_greedy_on_real_twins_batched_like_one_by_one(tmp_path):
    from longllada_theory.measure.sampling import answers
    from longllada_theory.models.loading import load_model

    prompts = [list(range(65, 90)), list(range(70, 95)), list(range(40, 65))]
    diffusion = load_model(str(tiny_twin(tmp_path / "d", "diffusion")), device="cpu")
    batch = answers(diffusion, prompts, gen_length=8, block_length=4, steps=4, temperature=0.7, seeds=[3, 4, 5])
    assert all(len(a) == 8 and diffusion.mask_token_id not in a for a in batch)
    single = [answers(diffusion, [p], gen_length=8, block_length=4, steps=4, temperature=0.7, seeds=[s])[0]
              for p, s in zip(prompts, [3, 4, 5])]
    assert batch == single  # each row draws from its own seeded generator
    ar = load_model(str(tiny_twin(tmp_path / "a", "ar")), device="cpu")
    greedy = answers(ar, prompts, gen_length=5)
    with torch.no_grad():
        first = ar.model(input_ids=torch.tensor(prompts)).logits[:, -1].argmax(-1).tolist()
    assert [g[0] for g in greedy] == first and all(len(g) == 5 for g in greedy)


@needs_transformers_5
def test_prompts_of_different_lengths_are_refused(tmp_path):
    from longllada_theory.measure.sampling import answers
    from longllada_theory.models.loading import load_model

    ar = load_model(str(tiny_twin(tmp_path / "a", "ar")), device="cpu")
    with pytest.raises(LongLLaDAError, match="share one length"):
        answers(ar, [[1, 2, 3], [1, 2]], gen_length=2)


# ----------------------------------------------------------------------------------- equal to upstream, token for token

UPSTREAM = json.loads((Path(__file__).parent / "data" / "upstream_samplers.json").read_text(encoding="utf-8"))
TWIN = Path(__file__).parent.parent / "longllada_theory" / "data" / "twins" / "seed1" / "diffusion"


def _mask_prone_llada(folder: Path, scale: float) -> Path:
    """The tiny LLaDA checkpoint with its output-head row of the mask token scaled, so that the mask token is the
    argmax at many positions (positions then stay masked past their block)."""
    from safetensors.numpy import load_file, save_file

    build_llada_checkpoint(folder, "llama", seed=0)
    weights = load_file(str(folder / "model.safetensors"))
    head = weights["model.transformer.ff_out.weight"].copy()
    head[LLADA_MASK_ID] *= np.float32(scale)
    weights["model.transformer.ff_out.weight"] = head
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


@pytest.fixture(scope="module")
def upstream_model(tmp_path_factory):
    """Loads a stored case's model, rebuilt as its ``model`` entry says (each name and dtype loaded once)."""
    from longllada_theory.models.loading import load_model

    folder, loaded = tmp_path_factory.mktemp("upstream"), {}

    def build(model: dict) -> Path:
        if model.get("config_json") or model.get("generation_config_json"):  # a variant of the tiny Dream checkpoint
            variant = hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()[:12]
            folder_ = build_dream_checkpoint(folder / f"dream-{variant}", seed=0)
            for name, changes in (("config.json", model.get("config_json")),
                                  ("generation_config.json", model.get("generation_config_json"))):
                if changes:
                    path = folder_ / name
                    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
            return folder_
        if model["name"] == "twin":
            if int(transformers.__version__.split(".")[0]) < 5:
                pytest.skip(TWINS_NEED_TRANSFORMERS_5)
            if hashlib.sha256((TWIN / "model.safetensors").read_bytes()).hexdigest() != model["sha256"]:
                pytest.skip("the shipped twin's weights changed since the upstream runs were stored")
            return TWIN
        if model["name"] == "llada":
            return build_llada_checkpoint(folder / "llada", "llama", seed=0)
        if model["name"] == "llada_mask_prone":
            return _mask_prone_llada(folder / "llada_mask_prone", model["mask_head_scale"])
        assert model["name"] == "dream", model
        return build_dream_checkpoint(folder / "dream", seed=0)

    def load(model: dict):
        key = (model["name"], model["dtype"], json.dumps(model.get("config_json")),
               json.dumps(model.get("generation_config_json")))
        if key not in loaded:
            loaded[key] = load_model(str(build(model)), device="cpu", dtype=model["dtype"], progress=False)
        return loaded[key]

    return load


@pytest.mark.parametrize("case", UPSTREAM["cases"], ids=[case["id"] for case in UPSTREAM["cases"]])
def test_samplers_return_the_ids_upstream_returned(case, upstream_model):
    from longllada_theory.measure.sampling import dream_generate

    loaded = upstream_model(case["model"])
    sampler = diffusion_generate if case["sampler"] == "low_confidence" else dream_generate
    answers = sampler(loaded, case["prompts"], SamplerOptions(**case["options"]),
                      seeds=[case["seed"]] * len(case["prompts"]))
    # bfloat16 forwards round with the CPU's kernels: where upstream gave other ids on this kind of CPU, those
    expected = case.get("upstream_ids_by_cpu", {}).get(torch.backends.cpu.get_cpu_capability(), case["upstream_ids"])
    if case["sampler"] == "dream":  # the package's Dream answers end at the first end-of-text
        eos = getattr(loaded.tokenizer, "eos_token_id", None)
        expected = [ids[:ids.index(eos)] if eos in ids else ids for ids in expected]
    assert answers == expected


def test_upstream_runs_record_their_provenance():
    for source in UPSTREAM["upstream"].values():
        assert len(source["commit"]) == 40 and source["file"] and source["function"]
    assert {case["upstream"] for case in UPSTREAM["cases"]} <= set(UPSTREAM["upstream"])
    assert {case["options"].get("alg") for case in UPSTREAM["cases"]} >= {"entropy", "maskgit_plus", "topk_margin",
                                                                           "origin"}
    merged = UPSTREAM["upstream"]["dream_diffusion_generate"]
    assert merged["transformers"].startswith("4.")  # the major Dream's code runs under (top_k 50 in every config)
    cases = [case for case in UPSTREAM["cases"] if case["upstream"] == "dream_diffusion_generate"]
    assert {50, 7, 5, None} <= {case["options"]["top_k"] for case in cases}
    assert all(case["dream_model_equal"] for case in cases)  # Dream's own model (its forward too) gave the same ids
    assert {case["model"]["dtype"] for case in cases if case["options"]["top_k"] == 50} == {"float32", "bfloat16"}


def test_alg_temp_reaches_dreams_sampler_and_only_it(upstream_model):
    from longllada_theory.measure.sampling import SamplerSettings

    dream = upstream_model({"name": "dream", "dtype": "float32"})
    settings = SamplerSettings(answer_length=8, alg_temp=0.5).resolved(dream)
    assert settings.sampler_options().alg_temp == 0.5
    assert SamplerSettings(answer_length=8).resolved(dream).sampler_options().alg_temp is None
    llada = upstream_model({"name": "llada", "dtype": "float32"})
    with pytest.raises(LongLLaDAError, match="alg_temp"):
        SamplerSettings(answer_length=8, alg_temp=0.5).resolved(llada)
    with pytest.raises(LongLLaDAError, match="alg_temp"):
        SamplerSettings(answer_length=8, alg_temp=-1.0)


# ---------------------------------------------------------- Dream's top-k, and where Dream's defaults come from

MERGED = [case for case in UPSTREAM["cases"] if "package_settings" in case]


@pytest.mark.parametrize("case", MERGED, ids=[case["id"] for case in MERGED])
def test_dream_settings_resolve_as_dreams_diffusion_generate_merges_them(case, upstream_model):
    """LongLLaDA's call (steps, alg entropy, temperature 0.2, top_p 0.95) on Dream's own code took top_k, alg_temp
    and eps from the model's config (config.json over transformers 4.x's top_k 50; generation_config.json unread):
    the package's settings for that call resolve to the same values, under either transformers major, and answer
    with upstream's ids."""
    from longllada_theory.measure.sampling import SamplerSettings, answers

    loaded = upstream_model(case["model"])
    settings = SamplerSettings(**case["package_settings"]).resolved(loaded)
    names = ("steps", "temperature", "top_p", "top_k", "alg", "alg_temp", "eps")
    assert {name: getattr(settings, name) for name in names} == {name: case["upstream_settings"][name]
                                                                 for name in names}
    assert answers(loaded, case["prompts"], settings.sampler_options(),
                   seeds=[case["seed"]] * len(case["prompts"])) == case["upstream_ids"]


def test_dream_defaults_come_from_the_models_config_as_dreams_code_reads_it():
    from longllada_theory.measure.sampling import dream_config_defaults

    published = dream_config_defaults(json.loads(json.dumps(_dream_config())))  # as the file holds it
    assert published == {"temperature": (1.0, "transformers 4.x config default"),
                         "top_p": (1.0, "transformers 4.x config default"),
                         "top_k": (50, "transformers 4.x config default"),
                         "alg": ("origin", "DreamGenerationConfig default"),
                         "alg_temp": (None, "DreamGenerationConfig default"),
                         "eps": (1e-3, "DreamGenerationConfig default")}
    own = dream_config_defaults({"top_k": 7, "alg": "maskgit_plus", "eps": 0.01, "alg_temp": None})
    assert own["top_k"] == (7, "config.json") and own["alg"] == ("maskgit_plus", "config.json")
    assert own["eps"] == (0.01, "config.json") and own["alg_temp"] == (None, "DreamGenerationConfig default")
    assert dream_config_defaults({"top_k": None})["top_k"] == (None, "DreamGenerationConfig default")  # dropped
    with pytest.raises(LongLLaDAError, match="config.json sets top_k"):
        dream_config_defaults({"top_k": "fifty"})


def test_dream_checkpoint_answers_with_top_k_50_and_says_so(upstream_model, capsys, monkeypatch):
    from dataclasses import asdict

    from longllada_theory.measure import sampling
    from longllada_theory.measure.sampling import SamplerSettings, sampler_defaults

    monkeypatch.setattr(sampling, "_REPORTED", set())
    dream = upstream_model({"name": "dream", "dtype": "float32"})
    assert sampler_defaults(dream)["top_k"] == 50 and sampler_defaults(dream)["top_p"] == 0.95
    settings = SamplerSettings(answer_length=8).resolved(dream)
    header = asdict(settings)  # what a results header records: the values the sampler ran with
    assert (header["top_k"], header["top_p"], header["temperature"], header["alg"], header["eps"]) == (
        50, 0.95, 0.2, "entropy", 1e-3)
    assert settings.sampler_options().top_k == 50
    line = capsys.readouterr().err.strip()
    assert line.startswith("dream sampler for ") and "top_k 50 (transformers 4.x config default)" in line
    assert "temperature 0.2 (dream family)" in line and "eps 0.001 (DreamGenerationConfig default)" in line
    SamplerSettings(answer_length=8).resolved(dream)
    assert capsys.readouterr().err == ""  # once per process
    given = SamplerSettings(answer_length=8, top_k=5, top_p=1.0).resolved(dream)
    assert (given.top_k, given.top_p) == (5, 1.0) and "top_k 5 (given)" in capsys.readouterr().err


def test_top_k_is_dreams_option_only_and_0_keeps_every_token(upstream_model):
    import argparse

    from longllada_theory.measure.protocol import add_settings_arguments, settings_from_args
    from longllada_theory.measure.sampling import SamplerSettings, dream_generate

    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, SamplerSettings)
    assert settings_from_args(SamplerSettings, parser.parse_args(["--top-k", "7"])).top_k == 7
    with pytest.raises(LongLLaDAError, match="--top-k"):
        settings_from_args(SamplerSettings, parser.parse_args(["--top-k", "-1"]))
    llada = upstream_model({"name": "llada", "dtype": "float32"})
    assert SamplerSettings(answer_length=8).resolved(llada).top_k is None
    with pytest.raises(LongLLaDAError, match="top_k"):
        SamplerSettings(answer_length=8, top_k=5).resolved(llada)
    dream = upstream_model({"name": "dream", "dtype": "float32"})
    prompts = [[DREAM_BOS_ID, 72, 101, 108, 108, 111]]
    options = SamplerOptions(gen_length=8, steps=4, temperature=0.7, top_p=0.95)
    assert (dream_generate(dream, prompts, replace(options, top_k=0), seeds=[3])
            == dream_generate(dream, prompts, options, seeds=[3]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_top_k_drops_what_dreams_top_k_logits_drops(dtype):
    """``top_k_logits``: every logit below the k-th largest becomes the dtype's lowest value; ties with the k-th
    stay (more than k tokens may be kept)."""
    from longllada_theory.measure.sampling import _top_k

    logits = torch.tensor([[3.0, 1.0, 2.0, 2.0, -1.0], [0.5, 0.5, 0.5, 0.5, 0.5]], dtype=dtype)
    low = torch.finfo(dtype).min
    assert _top_k(logits, 2).tolist() == [[3.0, low, 2.0, 2.0, low], [0.5] * 5]
    assert _top_k(logits, 99).tolist() == logits.tolist()  # k above the vocabulary: every token
    assert _top_k(logits, 2).dtype == dtype
