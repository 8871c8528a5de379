"""Training: samples, splits, the run folder, exact resume, bad data, distributed runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tcvc_cli import media
from tcvc_cli.checkpoint import load_generator
from tcvc_cli.data import SequenceDataset, load_clips, split_clips
from tcvc_cli.errors import EXIT_TRAINING, TrainingError
from tcvc_cli.lineart import LineartParams
from tcvc_cli.losses import VGGFeatures, gram, load_vgg, style_loss
from tcvc_cli.sample import render_clip, write_clip
from tcvc_cli.train import train, train_preset

# No perceptual losses where a test is not about them: a random VGG-19 is most of a tiny step's cost.
FAST = dict(vgg_weights="random", lambda_content=0.0, lambda_style=0.0, checkpoint_every=100, sample_every=100, workers=0, seed=3)


def make_data(root: Path, clips: int = 3, frames: int = 8, size=(80, 64), cut_at=None) -> Path:
    for index in range(clips):
        colour, _ = render_clip(seed=index, frames=frames, size=size, cut_at=cut_at)
        write_clip(root / f"clip{index}", colour)
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("data"))


def run(config, run_dir, resume=False):
    return list(train(config, run_dir, device="cpu", resume=resume))


def test_samples_blank_the_first_frame_and_after_cuts(tmp_path):
    make_data(tmp_path / "d", clips=1, frames=12, cut_at=6)
    clips = load_clips(tmp_path / "d", tmp_path / "cache", 64, LineartParams())
    assert list(np.flatnonzero(clips[0].shot_start)) == [0, 6]
    dataset = SequenceDataset(clips, 64, blank_probability=0.0, train=True)
    blanks = [bool(dataset[i]["blank"]) for i in range(12)]
    assert blanks == [i in (0, 6) for i in range(12)]
    sample = dataset[3]
    expected_previous = torch.from_numpy(np.array(clips[0].colour[2])).permute(2, 0, 1).float() / 255
    left = (clips[0].colour.shape[2] - 64)
    assert any(torch.equal(sample["previous"], expected_previous[:, :, x:x + 64]) for x in range(left + 1))


def test_previous_frame_is_blank_about_half_the_time(tmp_path):
    make_data(tmp_path / "d", clips=1, frames=40)
    clips = load_clips(tmp_path / "d", tmp_path / "cache", 64, LineartParams())
    dataset = SequenceDataset(clips, 64, blank_probability=0.5)
    rate = np.mean([bool(dataset[i]["blank"]) for i in range(1, 40)])
    assert 0.25 < rate < 0.75
    assert not any(bool(SequenceDataset(clips, 64, blank_probability=0.0)[i]["blank"]) for i in range(1, 40))


def test_frames_are_ordered_by_number(tmp_path):
    colour, _ = render_clip(seed=0, frames=12, size=(64, 64))
    folder = tmp_path / "d" / "clip"
    folder.mkdir(parents=True)
    for index, frame in enumerate(colour):
        media.write_image(folder / f"frame_{index}.png", frame)  # frame_10 lists before frame_2
    clips = load_clips(tmp_path / "d", tmp_path / "cache", 64, LineartParams())
    np.testing.assert_array_equal(clips[0].colour[2], colour[2])
    np.testing.assert_array_equal(clips[0].colour[10], colour[10])


def test_validation_holds_out_whole_clips(tmp_path):
    make_data(tmp_path / "d", clips=5, frames=4)
    clips = load_clips(tmp_path / "d", tmp_path / "cache", 64, LineartParams())
    train_clips, val_clips = split_clips(clips, 0.2)
    assert [c.name for c in val_clips] == ["clip4"]
    assert {c.name for c in train_clips}.isdisjoint({c.name for c in val_clips})


def test_run_folder_and_colorize_loads_it(data_dir, tmp_path):
    with_vgg = {**FAST, "lambda_content": 1.0, "lambda_style": 1000.0, "sample_every": 2}
    config = train_preset("tiny", data_dir=str(data_dir), max_steps=3, **with_vgg)
    events = run(config, tmp_path / "run")
    done = events[-1]
    assert done["type"] == "done" and done["step"] == 3
    run_dir = tmp_path / "run"
    for name in ("config.json", "metrics.jsonl", "loss.png", "generator-latest.safetensors", "generator-best.safetensors"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "samples").glob("*.png"))
    assert json.loads((run_dir / "config.json").read_text())["model"]["ngf"] == 8
    assert [e for e in events if e["type"] == "step"][-1]["style"] > 0
    steps = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if s.get("type") == "step"] == [1, 2, 3]
    assert load_generator(run_dir).config == config.model


def test_resume_reaches_the_same_weights(data_dir, tmp_path):
    base = train_preset("tiny", data_dir=str(data_dir), deterministic=True, **FAST)
    from dataclasses import replace

    run(replace(base, max_steps=6), tmp_path / "straight")
    run(replace(base, max_steps=3), tmp_path / "stopped")
    run(replace(base, max_steps=6), tmp_path / "stopped", resume=True)
    a = load_file(str(tmp_path / "straight" / "generator-latest.safetensors"))
    b = load_file(str(tmp_path / "stopped" / "generator-latest.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_nan_loss_stops_with_a_clear_message(data_dir, tmp_path, monkeypatch):
    import tcvc_cli.train.objective as train_module

    config = train_preset("tiny", data_dir=str(data_dir), max_steps=5, **FAST)
    calls = {"n": 0}
    real = train_module.F.l1_loss

    def poisoned(a, b, *args, **kwargs):
        calls["n"] += 1
        value = real(a, b, *args, **kwargs)
        return value * float("nan") if calls["n"] >= 3 else value

    monkeypatch.setattr(train_module.F, "l1_loss", poisoned)
    with pytest.raises(TrainingError, match="loss became nan"):
        run(config, tmp_path / "run")


def test_bad_training_data(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("train", tmp_path / "empty", "-o", tmp_path / "r1", "--preset", "tiny", "--vgg-weights", "random")
    assert result.exit_code == EXIT_TRAINING and "no clips found" in result.stderr
    not_run = tmp_path / "not a run"
    not_run.mkdir()
    result = cli("train", "--resume", not_run)
    assert result.exit_code == EXIT_TRAINING and "not a tcvc run folder" in result.stderr


def test_feedback_training_options_reach_the_run(cli, data_dir, tmp_path):
    common = ["--preset", "tiny", "--vgg-weights", "random", "--lambda-content", "0", "--lambda-style", "0",
              "--max-steps", "1", "--workers", "0", "--no-epoch-checkpoints", "--device", "cpu"]
    result = cli("train", data_dir, "-o", tmp_path / "run", *common, "--lambda-temporal", "2.5", "--prev-gap", "3",
                 "--lambda-gate", "0.5", "--prev-source", "mixed", "--unroll", "3", "--degrade", "0.25")
    assert result.exit_code == 0, result.stderr
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert {k: saved[k] for k in ("lambda_temporal", "prev_gap", "lambda_gate", "prev_source", "unroll", "degrade")} == \
        {"lambda_temporal": 2.5, "prev_gap": 3, "lambda_gate": 0.5, "prev_source": "mixed", "unroll": 3, "degrade": 0.25}
    result = cli("train", data_dir, "-o", tmp_path / "bad", *common, "--lambda-temporal", "-1")
    assert result.exit_code != 0 and "lambda_temporal" in result.stderr


def test_corrupt_frame_is_skipped_and_counted_and_one_frame_clips_work(tmp_path):
    root = make_data(tmp_path / "d", clips=1, frames=6)
    (root / "clip0" / "000003.png").write_bytes(b"not a png")
    single = tmp_path / "d" / "single"
    write_clip(single, render_clip(seed=9, frames=1, size=(100, 70))[0])  # another size too
    clips = load_clips(root, tmp_path / "cache", 64, LineartParams())
    assert clips[0].skipped == 1 and len(clips[0]) == 5
    assert list(np.flatnonzero(clips[0].shot_start)) == [0, 3]  # the frame after the gap has no previous
    assert len(clips[1]) == 1 and clips[1].colour.shape[1] == 64


def test_resume_refuses_a_run_of_another_architecture(data_dir, tmp_path):
    config = train_preset("tiny", data_dir=str(data_dir), max_steps=1, **FAST)
    run(config, tmp_path / "run")
    other = train_preset("tiny", data_dir=str(data_dir), max_steps=2, ngf=4, **FAST)
    with pytest.raises(TrainingError, match="another architecture"):
        run(other, tmp_path / "run", resume=True)


def test_pix2pix_baseline_trains_and_colorizes(data_dir, tmp_path):
    config = train_preset("pix2pix", data_dir=str(data_dir), image_size=64, ngf=4, batch_size=2, max_steps=2, **FAST)
    assert config.model.arch == "unet" and config.model.unet_downs == 6 and not config.model.use_previous
    assert not config.uses_vgg
    run(config, tmp_path / "run")
    loaded = load_generator(tmp_path / "run")
    assert loaded.config.arch == "unet"


def test_vgg_weights_offline_errors_and_random_option(tmp_path, monkeypatch):
    import torchvision.models._api as api

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(api.WeightsEnum, "get_state_dict", no_network)
    with pytest.raises(TrainingError, match="cannot load the ImageNet VGG-19") as error:
        load_vgg("imagenet")
    assert "--vgg-weights PATH" in error.value.hint
    with pytest.raises(TrainingError, match="no such VGG-19 weights file"):
        load_vgg(str(tmp_path / "missing.pth"))
    from torchvision.models import vgg19

    torch.save(vgg19(weights=None).state_dict(), tmp_path / "vgg19.pth")
    assert isinstance(load_vgg(str(tmp_path / "vgg19.pth")), VGGFeatures)
    features = load_vgg("random")(torch.rand(1, 3, 32, 32))
    assert [f.shape[1] for f in features] == [64, 128, 256, 512, 512]


def test_style_loss_compares_gram_matrices():
    a = torch.rand(2, 4, 8, 8)
    assert torch.allclose(gram(a), gram(a.flip(-1)))  # a Gram matrix ignores where features are
    assert style_loss([a], [a.flip(-1)]).item() == pytest.approx(0.0, abs=1e-6)
    assert style_loss([a], [a * 2]).item() > 0


def test_greyscale_input_drops_the_content_loss():
    config = train_preset("tiny", input=LineartParams(mode="greyscale"))
    assert config.content_weight == 0.0 and config.uses_vgg


def test_two_process_distributed_training_keeps_ranks_identical(data_dir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "tcvc_cli", "-q", "train", str(data_dir), "-o", str(tmp_path / "run"), "--preset", "tiny",
               "--vgg-weights", "random", "--lambda-content", "0", "--max-steps", "2", "--batch-size", "4", "--workers", "0",
               "--device", "cpu", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["ranks_identical"] is True and summary["step"] == 2


# ---------------------------------------------------------------- what the generator is conditioned on


def built_trainer(data_dir, tmp_path, **options):
    from tcvc_cli.train import Trainer

    # The paper's plain condition unless a test asks for the motion-compensated one.
    config = train_preset("tiny", data_dir=str(data_dir), **{"blank_probability": 0.0, "condition": "previous", **FAST, **options})
    trainer = Trainer(config, tmp_path / "run", device="cpu")
    trainer._seed()
    trainer._data()
    trainer._build()
    return trainer


def first_batch(trainer):
    return next(trainer._batches(epoch=0, skip=0))


def test_teacher_forcing_conditions_on_the_true_previous_frame(data_dir, tmp_path):
    trainer = built_trainer(data_dir, tmp_path, prev_source="gt", degrade=0.0)
    batch = first_batch(trainer)
    assert "history_lines" not in batch
    torch.testing.assert_close(trainer.condition(batch, step=0).image, batch["previous"], rtol=0, atol=0)


def test_generated_condition_is_the_generators_own_unrolled_output(data_dir, tmp_path):
    trainer = built_trainer(data_dir, tmp_path, prev_source="generated", unroll=2, degrade=0.0)
    batch = first_batch(trainer)
    assert batch["history_lines"].shape[1] == 2
    condition = trainer.condition(batch, step=0).image
    assert not torch.equal(condition[~batch["blank"]], batch["previous"][~batch["blank"]])
    with torch.no_grad():  # the same unroll by hand: G over frames t-2, t-1 from the true frame before them
        expected = batch["history_start"]
        for j in range(2):
            output = trainer.generator(batch["history_lines"][:, j], expected)
            expected = torch.where(batch["history_valid"][:, j].view(-1, 1, 1, 1), output, expected)
    torch.testing.assert_close(condition, expected)


def test_history_starts_from_the_true_frame_and_stops_at_the_shot_start(tmp_path):
    make_data(tmp_path / "d", clips=1, frames=12, cut_at=6)
    clips = load_clips(tmp_path / "d", tmp_path / "cache", 64, LineartParams())
    dataset = SequenceDataset(clips, 64, blank_probability=0.0, train=False, history=3)
    deep = dataset[10]  # frames 7, 8, 9 precede it inside the shot that starts at 6
    assert deep["history_valid"].tolist() == [True, True, True]
    expected_start = torch.from_numpy(np.array(clips[0].colour[6][:, 8:72])).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(deep["history_start"], expected_start)
    near = dataset[7]  # frames 4, 5 belong to the previous shot
    assert near["history_valid"].tolist() == [False, False, True]
    assert torch.count_nonzero(near["history_start"]) == 0


def test_prev_gap_conditions_on_frames_further_back_within_the_shot(tmp_path):
    make_data(tmp_path / "d", clips=1, frames=16, size=(64, 64), cut_at=8)
    clips = load_clips(tmp_path / "d", tmp_path / "cache", 64, LineartParams())
    colour = [torch.from_numpy(np.array(f)).permute(2, 0, 1).float() / 255 for f in clips[0].colour]

    def source_of(sample):
        return next(i for i, frame in enumerate(colour) if torch.equal(frame, sample["previous"]))

    def gaps(max_gap, frame):
        dataset = SequenceDataset(clips, 64, blank_probability=0.0, train=True, max_gap=max_gap)
        found = set()
        for epoch in range(40):
            dataset.set_epoch(epoch)
            found.add(frame - source_of(dataset[frame]))
        return found

    assert gaps(1, 14) == {1}
    assert gaps(4, 14) == {1, 2, 3, 4}
    assert gaps(4, 9) == {1}  # frame 8 starts the shot: never reach into the one before


def sliding_texture(root: Path, frames: int, step=(3, 1), size=(96, 72)) -> Path:
    """A clip of a smooth random texture that slides `step` pixels a frame (one shot)."""
    rng = np.random.default_rng(5)
    width, height = size
    big = rng.integers(0, 256, (height + frames * step[1] + 8, width + frames * step[0] + 8, 3)).astype(np.uint8)
    big = cv2.GaussianBlur(big, (0, 0), 2.5)
    big = cv2.normalize(big, None, 0, 255, cv2.NORM_MINMAX)
    colour = [np.ascontiguousarray(big[t * step[1]:t * step[1] + height, t * step[0]:t * step[0] + width]) for t in range(frames)]
    write_clip(root / "slide", colour)
    return root


def test_motion_carries_the_frame_before_onto_frame_t(tmp_path):
    from tcvc_cli.losses import warp_by

    clips = load_clips(sliding_texture(tmp_path / "d", frames=6), tmp_path / "cache", 64, LineartParams())
    dataset = SequenceDataset(clips, 64, blank_probability=0.0, train=False, history=2, motion=True)
    sample = dataset[4]
    before = torch.from_numpy(np.array(clips[0].colour[3])).permute(2, 0, 1).float() / 255
    top, left = (before.shape[1] - 64) // 2, (before.shape[2] - 64) // 2
    before = before[:, top:top + 64, left:left + 64]  # the same centre crop
    inner = (slice(None), slice(6, -6), slice(6, -6))
    valid = sample["motion_valid"][inner]
    assert valid.float().mean() > 0.9
    moved = warp_by(before[None], sample["motion"][None])[0]
    error_moved = (moved - sample["target"]).abs().mean(0)[inner[1:]][valid[0]].mean()
    error_still = (before - sample["target"]).abs().mean(0)[inner[1:]][valid[0]].mean()
    assert error_moved < 0.2 * error_still
    assert not dataset[0]["motion_valid"].any()  # nothing came before the shot's first frame


def test_motion_is_trusted_only_where_it_explains_frame_t(tmp_path):
    from tcvc_cli.data import MOTION_TOLERANCE
    from tcvc_cli.losses import warp_by

    # flat fills and a walking character: optical flow is wrong in places, and those must not count
    make_data(tmp_path / "d", clips=1, frames=10, size=(96, 64))
    clips = load_clips(tmp_path / "d", tmp_path / "cache", 64, LineartParams())
    dataset = SequenceDataset(clips, 64, blank_probability=0.0, train=False, history=2, motion=True)
    colour = [torch.from_numpy(np.array(f)).permute(2, 0, 1).float() / 255 for f in clips[0].colour]
    left = (colour[0].shape[2] - 64) // 2
    checked = 0
    for frame in range(1, 10):
        sample = dataset[frame]
        moved = warp_by(colour[frame - 1][None, :, :, left:left + 64], sample["motion"][None])[0]
        error = (moved - sample["target"]).abs().mean(0)
        valid = sample["motion_valid"][0]
        assert valid.any()
        assert error[valid].max() <= MOTION_TOLERANCE + 0.01
        checked += int((~valid & (error > MOTION_TOLERANCE)).sum())
    assert checked > 0  # the clip does have pixels the motion gets wrong


def test_temporal_loss_rewards_moving_with_the_content():
    from tcvc_cli.losses import temporal_loss, warp_by

    torch.manual_seed(0)
    previous = torch.rand(2, 3, 32, 32)
    motion = torch.zeros(2, 2, 32, 32)
    motion[:, 0] = -2.0  # content moved 2 pixels right: pixel x of t came from x - 2 of t-1
    valid = torch.ones(2, 1, 32, 32, dtype=torch.bool)
    followed = warp_by(previous, motion)
    torch.testing.assert_close(followed[..., 2:], previous[..., :-2])
    assert temporal_loss(followed, previous, motion, valid) < 1e-6
    assert temporal_loss(previous, previous, motion, valid) > 0.1  # left behind: the stale frame
    assert temporal_loss(previous, previous, motion, torch.zeros_like(valid)) == 0


def test_lambda_temporal_changes_what_the_generator_learns(data_dir, tmp_path):
    weights = {}
    for weight in (0.0, 5.0):
        trainer = built_trainer(data_dir, tmp_path / str(weight), prev_source="generated", unroll=2, degrade=0.0, lambda_temporal=weight)
        batch = first_batch(trainer)
        assert ("motion" in batch) == (weight > 0)
        metrics = trainer._step(batch)
        assert (metrics["temporal"] > 0) == (weight > 0)
        weights[weight] = torch.cat([p.detach().flatten() for p in trainer.generator.parameters()])
    assert not torch.equal(weights[0.0], weights[5.0])


def test_degrade_changes_previous_frames_but_leaves_blanks_blank(data_dir, tmp_path):
    trainer = built_trainer(data_dir, tmp_path, prev_source="gt", degrade=1.0)
    batch = first_batch(trainer)
    batch["blank"][0] = True
    batch["previous"][0] = 0
    condition = trainer.condition(batch, step=0).image
    assert torch.count_nonzero(condition[0]) == 0
    assert not torch.allclose(condition[1:], batch["previous"][1:], atol=1e-3)
    assert 0 <= condition.min() and condition.max() <= 1


def test_mixed_uses_generated_frames_more_and_more(data_dir, tmp_path):
    trainer = built_trainer(data_dir, tmp_path, prev_source="mixed", mixed_ramp=0.5, degrade=0.0, max_steps=100)
    assert [trainer.generated_probability(s) for s in (0, 25, 50, 90)] == [0.0, 0.5, 1.0, 1.0]
    batch = first_batch(trainer)
    torch.testing.assert_close(trainer.condition(batch, step=0).image, batch["previous"], rtol=0, atol=0)
    assert not torch.equal(trainer.condition(batch, step=90).image, batch["previous"])


def test_copy_gate_passes_the_previous_frame_through():
    from tcvc_cli.config import model_preset
    from tcvc_cli.networks import define_generator

    generator = define_generator(model_preset("tiny").with_overrides(copy_gate=True, condition="previous"))
    with torch.no_grad():
        generator.model[-1].bias[3] = 50.0  # gate fully open: copy
    previous = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(generator(torch.rand(1, 1, 32, 32), previous), previous)


def test_copy_gate_is_only_built_where_there_is_a_previous_frame():
    from tcvc_cli.errors import UsageError

    assert train_preset("tiny").model.copy_gate
    assert not train_preset("tiny", use_previous=False).model.copy_gate
    assert not train_preset("pix2pix").model.copy_gate
    with pytest.raises(UsageError, match="copy-gate"):
        train_preset("tiny", arch="unet", copy_gate=True)


def test_gate_loss_opens_the_gate_where_copying_beats_painting():
    from tcvc_cli.train import gate_loss

    previous = torch.rand(2, 3, 16, 16)
    target = previous.clone()
    target[:, :, :, :8] = (target[:, :, :, :8] + 0.5) % 1  # the left half moved: painting it is right
    target[:, :, :, 8:] += 0.01  # the right half is the condition, give or take a little noise
    painted = target.clone()
    painted[:, :, :, 8:] += 0.2  # a poor painting where copying was right
    copy_right_half = torch.full((2, 1, 16, 16), -8.0)
    copy_right_half[..., 8:] = 8.0
    assert gate_loss(copy_right_half, previous, painted, target, tolerance=0.02) < 0.01
    assert gate_loss(-copy_right_half, previous, painted, target, tolerance=0.02) > 7
    # a condition a little off is still worth copying where the painting is worse
    assert gate_loss(copy_right_half, previous + 0.05, painted, target, tolerance=0.02) < 0.01


def test_motion_condition_in_training_is_the_condition_moved_along_the_line_art(data_dir, tmp_path):
    from tcvc_cli.motion import motion_condition

    trainer = built_trainer(data_dir, tmp_path, condition="motion", prev_source="gt", degrade=0.0)
    batch = first_batch(trainer)
    condition = trainer.condition(batch, 0).image
    assert condition.shape[1] == 4
    expected = motion_condition(batch["previous"], batch["flow"], batch["flow_valid"])
    torch.testing.assert_close(condition, expected)
    assert not torch.equal(condition[:, :3], batch["previous"])  # moved, not the frame as it is
    trainer._step(batch, 0)  # and the generator and critic take it


def test_gate_loss_teaches_the_gate(data_dir, tmp_path):
    from tcvc_cli.train import gate_loss

    def gate_bce_after(steps, lambda_gate):
        trainer = built_trainer(data_dir, tmp_path / str(lambda_gate), copy_gate=True, prev_source="gt", degrade=0.0,
                                blank_probability=0.5, lambda_gate=lambda_gate, lambda_adv=0.0, lambda_l1=0.0, lr_g=1e-3)
        batch = first_batch(trainer)
        for step in range(steps):
            trainer._step(batch, step)
        with torch.no_grad():
            _, logit, painted = trainer.generator(batch["line"], batch["previous"], with_gate=True)
        return gate_loss(logit, batch["previous"], painted, batch["target"], trainer.config.gate_tolerance).item()

    untrained = gate_bce_after(0, 1.0)
    assert gate_bce_after(15, 1.0) < 0.7 * untrained
    assert gate_bce_after(15, 0.0) == pytest.approx(untrained, rel=1e-6)  # no other loss is on: nothing learns


def test_painting_learns_even_where_the_gate_copies(data_dir, tmp_path):
    trainer = built_trainer(data_dir, tmp_path, copy_gate=True, prev_source="gt", degrade=0.0, lambda_gate=0.0,
                            lambda_adv=0.0, lr_g=1e-3)
    with torch.no_grad():
        trainer.generator.model[-1].bias[3] = 50.0  # gate wide open: the output is the condition alone
    batch = first_batch(trainer)

    def painting_l1():
        with torch.no_grad():
            _, _, painted = trainer.generator(batch["line"], batch["previous"], with_gate=True)
        return torch.nn.functional.l1_loss(painted, batch["target"]).item()

    before = painting_l1()
    for step in range(15):
        trainer._step(batch, step)
    assert painting_l1() < 0.8 * before


def test_demo_runs_end_to_end(tmp_path):
    from tcvc_cli.demo import run_demo

    summary = run_demo(tmp_path / "demo", steps=3)
    assert media.probe(Path(summary["result_video"])).frame_count == summary["frames"] == 48
    assert media.probe(Path(summary["result_video"])).audio_codecs == ("aac",)
    assert media.read_image(Path(summary["side_by_side"])).shape[1] == 4 * 192  # line art, model-free, model, truth
    assert media.probe(Path(summary["model_free_video"])).frame_count == 48
    assert 0 < summary["psnr"] < 100


def start_long_training(data_dir: Path, run_dir: Path) -> subprocess.Popen:
    """`tcvc train` in its own process, returned once it has taken a step."""
    import time

    command = [sys.executable, "-m", "tcvc_cli", "train", str(data_dir), "-o", str(run_dir), "--preset", "tiny",
               "--vgg-weights", "random", "--lambda-style", "0", "--lambda-content", "0", "--max-steps", "100000",
               "--workers", "1", "--no-epoch-checkpoints", "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.exists() or '"type": "step"' not in metrics.read_text()):
        time.sleep(0.2)
    return process


def test_ctrl_c_saves_a_checkpoint_and_exits_130(data_dir, tmp_path):
    import signal

    run_dir = tmp_path / "run"
    process = start_long_training(data_dir, run_dir)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-1500:]
    assert "--resume" in stderr and "Traceback" not in stderr
    checkpoints = list((run_dir / "checkpoints").glob("step-*.pt"))
    assert len(checkpoints) == 1
    assert (run_dir / "generator-latest.safetensors").is_file()


def test_every_file_of_a_run_follows_the_umask_and_the_summary_names_the_model_colorize_loads(data_dir, tmp_path):
    import os

    from tcvc_cli.checkpoint import resolve_model

    old = os.umask(0o022)
    try:
        config = train_preset("tiny", data_dir=str(data_dir), max_steps=2, **FAST)
        done = run(config, tmp_path / "run")[-1]
    finally:
        os.umask(old)
    modes = {str(path.relative_to(tmp_path / "run")): path.stat().st_mode & 0o777
             for path in (tmp_path / "run").rglob("*") if path.is_file()}
    assert modes and all(mode == 0o644 for mode in modes.values()), modes  # render nodes run as other users
    assert done["generator"] == str(resolve_model(str(tmp_path / "run")))
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["generator"] == done["generator"]
