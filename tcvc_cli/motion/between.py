"""A frame between two artist's frames: the pass carried forward from the earlier one and the
pass carried backward from the later one, combined, and what the two frames tell together that
neither tells alone.

- **Blend and pick.** Held frames between a keyframe and the anchor before it are blended per
  pixel by each pass's confidence and closeness in time (`blend`); once a keyframe has taken
  over a shot, each region of a later frame comes whole from whichever of the two anchors' passes
  fits its line art better (`pick`).
- **Held still.** Where both artist's frames paint a neighbourhood alike and the frame's own line
  art there is what both frames' line art draws, nothing moved: the pixel is as both paint it.
  Flat areas far from strokes give the flow nothing to follow, and the motion of the strokes
  nearby spreads into them; this keeps a static background and what lies on it (a wisp of smoke,
  a shadow) where it is.
- **Moved with a part.** Content the line art does not draw (smoke from a gun, a glow) lies in the
  large regions around the characters, where the line art shows no motion for it. The later
  frame shows where it went: when the motion of an outlined part nearby, taken rigidly, carries
  it from the earlier frame onto the later one far better than its own region's motion does, it
  moves with that part, rigidly, in every frame between (`Layers`).

Nothing here reads files, prints or keeps state beyond one pair of artist's frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..lineart import frame_regions
from .flow import GUIDE_TOLERANCE, INK_THRESHOLD
from .propagate import FROM_ANCHOR, AnchorFrame, Carried, full_mask, grid_stack, region_choice, sample_at


def blend(forward: Carried, backward: Carried, position: float) -> np.ndarray:
    """Two propagations of one frame - forward from the shot's earlier anchor and backward from a
    later keyframe - blended per pixel by confidence and closeness in time (`position`: 0 at the
    earlier anchor, 1 at the later keyframe)."""
    weight_forward = forward.confidence * (1.0 - position) * _fit(forward)
    weight_backward = backward.confidence * position * _fit(backward)
    share = weight_backward / np.maximum(weight_forward + weight_backward, 1e-6)
    height, width = forward.colour.shape[:2]
    share = cv2.resize(share, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.blendLinear(backward.colour, forward.colour, share, 1.0 - share)


def blended(forward: Carried, backward: Carried, position: float) -> tuple[np.ndarray, np.ndarray]:
    """(colour, confidence) of a frame from its two passes, blended (`blend`); its confidence is
    the better of the two passes' at each pixel."""
    return blend(forward, backward, position), np.maximum(forward.confidence, backward.confidence)


# Blending weight of a pass falls by half where its carried line art is this far (grey levels)
# from the frame's own: the pass that fits takes nearly all. On the real-line-art clips with
# keyframes at both ends (bench/realart.py) 1 scored 0.02 to 0.15 dB above 8 (the sample 0.34),
# 2 and 4 in between.
BLEND_RESIDUAL = 1.0


def _fit(carried: Carried) -> np.ndarray | float:
    if carried.residual is None:
        return 1.0
    return 1.0 / (1.0 + carried.residual / BLEND_RESIDUAL)


# A region of a frame carried from two anchors takes the nearer anchor's colours unless the other
# fits its line art better by this factor; a pixel the motion does not explain counts as this far
# (grey levels of guide residual) from the frame's own line art.
OTHER_ANCHOR_MARGIN = 1.0
UNEXPLAINED_COST = 2 * GUIDE_TOLERANCE


def pick(nearer: Carried, other: Carried) -> Carried:
    """One frame carried from two anchors: each line-enclosed region whole from the pass whose
    carried line art fits it better, `nearer` on ties (its strokes go with the region next to
    them). What the earlier anchor saw and a later keyframe lost (a shape that had passed behind
    something when the keyframe was drawn) comes back from the earlier anchor. The track stays
    the nearer pass's: each anchor keeps its own chain."""
    labels = nearer.labels
    if labels is None or nearer.residual is None or other.residual is None:
        return nearer
    count = int(labels.max()) + 1
    flat = labels.ravel()
    costs = [np.bincount(flat, np.where(c.confidence >= FROM_ANCHOR, c.residual, UNEXPLAINED_COST).ravel(), count)
             for c in (nearer, other)]
    where = region_choice(costs[1] * OTHER_ANCHOR_MARGIN < costs[0], labels)
    if not where.any():
        return nearer
    colour = nearer.colour.copy()
    cv2.copyTo(other.colour, full_mask(where, nearer.colour.shape[1::-1]), colour)
    return Carried(colour, np.where(where, other.confidence, nearer.confidence), nearer.track,
                   np.where(where, other.residual, nearer.residual), labels)


