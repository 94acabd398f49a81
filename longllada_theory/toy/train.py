"""Training the twins on CPU: deterministic from the seed, resumable, with a training record next to each
checkpoint (loss curve, steps, tokens/s, and throughput as a share of the CPU's measured matmul rate).

Recipe (``longllada toy train``), after two quick prototypes of the twins and a sweep of AR variants
(``scripts/recipe_sweep.py``; its log is ``data/runs/recipe_sweep_h200.json``): with plain next-token loss the AR
twin had not learned retrieval after 3000 steps in any of three variants; weighting the passkey answer 10× in the
loss, no weight decay and 75 % passkey rows made it learn it after about 2000 steps on the GPU. That transition is
abrupt and its timing chaotic (on this machine's CPU the same recipe had not reached it after 3000 steps), so the
recipe trains on until retrieval is learned instead of for a fixed count:
1. ``ar-base``: the AR twin from scratch, next-token loss (passkey answer tokens weighted 10×), 3000 steps;
   ``ar-retrieval``: the same loss on fresh batches until passkey retrieval at T reaches 90 % (checked every 250
   steps on 30 held-out passkeys), at most 6000 steps.
2. from ``ar-retrieval``, two runs of the same length side by side (one process each):
   ``ar`` continues with next-token loss; ``diffusion`` switches to bidirectional attention and LLaDA's
   masked-diffusion loss — per row t ~ U(ε, 1), each token masked with probability t, cross-entropy on masked
   tokens weighted by 1/t (normalised by the row length) — on half of the passkey rows masking only the answer
   (as LLaDA's SFT never masks the prompt). The diffusion twin is thus adapted from the AR twin, as Dream-7B was
   from Qwen2.5, and keeps its logits shift (logits at i predict token i+1).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..measure.texts import load_corpus
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
    passkey_share: float = 0.5
    answer_only_share: float = 0.5   # diffusion: share of passkey rows that mask only the answer
    answer_weight: float = 1.0       # AR: weight of the passkey answer tokens in the next-token loss
    weight_decay: float = 0.1
    until_retrieval: float | None = None  # stop early once passkey retrieval at T reaches this (checked at checkpoints)


@dataclass
class Recipe:
    shape: TwinShape = field(default_factory=TwinShape)
    stages: tuple[Stage, ...] = (
        Stage("ar-base", "ar", 3000, answer_weight=10.0, weight_decay=0.0, passkey_share=0.75),
        Stage("ar-retrieval", "ar", 6000, init="ar-base", lr=2e-3, seed=2, answer_weight=10.0, weight_decay=0.0,
              passkey_share=0.75, until_retrieval=0.9),
        Stage("ar", "ar", 2000, init="ar-retrieval", lr=1.5e-3, seed=1, answer_weight=10.0, weight_decay=0.0,
              passkey_share=0.75),
        Stage("diffusion", "diffusion", 2000, init="ar-retrieval", lr=1.5e-3, seed=1),
    )


def learning_rate(stage: Stage, step: int) -> float:
    """Linear warm-up, then cosine decay to 10 %."""
    if step < stage.warmup:
        return stage.lr * (step + 1) / stage.warmup
    progress = (step - stage.warmup) / max(1, stage.steps - stage.warmup)
    return stage.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def ar_loss(model, batch, answers=(), answer_weight: float = 1.0):
    """Next-token cross-entropy over every position; passkey answer tokens weighted by ``answer_weight``."""
    import torch
    import torch.nn.functional as F

    logits = model(input_ids=batch).logits[:, :-1]
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="none")
    weights = torch.ones_like(batch[:, 1:], dtype=losses.dtype)
    for row, answer in enumerate(answers):
        if answer:
            weights[row, [p - 1 for p in answer]] = answer_weight
    return (losses * weights.reshape(-1)).sum() / weights.sum()


def diffusion_loss(model, batch, answers, stage: Stage, generator, rng: random.Random):
    """LLaDA's masked-diffusion loss (see module docstring), with the twins' logits shift of 1."""
    import torch
    import torch.nn.functional as F

    rows, length = batch.shape
    t = EPSILON + (1 - EPSILON) * torch.rand(rows, 1, generator=generator, device=batch.device)
    masked = torch.rand(rows, length, generator=generator, device=batch.device) < t
    weight = 1.0 / t.expand(rows, length)
    for row, answer in enumerate(answers):
        if answer and rng.random() < stage.answer_only_share:
            masked[row] = False
            masked[row, answer] = True
            weight[row] = length / len(answer)  # the mean over the answer, on the same per-row scale
    masked[:, 0] = False  # position 0 has no logits that predict it (shift 1)
    inputs = torch.where(masked, torch.full_like(batch, MASK_ID), batch)
    logits = model(input_ids=inputs).logits[:, :-1]
    targets, mask, w = batch[:, 1:], masked[:, 1:], weight[:, 1:]
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return (losses.view(rows, -1) * mask * w).sum() / (rows * length)


def passkey_hit_rate(model, length: int, samples: int = 30, seed: int = 12345, device: str = "cpu") -> float:
    """Share of ``samples`` held-out passkeys (depths 0–100 %) the model retrieves at ``length``, by the library's
    NIAH cell (greedy for AR, the diffusion sampler otherwise); deterministic."""
    import torch

    from ..measure.niah import NiahSettings, niah_cells
    from ..models.loading import LoadedModel
    from ..models.spec import spec_from_config
    from ..models.tokenizers import ByteTokenizer

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
    if stage.kind == "ar":
        loss = ar_loss(model, batch, answers, stage.answer_weight)
    else:
        generator = torch.Generator(device=device).manual_seed(stage.seed * 1_000_003 + step)
        loss = diffusion_loss(model, batch, answers, stage, generator, random.Random(f"{stage.seed}:{step}:mask"))
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
                checkpoint_every: int = 250, stop_at: int | None = None, device: str = "cpu") -> Path | None:
    """Run one stage to completion (resuming from ``work/<stage>/state.pt`` if present); returns its final folder.

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
        if stage.until_retrieval is not None and (step + 1) % checkpoint_every == 0:
            hit = passkey_hit_rate(model, shape.train_length, device=device)
            record.setdefault("retrieval_checks", []).append([step + 1, hit])
            bar.set_postfix(loss=f"{record['loss_curve'][-1][1]:.3f}", retrieval=f"{hit:.2f}")
            if hit >= stage.until_retrieval:
                record["stopped_early_at"] = step + 1
                break
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
    steps = record.get("stopped_early_at", stage.steps)
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
    stage, shape, work, threads, progress, position = args
    os.environ["TQDM_POSITION"] = str(position)
    return str(train_stage(stage, shape, Path(work), threads=threads, progress=progress))


