"""An lm-evaluation-harness model, ``longllada``: any model the package loads — AR or diffusion, with its RoPE scaling
applied and verified at load — evaluated on the harness's tasks (``longllada lm-eval --model_args pretrained=…``).

- ``loglikelihood``: AR models exactly, Σ log p(continuation | context) from one forward pass, greedy when every
  continuation token is the argmax. Diffusion models by the Monte-Carlo estimate of LLaDA's lm-eval adapter
  (``get_loglikelihood`` of ``eval_llada.py``, ML-GSAI/LLaDA): the continuation's n tokens masked m at a time with
  m spread evenly over 1..n across the samples (stratified), the clean context unmasked, and

      log p(continuation | context) ≈ −n · mean_s [ (1/m_s) Σ_{i masked in s} −log p_θ(x_i | unmasked) ],

  which is the adapter's −E[Σ_masked CE / (m/n)]
  (:func:`~longllada_theory.measure.protocols.perplexity.diffusion_chunk_samples` with ``estimator="paper"``).
  Greedy, with ``check_greedy=True``, when the family's sampler at temperature 0, unmasking one token per step,
  writes the continuation back (LLaDA's ``suffix_greedy_prediction``; off by default, as LLaDA recommends).
- ``loglikelihood_rolling``: AR models in disjoint windows of ``max_length`` tokens (the harness's rolling windows);
  refused for diffusion models (LLaDA's adapter has none either — ``longllada ppl`` measures that).
- ``generate_until``: greedy decoding (AR) or the family's sampler (diffusion), cut at the first stop string.

Data-parallel as the harness's own HF model runs: under ``accelerate launch`` (or ``torchrun``) with more than one
process, each process loads the model on its own device (``cuda:LOCAL_RANK``, or the CPU), the harness hands it its
rank's share of the requests, and the results are gathered on rank 0. Every request is scored with the same seed
wherever it runs, so the scores equal one process's.

Contexts and continuations are tokenised as the harness and LLaDA's adapter do: trailing spaces of the context move
to the continuation and the continuation's tokens are those of context + continuation after the context's.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from .errors import LongLLaDAError
from .lengths import parse_length
from .measure.protocols.perplexity import diffusion_chunk_samples
from .measure.sampling import SamplerSettings, answers
from .models.loading import load_model
from .values import Length, Real, Whole, parsed


@register_model("longllada")
class LongLLaDALM(LM):
    """``pretrained``: a model id, folder, ``.gguf``, preset or ``toy:ar``/``toy:diffusion``; ``target`` with
    ``method`` or ``rope_scale``: the RoPE scaling (checked after loading); ``mc``, ``mc_batch``: Monte-Carlo samples
    of a diffusion log-likelihood and how many share a forward (LLaDA's adapter: 128, 32); ``max_gen_toks``,
    ``steps``, ``block_length``, ``temperature``: the sampler (defaults: the task's ``max_gen_toks``, one token per
    step, one block, the family's); ``max_length``: rolling windows (default: the target or the training length)."""

    def __init__(self, pretrained: str, target: str | int | None = None, method: str = "longllada",
                 rope_scale: float | None = None, train_length: int | None = None, kind: str | None = None,
                 dtype: str = "auto", device: str | None = None, trust_remote_code: bool = False, mc: int = 128,
                 mc_batch: int = 32, check_greedy: bool = False, max_gen_toks: int | None = None,
                 steps: int | None = None, block_length: int | None = None, temperature: float | None = None,
                 max_length: int | None = None, seed: int = 0, batch_size: int | str | None = None,
                 max_batch_size: int | None = None, **unknown):
        super().__init__()
        self.accelerator = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # launched as one of several processes
            import torch
            from accelerate import Accelerator

            self.accelerator = Accelerator(cpu=not torch.cuda.is_available())  # gloo on a machine without a GPU
            self._rank, self._world_size = self.accelerator.process_index, self.accelerator.num_processes
            placed = self.accelerator.device  # the process's own device wins over --device, as in the harness
            device = "cpu" if placed.type == "cpu" else str(placed)
        if unknown:
            raise LongLLaDAError(f"model_args {', '.join(sorted(unknown))} unknown; expected pretrained, target, "
                                 "method, rope_scale, train_length, kind, dtype, device, trust_remote_code, mc, "
                                 "mc_batch, check_greedy, max_gen_toks, steps, block_length, temperature, max_length, "
                                 "seed")
        self.loaded = load_model(str(pretrained), target=parse_length(target, "target") if target else None,
                                 method=method, rope_scale=rope_scale, train_length=train_length, kind=kind,
                                 dtype=dtype, device=device, trust_remote_code=trust_remote_code, progress=False)
        for name, value in (("mc", mc), ("mc_batch", mc_batch)):
            if int(value) < 1:
                raise LongLLaDAError(f"model_args {name}={value} must be at least 1")
        self.mc, self.mc_batch, self.check_greedy, self.seed = int(mc), int(mc_batch), bool(check_greedy), int(seed)
        self.sampler = dict(answer_length=max_gen_toks, steps=steps, block_length=block_length,
                            temperature=temperature)
        plan = self.loaded.plan
        scaled = plan is not None and plan.method != "manual"  # --rope-scale's plan names a reach, not a target
        self.max_length = int(max_length or (plan.target if scaled else self.loaded.spec.train_length))

    def all_gather(self, tensor):
        return tensor if self.world_size <= 1 else self.accelerator.gather(tensor)

    def gather_object(self, obj, dst: int = 0):
        import torch.distributed

        if self.world_size <= 1:
            return [obj]
        gathered = [None] * self.world_size if self.rank == dst else None
        torch.distributed.gather_object(obj, gathered, dst=dst)
        return gathered

    def barrier(self) -> None:
        if self.world_size > 1:
            self.accelerator.wait_for_everyone()

    @property
    def device(self):
        return self.loaded.device

    @property
    def diffusion(self) -> bool:
        return self.loaded.kind == "diffusion"

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        tokenizer = self.loaded.tokenizer
        whole = tokenizer.encode(context + continuation)
        context_ids = tokenizer.encode(context)
        return self.loaded.prefix_ids + context_ids, whole[len(context_ids):]

    def _start(self) -> list[int]:
        """What an AR model conditions on before an empty context: its BOS (prefix) or end-of-text token."""
        config = self.loaded.model.config
        token = getattr(config, "bos_token_id", None) or getattr(config, "eos_token_id", None) or 0
        return self.loaded.prefix_ids or [int(token[0] if isinstance(token, list) else token)]

    def _ar_loglikelihood(self, context: list[int], continuation: list[int]) -> tuple[float, bool]:
        import torch

        context = context or self._start()
        ids = torch.tensor([context + continuation], device=self.loaded.device)
        with torch.no_grad():
            logits = self.loaded.model(input_ids=ids).logits[0, len(context) - 1:-1].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        target = ids[0, len(context):]
        return (float(log_probs.gather(1, target[:, None]).sum()),
                bool((log_probs.argmax(-1) == target).all()))

    def _diffusion_loglikelihood(self, context: list[int], continuation: list[int]) -> tuple[float, bool]:
        ids = context + continuation
        samples = diffusion_chunk_samples(self.loaded, ids, len(context), len(ids), self.mc, "paper", self.seed,
                                          self.mc_batch, stratify=True)
        scored = len(ids) - max(len(context), self.loaded.logits_shift)
        greedy = False
        if self.check_greedy:
            settings = SamplerSettings(answer_length=len(continuation)).resolved(self.loaded)
            written = answers(self.loaded, [context], replace(settings, temperature=0.0).sampler_options(),
                              seeds=[self.seed])[0]
            greedy = written == continuation
        return -scored * float(samples.mean()), greedy

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        from tqdm.auto import tqdm

        score = self._diffusion_loglikelihood if self.diffusion else self._ar_loglikelihood
        results = []
        for request in tqdm(requests, desc="log-likelihoods", disable=disable_tqdm):
            context, continuation = self._encode_pair(*request.args)
            if not continuation:
                raise LongLLaDAError(f"the continuation {request.args[1]!r} has no token of its own")
            results.append(score(context, continuation))
            self.cache_hook.add_partial("loglikelihood", request.args, results[-1])
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        from tqdm.auto import tqdm

        if self.diffusion:
            raise LongLLaDAError("rolling log-likelihoods (perplexity tasks) are defined here for AR models only; "
                                 "`longllada ppl` measures a diffusion model's perplexity")
        results = []
        for request in tqdm(requests, desc="rolling log-likelihoods", disable=disable_tqdm):
            ids = self.loaded.tokenizer.encode(request.args[0])
            windows = get_rolling_token_windows(ids, self._start()[-1], self.max_length, context_len=1)
            total = sum(self._ar_loglikelihood(*make_disjoint_window(w))[0] for w in windows)
            results.append(total)
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, total)
        return results

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        from tqdm.auto import tqdm

        results = []
        for request in tqdm(requests, desc="generations", disable=disable_tqdm):
            context, options = request.args
            until = options.get("until") or []
            until = [until] if isinstance(until, str) else until
            given = {k: v for k, v in self.sampler.items() if v is not None}
            given.setdefault("answer_length", int(options.get("max_gen_toks", 256)))
            settings = SamplerSettings(**given).resolved(self.loaded)
            ids = self.loaded.prefix_ids + self.loaded.tokenizer.encode(context)
            reply = answers(self.loaded, [ids], settings.sampler_options(), seeds=[self.seed])[0]
            text = self.loaded.tokenizer.decode(reply)
            for stop in until:
                text = text.split(stop)[0]
            results.append(text)
            self.cache_hook.add_partial("generate_until", request.args, text)
        return results


#: how each model argument's text is read (the rest are the loader's names: method, kind, dtype, device, …)
MODEL_ARGUMENTS = {"target": Length(), "rope_scale": Real(0, above=True), "train_length": Length(),
                   "mc": Whole(1, 100_000), "mc_batch": Whole(1, 100_000), "max_gen_toks": Whole(1, 4096),
                   "steps": Whole(1, 4096), "block_length": Whole(1, 4096), "temperature": Real(0),
                   "max_length": Length(), "seed": Whole(0, 2 ** 63 - 1)}


def check_model_args(text: str) -> None:
    """``--model_args`` of the ``longllada`` model checked before the harness starts: ``key=value`` pairs, every key
    one of :class:`LongLLaDALM`'s, ``pretrained`` given, each value readable (one clear error otherwise)."""
    import inspect

    known = [name for name in inspect.signature(LongLLaDALM.__init__).parameters if name not in ("self", "unknown")]
    pairs = {}
    for part in (p for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise LongLLaDAError(f"--model_args {part!r}: expected key=value pairs separated by commas, e.g. "
                                 "pretrained=toy:diffusion,target=16k")
        pairs[key.strip()] = value.strip()
    unknown = sorted(set(pairs) - set(known))
    if unknown:
        raise LongLLaDAError(f"--model_args {', '.join(unknown)} unknown; expected {', '.join(known)}")
    if "pretrained" not in pairs:
        raise LongLLaDAError("--model_args needs pretrained=MODEL (a hub id, folder, .gguf, preset or toy:TWIN)")
    for key, parse in MODEL_ARGUMENTS.items():
        if key in pairs:
            parsed(parse, pairs[key], f"--model_args {key}")


def main(argv: list[str]) -> int:
    """The harness's own command line with the ``longllada`` model registered (``--model longllada`` by default)."""
    from lm_eval.__main__ import cli_evaluate

    if "--model" not in argv:
        argv = ["--model", "longllada", *argv]
    if argv[argv.index("--model") + 1:argv.index("--model") + 2] == ["longllada"]:
        given = [a.split("=", 1)[1] for a in argv if a.startswith("--model_args=")] or [
            argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--model_args"]
        check_model_args(given[0] if given else "")
    sys.argv = ["lm-eval", *argv]
    cli_evaluate()
    return 0
