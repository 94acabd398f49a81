"""Answers from a model, by the sampler its family evaluates with (one implementation each, used by the NIAH grid,
the twins and the notebooks):

- ``greedy`` — AR models: transformers' ``generate`` without sampling.
- ``low_confidence`` — LLaDA's sampler (Nie et al. 2025, arXiv 2502.09992, "low-confidence remasking"; ``generate``
  in LLaDA's ``generate.py``, which LongLLaDA's ``llada/llada_generate.py`` copies): the answer starts as
  ``gen_length`` [MASK] tokens, split into blocks of ``block_length`` filled left to right; each block gets
  steps // blocks steps and unmasks its ``block_length`` tokens over them (n per step: block_length // those steps,
  the remainder to the first steps). At every step the model predicts every answer position; the prediction is the
  argmax of the logits or, at temperature τ > 0, of exp(logits) / (−log u)^τ in float64 (Gumbel-max); its
  confidence is its softmax probability in the model's dtype (``random``: u ~ U(0, 1) in float32). The ``n`` most
  confident masked positions up to the end of the current block are unmasked: as in ``generate.py`` a position of
  an earlier block that is still masked (its prediction was the mask token itself, which ``predict_mask`` allows
  as ``generate.py`` does) competes again, and so may take one of the current block's ``n`` places.
  ``generate.py`` would also fill a mask token inside the prompt; here the prompt is left as it is.
- ``dream`` — Dream's sampler (``DreamGenerationMixin._sample`` in ``generation_utils.py`` of the Hugging Face
  repositories Dream-org/Dream-v0-*-7B, which ``diffusion_generate`` runs): no blocks; times
  t_i = linspace(1, ε, steps + 1); at step i every masked position is predicted (logits shifted by one) and a token
  drawn per position by ``sample_tokens``: logits / temperature, top-p, then top-k (``top_k_logits``: the logits
  below the k-th largest; both set the tokens they drop to the dtype's lowest value, ``torch.finfo(dtype).min``),
  then the argmax at temperature 0 or a draw from ``torch.distributions.Categorical`` — whose argument check
  fails where the normalised probabilities do not sum to 1 within 1e-6 (frequent in bfloat16), and then upstream
  keeps the argmax for the step, as here. ``alg``: ``origin`` unmasks each masked position with probability
  1 − t_{i+1}/t_i; the others keep the ⌊masked · (1 − t_{i+1}/t_i)⌋ positions (all that remain at the last step)
  of highest confidence (``entropy``: Σ p·log p; ``maskgit_plus``: the drawn token's probability; ``topk_margin``:
  top-1 − top-2 probability), or with ``alg_temp`` > 0 draws them without replacement from
  softmax(confidence / alg_temp). All in the model's dtype. The answer ends at its first end-of-text token, as
  Dream's README example cuts it (``decode`` then ``split(eos_token)[0]``); LongLLaDA's evaluation does not cut
  there: ``llada/llada_wrapper.py`` decodes with ``skip_special_tokens=True`` before splitting at ``eos_token``, so
  the split finds nothing and its answers keep the text after an end-of-text token.

  Where its caller passes no value, Dream's ``diffusion_generate`` takes it from the model's config, not from its
  ``generation_config.json`` (``_prepare_generation_config``: ``DreamGenerationConfig.from_model_config(self.config)``
  then ``update(**kwargs)``). Under transformers 4.x — the only major its code runs under (Dream pins 4.46.2,
  LongLLaDA 4.46.3; under 5.x ``DreamGenerationConfig.validate`` refuses the argument ``update`` passes) — every
  config object carries ``temperature`` 1.0, ``top_k`` 50 and ``top_p`` 1.0 unless config.json sets them; the rest
  falls to ``DreamGenerationConfig``'s own defaults. So LongLLaDA's evaluation (``steps``, ``alg`` entropy,
  ``temperature`` 0.2, ``top_p`` 0.95 passed) draws from the 50 most likely tokens: :func:`dream_config_defaults`
  reads the same values from the checkpoint's config.json whichever transformers is installed.

Randomness: row r of a batch draws from its own CPU generator seeded with ``seeds[r]`` (a row's answer does not
depend on the batch), and draws what upstream draws — same shapes, dtypes and order — so a batch of one returns the
ids upstream returns on the CPU after ``torch.manual_seed(seed)`` (``tests/test_sampler.py`` checks stored upstream
runs). Upstream draws all rows of a batch from one global generator on the model's device: larger batches and GPU
runs follow the same distributions with other draws. As upstream, LLaDA's Gumbel noise covers every position, the
prompt's too (drawn and dropped), so at τ > 0 a step draws sequence length × vocabulary numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import LongLLaDAError
from ..models.loading import forward_logits
from ..models.tokenizers import transformers_quiet
from ..registry import Registry
from ..values import Real, Whole, YesNo
from .protocol import option

if TYPE_CHECKING:
    from ..models.loading import LoadedModel

REMASKING = ("low_confidence", "random")
DREAM_ALGORITHMS = ("entropy", "maskgit_plus", "topk_margin", "origin")
DREAM_EPSILON = 1e-3


@dataclass(frozen=True)
class SamplerOptions:
    """What a sampler needs besides the prompts: answer length, blocks, steps and how tokens are drawn."""

    gen_length: int = 32
    block_length: int | None = None    # None: one block (the whole answer)
    steps: int | None = None           # None: one token per step
    temperature: float = 0.0
    top_p: float | None = None         # Dream: nucleus sampling
    top_k: int | None = None           # Dream: keep the k largest logits (None or 0: all)
    alg: str = "entropy"               # Dream: how the positions to unmask are chosen (DREAM_ALGORITHMS)
    alg_temp: float | None = None      # Dream: > 0 draws the positions from softmax(confidence / alg_temp)
    eps: float = DREAM_EPSILON         # Dream: the schedule's last time, t = linspace(1, eps, steps + 1)
    predict_mask: bool = False         # LLaDA: may the argmax be the mask token (as generate.py allows)
    remasking: str = "low_confidence"  # LLaDA: keep the most confident (or random) predictions

    @property
    def blocks(self) -> int:
        return self.gen_length // (self.block_length or self.gen_length)

    @property
    def step_count(self) -> int:
        return self.steps or self.gen_length


def transfer_schedule(masked: int, steps: int) -> list[int]:
    """How many tokens to unmask at each of ``steps`` steps: masked // steps each, the remainder to the first."""
    base, remainder = divmod(masked, steps)
    return [base + (1 if i < remainder else 0) for i in range(steps)]


