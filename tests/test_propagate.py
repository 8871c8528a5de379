"""Colouring without a model on line art as artists draw it: the artist's frames kept, strokes
in their own colour, regions carried whole with their shading, occlusion, confidence."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from tcvc_cli import media
from tcvc_cli.colorize import ColorizeOptions, Colorizer
from tcvc_cli.colorize.output import restore_state, save_state
from tcvc_cli.errors import Interrupted
from tcvc_cli.lineart import LineartParams, extract
from tcvc_cli.motion.propagate import Track
from tcvc_cli.propagate import FROM_ANCHOR, FROM_PREVIOUS, Propagator, separate, stroke_alpha
from tcvc_cli.sample import write_clip

WIDTH, HEIGHT = 160, 96
PAPER = (236, 228, 200)


def _carry_all(lines: list[np.ndarray], seed: np.ndarray) -> list[np.ndarray]:
    """Model-free colouring of `lines` from `seed`, frame after frame, as colorize does it."""
    propagator = Propagator((WIDTH, HEIGHT), (WIDTH, HEIGHT))
    anchor = propagator.anchor(seed, lines[0])
    track, out = propagator.start(anchor), [seed]
    for line in lines[1:]:
        carried = propagator.carry(line, anchor, track)
        track = carried.track
        out.append(carried.colour)
    return out


def _ball_and_post(ball_x: int) -> tuple[np.ndarray, np.ndarray]:
    """A red ball behind a blue post on paper: (colour, line art), outlines anti-aliased."""
    colour = np.full((HEIGHT, WIDTH, 3), PAPER, np.uint8)
    line = np.full((HEIGHT, WIDTH), 255, np.uint8)
    for canvas, ball, post, ink in ((colour, (220, 40, 40), (40, 60, 200), (20, 20, 20)), (line, 255, 255, 0)):
        cv2.circle(canvas, (ball_x, 48), 12, ball, -1, cv2.LINE_AA)
        cv2.circle(canvas, (ball_x, 48), 12, ink, 2, cv2.LINE_AA)
        cv2.rectangle(canvas, (70, 10), (100, 86), post, -1)
        cv2.rectangle(canvas, (70, 10), (100, 86), ink, 2)
    return colour, line


def test_what_passes_behind_a_shape_and_comes_back_takes_the_anchors_colour_again():
    # The ball rolls behind the post until it is hidden, then back out where it came from.
    path = [40, 46, 52, 58, 64, 70, 76, 82, 85, 85, 82, 76, 70, 64, 58, 52, 46, 40]
    frames = [_ball_and_post(x) for x in path]
    out = _carry_all([line for _, line in frames], frames[0][0])
    hidden = out[8]
    assert tuple(hidden[48, 85]) == pytest.approx((40, 60, 200), abs=12)  # the post stays blue over it
    for index in (13, 15, 17):
        centre = out[index][48, path[index]].astype(int)
        assert np.abs(centre - (220, 40, 40)).max() < 30, (index, centre)  # red again, not the post's or paper's



def test_what_a_later_keyframe_does_not_show_comes_back_from_the_shots_first_anchor(tmp_path):
    # The keyframe is drawn while the ball is hidden behind the post: when the ball rolls back
    # out, only the seed frame knows its colour.
    path = [40, 46, 52, 58, 64, 70, 76, 82, 85, 85, 82, 76, 70, 64, 58, 52, 46, 40]
    frames = [_ball_and_post(x) for x in path]
    lines = write_clip(tmp_path / "lines", [line for _, line in frames])
    media.write_image(tmp_path / "seed.png", frames[0][0])
    (tmp_path / "keys").mkdir()
    media.write_image(tmp_path / "keys" / "000009.png", frames[9][0])
    Colorizer(None, ColorizeOptions(scene_detect=False)).colorize(lines, tmp_path / "out", seed_frame=tmp_path / "seed.png",
                                                                 keyframes=tmp_path / "keys")
    out = [media.read_image(p) for p in media.list_frames(tmp_path / "out")]
    for index in (13, 15, 17):
        centre = out[index][48, path[index]].astype(int)
        assert np.abs(centre - (220, 40, 40)).max() < 30, (index, centre)  # red, as the seed painted it

    # Stopped past the keyframe and resumed, the run still has the seed frame to take colours from.
    def stop_at_13(done, total):
        if done == 13:
            raise KeyboardInterrupt

    options = ColorizeOptions(scene_detect=False, segment_frames=5)
    sources = dict(seed_frame=tmp_path / "seed.png", keyframes=tmp_path / "keys")
    with pytest.raises(Interrupted):
        Colorizer(None, options).colorize(lines, tmp_path / "resumed", progress=stop_at_13, **sources)
    result = Colorizer(None, options).colorize(lines, tmp_path / "resumed", resume=True, **sources)
    assert result.resumed_from == 10
    resumed = [media.read_image(p) for p in media.list_frames(tmp_path / "resumed")]
    for whole, again in zip(out, resumed, strict=True):
        np.testing.assert_array_equal(whole, again)

def test_a_seed_frame_and_a_keyframe_come_out_as_the_artist_gave_them(tmp_path):
    frames = [_ball_and_post(x) for x in (40, 44, 48, 52, 56, 60)]
    lines = write_clip(tmp_path / "lines", [line for _, line in frames])
    rng = np.random.default_rng(0)
    seed = np.clip(frames[0][0].astype(int) + rng.integers(-20, 20, frames[0][0].shape), 0, 255).astype(np.uint8)
    key = frames[5][0].copy()
    key[:, :, 1] = 255 - key[:, :, 1]  # a colouring that no line art would give
    media.write_image(tmp_path / "seed.png", seed)
    (tmp_path / "keys").mkdir()
    media.write_image(tmp_path / "keys" / "000005.png", key)
    Colorizer(None, ColorizeOptions(scene_detect=False)).colorize(lines, tmp_path / "out", seed_frame=tmp_path / "seed.png",
                                                                 keyframes=tmp_path / "keys")
    out = [media.read_image(p) for p in media.list_frames(tmp_path / "out")]
    np.testing.assert_array_equal(out[0], seed)
    np.testing.assert_array_equal(out[5], key)


def _ring(x: int, ink: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    colour = np.full((HEIGHT, WIDTH, 3), PAPER, np.uint8)
    line = np.full((HEIGHT, WIDTH), 255, np.uint8)
    cv2.circle(colour, (x, 48), 20, (250, 210, 90), -1, cv2.LINE_AA)
    cv2.circle(colour, (x, 48), 20, ink, 3, cv2.LINE_AA)
    cv2.circle(line, (x, 48), 20, 0, 3, cv2.LINE_AA)
    return colour, line


def test_lines_drawn_in_colour_in_the_seed_stay_that_colour_when_carried():
    brown = (120, 60, 20)
    frames = [_ring(x, brown) for x in (50, 54, 58, 62, 66, 70)]
    out = _carry_all([line for _, line in frames], frames[0][0])
    last_line = frames[-1][1]
    strokes = last_line < 64
    ink = out[-1][strokes].astype(int)
    assert np.abs(ink - brown).max(axis=1).mean() < 25  # brown, not black
    assert ink.min(axis=1).mean() > 15
    # And exactly where this frame's own line art draws them: no doubled ring.
    assert np.abs(out[-1].astype(int) - frames[-1][0].astype(int)).max() < 60


def _gradient_box(x: int) -> tuple[np.ndarray, np.ndarray]:
    colour = np.full((HEIGHT, WIDTH, 3), PAPER, np.uint8)
    line = np.full((HEIGHT, WIDTH), 255, np.uint8)
    ramp = np.linspace(40, 240, 50).astype(np.uint8)
    colour[25:71, x:x + 50, 0] = ramp
    colour[25:71, x:x + 50, 1] = 255 - ramp
    colour[25:71, x:x + 50, 2] = 120
    for canvas, ink in ((colour, (10, 10, 10)), (line, 0)):
        cv2.rectangle(canvas, (x, 25), (x + 49, 70), ink, 2)
    return colour, line


def test_a_region_with_a_gradient_keeps_its_gradient_when_it_moves():
    frames = [_gradient_box(x) for x in (20, 25, 30, 35, 40, 45, 50, 55)]
    out = _carry_all([line for _, line in frames], frames[0][0])
    truth = frames[-1][0]
    inside = np.s_[30:66, 60:100]  # the box's interior at x=55, away from its outline
    error = np.abs(out[-1][inside].astype(int) - truth[inside].astype(int))
    assert error.mean() < 4 and error.max() < 40
    red = out[-1][48, 60:100, 0].astype(int)
    assert np.all(np.diff(red) >= -2) and red[-1] - red[0] > 100  # still a ramp, not a flat fill


def test_line_art_derived_from_the_colour_leaves_no_dark_lines():
    # Rendered footage has no ink: its Canny line art marks colour edges, not strokes.
    frames = []
    for x in (40, 44, 48, 52, 56):
        colour = np.full((HEIGHT, WIDTH, 3), (40, 60, 150), np.uint8)
        cv2.circle(colour, (x, 48), 18, (240, 210, 90), -1, cv2.LINE_AA)
        frames.append((colour, extract(colour, LineartParams())))
    out = _carry_all([line for _, line in frames], frames[0][0])
    lines = frames[-1][1] < 128
    luma = cv2.cvtColor(out[-1], cv2.COLOR_RGB2GRAY)[lines].astype(float)
    truth = cv2.cvtColor(frames[-1][0], cv2.COLOR_RGB2GRAY)[lines].astype(float)
    assert abs(luma.mean() - truth.mean()) < 12
    assert (luma < 60).mean() < 0.02


def _disc_sliding_over_texture(path: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Rendered footage (textured to its edges, no ink): a grey disc at each x of `path`, and
    the Canny line art of each frame. Returns (colour frames, line art)."""
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (HEIGHT, WIDTH, 3)).astype(np.float32), (0, 0), 2.5)
    texture = np.clip((texture - texture.mean()) * 5 + 128, 0, 255).astype(np.uint8)
    colour = []
    for x in path:
        frame = texture.copy()
        cv2.circle(frame, (x, 48), 18, (200, 200, 205), -1, cv2.LINE_AA)
        colour.append(frame)
    return colour, [extract(frame, LineartParams()) for frame in colour]


