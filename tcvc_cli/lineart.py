"""Colour frame -> model input (synthetic line art or greyscale), as pure functions.

Three ways to draw line art from a coloured frame, and the augmentations that make it look
like what artists hand over:

- **canny**, the paper's: greyscale, Gaussian blur with sigma 1, Canny, inverted so lines are
  black (0) on white (255). Thresholds default to 50/150: the 1:3 ratio Canny recommended,
  low enough that the boundary between two flat cel colours of similar brightness still yields
  an edge once sigma-1 smoothing has softened it, high enough that compression noise and soft
  shading gradients do not. Gradients use the exact L2 norm. Canny marks where brightness
  changes, so a drawn ink stroke comes out as two thin lines, one on each side, and a dot too
  small to have two sides (an eye highlight) can vanish.
- **xdog**, an extended difference of Gaussians (Winnemoeller et al. 2012) in its line form:
  the frame blurred at sigma minus `tau` times the frame blurred at 1.6 sigma. A dark stroke,
  or the dark side of an edge, makes that difference negative, and a soft threshold turns it
  into one anti-aliased stroke of ink along the stroke's middle. Flat fills of any brightness
  stay white.
- **thinned**: the xdog strokes reduced to single-pixel centrelines, as clean-up artists and
  vectorising tools leave them.

Augmentations, each drawn per frame from a seeded generator, so the same seed and frame give
the same line art:

- `width`: stroke width jitter, thicker in some parts of the frame and unchanged elsewhere;
- `gaps`: small breaks in the strokes;
- `details`: tiny strokes (dots, specks) dropped;
- `paper`: paper tone and grain under the ink;
- `jpeg`: JPEG compression;
- `scan`: a scanner's slight tilt, blur and contrast change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import cv2
import numpy as np

from .errors import UsageError

InputMode = Literal["lineart", "greyscale"]
METHODS = ("canny", "xdog", "thinned")
AUGMENTS = ("width", "gaps", "details", "paper", "jpeg", "scan")
# What `tcvc train` draws from coloured frames unless told otherwise: Canny with every
# augmentation. On the line-art benchmark it coloured the true line art's learnable content
# best, better than plain Canny with each of three training seeds (docs/lineart.md).
TRAINING_METHOD, TRAINING_AUGMENT = "canny", AUGMENTS


@dataclass(frozen=True)
class LineartParams:
    """How a colour frame becomes the generator's one-channel input."""

    mode: InputMode = "lineart"
    sigma: float = 1.0
    low: float = 50.0
    high: float = 150.0
    method: str = "canny"  # how line art is drawn: canny, xdog or thinned
    augment: tuple[str, ...] = ()
    seed: int = 0  # of the augmentations

    def __post_init__(self) -> None:
        if isinstance(self.augment, (list, str)):
            parts = self.augment.split(",") if isinstance(self.augment, str) else self.augment
            object.__setattr__(self, "augment", tuple(p.strip() for p in parts if p.strip()))
        if self.mode not in ("lineart", "greyscale"):
            raise UsageError(f"unknown mode {self.mode!r}", hint="use canny (line art) or greyscale")
        if self.method not in METHODS:
            raise UsageError(f"unknown line-art mode {self.method!r}", hint=f"one of {', '.join(METHODS)}")
        unknown = [a for a in self.augment if a not in AUGMENTS]
        if unknown:
            raise UsageError(f"unknown line-art augmentation {unknown[0]!r}", hint=f"any of {', '.join(AUGMENTS)}, comma-separated")
        if self.sigma < 0:
            raise UsageError(f"--sigma must be >= 0, got {self.sigma}")
        if not 0 <= self.low <= self.high:
            raise UsageError(f"thresholds must satisfy 0 <= low <= high, got low={self.low} high={self.high}")

    def to_json(self) -> dict:
        data = asdict(self)
        data["augment"] = list(self.augment)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "LineartParams":
        # A checkpoint written before line-art methods existed was trained on Canny.
        known = {k: data[k] for k in ("mode", "sigma", "low", "high", "method", "augment", "seed") if k in data}
        known.setdefault("method", "canny")
        return cls(**known)

    @property
    def label(self) -> str:
        if self.mode == "greyscale":
            return "greyscale"
        return self.method + (f"+{'+'.join(self.augment)}" if self.augment else "")


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


# XDoG in its line form: strokes where the fine blur is darker than the coarse one by more than
# XDOG_EPSILON (in [0, 1] brightness), with a soft edge of width 1/XDOG_PHI.
XDOG_K = 1.6
XDOG_TAU = 0.98
XDOG_EPSILON = 0.02
XDOG_PHI = 60.0


