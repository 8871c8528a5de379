"""What the shot loops (carried.py, plain.py) and the pipeline threads ask of the engine that
runs them, as a Protocol: they take a Colorizer without importing engine.py, so the engine sits
over them and no import circle forms.

Owns: Engine. Imports: colorize.options.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
import torch

from .options import ColorizeOptions

Painter = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class Engine(Protocol):
    options: ColorizeOptions
    carries_motion: bool  # colours follow the line art's motion (no model, or a motion-compensated one)
    is_lineart: bool  # the input is line art (not greyscale)
    cut_reset: str  # "seed" or "blank": what a new shot starts from
    model: torch.nn.Module | None
    device: torch.device
    dtype: torch.dtype

    @property
    def model_work_size(self) -> int | None:
        """The short side the model runs at (None: the source's own)."""

    def line_of(self, frame: np.ndarray) -> np.ndarray:
        """The line art the engine colours, from a decoded frame."""

    def motion_painter(self, work: tuple[int, int]) -> Painter:
        """The motion-compensated model as propagate.py's painter, at a work size."""

    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        """An image as a (1, C, H, W) tensor on the engine's device, in [0, 1]."""

    def forward(self, line: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """The generator on one frame's line art and condition."""
