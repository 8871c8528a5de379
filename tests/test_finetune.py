"""Fine-tuning on corrected frames, replay of earlier data, lineage, and line-art modes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tcvc_cli import media
from tcvc_cli.data import MixedBatches, SequenceDataset, load_clips
from tcvc_cli.lineart import AUGMENTS, METHODS, LineartParams, extract
from tcvc_cli.sample import render_clip, write_clip

FAST = ["--preset", "tiny", "--vgg-weights", "random", "--workers", "0"]


@pytest.fixture(scope="module")
def corrections(tmp_path_factory):
    """Five corrected frames from another episode (scattered numbers), and a base data folder of two clips."""
    root = tmp_path_factory.mktemp("fix")
    colour, _ = render_clip(seed=9, frames=40, size=(96, 64), visitor_from=0)
    (root / "fixes").mkdir()
    for number in (1003, 1011, 1020, 1027, 1036):
        media.write_image(root / "fixes" / f"ep07.{number}.png", colour[number - 1001])
    for seed in (1, 2):
        frames, _ = render_clip(seed=seed, frames=10, size=(96, 64))
        write_clip(root / "base" / f"clip{seed}", frames)
    return root


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def test_init_from_starts_from_the_given_weights_and_records_the_lineage(cli, corrections, tiny_checkpoint, tmp_path):
    still = ["--max-steps", "1", "--lr-g", "1e-12", "--lr-d", "1e-12", *FAST]
    result = cli("train", corrections / "fixes", "--init-from", tiny_checkpoint, "-o", tmp_path / "tuned", *still, "--json")
    assert result.exit_code == 0, result.stderr
    base, tuned = _weights(tiny_checkpoint), _weights(tmp_path / "tuned" / "generator-latest.safetensors")
    assert base.keys() == tuned.keys()
    assert max(float((base[k] - tuned[k]).abs().max()) for k in base) < 1e-5
    # Without --init-from the same run starts from fresh weights, far from the base model's.
    fresh = cli("train", corrections / "fixes", "-o", tmp_path / "fresh", *still, "--condition", "previous")
    assert fresh.exit_code == 0, fresh.stderr
    scratch = _weights(tmp_path / "fresh" / "generator-latest.safetensors")
    assert max(float((base[k] - scratch[k]).abs().max()) for k in base if k in scratch) > 1e-2

    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert config["init_from"]["reference"] == str(tiny_checkpoint) and len(config["init_from"]["sha256"]) == 64
    assert config["lr_g"] == 1e-12 and config["val_fraction"] == 0.0  # the fine-tuning schedule, where not overridden
    # A second fine-tune of the fine-tuned model: the lineage goes back to the first model.
    again = cli("train", corrections / "fixes", "--init-from", tmp_path / "tuned", "-o", tmp_path / "again", *still)
    assert again.exit_code == 0, again.stderr
    shown = json.loads(cli("models", "show", tmp_path / "again", "--json").stdout)
    assert [step["reference"] for step in shown["lineage"]] == [str(tmp_path / "tuned"), str(tiny_checkpoint)]
    assert shown["fine_tuned_on"] == str((corrections / "fixes").resolve())
    text = cli("models", "show", tmp_path / "again").stdout
    assert "fine-tuned on" in text and str(tiny_checkpoint) in text


def test_init_from_keeps_the_architecture(cli, corrections, tiny_checkpoint, tmp_path):
    result = cli("train", corrections / "fixes", "--init-from", tiny_checkpoint, "--ngf", "32", "-o", tmp_path / "r", *FAST)
    assert result.exit_code == 2 and "--ngf" in result.stderr
    # The training size is no part of the architecture: a fine-tune may train (and colour) at another.
    sized = cli("train", corrections / "fixes", "--init-from", tiny_checkpoint, "--image-size", "48", "--max-steps", "1",
                "-o", tmp_path / "s", *FAST)
    assert sized.exit_code == 0, sized.stderr
    assert json.loads((tmp_path / "s" / "config.json").read_text())["model"]["image_size"] == 48


def test_replay_mixes_the_stated_fraction_into_every_batch(corrections, tiny_checkpoint, tmp_path):
    from tcvc_cli.checkpoint import read_metadata
    from tcvc_cli.train import Trainer, train_preset

    model, _ = read_metadata(tiny_checkpoint)
    config = train_preset("tiny", data_dir=str(corrections / "fixes"), replay_dir=str(corrections / "base"),
                          replay_fraction=0.25, batch_size=8, max_steps=6, val_fraction=0.0, workers=0, vgg_weights="random")
    from dataclasses import replace

    config = replace(config, model=model, init_from={"reference": "t", "path": str(tiny_checkpoint), "sha256": "", "lineage": []})
    trainer = Trainer(config, tmp_path / "run", device="cpu")
    trainer._data()
    new_clips = 1
    seen_new, seen_old = set(), set()
    for step in range(6):
        epoch, skip = divmod(step, trainer.steps_per_epoch)
        trainer.sampler.set(epoch, skip)
        batch = next(iter(trainer.sampler))
        clips = [trainer.train_set.index[item][0] for item, _ in batch]
        assert len(batch) == 8 and sum(c >= new_clips for c in clips) == 2  # a quarter of 8
        seen_new |= {item for (item, _), c in zip(batch, clips) if c < new_clips}
        seen_old |= {item for (item, _), c in zip(batch, clips) if c >= new_clips}
    assert len(seen_new) == 5 and len(seen_old) > 6  # every corrected frame, and many replayed ones


def test_mixed_batches_are_exact_on_resume_and_split_over_processes():
    whole = MixedBatches(5, 40, 4, 1, 7, rank=0, world=1, seed=3)
    whole.set(2, 0)
    batches = list(whole)
    resumed = MixedBatches(5, 40, 4, 1, 7, rank=0, world=1, seed=3)
    resumed.set(2, 3)
    assert list(resumed) == batches[3:]
    ranks = [MixedBatches(5, 40, 2, 1, 3, rank=r, world=2, seed=0) for r in (0, 1)]
    for sampler in ranks:
        sampler.set(0, 0)
    first, second = (list(s) for s in ranks)
    assert all(len(a) == len(b) == 2 and a != b for a, b in zip(first, second))
    assert all(sum(item >= 5 for item, _ in batch) == 1 for batch in first + second)


def test_a_folder_of_single_corrected_frames_is_no_sequence(corrections, tmp_path):
    (fixes,) = load_clips(corrections / "fixes", tmp_path / "cache", 64, LineartParams())
    assert len(fixes) == 5 and fixes.shot_start.all()  # 1003, 1011 ...: no frame has its previous frame
    sequences = load_clips(corrections / "base", tmp_path / "cache", 64, LineartParams())
    assert all(not clip.shot_start[1:].any() for clip in sequences)  # 000000, 000001 ...: one shot each


def test_a_still_is_shown_half_carried_to_motion_models(corrections, tmp_path):
    """A corrected frame teaches painting what motion leaves unexplained: its condition holds its
    own colours where marked explained and something else where not, and is not always blank."""
    (fixes,) = load_clips(corrections / "fixes", tmp_path / "cache", 64, LineartParams())
    (clip,) = load_clips(corrections / "base" / "clip1", tmp_path / "cache", 64, LineartParams())
    stills = SequenceDataset([fixes], 64, train=True, seed=3, line_motion=True)
    partial = blank = 0
    for epoch in range(4):
        for item in range(len(stills)):
            sample = stills[item, epoch]
            explained = sample["flow_valid"][0].bool()
            if not explained.any():
                blank += 1
                assert not sample["previous"].any()
                continue
            partial += 1
            assert 0 < explained.float().mean() < 1
            same = (sample["previous"] == sample["target"]).all(0)
            assert same[explained].all() and not same[~explained].all()
    assert partial > blank > 0
    # Frames of a sequence keep their own previous frames (or a blank one at the shot start).
    frames = SequenceDataset([clip], 64, blank_probability=0.0, train=True, seed=3, line_motion=True)
    assert not frames[0]["previous"].any() and not frames[0]["flow_valid"].any()
    assert frames[4]["flow_valid"].mean() > 0.5 and not torch.equal(frames[4]["previous"], frames[4]["target"])


def test_the_corrections_colour_the_episode_as_keyframes(cli, corrections, tmp_path):
    _, lines = render_clip(seed=9, frames=40, size=(96, 64), visitor_from=0)
    episode = tmp_path / "ep07"
    episode.mkdir()
    for number, line in zip(range(1001, 1041), lines):
        media.write_image(episode / f"ep07.{number}.png", line)
    result = cli("colorize", episode, "--keyframes", corrections / "fixes", "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["keyframes_used"] == [1003, 1011, 1020, 1027, 1036]


@pytest.mark.parametrize("method", METHODS)
def test_each_line_art_mode_is_deterministic_for_a_fixed_seed(method):
    import cv2

    colour, _ = render_clip(seed=4, frames=2, size=(128, 96))
    for x in range(10, 120, 18):  # specks, for the augmentation that drops tiny details
        cv2.circle(colour[0], (x, 88), 1, (0, 0, 0), -1)
    plain = LineartParams(method=method)
    first = extract(colour[0], plain)
    assert first.dtype == np.uint8 and first.shape == (96, 128) and (first < 128).any() and (first > 200).mean() > 0.5
    np.testing.assert_array_equal(first, extract(colour[0], plain))
    for augment in AUGMENTS:
        params = LineartParams(method=method, augment=(augment,), seed=7)
        one, two = extract(colour[0], params, frame=3), extract(colour[0], params, frame=3)
        np.testing.assert_array_equal(one, two)
        assert not np.array_equal(one, first), augment  # the augmentation does something
    params = LineartParams(method=method, augment=AUGMENTS, seed=7)
    assert not np.array_equal(extract(colour[0], params, frame=3), extract(colour[0], LineartParams(method=method, augment=AUGMENTS, seed=8), frame=3))
    assert not np.array_equal(extract(colour[0], params, frame=3), extract(colour[0], params, frame=4))


def test_xdog_draws_one_stroke_where_canny_draws_two_and_keeps_the_eyes():
    colour, true = render_clip(seed=3, frames=1, size=(288, 192))
    from scipy.ndimage import binary_dilation

    near_ink = binary_dilation(true[0] < 128, iterations=1)
    for method in ("xdog", "thinned"):
        drawn = extract(colour[0], LineartParams(method=method)) < 128
        # Its strokes lie on the true strokes, and cover most of them.
        assert (drawn & near_ink).sum() / drawn.sum() > 0.9, method
    canny = extract(colour[0], LineartParams(method="canny")) < 128
    xdog = extract(colour[0], LineartParams(method="xdog")) < 128
    assert (canny & ~near_ink).sum() > 3 * (xdog & ~near_ink).sum()  # Canny's second line lies beside the stroke


def test_lineart_command_draws_each_mode_and_old_checkpoints_read_as_canny(cli, corrections, tmp_path):
    for mode in ("xdog", "thinned"):
        result = cli("lineart", corrections / "base" / "clip1", "-o", tmp_path / mode, "--mode", mode, "--augment", "gaps,paper",
                     "--seed", "3", "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["results"][0]["mode"] == f"{mode}+gaps+paper"
    again = cli("lineart", corrections / "base" / "clip1", "-o", tmp_path / "again", "--mode", "xdog", "--augment", "gaps,paper",
                "--seed", "3")
    assert again.exit_code == 0
    assert [media.read_image(p).tobytes() for p in media.list_frames(tmp_path / "xdog")] == \
           [media.read_image(p).tobytes() for p in media.list_frames(tmp_path / "again")]
    assert LineartParams.from_json({"mode": "lineart", "sigma": 1.0, "low": 50.0, "high": 150.0}).method == "canny"


def test_training_draws_augmented_canny_unless_told_otherwise(cli, corrections, tmp_path):
    """The default line art of `tcvc train` is the measured best: Canny with every augmentation;
    `none` turns them off, and artists' own line art is never augmented."""
    one_step = ["--max-steps", "1", *FAST]

    def drawn(name, *options):
        result = cli("train", corrections / "base", "-o", tmp_path / name, *one_step, *options)
        assert result.exit_code == 0, result.stderr
        return json.loads((tmp_path / name / "config.json").read_text())["model"]["input"]

    default = drawn("default")
    assert default["method"] == "canny" and default["augment"] == list(AUGMENTS)
    assert drawn("plain", "--lineart-augment", "none")["augment"] == []
    assert drawn("xdog", "--lineart-mode", "xdog", "--lineart-augment", "gaps")["augment"] == ["gaps"]
    assert drawn("own", "--lineart-dir", corrections / "base")["augment"] == []
