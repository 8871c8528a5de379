"""SIGTERM, as Slurm (preemption, scancel), Kubernetes and systemd send it, to real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np

from tcvc_cli import media
from tcvc_cli.errors import EXIT_TERMINATED
from tcvc_cli.sample import render_clip, write_clip

from .test_train import make_data, start_long_training


def _wait_for(predicate, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and not predicate():
        time.sleep(0.1)


def test_sigterm_makes_train_save_a_resumable_checkpoint_and_exit_143(tmp_path):
    run_dir = tmp_path / "run"
    process = start_long_training(make_data(tmp_path / "data"), run_dir)
    sent = time.time()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert time.time() - sent < 60
    assert process.returncode == EXIT_TERMINATED, stderr[-1500:]
    assert "--resume" in stderr and "Traceback" not in stderr
    saved = sorted((run_dir / "checkpoints").glob("step-*.pt"))
    assert len(saved) == 1
    stopped_at = int(saved[0].stem.split("-")[1])
    resumed = subprocess.run([sys.executable, "-m", "tcvc_cli", "train", "--resume", str(run_dir),
                              "--max-steps", str(stopped_at + 2), "--json"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    assert json.loads(resumed.stdout)["step"] == stopped_at + 2


def test_sigterm_stops_colorize_and_resume_gives_the_uninterrupted_frames(tmp_path):
    colour, lines = render_clip(seed=8, frames=120, size=(256, 192))
    video = write_clip(tmp_path / "lines.mp4", lines)
    media.write_image(tmp_path / "seed.png", colour[0])
    base = [sys.executable, "-m", "tcvc_cli", "colorize", str(video), "--seed-frame", str(tmp_path / "seed.png")]
    whole = subprocess.run(base + ["-o", str(tmp_path / "whole")], capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr

    target = tmp_path / "cut"
    process = subprocess.Popen(base + ["-o", str(target), "--segment-frames", "8"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    work = tmp_path / ".cut.tcvc-partial"
    _wait_for(lambda: (work / "manifest.json").exists())
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT_TERMINATED, stderr[-1500:]
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not target.exists() and (work / "manifest.json").exists()

    resumed = subprocess.run(base + ["-o", str(target), "--resume", "--segment-frames", "8", "--json"], capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["results"][0]["resumed_from"] > 0
    first = [media.read_image(p) for p in media.list_frames(tmp_path / "whole")]
    second = [media.read_image(p) for p in media.list_frames(target)]
    assert len(second) == 120
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_one_train_command_line_serves_the_first_start_and_every_requeue(cli, tmp_path):
    data = make_data(tmp_path / "data")
    run_dir = tmp_path / "run"
    args = ["train", data, "--resume", run_dir, "--preset", "tiny", "--vgg-weights", "random", "--lambda-style", "0",
            "--lambda-content", "0", "--workers", "0", "--no-epoch-checkpoints", "--device", "cpu", "--json"]
    first = cli(*args, "--max-steps", "2")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["step"] == 2
    again = cli(*args, "--max-steps", "3")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["step"] == 3
