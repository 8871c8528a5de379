"""Which frames should an artist paint? Suggested keyframes against evenly spaced ones and an oracle.

    python bench/keyframes.py                          # five clips, N = 1, 2, 4: about 15 minutes on 2 cores
    python bench/keyframes.py --clips wolf --counts 2

On each clip (the real-line-art clips of bench/realart.py, the built-in sample, Big Buck Bunny
at 640x360 with Canny line art; 48 frames, one shot) the true colour frames stand in for the
artist's painting. The seed frame is frame 0; for N = 1, 2 and 4 more keyframes, tcvc colours
the clip without a model from the seed and the true frames of:

- `suggested`: tcvc's suggestion (`--suggest-keyframes N`, greedy on what painting each frame
  would explain);
- `least`: the cheap proxy (`--suggest-method least`: paint where the least is explained);
- `even`: N frames evenly spaced after the seed (frame round(i 48 / (N + 1)));
- `even, ends`: N frames evenly spaced up to the last frame (round(i 47 / N));
- `oracle`: the N frames of worst PSNR when coloured from the seed alone (a real artist does not
  know them).

Each row is the PSNR of the whole clip (mean squared error over all 48 frames, painted frames
included: they come out as painted). Beside it, the time to compute the suggestion and the time
of one colouring pass of the clip.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realart import CLIPS, colorize_with, frames_of, load_clip  # noqa: E402

from tcvc_cli import media  # noqa: E402
from tcvc_cli.colorize.suggest import even_frames, explain_short_side, suggest_frames  # noqa: E402
from tcvc_cli.metrics import mse, psnr_from_mse  # noqa: E402
from tcvc_cli.motion.explain import Explainer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("even", "even, ends", "least", "suggested", "oracle")


def clip_psnr(frames: list[np.ndarray], truth: list[np.ndarray]) -> float:
    """PSNR of the whole clip: of the mean squared error over all its frames."""
    return psnr_from_mse(statistics.fmean(mse(f, t) for f, t in zip(frames, truth)))


def colour(work: Path, name: str, keyframes: list[int], colour_frames: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """Colour the clip's line art from the seed and the true frames at `keyframes`; (frames, seconds)."""
    keys = None
    if keyframes:
        keys = work / f"keys-{name}"
        keys.mkdir()
        for index in keyframes:
            media.write_image(keys / f"{index:06d}.png", colour_frames[index])
    started = time.perf_counter()
    output = colorize_with(None, work / "lines", work / f"out-{name}", seed_frame=work / "seed.png", keyframes=keys)
    seconds = time.perf_counter() - started
    return frames_of(output), seconds


def run_clip(name: str, counts: list[int], frames: int, realart: Path) -> dict:
    colour_frames, lines = load_clip(name, realart, frames)
    length = len(lines)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "lines").mkdir()
        for index, line in enumerate(lines):
            media.write_image(work / "lines" / f"{index:06d}.png", line)
        media.write_image(work / "seed.png", colour_frames[0])
        seed_only, pass_seconds = colour(work, "seed", [], colour_frames)
        per_frame = [mse(f, t) for f, t in zip(seed_only, colour_frames)]
        row = {"clip": name, "frames": length, "seed_only": clip_psnr(seed_only, colour_frames),
               "pass_seconds": pass_seconds, "counts": {}}
        for count in counts:
            sets = {"even": even_frames(length, [0], count),
                    "even, ends": sorted({min(length - 1, round(i * (length - 1) / count)) for i in range(1, count + 1)}),
                    "oracle": sorted(int(i) for i in np.argsort(per_frame)[::-1][:count])}
            seconds = {}
            for method, key in (("least", "least"), ("suggested", "greedy")):
                started = time.perf_counter()
                # As colorize does it: the motion weighed at the size the count affords.
                fresh = Explainer(lines, explain_short_side(*lines[0].shape[1::-1], count))
                budget = pass_seconds - (time.perf_counter() - started)  # as colorize gives it: one pass
                sets[method] = suggest_frames(fresh, [0], count, key, budget=budget)
                seconds[method] = time.perf_counter() - started
            scores = {}
            for method in METHODS:
                coloured, _ = colour(work, f"{method.replace(', ', '-')}-{count}", sets[method], colour_frames)
                scores[method] = clip_psnr(coloured, colour_frames)
            row["counts"][str(count)] = {"frames": sets, "psnr": scores, "suggest_seconds": seconds}
            print(f"{name} N={count}: " + ", ".join(f"{m} {scores[m]:.2f} {sets[m]}" for m in METHODS)
                  + f"; suggestion {seconds['suggested']:.1f} s, pass {pass_seconds:.1f} s", flush=True)
    return row


def markdown(results: list[dict], counts: list[int]) -> str:
    lines = ["| clip | N | seed only | even | even, ends | least | **suggested** | oracle | suggestion s | one pass s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in results:
        for count in counts:
            entry = row["counts"][str(count)]
            psnr = entry["psnr"]
            lines.append(f"| {row['clip']} | {count} | {row['seed_only']:.2f} | " + " | ".join(
                f"{psnr[m]:.2f}" if m != "suggested" else f"**{psnr[m]:.2f}**" for m in METHODS)
                + f" | {entry['suggest_seconds']['suggested']:.1f} | {row['pass_seconds']:.1f} |")
    for count in counts:
        means = {m: statistics.fmean(row["counts"][str(count)]["psnr"][m] for row in results) for m in METHODS}
        lines.append(f"| **mean** | {count} | {statistics.fmean(r['seed_only'] for r in results):.2f} | "
                     + " | ".join(f"{means[m]:.2f}" for m in METHODS) + " | | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--counts", default="1,2,4")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--realart", type=Path, default=ROOT.parent / "shared" / "realart")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "keyframes")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    results = [run_clip(name, counts, args.frames, args.realart) for name in args.clips.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results, counts)
    (args.out / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
