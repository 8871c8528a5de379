"""Speed of colouring along the line art's motion, measured side by side in one run.

    python bench/motion_speed.py            # 1080p model-free colouring; motion-compensated vs plain model
    python bench/motion_speed.py --model-free-only

1. Model-free colorize of 1080p line art (the sample drawn at 1920x1080, H.264 out, audio
   kept): frames per second, end to end, median of --repeats runs.
2. Model colouring at the default work size of 640x360 line art, for the default `paper`
   preset (256 px) and the `small` one (128 px): a plain-condition model against the same
   model with the motion-compensated condition (one more input channel; the motion measured
   at 270 px or the work size, whichever is larger). Prints the ratio of their times.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from colorize_bench import median_time

from tcvc_cli import media
from tcvc_cli.checkpoint import load_generator, save_generator
from tcvc_cli.colorize import ColorizeOptions, Colorizer
from tcvc_cli.config import model_preset
from tcvc_cli.networks import define_generator
from tcvc_cli.sample import render_clip, write_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-free-only", action="store_true", help="measure the 1080p model-free row alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        colour, lines = render_clip(seed=2, frames=args.frames, size=(1920, 1080))
        big = write_clip(tmp / "lines1080.mp4", lines, audio=True, lossless=False)
        media.write_image(tmp / "seed1080.png", colour[0])
        free = Colorizer(None, ColorizeOptions(scene_detect=True))
        seconds = median_time(lambda: free.colorize(big, tmp / "free.mp4", seed_frame=tmp / "seed1080.png", overwrite=True),
                                 args.repeats)
        print(f"model-free colorize, 1920x1080, {args.frames} frames: {args.frames / seconds:.2f} frames/s "
              f"(median of {args.repeats})")
        if args.model_free_only:
            return

        colour, lines = render_clip(seed=2, frames=args.frames, size=(640, 360))
        small = write_clip(tmp / "lines360.mp4", lines, lossless=False)
        media.write_image(tmp / "seed360.png", colour[0])
        for preset in ("paper", "small"):
            models = {}
            for condition in ("previous", "motion"):
                torch.manual_seed(0)
                config = model_preset(preset).with_overrides(condition=condition)
                path = save_generator(tmp / f"{preset}-{condition}.safetensors", define_generator(config), config)
                models[condition] = Colorizer(load_generator(path), ColorizeOptions(device="cpu"))
            timings = {condition: [] for condition in models}
            for _ in range(args.repeats):  # interleaved, so both see the same machine load
                for condition, colorizer in models.items():
                    started = time.perf_counter()
                    colorizer.colorize(small, tmp / f"{condition}.mp4", seed_frame=tmp / "seed360.png", overwrite=True)
                    timings[condition].append(time.perf_counter() - started)
            plain, motion = (statistics.median(timings[c]) for c in ("previous", "motion"))
            print(f"model colouring, 640x360 at the {preset} preset's work size: plain {args.frames / plain:.1f} frames/s, "
                  f"motion-compensated {args.frames / motion:.1f} frames/s, ratio {motion / plain:.3f} "
                  f"(+{(motion / plain - 1) * 100:.1f}%)")


if __name__ == "__main__":
    main()