def check_sampler(gen_length: int, block_length: int, steps: int) -> int:
    """Validate the sampler's lengths; returns the steps per block."""
    if gen_length <= 0 or block_length <= 0 or steps <= 0:
        raise LongLLaDAError("answer length, block length and steps must be positive",
                             parameters=("answer_length", "block_length", "steps"))
    if gen_length % block_length:
        raise LongLLaDAError(f"answer length {gen_length} must be a multiple of the block length {block_length}",
                             parameters=("block_length",))
    blocks = gen_length // block_length
    if steps % blocks:
        raise LongLLaDAError(f"steps {steps} must be a multiple of the number of blocks ({blocks})",
                             parameters=("steps",))
    return steps // blocks


def _masked_batch(loaded: LoadedModel, prompts: Sequence[Sequence[int]], gen_length: int):
    """[batch, prompt + gen_length] ids with the answer masked."""
    import torch

    if loaded.mask_token_id is None:
        raise LongLLaDAError(f"{loaded.name} has no mask token id; a diffusion sampler needs one")
    if len({len(p) for p in prompts}) != 1:
        raise LongLLaDAError("a batch of prompts for the diffusion sampler must share one length")
    return torch.tensor([list(p) + [loaded.mask_token_id] * gen_length for p in prompts], dtype=torch.long,
                        device=loaded.device)


