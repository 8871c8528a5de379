"""Which picture of artists' line art should optical flow follow, how, and at what size?

    python bench/flow_input.py                       # the real-line-art clips, about 5 minutes on 2 cores
    python bench/flow_input.py --clips wolf --methods dis,deepflow

On each real-line-art clip (bench/realart.py), the seed frame is pulled onto every frame
along the flow and scored by PSNR over all frames (the seed included), with no masks and no
line drawing, so only the motion is compared:

1. Flow input, for the flow straight from each frame to the seed (`direct`) and for the
   chain tcvc uses (the previous frame's positions moved along the step from the frame
   before, then refined by a flow against the seed): the lines blurred with sigma 1, 2 and
   4, the distance field of the lines (tcvc's input before), and their mean.
2. Flow method on the blurred lines: OpenCV's DIS at its medium preset (tcvc's), and, where
   OpenCV's contrib modules are installed (opencv-contrib-python-headless), DeepFlow,
   DualTVL1, RLOF and PCAFlow; seconds per flow.
3. Flow size: tcvc's model-free colouring with the motion measured at several short sides.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realart import REAL_CLIPS, load_clip  # noqa: E402

from tcvc_cli.motion import line_field  # noqa: E402
from tcvc_cli.propagate import Propagator, flow_dimensions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def psnr_of(frames: list[np.ndarray], truth: list[np.ndarray]) -> float:
    error = np.mean([np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2) for a, b in zip(frames, truth)])
    return 10 * np.log10(255**2 / max(error, 1e-9))


INPUTS = {
    "blur sigma 1": lambda line: cv2.GaussianBlur(line, (0, 0), 1),
    "blur sigma 2 (tcvc)": lambda line: cv2.GaussianBlur(line, (0, 0), 2),
    "blur sigma 4": lambda line: cv2.GaussianBlur(line, (0, 0), 4),
    "distance field (before)": line_field,
    "blur 2 and field, averaged": lambda line: ((cv2.GaussianBlur(line, (0, 0), 2).astype(np.uint16) + line_field(line)) // 2
                                                ).astype(np.uint8),
}


def methods(names: list[str]) -> dict:
    def dense(factory):
        flow = factory()
        return lambda a, b: flow.calc(a, b, None)

    found = {"dis": dense(lambda: cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM))}
    optflow = getattr(cv2, "optflow", None)
    if optflow is not None:
        found.update({
            "deepflow": dense(optflow.createOptFlow_DeepFlow),
            "dualtvl1": dense(optflow.DualTVL1OpticalFlow_create),
            "pcaflow": dense(optflow.createOptFlow_PCAFlow),
            "rlof": lambda a, b: optflow.calcOpticalFlowDenseRLOF(cv2.cvtColor(a, cv2.COLOR_GRAY2BGR),
                                                                   cv2.cvtColor(b, cv2.COLOR_GRAY2BGR), None),
        })
    missing = [name for name in names if name not in found]
    if missing:
        print(f"not available here (install opencv-contrib-python-headless): {', '.join(missing)}")
    return {name: found[name] for name in names if name in found}


def pulled(seed: np.ndarray, guides: list[np.ndarray], flow, chain: bool) -> tuple[list[np.ndarray], float]:
    """The seed pulled onto every frame: straight, or along the refined chain; seconds per flow."""
    height, width = guides[0].shape
    grid = np.stack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)), -1)

    def sample(image, positions):
        return cv2.remap(image, positions, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    out, origin, flows, started = [seed], grid.copy(), 0, time.perf_counter()
    for index in range(1, len(guides)):
        if chain:
            origin = sample(origin, grid + flow(guides[index], guides[index - 1]))
            origin = sample(origin, grid + flow(guides[index], sample(guides[0], origin)))
            flows += 2
        else:
            origin = grid + flow(guides[index], guides[0])
            flows += 1
        out.append(sample(seed, origin))
    return out, (time.perf_counter() - started) / flows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realart", type=Path, default=ROOT.parent / "shared" / "realart")
    parser.add_argument("--clips", default=",".join(REAL_CLIPS))
    parser.add_argument("--methods", default="dis,deepflow,dualtvl1,rlof,pcaflow")
    parser.add_argument("--sizes", default="270,360,480,0", help="flow short sides for part 3 (0: the clip's own)")
    args = parser.parse_args()
    clips = {name: load_clip(name, args.realart, 48) for name in args.clips.split(",")}
    names = list(clips)
    print("1. flow input (PSNR dB, seed pulled along the flow; DIS medium)\n")
    print("| input | " + " | ".join(f"{n} direct | {n} chain" for n in names) + " |")
    print("|---|" + "---|---|" * len(names))
    dis = methods(["dis"])["dis"]
    for label, prepare in INPUTS.items():
        cells = []
        for colour, lines in clips.values():
            guides = [prepare(line) for line in lines]
            cells += [f"{psnr_of(pulled(colour[0], guides, dis, chain)[0], colour):.2f}" for chain in (False, True)]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\n2. flow method (PSNR dB on lines blurred with sigma 2, chain; seconds per flow)\n")
    print("| method | " + " | ".join(names) + " | s/flow |")
    print("|---|" + "---|" * (len(names) + 1))
    for label, flow in methods(args.methods.split(",")).items():
        cells, seconds = [], []
        for colour, lines in clips.values():
            frames, per_flow = pulled(colour[0], [INPUTS["blur sigma 2 (tcvc)"](line) for line in lines], flow, True)
            cells.append(f"{psnr_of(frames, colour):.2f}")
            seconds.append(per_flow)
        print(f"| {label} | " + " | ".join(cells) + f" | {np.median(seconds):.3f} |")
    print("\n3. flow size (PSNR dB of model-free colouring; seconds per frame)\n")
    print("| flow short side | " + " | ".join(names) + " | s/frame |")
    print("|---|" + "---|" * (len(names) + 1))
    for side in (int(s) for s in args.sizes.split(",")):
        cells, seconds = [], []
        for colour, lines in clips.values():
            height, width = lines[0].shape
            propagator = Propagator((width, height), flow_dimensions(width, height, side or None) if side else (width, height))
            anchor = propagator.anchor(colour[0], lines[0])
            track, out, started = propagator.start(anchor), [colour[0]], time.perf_counter()
            for line in lines[1:]:
                carried = propagator.carry(line, anchor, track)
                track = carried.track
                out.append(carried.colour)
            seconds.append((time.perf_counter() - started) / (len(lines) - 1))
            cells.append(f"{psnr_of(out, colour):.2f}")
        print(f"| {side or 'own'} | " + " | ".join(cells) + f" | {np.median(seconds):.3f} |")


if __name__ == "__main__":
    main()
