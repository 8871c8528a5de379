"""Scene-cut detection on line art with the edge change ratio (Zabih, Miller & Mai, 1995).

Line art is already an edge image, so comparing edges is the natural test: the share of
edge pixels of frame t with no edge of frame t-1 nearby ("entering"), and of frame t-1 with
no edge of frame t nearby ("exiting"). Within a shot, lines move a little and most are found
again within a few pixels; at a cut almost none are. ECR = max(entering, exiting) jumps
close to 1 at a cut and stays low for motion, and unlike colour histograms it needs no
colour, which the input does not have.

Cuts are judged on the line art at its own resolution, stepped down to at most 256 pixels on
the short side with a minimum filter first so thin lines survive: at the model's small work
size, averaging would thin one-pixel lines to light grey, they would drop out of the edge map,
and ordinary motion would read as a cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

DEFAULT_THRESHOLD = 0.5
ANALYSIS_SHORT_SIDE = 256


def analysis_view(image: np.ndarray, is_lineart: bool) -> np.ndarray:
    """The frame cuts are judged on: at most ANALYSIS_SHORT_SIDE pixels on the short side, dark
    line-art lines kept by a minimum filter as wide as the step down."""
    height, width = image.shape[:2]
    short = min(height, width)
    if short <= ANALYSIS_SHORT_SIDE:
        return image
    scale = short / ANALYSIS_SHORT_SIDE
    if is_lineart:
        side = math.ceil(scale)
        image = cv2.erode(image, np.ones((side, side), np.uint8))
    size = (max(1, round(width / scale)), max(1, round(height / scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def detector_for(width: int, height: int, threshold: float = DEFAULT_THRESHOLD) -> CutDetector:
    """A detector for frames of this size, judged on their analysis view: lines may move about
    1/64 of the short side between frames of one shot."""
    short = min(width, height, ANALYSIS_SHORT_SIDE)
    return CutDetector(threshold=threshold, radius=max(2, round(short / 64)))


@dataclass(frozen=True)
class CutDetector:
    """ECR between two edge maps; `radius` is the motion tolerance in pixels."""

    threshold: float = DEFAULT_THRESHOLD
    radius: int = 2

    def edges(self, line_or_grey: np.ndarray, is_lineart: bool) -> np.ndarray:
        """Boolean edge map: the dark lines of line art, Canny edges of a greyscale frame."""
        if is_lineart:
            return line_or_grey < 128
        return cv2.Canny(cv2.GaussianBlur(line_or_grey, (0, 0), 1.0), 50, 150) > 0

    @cached_property
    def _kernel(self) -> np.ndarray:
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.radius + 1, 2 * self.radius + 1))

    def ratio(self, previous_edges: np.ndarray, edges: np.ndarray) -> float:
        kernel = self._kernel
        if previous_edges.shape != edges.shape:  # frames of another size (or a run resumed across versions)
            previous_edges = cv2.resize(previous_edges.astype(np.uint8), edges.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        count_prev, count_now = int(previous_edges.sum()), int(edges.sum())
        if count_prev == 0 and count_now == 0:
            return 0.0
        if count_prev == 0 or count_now == 0:
            return 1.0  # from or to a blank frame: nothing carries over
        near_prev = cv2.dilate(previous_edges.astype(np.uint8), kernel) > 0
        near_now = cv2.dilate(edges.astype(np.uint8), kernel) > 0
        entering = (edges & ~near_prev).sum() / count_now
        exiting = (previous_edges & ~near_now).sum() / count_prev
        return float(max(entering, exiting))

    def is_cut(self, previous_edges: np.ndarray | None, edges: np.ndarray) -> bool:
        return previous_edges is not None and self.ratio(previous_edges, edges) > self.threshold


def detect_cuts(frames: list[np.ndarray], is_lineart: bool = True, detector: CutDetector = CutDetector()) -> list[int]:
    """Indices of frames that start a new shot (frame 0 is not listed)."""
    cuts, previous = [], None
    for index, frame in enumerate(frames):
        edges = detector.edges(frame, is_lineart)
        if detector.is_cut(previous, edges):
            cuts.append(index)
        previous = edges
    return cuts
