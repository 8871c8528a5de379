"""More real line art for bench/realart.py: synfig's own animated examples, rendered twice -
once as drawn, once as their line-art twin (every fill white, every outline black, shading and
gradients off) - and written as NAME_color.mkv / NAME_line.mkv pairs, pixel-aligned.

    apt-get install synfig synfig-examples     # Debian; the artwork is GPL-2+
    python bench/synfig_clips.py --out /tmp/synfig_clips
    python bench/realart.py --realart /tmp/synfig_clips --clips kid,kidcam,eye,eyelook

Clips (24 fps, lossless FFV1):
- `kid`: prologue_kid.sif, frames 0-30 (288x504): a character breathing and swaying, small motion
  over a textured paper background, thin lines;
- `kidcam`: the same frames under a camera move (pan, push-in, roll; the same affine on the colour
  and the line art), 256x448;
- `eye`: eye.sif, frames 72-95 (480x270): an eye opening from a slit; the iris has no lines;
- `eyelook`: eye.sif, frames 100-123: the open eye looking aside - the iris moves and its line
  art shows nothing of it.

Rendering takes about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

# name: (example file, first frame, last frame, camera move's output size or None)
CLIPS = {
    "kid": ("prologue_kid.sif", 0, 30, None),
    "kidcam": ("prologue_kid.sif", 0, 30, (256, 448)),
    "eye": ("eye.sif", 72, 95, None),
    "eyelook": ("eye.sif", 100, 123, None),
}
FILLS = {"region", "polygon", "circle", "rectangle", "star", "SolidColor"}
OUTLINES = {"outline", "advanced_outline"}
DECORATION = {"linear_gradient", "radial_gradient", "conical_gradient", "curve_gradient", "spiral_gradient",
              "noise", "noise_distort", "shade", "bevel", "blur", "text", "import", "plant", "super_sample"}


def examples_folder() -> Path:
    """Where Debian's synfig-examples package keeps its .sif files."""
    listing = subprocess.run(["dpkg", "-L", "synfig-examples"], capture_output=True, text=True, check=True).stdout
    return Path(next(line for line in listing.splitlines() if line.endswith("/eye.sif"))).parent


def _plain_colour(param: ElementTree.Element, grey: str) -> None:
    for child in list(param):
        param.remove(child)
    param.attrib.pop("use", None)  # an exported (shared) colour would override this one
    colour = ElementTree.SubElement(param, "color")
    for channel, value in zip("rgba", (grey, grey, grey, "1.000000")):
        ElementTree.SubElement(colour, channel).text = value


def line_twin(source: Path, target: Path) -> None:
    """The drawing as line art: fills white, outlines black, decoration switched off."""
    tree = ElementTree.parse(source)
    for layer in tree.getroot().iter("layer"):
        kind = layer.get("type")
        if kind in DECORATION:
            layer.set("active", "false")
        elif kind in FILLS or kind in OUTLINES:
            for param in layer.findall("param"):
                if param.get("name") == "color":
                    _plain_colour(param, "0.000000" if kind in OUTLINES else "1.000000")
    tree.write(target, xml_declaration=True, encoding="UTF-8")


def render(sif: Path, first: int, last: int, folder: Path) -> list[np.ndarray]:
    """Frames first..last of a .sif file, composited over white (BGR uint8)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["synfig", "-q", str(sif), "-t", "png", "--begin-time", str(first), "--end-time", str(last),
                    "-o", str(folder / "f.png")], check=True, capture_output=True)
    frames = []
    for path in sorted(folder.glob("f.*.png")):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image.shape[2] == 4:
            alpha = image[..., 3:4].astype(np.float32) / 255
            image = (image[..., :3] * alpha + 255 * (1 - alpha) + 0.5).astype(np.uint8)
        frames.append(image)
    if len(frames) != last - first + 1:
        raise SystemExit(f"{sif.name}: synfig rendered {len(frames)} frames, not {last - first + 1}")
    return frames


def camera_move(frames: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """The frames seen through a moving camera: a pan across, a push-in from 1.1x to 1.35x and a
    roll of up to 2.5 degrees, framed at `size` (width, height)."""
    height, width = frames[0].shape[:2]
    moved = []
    for index, frame in enumerate(frames):
        t = index / max(len(frames) - 1, 1)
        centre = (width * (0.45 + 0.1 * t), height * (0.5 - 0.08 * t))
        matrix = cv2.getRotationMatrix2D(centre, 2.5 * math.sin(math.pi * t), 1.1 + 0.25 * t)
        matrix[:, 2] += (size[0] / 2 - centre[0], size[1] / 2 - centre[1])
        moved.append(cv2.warpAffine(frame, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE))
    return moved


def write_clip(path: Path, frames: list[np.ndarray]) -> None:
    """BGR frames as a lossless FFV1 .mkv at 24 fps."""
    height, width = frames[0].shape[:2]
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{width}x{height}", "-r", "24", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "bgr0", str(path)]
    encoder = subprocess.Popen(command, stdin=subprocess.PIPE)
    for frame in frames:
        encoder.stdin.write(np.ascontiguousarray(frame).tobytes())
    encoder.stdin.close()
    if encoder.wait() != 0:
        raise SystemExit(f"ffmpeg could not write {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--examples", type=Path, help="folder of synfig's example .sif files (default: Debian's)")
    args = parser.parse_args()
    examples = args.examples or examples_folder()
    args.out.mkdir(parents=True, exist_ok=True)
    rendered: dict[tuple[str, int, int], tuple[list[np.ndarray], list[np.ndarray]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for name in args.clips.split(","):
            if name not in CLIPS:
                raise SystemExit(f"unknown clip {name!r}: one of {', '.join(CLIPS)}")
            sif, first, last, camera = CLIPS[name]
            key = (sif, first, last)
            if key not in rendered:
                twin = work / f"line_{sif}"
                line_twin(examples / sif, twin)
                rendered[key] = (render(examples / sif, first, last, work / f"{name}_colour"),
                                 render(twin, first, last, work / f"{name}_line"))
            colour, line = rendered[key]
            if camera is not None:
                colour, line = camera_move(colour, camera), camera_move(line, camera)
            write_clip(args.out / f"{name}_color.mkv", colour)
            write_clip(args.out / f"{name}_line.mkv", line)
            print(f"{name}: {len(colour)} frames, {colour[0].shape[1]}x{colour[0].shape[0]}", flush=True)


if __name__ == "__main__":
    main()
