"""Shot boundaries from editorial: an OpenTimelineIO timeline, a CMX 3600 EDL, or a CSV.

Editorial already knows where every cut is; detecting them again from the line art can only
add mistakes. A timeline (.otio, or .edl through OpenTimelineIO's CMX 3600 adapter) gives
one shot per item of its first video track, in the order they play, placed by their position
in the track counted in frames: the track's first frame is the input's first frame. Frames are
frames: a timeline at 24 fps cuts a sequence read at the default 25 fps after the same number
of frames (with a warning when the input's rate is known and differs). A CSV lists each shot's
first frame as a frame number of the input (a sequence's own numbers, 1001 and on), with an
optional name after it; a header row and `#` comments are skipped.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import InputError

log = logging.getLogger("tcvc")

TIMELINE_EXTENSIONS = {".otio", ".otioz", ".otiod", ".edl"}


@dataclass(frozen=True)
class Shot:
    name: str
    first: int  # index of its first frame in the input


def read_shots(path: Path, *, fps: Fraction, first_number: int, frame_count: int, rate_known: bool = True) -> list[Shot]:
    """The shots of `path`, in order, with first frames as 0-based indices into the input.

    `rate_known`: the input's `fps` is its own (a video, a sequence with a frames.json), not a default."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: the shot list does not exist")
    if path.suffix.lower() in TIMELINE_EXTENSIONS:
        shots = _from_timeline(path, fps, rate_known)
    elif path.suffix.lower() in (".csv", ".txt"):
        shots = _from_csv(path, first_number)
    else:
        raise InputError(f"{path}: cannot read shots from {path.suffix or 'an extension-less file'}",
                         hint="give an OpenTimelineIO timeline (.otio), a CMX 3600 EDL (.edl) or a CSV of first frames")
    if not shots:
        raise InputError(f"{path}: holds no shots")
    shots = sorted(shots, key=lambda shot: shot.first)
    if shots[0].first > 0:
        shots.insert(0, Shot("(before the first shot)", 0))
    outside = [shot for shot in shots if shot.first >= frame_count]
    if outside:
        log.warning("%s: %d shot(s) start after the input's last frame and are ignored (first: %s)",
                    path, len(outside), outside[0].name)
    kept = [shot for shot in shots if shot.first < frame_count]
    duplicated = sorted({s.first for s in kept if sum(t.first == s.first for t in kept) > 1})
    if duplicated:
        raise InputError(f"{path}: several shots start at frame index {duplicated[0]}", hint="each shot needs its own first frame")
    return kept


def _from_timeline(path: Path, fps: Fraction, rate_known: bool) -> list[Shot]:
    try:
        import opentimelineio as otio
    except ImportError:  # pragma: no cover - a declared dependency
        raise InputError(f"{path}: reading timelines needs OpenTimelineIO", hint="pip install opentimelineio") from None
    try:
        timeline = otio.adapters.read_from_file(str(path), rate=float(fps)) if path.suffix.lower() == ".edl" \
            else otio.adapters.read_from_file(str(path))
    except Exception as exc:  # adapters raise their own exception types for malformed files
        hint = "install otio-cmx3600-adapter to read EDLs" if "adapter" in str(exc).lower() and path.suffix.lower() == ".edl" else None
        raise InputError(f"{path}: not a readable timeline ({exc})", hint=hint) from None
    tracks = list(timeline.video_tracks()) if hasattr(timeline, "video_tracks") else []
    if not tracks:
        raise InputError(f"{path}: the timeline has no video track")
    shots = []
    rates = set()
    for number, item in enumerate(tracks[0]):
        if isinstance(item, otio.schema.Transition):
            continue
        start = item.range_in_parent().start_time
        rates.add(start.rate)
        first = int(round(start.value))
        name = item.name or ("gap" if isinstance(item, otio.schema.Gap) else f"shot{number + 1}")
        shots.append(Shot(name, first))
    if rate_known and any(abs(rate - float(fps)) > 1e-3 for rate in rates):
        log.warning("%s: the timeline runs at %s fps and the input at %.3f; cuts are placed by frame count",
                    path, "/".join(f"{r:g}" for r in sorted(rates)), float(fps))
    return shots


def _from_csv(path: Path, first_number: int) -> list[Shot]:
    shots = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for line_number, row in enumerate(csv.reader(handle), 1):
            cells = [cell.strip() for cell in row]
            if not cells or not cells[0] or cells[0].startswith("#"):
                continue
            if not cells[0].lstrip("-").isdigit():
                if line_number == 1:
                    continue  # a header
                raise InputError(f"{path}:{line_number}: {cells[0]!r} is not a frame number",
                                 hint="each row is FIRST_FRAME[,NAME]")
            number = int(cells[0])
            if number < first_number:
                raise InputError(f"{path}:{line_number}: frame {number} comes before the input's first frame, {first_number}")
            name = cells[1] if len(cells) > 1 and cells[1] else f"shot{len(shots) + 1}"
            shots.append(Shot(name, number - first_number))
    return shots
