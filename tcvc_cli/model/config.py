"""Frozen configuration objects. Checkpoints embed ModelConfig, so loading needs no flags."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from ..errors import ModelError, UsageError
from ..lineart import LineartParams

Arch = Literal["resnet", "unet"]
ConditionKind = Literal["previous", "motion"]


@dataclass(frozen=True)
class ModelConfig:
    """Generator architecture plus the input convention it was trained with."""

    arch: Arch = "resnet"
    use_previous: bool = True  # condition on the previous colour frame (False: the pix2pix baseline)
    ngf: int = 64  # channels after the first conv
    n_downsampling: int = 2
    n_blocks: int = 8
    dilation: int = 2  # dilation of the first 3x3 conv of each residual block (reference code: 2)
    unet_downs: int = 8  # U-Net depth: 8 downsamplings = the pix2pix unet_256
    # Beyond the paper: a fourth output channel gates, per pixel, between copying the previous
    # frame and painting a new colour, so unchanged regions pass through at full sharpness.
    copy_gate: bool = False
    # What the previous colour frame looks like to the generator. previous: as it is (the
    # paper). motion: moved onto frame t along the line art's motion, with a fourth channel
    # marking where that motion is consistent (tcvc_cli/motion.py), so the gate copies what
    # the motion explains and the painting fills only what moved or appeared.
    condition: ConditionKind = "previous"
    image_size: int = 256  # training size (short side); colorize's default work size
    input: LineartParams = field(default_factory=LineartParams)

    def __post_init__(self) -> None:
        if self.condition not in ("previous", "motion"):
            raise UsageError(f"unknown condition {self.condition!r}", hint="use previous or motion")
        if self.arch not in ("resnet", "unet"):
            raise UsageError(f"unknown architecture {self.arch!r}", hint="use resnet (tcvc) or unet (pix2pix baseline)")
        for name in ("ngf", "n_blocks", "image_size", "unet_downs"):
            if getattr(self, name) < (0 if name == "n_blocks" else 1):
                raise UsageError(f"model setting {name}={getattr(self, name)} is out of range")
        if isinstance(self.input, dict):  # built from JSON
            object.__setattr__(self, "input", LineartParams.from_json(self.input))

    @property
    def condition_channels(self) -> int:
        """Channels of the previous-frame condition: RGB, plus the consistency mask for motion."""
        if not self.use_previous:
            return 0
        return 4 if self.condition == "motion" else 3

    @property
    def size_multiple(self) -> int:
        """Spatial sizes the generator accepts are multiples of this."""
        return 2 ** (self.unet_downs if self.arch == "unet" else self.n_downsampling)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ModelError(f"the checkpoint's model config has unknown fields {sorted(unknown)}",
                             hint="it was written by a newer tcvc; upgrade tcvc")
        return cls(**data)

    def with_overrides(self, **changes: Any) -> "ModelConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


MODEL_PRESETS: dict[str, ModelConfig] = {
    # The paper: 2 downsamplings, 8 residual blocks at 256 channels, trained at 256x256; with
    # the copy gate, which the feedback measurements support (docs/feedback.md), and the
    # motion-compensated condition, which beat the plain one on every benchmark clip
    # (docs/motion.md).
    "paper": ModelConfig(copy_gate=True, condition="motion"),
    # CPU-friendly: a quarter of the paper's width, 6 blocks, 128 px.
    "small": ModelConfig(ngf=16, n_blocks=6, copy_gate=True, image_size=128, condition="motion"),
    # For tests and the demo: tiny and fast.
    "tiny": ModelConfig(ngf=8, n_blocks=2, copy_gate=True, image_size=64, condition="motion"),
    # The paper's baseline: pix2pix U-Net (unet_256) on line art alone.
    "pix2pix": ModelConfig(arch="unet", use_previous=False, ngf=64, unet_downs=8, image_size=256),
}


def model_preset(name: str) -> ModelConfig:
    try:
        return MODEL_PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r}", hint=f"one of {', '.join(MODEL_PRESETS)}") from None
