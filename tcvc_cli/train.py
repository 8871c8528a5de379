"""The trainer: the paper's conditional GAN with temporal conditioning, resumable, DDP-ready.

`train()` is a generator of events (dicts); it never prints. The CLI draws them. A run
folder holds config.json, full training checkpoints (checkpoints/step-*.pt), the exported
generators colorize loads (generator-latest/best.safetensors), metrics.jsonl, sample grids
and a loss curve. Launched under torchrun it trains with DistributedDataParallel; only rank 0
writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from . import media
from .checkpoint import read_checkpoint, resolve_model, save_generator
from .config import ModelConfig, model_preset
from .data import EpochBatches, MixedBatches, SequenceDataset, load_clips, split_clips
from .errors import Interrupted, Preempted, Terminated, TrainingError, UsageError
from .losses import adversarial_loss, content_loss, load_vgg, style_loss, temporal_loss
from .motion import motion_condition
from .networks import PatchDiscriminator, define_generator

log = logging.getLogger("tcvc")

CHECKPOINT_DIR = "checkpoints"
PREV_SOURCES = ("gt", "generated", "mixed")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run; written to config.json and into every checkpoint."""

    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 35
    batch_size: int = 16  # global batch: split across processes under torchrun
    lr_g: float = 1e-4
    lr_d: float = 1e-5  # slower than G so the generator can learn first (paper)
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_adv: float = 1.0
    lambda_content: float = 1.0
    lambda_style: float = 1000.0
    lambda_l1: float = 10.0
    content_for_greyscale: bool = False  # the paper drops the content loss for greyscale input
    blank_probability: float = 0.5
    ndf: int = 64
    vgg_weights: str = "imagenet"
    val_fraction: float = 0.1
    checkpoint_every: int = 500
    checkpoint_epochs: bool = True  # also checkpoint (and validate) at the end of every epoch
    sample_every: int = 250
    keep: int = 3
    max_steps: int | None = None
    seed: int = 0
    deterministic: bool = False
    workers: int = 2
    amp: bool = True  # mixed precision on CUDA
    data_dir: str = ""
    lineart_dir: str | None = None
    # What the generator is conditioned on (docs/feedback.md). gt: the true previous frame
    # (teacher forcing, the paper); generated: its own output for the previous frame, made by
    # unrolling `unroll` frames from the true frame before them; mixed: generated with a
    # probability that grows linearly to 1 over the first `mixed_ramp` of training.
    # The default (generated, unroll 2, degrade 0.5) was chosen by bench/drift.py: see docs/feedback.md.
    prev_source: str = "generated"
    unroll: int = 2
    unroll_grad: bool = False  # backpropagate through the unrolled frames (costs memory and time)
    mixed_ramp: float = 0.5
    degrade: float = 0.5  # chance that a previous frame is blurred, noised, colour-shifted and warped
    # The true frame a condition starts from lies 1 to prev_gap frames back (docs/feedback.md).
    prev_gap: int = 8
    # Copy-gate models: weight of the loss that teaches the gate where copying the condition is
    # right (closer to the target than painting, or within gate_tolerance of it) and where not.
    lambda_gate: float = 1.0
    gate_tolerance: float = 0.02
    # Weight of the short-term temporal loss: G's output for t against its own output for t-1
    # moved along the true motion, where both frames show the same content (frames G made itself).
    lambda_temporal: float = 5.0
    # Fine-tuning: the model the run starts from ({"reference", "path", "sha256", "lineage"}),
    # and earlier training data mixed into every batch so the model keeps what it knew.
    init_from: dict | None = None
    replay_dir: str | None = None
    replay_fraction: float = 0.0
    replay_lineart_dir: str | None = None  # artists' line art of the replayed data, as lineart_dir

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig.from_json(self.model))
        checks = {"epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1, "lr_g": self.lr_g > 0, "lr_d": self.lr_d > 0,
                  "blank_probability": 0 <= self.blank_probability <= 1, "keep": self.keep >= 1,
                  "val_fraction": 0 <= self.val_fraction < 1, "checkpoint_every": self.checkpoint_every >= 1,
                  "max_steps": self.max_steps is None or self.max_steps >= 1, "unroll": self.unroll >= 1,
                  "degrade": 0 <= self.degrade <= 1, "mixed_ramp": 0 < self.mixed_ramp <= 1,
                  "lambda_gate": self.lambda_gate >= 0, "prev_gap": self.prev_gap >= 1, "gate_tolerance": 0 <= self.gate_tolerance <= 1,
                  "lambda_temporal": self.lambda_temporal >= 0, "replay_fraction": 0 <= self.replay_fraction < 1}
        if self.prev_source not in PREV_SOURCES:
            raise UsageError(f"unknown --prev-source {self.prev_source!r}", hint=f"one of {', '.join(PREV_SOURCES)}")
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise UsageError(f"training setting {bad[0]}={getattr(self, bad[0])} is out of range")
        if self.replay_fraction > 0 and not self.replay_dir:
            raise UsageError("--replay-fraction needs --replay OLD_DATA", hint="name the data the model was trained on")

    @property
    def uses_vgg(self) -> bool:
        return self.lambda_style > 0 or self.content_weight > 0

    @property
    def content_weight(self) -> float:
        if self.model.input.mode == "greyscale" and not self.content_for_greyscale:
            return 0.0
        return self.lambda_content

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# Fine-tuning a trained model on a few corrected frames (docs/training.md#fine-tuning): a
# generator learning rate seven times the paper's over 2000 steps, under nine minutes of one
# CPU thread for the tiny model at 128 pixels. On the new-character benchmark 5e-4 learned
# less and 1e-3 forgot more of the old clips; 1000 steps learned less. No held-out frames
# (there are too few to spare); a quarter of each batch replayed from the earlier data with
# --replay.
FINETUNE = dict(lr_g=7e-4, lr_d=1e-5, max_steps=2000, epochs=100_000, val_fraction=0.0, checkpoint_every=250,
                sample_every=250)
