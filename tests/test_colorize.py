"""The colorization engine: feedback loop, seed, keyframes, cuts, resume, outputs."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from tcvc_cli import media
from tcvc_cli.checkpoint import LoadedModel, load_generator
from tcvc_cli.colorize import ColorizeOptions, Colorizer, compose, work_dimensions
from tcvc_cli.config import model_preset
from tcvc_cli.errors import InputError, Interrupted, OutputError, UsageError
from tcvc_cli.sample import render_clip, write_clip

from .conftest import plain_tiny

class RecordingGenerator(nn.Module):
    """Returns a colour that depends on both inputs and records every condition it is given."""

    use_previous = True

    def __init__(self):
        super().__init__()
        self.conditions: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []

    def forward(self, line, previous):
        self.conditions.append(previous.clone())
        step = len(self.outputs) + 1
        out = (0.6 * previous + 0.4 * line.expand_as(previous) * (step % 5) / 5).clamp(0, 1)
        self.outputs.append(out.clone())
        return out


def recording_colorizer(**options) -> tuple[Colorizer, RecordingGenerator]:
    spy = RecordingGenerator()
    loaded = LoadedModel(model=spy, config=plain_tiny(), path=None, extra={}, sha256="spy")
    return Colorizer(loaded, ColorizeOptions(**options)), spy


def folder_frames(folder):
    return [media.read_image(p) for p in media.list_frames(folder)]


def test_output_keeps_frame_count_fps_and_audio(tiny_checkpoint, cut_clip, tmp_path):
    colorizer = Colorizer(load_generator(tiny_checkpoint))
    result = colorizer.colorize(cut_clip[0], tmp_path / "out.mp4")
    info = media.probe(tmp_path / "out.mp4")
    assert (info.frame_count, info.fps, info.audio_codecs, info.width, info.height) == (24, 24, ("aac",), 96, 64)
    assert result.frames == 24
    assert not list(tmp_path.glob(".*"))  # no work folder left behind


def test_each_output_is_the_next_frames_condition(cut_clip, tmp_path):
    colorizer, spy = recording_colorizer(scene_detect=False)
    colorizer.colorize(cut_clip[0], tmp_path / "out")
    assert len(spy.conditions) == 24
    assert torch.count_nonzero(spy.conditions[0]) == 0  # no seed: blank
    for step in range(1, 24):
        torch.testing.assert_close(spy.conditions[step], spy.outputs[step - 1], rtol=0, atol=0)


def test_seed_frame_conditions_the_first_frame_and_changes_the_output(tiny_checkpoint, cut_clip, tmp_path):
    seed = tmp_path / "seed.png"
    media.write_image(seed, cut_clip[1][0])
    colorizer, spy = recording_colorizer(scene_detect=False)
    colorizer.colorize(cut_clip[0], tmp_path / "spy", seed_frame=seed)
    work = work_dimensions(96, 64, 64)
    expected = torch.from_numpy(media.resize(cut_clip[1][0], work)).permute(2, 0, 1)[None].float() / 255
    torch.testing.assert_close(spy.conditions[0], expected)

    real = Colorizer(load_generator(tiny_checkpoint), ColorizeOptions(scene_detect=False))
    real.colorize(cut_clip[0], tmp_path / "seeded", seed_frame=seed)
    real.colorize(cut_clip[0], tmp_path / "blank")
    assert not np.array_equal(folder_frames(tmp_path / "seeded")[0], folder_frames(tmp_path / "blank")[0])


def test_keyframes_replace_their_frame_and_condition_the_next(cut_clip, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    media.write_image(keys / "000005.png", cut_clip[1][5])
    colorizer, spy = recording_colorizer(scene_detect=False)
    result = colorizer.colorize(cut_clip[0], tmp_path / "out", keyframes=keys)
    assert result.keyframes_used == [5]
    np.testing.assert_array_equal(folder_frames(tmp_path / "out")[5], cut_clip[1][5])
    expected = torch.from_numpy(media.resize(cut_clip[1][5], work_dimensions(96, 64, 64))).permute(2, 0, 1)[None].float() / 255
    torch.testing.assert_close(spy.conditions[5], expected)  # frame 6 is the model's 6th call (frame 5 was not modelled)


def test_scene_cuts_are_found_and_reset_the_condition(cut_clip, tmp_path):
    seed = tmp_path / "seed.png"
    media.write_image(seed, cut_clip[1][0])
    colorizer, spy = recording_colorizer()
    result = colorizer.colorize(cut_clip[0], tmp_path / "out", seed_frame=seed)
    assert result.cuts == [12]
    torch.testing.assert_close(spy.conditions[12], spy.conditions[0])  # back to the seed
    assert not torch.equal(spy.conditions[12], spy.outputs[11])

    blank, spy_blank = recording_colorizer(cut_reset="blank")
    blank.colorize(cut_clip[0], tmp_path / "blank", seed_frame=seed)
    assert torch.count_nonzero(spy_blank.conditions[12]) == 0


class MotionRecordingGenerator(RecordingGenerator):
    """A motion-compensated stand-in: the condition is colour plus the explained mask."""

    def forward(self, line, previous):
        self.conditions.append(previous.clone())
        return (0.5 * previous[:, :3] + 0.5 * line.expand(-1, 3, -1, -1)).clamp(0, 1)


def test_a_motion_model_paints_a_new_shot_from_its_line_art(cut_clip, tmp_path):
    """After a cut the seed shows another shot: a motion-compensated model paints the shot's first
    frame from a blank condition (the default) instead of taking the seed's colours."""
    seed = tmp_path / "seed.png"
    media.write_image(seed, cut_clip[1][0])

    def blank_calls(**options):
        spy = MotionRecordingGenerator()
        loaded = LoadedModel(model=spy, config=model_preset("tiny"), path=None, extra={}, sha256="spy")
        result = Colorizer(loaded, ColorizeOptions(**options)).colorize(cut_clip[0], tmp_path / f"out{len(options)}", seed_frame=seed)
        assert result.cuts == [12]
        return sum(not condition.any() for condition in spy.conditions)

    assert blank_calls() == 1
    assert blank_calls(cut_reset="seed") == 0
    # Without any coloured frame the model starts each shot itself.
    spy = MotionRecordingGenerator()
    loaded = LoadedModel(model=spy, config=model_preset("tiny"), path=None, extra={}, sha256="spy")
    result = Colorizer(loaded).colorize(cut_clip[0], tmp_path / "unseeded")
    assert result.frames == 24 and len(list((tmp_path / "unseeded").glob("*.png"))) == 24
    assert sum(not condition.any() for condition in spy.conditions) == 2  # frame 0 and the cut
    with pytest.raises(UsageError, match="needs a model"):
        Colorizer(None, ColorizeOptions(cut_reset="blank"))


