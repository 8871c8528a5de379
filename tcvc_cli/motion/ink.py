"""Paint and ink: a coloured frame of line art split into its fills and the colour of its
strokes, and laid together again through another frame's strokes.

Which pixels of line art are strokes (`stroke_alpha`, `stroke_pixels`): the dark ones, thin
lines that anti-aliasing leaves lighter, and the rim around both; grey shading in scanned line
art stays paint. `separate` continues each fill under the strokes and solves the strokes' own
colour from the anti-aliasing; `lay_ink` puts them back together. `ink_strength` tells an
artist's inked frame from footage whose line art was derived from the colour.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..lineart import nearest_of, to_grey

# A stroke pixel of line art (grey below this) and the anti-aliased rim around it, this many
# pixels wide, take ink; everything else is paint.
STROKE = 128
STROKE_RIM = 1
# ... and so does a line thinner than THIN_WIDTH pixels that is darker than the paper beside it by
# more than THIN_LINE grey levels: a thin line drawn across pixels stays lighter than STROKE
# in places, and would be inked in some and left as paint in others (a dashed line).
THIN_LINE = 32
THIN_WIDTH = 5
# A colour frame drawing its strokes this dark (ink_strength) is inked: artists' cels 0.6 to
# 1.0 on bench/realart.py's clips; footage with Canny line art 0.0 (Big Buck Bunny).
INKED = 0.3


def _strokes(grey: np.ndarray) -> np.ndarray:
    """uint8 0/1: the pixels of grey line art that take ink - its dark strokes, its thin lines
    however light their anti-aliasing left them, and the rim around both."""
    strokes = grey < STROKE
    if THIN_LINE:
        closed = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, np.ones((THIN_WIDTH,) * 2, np.uint8))
        strokes |= cv2.subtract(closed, grey) > THIN_LINE
    strokes = strokes.view(np.uint8)
    if STROKE_RIM:
        strokes = cv2.dilate(strokes, np.ones((2 * STROKE_RIM + 1,) * 2, np.uint8))
    return strokes


def stroke_alpha(line: np.ndarray) -> np.ndarray:
    """How much of each pixel is ink (float32 HxW, 0-1): the line art's darkness on its strokes
    and their anti-aliased rim, 0 on paper (so grey shading in scanned line art stays paint)."""
    grey = to_grey(line)
    strokes = _strokes(grey)
    alpha = (255.0 - grey.astype(np.float32)) * (1.0 / 255.0)
    alpha[strokes == 0] = 0.0
    return alpha


def stroke_pixels(line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """stroke_alpha() where it is not 0, cheaply: (flat indices, alpha (N, 1) float32)."""
    grey = to_grey(line)
    strokes = _strokes(grey)
    where = np.flatnonzero(strokes.view(bool))  # numpy finds set bools ten times faster than set bytes
    share = (255.0 - grey.reshape(-1)[where].astype(np.float32)) * (1.0 / 255.0)
    keep = share > 0
    return where[keep], share[keep, None]


def separate(colour: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(paint, ink) of a coloured frame and its line art, both uint8 RGB at its size.

    Paint continues every fill under the strokes (each stroke pixel takes its nearest unlined
    pixel's colour); ink is the strokes' own colour, solved from colour = ink a + paint (1 - a)
    on the strokes' cores and continued outward, so a stroke of t that lies where the anchor had
    none still takes the colour of the anchor's nearest stroke."""
    alpha = stroke_alpha(line)
    rgb = colour.astype(np.float32)
    bare = alpha < 0.05
    if bare.all() or not bare.any():
        return colour.copy(), colour.copy()
    paint = rgb.reshape(-1, 3)[nearest_of(bare)].reshape(rgb.shape)
    core = alpha > 0.5
    if not core.any():
        return np.clip(paint + 0.5, 0, 255).astype(np.uint8), colour.copy()
    a = alpha[core][:, None]
    solved = np.clip((rgb[core] - (1.0 - a) * paint[core]) / a, 0, 255)
    ink = np.zeros_like(rgb)
    ink[core] = solved
    ink = ink.reshape(-1, 3)[nearest_of(core)].reshape(rgb.shape)
    return np.clip(paint + 0.5, 0, 255).astype(np.uint8), np.clip(ink + 0.5, 0, 255).astype(np.uint8)


def lay_ink(paint: np.ndarray, ink: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Ink over paint through the line art's strokes (all at one size)."""
    alpha = stroke_alpha(line)
    return cv2.blendLinear(ink, paint, alpha, 1.0 - alpha)


def ink_strength(colour: np.ndarray, line: np.ndarray) -> float:
    """How dark a coloured frame draws the strokes of its line art, 0 (not at all) to 1 (black).

    For a frame a model paints with nothing to carry from: its lines are drawn this dark.
    Measured as the median luma on line pixels over the mean luma of the paint around them.
    """
    ink = to_grey(line) < STROKE
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