FINETUNE_REPLAY_FRACTION = 0.25

TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(model=model_preset("paper")),
    "small": dict(model=model_preset("small"), batch_size=8, ndf=32, checkpoint_every=200, sample_every=100),
    "tiny": dict(model=model_preset("tiny"), batch_size=4, ndf=8, checkpoint_every=50, sample_every=50, workers=0),
    "pix2pix": dict(model=model_preset("pix2pix"), lambda_content=0.0, lambda_style=0.0, lr_d=1e-4),
}


def train_preset(name: str, **overrides: Any) -> TrainConfig:
    if name not in TRAIN_PRESETS:
        raise UsageError(f"unknown preset {name!r}", hint=f"one of {', '.join(TRAIN_PRESETS)}")
    base = TrainConfig(**TRAIN_PRESETS[name])
    model_changes = {k: overrides.pop(k) for k in list(overrides) if k in {f.name for f in fields(ModelConfig)}}
    model = base.model.with_overrides(**model_changes)
    if model.arch == "unet" or not model.use_previous:
        # the gate copies the previous frame: only the residual generator conditioned on one has it
        if model_changes.get("copy_gate"):
            raise UsageError("--copy-gate needs the residual generator conditioned on a previous frame",
                             hint="drop --copy-gate, --arch unet or --no-previous")
        model = replace(model, copy_gate=False)
    if model.arch == "unet":
        # the U-Net halves the crop at each level: at most log2(size) levels fit
        model = replace(model, unet_downs=min(model.unet_downs, int(math.log2(model.image_size))))
    return replace(base, model=model, **{k: v for k, v in overrides.items() if v is not None})


# --------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed(device_name: str) -> tuple[Dist, torch.device]:
    """Join the torchrun process group if launched by torchrun (gloo on CPU, nccl on CUDA)."""
    from .runtime import select_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), select_device(device_name)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world, local_rank), torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")


# --------------------------------------------------------------------------- the run folder