def test_thin_moving_lines_at_a_small_work_size_are_not_cuts(tmp_path):
    # one-pixel lines of a walking character: stepped down to the work size they would fade out
    _, lines = render_clip(seed=3, frames=16, size=(192, 128), cut_at=10)
    clip = write_clip(tmp_path / "thin.mp4", lines, Fraction(12))
    colorizer, _ = recording_colorizer(work_size=32)
    assert colorizer.colorize(clip, tmp_path / "out").cuts == [10]
    from tcvc_cli.data import load_clips
    from tcvc_cli.lineart import LineartParams

    colour, _ = render_clip(seed=3, frames=16, size=(192, 128), cut_at=10)
    write_clip(tmp_path / "data" / "clip", colour)
    clips = load_clips(tmp_path / "data", tmp_path / "cache", 32, LineartParams())
    assert list(np.flatnonzero(clips[0].shot_start)) == [0, 10]


def test_no_scene_detect_keeps_feeding_back_across_cuts(cut_clip, tmp_path):
    colorizer, spy = recording_colorizer(scene_detect=False)
    result = colorizer.colorize(cut_clip[0], tmp_path / "out")
    assert result.cuts == []
    torch.testing.assert_close(spy.conditions[12], spy.outputs[11])


def test_feedback_off_conditions_every_frame_on_the_seed(cut_clip, tmp_path):
    seed = tmp_path / "seed.png"
    media.write_image(seed, cut_clip[1][0])
    colorizer, spy = recording_colorizer(feedback=False)
    colorizer.colorize(cut_clip[0], tmp_path / "out", seed_frame=seed)
    for condition in spy.conditions:
        torch.testing.assert_close(condition, spy.conditions[0])
    blank, spy_blank = recording_colorizer(feedback=False)
    blank.colorize(cut_clip[0], tmp_path / "blank")
    assert all(torch.count_nonzero(c) == 0 for c in spy_blank.conditions)


