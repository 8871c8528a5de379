"""What an artist's frame would explain, before anyone paints it: the motion of a shot's line art
followed from any frame, forwards or backwards, with the carrying engine's location, region
matching and explained test (propagate.py), but no colour, at a small size.

This is what keyframe suggestion weighs: painting frame k explains, for every frame the engine
would carry from k, the pixels whose motion from k the line art confirms.

Owns: Explainer. Imports: motion.flow, motion.regions, motion.propagate, media, lineart.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .. import media
from ..lineart import frame_regions
from .flow import explained as explained_by, inside, line_guide
from .propagate import Propagator, Track, flow_dimensions, grid_stack
from .regions import match_regions

@dataclass(frozen=True)
class _Guided:
    """An anchor as location needs it: its line art's guide alone."""

    guide: np.ndarray


# Short side the motion is followed at. Suggestion needs the shape of what is explained, not
# its pixels: 160 pixels are enough.
EXPLAIN_SHORT_SIDE = 160


class Explainer:
    """The line art of one shot, ready to say what painting any of its frames would explain."""

    def __init__(self, lines: list[np.ndarray], short_side: int = EXPLAIN_SHORT_SIDE):
        """`lines`: the shot's line art (uint8, HxW), all of one size."""
        height, width = lines[0].shape[:2]
        self.size = flow_dimensions(width, height, short_side)
        small = [media.resize(line, self.size, cv2.INTER_AREA) for line in lines]
        self.guides = [line_guide(line) for line in small]
        self.regions = [frame_regions(line) for line in small]
        self.propagator = Propagator(self.size, self.size)
        self._steps: dict[tuple[int, int], np.ndarray] = {}
        self._forward: dict[int, list[np.ndarray]] = {}
        self._backward: dict[int, list[np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.guides)

    def step(self, frame: int, before: int) -> np.ndarray:
        """The flow from `frame` to its neighbour `before` (cached: both directions are reused)."""
        key = (frame, before)
        if key not in self._steps:
            self._steps[key] = self.propagator.flow(self.guides[frame], self.guides[before])
        return self._steps[key]

    def chain(self, anchor: int, stop: int) -> list[np.ndarray]:
        """Explained masks (bool, at the small size) of the frames from `anchor` towards `stop`
        (exclusive; below `anchor` to go backwards), carried from `anchor` frame by frame as the
        engine carries them: the chain of steps refined against the anchor, or the straight flow,
        region by region, lost regions matched again, and the engine's explained test."""
        direction = 1 if stop > anchor else -1
        source = _Guided(self.guides[anchor])
        previous = Track(grid_stack(*self.size), source.guide, None, None)
        masks = []
        for frame in range(anchor + direction, stop, direction):
            count, labels = self.regions[frame]
            guide = self.guides[frame]
            origin, residual = self.propagator.locate(guide, source, previous, self.step(frame, frame - direction),
                                                      labels, count)
            origin, residual = match_regions(guide, source.guide, origin, residual, labels, count)
            masks.append(explained_by(residual, inside(origin), guide, labels, count))
            previous = Track(origin, guide, None, None)
        return masks

    def ahead(self, anchor: int, frame: int, stop: int) -> np.ndarray:
        """What painting `anchor` explains of a later `frame`, carried forwards; the chain runs up to
        `stop` and is kept, so every question about one anchor costs one chain."""
        masks = self._forward.get(anchor)
        if masks is None or len(masks) < frame - anchor:
            masks = self._forward[anchor] = self.chain(anchor, max(stop, frame + 1))
        return masks[frame - anchor - 1]

    def behind(self, anchor: int, frame: int, stop: int) -> np.ndarray:
        """What painting `anchor` explains of an earlier `frame`, carried backwards down to `stop`."""
        masks = self._backward.get(anchor)
        if masks is None or len(masks) < anchor - frame:
            masks = self._backward[anchor] = self.chain(anchor, min(stop, frame - 1))
        return masks[anchor - frame - 1]