def _uncovered(first_x: int, last_x: int) -> np.ndarray:
    """The pixels the disc covered at `first_x` and no longer covers at `last_x`, eroded."""
    disc = [np.zeros((HEIGHT, WIDTH), np.uint8) for _ in range(2)]
    for mask, x in zip(disc, (first_x, last_x)):
        cv2.circle(mask, (x, 48), 18, 1, -1)
    return cv2.erode(disc[0] & (1 - disc[1]), np.ones((5, 5), np.uint8)).astype(bool)


def test_what_a_moving_shape_uncovers_in_footage_is_not_counted_as_carried_from_the_seed():
    # A disc slides right and uncovers texture the seed never showed. Those pixels follow the
    # previous output and say so.
    path = [40 + 4 * i for i in range(9)]
    colour, lines = _disc_sliding_over_texture(path)
    propagator = Propagator((WIDTH, HEIGHT), (WIDTH, HEIGHT))
    anchor = propagator.anchor(colour[0], lines[0])
    assert not anchor.inked
    track = propagator.start(anchor)
    for line in lines[1:]:
        carried = propagator.carry(line, anchor, track)
        track = carried.track
    uncovered = _uncovered(path[0], path[-1])
    assert (carried.confidence[uncovered] >= FROM_ANCHOR).mean() < 0.1
    assert (carried.confidence[uncovered] == FROM_PREVIOUS).mean() > 0.9
    assert carried.carried_share > 0.6  # most of the texture still in view is carried from the seed
    error = np.abs(carried.colour.astype(int) - colour[-1]).mean()
    assert error < 12