@pytest.mark.parametrize("output_name", ["out.mp4", "frames"])
def test_resume_after_interruption_gives_the_same_frames(tiny_checkpoint, cut_clip, tmp_path, output_name):
    options = ColorizeOptions(segment_frames=5)
    encode = media.EncodeOptions(lossless=True, preset="ultrafast")
    seed = tmp_path / "seed.png"  # with a seed, the resumed run also needs the anchor it had
    media.write_image(seed, cut_clip[1][0])
    run = dict(encode=encode, seed_frame=seed)
    whole = tmp_path / "whole" / output_name
    Colorizer(load_generator(tiny_checkpoint), options).colorize(cut_clip[0], whole, **run)

    target = tmp_path / "resumed" / output_name

    def stop_at_13(done, total):
        if done == 13:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="10 of 24 frames are saved"):
        Colorizer(load_generator(tiny_checkpoint), options).colorize(cut_clip[0], target, **run, progress=stop_at_13)
    assert not target.exists()
    result = Colorizer(load_generator(tiny_checkpoint), options).colorize(cut_clip[0], target, **run, resume=True)
    assert result.resumed_from == 10  # two sealed segments of 5
    with media.open_source(whole) as a, media.open_source(target) as b:
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def work_lines(path, work):
    """The line art the colorizer sees, as (H, W) arrays in 0-1 at the work size."""
    with media.open_source(path, grey=True) as source:
        return [media.resize(f, work, cv2.INTER_AREA).astype(np.float32) / 255 for f in source]


def test_anchoring_restores_the_seed_where_the_lines_have_not_moved(cut_clip, tmp_path):
    from tcvc_cli.colorize import LINE_CHANGE

    seed = tmp_path / "seed.png"
    media.write_image(seed, cut_clip[1][0])
    work = work_dimensions(96, 64, 64)
    lines = work_lines(cut_clip[0], work)
    radius = 2
    for strength in (1.0, 0.5):
        colorizer, spy = recording_colorizer(anchor=strength, anchor_radius=radius)
        colorizer.colorize(cut_clip[0], tmp_path / f"out{strength}", seed_frame=seed)
        seed_work = spy.conditions[0]
        both = 0
        for t in range(1, 12):  # the first shot: the seed is its anchor
            changed = cv2.dilate((np.abs(lines[t] - lines[0]) > LINE_CHANGE).astype(np.uint8), np.ones((5, 5), np.uint8))
            moved = torch.from_numpy(changed.astype(bool))
            expected_still = strength * seed_work + (1 - strength) * spy.outputs[t - 1]
            torch.testing.assert_close(spy.conditions[t][..., ~moved], expected_still[..., ~moved])
            torch.testing.assert_close(spy.conditions[t][..., moved], spy.outputs[t - 1][..., moved])
            both += bool(moved.any()) and bool((~moved).any())
        assert both > 5
        torch.testing.assert_close(spy.conditions[13], spy.outputs[12])  # after the cut the seed no longer anchors


def test_anchoring_off_feeds_back_the_previous_output_unchanged(cut_clip, tmp_path):
    seed = tmp_path / "seed.png"
    media.write_image(seed, cut_clip[1][0])
    colorizer, spy = recording_colorizer(anchor=0.0, scene_detect=False)
    colorizer.colorize(cut_clip[0], tmp_path / "out", seed_frame=seed)
    for step in range(1, 24):
        torch.testing.assert_close(spy.conditions[step], spy.outputs[step - 1], rtol=0, atol=0)


def test_anchor_condition_keeps_changed_neighbourhoods():
    from tcvc_cli.colorize import Anchor, anchor_condition

    condition, reference = torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16)
    line_then, line_now = torch.ones(1, 1, 16, 16), torch.ones(1, 1, 16, 16)
    line_now[..., 8, 8] = 0.0  # one new line pixel
    out = anchor_condition(condition, line_now, Anchor(reference, line_then), radius=2, strength=1.0)
    assert torch.all(out[..., 6:11, 6:11] == 0) and out[..., 6:11, 6:11].numel() == 75
    assert out.sum() == 3 * (256 - 25)


def test_work_size_keeps_aspect_in_multiples_of_four():
    assert work_dimensions(1920, 1080, 256) == (456, 256)
    assert work_dimensions(1280, 720, 0) == (1280, 720)
    assert work_dimensions(97, 65, 64) == (96, 64)


