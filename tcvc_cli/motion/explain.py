"""What an artist's frame would explain, before anyone paints it: the motion of a shot's line art
followed from any frame, forwards or backwards, along the chain of steps between neighbouring
frames, with the carrying engine's explained test (propagate.py), but no colour, at a small size.

This is what keyframe suggestion weighs: painting frame k explains, for every frame the engine
would carry from k, the pixels whose motion from k the line art confirms.

Owns: Explainer. Imports: motion.flow, motion.propagate, media, lineart.
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import media
from ..lineart import frame_regions
from .flow import FlowField, explained as explained_by, guide_residual, inside, line_guide
from .propagate import flow_dimensions, pull, sample_at

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
        self.flow = FlowField()
        self._grid = np.dstack(np.meshgrid(np.arange(self.size[0], dtype=np.float32),
                                           np.arange(self.size[1], dtype=np.float32)))
        self._steps: dict[tuple[int, int], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.guides)

    def step(self, frame: int, before: int) -> np.ndarray:
        """The flow from `frame` to its neighbour `before` (cached: both directions are reused)."""
        key = (frame, before)
        if key not in self._steps:
            self._steps[key] = self.flow(self.guides[frame], self.guides[before])
        return self._steps[key]

    def chain(self, anchor: int, stop: int) -> list[np.ndarray]:
        """Explained masks (bool, at the small size) of the frames from `anchor` towards `stop`
        (exclusive; below `anchor` to go backwards): each pixel's position in the anchor follows
        the chain of steps between neighbouring frames, and is explained where the anchor's line
        art found there matches the frame's own, as the engine tests it. The steps are measured
        once for the whole shot, so a chain from any frame costs no optical flow of its own."""
        direction = 1 if stop > anchor else -1
        anchor_guide = self.guides[anchor]
        origin = self._grid
        masks = []
        for frame in range(anchor + direction, stop, direction):
            origin = pull(origin, self.step(frame, frame - direction))
            count, labels = self.regions[frame]
            guide = self.guides[frame]
            residual = guide_residual(guide, sample_at(anchor_guide, origin))
            masks.append(explained_by(residual, inside(origin), guide, labels, count))
        return masks