def _answer_logits(loaded: LoadedModel, x, gen_length: int):
    """Logits [batch, gen_length, vocab] in the model's dtype (as upstream computes with them) whose row j predicts
    answer position j (shift 1: the logits of the position before it)."""
    shift = loaded.logits_shift
    return forward_logits(loaded.model, x, keep_last=gen_length + shift)[:, :gen_length]


def _generators(seeds: Sequence[int] | None, count: int):
    import torch
    return [torch.Generator().manual_seed(int(s)) for s in (seeds or [0] * count)]


def _uniform_tail(generator, shape: tuple[int, ...], keep: int, dtype):
    """``torch.rand(shape, generator=generator, dtype=dtype)[-keep:]`` without holding the rows before: they are drawn
    in chunks and dropped (CPU draws run in sequence, so the generator ends where one ``torch.rand`` leaves it)."""
    import math

    import torch

    skip, width = shape[0] - keep, math.prod(shape[1:])
    chunk = max(1, 2**22 // max(width, 1))
    for done in range(0, skip, chunk):
        torch.rand((min(chunk, skip - done), *shape[1:]), generator=generator, dtype=dtype)
    return torch.rand((keep, *shape[1:]), generator=generator, dtype=dtype)


def diffusion_generate(loaded: LoadedModel, prompts: Sequence[Sequence[int]],
                       options: SamplerOptions = SamplerOptions(),
                       seeds: Sequence[int] | None = None) -> list[list[int]]:
    """LLaDA's low-confidence remasking, ``generate`` in LLaDA's ``generate.py`` (module docstring); returns each
    answer's ids (a position whose last prediction was the mask token is still the mask token)."""
    import torch

    o = options
    if o.remasking not in REMASKING:
        raise LongLLaDAError(f"remasking {o.remasking!r} is unknown; expected one of {', '.join(REMASKING)}")
    block_length = o.block_length or o.gen_length
    per_block = check_sampler(o.gen_length, block_length, o.step_count)
    x = _masked_batch(loaded, prompts, o.gen_length)
    generators, mask, start = _generators(seeds, len(prompts)), loaded.mask_token_id, len(prompts[0])
    length = x.shape[1]
    for block in range(o.gen_length // block_length):
        end = start + (block + 1) * block_length  # the positions from here on wait for their block
        for count in transfer_schedule(block_length, per_block):
            logits = _answer_logits(loaded, x, o.gen_length)
            if not o.predict_mask:
                logits[..., mask] = -torch.inf
            for row, generator in enumerate(generators):
                if o.temperature > 0:  # generate.py's add_gumbel_noise, u drawn for every position of the sequence
                    u = _uniform_tail(generator, (length, logits.shape[-1]), o.gen_length, torch.float64)
                    gumbel = (-torch.log(u.to(logits.device))) ** o.temperature
                    guess = (logits[row].double().exp() / gumbel).argmax(-1)
                else:
                    guess = logits[row].argmax(-1)
                if o.remasking == "low_confidence":
                    p = torch.softmax(logits[row], -1).gather(-1, guess[:, None])[:, 0]
                else:
                    p = _uniform_tail(generator, (length,), o.gen_length, torch.float32).to(logits.device)
                # every masked position before `end` may be chosen, an earlier block's too; top-k over the whole
                # row as generate.py, so that equal confidences are ranked alike
                confidence = torch.full((length,), -torch.inf, dtype=p.dtype, device=p.device)
                confidence[start:] = p.masked_fill(x[row, start:] != mask, -torch.inf)
                confidence[end:] = -torch.inf
                chosen = confidence.topk(count).indices
                x[row, chosen] = guess[chosen - start]
    return x[:, start:].tolist()


def _top_p(logits, top_p: float):
    """Dream's ``top_p_logits``: keep the smallest set of tokens whose probability reaches ``top_p`` (the most likely
    always kept), the others set to the dtype's lowest value."""
    import torch

    ordered, order = torch.sort(logits, descending=True, dim=-1)
    cumulative = torch.cumsum(torch.softmax(ordered, -1), -1)
    drop = cumulative > top_p
    drop[..., 1:] = drop[..., :-1].clone()
    drop[..., 0] = False
    return logits.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), torch.finfo(logits.dtype).min)