def test_compose_draws_source_lines_over_the_colour():
    colour = np.full((8, 8, 3), 0.5, np.float32)
    line = np.full((32, 32), 255, np.uint8)
    line[10, :] = 0
    out = compose(colour, line, upscale="bicubic", is_lineart=True)
    assert out.shape == (32, 32, 3)
    assert (out[10] == 0).all() and (out[5] == 128).all()


def test_compose_at_native_size_returns_the_prediction():
    colour = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    line = np.zeros((16, 16), np.uint8)
    out = compose(colour, line, upscale="bicubic", is_lineart=True)
    np.testing.assert_array_equal(out, (colour * 255 + 0.5).astype(np.uint8))


def test_flat_upscale_fills_each_region_with_one_colour():
    colour = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    line = np.full((64, 64), 255, np.uint8)
    line[:, 32] = 0
    out = compose(colour, line, upscale="flat", is_lineart=True)
    left, right = out[:, :32].reshape(-1, 3), out[:, 33:].reshape(-1, 3)
    assert len(np.unique(left, axis=0)) == 1 and len(np.unique(right, axis=0)) == 1


def test_keyframe_past_the_end_is_an_error_and_writes_nothing(cut_clip, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    media.write_image(keys / "000100.png", cut_clip[1][0])
    colorizer, _ = recording_colorizer()
    with pytest.raises(InputError, match="keyframe for frame 100"):
        colorizer.colorize(cut_clip[0], tmp_path / "out.mp4", keyframes=keys)
    assert not (tmp_path / "out.mp4").exists()


def test_seed_of_another_size_with_alpha_or_grey_is_converted(cut_clip, tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="tcvc")
    colorizer, spy = recording_colorizer(scene_detect=False)
    rgba = np.dstack([media.resize(cut_clip[1][0], (192, 128)), np.full((128, 192), 255, np.uint8)])  # same aspect
    seed = tmp_path / "seed.png"
    cv2.imwrite(str(seed), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    colorizer.colorize(cut_clip[0], tmp_path / "a", seed_frame=seed)
    assert "scaled to 96x64" in caplog.text
    grey = tmp_path / "grey.png"
    media.write_image(grey, cut_clip[1][0][:, :, 0])
    assert colorizer.colorize(cut_clip[0], tmp_path / "b", seed_frame=grey).frames == 24


def test_a_seed_of_another_aspect_ratio_is_refused_unless_stretching_is_asked_for(cli, cut_clip, tmp_path):
    seed = tmp_path / "portrait.png"
    media.write_image(seed, media.resize(cut_clip[1][0], (64, 96)))  # 64x96 for 96x64 line art: the wrong file
    refused = cli("colorize", cut_clip[0], "--seed-frame", seed, "-o", tmp_path / "a.mp4")
    assert refused.exit_code == 3 and "64x96" in refused.stderr and "96x64" in refused.stderr
    assert not (tmp_path / "a.mp4").exists()
    keys = tmp_path / "keys"
    keys.mkdir()
    media.write_image(keys / "000005.png", media.resize(cut_clip[1][5], (64, 96)))
    assert cli("colorize", cut_clip[0], "--keyframes", keys, "-o", tmp_path / "b.mp4").exit_code == 3
    stretched = cli("colorize", cut_clip[0], "--seed-frame", seed, "-o", tmp_path / "c.mp4", "--stretch-references")
    assert stretched.exit_code == 0, stretched.output


def test_existing_output_is_refused_without_overwrite(cut_clip, tmp_path):
    target = tmp_path / "exists.mp4"
    target.write_bytes(b"keep")
    colorizer, _ = recording_colorizer()
    with pytest.raises(OutputError):
        colorizer.colorize(cut_clip[0], target)
    assert target.read_bytes() == b"keep"


def test_a_full_disk_stops_with_an_output_error_and_keeps_finished_segments(cut_clip, tmp_path, monkeypatch):
    real_write = media.write_image
    written = []

    def disk_fills_up(path, image, **options):
        if len(written) == 7:
            raise OSError(28, "No space left on device")
        written.append(path)
        real_write(path, image, **options)

    monkeypatch.setattr(media, "write_image", disk_fills_up)
    colorizer, _ = recording_colorizer(segment_frames=5)
    with pytest.raises(OutputError, match="No space left on device"):
        colorizer.colorize(cut_clip[0], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert (tmp_path / ".out.tcvc-partial" / "manifest.json").is_file()  # 5 frames kept for --resume
