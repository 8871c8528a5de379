"""A new character: fine-tune a trained model on a few corrected frames, and what it forgets.

    OMP_NUM_THREADS=1 python bench/finetune.py --out bench/results/finetune

The base model trains on sample clips without the visitor (a character of fixed design: violet
robe, teal face, gold band; tcvc_cli/sample.py). Held-out clips where the visitor walks in after
the seed frame test it: the seed cannot show the visitor's colours, so only the model can paint
them. Corrected frames (the true colour frames of other clips showing the visitor, standing for
an artist's corrections, named by scattered frame numbers as a correction folder is) are used
to fine-tune with `--init-from`, with the fine-tuning defaults, and with and without replay of
the base data.

The new character walks in from the right after the seed frame in two held-out clips, and is in
view when a later shot without a keyframe starts in two others (a cut at frame 10, detected as
colorize detects cuts). Of the two old clips, one has a cut too.

Rows, each colouring every held-out clip from its first ground-truth frame:
- repeat seed; the seed pulled along optical flow; model-free colorize (no model);
- the base model, with colorize's defaults and with the previous default --cut-reset seed;
- the base model fine-tuned on N = 1, 5, 20 corrected frames, replaying the base data;
- N = 5 without replay, and N = 5 with the previous fine-tuning schedule.
The models train at the clips' own size (--size, default 128: the tiny preset's 64 would halve
the visitor), and fine-tunes inherit it from the base model.

Reported: PSNR on the visitor's pixels of the new-character clips (where the character is),
PSNR of the whole frames of the new-character clips, PSNR of the old clips (forgetting), and
the wall time of each fine-tune. Every model trains on the true line art (--lineart-dir), so the
line-art simulation does not enter; L1 + adversarial losses (no pretrained VGG-19 here).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import psnr_where, publish_table, slug, where_differs  # noqa: E402
from motion import flow_warped_seed  # noqa: E402

from tcvc_cli import media  # noqa: E402
from tcvc_cli.checkpoint import load_generator, read_metadata, sha256_of  # noqa: E402
from tcvc_cli.colorize import ColorizeOptions, Colorizer  # noqa: E402
from tcvc_cli.evaluate import EvaluateOptions, evaluate  # noqa: E402
from tcvc_cli.sample import render_clip, write_clip  # noqa: E402
from tcvc_cli.train import FINETUNE, FINETUNE_REPLAY_FRACTION, train, train_preset  # noqa: E402

SIZE = (192, 128)
BASE_SEEDS = range(0, 8)
OLD_SEEDS = (20, 21)
# The new character walks in from the right edge after the seed frame (30, 32), or is in view
# when a later shot starts, which has no keyframe (31, 33: a cut at frame 10).
NEW_CLIPS = {30: dict(visitor_from=4), 31: dict(cut_at=10, visitor_from=10, visitor_start=0.75),
             32: dict(visitor_from=4), 33: dict(cut_at=10, visitor_from=10, visitor_start=0.75)}
CORRECTION_SEEDS = range(40, 60)


def _write_pair(root: Path, name: str, colour: list[np.ndarray], lines: list[np.ndarray]) -> None:
    write_clip(root / "colour" / name, colour)
    write_clip(root / "lineart" / name, lines)


def build(root: Path, frames: int) -> dict:
    """Base data, held-out old and new clips (with the visitor's pixels), and the pool of corrections."""
    shutil.rmtree(root, ignore_errors=True)
    for seed in BASE_SEEDS:
        colour, lines = render_clip(seed=seed, frames=frames, size=SIZE)
        _write_pair(root / "base", f"clip{seed:02d}", colour, lines)
    tests = {}
    cases = [("old", seed, {"cut_at": 10} if seed % 2 else {}) for seed in OLD_SEEDS]
    cases += [("new", seed, options) for seed, options in NEW_CLIPS.items()]
    for kind, seed, options in cases:
        visitor = options.get("visitor_from")
        colour, lines = render_clip(seed=seed, frames=frames, size=SIZE, **options)
        name = f"{kind}{seed}"
        truth = write_clip(root / "test" / f"{name}_gt", colour)
        line_path = write_clip(root / "test" / f"{name}_lineart", lines)
        media.write_image(root / "test" / f"{name}_seed.png", colour[0])
        mask = None
        if visitor is not None:  # where the visitor is: the frames differ from the same clip without it
            plain, _ = render_clip(seed=seed, frames=frames, size=SIZE, cut_at=options.get("cut_at"))
            mask = where_differs(colour, plain)
            np.save(root / "test" / f"{name}_mask.npy", mask)
        tests[name] = {"kind": kind, "truth": str(truth), "lines": str(line_path),
                       "seed": str(root / "test" / f"{name}_seed.png")}
    # Corrections: one frame from each of 20 other clips, the visitor in full view, numbered as
    # a correction folder is (scattered frame numbers, no sequence).
    pool = []
    for k, seed in enumerate(CORRECTION_SEEDS):
        colour, lines = render_clip(seed=seed, frames=28, size=SIZE, visitor_from=0)
        pool.append((1000 + 37 * k, colour[10 + (5 * k) % 17], lines[10 + (5 * k) % 17]))
    for n in (1, 5, 20):
        for part in ("colour", "lineart"):
            (root / f"fix{n}" / part / "fixes").mkdir(parents=True)
        for number, colour, lines in pool[:n]:
            media.write_image(root / f"fix{n}" / "colour" / "fixes" / f"ep07.{number}.png", colour)
            media.write_image(root / f"fix{n}" / "lineart" / "fixes" / f"ep07.{number}.png", lines)
    return tests


def settings(**extra) -> dict:
    return dict(workers=0, seed=1, checkpoint_epochs=False, vgg_weights="random", lambda_content=0.0, lambda_style=0.0,
                **extra)


def train_base(root: Path, steps: int, preset: str, size: int) -> tuple[Path, float]:
    config = train_preset(preset, data_dir=str(root / "base" / "colour"), lineart_dir=str(root / "base" / "lineart"),
                          max_steps=steps, epochs=100_000, val_fraction=0.0, checkpoint_every=100_000,
                          sample_every=100_000, **settings())
    config = replace(config, model=replace(config.model, image_size=size))
    started = time.perf_counter()
    for _ in train(config, root / "run-base"):
        pass
    return root / "run-base" / "generator-latest.safetensors", time.perf_counter() - started


# The fine-tuning schedule before this benchmark chose the current one.
PREVIOUS_SCHEDULE = {"lr_g": 1e-4, "max_steps": 1000}


def fine_tune(root: Path, base: Path, n: int, replay: bool, preset: str, steps: int | None,
              schedule: dict | None = None) -> tuple[Path, float]:
    """`tcvc train FIXES --init-from BASE [--replay BASE_DATA]` with the fine-tuning defaults."""
    model, extra = read_metadata(base)
    suffix = ("-replay" if replay else "") + ("-previous" if schedule else "")
    schedule = {**FINETUNE, **({"max_steps": steps} if steps else {}), **(schedule or {})}
    config = train_preset(preset, data_dir=str(root / f"fix{n}" / "colour"), lineart_dir=str(root / f"fix{n}" / "lineart"),
                          **schedule, **settings())
    config = replace(config, model=model,
                     init_from={"reference": str(base), "path": str(base), "sha256": sha256_of(base), "lineage": []},
                     replay_dir=str(root / "base" / "colour") if replay else None,
                     replay_lineart_dir=str(root / "base" / "lineart") if replay else None,
                     replay_fraction=FINETUNE_REPLAY_FRACTION if replay else 0.0)
    run = root / f"run-fix{n}{suffix}"
    started = time.perf_counter()
    for _ in train(config, run):
        pass
    return run / "generator-latest.safetensors", time.perf_counter() - started


def colour_all(model: Path | None, tests: dict, out: Path, **options) -> dict[str, Path]:
    colorizer = Colorizer(load_generator(model) if model else None, ColorizeOptions(device="cpu", **options))
    return {name: Path(colorizer.colorize(Path(t["lines"]), out / name, seed_frame=Path(t["seed"]), overwrite=True).output)
            for name, t in tests.items()}


def score(outputs: dict[str, Path], tests: dict, root: Path) -> dict:
    old, new, visitor = [], [], []
    for name, output in outputs.items():
        truth = Path(tests[name]["truth"])
        result = evaluate([output], truth, options=EvaluateOptions(fid="off", scene_detect=False))
        (old if tests[name]["kind"] == "old" else new).append(result["predictions"][0]["psnr"])
        if tests[name]["kind"] == "new":
            visitor.append(psnr_where(output, truth, np.load(root / "test" / f"{name}_mask.npy")))
    return {"visitor_psnr": float(np.mean(visitor)) if visitor else None, "new_clip_psnr": float(np.mean(new)),
            "old_clip_psnr": float(np.mean(old))}


def write(results: dict, out: Path, note: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    base = next(r for r in results["rows"] if r["row"] == "base model")
    lines = ["| row | visitor pixels PSNR | new-character clips PSNR | old clips PSNR | fine-tune wall time |",
             "|---|---|---|---|---|"]
    for row in results["rows"]:
        change = ""
        if row["row"].startswith("fine-tuned"):  # against the base model, coloured the same way
            change = (f" ({row['visitor_psnr'] - base['visitor_psnr']:+.2f})", f" ({row['old_clip_psnr'] - base['old_clip_psnr']:+.2f})")
        seconds = f"{row['seconds']:.0f} s" if row.get("seconds") is not None else "-"
        lines.append(f"| {row['row']} | {row['visitor_psnr']:.2f}{change[0] if change else ''} | {row['new_clip_psnr']:.2f} | "
                     f"{row['old_clip_psnr']:.2f}{change[1] if change else ''} | {seconds} |")
    publish_table(out, lines, note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-steps", type=int, default=2000)
    parser.add_argument("--finetune-steps", type=int, default=None, help="default: the fine-tuning schedule's")
    parser.add_argument("--frames", type=int, default=40, help="frames of each clip")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--size", type=int, default=SIZE[1], help="the model's training size (default: the clips' short side)")
    parser.add_argument("--only-base", action="store_true", help="build the data and train the base model, then stop")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "finetune")
    args = parser.parse_args()
    command = shlex.join(["python", "bench/finetune.py", *sys.argv[1:]])
    work = args.out / "work"
    started = time.perf_counter()
    tests = build(work, args.frames)
    rows = [{"row": "repeat seed", **score({n: write_clip(work / "repeat" / n, [media.read_image(Path(t["seed"]))] * args.frames)
                                            for n, t in tests.items()}, tests, work)},
            {"row": "flow-warped seed", **score({n: write_clip(work / "flow-warped" / n, flow_warped_seed(
                media.read_image(Path(t["seed"])), [media.read_image(p) for p in media.list_frames(Path(t["lines"]))]))
                for n, t in tests.items()}, tests, work)},
            {"row": "model-free colorize", **score(colour_all(None, tests, work / "out-model-free"), tests, work)}]
    base, base_seconds = train_base(work, args.base_steps, args.preset, args.size)
    if args.only_base:
        return
    rows.append({"row": "base model", "train_seconds": base_seconds, **score(colour_all(base, tests, work / "out-base"), tests, work)})
    rows.append({"row": "base model, --cut-reset seed (the previous default)",
                 **score(colour_all(base, tests, work / "out-base-seed", cut_reset="seed"), tests, work)})
    runs = [(1, True, None), (5, True, None), (20, True, None), (5, False, None), (5, True, PREVIOUS_SCHEDULE)]
    for n, replay, schedule in runs:
        label = f"fine-tuned on {n} corrected frame{'s' if n > 1 else ''}" + ("" if replay else ", no replay")
        if schedule:
            label += f", previous schedule (lr {schedule['lr_g']:g}, {schedule['max_steps']} steps)"
        model, seconds = fine_tune(work, base, n, replay, args.preset, args.finetune_steps, schedule)
        rows.append({"row": label, "seconds": seconds, **score(colour_all(model, tests, work / f"out-{slug(label)}"), tests, work)})
    note = (f"{args.preset} preset; base model {args.base_steps} steps ({base_seconds / 60:.1f} min); fine-tunes "
            f"{args.finetune_steps or FINETUNE['max_steps']} steps at lr {FINETUNE['lr_g']:g}, replay fraction "
            f"{FINETUNE_REPLAY_FRACTION}. Total {(time.perf_counter() - started) / 60:.1f} min on one CPU thread (`{command}`).")
    write({"rows": rows, "command": command}, args.out, note)


if __name__ == "__main__":
    main()
