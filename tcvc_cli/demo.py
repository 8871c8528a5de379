"""`tcvc demo`: the whole job on the built-in sample, end to end, in a few minutes on a CPU.

1. render coloured training clips with their line art, and a held-out continuation of one
   of them (with a soundtrack): the frames a studio colours next;
2. train the tiny preset on the training clips;
3. colour the held-out line art from a seed frame (its first coloured frame);
4. evaluate against the held-out colour frames and draw line art | tcvc | ground truth.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from . import media
from .model.checkpoint import load_generator
from .colorize import ColorizeOptions, Colorizer
from .errors import OutputError
from .evaluate import EvaluateOptions, evaluate
from .sample import render_clip, write_clip
from .train import train, train_preset

Step = Callable[[str], None]

TRAIN_CLIPS = 10
TRAIN_FRAMES = 24
HELD_OUT_FRAMES = 48
TRAIN_STEPS = 6000
HELD_OUT_SEED = 3


def run_demo(out_dir: Path, *, overwrite: bool = False, steps: int = TRAIN_STEPS, device: str = "cpu",
             step: Step = lambda message: None, progress: Callable[[int, int], None] | None = None) -> dict:
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(f"{out_dir}: already exists and is not empty", hint="pass --overwrite or choose another -o")
    media.ensure_writable_dir(out_dir)
    fps = Fraction(12)

    step(f"rendering {TRAIN_CLIPS} coloured training clips and a held-out clip")
    data, data_lines = out_dir / "training_clips", out_dir / "training_lineart"
    for index in range(TRAIN_CLIPS):
        colour, lines = render_clip(seed=index, frames=TRAIN_FRAMES, size=(96, 64))
        write_clip(data / f"clip{index:02d}", colour, fps)
        write_clip(data_lines / f"clip{index:02d}", lines, fps)  # the artists' line art, as a studio has it
    # The held-out clip is what a studio colours next: later, unseen frames of a show the model
    # was trained on (here: clip 3 continues), at twice the training resolution.
    held_colour, held_lines = render_clip(seed=HELD_OUT_SEED, frames=TRAIN_FRAMES + HELD_OUT_FRAMES, size=(192, 128))
    held_colour, held_lines = held_colour[TRAIN_FRAMES:], held_lines[TRAIN_FRAMES:]
    truth = write_clip(out_dir / "held_out_colour.mp4", held_colour, fps, audio=True)
    lineart = write_clip(out_dir / "held_out_lineart.mp4", held_lines, fps, audio=True)
    seed = out_dir / "seed_frame.png"
    media.write_image(seed, held_colour[0])

    step(f"training the tiny preset for {steps} steps (pretrained VGG-19 is not needed: L1 + adversarial losses)")
    config = train_preset("tiny", data_dir=str(data.resolve()), lineart_dir=str(data_lines.resolve()), max_steps=steps,
                          epochs=10_000, vgg_weights="random", lambda_content=0.0, lambda_style=0.0, val_fraction=0.1,
                          checkpoint_every=max(50, steps // 4), checkpoint_epochs=False)
    run_dir = out_dir / "run"
    for event in train(config, run_dir, device=device):
        if event["type"] == "step" and progress:
            progress(event["step"], steps)

    step("colouring the held-out line art from its seed frame, with no model and with the trained one")
    free = Colorizer(None, ColorizeOptions(device=device)).colorize(lineart, out_dir / "model_free_result.mp4",
                                                                     seed_frame=seed, overwrite=True)
    colorizer = Colorizer(load_generator(run_dir), ColorizeOptions(device=device))
    result = colorizer.colorize(lineart, out_dir / "tcvc_result.mp4", seed_frame=seed, overwrite=True)

    step("evaluating against the held-out colour frames")
    free_metrics, metrics = evaluate([Path(free.output), Path(result.output)], truth,
                                     options=EvaluateOptions(fid="off"))["predictions"]
    coloured = []
    for path in (free.output, result.output):
        with media.open_source(path) as source:
            coloured.append(list(source))
    sheet = out_dir / "side_by_side.png"
    media.write_image(sheet, side_by_side(held_lines, coloured, held_colour))

    def rounded(values: dict) -> dict:
        return {"psnr": round(values["psnr"], 2), "ssim": round(values["ssim"], 4),
                "warp_error": round(values["warp_error"], 5) if values["warp_error"] is not None else None}

    return {"result_video": result.output, "model_free_video": free.output, "side_by_side": str(sheet), "run": str(run_dir),
            "frames": result.frames, **rounded(metrics), "model_free": rounded(free_metrics)}


def side_by_side(lines: list[np.ndarray], coloured: list[list[np.ndarray]], truth: list[np.ndarray], rows: int = 5) -> np.ndarray:
    """Rows of line art | each colouring (model-free, model) | ground truth, from the first frame to the last."""
    picks = np.linspace(0, len(truth) - 1, rows).round().astype(int)
    out = []
    for index in picks:
        row = np.concatenate([cv2.cvtColor(lines[index], cv2.COLOR_GRAY2RGB), *(c[index] for c in coloured), truth[index]], 1)
        cv2.putText(row, f"frame {index}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (200, 0, 0), 1, cv2.LINE_AA)
        out.append(row)
    return np.concatenate(out, 0)
