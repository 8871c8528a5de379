"""Colours carried along the motion of the line art: from the shot's anchor (the seed frame or
the latest keyframe), from the previous output, and into regions that neither explains.

This is the model-free colouring (`tcvc colorize` without `--model`) and the first half of
motion-compensated model colouring, where a generator paints what the motion does not explain.
For each frame t:

1. Where the motion from the anchor to t is consistent, the colour comes straight from the
   anchor (one resampling of the artist's frame, at full resolution: texture and fine lines
   survive the whole shot).
2. Elsewhere, where the motion from the previous output is consistent, it comes from there,
   except, when a generator paints, in line-enclosed regions the anchor explains nowhere:
   content new to the shot is painted again in every frame from all the generator sees now.
3. What neither explains (newly visible content) is painted: by the generator when there is
   one, otherwise with the colour of the nearest explained pixel of its line-enclosed region.

Flow is computed at a small flow size and applied at full resolution; the full-resolution
line art of t is drawn over the result as dark as the anchor shows its own lines to be.
Nothing here reads files, prints or keeps state beyond what the caller hands back in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from . import media
from .lineart import gap_radius, line_regions, nearest_of, to_grey
from .motion import LineMotion, line_field

# Confidence of a carried colour by where it came from; the two passes around a later keyframe
# are blended with these weights (times their closeness in time).
FROM_ANCHOR, FROM_PREVIOUS, FROM_REGION = 1.0, 0.5, 0.1
# Default flow size: short side in pixels (the source's own when smaller).
FLOW_SHORT_SIDE = 270

# A painter fills the pixels motion does not explain: (line art at flow size, carried colour at
# flow size, explained mask) -> colour at flow size (uint8 RGB).
Painter = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Reference:
    """A coloured frame that later frames take colours from."""

    colour: np.ndarray  # uint8 RGB at source resolution
    small: np.ndarray  # uint8 RGB at flow size
    field: np.ndarray  # distance field of its line art at flow size
    ink: float  # 0-1: how dark this frame's colouring draws its own lines
    # For frames coloured by propagation: where each pixel lies in the shot's anchor (flow-size
    # pixels, (h, w, 2)), valid where `known`.
    origin: np.ndarray | None = None
    known: np.ndarray | None = None


@dataclass
class Carried:
    """One frame coloured by propagation."""

    colour: np.ndarray  # uint8 RGB at source resolution
    confidence: np.ndarray  # float32 at flow size: FROM_ANCHOR / FROM_PREVIOUS / FROM_REGION per pixel
    reference: Reference  # this frame as the next frame's previous reference


def flow_dimensions(width: int, height: int, short_side: int | None = None) -> tuple[int, int]:
    short_side = min(short_side or FLOW_SHORT_SIDE, width, height)
    scale = short_side / min(width, height)
    return max(8, round(width * scale)), max(8, round(height * scale))


def ink_strength(colour: np.ndarray, line: np.ndarray) -> float:
    """How dark a coloured frame draws the strokes of its line art, 0 (not at all) to 1 (black).

    Finished cels carry the ink of their line art; frames whose line art was derived from them
    (Canny on rendered footage, say) show no ink where the lines are. Measured as the median
    luma on line pixels over the mean luma of the paint around them.
    """
    ink = to_grey(line) < 128
    if ink.sum() < 16 or (~ink).sum() < 16:
        return 1.0
    luma = to_grey(colour).astype(np.float32)
    paper = (~ink).astype(np.float32)
    size = (9, 9)
    around = cv2.boxFilter(luma * paper, -1, size, normalize=False) / np.maximum(cv2.boxFilter(paper, -1, size, normalize=False), 1e-3)
    ratio = np.median(luma[ink] / np.maximum(around[ink], 8.0))
    return float(np.clip(1.0 - ratio, 0.0, 1.0))


def draw_lines(colour: np.ndarray, line: np.ndarray, strength: float) -> np.ndarray:
    """Ink over paint: colour multiplied by the line art, `strength` of the way."""
    if strength <= 0:
        return colour
    line = to_grey(line)
    if strength < 1:
        line = cv2.addWeighted(line, strength, np.full_like(line, 255), 1 - strength, 0)
    return cv2.multiply(colour, cv2.cvtColor(line, cv2.COLOR_GRAY2RGB), scale=1 / 255)


# Above this share of pixels explained by the anchor, the previous frame is not consulted.
FULLY_EXPLAINED = 0.999
# Flow-size pixels by which the anchor's motion and the chain through the previous frame may
# disagree before the chain is trusted.
CHAIN_TRUST = 4.0


@lru_cache(maxsize=4)
def _grid_stack(width: int, height: int) -> np.ndarray:
    grid = np.stack(_grid(width, height), -1)
    grid.flags.writeable = False
    return grid


@lru_cache(maxsize=4)
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return grid_x, grid_y


def _pull(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """warp() with a cached grid (it runs several times for every frame)."""
    grid_x, grid_y = _grid(flow.shape[1], flow.shape[0])
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def region_fill(line: np.ndarray, carried: np.ndarray, explained: np.ndarray) -> np.ndarray:
    """Colour the unexplained pixels: each takes the colour of the nearest explained pixel of its
    line-enclosed region (gaps in the strokes closed first), or keeps its carried colour where its
    region has no explained pixel."""
    if explained.all() or not explained.any():
        return carried
    _, labels = line_regions(line, gap_radius(line.shape[1], line.shape[0]))
    nearest = nearest_of(explained)
    same_region = labels.ravel()[nearest].reshape(labels.shape) == labels
    take = ~explained & same_region & (labels > 0)
    filled = carried.copy()
    filled[take] = carried.reshape(-1, 3)[nearest[take]]
    return filled


# A region larger than this share of the frame is taken for strokes that never closed (fills
# would run across the picture) and keeps its unfilled colour.
FLAT_MAX_SHARE = 0.5


def flat_fill(colour: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Each region enclosed by the lines (small gaps in strokes closed first) takes one colour,
    the mean of `colour` inside it; lines and too-large regions keep `colour` as it is."""
    height, width = line.shape[:2]
    count, labels = line_regions(line, gap_radius(width, height))
    flat_labels = labels.ravel()
    sizes = np.bincount(flat_labels, minlength=count).astype(np.float64)
    means = np.stack([np.bincount(flat_labels, weights=colour[:, :, c].ravel(), minlength=count) for c in range(3)], 1)
    means = (means / np.maximum(sizes, 1)[:, None] + 0.5).astype(np.uint8)
    filled = means[labels]
    keep = (labels == 0) | (sizes[labels] > FLAT_MAX_SHARE * height * width)  # label 0 is the lines themselves
    filled[keep] = colour[keep]
    return filled


