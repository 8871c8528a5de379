"""The paper's Table I in miniature: tcvc vs tcvc without the previous frame vs pix2pix.

    python bench/table1.py --quick                       # minutes
    python bench/table1.py                               # under an hour on a 2-core CPU
    python bench/table1.py --vgg-weights PATH --inception-weights PATH   # with the real networks

Three models get the same data and the same number of steps (small preset, 128 px):
  tcvc            temporal conditioning (default training options) + content/style losses
  tcvc, no prev   the same, but never conditioned on a previous frame
  pix2pix         the paper's baseline: U-Net on line art only, adversarial + L1
Each colours the held-out end of the same footage (feedback loop, seed frame = the first
held-out ground-truth frame) and is evaluated: FID, SSIM, PSNR, warping error, tOF, CDC.
Footage: the built-in sample and Big Buck Bunny ((c) Blender Foundation, CC-BY 3.0), with
synthetic Canny line art. Without pretrained VGG-19 weights the content and style losses use
an untrained VGG (--vgg-weights random, the default here, as no weights can be downloaded);
without the FID Inception weights FID is skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import colour, footage, slug, split, train_model  # noqa: E402

from tcvc_cli.evaluate import EvaluateOptions, evaluate, format_table  # noqa: E402

MODELS = {
    "tcvc": dict(preset="small"),
    "tcvc, no prev": dict(preset="small", use_previous=False),
    "pix2pix": dict(preset="pix2pix", image_size=128, batch_size=8),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--held-out", type=int, default=32)
    parser.add_argument("--vgg-weights", default="random")
    parser.add_argument("--inception-weights", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "table1")
    args = parser.parse_args()
    steps = args.steps or (80 if args.quick else 600)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sections, results = [], {}
    for name, frames in footage(args.quick).items():
        parts = split(frames, args.out / "work" / name, args.held_out)
        outputs = {}
        for label, options in MODELS.items():
            losses = {} if options["preset"] == "pix2pix" else dict(vgg_weights=args.vgg_weights, lambda_content=1.0, lambda_style=1000.0)
            model, _ = train_model(parts.data, parts.root / f"run-{slug(label)}", steps, args.device, **options, **losses)
            outputs[label] = colour(model, parts.lineart, parts.root / f"out-{slug(label)}", args.device, seed=parts.seed)
        result = evaluate(list(outputs.values()), parts.truth, lineart=parts.lineart,
                          options=EvaluateOptions(fid=args.inception_weights, scene_detect=True, device=args.device),
                          report=parts.root / "report")
        for label, prediction in zip(outputs, result["predictions"]):
            prediction["name"] = label
        results[name] = result
        rows = format_table(result)
        lines = [f"\n### {name}: {len(frames) - args.held_out} training frames, {args.held_out} held out, {steps} steps per model\n",
                 "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        sections.append("\n".join(lines))
    elapsed = time.perf_counter() - started
    command = " ".join(["python bench/table1.py", *sys.argv[1:]])
    text = "\n".join(sections) + f"\n\nTotal time {elapsed / 60:.1f} min on {args.device} (`{command}`).\n"
    (args.out / "table.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