def _top_k(logits, top_k: int):
    """Dream's ``top_k_logits``: the logits below the k-th largest set to the dtype's lowest value (ties with the
    k-th kept)."""
    import torch

    top_k = min(top_k, logits.size(-1))
    drop = logits < torch.topk(logits, top_k)[0][..., -1, None]
    return logits.masked_fill(drop, torch.finfo(logits.dtype).min)


def _sample_tokens(logits, options: SamplerOptions, generator):
    """Dream's ``sample_tokens`` for the masked positions of one row: (tokens, confidence), in the logits' dtype."""
    import torch
    from torch.distributions import constraints

    if options.temperature > 0:
        logits = logits / options.temperature
    if options.top_p is not None and options.top_p < 1:
        logits = _top_p(logits, options.top_p)
    if options.top_k:
        logits = _top_k(logits, options.top_k)
    probs = torch.softmax(logits, -1)
    confidence, tokens = probs.max(-1)
    if options.temperature > 0:  # Categorical(probs).sample(); where its argument check fails upstream keeps the max
        normalised = probs / probs.sum(-1, keepdim=True)
        if constraints.simplex.check(normalised).all():
            tokens = torch.multinomial(normalised.cpu(), 1, True, generator=generator)[:, 0].to(probs.device)
            confidence = probs.gather(-1, tokens[:, None])[:, 0]
    if options.alg == "topk_margin":
        top = probs.topk(2, dim=-1).values
        confidence = top[:, 0] - top[:, 1]
    elif options.alg == "entropy":
        confidence = (probs * torch.log(probs + 1e-10)).sum(-1)
    return tokens, confidence


def dream_generate(loaded: LoadedModel, prompts: Sequence[Sequence[int]], options: SamplerOptions = SamplerOptions(),
                   seeds: Sequence[int] | None = None) -> list[list[int]]:
    """Dream's sampler, ``DreamGenerationMixin._sample`` in Dream's ``generation_utils.py`` (module docstring);
    returns each answer's ids up to its first end-of-text."""
    import torch

    o = options
    if o.alg not in DREAM_ALGORITHMS:
        raise LongLLaDAError(f"Dream sampling algorithm {o.alg!r} is unknown; expected one of "
                             f"{', '.join(DREAM_ALGORITHMS)}", parameters=("alg",))
    if o.blocks != 1:
        raise LongLLaDAError("Dream's sampler has no blocks: leave block_length at the answer length",
                             parameters=("block_length",))
    x = _masked_batch(loaded, prompts, o.gen_length)
    generators, mask, start = _generators(seeds, len(prompts)), loaded.mask_token_id, len(prompts[0])
    times = torch.linspace(1, o.eps, o.step_count + 1)  # float32, as upstream (the counts round alike)
    for i in range(o.step_count):
        logits = _answer_logits(loaded, x, o.gen_length)
        t, s, last = times[i], times[i + 1], i == o.step_count - 1
        for row, generator in enumerate(generators):
            masked = start + (x[row, start:] == mask).nonzero()[:, 0]
            if not len(masked):
                continue
            row_logits = logits[row, masked - start]
            if o.alg == "origin":  # each masked position is decided with probability 1 - s/t
                move = (torch.rand(len(masked), generator=generator) < (1 if last else 1 - s / t)).to(x.device)
                tokens, _ = _sample_tokens(row_logits[move], o, generator)
                x[row, masked[move]] = tokens
                continue
            tokens, confidence = _sample_tokens(row_logits, o, generator)
            count = len(masked) if last else int(torch.tensor(float(len(masked))) * (1 - s / t))
            if not count:
                continue
            full = torch.full((x.shape[1],), -torch.inf, dtype=confidence.dtype, device=confidence.device)
            full[masked] = confidence  # over the whole row, as upstream (its draws and ties)
            if o.alg_temp:
                weights = torch.softmax(full / o.alg_temp, -1).cpu()
                chosen = torch.multinomial(weights, count, generator=generator).to(x.device)
            else:
                chosen = full.topk(count).indices
            guess = torch.full_like(x[row], mask)
            guess[masked] = tokens
            x[row, chosen] = guess[chosen]
    return [_until_end(row, loaded) for row in x[:, start:].tolist()]


