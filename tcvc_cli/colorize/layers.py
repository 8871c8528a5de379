"""Compositing layers of a coloured frame: the paint under the lines, and the lines as a matte.

A compositor wants the fills apart from the ink, to put the studio's own lines back over the
paint and to grade the paint alone. From a composed frame C and its line art, tcvc writes

- lines: RGBA, alpha a = the line art's darkness (1 - grey / 255; grey 254 and up is paper, 0),
  colour K the ink as the composed frame shows it;
- confidence: grey, where the colours came from: white carried straight from an artist's frame,
  mid grey from the previous output, black guessed or painted (no alpha: any codec holds it);
- paint: RGBA, the fills with no lines over them: colour P continues each fill under the
  strokes, alpha 1, except 0 on solid lines (a = 1) and on bare paper (a = 0 and C white).

with both chosen so that the standard alpha-over, lines over paint over white paper,

    a K + (1 - a) (alpha_P P + (1 - alpha_P) white)

gives C back exactly before rounding: where a stroke is partly transparent, P is the fill
of the nearest unlined pixel pulled just far enough to make C reachable, and K then solves
the equation. When the input line art carried its own alpha, both layers' alphas are
multiplied by it. Colour is straight (not premultiplied) in PNG, TIFF and video; EXR
premultiplies, as that format expects.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..lineart import nearest_of
from ..media.images import to_unit
from ..motion.propagate import FROM_ANCHOR, FROM_PREVIOUS, GUESSED

LAYERS = ("composed", "paint", "lines", "confidence")
ALPHA_LAYERS = ("paint", "lines")  # the layers that need a format with alpha
PAPER_FLOOR = 1.5 / 255  # line-art darkness below this (grey 254 and 255) is paper, not a stroke


def confidence_matte(confidence: np.ndarray | float, size: tuple[int, int]) -> np.ndarray:
    """The confidence layer of a frame: grey uint8 at `size` (width, height), 255 where the colour
    was carried straight from an artist's frame, 128 where from the previous output, 0 where it
    was guessed or painted; `confidence` is per pixel (at the flow size) or one value."""
    values = np.asarray(confidence, np.float32)
    grey = np.interp(values, [GUESSED, FROM_PREVIOUS, FROM_ANCHOR], [0.0, 128.0, 255.0]).astype(np.float32)
    if grey.ndim == 0:
        return np.full(size[::-1], int(round(float(grey))), np.uint8)
    if grey.shape[1::-1] != tuple(size):
        grey = cv2.resize(grey, tuple(size), interpolation=cv2.INTER_LINEAR)
    return (grey + 0.5).astype(np.uint8)


def line_alpha(line: np.ndarray) -> np.ndarray:
    """Darkness of black-on-white line art as alpha in [0, 1], HxW float32."""
    alpha = 1.0 - to_unit(line if line.ndim == 2 else line.mean(axis=2).astype(line.dtype))
    alpha[alpha < PAPER_FLOOR] = 0.0
    return alpha


def split(composed: np.ndarray, line: np.ndarray, alpha: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{'paint': RGBA, 'lines': RGBA} float32 in [0, 1] for a composed RGB frame and its line art
    (both at the same size; `alpha`: the input's own transparency, HxW, or None)."""
    colour = to_unit(composed)[:, :, :3]
    a = line_alpha(line)[:, :, None]
    stroke = a[:, :, 0] >= 0.5
    # The fills continue under the strokes: each stroke pixel takes its nearest unlined pixel's colour.
    if stroke.any() and not stroke.all():
        fill = colour.reshape(-1, 3)[nearest_of(~stroke)].reshape(colour.shape)
    else:
        fill = colour.copy()
    fill = np.where(a > 0, fill, colour)
    solid = a[:, :, 0] >= 1.0
    paper = (a[:, :, 0] == 0) & (colour.min(axis=2) >= 1.0)
    paint_alpha = np.where(solid | paper, 0.0, 1.0)[:, :, None].astype(np.float32)
    # Under a partly transparent stroke, keep C reachable: (1-a) P <= C <= (1-a) P + a.
    open_ = np.maximum(1.0 - a, 1e-6)
    fill = np.clip(fill, (colour - a) / open_, colour / open_)
    fill = np.clip(np.where(paint_alpha > 0, fill, 1.0), 0.0, 1.0)  # transparent paint shows white paper
    under = fill  # alpha_P P + (1 - alpha_P) white, with P = 1 where alpha_P = 0
    ink = np.where(a > 0, (colour - (1.0 - a) * under) / np.maximum(a, 1e-6), 0.0)
    ink = np.clip(ink, 0.0, 1.0)
    paint_rgb = np.where(paint_alpha > 0, fill, 0.0)
    if alpha is not None:
        own = to_unit(alpha)[:, :, None]
        paint_alpha, a = paint_alpha * own, a * own
    return {"paint": np.concatenate([paint_rgb, paint_alpha], axis=2).astype(np.float32),
            "lines": np.concatenate([ink, a], axis=2).astype(np.float32)}


def over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Straight-alpha RGBA `top` over `bottom` (RGB or RGBA, float in [0, 1]): the standard operator."""
    ta = top[:, :, 3:]
    if bottom.shape[2] == 3:
        return top[:, :, :3] * ta + bottom * (1.0 - ta)
    ba = bottom[:, :, 3:]
    out_a = ta + ba * (1.0 - ta)
    rgb = (top[:, :, :3] * ta + bottom[:, :, :3] * ba * (1.0 - ta)) / np.maximum(out_a, 1e-6)
    return np.concatenate([rgb, out_a], axis=2)
