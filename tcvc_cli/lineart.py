"""Colour frame -> model input (synthetic line art or greyscale), as pure functions.

Line art follows the paper: greyscale, Gaussian blur with sigma 1, Canny, inverted so lines
are black (0) on white (255). Canny thresholds default to 50/150: the 1:3 ratio Canny
recommended, low enough that the boundary between two flat cel colours of similar
brightness still yields an edge once sigma-1 smoothing has softened it, high enough that
compression noise and soft shading gradients do not. Gradients use the exact L2 norm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import cv2
import numpy as np

from .errors import UsageError

InputMode = Literal["lineart", "greyscale"]


@dataclass(frozen=True)
class LineartParams:
    """How a colour frame becomes the generator's one-channel input."""

    mode: InputMode = "lineart"
    sigma: float = 1.0
    low: float = 50.0
    high: float = 150.0

    def __post_init__(self) -> None:
        if self.mode not in ("lineart", "greyscale"):
            raise UsageError(f"unknown mode {self.mode!r}", hint="use canny (line art) or greyscale")
        if self.sigma < 0:
            raise UsageError(f"--sigma must be >= 0, got {self.sigma}")
        if not 0 <= self.low <= self.high:
            raise UsageError(f"thresholds must satisfy 0 <= low <= high, got low={self.low} high={self.high}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "LineartParams":
        return cls(**{k: data[k] for k in ("mode", "sigma", "low", "high") if k in data})


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma, uint8 HxW (the weights OpenCV and the paper's tooling use)."""
    if rgb.ndim == 2:
        return rgb
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def canny_lineart(rgb: np.ndarray, sigma: float = 1.0, low: float = 50.0, high: float = 150.0) -> np.ndarray:
    """Synthetic line art: uint8 HxW, black (0) lines on white (255)."""
    grey = to_grey(rgb)
    if sigma > 0:
        grey = cv2.GaussianBlur(grey, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    edges = cv2.Canny(grey, low, high, L2gradient=True)
    return 255 - edges


def extract(rgb: np.ndarray, params: LineartParams = LineartParams()) -> np.ndarray:
    """The generator's input for a colour frame, uint8 HxW."""
    if params.mode == "greyscale":
        return to_grey(rgb)
    return canny_lineart(rgb, params.sigma, params.low, params.high)


def gap_radius(width: int, height: int) -> int:
    """Gaps between strokes closed before regions are found: 1 pixel per 360 of the short side."""
    return max(1, round(min(width, height) / 360))


def line_regions(line: np.ndarray, close_gaps: int = 0) -> tuple[int, np.ndarray]:
    """Regions enclosed by the lines of black-on-white line art: (count, labels int32 HxW), label 0 on ink.

    Real line art has small gaps where strokes almost meet; a fill then runs through them and
    two regions (or the whole frame) become one. Strokes are first thickened by `close_gaps`
    pixels, so gaps up to twice that close, regions are labelled, and each region then grows
    back over the thickening to the real strokes (each pixel to its nearest region), as
    gap-closing fill tools do.
    """
    ink = to_grey(line) < 128
    closed = ink
    if close_gaps > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * close_gaps + 1, 2 * close_gaps + 1))
        closed = cv2.dilate(ink.view(np.uint8), kernel).astype(bool)
    count, labels = cv2.connectedComponents((~closed).view(np.uint8), connectivity=4)
    if close_gaps > 0 and count > 1:
        band = closed & ~ink
        grown = labels.ravel()[nearest_of(labels > 0)]
        labels = np.where(band, grown, labels).astype(np.int32)
    return count, labels


def nearest_of(seeds: np.ndarray) -> np.ndarray:
    """For every pixel, the flat index of the nearest True pixel of `seeds` (HxW bool, some True)."""
    positions = np.flatnonzero(seeds)
    # OpenCV numbers the zero pixels of its input in raster order, from 1.
    _, nearest = cv2.distanceTransformWithLabels((~seeds).view(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    return positions[nearest.reshape(seeds.shape) - 1]
