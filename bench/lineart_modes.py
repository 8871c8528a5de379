"""Which synthetic line art trains the model that colours true line art best.

    OMP_NUM_THREADS=1 python bench/lineart_modes.py --out bench/results/lineart_modes

One model per line-art mode, each trained on the same coloured sample clips with line art
drawn by that mode (`--lineart-mode`, `--lineart-augment`). The upper bound is a model trained
on the clips' true line-art twins (`--lineart-dir`): the drawn outlines the colour frames
were painted from. Every model then colours held-out clips' true line art, standing for an
artist's, from the first ground-truth frame. Reference rows: the seed repeated, the seed
pulled along optical flow, and model-free colouring (no model). "Gap closed" is how much of the
distance from the Canny model to the upper bound a mode covers, in PSNR. Models use L1 +
adversarial losses (no pretrained VGG-19 here) and the same budget of steps.

Every training clip shows the visitor (a character of fixed colours, tcvc_cli/sample.py), the
one thing in the sample a model can learn to colour from line art alone (the other palettes
are drawn at random per shot). The held-out clips make the model paint it: it walks in after
the seed frame ("walk-in"), or is in view when a new shot starts without a keyframe at frame
10, where the model paints the shot's first frame from its line art ("cut"); "fast" is the
sample at three times the pace with the visitor in view throughout. The visitor's pixels are
also scored apart.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import psnr_where, publish_table, slug, where_differs  # noqa: E402

from tcvc_cli import media  # noqa: E402
from tcvc_cli.checkpoint import load_generator  # noqa: E402
from tcvc_cli.colorize import ColorizeOptions, Colorizer  # noqa: E402
from tcvc_cli.evaluate import EvaluateOptions, evaluate  # noqa: E402
from tcvc_cli.lineart import AUGMENTS, LineartParams  # noqa: E402
from tcvc_cli.sample import render_clip, write_clip  # noqa: E402
from motion import flow_warped_seed  # noqa: E402
from tcvc_cli.train import train, train_preset  # noqa: E402

SIZE = (192, 128)
TRAIN_SEEDS = range(0, 8)
TEST_CLIPS = {"walk-in": dict(seed=20, visitor_from=4), "cut": dict(seed=21, cut_at=10, visitor_from=10, visitor_start=0.75),
              "fast": dict(seed=22, pace=3.0, visitor_from=0, visitor_start=0.9)}
MODES = {
    "canny (the paper)": LineartParams(method="canny"),
    "xdog": LineartParams(method="xdog"),
    "thinned": LineartParams(method="thinned"),
    "canny + augmentations": LineartParams(method="canny", augment=AUGMENTS),
    "xdog + augmentations": LineartParams(method="xdog", augment=AUGMENTS),
    "true line art (upper bound)": None,
}


def build(root: Path, frames: int) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    for seed in TRAIN_SEEDS:  # the visitor in view from a different place in each clip
        colour, lines = render_clip(seed=seed, frames=frames, size=SIZE, visitor_from=0, visitor_start=0.5 + 0.08 * seed)
        write_clip(root / "data" / f"clip{seed:02d}", colour)
        write_clip(root / "lineart" / f"clip{seed:02d}", lines)
    tests = {}
    for name, options in TEST_CLIPS.items():
        colour, lines = render_clip(frames=frames, size=SIZE, **options)
        plain, _ = render_clip(frames=frames, size=SIZE, seed=options["seed"], pace=options.get("pace", 1.0),
                               cut_at=options.get("cut_at"))
        key = slug(name)
        tests[name] = {"truth": write_clip(root / "test" / f"{key}_gt", colour),
                       "lines": write_clip(root / "test" / f"{key}_lineart", lines), "seed": root / "test" / f"{key}_seed.png",
                       "mask": root / "test" / f"{key}_visitor.npy"}
        media.write_image(tests[name]["seed"], colour[0])
        np.save(tests[name]["mask"], where_differs(colour, plain))
    return tests


def train_mode(root: Path, label: str, params: LineartParams | None, steps: int, preset: str, seed: int) -> tuple[Path, float]:
    run = root / f"run-{slug(label)}"
    options = dict(lineart_dir=str(root / "lineart")) if params is None else dict(input=params)
    config = train_preset(preset, data_dir=str(root / "data"), max_steps=steps, epochs=100_000, val_fraction=0.0,
                          checkpoint_every=100_000, sample_every=100_000, checkpoint_epochs=False, workers=0, seed=seed,
                          vgg_weights="random", lambda_content=0.0, lambda_style=0.0, **options)
    started = time.perf_counter()
    for _ in train(config, run):
        pass
    return run / "generator-latest.safetensors", time.perf_counter() - started


def score_outputs(outputs: dict[str, Path], tests: dict) -> dict:
    psnr, warp, visitor = [], [], []
    for name, test in tests.items():
        result = evaluate([outputs[name]], test["truth"], options=EvaluateOptions(fid="off", scene_detect=False))
        psnr.append(result["predictions"][0]["psnr"])
        warp.append(result["predictions"][0]["warp_error"])
        visitor.append(psnr_where(outputs[name], test["truth"], np.load(test["mask"])))
    return {"psnr": sum(psnr) / len(psnr), "warp_error": sum(warp) / len(warp), "visitor_psnr": sum(visitor) / len(visitor),
            "per_clip_psnr": dict(zip(tests, psnr))}


def score(model: Path | None, tests: dict, out: Path) -> dict:
    colorizer = Colorizer(load_generator(model) if model else None, ColorizeOptions(device="cpu"))
    return score_outputs({name: Path(colorizer.colorize(test["lines"], out / slug(name), seed_frame=test["seed"],
                                                        overwrite=True).output) for name, test in tests.items()}, tests)


def score_references(tests: dict, work: Path, frames: int) -> list[dict]:
    repeat, warped = {}, {}
    for name, test in tests.items():
        seed = media.read_image(test["seed"])
        repeat[name] = write_clip(work / "repeat" / slug(name), [seed] * frames)
        lines = [media.read_image(p) for p in media.list_frames(test["lines"])]
        warped[name] = write_clip(work / "flow-warped" / slug(name), flow_warped_seed(seed, lines))
    return [{"row": "repeat seed", **score_outputs(repeat, tests)}, {"row": "flow-warped seed", **score_outputs(warped, tests)}]


def average_rows(rows: list[dict]) -> list[dict]:
    """One row per name, in first-seen order: the mean of its scores over the runs that have it."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["row"], []).append(row)
    merged = []
    for name, group in groups.items():
        row = {"row": name, "runs": len(group)}
        for key in ("psnr", "warp_error", "visitor_psnr"):
            row[key] = sum(r[key] for r in group) / len(group)
        row["per_clip_psnr"] = {clip: sum(r["per_clip_psnr"][clip] for r in group) / len(group) for clip in group[0]["per_clip_psnr"]}
        merged.append(row)
    return merged


