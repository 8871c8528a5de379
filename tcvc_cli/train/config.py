"""What a training run is asked to do: TrainConfig (losses, schedule, data, fine-tuning) and the
presets, as config.json holds them.

Owns: TrainConfig, train_preset, FINETUNE. Imports: model.config, errors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..errors import UsageError
from ..model.config import ModelConfig, model_preset

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
