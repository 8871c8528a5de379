"""Procedural cartoon clips: the demo's input, the tests' input and demo training data.

A clip is a flat-coloured background (sky, ground, a sun, a hill) and a simple character
(head, eyes, body) walking across it with a bob, all with black outlines. Every colour frame
has a true line-art twin drawn from the same shapes on white, so outlines sit exactly where
the colour regions meet. Everything is deterministic from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

BLACK = (0, 0, 0)
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Palette:
    sky: tuple[int, int, int]
    ground: tuple[int, int, int]
    sun: tuple[int, int, int]
    hill: tuple[int, int, int]
    skin: tuple[int, int, int]
    shirt: tuple[int, int, int]
    prop: tuple[int, int, int]


def _palette(rng: np.random.Generator) -> Palette:
    def colour(low: int, high: int) -> tuple[int, int, int]:
        return tuple(int(v) for v in rng.integers(low, high, size=3))

    return Palette(sky=colour(120, 240), ground=colour(40, 200), sun=(250, int(rng.integers(180, 240)), 40),
                   hill=colour(30, 180), skin=(240, int(rng.integers(170, 210)), int(rng.integers(130, 170))),
                   shirt=colour(20, 250), prop=colour(20, 250))


@dataclass(frozen=True)
class _Shot:
    palette: Palette
    horizon: float
    sun_x: float
    hill_x: float
    start_x: float
    speed: float
    prop_phase: float


def _shot(seed: int, second: bool = False) -> _Shot:
    """Layout of one shot; a second shot puts horizon, sun and hill elsewhere, as a real cut does."""
    rng = np.random.default_rng(seed)
    horizon = float(rng.uniform(0.52, 0.6)) + (0.16 if second else 0.0)
    sun_x = float(rng.uniform(0.15, 0.4)) + (0.45 if second else 0.0)
    hill_x = float(rng.uniform(0.55, 0.8)) - (0.35 if second else 0.0)
    return _Shot(palette=_palette(rng), horizon=horizon, sun_x=sun_x,
                 hill_x=hill_x, start_x=float(rng.uniform(0.15, 0.35)),
                 speed=float(rng.uniform(0.015, 0.03)) * (1 if rng.random() < 0.5 else -1),
                 prop_phase=float(rng.uniform(0, 2 * np.pi)))


def _draw(canvas: np.ndarray, shot: _Shot, t: float, colour: bool, thickness: int) -> None:
    """Paint one frame in painter's order; with colour=False every fill is white."""
    h, w = canvas.shape[:2]
    p = shot.palette

    def fill(c: tuple[int, int, int]) -> tuple[int, int, int]:
        return c if colour else WHITE

    s = min(w, h)
    horizon = int(shot.horizon * h)
    canvas[:] = fill(p.sky)
    cv2.circle(canvas, (int(shot.sun_x * w), int(0.2 * h)), max(2, s // 9), fill(p.sun), -1, cv2.LINE_8)
    cv2.circle(canvas, (int(shot.sun_x * w), int(0.2 * h)), max(2, s // 9), BLACK, thickness, cv2.LINE_8)
    hill_centre = (int(shot.hill_x * w), horizon)
    cv2.ellipse(canvas, hill_centre, (max(3, w // 3), max(2, h // 5)), 0, 180, 360, fill(p.hill), -1, cv2.LINE_8)
    cv2.ellipse(canvas, hill_centre, (max(3, w // 3), max(2, h // 5)), 0, 180, 360, BLACK, thickness, cv2.LINE_8)
    cv2.rectangle(canvas, (0, horizon), (w - 1, h - 1), fill(p.ground), -1)
    cv2.line(canvas, (0, horizon), (w - 1, horizon), BLACK, thickness, cv2.LINE_8)

    # A bouncing ball in front of the ground.
    ball_x = int((0.5 + 0.35 * np.sin(shot.prop_phase + 0.25 * t)) * w)
    ball_y = int(horizon + (h - horizon) * 0.5 - abs(np.sin(0.5 * t + shot.prop_phase)) * (h - horizon) * 0.4)
    ball_r = max(2, s // 14)
    cv2.circle(canvas, (ball_x, ball_y), ball_r, fill(p.prop), -1, cv2.LINE_8)
    cv2.circle(canvas, (ball_x, ball_y), ball_r, BLACK, thickness, cv2.LINE_8)

    # The character walks across, bobbing; positions wrap so long clips stay in frame.
    cx = (shot.start_x + shot.speed * t) % 1.0
    cx = int((0.12 + 0.76 * cx) * w)
    bob = int(round(np.sin(0.8 * t) * s * 0.02))
    body_top = int(horizon - 0.05 * h) + bob
    body = (cx - max(2, w // 14), body_top, cx + max(2, w // 14), min(h - 2, body_top + max(4, h // 5)))
    cv2.rectangle(canvas, body[:2], body[2:], fill(p.shirt), -1)
    cv2.rectangle(canvas, body[:2], body[2:], BLACK, thickness)
    head_r = max(3, s // 10)
    head = (cx, body_top - head_r)
    cv2.circle(canvas, head, head_r, fill(p.skin), -1, cv2.LINE_8)
    cv2.circle(canvas, head, head_r, BLACK, thickness, cv2.LINE_8)
    eye_dx = max(1, head_r // 2)
    for ex in (head[0] - eye_dx, head[0] + eye_dx):
        cv2.circle(canvas, (ex, head[1] - head_r // 4), max(1, s // 64), BLACK, -1, cv2.LINE_8)


# The visitor: a character with a fixed design (violet robe, teal face, gold hat band) that
# no base clip shows, for measuring how a model learns a new character from corrected frames.
VISITOR_ROBE = (128, 48, 200)
VISITOR_FACE = (40, 190, 170)
VISITOR_BAND = (240, 190, 30)


def _draw_visitor(canvas: np.ndarray, shot: _Shot, steps: float, colour: bool, thickness: int, start: float) -> None:
    """The visitor walks left from `start` (a fraction of the width; above 1: off the right edge),
    `steps` frames after appearing."""
    h, w = canvas.shape[:2]
    s = min(w, h)
    horizon = int(shot.horizon * h)
    cx = int(w * start - steps * w * 0.03)
    half, tall = max(4, w // 10), max(8, h // 3)
    base_y = min(h - 2, horizon + h // 8)
    robe = np.array([(cx - half, base_y), (cx + half, base_y), (cx, base_y - tall)], np.int32)
    cv2.fillPoly(canvas, [robe], VISITOR_ROBE if colour else WHITE)
    cv2.polylines(canvas, [robe], True, BLACK, thickness, cv2.LINE_8)
    # The band is painted gold and outlined in ink, as an artist draws it (a solid ink stroke in
    # the line art would leave nothing to paint).
    band_y, band_half = base_y - tall // 3, max(2, s // 32)
    span = half * (band_y - (base_y - tall)) // tall  # the robe's half-width at the band
    band = np.array([(cx - span, band_y - band_half), (cx + span, band_y - band_half),
                     (cx + span, band_y + band_half), (cx - span, band_y + band_half)], np.int32)
    cv2.fillPoly(canvas, [band], VISITOR_BAND if colour else WHITE)
    cv2.polylines(canvas, [band], True, BLACK, thickness, cv2.LINE_8)
    face = (cx, base_y - tall - max(3, s // 14))
    cv2.circle(canvas, face, max(3, s // 14), VISITOR_FACE if colour else WHITE, -1, cv2.LINE_8)
    cv2.circle(canvas, face, max(3, s // 14), BLACK, thickness, cv2.LINE_8)


def render_clip(seed: int = 0, frames: int = 16, size: tuple[int, int] = (64, 64),
                cut_at: int | None = None, pace: float = 1.0,
                visitor_from: int | None = None, visitor_start: float = 1.1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return (colour frames RGB uint8 HxWx3, line-art frames uint8 HxW, black on white).

    With `cut_at`, frames from that index on belong to a second shot (other palette and
    layout), which makes a clip with one scene cut. `pace` speeds every motion up (3: the
    character and the ball move three times as far per frame, and pass in front of the sun,
    the hill and each other more often). With `visitor_from`, a second character of a fixed
    design walks in from the right from that frame on (or, with `visitor_start` below 1, is in
    view at that fraction of the width when it appears).
    """
    width, height = size
    thickness = max(1, round(min(width, height) / 96))
    shots = [_shot(seed), _shot(seed + 7919, second=True)]
    colour_frames, line_frames = [], []
    for t in range(frames):
        shot = shots[1] if cut_at is not None and t >= cut_at else shots[0]
        local_t = (t - cut_at if cut_at is not None and t >= cut_at else t) * pace
        colour_frame = np.zeros((height, width, 3), np.uint8)
        _draw(colour_frame, shot, local_t, True, thickness)
        line_frame = np.zeros((height, width, 3), np.uint8)
        _draw(line_frame, shot, local_t, False, thickness)
        if visitor_from is not None and t >= visitor_from:
            _draw_visitor(colour_frame, shot, (t - visitor_from) * pace, True, thickness, visitor_start)
            _draw_visitor(line_frame, shot, (t - visitor_from) * pace, False, thickness, visitor_start)
        colour_frames.append(colour_frame)
        line_frames.append(line_frame[:, :, 0].copy())
    return colour_frames, line_frames


def write_clip(path: Path, frames: list[np.ndarray], fps: Fraction = Fraction(12), *, audio: bool = False,
               lossless: bool = True, overwrite: bool = True) -> Path:
    """Write frames as a video (lossless by default, optional sine soundtrack) or a folder."""
    from .media import EncodeOptions, FolderWriter, VideoWriter, is_video_path

    path = Path(path)
    height, width = frames[0].shape[:2]
    if is_video_path(path):
        audio_file = _sine_audio(path.parent / f".{path.stem}-sine.m4a", len(frames) / float(fps)) if audio else None
        try:
            with VideoWriter(path, width, height, fps, options=EncodeOptions(lossless=lossless, preset="ultrafast"),
                             audio_from=audio_file, overwrite=overwrite) as writer:
                for frame in frames:
                    writer.write(frame)
        finally:
            if audio_file:
                audio_file.unlink(missing_ok=True)
    else:
        with FolderWriter(path, fps, overwrite=overwrite, metadata={"source": "tcvc sample"}) as writer:
            for frame in frames:
                writer.write(frame)
    return path


def _sine_audio(path: Path, seconds: float) -> Path:
    from .media import run_ffmpeg

    run_ffmpeg(["-y", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds:.3f}",
                 "-c:a", "aac", "-b:a", "96k", str(path)], "making a sine soundtrack")
    return path
