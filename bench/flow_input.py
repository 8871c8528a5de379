"""Which picture of the line art should optical flow run on, and at what size?

    python bench/flow_input.py        # about a minute on a 2-core CPU

1. Flow input: the sample clip's true line art (192x128); the seed (frame 100) pulled straight
   to frames 2, 5, 10, 20 and 31 later along DIS (medium) flow computed on: the raw lines,
   the lines blurred with sigma 1, 2 and 3, and tcvc's distance field. Mean PSNR against the
   true frames, with holding the seed as the reference row.
2. Flow size: model-free colouring (tcvc_cli.propagate) of the last 32 frames of the sample
   and of the sample at three times the pace, drawn at 960x540, with the flow measured at
   several short sides; mean PSNR and time per frame.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from tcvc_cli.motion import FlowField, line_field, warp
from tcvc_cli.propagate import Propagator, flow_dimensions
from tcvc_cli.sample import render_clip


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return min(60.0, 10 * np.log10(255**2 / max(np.mean((a.astype(float) - b.astype(float)) ** 2), 1e-9)))


def flow_inputs() -> None:
    colour, lines = render_clip(seed=11, frames=132, size=(192, 128))
    start, offsets = 100, (2, 5, 10, 20, 31)
    inputs = {"raw line art": lambda line: line, **{f"blur sigma {s}": (lambda line, s=s: cv2.GaussianBlur(line, (0, 0), s))
                                                    for s in (1, 2, 3)},
              "distance field (tcvc)": line_field}
    flow = FlowField("medium")
    print("| flow computed on | PSNR, seed pulled 2-31 frames ahead (dB) |\n|---|---|")
    print(f"| (hold the seed) | {np.mean([psnr(colour[start], colour[start + k]) for k in offsets]):.2f} |")
    for name, prepare in inputs.items():
        seed_view = prepare(lines[start])
        values = [psnr(warp(colour[start], flow(prepare(lines[start + k]), seed_view)), colour[start + k]) for k in offsets]
        print(f"| {name} | {np.mean(values):.2f} |")


def flow_sizes() -> None:
    clips = {"sample": render_clip(seed=11, frames=132, size=(960, 540)),
             "sample x3 pace": render_clip(seed=5, frames=132, size=(960, 540), pace=3.0)}
    print("\n| flow short side | " + " | ".join(f"PSNR {name} (dB)" for name in clips) + " | ms per frame (960x540) |")
    print("|---|" + "---|" * len(clips) + "---|")
    for side in (135, 180, 270, 360, 540):
        scores, seconds, frames = [], 0.0, 0
        for colour, lines in clips.values():
            colour, lines = colour[-32:], lines[-32:]
            propagator = Propagator((960, 540), flow_dimensions(960, 540, side))
            anchor = propagator.reference(colour[0], lines[0])
            previous, outputs = anchor, [colour[0]]
            started = time.perf_counter()
            for line in lines[1:]:
                carried = propagator.carry(line, anchor, previous)
                previous = carried.reference
                outputs.append(carried.colour)
            seconds += time.perf_counter() - started
            frames += len(lines) - 1
            scores.append(np.mean([psnr(a, b) for a, b in zip(outputs, colour)]))
        print(f"| {side} | " + " | ".join(f"{s:.2f}" for s in scores) + f" | {1000 * seconds / frames:.0f} |")


if __name__ == "__main__":
    flow_inputs()
    flow_sizes()