def xdog_lineart(rgb: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Ink strokes along dark lines and the dark side of edges: uint8 HxW, black on white."""
    grey = to_grey(rgb).astype(np.float32) / 255.0
    sigma = max(sigma, 0.3)
    fine = cv2.GaussianBlur(grey, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    coarse = cv2.GaussianBlur(grey, (0, 0), sigmaX=sigma * XDOG_K, sigmaY=sigma * XDOG_K, borderType=cv2.BORDER_REFLECT)
    difference = fine - XDOG_TAU * coarse
    ink = np.where(difference > -XDOG_EPSILON, 1.0, 1.0 + np.tanh(XDOG_PHI * (difference + XDOG_EPSILON)))
    return (np.clip(ink, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def thinned_lineart(rgb: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """The xdog strokes as single-pixel centrelines: uint8 HxW, black on white."""
    from skimage.morphology import skeletonize

    strokes = xdog_lineart(rgb, sigma) < 128
    return np.where(skeletonize(strokes), 0, 255).astype(np.uint8)


def _smooth_noise(shape: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    """Low-frequency noise in [-1, 1] with features about `scale` pixels across."""
    height, width = shape
    small = rng.standard_normal((max(2, int(height / scale) + 2), max(2, int(width / scale) + 2))).astype(np.float32)
    field = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(field / (np.abs(field).max() + 1e-6), -1.0, 1.0)


def augment_lineart(line: np.ndarray, augments: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """Apply `augments` (in the order of AUGMENTS) to black-on-white uint8 line art."""
    out = line.copy()
    height, width = out.shape
    short = min(height, width)
    if "width" in augments:
        radius = max(1, round(short / 256))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        thicker = cv2.erode(out, kernel)  # black strokes grow
        where = _smooth_noise(out.shape, rng, short / 4) > rng.uniform(-0.3, 0.5)
        out = np.where(where, thicker, out)
    if "gaps" in augments:
        ink = np.argwhere(out < 128)
        if len(ink):
            count = max(1, int(len(ink) * rng.uniform(0.004, 0.012)))
            radius = max(1, round(short / 200))
            for y, x in ink[rng.choice(len(ink), size=min(count, len(ink)), replace=False)]:
                cv2.circle(out, (int(x), int(y)), radius, 255, -1)
    if "details" in augments:
        count, labels, stats, _ = cv2.connectedComponentsWithStats((out < 128).view(np.uint8), connectivity=8)
        smallest = max(4, 12 * short / 96)  # pixels: a dot, a speck, a short dash
        tiny = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] <= smallest and rng.random() < 0.7]
        if tiny:
            out[np.isin(labels, tiny)] = 255
    if "paper" in augments:
        tone = rng.uniform(225, 250) + 6 * _smooth_noise(out.shape, rng, short / 3)
        grain = rng.normal(0, rng.uniform(2, 6), out.shape)
        paper = np.clip(tone + grain, 0, 255)
        out = (out.astype(np.float32) / 255.0 * paper).astype(np.uint8)
    if "jpeg" in augments:
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 70))])
        if ok:
            out = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if "scan" in augments:
        angle = rng.uniform(-0.8, 0.8)
        shift = rng.uniform(-1.0, 1.0, 2)
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        matrix[:, 2] += shift
        out = cv2.warpAffine(out, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 0.8))
        gamma = rng.uniform(0.8, 1.25)
        out = (np.power(out.astype(np.float32) / 255.0, gamma) * 255.0 + 0.5).astype(np.uint8)
    return out


def extract(rgb: np.ndarray, params: LineartParams = LineartParams(), frame: int = 0) -> np.ndarray:
    """The generator's input for a colour frame, uint8 HxW. `frame` (its index) and the params'
    seed pick the augmentations, so the same frame always gets the same line art."""
    if params.mode == "greyscale":
        return to_grey(rgb)
    if params.method == "xdog":
        line = xdog_lineart(rgb, params.sigma)
    elif params.method == "thinned":
        line = thinned_lineart(rgb, params.sigma)
    else:
        line = canny_lineart(rgb, params.sigma, params.low, params.high)
    if params.augment:
        line = augment_lineart(line, params.augment, np.random.default_rng([params.seed, frame]))
    return line


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


def frame_regions(line: np.ndarray) -> tuple[int, np.ndarray]:
    """line_regions() with the gaps gap_radius() closes at this line art's size."""
    return line_regions(line, gap_radius(line.shape[1], line.shape[0]))


def nearest_of(seeds: np.ndarray) -> np.ndarray:
    """For every pixel, the flat index of the nearest True pixel of `seeds` (HxW bool, some True)."""
    positions = np.flatnonzero(seeds)
    # OpenCV numbers the zero pixels of its input in raster order, from 1.
    _, nearest = cv2.distanceTransformWithLabels((~seeds).view(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    return positions[nearest.reshape(seeds.shape) - 1]