def _until_end(ids: list[int], loaded: LoadedModel) -> list[int]:
    eos = getattr(loaded.tokenizer, "eos_token_id", None)
    return ids[:ids.index(eos)] if eos is not None and eos in ids else ids


def greedy_generate(loaded: LoadedModel, prompts: Sequence[Sequence[int]], options: SamplerOptions = SamplerOptions(),
                    seeds: Sequence[int] | None = None) -> list[list[int]]:
    """Greedy decoding with the KV cache (transformers ``generate``), prompts of one length in one batch."""
    import torch

    if len({len(p) for p in prompts}) != 1:
        raise LongLLaDAError("a batch of prompts for greedy decoding must share one length")
    inputs = torch.tensor([list(p) for p in prompts], dtype=torch.long, device=loaded.device)
    with transformers_quiet(), torch.no_grad():
        out = loaded.model.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=options.gen_length,
                                    do_sample=False, use_cache=True, pad_token_id=_pad_id(loaded))
    return out[:, inputs.shape[1]:].tolist()


def _pad_id(loaded: LoadedModel) -> int:
    config = loaded.model.config
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(config, name, None)
        if isinstance(value, list):
            value = value[0]
        if value is not None:
            return int(value)
    return 0


def model_generate(loaded: LoadedModel, prompts: Sequence[Sequence[int]], options: SamplerOptions = SamplerOptions(),
                   seeds: Sequence[int] | None = None) -> list[list[int]]:
    """A model's own ``generate`` with its checkpoint's generation settings (transformers' DiffusionGemma: block
    diffusion over canvases), ``gen_length`` new tokens; randomness from torch's global generator seeded with the
    batch's first seed (rows of a batch are not independent)."""
    import torch

    if len({len(p) for p in prompts}) != 1:
        raise LongLLaDAError("a batch of prompts must share one length")
    inputs = torch.tensor([list(p) for p in prompts], dtype=torch.long, device=loaded.device)
    torch.manual_seed(int((seeds or [0])[0]))
    with transformers_quiet(), torch.no_grad():
        out = loaded.model.generate(inputs, max_new_tokens=options.gen_length)
    sequences = getattr(out, "sequences", out)
    return [_until_end(row, loaded) for row in sequences[:, inputs.shape[1]:].tolist()]


#: sampler name (a model family's ``sampler``) → function (loaded, prompts, options, seeds) → answers
SAMPLERS: Registry[Callable[..., list[list[int]]]] = Registry("samplers", "sampler", {
    "greedy": greedy_generate,
    "low_confidence": diffusion_generate,
    "dream": dream_generate,
    "model_generate": model_generate,
})


#: the options of :class:`SamplerSettings` each sampler takes (answer_length and batch_size: every one)
SAMPLER_OPTIONS: dict[str, tuple[str, ...]] = {
    "greedy": (),
    "low_confidence": ("block_length", "steps", "temperature", "predict_mask"),
    "dream": ("steps", "temperature", "top_p", "top_k", "alg", "alg_temp", "eps"),
    "model_generate": (),
}


def sampler_name(loaded: LoadedModel) -> str:
    """The sampler a model answers with: greedy for AR models, its family's for diffusion models."""
    if loaded.kind != "diffusion":
        return "greedy"
    return getattr(getattr(loaded, "family", None), "sampler", "low_confidence")