def test_in_footage_a_generator_paints_all_that_the_motion_cannot_carry():
    # Footage's derived edges enclose no regions that could take a fill of their own: what the
    # disc uncovers is the generator's to paint, not the previous output's to smear.
    path = [40 + 4 * i for i in range(9)]
    colour, lines = _disc_sliding_over_texture(path)
    magenta = np.array((255, 0, 255), np.uint8)

    def painter(small_line: np.ndarray, carried: np.ndarray, known: np.ndarray) -> np.ndarray:
        return np.broadcast_to(magenta, carried.shape).copy()

    propagator = Propagator((WIDTH, HEIGHT), (WIDTH, HEIGHT))
    anchor = propagator.anchor(colour[0], lines[0])
    track = propagator.start(anchor)
    for line in lines[1:]:
        carried = propagator.carry(line, anchor, track, painter)
        track = carried.track
    uncovered = _uncovered(path[0], path[-1])
    painted = np.abs(carried.colour[uncovered].astype(int) - magenta).max(axis=1) < 40
    assert painted.mean() > 0.9
    assert carried.carried_share > 0.6  # the texture still in view is the seed's, not the generator's


def test_footage_lays_no_seed_colour_on_the_lines_of_a_detail_that_appears():
    # A crease appears inside a grey disc over grass. Derived line art has no ink: its new edge
    # must keep the disc's grey, not take the grass colour from the seed's outline.
    rng = np.random.default_rng(0)
    ground = np.full((HEIGHT, WIDTH, 3), (60, 160, 40), np.float32)
    noise = cv2.GaussianBlur(rng.normal(0, 40, (HEIGHT, WIDTH)).astype(np.float32), (0, 0), 1.5)
    ground = np.clip(ground + noise[..., None] * np.array([0.3, 1, 0.3]), 0, 255).astype(np.uint8)
    colour = []
    for index, x in enumerate(range(60, 72, 2)):
        frame = ground.copy()
        cv2.circle(frame, (x, 48), 22, (200, 200, 205), -1, cv2.LINE_AA)
        if index >= 2:
            cv2.line(frame, (x - 12, 40), (x + 12, 56), (120, 120, 125), 2, cv2.LINE_AA)
        colour.append(frame)
    lines = [extract(frame, LineartParams()) for frame in colour]
    out = _carry_all(lines, colour[0])
    disc = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.circle(disc, (70, 48), 22, 1, -1)
    crease = cv2.erode(disc, np.ones((9, 9), np.uint8)).astype(bool) & (lines[-1] < 128)
    assert crease.sum() > 20
    green = out[-1][..., 1].astype(int) - out[-1][..., 0]
    assert green[crease].max() < 8  # grey stays grey: no green pulled onto the crease


