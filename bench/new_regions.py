"""Content new to a shot, painted again in every frame or carried from the previous output.

    OMP_NUM_THREADS=1 python bench/new_regions.py

Colours again, with the models earlier benchmark runs trained and left in their work folders
(bench/motion.py --clips bunny --out bench/results/motion-bunny; bench/lineart_modes.py), each
held-out clip twice: with colorize's rule (line-enclosed regions the anchor explains nowhere
are painted by the model in every frame) and with the earlier one (the previous output carried
wherever its motion is consistent). Prints PSNR and warping error of both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tcvc_cli.checkpoint import load_generator  # noqa: E402
from tcvc_cli.colorize import ColorizeOptions, Colorizer  # noqa: E402
from tcvc_cli.evaluate import EvaluateOptions, evaluate  # noqa: E402
from tcvc_cli.propagate import Propagator  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def cases(motion: Path, lineart: Path) -> list[tuple[str, Path, Path, Path, Path]]:
    found = []
    bunny = motion / "work" / "bunny"
    if (bunny / "run-tcvc-motion-compensated").is_dir():
        found.append(("bunny, motion-compensated", bunny / "run-tcvc-motion-compensated" / "generator-latest.safetensors",
                      bunny / "test_lineart", bunny / "test_gt", bunny / "seed.png"))
    for run in sorted((lineart / "work").glob("run-*")):
        for truth in sorted((lineart / "work" / "test").glob("*_gt")):
            clip = truth.name[:-3]
            found.append((f"{run.name[4:]}, {clip}", run / "generator-latest.safetensors", truth.parent / f"{clip}_lineart",
                          truth, truth.parent / f"{clip}_seed.png"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--motion", type=Path, default=RESULTS / "motion-bunny")
    parser.add_argument("--lineart", type=Path, default=RESULTS / "lineart_modes")
    parser.add_argument("--out", type=Path, default=RESULTS / "new_regions" / "work")
    args = parser.parse_args()
    repaint = Propagator._new_regions
    print("| model, clip | carried: PSNR | warping error | repainted: PSNR | warping error |\n|---|---|---|---|---|")
    for name, model, lines, truth, seed in cases(args.motion, args.lineart):
        row = []
        for rule in ("carried", "repainted"):
            Propagator._new_regions = repaint if rule == "repainted" else (lambda self, line, known: np.zeros(line.shape[:2], bool))
            colorizer = Colorizer(load_generator(model), ColorizeOptions(scene_detect=False, device="cpu"))
            output = colorizer.colorize(lines, args.out / name.replace(", ", "-") / rule, seed_frame=seed, overwrite=True).output
            scored = evaluate([Path(output)], truth, options=EvaluateOptions(fid="off", scene_detect=False))["predictions"][0]
            row.append(f"{scored['psnr']:.2f} | {scored['warp_error']:.5f}")
        print(f"| {name} | {' | '.join(row)} |", flush=True)
    Propagator._new_regions = repaint


if __name__ == "__main__":
    main()