#: what every transformers 4.x config object carries unless its config.json sets it
#: (``PretrainedConfig._get_global_generation_defaults``; transformers 5 configs carry none of them)
TRANSFORMERS4_CONFIG_GENERATION: dict[str, Any] = {"temperature": 1.0, "top_k": 50, "top_p": 1.0}

#: ``DreamGenerationConfig.__init__``'s defaults of the settings the package takes from a model (its ``steps``, 512,
#: never apply: the package's steps default to the answer length, and LongLLaDA passes steps)
DREAM_GENERATION_CONFIG: dict[str, Any] = {"temperature": 0.0, "top_p": None, "top_k": None, "alg": "origin",
                                           "alg_temp": None, "eps": DREAM_EPSILON}


def _config_value(name: str, value):
    """A generation setting read from config.json, checked as the command line checks it (the error names the
    file)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {"top_k": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
          "top_p": number and 0 < value <= 1, "eps": number and 0 < value <= 1,
          "temperature": number and 0 <= value < float("inf"), "alg_temp": number and 0 <= value < float("inf"),
          "alg": value in DREAM_ALGORITHMS}[name]
    if not ok:
        raise LongLLaDAError(f"the model's config.json sets {name} to {value!r}, which Dream's sampler cannot take; "
                             f"give --{name.replace('_', '-')} to override it")
    return value


def dream_config_defaults(config: dict) -> dict[str, tuple[Any, str]]:
    """What Dream's ``diffusion_generate`` runs with for the settings its caller leaves out, from the checkpoint's
    config.json (``config``) as ``_prepare_generation_config`` reads it under transformers 4.x
    (``DreamGenerationConfig.from_model_config(self.config)``): the file's value, else the 4.x config default
    (:data:`TRANSFORMERS4_CONFIG_GENERATION`: ``top_k`` 50), else ``DreamGenerationConfig``'s own; a null in the file
    falls to the latter (``from_model_config`` drops every None). The checkpoint's ``generation_config.json`` is not
    read: Dream's ``diffusion_generate`` does not read it either. Name → (value, where it comes from)."""
    found = {}
    for name, default in DREAM_GENERATION_CONFIG.items():
        if name in config:
            value, source = config[name], "config.json"
        elif name in TRANSFORMERS4_CONFIG_GENERATION:
            value, source = TRANSFORMERS4_CONFIG_GENERATION[name], "transformers 4.x config default"
        else:
            value = None
        if value is None:
            value, source = default, "DreamGenerationConfig default"
        found[name] = (value if value is None else _config_value(name, value), source)
    return found


#: sampler → the defaults it reads from the model: checkpoint's config.json → name → (value, where from)
MODEL_DEFAULTS: dict[str, Callable[[dict], dict[str, tuple[Any, str]]]] = {"dream": dream_config_defaults}


def sampler_default_sources(loaded: LoadedModel) -> dict[str, tuple[Any, str]]:
    """Every default of the model's sampler with where it comes from: the family's evaluation settings (e.g. Dream's
    temperature 0.2, top-p 0.95, as LongLLaDA passes them) over the model's own (:data:`MODEL_DEFAULTS`: Dream's
    top-k 50)."""
    if loaded.kind != "diffusion":
        return {}
    read = MODEL_DEFAULTS.get(sampler_name(loaded))
    found = dict(read(getattr(loaded, "config_file", None) or {})) if read else {}
    family = getattr(loaded, "family", None)
    for name, value in getattr(family, "sampler_defaults", {}).items():
        found[name] = (value, f"{family.name} family")
    return found


def sampler_defaults(loaded: LoadedModel) -> dict:
    """What the model's sampler runs with for an option left unset (:func:`sampler_default_sources`)."""
    return {name: value for name, (value, _) in sampler_default_sources(loaded).items()}


_REPORTED: set = set()


def report_sampler(key, line: str) -> None:
    """Print a line saying what a sampler runs with on stderr, once per process for each ``key`` (the model and the
    values: settings resolved again, their values now given, are not reported twice)."""
    import sys

    if key not in _REPORTED:
        _REPORTED.add(key)
        print(line, file=sys.stderr)