# Lengths below are in pixels of a flow size whose short side is REFERENCE_SIDE, and scale with it.
REFERENCE_SIDE = 480
# Held still: the neighbourhood (a box this wide) where both artist's frames differ by under
# STILL_COLOUR grey levels (mean of each pixel's largest channel difference) and the frame's
# guide differs from both frames' guides by under STILL_GUIDE. On the real-line-art clips with
# keyframes at both ends (bench/realart.py) wolf gains 0.46 dB, pirates 0.07 (docs/motion.md).
STILL_WINDOW = 15
STILL_COLOUR = 4.0
STILL_GUIDE = 2.0
# A held-still patch smaller than this share of the frame is taken for a coincidence (a gradient
# of sky that the camera moves across, alike at both ends by chance) and left to the passes.
STILL_MIN = 0.002
# ... and a region of the frame counts as the same region in an artist's frame when they overlap
# by this share of their union.
STILL_OVERLAP = 0.5
# Moved with a part: a region this large (share of the frame) is taken for the open space around
# the characters, where content without strokes may lie; a pixel counts as lying there when it
# is more than LAYER_CLEARANCE from a stroke. Parts smaller than LAYER_MIN_PART are not followed
# (a fold of a hand or a lip moves too little and too unlike its neighbours to fit a layer to: on
# wolf they made spurious layers, 0.1 to 0.4 dB with keyframes in the middle), nor layers smaller
# than LAYER_MIN; a part reaches content up to LAYER_REACH of the short side away.
OPEN_SPACE = 0.05
LAYER_CLEARANCE = 2.0
LAYER_MIN_PART = 0.01
LAYER_MIN = 0.002
LAYER_REACH = 0.25
# A pixel follows a part when, with that part's motion, the earlier frame matches the later one
# around it (a box LAYER_WINDOW wide) within LAYER_MATCH grey levels and at most LAYER_GAIN times
# what its own region's motion (or holding still) leaves, and that leaves at least LAYER_MISMATCH.
# The chosen pixels of one part are closed over gaps LAYER_CLOSE wide into its layer.
LAYER_WINDOW = 9
LAYER_MATCH = 8.0
LAYER_GAIN = 0.5
LAYER_MISMATCH = 6.0
LAYER_CLOSE = 15
# A part is followed into a frame only where the forward pass explains this many of its pixels,
# and its rigid motion fits them within LAYER_FIT pixels (median).
LAYER_SEEN = 20
LAYER_FIT = 8.0


def _odd(length: float) -> int:
    return max(1, int(round(length)) | 1)


