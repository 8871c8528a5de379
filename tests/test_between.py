"""Frames between two artist's frames (keyframes at both ends of a run of held frames): what
neither pass alone can tell - content the line art does not draw moving with the part it
belongs to, and what did not move held as both frames paint it - without painting over a
shape that has moved onto a spot both frames paint alike."""

from __future__ import annotations

import cv2
import numpy as np

from tcvc_cli import media
from tcvc_cli.colorize import ColorizeOptions, Colorizer
from tcvc_cli.sample import write_clip

WIDTH, HEIGHT = 192, 128
PAPER = (236, 228, 200)
SMOKE = (150, 150, 150)
INK = (20, 20, 20)


def _colour_between(tmp_path, frames: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """`tcvc colorize` (no model) of the frames' line art with the first and last colour frames
    as keyframes: the frames it writes."""
    lines = write_clip(tmp_path / "lines", [line for _, line in frames])
    (tmp_path / "keys").mkdir()
    for index in (0, len(frames) - 1):
        media.write_image(tmp_path / "keys" / f"{index:06d}.png", frames[index][0])
    Colorizer(None, ColorizeOptions(scene_detect=False)).colorize(lines, tmp_path / "out", keyframes=tmp_path / "keys")
    return [media.read_image(p) for p in media.list_frames(tmp_path / "out")]


def _box(colour: np.ndarray, line: np.ndarray, x: int, y: int, fill: tuple[int, int, int], size: int = 30) -> None:
    """An outlined square, its top left corner at (x, y), in both the colour and the line art."""
    cv2.rectangle(colour, (x, y), (x + size, y + size), fill, -1)
    cv2.rectangle(colour, (x, y), (x + size, y + size), INK, 2)
    cv2.rectangle(line, (x, y), (x + size, y + size), 255, -1)  # in front: hides the strokes behind it
    cv2.rectangle(line, (x, y), (x + size, y + size), 0, 2)


def _smoke(colour: np.ndarray, x: int, y: int) -> None:
    """A soft grey puff that the line art does not draw."""
    puff = np.zeros(colour.shape[:2], np.float32)
    cv2.circle(puff, (x, y), 11, 1.0, -1)
    puff = cv2.GaussianBlur(puff, (0, 0), 2.0)[..., None]
    colour[:] = (colour * (1 - puff) + np.array(SMOKE, np.float32) * puff + 0.5).astype(np.uint8)


def _gun_and_smoke(x: int) -> tuple[np.ndarray, np.ndarray]:
    """A blue square with a puff of smoke above it, moving together over paper."""
    colour = np.full((HEIGHT, WIDTH, 3), PAPER, np.uint8)
    line = np.full((HEIGHT, WIDTH), 255, np.uint8)
    _box(colour, line, x, 70, (40, 60, 200))
    _smoke(colour, x + 15, 45)
    return colour, line


def _distance(pixel: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.abs(pixel.astype(int) - colour).max())


def test_smoke_the_line_art_does_not_draw_moves_with_the_part_it_belongs_to(tmp_path):
    # Out and back part of the way: at the middle the square is far from where either keyframe
    # has it, so neither keyframe's smoke, nor a blend of the two, is where the smoke is.
    path = [30, 40, 50, 60, 70, 80, 90, 100, 110, 100, 90, 80, 70]
    frames = [_gun_and_smoke(x) for x in path]
    out = _colour_between(tmp_path, frames)
    for index in (6, 8, 10):
        x = path[index]
        assert _distance(out[index][45, x + 15], SMOKE) < 25, (index, out[index][45, x + 15])  # the smoke is over the square
        for end in (path[0], path[-1]):
            if abs(end - x) > 30:
                assert _distance(out[index][45, end + 15], PAPER) < 25, (index, end)  # and no longer where a keyframe had it


def _shape_past_still_smoke(x: int) -> tuple[np.ndarray, np.ndarray]:
    """A red square passing below a wisp of smoke that stays where it is (no line art draws it)."""
    colour = np.full((HEIGHT, WIDTH, 3), PAPER, np.uint8)
    line = np.full((HEIGHT, WIDTH), 255, np.uint8)
    _smoke(colour, 96, 30)
    _box(colour, line, x, 62, (200, 40, 40))
    return colour, line


def test_what_did_not_move_between_two_keyframes_stays_as_both_paint_it(tmp_path):
    path = [10, 24, 38, 52, 66, 80, 94, 108, 122, 136, 150]
    frames = [_shape_past_still_smoke(x) for x in path]
    out = _colour_between(tmp_path, frames)
    puff = (slice(18, 43), slice(84, 109))
    for index in range(1, len(path) - 1):
        difference = np.abs(out[index][puff].astype(int) - frames[0][0][puff]).max()
        assert difference <= 2, (index, difference)
        centre = out[index][77, path[index] + 15]
        assert _distance(centre, (200, 40, 40)) < 30, (index, centre)  # the square keeps its red


def _square_over_a_hill(x: int) -> tuple[np.ndarray, np.ndarray]:
    """A red square that moves over a green hill and off it again."""
    colour = np.full((HEIGHT, WIDTH, 3), PAPER, np.uint8)
    line = np.full((HEIGHT, WIDTH), 255, np.uint8)
    cv2.rectangle(colour, (60, 40), (140, 110), (40, 140, 60), -1)
    cv2.rectangle(colour, (60, 40), (140, 110), INK, 2)
    cv2.rectangle(line, (60, 40), (140, 110), 0, 2)
    _box(colour, line, x, 55, (200, 40, 40), 40)
    return colour, line


def test_a_shape_that_moves_onto_what_both_keyframes_paint_alike_keeps_its_own_colour(tmp_path):
    # At both ends the square is off the hill; in between, its inside shows no stroke and lies
    # where both keyframes paint the hill: it must stay red all the same.
    path = [4, 20, 36, 52, 68, 84, 68, 52, 36, 20, 4]
    frames = [_square_over_a_hill(x) for x in path]
    out = _colour_between(tmp_path, frames)
    for index in (4, 5, 6):
        inside = out[index][62:90, path[index] + 6:path[index] + 34]
        share = np.mean(np.abs(inside.astype(int) - (200, 40, 40)).max(-1) < 30)
        assert share > 0.95, (index, share)
