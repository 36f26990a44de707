"""The training loop every recipe uses: AdamW, warmup then cosine decay, accumulation, checkpoints, resume.

A task (OAD / COIN classifiers, the LLaVAction action-token model) says how to build its model, what one
epoch of micro-batches is and what the loss of one is; the loop does the rest the same way for all:

- the optimizer steps every ``accumulation`` micro-batches; ``batch_size`` in a recipe is the effective
  batch (micro-batch x accumulation x processes);
- a checkpoint (the task's model files, optimizer, schedule, position in the epoch, random states) is
  written atomically every ``checkpoint_every`` optimizer steps and at the end of each epoch; the newest
  ``keep_checkpoints`` are kept;
- ``resume=True`` continues from the newest checkpoint: the epoch's micro-batches are regenerated from
  (epoch, seed) and the ones already used are skipped, so a resumed run sees the same data in the same
  order as an uninterrupted one;
- ``train_log.jsonl`` is a journal (appended, fsynced) of the loss parts and learning rate per step;
- under ``accelerate launch`` each process takes every n-th micro-batch and gradients are averaged
  (Accelerator); on one machine with no launcher it runs in-process on the CPU or the one GPU.

Tasks may define ``stages() -> [(name, epochs), ...]`` (label_2stage trains "gen" then "head"); the
optimizer is rebuilt at a stage boundary over the parameters that stage trains.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from actbench.atomic import StagedDirectory, atomic_write_json
from actbench.errors import ActbenchError

CHECKPOINTS, FINAL, LOG, STATE = "checkpoints", "final", "train_log.jsonl", "trainer.json"


class TrainTask(Protocol):
    name: str

    def build_model(self) -> Any: ...
    def batches(self, epoch: int, seed: int) -> Iterable[Any]: ...
    def loss(self, model: Any, batch: Any) -> tuple[Any, dict[str, float]]: ...
    def param_groups(self, model: Any, lr: float) -> list[dict]: ...
    def save_model(self, model: Any, directory: Path) -> None: ...
    def load_model(self, directory: Path) -> Any: ...


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 1
    lr: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    batch_size: int = 32  # effective batch: micro_batch x accumulation x processes
    micro_batch: int = 8
    schedule: str = "cosine"  # or "linear" or "constant" (after warmup)
    max_grad_norm: float = 1.0
    checkpoint_every: int = 500  # optimizer steps
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    max_steps: int | None = None  # stop early (smoke runs); the schedule still spans the full run
    mixed_precision: str = "no"  # "bf16" / "fp16" on GPUs (Accelerator)

    def accumulation(self, processes: int = 1) -> int:
        per_step = self.micro_batch * processes
        if self.batch_size % per_step:
            raise ActbenchError.bad_value("recipe", "train.batch_size",
                                          f"a multiple of micro_batch x processes = {per_step}", self.batch_size)
        return self.batch_size // per_step


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Linear warmup over ``warmup`` steps, then cosine / linear decay to 0 at ``total`` (or constant).

    >>> [round(lr_factor(s, 10, 2, "cosine"), 3) for s in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 1.0


def _accelerator(cfg: TrainConfig):
    try:
        from accelerate import Accelerator, DistributedDataParallelKwargs
    except ImportError:  # plain single-process training still works
        return None
    # Some trainable parameters sit out some steps (the heads during label_2stage's generative stage, a
    # batch without previous actions for prev_disc), which plain DDP treats as an error.
    return Accelerator(mixed_precision=cfg.mixed_precision,
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


def _stages(task: TrainTask, cfg: TrainConfig) -> list[tuple[str, int]]:
    return list(task.stages()) if hasattr(task, "stages") else [("joint", cfg.epochs)]


def _checkpoints(out: Path) -> list[Path]:
    folder = out / CHECKPOINTS
    found = [p for p in folder.glob("step-*") if (p / STATE).is_file()] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def latest_checkpoint(out: Path) -> Path | None:
    found = _checkpoints(Path(out))
    return found[-1] if found else None


def _rng_state(torch) -> dict:
    return {"python": random.getstate(), "torch": torch.get_rng_state()}


def train(task: TrainTask, cfg: TrainConfig, out: Path, *, resume: bool = False,
          progress: Callable[[dict], None] | None = None) -> Path:
    """Train ``task``; returns the folder of the final model (``out/final``)."""
    import torch

    out = Path(out)
    if not resume and (latest_checkpoint(out) is not None or (out / FINAL).exists()):
        raise ActbenchError.bad_value(out, "output folder", "an empty folder (or --resume to continue)",
                                      "a previous training run")
    accel = _accelerator(cfg)
    processes, rank = (accel.num_processes, accel.process_index) if accel else (1, 0)
    accumulation = cfg.accumulation(processes)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    model = task.build_model()
    state = {"stage": 0, "epoch": 0, "micro": 0, "step": 0, "stage_step": 0}
    ckpt = latest_checkpoint(out) if resume else None
    if ckpt is not None:
        model = task.load_model(ckpt / "model")
        state = json.loads((ckpt / STATE).read_text(encoding="utf-8"))
    stages = _stages(task, cfg)
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        atomic_write_json(out / "train_config.json", {"task": task.name, "config": asdict(cfg),
                                                      "stages": stages, "processes": processes})
    log = open(out / LOG, "a", encoding="utf-8") if rank == 0 else None
    samples_seen, t_start = 0, time.perf_counter()
    try:
        for stage_index in range(state["stage"], len(stages)):
            stage_name, stage_epochs = stages[stage_index]
            if hasattr(task, "stage"):
                task.stage = stage_name
            groups = task.param_groups(model, cfg.lr)
            optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
            per_epoch = _count(task, 0, cfg.seed) // (accumulation * processes)
            total = max(1, per_epoch * stage_epochs)
            warmup = int(round(cfg.warmup_ratio * total))
            base_lrs = [g["lr"] for g in optimizer.param_groups]
            resumed_here = ckpt is not None and state["stage"] == stage_index
            if resumed_here and (ckpt / "optimizer.pt").is_file():
                optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
                rng = torch.load(ckpt / "rng.pt", weights_only=False)
                torch.set_rng_state(rng["torch"])
                random.setstate(rng["python"])
            else:
                state.update(epoch=0, micro=0, stage_step=0)
            wrapped, optimizer = (accel.prepare(model, optimizer) if accel else (model, optimizer))
            wrapped.train()
            for epoch in range(state["epoch"], stage_epochs):
                skip = state["micro"] if epoch == state["epoch"] else 0
                micro_index = 0
                for i, batch in enumerate(task.batches(epoch + 1000 * stage_index, cfg.seed)):
                    if i % processes != rank:
                        continue
                    micro_index = i // processes + 1
                    if micro_index <= skip:
                        continue
                    loss, parts = task.loss(wrapped, batch)
                    (accel.backward(loss / accumulation) if accel else (loss / accumulation).backward())
                    samples_seen += len(batch) if hasattr(batch, "__len__") else 1
                    if micro_index % accumulation:
                        continue
                    factor = lr_factor(state["stage_step"], total, warmup, cfg.schedule)
                    for g, base in zip(optimizer.param_groups, base_lrs):
                        g["lr"] = base * factor
                    params = [p for g in optimizer.param_groups for p in g["params"]]
                    if cfg.max_grad_norm:
                        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    state.update(step=state["step"] + 1, stage_step=state["stage_step"] + 1, micro=micro_index,
                                 epoch=epoch, stage=stage_index)
                    record = {"step": state["step"], "stage": stage_name, "epoch": epoch,
                              "lr": optimizer.param_groups[0]["lr"], **parts}
                    if log is not None and state["step"] % cfg.log_every == 0:
                        _journal(log, record)
                    if progress:
                        progress(record)
                    if state["step"] % cfg.checkpoint_every == 0:
                        _checkpoint(task, model, optimizer, state, out, cfg, rank, accel)
                    if cfg.max_steps is not None and state["step"] >= cfg.max_steps:
                        return _finish(task, model, out, rank, accel, state, samples_seen * processes, t_start)
                optimizer.zero_grad(set_to_none=True)  # a last partial accumulation is dropped, not carried over
                state.update(epoch=epoch + 1, micro=0)
                _checkpoint(task, model, optimizer, state, out, cfg, rank, accel)
            state.update(stage=stage_index + 1, epoch=0, micro=0, stage_step=0)
            ckpt = None
        return _finish(task, model, out, rank, accel, state, samples_seen * processes, t_start)
    finally:
        if log is not None:
            log.close()


def _count(task: TrainTask, epoch: int, seed: int) -> int:
    counter = getattr(task, "micro_batches_per_epoch", None)
    return counter(epoch, seed) if counter else sum(1 for _ in task.batches(epoch, seed))


def _journal(log, record: dict) -> None:
    log.write(json.dumps(record, sort_keys=True) + "\n")
    log.flush()
    os.fsync(log.fileno())


def _unwrapped(model, accel):
    return accel.unwrap_model(model) if accel else model


def _checkpoint(task, model, optimizer, state, out: Path, cfg: TrainConfig, rank: int, accel) -> None:
    import torch

    if accel:
        accel.wait_for_everyone()
    if rank != 0:
        return
    target = out / CHECKPOINTS / f"step-{state['step']}"
    if target.exists():  # the end of an epoch on a checkpoint step: the newer position wins
        shutil.rmtree(target)
    with StagedDirectory(target) as staging:
        task.save_model(_unwrapped(model, accel), staging / "model")
        torch.save(optimizer.state_dict(), staging / "optimizer.pt")
        torch.save(_rng_state(torch), staging / "rng.pt")
        atomic_write_json(staging / STATE, state)
    for old in _checkpoints(out)[:-cfg.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)


def _finish(task, model, out: Path, rank: int, accel, state: dict, samples: int, t_start: float) -> Path:
    if accel:
        accel.wait_for_everyone()
    final = out / FINAL
    if rank == 0:
        if final.exists():
            shutil.rmtree(final)
        task.save_model(_unwrapped(model, accel), final)
        seconds = time.perf_counter() - t_start
        atomic_write_json(out / "train_summary.json", {
            # every process takes an equal share of the micro-batches: samples counts all of them
            "steps": state["step"], "samples_this_session": samples, "seconds_this_session": round(seconds, 3),
            "samples_per_s": round(samples / seconds, 3) if seconds > 0 else None})
    return final