class Propagator:
    """Carries colours from reference frames onto new frames of one source size."""

    def __init__(self, size: tuple[int, int], flow_size: tuple[int, int], preset: str = "medium", flat: bool = False):
        """`flat`: every line-enclosed region takes one colour (colorize --upscale flat)."""
        self.size, self.flow_size = tuple(size), tuple(flow_size)
        self.flat = flat
        self.motion = LineMotion(preset)

    def small_line(self, line: np.ndarray) -> np.ndarray:
        return media.resize(line, self.flow_size, cv2.INTER_AREA) if line.shape[1::-1] != self.flow_size else line

    def field(self, line: np.ndarray) -> np.ndarray:
        """The distance field of full-resolution line art at the flow size."""
        return line_field(self.small_line(line))

    def reference(self, colour: np.ndarray, line: np.ndarray, field: np.ndarray | None = None,
                  ink: float | None = None) -> Reference:
        """A coloured frame (seed, keyframe, or an output) as a source of colours."""
        return Reference(colour, media.resize(colour, self.flow_size, cv2.INTER_AREA), self.field(line) if field is None else field,
                         ink_strength(colour, line) if ink is None else ink)

    def carry(self, line: np.ndarray, anchor: Reference, previous: Reference | None,
              painter: Painter | None = None, *, small_line: np.ndarray | None = None, field: np.ndarray | None = None,
              from_previous: tuple[np.ndarray, np.ndarray] | None = None) -> Carried:
        """Colour the frame whose full-resolution line art is `line`.

        What the caller already has saves work: `small_line` and `field`, the line art and its
        distance field at the flow size, and `from_previous`, the motion from the previous
        reference (LineMotion.between).
        """
        small_line = self.small_line(line) if small_line is None else small_line
        field = line_field(small_line) if field is None else field
        grid = _grid_stack(*self.flow_size)
        from_anchor, anchored = self.motion.between(field, anchor.field)
        # Where each pixel lies in the anchor (flow-size pixels): straight along the anchor's
        # motion, or through the previous frame's own position in the anchor, so colours are
        # resampled from the artist's frame once, never a copy of a copy.
        origin = grid + from_anchor
        from_origin = anchored.copy()
        chained = np.zeros_like(anchored)  # colours taken from the previous output itself
        known_motion, from_previous = from_previous, None
        if previous is not None and previous is not anchor and anchored.mean() < FULLY_EXPLAINED:
            from_previous, followed = known_motion if known_motion is not None else self.motion.between(field, previous.field)
            if previous.origin is not None:
                through = _pull(previous.origin, from_previous)
                known = _pull(previous.known.view(np.uint8) * 255, from_previous) == 255
                via = followed & known
                # Where the anchor's own motion and the chain of small steps both explain a pixel
                # but place it far apart in the anchor, the long jump matched by chance (a
                # character that moved far, lying over lines of the same shape): trust the chain.
                apart = anchored & via & (np.abs(through - origin).max(-1) > CHAIN_TRUST)
                take = via & (~anchored | apart)
                origin[take] = through[take]
                from_origin |= take
                chained = followed & ~known & ~anchored
            else:
                chained = followed & ~anchored
        if painter is not None and chained.any():
            # Content in a line-enclosed region that the anchor explains nowhere is new to the shot
            # (a character walking in): the model paints it again in every frame from all it sees
            # now, instead of carrying what it painted when only a sliver was in view.
            chained &= ~self._new_regions(small_line, from_origin)
        explained = from_origin | chained

        # Carried colour at the flow size; where nothing explains a pixel, the motion's best guess.
        small = _pull(anchor.small, origin - grid)
        if from_previous is not None:
            guess = _pull(previous.small, from_previous)
            unexplained_or_chained = ~from_origin
            small[unexplained_or_chained] = guess[unexplained_or_chained]
        painted = small if explained.all() else (painter or region_fill)(small_line, small, explained)
        confidence = np.full(self.flow_size[::-1], FROM_REGION, np.float32)
        confidence[chained] = FROM_PREVIOUS
        confidence[from_origin] = FROM_ANCHOR

        # Full resolution: the anchor sampled at each pixel's origin, the previous output along
        # its motion, the painting (upscaled) where neither explains, then the frame's lines.
        colour = self._upscale(painted, explained)
        self._paste(colour, anchor.colour, origin, from_origin, absolute=True)
        if chained.any():
            self._paste(colour, previous.colour, from_previous, chained, absolute=False)
        if self.flat:
            colour = flat_fill(colour, line)
        colour = draw_lines(colour, line, anchor.ink)
        reference = Reference(colour, media.resize(colour, self.flow_size, cv2.INTER_AREA), field, anchor.ink,
                              origin=origin, known=from_origin)
        return Carried(colour, confidence, reference)

    def _new_regions(self, small_line: np.ndarray, from_anchor: np.ndarray) -> np.ndarray:
        """The pixels of line-enclosed regions (small gaps closed) without one pixel explained by the anchor."""
        count, labels = line_regions(small_line, gap_radius(*self.flow_size))
        seen = np.bincount(labels[from_anchor], minlength=count) > 0
        seen[0] = True  # the strokes themselves
        return ~seen[labels]

    def paint(self, line: np.ndarray, painter: Painter, ink: float, *, small_line: np.ndarray | None = None,
              field: np.ndarray | None = None) -> Carried:
        """Colour a frame from its line art alone (a shot with nothing to carry from): the
        painter sees a blank condition with nothing explained. The result anchors what follows."""
        small_line = self.small_line(line) if small_line is None else small_line
        field = line_field(small_line) if field is None else field
        nothing = np.zeros(self.flow_size[::-1], bool)
        painted = painter(small_line, np.zeros((*self.flow_size[::-1], 3), np.uint8), nothing)
        colour = draw_lines(self._upscale(painted, nothing), line, ink)
        if self.flat:
            colour = flat_fill(colour, line)
        reference = Reference(colour, media.resize(colour, self.flow_size, cv2.INTER_AREA), field, ink)
        return Carried(colour, np.full(self.flow_size[::-1], FROM_REGION, np.float32), reference)

    def _upscale(self, painted: np.ndarray, explained: np.ndarray) -> np.ndarray:
        if painted.shape[1::-1] == self.size:
            return painted.copy()
        if explained.all():  # every pixel is pasted over below
            return np.empty((self.size[1], self.size[0], 3), np.uint8)
        return cv2.resize(painted, self.size, interpolation=cv2.INTER_CUBIC)

    def _paste(self, colour: np.ndarray, source: np.ndarray, motion: np.ndarray, where: np.ndarray, absolute: bool) -> None:
        """Sample `source` (full resolution) along `motion` (flow size: positions if `absolute`,
        else offsets) into `colour` where `where` (flow size) holds, within its bounding box."""
        rows, cols = np.nonzero(where.any(1))[0], np.nonzero(where.any(0))[0]
        if not len(rows):
            return
        small_w, small_h = self.flow_size
        width, height = self.size
        scale_x, scale_y = width / small_w, height / small_h
        top, bottom = int(rows[0] * scale_y), min(height, int(np.ceil((rows[-1] + 1) * scale_y)))
        left, right = int(cols[0] * scale_x), min(width, int(np.ceil((cols[-1] + 1) * scale_x)))
        # Source positions at the flow size (an affine map of the field, cheap there), brought to
        # full resolution (pixel centres aligned) and cut to the box.
        scale = np.array([scale_x, scale_y], np.float32)
        positions = (motion + 0.5) * scale - 0.5 if absolute else motion * scale
        positions = cv2.resize(positions, self.size, interpolation=cv2.INTER_LINEAR)[top:bottom, left:right]
        if not absolute:
            positions += _grid_stack(width, height)[top:bottom, left:right]
        mask = cv2.resize(where.view(np.uint8) * 255, self.size, interpolation=cv2.INTER_LINEAR)[top:bottom, left:right]
        pulled = cv2.remap(source, positions, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cv2.copyTo(pulled, (mask >= 128).view(np.uint8), colour[top:bottom, left:right])


def blend(forward: Carried, backward: Carried, position: float) -> np.ndarray:
    """Two propagations of one frame - forward from the shot's earlier anchor and backward from a
    later keyframe - blended per pixel by confidence and closeness in time (`position`: 0 at the
    earlier anchor, 1 at the later keyframe)."""
    weight_forward = forward.confidence * (1.0 - position)
    weight_backward = backward.confidence * position
    share = weight_backward / np.maximum(weight_forward + weight_backward, 1e-6)
    height, width = forward.colour.shape[:2]
    share = cv2.resize(share, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    mixed = forward.colour.astype(np.float32) * (1.0 - share) + backward.colour.astype(np.float32) * share
    return (mixed + 0.5).astype(np.uint8)