def weights_init(module: nn.Module) -> None:
    """pix2pix's initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        weight = getattr(module, "parametrizations", None)
        target = module.parametrizations.weight.original if weight is not None else module.weight
        nn.init.normal_(target, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
            if hasattr(module, "gate_bias"):
                with torch.no_grad():
                    module.bias[3] = module.gate_bias
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def latest_checkpoint(run_dir: Path) -> Path | None:
    files = sorted((run_dir / CHECKPOINT_DIR).glob("step-*.pt"))
    return files[-1] if files else None


def read_run_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise TrainingError(f"{run_dir}: not a tcvc run folder (no config.json)", hint="pass the folder a previous `tcvc train` wrote")
    try:
        return TrainConfig.from_json(json.loads(path.read_text("utf-8")))
    except (ValueError, TypeError) as exc:
        raise TrainingError(f"{path}: unreadable run config ({exc})") from None


def _atomic_torch_save(obj: Any, path: Path) -> None:
    temp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    torch.save(obj, temp)
    os.replace(temp, path)


def _digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _ignore_interrupts(worker_id: int) -> None:
    """Ctrl-C is for the main process, which stops cleanly; workers must not die of it first."""
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


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class OwnOutput:
    """G's own output for the frame before t, before any degradation, and the samples that used it."""

    image: torch.Tensor
    used: torch.Tensor


