"""What a colouring run is asked to do: the engine's options, delivery (layers, numbering, depth),
and the sizes and anchoring of the plain-condition feedback loop.

Owns: ColorizeOptions, Delivery, Anchor, work_dimensions. Imports: media, errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import UsageError
from .layers import LAYERS
from .suggest import METHODS

Upscale = Literal["bicubic", "flat"]


Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ColorizeOptions:
    """How a video is coloured (everything but the model and the paths)."""

    work_size: int | None = None  # short side in pixels; None: the checkpoint's training size; 0: native
    upscale: Upscale = "bicubic"
    scene_detect: bool = True
    cut_threshold: float = 0.5
    # After a cut: "seed" carries the seed frame into the new shot, "blank" lets the model paint
    # the shot's first frame from its line art; "auto": blank for motion-compensated models
    # (docs/training.md#fine-tuning), seed otherwise.
    cut_reset: Literal["auto", "seed", "blank"] = "auto"
    feedback: bool = True  # False: every frame is conditioned on the seed (or blank)
    # Anchoring: where the line art within anchor_radius work pixels is as it was on the shot's
    # seed frame or latest keyframe, the condition moves this far (0-1) back to that frame.
    anchor: float = 1.0
    anchor_radius: int | None = None  # None: 1/32 of the work size's short side
    from_color: bool = False  # input is colour/greyscale footage: derive the model's input first
    # Around a later keyframe of the same shot, also colour backwards from it and blend the two
    # passes (motion-carried colouring: model-free, or a motion-compensated model).
    both_ways: bool = True
    device: str = "auto"
    half: bool = True  # half precision on CUDA
    segment_frames: int = 240  # frames per resumable segment
    # Scale a seed frame or keyframe of another aspect ratio to the line art (refused otherwise).
    stretch_references: bool = False

    def __post_init__(self) -> None:
        if self.upscale not in ("bicubic", "flat"):
            raise UsageError(f"unknown --upscale {self.upscale!r}", hint="use bicubic or flat")
        if self.cut_reset not in ("auto", "seed", "blank"):
            raise UsageError(f"unknown --cut-reset {self.cut_reset!r}", hint="use auto, seed or blank")
        if self.work_size is not None and self.work_size != 0 and self.work_size < 16:
            raise UsageError(f"--work-size {self.work_size} is too small", hint="use at least 16, or native")
        if self.segment_frames < 1:
            raise UsageError("segment length must be at least 1 frame")
        if not 0 <= self.anchor <= 1:
            raise UsageError(f"--anchor {self.anchor} is out of range", hint="a strength from 0 (off) to 1")
        if self.anchor_radius is not None and self.anchor_radius < 0:
            raise UsageError(f"--anchor-radius {self.anchor_radius} is negative")


@dataclass(frozen=True)
class Delivery:
    """What a run writes besides the composed frames, and how sequences are numbered."""

    layers: tuple[str, ...] = ("composed",)  # composed, paint, lines (layers.py)
    start_number: int | None = None  # renumber output sequences from here (None: the input's numbers)
    bits: int | None = None  # 8 or 16 for image outputs (None: the input's depth)
    fill_gaps: bool = False  # hold the frame before each missing frame of a numbered input
    # Carry the input's alpha into the outputs: for cels on a transparent background. (Line art
    # on transparent paper is read over white and coloured opaque without it.)
    keep_alpha: bool = False

    def __post_init__(self) -> None:
        unknown = [layer for layer in self.layers if layer not in LAYERS]
        if unknown or not self.layers:
            raise UsageError(f"unknown layer {unknown[0]!r}" if unknown else "no layers to write",
                             hint=f"--layers takes a comma-separated list of {', '.join(LAYERS)}")
        if self.bits not in (None, 8, 16):
            raise UsageError(f"--bit-depth {self.bits} is not supported", hint="use 8 or 16")


# A line-art pixel whose value moved by more than this (0-1) since the anchor frame has changed.
LINE_CHANGE = 0.3


@dataclass(frozen=True)
class Anchor:
    """A coloured frame of the current shot (the seed or a keyframe) and the line art of its frame,
    both as (1, C, H, W) tensors at the work size."""

    colour: torch.Tensor
    line: torch.Tensor


def anchor_condition(condition: torch.Tensor, line: torch.Tensor, anchor: Anchor, radius: int, strength: float) -> torch.Tensor:
    """Move the condition `strength` of the way back to the anchor's colours wherever no line of
    `line` within `radius` pixels differs from the anchor frame's line art: content there has not
    moved since the artist's colouring, which is better than any fed-back copy of it."""
    changed = (line.float() - anchor.line.float()).abs().amax(1, keepdim=True)
    if radius > 0:
        changed = F.max_pool2d(changed, 2 * radius + 1, stride=1, padding=radius)
    keep = (changed <= LINE_CHANGE).to(condition.dtype) * strength
    return condition + keep * (anchor.colour.to(condition.dtype) - condition)


def work_dimensions(width: int, height: int, short_side: int | None, multiple: int = 4) -> tuple[int, int]:
    """Scale (width, height) so the short side is `short_side`, keeping aspect, rounded to `multiple`."""
    if not short_side:
        return width, height
    scale = short_side / min(width, height)
    return (max(multiple, int(round(width * scale / multiple)) * multiple),
            max(multiple, int(round(height * scale / multiple)) * multiple))


@dataclass(frozen=True)
class Suggest:
    """Keyframes to suggest after colouring: `count` per shot, chosen by `method`
    (suggest.METHODS), their line art written to `to_paint` when given."""

    count: int = 0
    method: str = "greedy"
    to_paint: Path | None = None

    def __post_init__(self) -> None:
        if self.count < 0:
            raise UsageError(f"--suggest-keyframes must be 0 or more, got {self.count}")
        if self.method not in METHODS:
            raise UsageError(f"unknown --suggest-method {self.method!r}", hint=f"one of {', '.join(METHODS)}")
        if self.to_paint is not None and self.count == 0:
            raise UsageError("--to-paint needs --suggest-keyframes N", hint="say how many frames per shot to suggest")
