"""The motion part and what is built on it: model-free colouring, keyframes on both sides,
motion-compensated conditions that training and colorize build alike."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from tcvc_cli import media
from tcvc_cli.checkpoint import load_generator, save_generator
from tcvc_cli.colorize import ColorizeOptions, Colorizer
from tcvc_cli.config import model_preset
from tcvc_cli.data import Clip, SequenceDataset
from tcvc_cli.motion import LineMotion, motion_condition, warp, warp_tensor
from tcvc_cli.networks import define_generator
from tcvc_cli.propagate import Propagator, flat_fill
from tcvc_cli.sample import render_clip, write_clip


def _shapes(offset: int, with_square: bool = True) -> np.ndarray:
    line = np.full((96, 128), 255, np.uint8)
    cv2.circle(line, (40 + offset, 48), 18, 0, 2)
    cv2.line(line, (10 + offset, 80), (60 + offset, 90), 0, 2)
    if with_square:
        cv2.rectangle(line, (80, 20), (110, 50), 0, 2)
    return line


def test_a_known_shift_of_line_art_is_recovered():
    flow, consistent = LineMotion().between(_shapes(6, False), _shapes(0, False))
    near_lines = cv2.dilate((_shapes(6, False) < 128).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.median(flow[near_lines][:, 0]) == pytest.approx(-6, abs=0.5)
    assert np.median(np.abs(flow[near_lines][:, 1])) < 0.5
    assert consistent[near_lines].mean() > 0.9


def test_the_consistency_mask_is_false_where_content_is_occluded():
    # A square is there in the reference frame and gone in this one, and the other way round.
    without, reference = _shapes(0, with_square=False), _shapes(0)
    _, consistent = LineMotion().between(reference, without)
    assert not consistent[20:51, 80:111][::5, ::5].all()
    assert consistent[48, 40] and consistent[5, 5]  # the unchanged circle and paper are explained


def test_tensor_warp_matches_the_image_warp():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (20, 24, 3)).astype(np.float32)
    flow = rng.normal(0, 2, (20, 24, 2)).astype(np.float32)
    moved = warp_tensor(torch.from_numpy(image).permute(2, 0, 1)[None], torch.from_numpy(flow).permute(2, 0, 1)[None])
    np.testing.assert_allclose(moved[0].permute(1, 2, 0).numpy(), warp(image, flow), atol=1e-2)


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """A 24-frame 128x96 clip of the sample: (line-art video, colour frames, root folder)."""
    root = tmp_path_factory.mktemp("walk")
    colour, lines = render_clip(seed=3, frames=24, size=(128, 96))
    video = write_clip(root / "walk lines.mp4", lines, audio=True)
    media.write_image(root / "seed.png", colour[0])
    return video, colour, root


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255**2 / max(np.mean((a.astype(float) - b.astype(float)) ** 2), 1e-9))


def test_colorize_without_a_model_carries_the_seed_and_beats_holding_it(cli, walk, tmp_path):
    video, colour, root = walk
    result = cli("colorize", video, "--seed-frame", root / "seed.png", "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["results"][0]
    assert summary["colouring"] == "model-free" and summary["frames"] == 24
    frames = [media.read_image(p) for p in media.list_frames(tmp_path / "out")]
    carried = np.mean([_psnr(f, t) for f, t in zip(frames[1:], colour[1:])])
    held = np.mean([_psnr(colour[0], t) for t in colour[1:]])
    assert carried > held + 2


def test_colorize_without_a_model_or_a_coloured_frame_names_both_options(cli, walk, tmp_path):
    result = cli("colorize", walk[0], "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "--seed-frame" in result.stderr and "--keyframes" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_later_keyframe_colours_the_frames_before_it(walk, tmp_path):
    video, colour, root = walk
    keys = tmp_path / "keys"
    keys.mkdir()
    recoloured = colour[20].copy()
    recoloured[(colour[20] == colour[0][5, 5]).all(-1)] = (255, 0, 255)  # the artist repaints the sky magenta at frame 20
    media.write_image(keys / "000020.png", recoloured)
    outputs = {}
    for mode in ("both", "forward"):
        colorizer = Colorizer(None, ColorizeOptions(scene_detect=False, both_ways=mode == "both"))
        colorizer.colorize(video, tmp_path / mode, seed_frame=root / "seed.png", keyframes=keys)
        outputs[mode] = [media.read_image(p) for p in media.list_frames(tmp_path / mode)]
    magenta = lambda frame: float(((frame[:20, :, 0] > 150) & (frame[:20, :, 1] < 100) & (frame[:20, :, 2] > 150)).mean())
    assert magenta(outputs["both"][18]) > 0.3 > magenta(outputs["both"][2])  # stronger near the keyframe
    assert magenta(outputs["forward"][18]) == 0
    np.testing.assert_array_equal(outputs["both"][20], recoloured)


def test_keyframes_alone_colour_a_shot_without_a_seed(walk, tmp_path):
    video, colour, _ = walk
    keys = tmp_path / "keys"
    keys.mkdir()
    media.write_image(keys / "000006.png", colour[6])
    Colorizer(None, ColorizeOptions(scene_detect=False)).colorize(video, tmp_path / "out", keyframes=keys)
    frames = [media.read_image(p) for p in media.list_frames(tmp_path / "out")]
    assert len(frames) == 24 and _psnr(frames[3], colour[3]) > _psnr(colour[6], colour[3])


def test_model_free_resume_gives_the_frames_of_an_uninterrupted_run(walk, tmp_path, monkeypatch):
    video, _, root = walk
    options = ColorizeOptions(scene_detect=False, segment_frames=5)
    Colorizer(None, options).colorize(video, tmp_path / "whole", seed_frame=root / "seed.png")
    import tcvc_cli.colorize as engine

    original, calls = engine.ResumableOutput.write, {"n": 0}

    def dying_write(self, frame, *context):
        calls["n"] += 1
        if calls["n"] == 13:
            raise KeyboardInterrupt
        original(self, frame, *context)

    monkeypatch.setattr(engine.ResumableOutput, "write", dying_write)
    with pytest.raises(Exception):
        Colorizer(None, options).colorize(video, tmp_path / "resumed", seed_frame=root / "seed.png")
    monkeypatch.setattr(engine.ResumableOutput, "write", original)
    result = Colorizer(None, options).colorize(video, tmp_path / "resumed", seed_frame=root / "seed.png", resume=True)
    assert result.resumed_from == 10
    whole, resumed = media.list_frames(tmp_path / "whole"), media.list_frames(tmp_path / "resumed")
    assert [media.read_image(p).tobytes() for p in whole] == [media.read_image(p).tobytes() for p in resumed]


def test_training_and_colorize_build_the_same_motion_condition():
    colour, lines = render_clip(seed=4, frames=6, size=(64, 64))
    clip = Clip("c", np.stack(colour), np.stack(lines), np.array([True] + [False] * 5))
    dataset = SequenceDataset([clip], crop=64, blank_probability=0.0, train=False, line_motion=True)
    sample = dataset[4]  # frame 4, conditioned on frame 3
    trained = motion_condition(sample["previous"][None], sample["flow"][None], sample["flow_valid"][None])[0]

    seen = {}

    def painter(line, carried, explained):
        seen["condition"] = torch.cat([torch.from_numpy(carried).permute(2, 0, 1).float() / 255,
                                       torch.from_numpy(explained.astype(np.float32))[None]])
        return carried

    propagator = Propagator((64, 64), (64, 64))
    anchor = propagator.anchor(colour[3], lines[3])
    propagator.carry(lines[4], anchor, None, painter)
    built = seen["condition"]
    assert torch.equal(built[3], trained[3])  # the same consistency mask
    assert (built[:3] - trained[:3]).abs().max() <= 1 / 255 + 1e-6  # the same colours, to rounding


def test_a_motion_model_colours_and_its_checkpoint_says_so(walk, tmp_path):
    torch.manual_seed(0)
    config = model_preset("tiny").with_overrides(condition="motion")
    path = save_generator(tmp_path / "motion.safetensors", define_generator(config), config)
    loaded = load_generator(path)
    assert loaded.config.condition == "motion"
    result = Colorizer(loaded, ColorizeOptions(scene_detect=False)).colorize(walk[0], tmp_path / "out",
                                                                              seed_frame=walk[2] / "seed.png")
    assert result.colouring == "motion-compensated model" and result.frames == 24


def test_an_old_checkpoint_loads_and_colours_with_the_plain_condition(tiny_checkpoint, walk, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(tiny_checkpoint), "pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        metadata = handle.metadata()
    config = json.loads(metadata["tcvc.config"])
    assert config.pop("condition") == "previous"  # not written before motion conditions existed
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata={**metadata, "tcvc.config": json.dumps(config)})
    loaded = load_generator(tmp_path / "old.safetensors")
    assert loaded.config.condition == "previous"
    result = Colorizer(loaded, ColorizeOptions(scene_detect=False)).colorize(walk[0], tmp_path / "out")
    assert result.colouring == "model" and result.frames == 24


def test_flat_fill_survives_gaps_in_the_strokes():
    line = np.full((120, 160), 255, np.uint8)
    cv2.rectangle(line, (20, 20), (70, 100), 0, 2)
    cv2.rectangle(line, (90, 20), (140, 100), 0, 2)
    line[60:62, 20:23] = 255  # a 2-pixel gap in the left box's outline
    colour = np.zeros((120, 160, 3), np.uint8)
    colour[:] = (30, 120, 200)
    colour[22:99, 22:69] = (220, 40, 40)
    colour[22:99, 92:139] = (40, 200, 40)
    filled = flat_fill(colour, line)
    assert (filled[60, 45] == (220, 40, 40)).all()  # the box did not leak into the background
    assert (filled[5, 5] == (30, 120, 200)).all()
    assert (filled[60, 115] == (40, 200, 40)).all()


def test_train_condition_motion_makes_a_motion_model_that_colorize_recognises(cli, walk, tmp_path):
    from .test_train import make_data

    data = make_data(tmp_path / "data")
    args = ["train", data, "-o", tmp_path / "run", "--preset", "tiny", "--vgg-weights", "random", "--lambda-style", "0",
            "--lambda-content", "0", "--workers", "0", "--max-steps", "2", "--device", "cpu", "--condition", "motion"]
    trained = cli(*args)
    assert trained.exit_code == 0, trained.output
    assert load_generator(tmp_path / "run").config.condition == "motion"
    result = cli("colorize", walk[0], "--model", tmp_path / "run", "--seed-frame", walk[2] / "seed.png", "-o",
                 tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["colouring"] == "motion-compensated model"
    refused = cli(*[tmp_path / "run2" if a == tmp_path / "run" else a for a in args[:-1]], "sideways")
    assert refused.exit_code == 2 and "condition" in refused.stderr
    assert not (tmp_path / "run2").exists()


def test_content_new_to_the_shot_is_painted_again_in_every_frame():
    """A shape walking in is painted by the model in each frame, not carried from its first
    guess; the background the anchor explains is carried from the anchor."""
    width, height = 160, 96

    def frame(circle_x: int | None) -> np.ndarray:
        line = np.full((height, width), 255, np.uint8)
        cv2.rectangle(line, (10, 20), (60, 80), 0, 2)
        if circle_x is not None:
            cv2.circle(line, (circle_x, 50), 7, 0, 1)
        return line

    seed = np.full((height, width, 3), (200, 220, 240), np.uint8)
    seed[22:79, 12:59] = (250, 160, 40)
    propagator = Propagator((width, height), (width, height))
    anchor = propagator.anchor(seed, frame(None))
    paints = iter([(255, 0, 0), (0, 255, 0)])

    def painter(line, carried, explained):
        painted = carried.copy()
        painted[~explained] = next(paints)
        return painted

    first = propagator.carry(frame(140), anchor, propagator.start(anchor), painter)
    second = propagator.carry(frame(134), anchor, first.track, painter)
    assert tuple(first.colour[50, 140]) == (255, 0, 0)
    assert tuple(second.colour[50, 134]) == (0, 255, 0)  # painted again, not carried red
    np.testing.assert_array_equal(second.colour[50, 35], (250, 160, 40))  # the rectangle, from the seed