def write(results: dict, out: Path, note: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    rows = {r["row"]: r for r in results["rows"]}
    clips = list(results["clips"])

    def closed(row: dict, key: str) -> str:
        """The share of the gap from the Canny model to the upper bound that a mode covers."""
        canny, upper = rows.get("canny (the paper)", {}).get(key), rows.get("true line art (upper bound)", {}).get(key)
        if row["row"] not in MODES or row["row"] in ("canny (the paper)", "true line art (upper bound)") or canny is None or upper is None:
            return "-"
        return f"{(row[key] - canny) / (upper - canny) * 100:.0f}%" if upper - canny > 0.05 else "no gap to close"

    lines = ["| row | " + " | ".join(f"PSNR {c}" for c in clips) + " | mean PSNR | visitor PSNR | warping error | gap closed "
             "(PSNR) | gap closed (visitor) |", "|---|" + "---|" * (len(clips) + 5)]
    for row in results["rows"]:
        per_clip = " | ".join(f"{row['per_clip_psnr'][c]:.2f}" for c in clips)
        lines.append(f"| {row['row']} | {per_clip} | {row['psnr']:.2f} | {row['visitor_psnr']:.2f} | {row['warp_error']:.5f} | "
                     f"{closed(row, 'psnr')} | {closed(row, 'visitor_psnr')} |")
    publish_table(out, lines, note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--modes", help="';'-separated subset of: " + "; ".join(MODES))
    parser.add_argument("--train-seed", type=int, default=1, help="seed of every model's training")
    parser.add_argument("--combine", type=Path, nargs="+", metavar="DIR",
                        help="merge the results of runs made in parts; rows that several runs share are averaged")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lineart_modes")
    args = parser.parse_args()
    command = shlex.join(["python", "bench/lineart_modes.py", *sys.argv[1:]])
    if args.combine:
        parts = [json.loads((folder / "results.json").read_text()) for folder in args.combine]
        rows = average_rows([row for part in parts for row in part["rows"]])
        notes = " ".join((folder / "results.md").read_text().strip().rsplit("\n", 1)[-1] for folder in args.combine)
        write({"rows": rows, "clips": parts[0]["clips"], "command": command}, args.out, f"Merged by `{command}` from: {notes}")
        return
    chosen = [m.strip() for m in args.modes.split(";")] if args.modes else list(MODES)
    work = args.out / "work"
    started = time.perf_counter()
    tests = build(work, args.frames)
    rows = [*score_references(tests, work, args.frames), {"row": "model-free colorize", **score(None, tests, work / "out-model-free")}]
    for label in chosen:
        model, seconds = train_mode(work, label, MODES[label], args.steps, args.preset, args.train_seed)
        rows.append({"row": label, "train_seconds": seconds, **score(model, tests, work / f"out-{slug(label)}")})
    note = (f"{args.preset} preset, {args.steps} steps per model (training seed {args.train_seed}), trained on {len(TRAIN_SEEDS)} sample clips of {args.frames} "
            f"frames with the visitor; total {(time.perf_counter() - started) / 60:.1f} min on one CPU thread (`{command}`).")
    write({"rows": rows, "clips": list(tests), "command": command}, args.out, note)


if __name__ == "__main__":
    main()
