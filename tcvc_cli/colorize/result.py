"""What a run reports: frames, shots, cuts, keyframes used, per-frame confidence shares and
speed (the --json object, docs/colorize.md#json), and the warning naming poorly explained
frames.

Owns: ColorizeResult, warn_unexplained. Imports: media, editorial.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..media.editorial import Shot
from ..motion.propagate import FROM_ANCHOR, FROM_PREVIOUS
from ..media.sequence import number_ranges

log = logging.getLogger("tcvc")


@dataclass
class ColorizeResult:
    input: str
    output: str
    frames: int
    cuts: list[int] = field(default_factory=list)
    keyframes_used: list[int] = field(default_factory=list)
    first_frame: int | None = None
    last_frame: int | None = None
    shot_ranges: list[dict] = field(default_factory=list)
    shots_from: str = "detected"  # detected, none (detection off), or the shot list's path
    outputs: dict[str, str] = field(default_factory=dict)  # layer -> where it was written
    model: dict | None = None
    seconds: float = 0.0
    work_size: tuple[int, int] = (0, 0)
    resumed_from: int = 0
    device: str = "cpu"
    colouring: str = "model"  # model, motion-compensated model, or model-free
    frame_rate: str = ""  # the video's (or sequence's) frame rate, exact: "24000/1001"
    # Motion-carried colouring, per frame coloured in this run: the shares of pixels carried from
    # the artist's frame (anchor), from the previous output (previous) and guessed or painted.
    confidence: list[dict] = field(default_factory=list)
    # With --suggest-keyframes, per shot: the frames to paint next (in the input's numbers), and
    # the predicted share of the shot's pixels explained now and once they are painted.
    suggested_keyframes: list[dict] = field(default_factory=list)
    to_paint: str | None = None  # where their line art was written (--to-paint)
    suggest_seconds: float = 0.0  # the time the suggestion took, apart from `seconds`
    seed_frame: str | None = None  # the artist's colouring of the first frame, when given

    @property
    def processing_fps(self) -> float:
        """Frames coloured per second of this run (not the video's frame rate: frame_rate)."""
        processed = self.frames - self.resumed_from
        return processed / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["shots"] = len(self.cuts) + 1
        data["processing_fps"] = round(self.processing_fps, 3)
        return data

    def name_shots(self, numbers: list[int], shots: list[Shot] | None) -> None:
        """Fill shot_ranges from the cuts found (or given), in the input's frame numbers."""
        names = {shot.first: shot.name for shot in shots or []}
        starts = [0, *sorted(self.cuts)]
        ends = [*starts[1:], self.frames]
        self.shot_ranges = [{"name": names.get(first, f"shot{n + 1}"), "first_frame": numbers[first],
                             "last_frame": numbers[end - 1]} for n, (first, end) in enumerate(zip(starts, ends)) if end > first]


# A carried frame with less than this share of its pixels carried from an artist's frame (the
# seed or a keyframe) is named in a warning: much of it was guessed or painted.
LOW_CARRIED = 0.75


def warn_unexplained(path: Path, result: ColorizeResult) -> None:
    """One warning line per shot whose frames the motion explains poorly, naming them and the
    frame to paint as a keyframe (the least explained one)."""
    for shot in result.shot_ranges:
        low = [shares for shares in result.confidence
               if shot["first_frame"] <= shares["frame"] <= shot["last_frame"] and shares["anchor"] < LOW_CARRIED]
        if not low:
            continue
        worst = min(low, key=lambda shares: shares["anchor"])
        log.warning("%s: %s: less than %d%% of the pixels of frame%s %s came from an artist's frame (frame %d: %d%%); "
                    "paint frame %d as a keyframe (--keyframes)", path, shot["name"], round(LOW_CARRIED * 100),
                    "s" if len(low) > 1 else "", number_ranges([shares["frame"] for shares in low]), worst["frame"],
                    round(worst["anchor"] * 100), worst["frame"])


def confidence_shares(index: int, confidence: np.ndarray | float) -> dict[str, float | int]:
    """A frame's shares of pixels carried straight from an artist's frame (anchor), carried from
    the previous output (previous: what a model painted before) and guessed or painted."""
    values = np.asarray(confidence, np.float32)
    anchor = float((values >= FROM_ANCHOR).mean())
    previous = float((values == FROM_PREVIOUS).mean())
    return {"frame": index, "anchor": round(anchor, 4), "previous": round(previous, 4),
            "guessed": round(max(0.0, 1.0 - anchor - previous), 4)}
