"""The trainer: the paper's conditional GAN with temporal conditioning, resumable, DDP-ready.

`train()` is a generator of events (dicts); it never prints. The CLI draws them. A run
folder holds config.json, full training checkpoints (checkpoints/step-*.pt), the exported
generators colorize loads (generator-latest/best.safetensors), metrics.jsonl, sample grids
and a loss curve (run_folder.py). Launched under torchrun it trains with
DistributedDataParallel; only rank 0 writes.

Owns: Trainer, train. Imports: the other train modules, model, motion, media, errors.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..errors import Interrupted, Preempted, Terminated, TrainingError, UsageError
from ..model.checkpoint import read_checkpoint, resolve_model
from ..model.losses import load_vgg
from ..model.networks import PatchDiscriminator, define_generator
from ..motion import motion_condition
from .batches import training_data
from .config import TrainConfig
from .distributed import digest, init_distributed
from .objective import (Condition, Outputs, discriminator_loss, generated_probability, generator_losses, make_condition,
                        weights_init)
from .run_folder import latest_checkpoint, plot_losses, restore_checkpoint, save_best, save_checkpoint, write_sample

log = logging.getLogger("tcvc")


def _init_worker(worker_id: int) -> None:
    """A DataLoader worker: Ctrl-C is for the main process, which stops cleanly, so workers must
    not die of it first."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _StopFlag:
    """Ctrl-C or SIGTERM (preemption) asks the loop to stop after the current step, with a
    checkpoint; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.terminated = False  # the request came from SIGTERM
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            for kind in (signal.SIGINT, signal.SIGTERM):
                self._previous[kind] = signal.signal(kind, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise Terminated() if self.terminated else KeyboardInterrupt
        self.requested = True
        self.terminated = self.terminated or signum == signal.SIGTERM

    def __exit__(self, *exc: Any) -> None:
        for kind, handler in self._previous.items():
            signal.signal(kind, handler)


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: Path, *, device: str = "auto", resume: bool = False):
        self.config = config
        self.run_dir = Path(run_dir)
        self.dist, self.device = init_distributed(device)
        self.resume = resume
        if config.unroll_grad and self.dist.enabled:
            raise UsageError("--unroll-grad is not supported with torchrun", hint="unroll without gradients (the default)")
        if config.batch_size % self.dist.world:
            raise UsageError(f"--batch-size {config.batch_size} does not split over {self.dist.world} processes")
        self.batch_per_rank = config.batch_size // self.dist.world
        self.cuda = self.device.type == "cuda"
        self.amp = config.amp and self.cuda

    # -- set-up
    def _seed(self) -> None:
        seed = self.config.seed
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        if self.config.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif self.cuda:
            torch.backends.cudnn.benchmark = True

    def _build(self) -> None:
        config = self.config
        self.generator = define_generator(config.model).to(self.device)
        self.discriminator = PatchDiscriminator(config.model.use_previous, ndf=config.ndf,
                                                condition_channels=config.model.condition_channels).to(self.device)
        self.generator.apply(weights_init)
        self.discriminator.apply(weights_init)
        if config.init_from is not None:
            self._initialise_from(Path(config.init_from["path"]))
        if self.cuda:
            self.generator = self.generator.to(memory_format=torch.channels_last)
            self.discriminator = self.discriminator.to(memory_format=torch.channels_last)
        self.gated = getattr(self.generator, "copy_gate", False)
        self.vgg = load_vgg(config.vgg_weights).to(self.device) if config.uses_vgg else None
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.g_train, self.d_train = self.generator, self.discriminator
        if self.dist.enabled:
            ids = [self.device.index] if self.cuda else None
            self.g_train = nn.parallel.DistributedDataParallel(self.generator, device_ids=ids)
            self.d_train = nn.parallel.DistributedDataParallel(self.discriminator, device_ids=ids)

    def _initialise_from(self, path: Path) -> None:
        """Start the generator from a trained checkpoint's weights (the optimisers start fresh)."""
        state, saved, _ = read_checkpoint(path)
        # The line-art input and the training size may change; the layers may not.
        if saved.with_overrides(input=self.config.model.input, image_size=self.config.model.image_size) != self.config.model:
            raise TrainingError(f"{path}: its architecture differs from this run's", hint="let --init-from set the architecture")
        missing, unexpected = self.generator.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise TrainingError(f"{path}: its weights do not fit this run's generator "
                                f"({len(missing)} missing, {len(unexpected)} unexpected)")

    def _data(self) -> None:
        data = training_data(self.config, self.run_dir, self.dist, self.batch_per_rank, self.cuda, _init_worker)
        self.train_set, self.val_set, self.sampler, self.loader = data.train_set, data.val_set, data.sampler, data.loader
        self.steps_per_epoch, self.total_steps, self.skipped_frames = data.steps_per_epoch, data.total_steps, data.skipped_frames

    def _batches(self, epoch: int, skip: int) -> Iterator[dict[str, torch.Tensor]]:
        """The epoch's batches for this rank, in a fixed order, starting after `skip` of them."""
        self.sampler.set(epoch, skip)
        for batch in self.loader:
            yield {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    # -- one optimisation step (objective.py)
    def generated_probability(self, step: int) -> float:
        return generated_probability(self.config, step, self.total_steps)

    def condition(self, batch: dict[str, torch.Tensor], step: int) -> Condition:
        """The previous-frame condition for this batch: true, generated by G itself, degraded."""
        return make_condition(self.config, self.g_train, batch, step, self.total_steps)

    def _step(self, batch: dict[str, torch.Tensor], step: int = 0) -> dict[str, float]:
        line, target = batch["line"], batch["target"]
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()
        with autocast:
            condition = self.condition(batch, step)
        previous = condition.image.float()
        if self.cuda:
            line, previous, target = (t.contiguous(memory_format=torch.channels_last) for t in (line, previous, target))
        with autocast:
            made = Outputs(*self.g_train(line, previous, with_gate=True)) if self.gated else Outputs(self.g_train(line, previous))
            loss_d = discriminator_loss(self.d_train, line, previous, target, made.fake)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_d)
        with autocast:
            terms = generator_losses(self.config, self.d_train, self.vgg, batch, condition, line, previous, target, made)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(terms["loss_g"]).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        self._last = {"line": line, "previous": previous, "fake": made.fake.detach(), "target": target}
        losses = {"loss_g": terms["loss_g"].item(), "loss_d": loss_d.item()}
        return {**losses, **{name: terms[name].item() for name in ("adv", "l1", "content", "style", "gate", "paint", "temporal")}}

    @torch.no_grad()
    def validate(self) -> float | None:
        """Mean L1 of the generator on the held-out clips (centre crops, true previous frames)."""
        if self.val_set is None or len(self.val_set) == 0:
            return None
        self.generator.eval()
        total, count = 0.0, 0
        loader = DataLoader(self.val_set, batch_size=self.batch_per_rank, shuffle=False, num_workers=0)
        for batch in loader:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            line, target, previous = batch["line"], batch["target"], batch["previous"]
            if "flow" in batch:  # a motion model's condition
                previous = motion_condition(previous, batch["flow"], batch["flow_valid"])
            fake = self.generator(line, previous).float()
            total += F.l1_loss(fake, target, reduction="sum").item() / fake[0].numel()
            count += fake.shape[0]
        self.generator.train()
        return total / count

    # -- the loop
    def run(self) -> Iterator[dict[str, Any]]:
        self._seed()
        created = self._create_folder()
        yield {"type": "preparing", "step": 0, "what": "reading the training frames into the cache"}
        self._prepare(created)
        step, best = restore_checkpoint(self) if self.resume else (0, None)
        yield {"type": "start", "step": step, "total_steps": self.total_steps, "steps_per_epoch": self.steps_per_epoch,
               "train_frames": len(self.train_set), "val_frames": len(self.val_set) if self.val_set else 0,
               "skipped_frames": self.skipped_frames, "device": str(self.device), "world": self.dist.world}
        self.metrics = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") if self.dist.is_main else None
        try:
            if step == 0 and self.dist.is_main:
                untrained = self.validate()
                self.metrics.write(json.dumps({"step": 0, "val_l1": untrained}) + "\n")
                yield {"type": "validation", "step": 0, "val_l1": untrained}
            step, best = yield from self._loop(step, best)
        finally:
            if self.metrics:
                self.metrics.close()
        yield self._summary(step, best)

    def _create_folder(self) -> bool:
        """The run folder with its config.json; True when this run created it."""
        created = not self.resume and not self.run_dir.exists()
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(json.dumps(self.config.to_json(), indent=2) + "\n", "utf-8")
        return created

    def _prepare(self, created: bool) -> None:
        """The data and the networks; a run that never started leaves no folder to trip over."""
        try:
            self._data()
            self._build()
        except BaseException:
            if created and self.dist.is_main:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    def _loop(self, step: int, best: float | None) -> Generator[dict[str, Any], None, tuple[int, float | None]]:
        """Batches, steps and checkpoints until the schedule ends or a stop is asked for."""
        self.last_good = latest_checkpoint(self.run_dir)
        self.started, self.samples_done = time.perf_counter(), 0
        with _StopFlag() as stop:
            while step < self.total_steps:
                epoch, skip = divmod(step, self.steps_per_epoch)
                for batch in self._batches(epoch, skip):
                    losses = self._step(batch, step)
                    step += 1
                    yield self._step_event(step, epoch, batch, losses)
                    self._agree_on_stop(stop)
                    stopping = stop.requested or step >= self.total_steps
                    if self.dist.is_main and step % self.config.sample_every == 0:
                        write_sample(self.run_dir, self._last, step)
                    end_of_epoch = step % self.steps_per_epoch == 0
                    if step % self.config.checkpoint_every == 0 or (end_of_epoch and self.config.checkpoint_epochs) or stopping:
                        best = yield from self._checkpoint(step, best, plot=step % self.config.checkpoint_every == 0 or stopping)
                        self.last_good = latest_checkpoint(self.run_dir)
                    if stop.requested:
                        kind = Preempted if stop.terminated else Interrupted
                        raise kind(f"stopped at step {step}; checkpoint saved in {self.run_dir}",
                                   hint=f"continue with: tcvc train --resume {self.run_dir}")
                    if step >= self.total_steps:
                        break
        return step, best

    def _step_event(self, step: int, epoch: int, batch: dict[str, torch.Tensor], losses: dict[str, float]) -> dict[str, Any]:
        """The step's event (and metrics.jsonl line); a loss gone infinite or NaN stops the run."""
        if not all(math.isfinite(v) for v in losses.values()):
            where = f"; the last good checkpoint is {self.last_good}" if self.last_good else "; no checkpoint was written yet"
            raise TrainingError(f"the loss became {losses['loss_g']:.3g}/{losses['loss_d']:.3g} (G/D) at step {step}{where}",
                                hint="lower the learning rates (--lr-g/--lr-d), or resume from the last checkpoint")
        self.samples_done += batch["line"].shape[0] * self.dist.world
        rate = self.samples_done / (time.perf_counter() - self.started)
        event = {"type": "step", "step": step, "epoch": epoch + 1, "samples_per_s": rate, **losses}
        if self.dist.is_main:
            self.metrics.write(json.dumps(event) + "\n")
        return event

    def _agree_on_stop(self, stop: _StopFlag) -> None:
        """Every rank stops at the same step, or the next all-reduce hangs."""
        if self.dist.enabled:
            flags = torch.tensor([float(stop.requested), float(stop.terminated)], device=self.device)
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
            stop.requested, stop.terminated = bool(flags[0]), bool(flags[1])

    def _checkpoint(self, step: int, best: float | None, plot: bool) -> Generator[dict[str, Any], None, float | None]:
        """Validate, keep the best generator, write the checkpoint; returns the best so far."""
        if not self.dist.is_main:
            return best
        val = self.validate()
        if val is not None and (best is None or val < best):
            best = val
            save_best(self, step, val)
        path = save_checkpoint(self, step, best, val)
        self.metrics.write(json.dumps({"step": step, "val_l1": val}) + "\n")
        self.metrics.flush()
        if plot:  # the loss curve and a sample grid with every periodic checkpoint, not every (short) epoch
            if step % self.config.sample_every != 0:
                write_sample(self.run_dir, self._last, step)
            plot_losses(self.run_dir)
        yield {"type": "checkpoint", "step": step, "path": str(path), "val_l1": val, "best_val_l1": best}
        return best

    def _summary(self, step: int, best: float | None) -> dict[str, Any]:
        """The done event and summary.json: the generator `--model RUN_DIR` loads (the best on
        validation, when there was any), and the last one."""
        summary = {"type": "done", "step": step, "run_dir": str(self.run_dir), "best_val_l1": best,
                   "generator": str(resolve_model(str(self.run_dir))) if self.dist.is_main else None,
                   "latest_generator": str(self.run_dir / "generator-latest.safetensors")}
        if self.dist.enabled:
            digests: list[str] = [""] * self.dist.world
            torch.distributed.all_gather_object(digests, digest(self.generator))
            summary["ranks_identical"] = len(set(digests)) == 1
        if self.dist.is_main:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
        return summary


def train(config: TrainConfig, run_dir: Path, *, device: str = "auto", resume: bool = False) -> Iterator[dict[str, Any]]:
    """Train (or resume) a run; yields events: preparing, start, validation, step, checkpoint, done."""
    yield from Trainer(config, run_dir, device=device, resume=resume).run()
