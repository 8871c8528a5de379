"""Colours carried from an artist's frame (the seed or a keyframe: the shot's anchor) along the
motion of the line art.

This is the model-free colouring (`tcvc colorize` without `--model`) and the first half of
motion-compensated model colouring, where a generator paints what the motion does not explain.
For each frame t:

1. **Where each pixel lies in the anchor.** Two estimates: the previous frame's positions moved
   along the short step from t-1 to t and then refined by a flow against the anchor itself (a
   chain that follows large motion and camera moves without drifting), and the flow straight
   from the anchor (which finds again what passed behind something and came back). Each
   line-enclosed region of t takes the estimate whose carried line art matches its own better,
   as a whole: regions, not pixels, so nothing tears.
2. **Paint and ink apart.** The anchor is split once into its paint (fills continued under the
   strokes) and its ink (the colour of its strokes, continued outward). Frame t takes both from
   the anchor at each pixel's position and lays the ink over the paint through its *own* line
   art: strokes are exactly where t's line art draws them, in the colour the artist gave them.
   Line art derived from the colour (Canny on rendered footage) has no ink in the colour frame:
   there the colour is not split and no ink is laid, so no lines appear that it does not draw.
3. **What the motion does not explain** (new content, what entered the frame) keeps the
   motion's best guess without a model; with one, the generator paints it. On footage a pixel
   whose motion to the anchor and back does not return is unexplained too, and follows the
   previous output along the short step unless a generator paints it.

Colours are always sampled from the artist's frame, once, at full resolution: never a copy of
a copy. Nothing here reads files, prints or keeps state beyond what the caller hands back in.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .. import media
from ..lineart import frame_regions, gap_radius, line_regions, to_grey
from .flow import (FlowField, explained as explained_by, guide_residual, inside, line_guide,
                   occlusion_mask)
# (stroke_alpha and lay_ink are read from here too, by older imports)
from .ink import INKED, STROKE, draw_lines, ink_strength, lay_ink, separate, stroke_alpha, stroke_pixels  # noqa: F401
from .regions import match_regions, smooth_region_fill

# Confidence of a carried colour by where it came from; the two passes around a later keyframe
# are blended with these weights (times their closeness in time).
FROM_ANCHOR, FROM_PREVIOUS, GUESSED = 1.0, 0.5, 0.1
# Default flow size: short side in pixels (the source's own when smaller). On the real-line-art
# clips 270 pixels cost 0.3 to 0.9 dB against their own 360-526; 480 costs nothing there and
# keeps 1080p above 5 frames/s on two cores, where 540 does not (docs/motion.md).
FLOW_SHORT_SIDE = 480
# A stroke pixel whose line art, carried from the anchor, is within this many grey levels of the
# frame's own takes the anchor's own colour there, not ink laid over paint (fully when they agree).
EXACT_LINES = 32.0

# A painter fills the pixels motion does not explain: (line art at flow size, carried colour at
# flow size, explained mask) -> colour at flow size (uint8 RGB).
Painter = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class AnchorFrame:
    """An artist's coloured frame, ready to lend its colours to the frames around it."""

    colour: np.ndarray  # uint8 RGB at source resolution, as the artist painted it
    paint: np.ndarray  # uint8 RGB: the fills, continued under the strokes
    ink: np.ndarray  # uint8 RGB: the strokes' colour, continued outward
    small: np.ndarray  # uint8 RGB at flow size
    small_paint: np.ndarray  # uint8 RGB: the paint at flow size
    guide: np.ndarray  # its line art's guide at flow size (motion.line_guide)
    inked: bool = True  # the colour draws the line art's strokes (False: line art derived from footage)
    line: np.ndarray | None = None  # its line art at flow size (uint8 HxW)
    full_line: np.ndarray | None = None  # its line art at source resolution (uint8 HxW)


