"""Line-enclosed regions of a frame, carried whole: found again in the anchor when the motion
loses them, and filled smoothly inside themselves where nothing explains them.

Cel paint works region by region: each area enclosed by strokes takes its paint as one. The
flow decides pixel by pixel and can lose a region (a ball that passed behind a post and came
back, a hand that moved further than the flow reaches); here such a region is looked for in the
anchor by the shape of its own line art, as segment matching for cartoon frames does.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import find_objects

from .flow import GUIDE_TOLERANCE, NEAR_LINE, guide_residual

# Reach of the smooth fill of unexplained pixels (Gaussian sigma, flow-size pixels).
FILL_SIGMA = 8.0


def smooth_region_fill(colour: np.ndarray, labels: np.ndarray, explained: np.ndarray, sigma: float = FILL_SIGMA) -> np.ndarray:
    """Unexplained pixels take a weighted mean of the explained pixels of their own
    line-enclosed region (`labels`, 0 on strokes), so colour never leaks across a stroke and
    never falls into blocks. Pixels with no explained pixel of their region within reach keep
    their colour. Returns `colour` itself when there is nothing to fill."""
    todo = ~explained & (labels > 0)
    if not todo.any() or not explained.any():
        return colour
    regions = np.unique(labels[todo])
    has_explained = np.bincount(labels[explained], minlength=labels.max() + 1) > 0
    regions = regions[has_explained[regions]]
    if not len(regions):
        return colour
    filled = colour.copy()
    height, width = labels.shape
    pad = int(3 * sigma)
    kernel = (2 * pad + 1, 2 * pad + 1)  # a stack blur this wide is about a Gaussian of 1.25 sigma
    # Each region is worked on around its pixels to fill alone: explained pixels further away
    # than the blur reaches would not count anyway.
    boxes = find_objects(np.where(todo, labels, 0))
    for region in regions:
        rows, cols = boxes[region - 1]
        top, bottom = max(0, rows.start - pad), min(height, rows.stop + pad)
        left, right = max(0, cols.start - pad), min(width, cols.stop + pad)
        inside_region = labels[top:bottom, left:right] == region
        weight = (inside_region & explained[top:bottom, left:right]).astype(np.float32)
        # Colour times weight and the weight itself, blurred in one pass.
        stack = np.dstack([colour[top:bottom, left:right].astype(np.float32) * weight[..., None], weight])
        blurred = cv2.stackBlur(stack, kernel)
        total = blurred[..., 3]
        take = inside_region & ~explained[top:bottom, left:right] & (total > 1e-4)
        box = filled[top:bottom, left:right]
        box[take] = np.clip(blurred[..., :3][take] / total[take][:, None] + 0.5, 0, 255).astype(np.uint8)
    return filled


# Regions the motion does not explain are looked for again in the anchor when they are at
# least this many pixels (and this share of the frame), at most MATCH_MAX_SHARE of it, the
# MATCH_LARGEST largest of a frame, within MATCH_REACH of the frame's short side of where the
# motion put them.
MATCH_MIN_PIXELS, MATCH_MIN_SHARE, MATCH_MAX_SHARE = 24, 0.0002, 0.25
MATCH_LARGEST = 24
MATCH_REACH = 0.3
# A match replaces the motion's positions when it explains at least this share of the region's
# line art, and this much more of it than they do.
MATCH_GAIN, MATCH_MARGIN = 0.5, 0.25
# Pixels of outline around a region that its template includes.
MATCH_PAD = 4


def match_regions(guide: np.ndarray, anchor_guide: np.ndarray, origin: np.ndarray, residual: np.ndarray,
                  labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(origin, residual) with the regions the motion does not explain found again in the anchor.

    A region of the frame (`labels`) whose own line art the carried guide does not match is
    matched as a template, its outline included, against the anchor's guide around where the
    motion put it; when the best translation explains much more of it, the whole region and its
    outline take that translation."""
    height, width = labels.shape
    near = (guide < NEAR_LINE) & (labels > 0)
    sizes = np.bincount(labels.ravel(), minlength=count)
    seen = np.bincount(labels[near], minlength=count)
    miss = np.bincount(labels[near], weights=residual[near], minlength=count) / np.maximum(seen, 1)
    floor = max(MATCH_MIN_PIXELS, MATCH_MIN_SHARE * height * width)
    lost = np.flatnonzero((miss > GUIDE_TOLERANCE) & (sizes >= floor) & (sizes <= MATCH_MAX_SHARE * height * width))
    lost = lost[lost > 0]
    if not len(lost):
        return origin, residual
    lost = lost[np.argsort(-sizes[lost])][:MATCH_LARGEST]
    origin, residual = origin.copy(), residual.copy()
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    boxes = find_objects(labels)
    # The anchor's guide with its edges repeated as far as a match may reach, for whole-pixel shifts.
    reach = max(8, round(MATCH_REACH * min(height, width))) + 2 * MATCH_PAD + 2
    padded = (cv2.copyMakeBorder(anchor_guide, reach, reach, reach, reach, cv2.BORDER_REPLICATE), reach)
    for region in lost:
        rows, cols = boxes[region - 1]
        box = (slice(max(0, rows.start - MATCH_PAD), min(height, rows.stop + MATCH_PAD)),
               slice(max(0, cols.start - MATCH_PAD), min(width, cols.stop + MATCH_PAD)))
        own = labels[box] == region
        judged = near[box] & own
        if not judged.any():
            continue
        # The region and the strokes around it.
        outline = cv2.dilate(own.view(np.uint8), np.ones((2 * MATCH_PAD + 1,) * 2, np.uint8)).astype(bool)
        outline &= own | (labels[box] == 0)
        found = _best_translation(guide[box], anchor_guide, origin[box], own, outline, (box[0].start, box[1].start))
        if found is None:
            continue
        dx, dy = found
        # The correlation peak is broad: the translation that explains most of the region's line
        # art lies within a pixel or two of it.
        after, dx, dy = max(((_explained_share(guide[box], padded, box, x, y, judged), x, y)
                             for x in range(dx - 2, dx + 3) for y in range(dy - 2, dy + 3)), key=lambda item: item[0])
        before = float((residual[box][judged] <= GUIDE_TOLERANCE).mean())
        if after >= MATCH_GAIN and after > before + MATCH_MARGIN:
            candidate = np.stack([grid_x[box] + dx, grid_y[box] + dy], -1)
            carried = cv2.remap(anchor_guide, candidate, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            origin[box][outline] = candidate[outline]
            residual[box][outline] = guide_residual(guide[box], carried)[outline]
    return origin, residual


def _best_translation(template_guide: np.ndarray, anchor_guide: np.ndarray, origin: np.ndarray, own: np.ndarray,
                      outline: np.ndarray, corner: tuple[int, int]) -> tuple[int, int] | None:
    """The whole-pixel translation (dx, dy) that best lays the region's line art over the
    anchor's, searched around where the motion put the region."""
    height, width = anchor_guide.shape
    top, left = corner
    rows, cols = template_guide.shape
    reach = max(8, round(MATCH_REACH * min(height, width)))
    ys, xs = np.nonzero(own)
    shift_x, shift_y = np.median(origin[ys, xs] - np.stack([xs + left, ys + top], -1), axis=0)
    window_top, window_left = int(round(top + shift_y)) - reach, int(round(left + shift_x)) - reach
    window = (slice(max(0, window_top), min(height, window_top + rows + 2 * reach)),
              slice(max(0, window_left), min(width, window_left + cols + 2 * reach)))
    # Lines bright on black: the correlation counts where the region's strokes find the anchor's,
    # and a stroke it shares with what covers it (an occluding edge) only fails to add.
    searched = 255.0 - anchor_guide[window].astype(np.float32)
    if searched.shape[0] < rows or searched.shape[1] < cols:
        return None
    scores = cv2.matchTemplate(searched, 255.0 - template_guide.astype(np.float32), cv2.TM_CCORR_NORMED,
                               mask=outline.astype(np.float32))
    # Where the anchor has no line at all the normalised score is undefined (OpenCV gives
    # +-FLT_MAX or NaN there): such a place matches nothing.
    scores[~(np.abs(scores) <= 1.0)] = 0.0
    _, _, _, best = cv2.minMaxLoc(scores)
    return window[1].start + best[0] - left, window[0].start + best[1] - top


def _explained_share(guide: np.ndarray, padded: tuple[np.ndarray, int], box: tuple[slice, slice], dx: int, dy: int,
                     judged: np.ndarray) -> float:
    """The share of `judged` pixels of the box whose line art the anchor, shifted by whole
    pixels (dx, dy), explains (`padded`: the anchor's guide with its border, and the border's width)."""
    image, border = padded
    rows = slice(box[0].start + dy + border, box[0].stop + dy + border)
    cols = slice(box[1].start + dx + border, box[1].stop + dx + border)
    carried = image[rows, cols]
    if carried.shape != guide.shape:  # beyond the reach padded for
        return 0.0
    return float((guide_residual(guide, carried)[judged] <= GUIDE_TOLERANCE).mean())