def answers(loaded: LoadedModel, prompts: Sequence[Sequence[int]], options: SamplerOptions | None = None,
            seeds: Sequence[int] | None = None, **settings) -> list[list[int]]:
    """The model's answers after prompts of one length, in one batch, by its sampler (:func:`sampler_name`).
    ``settings`` (``gen_length``, ``steps``, …) build the options where none are given, over the family's
    defaults."""
    if options is None:
        options = SamplerOptions(**{**sampler_defaults(loaded), **settings})
    return SAMPLERS[sampler_name(loaded)](loaded, prompts, options, seeds)


@dataclass(frozen=True)
class SamplerSettings:
    """The answering options every generating measurement shares (its settings dataclass extends this one): the
    answer length and the diffusion sampler's options, each left unset falling back to the model family's
    evaluation settings (:meth:`resolved`), and how many cells go through the model together."""

    answer_length: int = option("answer tokens", 32, parse=Whole(1, 4096))
    block_length: int | None = option("diffusion sampler block length (default: answer length)", None,
                                      parse=Whole(1, 4096))
    steps: int | None = option("diffusion sampler steps (default: answer length)", None, parse=Whole(1, 4096))
    temperature: float | None = option("diffusion sampler temperature (default: the model family's, else 0)", None,
                                       parse=Real(0))
    top_p: float | None = option("Dream's sampler: nucleus probability (default: the family's, 0.95 for Dream)", None,
                                 parse=Real(0, 1, above=True), legacy=None)
    top_k: int | None = option("Dream's sampler: keep the k most likely tokens, 0 for all (default: the model's, as "
                               "Dream's diffusion_generate reads it from its config: 50 unless config.json sets "
                               "top_k)", None, parse=Whole(0, 10**7), legacy=None)
    alg: str | None = option("Dream's sampler: how the positions to unmask are chosen (default: the family's, "
                             "entropy for Dream)", None, choices=DREAM_ALGORITHMS, legacy=None)
    alg_temp: float | None = option("Dream's sampler: > 0 draws the positions to unmask from softmax(confidence / "
                                    "alg_temp) instead of taking the most confident (default: the family's, else the "
                                    "model's config.json, else none)", None, parse=Real(0), legacy=None)
    eps: float | None = option("Dream's sampler: its schedule's last time, t = linspace(1, eps, steps + 1) "
                               "(default: the model's config.json, else Dream's 0.001)", None,
                               parse=Real(0, 1, above=True), legacy=None)
    predict_mask: bool | None = option("LLaDA's sampler: let the argmax be the mask token, as LLaDA's generate.py "
                                       "does (default: the family's, yes for LLaDA)", None,
                                       parse=YesNo(), metavar="yes|no", legacy=None)
    batch_size: int = option("cells of one length answered in one batch (fixed groups, so resuming is exact)", 1,
                             parse=Whole(1, 4096))

    def __post_init__(self):
        for name in ("block_length", "steps"):  # the sampler's defaults: one block, one step per token
            if getattr(self, name) is None:
                object.__setattr__(self, name, self.answer_length)
        check_sampler(self.answer_length, self.block_length, self.steps)
        if self.temperature is not None and not 0 <= self.temperature < float("inf"):
            raise LongLLaDAError(f"temperature {self.temperature} must be a finite number ≥ 0",
                                 parameters=("temperature",))
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise LongLLaDAError(f"top_p {self.top_p} must be in (0, 1]", parameters=("top_p",))
        if self.top_k is not None and not (isinstance(self.top_k, int) and self.top_k >= 0):
            raise LongLLaDAError(f"top_k {self.top_k} must be a whole number ≥ 0", parameters=("top_k",))
        if self.eps is not None and not 0 < self.eps <= 1:
            raise LongLLaDAError(f"eps {self.eps} must be in (0, 1]", parameters=("eps",))
        if self.alg_temp is not None and not 0 <= self.alg_temp < float("inf"):
            raise LongLLaDAError(f"alg_temp {self.alg_temp} must be a finite number ≥ 0", parameters=("alg_temp",))
        if self.batch_size < 1:
            raise LongLLaDAError(f"batch_size {self.batch_size} must be at least 1", parameters=("batch_size",))

    def given(self) -> list[str]:
        """The sampler options set to something other than what every sampler does anyway (one block, one step per
        token, temperature 0)."""
        same = {"block_length": self.answer_length, "steps": self.answer_length, "temperature": 0.0}
        return [name for name in ("block_length", "steps", "temperature", "top_p", "top_k", "alg", "alg_temp", "eps",
                                  "predict_mask")
                if getattr(self, name) is not None and getattr(self, name) != same.get(name)]

    def resolved(self, loaded: LoadedModel):
        """The settings with every sampler option left unset (block length and steps: equal to the answer length)
        filled from the model family's evaluation settings, then from the model's own
        (:func:`sampler_default_sources`; temperature 0 where neither names one); an AR model
        keeps the diffusion-only ones unset. These are the values the sampler runs with (a results header records
        them), and a diffusion sampler's are reported once on stderr, each with where it comes from. An option the
        model's sampler does not take is refused, with the sampler named."""
        sampler = sampler_name(loaded)
        ignored = [name for name in self.given() if name not in SAMPLER_OPTIONS[sampler]]
        if ignored:
            takes = ", ".join(SAMPLER_OPTIONS[sampler]) or "only the answer length"
            raise LongLLaDAError(f"{', '.join(ignored)}: {loaded.name} answers with the {sampler} sampler, which "
                                 f"takes {takes}", parameters=tuple(ignored))
        sources = sampler_default_sources(loaded)
        filled = {name: sources[name][0] if name in sources else None
                  for name in ("top_p", "top_k", "alg", "alg_temp", "eps", "predict_mask")
                  if getattr(self, name) is None}
        if self.temperature is None:
            filled["temperature"] = float(sources.get("temperature", (0.0,))[0])
        for name in ("block_length", "steps"):  # a family's blocks (block diffusion) where none were given
            if name in sources and getattr(self, name) == self.answer_length:
                filled[name] = min(int(sources[name][0]), self.answer_length)
        settings = replace(self, **filled)
        if SAMPLER_OPTIONS[sampler]:
            values = tuple(getattr(settings, name) for name in ("answer_length", *SAMPLER_OPTIONS[sampler]))
            report_sampler((id(loaded), loaded.name, values), settings.report(loaded, self, sources))
        return settings

    def report(self, loaded: LoadedModel, unresolved: SamplerSettings, sources: dict) -> str:
        """One line: the model's sampler and each value it runs with (these resolved settings), with where it comes
        from (``unresolved``: the settings as given)."""
        def shown(value) -> str:
            return "none" if value is None else ("yes" if value else "no") if isinstance(value, bool) else (
                f"{value:g}" if isinstance(value, float) else str(value))

        parts = [f"answer_length {self.answer_length}"]
        for name in SAMPLER_OPTIONS[sampler_name(loaded)]:
            given = getattr(unresolved, name)
            where = ("given" if given is not None and (name not in ("block_length", "steps")
                                                       or given != self.answer_length) else
                     sources[name][1] if name in sources else
                     "the answer length" if name in ("block_length", "steps") else "package default")
            parts.append(f"{name} {shown(getattr(self, name))} ({where})")
        return f"{sampler_name(loaded)} sampler for {loaded.name}: {', '.join(parts)}"

    def sampler_options(self) -> SamplerOptions:
        given = {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k, "alg": self.alg,
                 "alg_temp": self.alg_temp, "eps": self.eps, "predict_mask": self.predict_mask}
        return SamplerOptions(gen_length=self.answer_length, block_length=self.block_length, steps=self.steps,
                              **{k: v for k, v in given.items() if v is not None})