def test_the_paint_and_ink_of_a_frame_rebuild_it():
    colour, line = _ring(60, (120, 60, 20))
    paint, ink = separate(colour, line)
    alpha = stroke_alpha(line)[..., None]
    rebuilt = paint * (1 - alpha) + ink * alpha
    assert np.abs(rebuilt - colour).mean() < 2
    assert tuple(paint[48, 60 + 20]) != tuple(colour[48, 60 + 20])  # the fill continues under the stroke


def test_a_frame_the_motion_does_not_explain_is_named_in_a_warning(cli, tmp_path):
    frames = [_ball_and_post(40) for _ in range(8)]
    lines = [line for _, line in frames]
    for index in range(4, 8):  # a large new shape appears, drawn with its own outlines
        line = lines[index].copy()
        for step in range(0, 60, 6):
            cv2.rectangle(line, (2 + step // 2, 4 + step // 3), (150 - step, 90 - step // 3), 0, 1)
        lines[index] = line
    video = write_clip(tmp_path / "new shape.mp4", lines)
    media.write_image(tmp_path / "seed.png", frames[0][0])
    result = cli("colorize", video, "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "out", "--json",
                 "--no-scene-detect")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "came from an artist's frame" in line]
    assert len(warnings) == 1 and "4-7" in warnings[0] and "--keyframes" in warnings[0]
    shares = json.loads(result.stdout)["results"][0]["confidence"]
    assert [s["frame"] for s in shares] == list(range(8))
    assert shares[0]["anchor"] == 1.0 and min(s["anchor"] for s in shares[1:4]) > 0.9
    assert max(s["anchor"] for s in shares[4:]) < 0.75
    assert all(abs(s["anchor"] + s["previous"] + s["guessed"] - 1) < 1e-3 for s in shares)


def test_progress_moves_steadily_while_frames_wait_for_a_later_keyframe(tmp_path):
    frames = [_ball_and_post(x) for x in range(40, 64)]
    lines = write_clip(tmp_path / "lines", [line for _, line in frames])
    (tmp_path / "keys").mkdir()
    media.write_image(tmp_path / "keys" / "000000.png", frames[0][0])
    media.write_image(tmp_path / "keys" / "000023.png", frames[23][0])
    seen = []
    started = time.perf_counter()
    Colorizer(None, ColorizeOptions(scene_detect=False)).colorize(lines, tmp_path / "out", keyframes=tmp_path / "keys",
                                                                 progress=lambda done, total: seen.append(
                                                                     (time.perf_counter() - started, done, total)))
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and done[-1] == 24 and {t for _, _, t in seen} == {24}
    # Half-way through the time the frames took, a good part of them is counted done: an ETA
    # from this progress is not wild (frames held for the keyframe used to count only at its end).
    first, last = seen[0][0], seen[-1][0]
    middle = max(d for t, d, _ in seen if t <= (first + last) / 2)
    assert middle >= 6


def _thin_lined_box(x: float) -> tuple[np.ndarray, np.ndarray]:
    """A green box crossed by thin, shallow lines, drawn brown in the colour and black in the line
    art, over paper. The lines are thinner than a pixel: where one lies across two rows, neither
    is darker than mid-grey, and moved by a fraction of a pixel they fall across other rows."""
    at = lambda px, py: (round(px * 16), round(py * 16))  # noqa: E731 (1/16 pixel: cv2's shift=4)
    colour = np.full((HEIGHT, WIDTH, 3), PAPER, np.uint8)
    line = np.full((HEIGHT, WIDTH), 255, np.uint8)
    for canvas, fill, ink in ((colour, (90, 170, 90), (110, 60, 30)), (line, 255, 0)):
        cv2.rectangle(canvas, at(x, 20), at(x + 60, 76), fill, -1, cv2.LINE_AA, 4)
        cv2.rectangle(canvas, at(x, 20), at(x + 60, 76), ink, 2, cv2.LINE_AA, 4)
    cover = np.zeros((HEIGHT, WIDTH), np.uint8)
    for y in (34, 48, 62):
        cv2.line(cover, at(x + 6, y + x / 7), at(x + 54, y + 7 + x / 7), 255, 1, cv2.LINE_AA, 4)
    cover = cover.astype(np.float32)[..., None] * (0.6 / 255)
    colour = (colour * (1 - cover) + np.array((110, 60, 30), np.float32) * cover + 0.5).astype(np.uint8)
    line = (line * (1 - cover[..., 0]) + 0.5).astype(np.uint8)
    return colour, line


def test_a_thin_line_carried_stays_whole_where_its_anti_aliasing_leaves_it_light():
    frames = [_thin_lined_box(20 + 2.3 * step) for step in range(6)]
    out = _carry_all([line for _, line in frames], frames[0][0])
    truth, line = frames[-1]
    on_line = (line < 200) & (np.abs(truth.astype(int) - (90, 170, 90)).max(-1) > 30)
    on_line[:, :40] = on_line[:, 92:] = False  # the thin lines, away from the box's outline
    on_line[:24] = on_line[72:] = False
    error = np.abs(out[-1][on_line].astype(int) - truth[on_line].astype(int)).max(-1)
    assert on_line.sum() > 100
    assert error.max() < 20, ((error >= 20).mean(), error.max())  # no gaps of green in the lines


def _still_box_and_ball(ball_x: int) -> tuple[np.ndarray, np.ndarray]:
    """A box whose outline shades from red to blue along its length (no ink/paint model draws
    that) stands still on textured paper while a ball rolls past below it."""
    texture = cv2.GaussianBlur(np.random.default_rng(3).integers(0, 60, (HEIGHT, WIDTH)).astype(np.float32), (0, 0), 1.0)
    colour = np.clip(np.array(PAPER, np.float32) - texture[..., None], 0, 255).astype(np.uint8)
    line = np.full((HEIGHT, WIDTH), 255, np.uint8)
    stroke = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.rectangle(stroke, (20, 8), (70, 36), 255, 2, cv2.LINE_AA)
    share = stroke[..., None].astype(np.float32) / 255
    ramp = np.linspace(0, 1, WIDTH, dtype=np.float32)[None, :, None]
    ink = (1 - ramp) * np.array((200, 30, 30), np.float32) + ramp * np.array((30, 30, 200), np.float32)
    colour = (colour * (1 - share) + ink * share + 0.5).astype(np.uint8)
    line = 255 - stroke
    for canvas, fill, outline in ((colour, (220, 200, 40), (20, 20, 20)), (line, 255, 0)):
        cv2.circle(canvas, (ball_x, 82), 10, fill, -1, cv2.LINE_AA)
        cv2.circle(canvas, (ball_x, 82), 10, outline, 2, cv2.LINE_AA)
    return colour, line


def test_what_did_not_move_keeps_the_artists_own_pixels():
    frames = [_still_box_and_ball(x) for x in (60, 63, 66, 69, 72, 75, 78)]
    out = _carry_all([line for _, line in frames], frames[0][0])
    box = np.s_[4:40, 14:78]  # the still box, its shaded outline and the textured paper around it
    for index in (3, 6):
        error = np.abs(out[index][box].astype(int) - frames[0][0][box].astype(int)).max(-1)
        assert error.max() <= 1, (index, error.max(), (error > 1).mean())


def test_a_frame_still_being_composed_is_saved_whole_for_resume():
    colour, line = _ball_and_post(40)
    propagator = Propagator((WIDTH, HEIGHT), (WIDTH, HEIGHT))
    anchor = propagator.anchor(colour, line)
    carried = propagator.carry(_ball_and_post(46)[1], anchor, propagator.start(anchor))
    state = save_state(carried.track, "previous")  # taken as soon as carry returns, as colorize does
    assert isinstance(state["previous_colour"], np.ndarray)
    restored = restore_state(state, "previous", Track)
    np.testing.assert_array_equal(restored.colour, carried.colour)
    assert tuple(restored.colour[48, 46]) == pytest.approx((220, 40, 40), abs=30)  # the ball, moved along
