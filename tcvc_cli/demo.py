"""`tcvc demo`: the whole job on the built-in sample, end to end."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from . import media
from .jobs import extract_video, lineart_file
from .lineart import LineartParams
from .sample import render_clip, write_clip

Step = Callable[[str], None]


def run_demo(out_dir: Path, *, overwrite: bool = False, step: Step = lambda message: None) -> dict:
    """Make a sample clip with audio, extract its frames and derive its line art."""
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        from .errors import OutputError

        raise OutputError(f"{out_dir}: already exists and is not empty", hint="pass --overwrite or choose another -o")
    media.ensure_writable_dir(out_dir)
    step("rendering the sample clip")
    colour, _ = render_clip(seed=0, frames=48, size=(192, 128))
    clip = write_clip(out_dir / "sample.mp4", colour, Fraction(12), audio=True, lossless=False)
    step("extracting frames")
    frames = extract_video(clip, out_dir / "frames", overwrite=True)
    step("deriving line art")
    lines = lineart_file(clip, out_dir / "sample_lineart.mp4", LineartParams(), overwrite=True)
    return {"sample": str(clip), "frames": frames["output"], "lineart": lines["output"], "frame_count": frames["frames"]}