@dataclass(frozen=True)
class Track:
    """A coloured frame as the next frame's starting point: where its pixels lie in the anchor."""

    origin: np.ndarray  # (h, w, 2) float32 flow-size positions in the anchor
    guide: np.ndarray  # its line art's guide at flow size
    colour: np.ndarray | Future | None  # uint8 RGB at source resolution (what the painter painted is carried from here)
    painted: np.ndarray  # bool at flow size: colour from the painter, not the anchor
    small: np.ndarray | None = None  # uint8 RGB at flow size, kept where a painter needs it


def finished(frame: np.ndarray | Future) -> np.ndarray:
    """A frame, waited for where it is still being composed on the composing thread."""
    return frame.result() if isinstance(frame, Future) else frame


@dataclass
class Carried:
    """One frame coloured by propagation."""

    frame: np.ndarray | Future  # uint8 RGB at source resolution, or its composition under way
    confidence: np.ndarray  # float32 at flow size: FROM_ANCHOR / FROM_PREVIOUS / GUESSED per pixel
    track: Track  # this frame as the next frame's starting point
    residual: np.ndarray | None = None  # float32 at flow size: how far the carried line art is from the frame's own
    labels: np.ndarray | None = None  # int32 at flow size: the frame's line-enclosed regions (0 on strokes)

    @property
    def colour(self) -> np.ndarray:
        """The frame at source resolution (waiting for its composition to finish)."""
        self.frame = finished(self.frame)
        return self.frame

    @property
    def carried_share(self) -> float:
        """The share of pixels whose colour the motion carried straight from the anchor."""
        return float((self.confidence >= FROM_ANCHOR).mean())


def flow_dimensions(width: int, height: int, short_side: int | None = None) -> tuple[int, int]:
    short_side = min(short_side or FLOW_SHORT_SIDE, width, height)
    scale = short_side / min(width, height)
    return max(8, round(width * scale)), max(8, round(height * scale))


@lru_cache(maxsize=4)
def grid_stack(width: int, height: int) -> np.ndarray:
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.stack([grid_x, grid_y], -1)
    grid.flags.writeable = False
    return grid