def train_recipe(recipe: Recipe, work: Path, output: Path, progress: bool = True, workers: int = 2) -> dict[str, Path]:
    """Run every stage (stages that share an ``init`` run side by side, one torch thread each) and copy the final
    ``ar`` and ``diffusion`` twins with their training records to ``output``. Resumes where it stopped."""
    import shutil
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    work, output = Path(work), Path(output)
    done: dict[str, Path] = {}
    pending = list(recipe.stages)
    while pending:
        ready = [s for s in pending if s.init is None or s.init in done]
        if not ready:
            raise ValueError(f"stages {[s.name for s in pending]} start from stages that never run")
        if len(ready) == 1 or workers == 1:
            for stage in ready:
                done[stage.name] = train_stage(stage, recipe.shape, work, threads=workers, progress=progress)
        else:
            with ProcessPoolExecutor(len(ready), mp_context=get_context("spawn")) as pool:
                jobs = [(s, recipe.shape, str(work), 1, progress, i) for i, s in enumerate(ready)]
                for stage, folder in zip(ready, pool.map(_run_stage, jobs)):
                    done[stage.name] = Path(folder)
        pending = [s for s in pending if s.name not in done]
    twins = {}
    for kind in ("ar", "diffusion"):
        target = output / kind
        target.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copy2(done[kind] / name, target / name)
        chain, stage = [], kind
        while stage:
            record = json.loads((done[stage] / "training_record.json").read_text())
            chain.insert(0, record)
            stage = record["init"]
        (target / "training_record.json").write_text(json.dumps({"stages": chain}, indent=1))
        twins[kind] = target
    return twins
