from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcvc_cli import media
from tcvc_cli.cli import app
from tcvc_cli.sample import render_clip, write_clip

NTSC_FILM = Fraction(24000, 1001)


def plain_tiny():
    """The tiny preset with the paper's plain condition: the loop most colorize tests exercise."""
    from tcvc_cli.config import model_preset

    return model_preset("tiny").with_overrides(condition="previous")


@pytest.fixture(scope="session")
def clip_frames():
    """The 64x64, 16-frame sample: (colour frames, true line art)."""
    return render_clip(seed=0, frames=16, size=(64, 64))


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory, clip_frames) -> Path:
    """A lossless 23.976 fps sample video with a sine soundtrack."""
    path = tmp_path_factory.mktemp("media") / "sample clip.mp4"
    return write_clip(path, clip_frames[0], NTSC_FILM, audio=True)


@pytest.fixture(scope="session")
def sample_folder(tmp_path_factory, clip_frames) -> Path:
    path = tmp_path_factory.mktemp("folders") / "colour"
    return write_clip(path, clip_frames[0], Fraction(12))


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


def ffmpeg(*args: str) -> None:
    media.run_ffmpeg(["-y", "-loglevel", "error", *args], "making a test clip")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised tiny generator (plain condition) saved as a tcvc checkpoint."""
    import torch

    from tcvc_cli.checkpoint import save_generator
    from tcvc_cli.networks import define_generator

    torch.manual_seed(0)
    config = plain_tiny()
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    return save_generator(path, define_generator(config), config)


@pytest.fixture(scope="session")
def motion_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised tiny generator with the motion-compensated condition (the default)."""
    import torch

    from tcvc_cli.checkpoint import save_generator
    from tcvc_cli.config import model_preset
    from tcvc_cli.networks import define_generator

    torch.manual_seed(0)
    config = model_preset("tiny")
    assert config.condition == "motion"
    path = tmp_path_factory.mktemp("models") / "tiny-motion.safetensors"
    return save_generator(path, define_generator(config), config)


@pytest.fixture(scope="session")
def cut_clip(tmp_path_factory):
    """A 24-frame 96x64 clip with a scene cut at frame 12: (line-art video path, colour frames, line frames)."""
    colour, lines = render_clip(seed=1, frames=24, size=(96, 64), cut_at=12)
    path = tmp_path_factory.mktemp("cut") / "cut lineart.mp4"
    write_clip(path, lines, Fraction(24), audio=True)
    return path, colour, lines