def pull(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample `image` at x + flow(x) (edges replicated)."""
    positions = flow + grid_stack(flow.shape[1], flow.shape[0])
    return cv2.remap(image, positions, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _gather(image: np.ndarray, points: np.ndarray, row: int = 4096) -> np.ndarray:
    """`image` sampled at N absolute positions (N, 2): (N, channels). OpenCV's remap takes maps
    under 32767 a side, so the points go through it as rows of `row`."""
    count = len(points)
    padded = np.zeros((-(-count // row) * row, 2), np.float32)
    padded[:count] = points
    pulled = cv2.remap(image, padded.reshape(-1, row, 2), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return pulled.reshape(-1, image.shape[2] if image.ndim == 3 else 1)[:count]


def _at_grid(positions: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Positions (H, W, 2) with those `where` is True at the pixel's own place."""
    if not where.any():
        return positions
    positions = positions.copy()
    cv2.copyTo(grid_stack(*positions.shape[1::-1]), where.view(np.uint8), positions)
    return positions


def sample_at(image: np.ndarray, positions: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample `image` at absolute positions (H, W, 2)."""
    return cv2.remap(image, positions, None, interpolation, borderMode=cv2.BORDER_REPLICATE)


# With a generator on inked line art, it paints only regions the anchor explains nowhere (False),
# the rest taking the smooth fill of their region, or every pixel the motion does not explain
# (True; always so on footage). On the motion benchmark's models (docs/motion.md) False scored
# 31.80 / 25.95 dB (sample / occlusion) against 28.30 / 25.40, and never below model-free colouring.
PAINT_PARTLY_EXPLAINED = False
# A pixel did not move, and takes the anchor's pixel at the same place, when the motion moves it
# by under HELD_SHIFT pixels and the line art in a box HELD_WINDOW wide (at a short side of
# FLOW_SHORT_SIDE) has strokes and differs nowhere from the anchor's by HELD_LINE grey levels or
# more; or when it moves it by under HELD_DRIFT and the blurred line art (guide) in the box differs
# from the anchor's by under HELD_GUIDE on average. From the seed on the real-line-art clips
# (bench/realart.py) the kid clip gains 0.06 dB, the others 0 to 0.01; the sample at 192x128
# (bench/motion.py's) 0.07, 0.13 with keyframes at both ends.
HELD_WINDOW = 15
HELD_GUIDE = 2.0
HELD_LINE = 8.0
HELD_DRIFT = 0.25
HELD_SHIFT = 1.0
# A region of frame t takes the straight flow from the anchor instead of the refined chain only
# when that matches its line art better by this factor: the chain is right far more often.
DIRECT_MARGIN = 1.0

# A region larger than this share of the frame is taken for strokes that never closed (fills
# would run across the picture) and keeps its unfilled colour.
FLAT_MAX_SHARE = 0.5


def region_choice(take: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per pixel, whether its line-enclosed region was chosen (`take`, per label); a stroke
    pixel (label 0) goes with a chosen region next to it."""
    take = take.copy()
    take[0] = False
    where = take[labels]
    if labels.min() == 0:
        where = np.where(labels == 0, cv2.dilate(where.view(np.uint8), np.ones((3, 3), np.uint8)) > 0, where)
    return where


def full_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A flow-size bool mask at `size` (width, height), as uint8 0/1 for cv2.copyTo."""
    if mask.shape[1::-1] == tuple(size):
        return mask.view(np.uint8)
    return (cv2.resize(mask.view(np.uint8) * 255, tuple(size), interpolation=cv2.INTER_LINEAR) >= 128).view(np.uint8)


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
    """Carries colours from anchors onto new frames of one source size."""

    def __init__(self, size: tuple[int, int], flow_size: tuple[int, int], preset: str = "medium", flat: bool = False):
        """`flat`: every line-enclosed region takes one colour (colorize --upscale flat)."""
        self.size, self.flow_size = tuple(size), tuple(flow_size)
        self.flat = flat
        self.flow = FlowField(preset)
        # The straight flow from the anchor runs on a thread of its own while this one follows
        # the chain: OpenCV releases the GIL, and two flows at once take two thirds of the time.
        self._direct_flow = FlowField(preset)
        self._beside: ThreadPoolExecutor | None = None
        # Without a painter, a frame is composed at full resolution on a thread of its own while
        # this one goes on to the next frame's motion (Carried.colour waits for it).
        self._composer: ThreadPoolExecutor | None = None

    def _straight_flow(self, guide: np.ndarray, anchor_guide: np.ndarray) -> Future:
        if self._beside is None:
            self._beside = ThreadPoolExecutor(1, thread_name_prefix="tcvc-flow")
        return self._beside.submit(self._direct_flow, guide, anchor_guide)

    def small_line(self, line: np.ndarray) -> np.ndarray:
        return media.resize(line, self.flow_size, cv2.INTER_AREA) if line.shape[1::-1] != self.flow_size else line

    def guide(self, line: np.ndarray) -> np.ndarray:
        """The guide of full-resolution line art at the flow size."""
        return line_guide(self.small_line(line))

    def anchor(self, colour: np.ndarray, line: np.ndarray, guide: np.ndarray | None = None) -> AnchorFrame:
        """An artist's frame (seed or keyframe), or a frame a model painted, as the shot's anchor."""
        inked = ink_strength(colour, line) >= INKED  # derived line art: no ink to lift off the paint
        paint, ink = separate(colour, line) if inked else (colour, colour)
        small_line = self.small_line(line)
        return AnchorFrame(colour, paint, ink, media.resize(colour, self.flow_size, cv2.INTER_AREA),
                           media.resize(paint, self.flow_size, cv2.INTER_AREA), line_guide(small_line) if guide is None else guide,
                           inked, small_line, to_grey(line))

    def start(self, anchor: AnchorFrame) -> Track:
        """The anchor's own frame as the first step of a chain."""
        nothing = np.zeros(self.flow_size[::-1], bool)
        return Track(grid_stack(*self.flow_size).copy(), anchor.guide, anchor.colour, nothing, anchor.small)

    def carry(self, line: np.ndarray, anchor: AnchorFrame, previous: Track | None, painter: Painter | None = None, *,
              small_line: np.ndarray | None = None, guide: np.ndarray | None = None,
              step: np.ndarray | None = None, regions: tuple[int, np.ndarray] | None = None) -> Carried:
        """Colour the frame whose full-resolution line art is `line`, from `anchor`, starting from
        `previous` (the frame before it, or None to take the straight flow alone).

        What the caller already has saves work: `small_line` and `guide`, the line art and its
        guide at the flow size, `step`, the flow from this frame to the previous one, and
        `regions`, the line-enclosed regions of `small_line` (lineart.frame_regions).
        """
        small_line = self.small_line(line) if small_line is None else small_line
        guide = line_guide(small_line) if guide is None else guide
        count, labels = frame_regions(small_line) if regions is None else regions
        follow = not anchor.inked and previous is not None
        # Footage's motion back from the anchor, beside the chain (round trip: what the anchor hid).
        back = self._straight_flow(anchor.guide, guide) if follow else None
        step = self.flow(guide, previous.guide) if previous is not None and step is None else step
        origin, residual = self.locate(guide, anchor, previous, step, labels, count)
        origin, residual = match_regions(guide, anchor.guide, origin, residual, labels, count)
        explained = explained_by(residual, inside(origin), guide, labels, count)
        if back is not None:
            explained &= ~occlusion_mask(origin - grid_stack(*self.flow_size), back.result())
        confidence = np.where(explained, FROM_ANCHOR, GUESSED).astype(np.float32)
        # What the motion does not explain takes the paint of the explained part of its own
        # region, smoothly (never in blocks); a region with nothing explained keeps the motion's guess.
        fill = sample_at(anchor.small_paint, origin)
        if not follow or painter is not None:  # footage follows the previous output instead
            fill = smooth_region_fill(fill, labels, explained)
        painted = before = np.zeros_like(explained)
        if painter is not None and not explained.all():
            fill, painted, before = self._paint(small_line, anchor, origin, fill, explained, labels, count, previous, step,
                                                painter)
        if follow:  # footage: what the painter does not paint afresh follows the previous output
            before = ~explained & ~(painted & ~before)
        confidence[before] = FROM_PREVIOUS
        # Held for the picture alone: the painter saw the positions as the motion gives them (as
        # in training), and the chain goes on from them (held at every frame, a motion slower
        # than a pixel a frame would never start: the sample at 192x128 lost 0.8 dB so).
        held = _at_grid(origin, self._held(origin, small_line, guide, anchor))
        parts = (line, anchor, held, fill, explained, previous, step, before)
        if painter is None:
            if self._composer is None:
                self._composer = ThreadPoolExecutor(1, thread_name_prefix="tcvc-compose")
            frame, small = self._composer.submit(self._finish, *parts), None
        else:  # the painter's next condition is read from this frame at the flow size
            frame = self._finish(*parts)
            small = media.resize(frame, self.flow_size, cv2.INTER_AREA)
        return Carried(frame, confidence, Track(origin, guide, frame, painted, small), residual, labels)

    def _finish(self, line: np.ndarray, *parts) -> np.ndarray:
        colour = self._compose(line, *parts)
        return flat_fill(colour, line) if self.flat else colour

    def _paint(self, small_line: np.ndarray, anchor: AnchorFrame, origin: np.ndarray, fill: np.ndarray,
               explained: np.ndarray, labels: np.ndarray, count: int, previous: Track | None, step: np.ndarray | None,
               painter: Painter) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fill, painted, before): the generator paints what the motion does not explain.

        Pixels it painted in the frame before, moved along, stay as painted (`before`), except in
        regions the anchor explains nowhere (content new to the shot, a character walking in),
        which it paints again in every frame from all it now sees."""
        new = self._new_regions(labels, count, explained)
        before = np.zeros_like(explained)
        carried = sample_at(anchor.small, origin)
        if previous is not None and previous.painted.any() and step is not None:
            before = (pull(previous.painted.view(np.uint8) * 255, step) >= 128) & ~explained & ~new
            if before.any():
                carried[before] = pull(previous.small, step)[before]
        known = explained | before
        if known.all():
            return fill, before, before
        painting = painter(small_line, carried, known)
        fill = fill.copy()
        # Footage's regions are derived edges, not closed outlines: all it cannot carry is painted
        # (Big Buck Bunny's motion row 22.36 -> 22.55 dB by that).
        to_paint = ~known if PAINT_PARTLY_EXPLAINED or not anchor.inked else new & ~known
        fill[to_paint] = painting[to_paint]
        return fill, to_paint | before, before

    def locate(self, guide: np.ndarray, anchor: AnchorFrame, previous: Track | None, step: np.ndarray | None,
               labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions in the anchor, guide residual) for each pixel of frame t: the better of the
        refined chain and the straight flow, region by region."""
        grid = grid_stack(*self.flow_size)
        if previous is None:
            direct = grid + self.flow(guide, anchor.guide)
            return direct, guide_residual(guide, sample_at(anchor.guide, direct))
        straight = self._straight_flow(guide, anchor.guide)
        step = self.flow(guide, previous.guide) if step is None else step
        chained = pull(previous.origin, step)
        # The chain follows large motion but drifts; a flow against the anchor pulled along it
        # brings each pixel back onto the anchor's own lines.
        refined = pull(chained, self.flow(guide, sample_at(anchor.guide, chained)))
        refined_residual = guide_residual(guide, sample_at(anchor.guide, refined))
        direct = grid + straight.result()
        direct_residual = guide_residual(guide, sample_at(anchor.guide, direct))
        chain_total = np.bincount(labels.ravel(), refined_residual.ravel(), count)
        direct_total = np.bincount(labels.ravel(), direct_residual.ravel(), count)
        where = region_choice(direct_total * DIRECT_MARGIN < chain_total, labels)
        if not where.any():
            return refined, refined_residual
        return np.where(where[..., None], direct, refined), np.where(where, direct_residual, refined_residual)

    def _held(self, origin: np.ndarray, small_line: np.ndarray, guide: np.ndarray, anchor: AnchorFrame) -> np.ndarray:
        """The pixels that did not move (HELD_SHIFT above), to be taken at their own place in the
        anchor: a static background's texture stays sharp, not resampled by a flow that is nearly 0."""
        if anchor.line is None:
            return np.zeros(origin.shape[:2], bool)
        width, height = self.flow_size
        box = (max(1, round(HELD_WINDOW * min(width, height) / FLOW_SHORT_SIDE)) | 1,) * 2
        kernel = np.ones(box, np.uint8)
        offset = cv2.absdiff(origin, grid_stack(width, height))
        shift = cv2.max(offset[..., 0], offset[..., 1])
        lined = cv2.erode(small_line, kernel) < STROKE
        same_lines = lined & (cv2.dilate(cv2.absdiff(small_line, anchor.line), kernel) < HELD_LINE)
        same_guide = cv2.blur(cv2.absdiff(guide, anchor.guide), box) < HELD_GUIDE
        return (same_lines & (shift < HELD_SHIFT)) | (same_guide & (shift < HELD_DRIFT))

    @staticmethod
    def _new_regions(labels: np.ndarray, count: int, explained: np.ndarray) -> np.ndarray:
        """The pixels of line-enclosed regions without one pixel the anchor explains."""
        seen = np.bincount(labels[explained], minlength=count) > 0
        seen[0] = True  # the strokes themselves
        return ~seen[labels]

    def _compose(self, line: np.ndarray, anchor: AnchorFrame, origin: np.ndarray, fill: np.ndarray, explained: np.ndarray,
                 previous: Track | None, step: np.ndarray | None, before: np.ndarray | None) -> np.ndarray:
        """Full resolution: the anchor's paint and ink at each pixel's position; where the motion
        explains nothing, the flow-size fill (upscaled) or what the painter painted in the
        frame before (`before`, moved along `step`); then, where the anchor inks its line art,
        the ink laid through this frame's own strokes."""
        positions = self._full_positions(origin)
        paint = sample_at(anchor.paint, positions)
        if not explained.all():
            upscaled = fill if fill.shape[1::-1] == self.size else cv2.resize(fill, self.size, interpolation=cv2.INTER_CUBIC)
            cv2.copyTo(upscaled, self._full_mask(~explained), paint)
        if before is not None and before.any() and previous is not None and step is not None:
            cv2.copyTo(pull(finished(previous.colour), self._full_offsets(step)), self._full_mask(before), paint)
        # Ink only matters on the strokes: sampled there alone (a tenth of a frame, say).
        where, share = stroke_pixels(line) if anchor.inked else ((), None)
        if len(where):
            flat = paint.reshape(-1, 3)
            at = positions.reshape(-1, 2)[where]
            laid = flat[where] * (1.0 - share) + _gather(anchor.ink, at).astype(np.float32) * share
            if anchor.full_line is not None:
                # Where the anchor's strokes, carried, fall exactly on this frame's own, the
                # artist's own pixels are right as they are: their anti-aliasing, their shading.
                apart = np.abs(255.0 - _gather(anchor.full_line, at) - 255.0 * share)  # share: this frame's darkness
                exact = np.clip(1.0 - apart / EXACT_LINES, 0.0, 1.0)
                laid += exact * (_gather(anchor.colour, at).astype(np.float32) - laid)
            flat[where] = (laid + 0.5).astype(np.uint8)
        return paint

    def _full_positions(self, origin: np.ndarray) -> np.ndarray:
        """Flow-size positions in the anchor as full-resolution positions (pixel centres aligned)."""
        if self.flow_size == self.size:
            return origin
        scale = np.array([self.size[0] / self.flow_size[0], self.size[1] / self.flow_size[1]], np.float32)
        return cv2.resize((origin + 0.5) * scale - 0.5, self.size, interpolation=cv2.INTER_LINEAR)

    def _full_offsets(self, flow: np.ndarray) -> np.ndarray:
        if self.flow_size == self.size:
            return flow
        scale = np.array([self.size[0] / self.flow_size[0], self.size[1] / self.flow_size[1]], np.float32)
        return cv2.resize(flow * scale, self.size, interpolation=cv2.INTER_LINEAR)

    def _full_mask(self, mask: np.ndarray) -> np.ndarray:
        return full_mask(mask, self.size)

    def paint(self, line: np.ndarray, painter: Painter, ink: float, *, small_line: np.ndarray | None = None) -> np.ndarray:
        """Colour a frame from its line art alone (a shot with nothing to carry from): the
        painter sees a blank condition with nothing explained. The result can anchor what follows."""
        small_line = self.small_line(line) if small_line is None else small_line
        nothing = np.zeros(self.flow_size[::-1], bool)
        painted = painter(small_line, np.zeros((*self.flow_size[::-1], 3), np.uint8), nothing)
        upscaled = painted if painted.shape[1::-1] == self.size else cv2.resize(painted, self.size, interpolation=cv2.INTER_CUBIC)
        colour = draw_lines(upscaled, line, ink)
        return flat_fill(colour, line) if self.flat else colour