def _rigid(source: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Rotation, uniform scale and translation (2x3) taking points `source` to `target`, fitted
    robustly (least median of squares); None when too few points or no fit."""
    if len(source) < LAYER_SEEN:
        return None
    matrix, _ = cv2.estimateAffinePartial2D(source.astype(np.float32), target.astype(np.float32), method=cv2.LMEDS)
    return matrix


def _large_parts(mask: np.ndarray, share: float) -> np.ndarray:
    """The connected parts of a bool mask that cover at least `share` of it."""
    if not mask.any():
        return mask
    _, parts, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8))
    large = stats[:, cv2.CC_STAT_AREA] >= share * mask.size
    large[0] = False
    return large[parts]


def _same_region(labels: np.ndarray, other: np.ndarray, other_count: int) -> np.ndarray:
    """Per pixel, whether its region of `labels` and its region of `other` (two frames' regions,
    0 on strokes) overlap by at least STILL_OVERLAP of their union; stroke pixels pass."""
    pairs = labels.astype(np.int64) * other_count + other
    _, which, shared = np.unique(pairs.ravel(), return_inverse=True, return_counts=True)
    shared = shared[which].reshape(labels.shape)  # (footage has many small regions: no dense table)
    own = np.bincount(labels.ravel())
    theirs = np.bincount(other.ravel(), minlength=other_count)
    union = own[labels] + theirs[other] - shared
    return (shared >= STILL_OVERLAP * union) | (labels == 0) | (other == 0)


def _moved(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@dataclass(frozen=True)
class Layer:
    """Content of the earlier frame that moves with one of its outlined parts."""

    mask: np.ndarray  # bool at flow size, in the earlier frame
    part: int  # the earlier frame's line-enclosed region it moves with
    to_later: np.ndarray  # 2x3: the part's motion from the earlier frame to the later one (flow size)


class Between:
    """The frames held between two artist's frames, `earlier` and `later`, made whole."""

    def __init__(self, earlier: AnchorFrame, later: AnchorFrame, size: tuple[int, int], first_forward: Carried,
                 first_backward: Carried):
        """`first_forward` and `first_backward`: the two passes of the held frame next to `earlier`
        (their positions in the two frames tell how each part moved from one to the other)."""
        self.earlier, self.later, self.size = earlier, later, tuple(size)
        height, width = earlier.small.shape[:2]
        self.scale = min(height, width) / REFERENCE_SIDE
        # Held still: the neighbourhoods where both artist's frames agree, once.
        difference = cv2.absdiff(earlier.small, later.small).max(-1).astype(np.float32)
        self.alike = cv2.blur(difference, (self._length(STILL_WINDOW),) * 2) < STILL_COLOUR
        self.still_colour = cv2.addWeighted(earlier.colour, 0.5, later.colour, 0.5, 0)
        self.regions = [frame_regions(anchor.line) if anchor.line is not None else None for anchor in (earlier, later)]
        self.layers: list[Layer] = []
        if all(regions is not None for regions in self.regions) and earlier.inked and later.inked:
            self.layers = self._find_layers(first_forward, first_backward)

    def _length(self, length: float) -> int:
        return _odd(length * self.scale)

    def frame(self, forward: Carried, backward: Carried, position: float, small_line: np.ndarray,
              guide: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(colour at source size, confidence at flow size) of one held frame from its two passes
        (`position`: 0 at the earlier frame, 1 at the later one), its line art and its guide at
        the flow size."""
        colour, confidence = blended(forward, backward, position)
        still = self._still(guide, forward.labels)
        if self.layers and forward.labels is not None:
            colour, moved = self._move_layers(colour, forward, backward, small_line)
            confidence = np.where(moved, FROM_ANCHOR, confidence).astype(np.float32)
            still &= ~moved  # a layer that moved onto a still spot covers it
        if still.any():
            cv2.copyTo(self.still_colour, full_mask(still, self.size), colour)
            confidence = np.where(still, FROM_ANCHOR, confidence).astype(np.float32)
        return colour, confidence

    def _still(self, guide: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """Flow-size pixels whose neighbourhood neither artist's frame nor this frame's line art
        shows moving, and whose line-enclosed region (`labels`, this frame's) is much the same
        region in both artist's frames: the inside of a shape that has moved onto a spot where
        both frames paint the same (a face over a hill) shows no strokes near it, but its region
        is not the hill's."""
        if labels is None or any(regions is None for regions in self.regions):
            return np.zeros_like(self.alike)
        box = (self._length(STILL_WINDOW),) * 2
        frame = guide.astype(np.float32)
        changed = np.maximum(cv2.blur(np.abs(frame - self.earlier.guide), box), cv2.blur(np.abs(frame - self.later.guide), box))
        still = self.alike & (changed < STILL_GUIDE)
        for count, anchor_labels in self.regions:
            if still.any():
                still &= _same_region(labels, anchor_labels, count)
        return _large_parts(still, STILL_MIN)

    # -- moved with a part
    def _open_space(self, labels: np.ndarray, small_line: np.ndarray) -> np.ndarray:
        """Pixels of the large regions around the characters, clear of every stroke."""
        height, width = labels.shape
        large = np.bincount(labels.ravel(), minlength=int(labels.max()) + 1) > OPEN_SPACE * height * width
        large[0] = False
        clear = cv2.distanceTransform((small_line >= INK_THRESHOLD).view(np.uint8), cv2.DIST_L2, 3) > LAYER_CLEARANCE * self.scale
        return large[labels] & clear

    def _find_layers(self, forward: Carried, backward: Carried) -> list[Layer]:
        """The content of the earlier frame's open space that moves with one of its parts from it
        to the later frame."""
        earlier, later = self.earlier.small.astype(np.float32), self.later.small.astype(np.float32)
        count, labels = self.regions[0]
        height, width = labels.shape
        sizes = np.bincount(labels.ravel(), minlength=count)
        open_space = self._open_space(labels, self.earlier.line)
        if not open_space.any():
            return []
        # Each pixel of the held frame next to the earlier one, by where it lies in both frames.
        in_earlier, in_later = forward.track.origin, backward.track.origin
        part_of = sample_at(labels.astype(np.float32), in_earlier, cv2.INTER_NEAREST).astype(np.int64)
        box = (self._length(LAYER_WINDOW),) * 2
        own = np.minimum(np.abs(earlier - sample_at(later, in_later)).mean(-1), np.abs(earlier - later).mean(-1))
        own = cv2.blur(own, box)
        best = np.full((height, width), np.inf, np.float32)
        best_part = np.zeros((height, width), np.int64)
        motions: dict[int, np.ndarray] = {}
        grid = grid_stack(width, height)
        for part in range(1, count):
            if sizes[part] > OPEN_SPACE * height * width or sizes[part] < LAYER_MIN_PART * height * width:
                continue
            reach = cv2.distanceTransform((labels != part).view(np.uint8), cv2.DIST_L2, 3) < LAYER_REACH * min(height, width)
            zone = reach & open_space
            if not zone.any():
                continue
            seen = part_of == part
            motion = _rigid(in_earlier[seen], in_later[seen])
            if motion is None:
                continue
            motions[part] = motion
            cost = cv2.blur(np.abs(earlier - sample_at(later, _moved(motion, grid).astype(np.float32))).mean(-1), box)
            better = zone & (cost < best)
            best[better], best_part[better] = cost[better], part
        chosen = open_space & (best < LAYER_MATCH) & (best < LAYER_GAIN * own) & (own > LAYER_MISMATCH)
        layers = []
        close = np.ones((self._length(LAYER_CLOSE),) * 2, np.uint8)
        for part, motion in motions.items():
            mask = (chosen & (best_part == part)).view(np.uint8)
            if not mask.any():
                continue
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close) & open_space.view(np.uint8)
            mask = _large_parts(cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0, LAYER_MIN)
            if mask.any():
                layers.append(Layer(mask, part, motion))
        return layers

    def _move_layers(self, colour: np.ndarray, forward: Carried, backward: Carried,
                     small_line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each layer drawn where its part's motion takes it in this frame; where a pass shows a
        layer that has moved on, the other pass's colour (when it does not show one there)."""
        labels = self.regions[0][1]
        height, width = labels.shape
        grid = grid_stack(width, height)
        in_earlier, in_later = forward.track.origin, backward.track.origin
        part_of = sample_at(labels.astype(np.float32), in_earlier, cv2.INTER_NEAREST).astype(np.int64)
        seen_well = forward.confidence >= FROM_ANCHOR
        open_space = self._open_space(forward.labels, small_line)
        drawn = np.zeros((height, width), bool)
        left_forward = np.zeros((height, width), bool)
        left_backward = np.zeros((height, width), bool)
        full = np.array([[self.size[0] / width, 0, 0], [0, self.size[1] / height, 0], [0, 0, 1]], np.float64)
        full[:2, 2] = 0.5 * np.diag(full)[:2] - 0.5  # pixel centres aligned
        for layer in self.layers:
            seen = (part_of == layer.part) & seen_well
            motion = _rigid(in_earlier[seen], grid[seen])
            if motion is None or np.median(np.linalg.norm(_moved(motion, in_earlier[seen]) - grid[seen], axis=-1)) > LAYER_FIT:
                continue
            mask = layer.mask.view(np.uint8)
            here = (cv2.warpAffine(mask, motion, (width, height), flags=cv2.INTER_NEAREST) > 0) & open_space
            at_later = cv2.warpAffine(mask, layer.to_later, (width, height), flags=cv2.INTER_NEAREST)
            left_forward |= sample_at(mask, in_earlier, cv2.INTER_NEAREST) > 0
            left_backward |= sample_at(at_later, in_later, cv2.INTER_NEAREST) > 0
            if here.any():
                big = (full @ np.vstack([motion, [0, 0, 1]]) @ np.linalg.inv(full))[:2]
                moved = cv2.warpAffine(self.earlier.colour, big, self.size, borderMode=cv2.BORDER_REPLICATE)
                cv2.copyTo(moved, full_mask(here, self.size), colour)
                drawn |= here
        left_forward &= ~drawn
        left_backward &= ~drawn
        cv2.copyTo(backward.colour, full_mask(left_forward & ~left_backward, self.size), colour)
        cv2.copyTo(forward.colour, full_mask(left_backward & ~left_forward, self.size), colour)
        return colour, drawn