@dataclass(frozen=True)
class Condition:
    image: torch.Tensor  # what G is conditioned on
    own: OwnOutput | None  # set when some samples are conditioned on G's own output


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
        config = self.config
        cache = self.run_dir / "cache"
        size = config.model.image_size
        if self.dist.is_main:
            clips = load_clips(Path(config.data_dir), cache, size, config.model.input,
                               Path(config.lineart_dir) if config.lineart_dir else None)
        if self.dist.enabled:
            torch.distributed.barrier()  # rank 0 prepared the cache; the others read it
        if not self.dist.is_main:
            clips = load_clips(Path(config.data_dir), cache, size, config.model.input,
                               Path(config.lineart_dir) if config.lineart_dir else None)
        train_clips, val_clips = split_clips(clips, config.val_fraction)
        new_frames = sum(len(c) for c in train_clips)
        if config.replay_dir:
            replayed = load_clips(Path(config.replay_dir), cache / "replay", size, config.model.input,
                                  Path(config.replay_lineart_dir) if config.replay_lineart_dir else None)
            train_clips = train_clips + replayed
        self.skipped_frames = sum(c.skipped for c in clips)
        crop = size
        for clip in clips:
            if min(clip.colour.shape[1:3]) < crop:
                raise TrainingError(f"{clip.name}: frames smaller than the training size {crop}")
        history = config.unroll if config.prev_source != "gt" and config.model.use_previous else 0
        line_motion = config.model.condition == "motion" and config.model.use_previous
        self.train_set = SequenceDataset(train_clips, crop, config.blank_probability, train=True, seed=config.seed, history=history,
                                         max_gap=config.prev_gap, motion=config.lambda_temporal > 0, line_motion=line_motion)
        self.val_set = SequenceDataset(val_clips, crop, train=False, seed=config.seed, line_motion=line_motion) if val_clips else None
        fine_tuning = config.init_from is not None or bool(config.replay_dir)
        if fine_tuning:
            # A few corrected frames still fill batches; replayed items join each batch.
            replay = round(config.replay_fraction * self.batch_per_rank) if config.replay_dir else 0
            if config.replay_dir and config.replay_fraction > 0 and replay == 0:
                replay = 1
            fresh = self.batch_per_rank - replay
            if fresh < 1:
                raise UsageError(f"--replay-fraction {config.replay_fraction} leaves no room for new frames in a batch of "
                                 f"{self.batch_per_rank}", hint="lower --replay-fraction or raise --batch-size")
            self.replay_per_batch = replay
            self.steps_per_epoch = max(1, math.ceil(new_frames / (fresh * self.dist.world)))
        else:
            self.steps_per_epoch = len(self.train_set) // self.dist.world // self.batch_per_rank
            if self.steps_per_epoch == 0:
                raise TrainingError(f"{len(self.train_set)} training frames cannot fill one batch of {config.batch_size}",
                                    hint="add frames or lower --batch-size")
        self.total_steps = config.epochs * self.steps_per_epoch
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)
        if fine_tuning:
            self.sampler = MixedBatches(new_frames, len(self.train_set) - new_frames, self.batch_per_rank, self.replay_per_batch,
                                        self.steps_per_epoch, self.dist.rank, self.dist.world, config.seed)
        else:
            self.sampler = EpochBatches(len(self.train_set), self.batch_per_rank, self.steps_per_epoch, self.dist.rank,
                                        self.dist.world, config.seed)
        # One loader for the whole run: its worker processes stay up from epoch to epoch.
        self.loader = DataLoader(self.train_set, batch_sampler=self.sampler, num_workers=config.workers,
                                 pin_memory=self.cuda, persistent_workers=config.workers > 0,
                                 worker_init_fn=_ignore_interrupts if config.workers > 0 else None)

    def _batches(self, epoch: int, skip: int) -> Iterator[dict[str, torch.Tensor]]:
        """The epoch's batches for this rank, in a fixed order, starting after `skip` of them."""
        self.sampler.set(epoch, skip)
        for batch in self.loader:
            yield {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    # -- what the generator is conditioned on
    def generated_probability(self, step: int) -> float:
        if self.config.prev_source == "gt":
            return 0.0
        if self.config.prev_source == "generated":
            return 1.0
        return min(1.0, step / max(1.0, self.config.mixed_ramp * self.total_steps))

    def condition(self, batch: dict[str, torch.Tensor], step: int) -> Condition:
        """The previous-frame condition for this batch: true, generated by G itself, degraded."""
        config = self.config
        previous = batch["previous"]
        own = None
        if not config.model.use_previous:
            return Condition(previous, own)
        generator = torch.Generator().manual_seed(config.seed * 7919 + step)
        not_blank = ~batch["blank"].to(previous.device)
        probability = self.generated_probability(step)
        use = None
        if probability > 0 and "history_lines" in batch:
            use = not_blank & (torch.rand(len(previous), generator=generator) < probability).to(previous.device)
            if use.any():
                made = self._unroll(batch)
                previous = torch.where(use.view(-1, 1, 1, 1), made, previous)
                own = OwnOutput(made, use)
        if config.degrade > 0:
            chosen = not_blank & (torch.rand(len(previous), generator=generator) < config.degrade).to(previous.device)
            if chosen.any():
                previous = torch.where(chosen.view(-1, 1, 1, 1), degrade(previous, generator), previous)
        if config.model.condition == "motion":
            # G's own output is for frame t-1; a true condition comes from 1 to --prev-gap frames back.
            flow, valid = batch["flow"], batch["flow_valid"]
            if own is not None:
                flow = torch.where(use.view(-1, 1, 1, 1), batch["own_flow"], flow)
                valid = torch.where(use.view(-1, 1, 1, 1), batch["own_flow_valid"], valid)
            previous = motion_condition(previous, flow, valid)
        return Condition(previous, own)

    def _unroll(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Run G over the frames before t, each output conditioning the next, as colorize does."""
        condition = batch["history_start"]
        grad = torch.enable_grad() if self.config.unroll_grad else torch.no_grad()
        with grad:
            for j in range(batch["history_lines"].shape[1]):
                seen = condition
                if self.config.model.condition == "motion":
                    seen = motion_condition(condition, batch["history_flows"][:, j], batch["history_flow_valid"][:, j])
                output = self.g_train(batch["history_lines"][:, j], seen)
                condition = torch.where(batch["history_valid"][:, j].view(-1, 1, 1, 1), output.to(condition.dtype), condition)
        return condition

    # -- one optimisation step
    def _step(self, batch: dict[str, torch.Tensor], step: int = 0) -> dict[str, float]:
        config = self.config
        line, target = batch["line"], batch["target"]
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()
        with autocast:
            condition = self.condition(batch, step)
        previous = condition.image.float()
        if self.cuda:
            line, previous, target = (t.contiguous(memory_format=torch.channels_last) for t in (line, previous, target))
        with autocast:
            if self.gated:
                fake, gate_logit, painted = self.g_train(line, previous, with_gate=True)
            else:
                fake, gate_logit, painted = self.g_train(line, previous), None, None
            # discriminator
            real_logits = self.d_train(line, previous, target)
            fake_logits = self.d_train(line, previous, fake.detach())
            loss_d = 0.5 * (adversarial_loss(real_logits, True) + adversarial_loss(fake_logits, False))
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_d)
        with autocast:
            adv = adversarial_loss(self.d_train(line, previous, fake), True)
            l1 = F.l1_loss(fake, target)
            content = style = torch.zeros((), device=self.device)
            if self.vgg is not None:
                fake_features, real_features = self.vgg(fake), self.vgg(target)
                if config.content_weight > 0:
                    content = content_loss(fake_features, real_features)
                if config.lambda_style > 0:
                    style = style_loss(fake_features, real_features)
            gate = paint = torch.zeros((), device=self.device)
            if gate_logit is not None:
                # The painting must stand on its own where the gate shuts, so it learns
                # everywhere, not only where the gate already lets it through.
                paint = F.l1_loss(painted.float(), target.float())
                if config.lambda_gate > 0:
                    gate = gate_loss(gate_logit, previous, painted, target, config.gate_tolerance)
            temporal = torch.zeros((), device=self.device)
            if config.lambda_temporal > 0 and condition.own is not None and "motion" in batch:
                valid = batch["motion_valid"] & condition.own.used.view(-1, 1, 1, 1)
                temporal = temporal_loss(fake, condition.own.image, batch["motion"], valid)
            loss_g = (config.lambda_adv * adv + config.lambda_l1 * (l1 + paint) + config.content_weight * content
                      + config.lambda_style * style + config.lambda_gate * gate + config.lambda_temporal * temporal)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        self._last = {"line": line, "previous": previous, "fake": fake.detach(), "target": target}
        return {"loss_g": loss_g.item(), "loss_d": loss_d.item(), "adv": adv.item(), "l1": l1.item(),
                "content": content.item(), "style": style.item(), "gate": gate.item(),
                "paint": paint.item(), "temporal": temporal.item()}

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

    # -- state
    def _state(self, step: int, best: float | None) -> dict[str, Any]:
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "scaler": self.scaler.state_dict(),
                "step": step, "best": best, "config": json.dumps(self.config.to_json()),
                "rng_torch": torch.get_rng_state(), "rng_numpy": json.dumps(np.random.get_state()[1].tolist()),
                "rng_python": json.dumps(random.getstate()[1])}

    def _save(self, step: int, best: float | None, val: float | None) -> Path:
        folder = self.run_dir / CHECKPOINT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step-{step:08d}.pt"
        _atomic_torch_save(self._state(step, best), path)
        extra = {"step": step, "val_l1": val, "run": str(self.run_dir.resolve()), **self._lineage()}
        save_generator(self.run_dir / "generator-latest.safetensors", self.generator, self.config.model, extra)
        for old in sorted(folder.glob("step-*.pt"))[: -self.config.keep]:
            old.unlink(missing_ok=True)
        return path

    def _lineage(self) -> dict[str, Any]:
        """What this model was fine-tuned from, back to the first model trained from scratch."""
        init = self.config.init_from
        if init is None:
            return {}
        parent = {k: init[k] for k in ("reference", "path", "sha256") if k in init}
        return {"init_from": parent, "lineage": [parent, *init.get("lineage", [])],
                "fine_tuned_on": self.config.data_dir}

    def _restore(self) -> tuple[int, float | None]:
        path = latest_checkpoint(self.run_dir)
        if path is None:
            raise TrainingError(f"{self.run_dir}: no checkpoint to resume from", hint="start a new run without --resume")
        try:
            state = torch.load(str(path), map_location=self.device, weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise TrainingError(f"{path}: unreadable checkpoint ({str(exc).splitlines()[0][:160]})") from None
        saved = TrainConfig.from_json(json.loads(state["config"]))
        if saved.model != self.config.model:
            raise TrainingError(f"{path}: written for another architecture ({saved.model.arch}, ngf={saved.model.ngf}, "
                                f"blocks={saved.model.n_blocks}) than this run's", hint="resume with the run's own config.json")
        try:
            self.generator.load_state_dict(state["generator"])
            self.discriminator.load_state_dict(state["discriminator"])
        except RuntimeError as exc:
            raise TrainingError(f"{path}: weights do not fit the model ({str(exc).splitlines()[0][:160]})") from None
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng_torch"].cpu())
        return int(state["step"]), state.get("best")

    def _write_sample(self, step: int) -> Path:
        last = self._last
        rows = []
        for i in range(min(4, last["fake"].shape[0])):
            parts = [last["line"][i].expand(3, -1, -1), last["previous"][i][:3], last["fake"][i].float(), last["target"][i]]
            rows.append(torch.cat([p.float().clamp(0, 1) for p in parts], 2))
        grid = (torch.cat(rows, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
        folder = self.run_dir / "samples"
        folder.mkdir(exist_ok=True)
        path = folder / f"step-{step:08d}.png"
        media.write_image(path, grid)
        return path

    # -- the loop
    def run(self) -> Iterator[dict[str, Any]]:
        self._seed()
        created = not self.resume and not self.run_dir.exists()
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(json.dumps(self.config.to_json(), indent=2) + "\n", "utf-8")
        yield {"type": "preparing", "step": 0, "what": "reading the training frames into the cache"}
        try:
            self._data()
            self._build()
        except BaseException:
            if created and self.dist.is_main:  # a run that never started leaves no folder to trip over
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        step, best = self._restore() if self.resume else (0, None)
        yield {"type": "start", "step": step, "total_steps": self.total_steps, "steps_per_epoch": self.steps_per_epoch,
               "train_frames": len(self.train_set), "val_frames": len(self.val_set) if self.val_set else 0,
               "skipped_frames": self.skipped_frames, "device": str(self.device), "world": self.dist.world}
        metrics_file = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") if self.dist.is_main else None
        if step == 0 and self.dist.is_main:
            untrained = self.validate()
            metrics_file.write(json.dumps({"step": 0, "val_l1": untrained}) + "\n")
            yield {"type": "validation", "step": 0, "val_l1": untrained}
        last_good = latest_checkpoint(self.run_dir)
        started, samples_done = time.perf_counter(), 0
        try:
            with _StopFlag() as stop:
                while step < self.total_steps:
                    epoch, skip = divmod(step, self.steps_per_epoch)
                    for batch in self._batches(epoch, skip):
                        losses = self._step(batch, step)
                        if not all(math.isfinite(v) for v in losses.values()):
                            where = f"; the last good checkpoint is {last_good}" if last_good else "; no checkpoint was written yet"
                            raise TrainingError(f"the loss became {losses['loss_g']:.3g}/{losses['loss_d']:.3g} (G/D) at step {step + 1}{where}",
                                                hint="lower the learning rates (--lr-g/--lr-d), or resume from the last checkpoint")
                        step += 1
                        samples_done += batch["line"].shape[0] * self.dist.world
                        rate = samples_done / (time.perf_counter() - started)
                        event = {"type": "step", "step": step, "epoch": epoch + 1, "samples_per_s": rate, **losses}
                        if self.dist.is_main:
                            metrics_file.write(json.dumps(event) + "\n")
                        yield event
                        end_of_epoch = step % self.steps_per_epoch == 0
                        if self.dist.enabled:  # every rank stops at the same step, or the next all-reduce hangs
                            flags = torch.tensor([float(stop.requested), float(stop.terminated)], device=self.device)
                            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
                            stop.requested, stop.terminated = bool(flags[0]), bool(flags[1])
                        stopping = stop.requested or step >= self.total_steps
                        if self.dist.is_main and step % self.config.sample_every == 0:
                            self._write_sample(step)
                        if step % self.config.checkpoint_every == 0 or (end_of_epoch and self.config.checkpoint_epochs) or stopping:
                            plot = step % self.config.checkpoint_every == 0 or stopping
                            yield from self._checkpoint(step, best, metrics_file, plot)
                            best = self._best
                            last_good = latest_checkpoint(self.run_dir)
                        if stop.requested:
                            kind = Preempted if stop.terminated else Interrupted
                            raise kind(f"stopped at step {step}; checkpoint saved in {self.run_dir}",
                                       hint=f"continue with: tcvc train --resume {self.run_dir}")
                        if step >= self.total_steps:
                            break
        finally:
            if metrics_file:
                metrics_file.close()
        # The generator `--model RUN_DIR` loads (the best on validation, when there was any), and the last one.
        summary = {"type": "done", "step": step, "run_dir": str(self.run_dir), "best_val_l1": best,
                   "generator": str(resolve_model(str(self.run_dir))) if self.dist.is_main else None,
                   "latest_generator": str(self.run_dir / "generator-latest.safetensors")}
        if self.dist.enabled:
            digests: list[str] = [""] * self.dist.world
            torch.distributed.all_gather_object(digests, _digest(self.generator))
            summary["ranks_identical"] = len(set(digests)) == 1
        if self.dist.is_main:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
        yield summary

    def _checkpoint(self, step: int, best: float | None, metrics_file, plot: bool) -> Iterator[dict[str, Any]]:
        self._best = best
        if not self.dist.is_main:
            return
        val = self.validate()
        if val is not None and (best is None or val < best):
            best = self._best = val
            save_generator(self.run_dir / "generator-best.safetensors", self.generator, self.config.model,
                           {"step": step, "val_l1": val, **self._lineage()})
        path = self._save(step, best, val)
        metrics_file.write(json.dumps({"step": step, "val_l1": val}) + "\n")
        metrics_file.flush()
        if plot:  # the loss curve and a sample grid with every periodic checkpoint, not every (short) epoch
            if step % self.config.sample_every != 0:
                self._write_sample(step)
            plot_losses(self.run_dir)
        yield {"type": "checkpoint", "step": step, "path": str(path), "val_l1": val, "best_val_l1": best}


def gate_loss(logit: torch.Tensor, previous: torch.Tensor, painted: torch.Tensor, target: torch.Tensor,
              tolerance: float) -> torch.Tensor:
    """Teach the copy gate directly, per pixel: open where copying the condition is at least as
    close to the target as the generator's painting, or within `tolerance` of the target;
    shut elsewhere (moved content, a blank condition). The painting has its own L1 loss, so
    the comparison is against a colorizer that is worth shutting the gate for."""
    copy_error = (previous[:, :3].float() - target.float()).abs().mean(1, keepdim=True)
    paint_error = (painted.detach().float() - target.float()).abs().mean(1, keepdim=True)
    copy_is_right = ((copy_error <= paint_error) | (copy_error <= tolerance)).float()
    return F.binary_cross_entropy_with_logits(logit.float(), copy_is_right)


def degrade(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Imperfect previous frames: blur, noise, per-channel colour gain and offset, and a small
    random shift and rotation - the kinds of error the generator's own outputs carry."""
    batch, _, height, width = images.shape

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return (low + (high - low) * torch.rand(*shape, generator=generator)).to(images.device)

    sigma = float(uniform(0.1, 1.5, 1))
    radius = max(1, int(round(2 * sigma)))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    taps = (taps / taps.sum()).to(images.device, images.dtype)
    blurred = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode="replicate"), taps.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    blurred = F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="replicate"), taps.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    gain, offset = uniform(0.92, 1.08, batch, 3, 1, 1), uniform(-0.04, 0.04, batch, 3, 1, 1)
    noisy = blurred * gain + offset + uniform(0.0, 0.03, batch, 1, 1, 1) * torch.randn(images.shape, generator=generator).to(images.device)
    angle = uniform(-0.02, 0.02, batch)
    shift = uniform(-2.0, 2.0, batch, 2) * torch.tensor([2.0 / width, 2.0 / height], device=images.device)
    theta = torch.zeros(batch, 2, 3, device=images.device)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(noisy, grid.to(images.dtype), padding_mode="border", align_corners=False)
    return warped.clamp(0, 1)


def plot_losses(run_dir: Path) -> Path | None:
    """loss.png: generator and discriminator losses and validation L1 over steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text("utf-8").splitlines() if line.strip()]
    steps = [r for r in rows if r.get("type") == "step"]
    vals = [r for r in rows if r.get("val_l1") is not None and "type" not in r]
    if not steps:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for key in ("loss_g", "loss_d", "l1"):
        axes[0].plot([r["step"] for r in steps], [r[key] for r in steps], label=key, linewidth=0.8)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].legend()
    if vals:
        axes[1].plot([r["step"] for r in vals], [r["val_l1"] for r in vals], marker="o")
    axes[1].set_xlabel("step")
    axes[1].set_title("validation L1")
    figure.tight_layout()
    path = run_dir / "loss.png"
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def train(config: TrainConfig, run_dir: Path, *, device: str = "auto", resume: bool = False) -> Iterator[dict[str, Any]]:
    """Train (or resume) a run; yields events: preparing, start, validation, step, checkpoint, done."""
    yield from Trainer(config, run_dir, device=device, resume=resume).run()
