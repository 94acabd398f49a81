"""Training the twins on CPU: deterministic from the seed, resumable, with a training record next to each
checkpoint (loss curve, passkey retrieval at T along the way, steps, tokens/s, and throughput as a share of the CPU's
measured matmul rate).

The study (``longllada toy train``) trains, for each seed, three twins with one schedule and one set of
hyperparameters — only the objective, and where a twin starts, differ:

* ``ar``: ``ar-base`` from scratch (next-token loss), then ``ar`` continuing it;
* ``diffusion`` (adapted from the AR twin, as Dream-7B from Qwen2.5): from ``ar-base``, bidirectional attention and
  LLaDA's masked-diffusion loss for the same steps as ``ar``; it keeps the AR logits shift (logits at i predict
  token i+1);
* ``diffusion-scratch`` (LLaDA's recipe): ``diffusion-scratch-base`` from scratch with the masked-diffusion loss, then
  ``diffusion-scratch`` continuing it; logits shift 0, as LLaDA.

Both objectives see the same rows and give every token the same weight (:func:`loss_weights`): 1 for text,
``answer_weight`` for each passkey answer token, and in a share ``answer_only_share`` of the passkey rows — the same
rows for every twin of a seed — only the answer counts (SFT-style: the prompt is context, not target; LLaDA's SFT never
masks the prompt, an AR SFT computes no loss on it). Each loss is normalised by the total weight of the positions it
can predict, so under uniform logits both are exactly log V per token (in expectation for the Monte-Carlo masks).
LLaDA's masked-diffusion loss (arXiv 2502.09992, eq. 3): per row t ~ U(ε, 1), each token masked with probability t,
cross-entropy on masked tokens weighted by 1/t — E[mask/t] = 1, so its expected weight per token is the AR loss's; an
answer-only row masks exactly the answer slots the evaluation masks (probability 1, weight 1).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..measure.inputs.texts import load_corpus
from ..measure.protocols.niah import NiahSettings, niah_cells
from ..models.loading import LoadedModel
from ..models.spec import spec_from_config
from ..models.tokenizers import ByteTokenizer
from .data import MASK_ID, training_batch
from .model import TwinShape, build_twin

EPSILON = 1e-3


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str                  # "ar" or "diffusion"
    steps: int
    init: str | None = None    # stage whose final weights start this one
    lr: float = 3e-3
    warmup: int = 100
    batch_size: int = 16
    seed: int = 0
    passkey_share: float = 0.75
    answer_only_share: float = 0.5   # share of passkey rows whose loss is on the answer alone (every objective)
    answer_weight: float = 10.0      # weight of each passkey answer token in either loss
    weight_decay: float = 0.0


#: the twins of one seed, by name, and the stage that makes each
TWINS = ("ar", "diffusion", "diffusion-scratch")


@dataclass(frozen=True)
class Recipe:
    shape: TwinShape = field(default_factory=TwinShape)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    base_steps: int = 5000
    final_steps: int = 1500
    final_lr: float = 1.5e-3

    def stages(self, seed: int) -> tuple[Stage, ...]:
        """Every stage of one seed; the two base stages share their settings, as do the three final ones."""
        base = {"steps": self.base_steps, "seed": seed}
        final = {"steps": self.final_steps, "seed": seed + 1000, "lr": self.final_lr}
        return (Stage("ar-base", "ar", **base),
                Stage("diffusion-scratch-base", "diffusion", **base),
                Stage("ar", "ar", init="ar-base", **final),
                Stage("diffusion", "diffusion", init="ar-base", **final),
                Stage("diffusion-scratch", "diffusion", init="diffusion-scratch-base", **final))


def learning_rate(stage: Stage, step: int) -> float:
    """Linear warm-up, then cosine decay to 10 %."""
    if step < stage.warmup:
        return stage.lr * (step + 1) / stage.warmup
    progress = (step - stage.warmup) / max(1, stage.steps - stage.warmup)
    return stage.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def answer_only_rows(stage: Stage, step: int, answers) -> list[bool]:
    """Which passkey rows of a step count only their answer: a pure function of (seed, step), so every twin trained
    on the same batches gets the same rows."""
    rng = random.Random(f"{stage.seed}:{step}:answer-only")
    return [bool(answer) and rng.random() < stage.answer_only_share for answer in answers]


def loss_weights(shape, answers, answer_weight: float, only_answer=()):
    """Per-token weights [rows, length], the same for every objective: 1 for text, ``answer_weight`` on each row's
    passkey answer, and 0 on the text of the rows in ``only_answer`` (their loss is on the answer alone)."""
    import torch

    weights = torch.ones(shape)
    for row, answer in enumerate(answers):
        if row < len(only_answer) and only_answer[row]:
            weights[row] = 0.0
        weights[row, answer] = answer_weight
    return weights


def ar_loss(model, batch, weights):
    """Next-token cross-entropy, weighted per token (:func:`loss_weights`), normalised by the total weight of the
    predicted positions 1 … L−1."""
    import torch.nn.functional as F

    logits = model(input_ids=batch).logits[:, :-1]
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="none")
    w = weights[:, 1:].to(losses.device).reshape(-1)
    return (losses * w).sum() / w.sum()


def diffusion_loss(model, batch, weights, only_answer, answers, generator):
    """LLaDA's masked-diffusion loss (see module docstring) with the model's logits shift, weighted per token as
    :func:`ar_loss` and normalised by the total weight of the positions it can predict; rows in ``only_answer`` mask
    exactly their answer."""
    import torch
    import torch.nn.functional as F

    shift = int(getattr(model.config, "logits_shift", 0) or 0)
    rows, length = batch.shape
    weights = weights.to(batch.device)
    t = EPSILON + (1 - EPSILON) * torch.rand(rows, 1, generator=generator, device=batch.device)
    masked = torch.rand(rows, length, generator=generator, device=batch.device) < t
    scale = (1 / t).expand(rows, length).clone()
    for row, answer in enumerate(answers):
        if only_answer[row]:
            masked[row] = False
            masked[row, answer] = True
            scale[row] = 1.0  # masked with probability 1
    masked[:, :shift] = False  # with a logits shift, the first positions have no logits that predict them
    inputs = torch.where(masked, torch.full_like(batch, MASK_ID), batch)
    logits = model(input_ids=inputs).logits[:, :length - shift]
    targets, mask, w = batch[:, shift:], masked[:, shift:], (weights * scale)[:, shift:]
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return (losses.view(rows, -1) * mask * w).sum() / weights[:, shift:].sum()


def passkey_hit_rate(model, length: int, samples: int = 30, seed: int = 12345, device: str = "cpu") -> float:
    """Share of ``samples`` held-out passkeys (depths 0–100 %) the model retrieves at ``length``, by the library's
    NIAH cell (greedy for AR, the diffusion sampler otherwise); deterministic."""
    import torch

    was_training = model.training
    model.eval()
    spec = spec_from_config(model.config.to_dict(), "twin", "training")
    loaded = LoadedModel(model, ByteTokenizer(), spec, None, "twin", torch.device(device), "float32")
    depths = (0.0, 25.0, 50.0, 75.0, 100.0)
    settings = NiahSettings(lengths=(length,), depths=depths, answer_length=8, block_length=8, steps=8,
                            needles_per_cell=samples // len(depths), seed=seed)
    haystack = load_corpus().heldout.tolist()
    with torch.no_grad():
        hits = [cell["hit"] for cell in niah_cells(loaded, (haystack, "passkey"), settings, settings.keys())]
    model.train(was_training)
    return sum(hits) / len(hits)


def set_attention(model, kind: str):
    """Make a twin causal (``ar``) or bidirectional (``diffusion``), in its config and its attention modules."""
    model.config.use_bidirectional_attention = kind == "diffusion"
    model.config.twin = kind
    for layer in model.model.layers:
        layer.self_attn.is_causal = kind != "diffusion"
    return model


def training_step(model, optimizer, stage: Stage, step: int, length: int, device: str = "cpu") -> float:
    """One optimizer step on the batch of ``step`` (a pure function of the stage's seed and the step); the loss."""
    import torch

    batch, answers = training_batch(stage.seed, step, stage.batch_size, length, stage.passkey_share)
    batch = torch.from_numpy(batch).to(device)
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(stage, step)
    only_answer = answer_only_rows(stage, step, answers)
    weights = loss_weights(batch.shape, answers, stage.answer_weight, only_answer)
    if stage.kind == "ar":
        loss = ar_loss(model, batch, weights)
    else:
        generator = torch.Generator(device=device).manual_seed(stage.seed * 1_000_003 + step)
        loss = diffusion_loss(model, batch, weights, only_answer, answers, generator)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


def matmul_rate(seconds: float = 1.0, size: int = 512) -> float:
    """Measured fp32 matmul throughput of this process (FLOP/s), with its current torch thread count."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * size ** 3 * count / (time.perf_counter() - start)


def flops_per_token(shape: TwinShape, vocab: int) -> float:
    """Training FLOPs per token (forward + backward = 3 × forward): 6·N for the matmul weights, 6·V·d for the
    output head, 12·layers·T·d for attention scores and values."""
    weights = shape.layers * (4 * shape.hidden * shape.heads * shape.head_dim + 3 * shape.hidden * shape.intermediate)
    attention = 12 * shape.layers * shape.train_length * shape.heads * shape.head_dim
    return 6 * weights + 6 * vocab * shape.hidden + attention


def train_stage(stage: Stage, shape: TwinShape, work: Path, threads: int = 1, progress: bool = True,
                checkpoint_every: int = 250, stop_at: int | None = None, device: str = "cpu",
                check_every: int = 500) -> Path | None:
    """Run one stage to completion (resuming from ``work/<stage>/state.pt`` if present); returns its final folder.
    Every ``check_every`` steps the record notes passkey retrieval at T (30 held-out passkeys).

    ``stop_at`` ends the run right after the checkpoint at that step (returns None), as an interruption would."""
    import torch
    from tqdm.auto import tqdm
    from transformers import GemmaForCausalLM

    torch.set_num_threads(threads)
    folder = work / stage.name
    final = folder / "final"
    if (final / "training_record.json").is_file():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    if stage.init:
        model = set_attention(GemmaForCausalLM.from_pretrained(work / stage.init / "final"), stage.kind)
    else:
        model = build_twin(stage.kind, shape, stage.seed)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=stage.lr, betas=(0.9, 0.95), weight_decay=stage.weight_decay)
    state_path = folder / "state.pt"
    record = {"stage": asdict(stage), "shape": asdict(shape), "threads": threads, "loss_curve": [],
              "seconds": 0.0, "corpus": load_corpus().digest, "init": stage.init}
    start_step = 0
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step, record = state["step"], state["record"]
        record["seconds_before_resume"] = record["seconds"]
    model.train()
    rate = matmul_rate() if device == "cpu" else None
    tokens_per_step = stage.batch_size * shape.train_length
    window, clock = [], time.perf_counter()
    bar = tqdm(range(start_step, stage.steps), initial=start_step, total=stage.steps, desc=stage.name,
               disable=not progress, unit="step", position=int(os.environ.get("TQDM_POSITION", 0)))
    for step in bar:
        window.append(training_step(model, optimizer, stage, step, shape.train_length, device))
        if (step + 1) % 50 == 0 or step + 1 == stage.steps:
            record["loss_curve"].append([step + 1, round(sum(window) / len(window), 4)])
            bar.set_postfix(loss=f"{record['loss_curve'][-1][1]:.3f}")
            window = []
        if (step + 1) % check_every == 0:
            hit = passkey_hit_rate(model, shape.train_length, device=device)
            record.setdefault("retrieval_checks", []).append([step + 1, hit])
            bar.set_postfix(loss=f"{record['loss_curve'][-1][1]:.3f}", retrieval=f"{hit:.2f}")
        if (step + 1) % checkpoint_every == 0 and step + 1 < stage.steps:
            record["seconds"] += time.perf_counter() - clock
            clock = time.perf_counter()
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step + 1,
                        "record": record}, state_path)
            if stop_at is not None and step + 1 >= stop_at:
                return None
    record["seconds"] += time.perf_counter() - clock
    if rate is not None:  # measured again at the end: the larger one is the less disturbed by other processes
        rate = max(rate, matmul_rate())
    steps = stage.steps
    record.update(steps=steps, tokens=steps * tokens_per_step,
                  tokens_per_second=round((steps - start_step) * tokens_per_step / max(
                      record["seconds"] - record.get("seconds_before_resume", 0.0), 1e-9), 1),
                  matmul_flops_per_second=rate, flops_per_token=flops_per_token(shape, model.config.vocab_size))
    record["matmul_share"] = (round(record["tokens_per_second"] * record["flops_per_token"] / rate, 4)
                              if device == "cpu" else None)
    record["device"] = device
    record["resumed_at"] = start_step if start_step else None
    model.to("cpu").save_pretrained(final)
    (final / "training_record.json").write_text(json.dumps(record, indent=1))
    state_path.unlink(missing_ok=True)
    return final


def _run_stage(args) -> str:
    stage, shape, work, threads, progress, position, device = args
    os.environ["TQDM_POSITION"] = str(position)
    return str(train_stage(stage, shape, Path(work), threads=threads, progress=progress, device=device))


def train_recipe(recipe: Recipe, work: Path, output: Path, progress: bool = True, workers: int = 2,
                 device: str = "cpu") -> list[Path]:
    """Run every stage of every seed — ``workers`` processes of one torch thread each, a stage as soon as the one it
    starts from is done — and copy each twin with its chain of training records to ``output/seed<s>/<twin>``.
    Resumes where it stopped. Returns the twins' folders."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    work, output = Path(work), Path(output)
    pending = {(seed, stage.name): stage for seed in recipe.seeds for stage in recipe.stages(seed)}
    done: set[tuple[int, str]] = set()
    running: dict = {}
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        while pending or running:
            for key in [k for k, stage in pending.items() if stage.init is None or (k[0], stage.init) in done]:
                if len(running) < workers:
                    job = (pending.pop(key), recipe.shape, str(work / f"seed{key[0]}"), 1, progress, len(running),
                           device)
                    running[pool.submit(_run_stage, job)] = key
            if not running:
                raise ValueError(f"stages {sorted(pending)} start from stages that never run")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
                done.add(running.pop(future))
    return export_twins(work, output, recipe.seeds)


def export_twins(work: Path, output: Path, seeds) -> list[Path]:
    """Copy each finished twin of ``seeds`` from ``work/seed<s>/<twin>/final`` (the training stage of its name) to
    ``output/seed<s>/<twin>``, with the chain of training records of the stages that made it."""
    import shutil

    twins = []
    for seed in seeds:
        for twin in TWINS:
            target = Path(output) / f"seed{seed}" / twin
            target.mkdir(parents=True, exist_ok=True)
            final = Path(work) / f"seed{seed}" / twin / "final"
            for name in ("config.json", "model.safetensors"):
                shutil.copy2(final / name, target / name)
            chain, name = [], twin
            while name:
                record = json.loads((Path(work) / f"seed{seed}" / name / "final" / "training_record.json").read_text())
                chain.insert(0, record)
                name = record["init"]
            (target / "training_record.json").write_text(json.dumps({"seed": seed, "stages": chain}, indent=1))
            twins.append(target)
    return twins
