"""Which frames of a shot an artist should paint next: the ones that, painted and carried as the
engine carries them, would explain the most of the shot.

The engine colours a frame from the artist's frame before it, forwards, and - when a later
keyframe of the shot exists - from that one too, backwards, taking per pixel what either
explains; the shot's first anchor is carried across the whole shot beside them, region by
region. `predicted` mirrors that on the Explainer's masks (each anchor's chain computed once):
a frame scores the share of its pixels explained from its neighbouring anchors and the shot's
first. Painting frame k changes only the frames between k's neighbours, and can lower some of
them (the frames after k are carried from k instead of the anchor before it), which the
prediction counts too.

Two ways to choose N frames (`method`):
- `greedy`: N times, paint the candidate that raises the shot's predicted total the most;
  the set found is kept only when it predicts more than the evenly spaced set, else that one;
- `least`: the cheap proxy, with no explainer from candidates: N times, the frame the current
  anchors explain least is painted, and the prediction is updated.

Owns: suggest_frames, even_frames, predicted, explain_short_side, suggest_for_run, write_to_paint.
Imports: motion.explain, motion.propagate, media, lineart.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import media
from ..lineart import to_grey
from ..media.sequence import Naming
from ..motion.explain import EXPLAIN_SHORT_SIDE, Explainer
from ..motion.propagate import flow_dimensions

log = logging.getLogger("tcvc")

METHODS = ("greedy", "least")
# Greedy weighs at most this many candidate frames per shot, fewer where the colouring of the
# shot took less time than their explainer would (the budget): the suggestion costs no more than
# one more colouring pass.
MAX_CANDIDATES = 24
# The suggestion weighs about count + 3 chains of the shot's motion, and a chain costs about one
# colouring pass times its share of the pixels the colouring follows motion at. Where that flow
# size is small (a source of 256 lines colours at its own size), the motion is weighed smaller
# than EXPLAIN_SHORT_SIDE so that the suggestion still costs no more than one pass; never below this.
MIN_EXPLAIN_SIDE = 64


def explain_short_side(width: int, height: int, count: int) -> int:
    """The Explainer's short side for `count` suggestions on a shot of frames this size."""
    flow_width, flow_height = flow_dimensions(width, height)
    affordable = min(flow_width, flow_height) / math.sqrt(count + 3)
    return int(max(MIN_EXPLAIN_SIDE, min(EXPLAIN_SHORT_SIDE, affordable)))


def predicted(explainer: Explainer, anchors: list[int], length: int, both_ways: bool = True,
              frames: range | None = None) -> np.ndarray:
    """Each frame's predicted share of pixels explained, with the artist's frames `anchors`
    (sorted shot indices); frames before the first anchor score 0."""
    shares = np.zeros(length)
    anchors = sorted(anchors)
    for frame in frames if frames is not None else range(length):
        if frame in anchors:
            shares[frame] = 1.0
            continue
        before = [a for a in anchors if a < frame]
        after = [a for a in anchors if a > frame]
        mask = None
        if before:
            mask = explainer.ahead(before[-1], frame, after[0] if after else length)
        if len(before) > 1:  # the shot's first anchor is carried across the whole shot too
            mask = mask | explainer.ahead(before[0], frame, length)
        if after and both_ways:
            back = explainer.behind(after[0], frame, before[-1] if before else -1)
            mask = back if mask is None else mask | back
        shares[frame] = float(mask.mean()) if mask is not None else 0.0
    return shares


def even_frames(length: int, anchors: list[int], count: int) -> list[int]:
    """`count` frames spaced evenly between the shot's first anchor (or start) and its end."""
    start = min(anchors) if anchors else 0
    span = length - start
    chosen = []
    for i in range(1, count + 1):
        frame = start + round(i * span / (count + 1))
        while frame in anchors or frame in chosen:
            frame += 1
        if frame < length:
            chosen.append(frame)
    return chosen


def _segment(anchors: list[int], frame: int, length: int) -> range:
    """The frames whose prediction changes when `frame` becomes an anchor."""
    before = max((a for a in anchors if a < frame), default=0)
    # Before the shot's first anchor, `frame` would become the first, carried across the shot.
    after = min((a for a in anchors if a > frame), default=length) if any(a < frame for a in anchors) else length
    return range(before, after)


def suggest_frames(explainer: Explainer, anchors: list[int], count: int, method: str = "greedy",
                   both_ways: bool = True, budget: float | None = None) -> list[int]:
    """The `count` shot indices to paint next. `anchors`: the frames that are the artist's
    already (the seed at 0, keyframes); a shot with none gets its first painted frame where one
    frame explains the most. `budget`: seconds the suggestion may take (the shot's colouring
    time); greedy weighs as many evenly spaced candidates as it affords, 2 to MAX_CANDIDATES."""
    started = time.perf_counter()
    length = len(explainer)
    anchors = sorted(set(anchors))
    count = min(count, length - len(anchors))
    if count <= 0:
        return []
    if method == "least":
        return _least(explainer, anchors, count, length, both_ways)
    shares = predicted(explainer, anchors, length, both_ways)
    candidates = _candidates(length, anchors, count, time.perf_counter() - started, budget)
    chosen = _greedy(explainer, anchors, count, length, both_ways, shares, candidates)
    even = even_frames(length, anchors, count)
    if predicted(explainer, anchors + even, length, both_ways).sum() > predicted(explainer, anchors + chosen, length,
                                                                               both_ways).sum():
        return even  # greedy is short-sighted: the even set predicts more
    return chosen


def _candidates(length: int, anchors: list[int], count: int, spent: float, budget: float | None) -> list[int]:
    """Evenly spaced frames to weigh: as many as the budget affords (a candidate's explainer cost
    about what the anchors' did, `spent`)."""
    # The even set the greedy one is checked against costs two candidates' explainer more.
    affordable = MAX_CANDIDATES if budget is None else int((budget - spent) / max(spent, 1e-3)) - 2
    many = max(2, count, min(MAX_CANDIDATES, affordable, length - len(anchors)))
    free = [frame for frame in range(length) if frame not in anchors]
    picks = sorted({free[min(len(free) - 1, round((i + 0.5) * len(free) / many))] for i in range(many)})
    return picks


def _greedy(explainer: Explainer, anchors: list[int], count: int, length: int, both_ways: bool, shares: np.ndarray,
            candidates: list[int]) -> list[int]:
    """Greedy: `count` times, the candidate that raises the shot's predicted total the most."""
    chosen: list[int] = []
    for _ in range(count):
        current = sorted(anchors + chosen)
        best, best_gain = None, -np.inf
        for frame in candidates:
            if frame in current:
                continue
            span = _segment(current, frame, length)
            trial = predicted(explainer, [*current, frame], length, both_ways, frames=span)
            gain = float(trial[span.start:span.stop].sum() - shares[span.start:span.stop].sum())
            if gain > best_gain:
                best, best_gain = frame, gain
        if best is None:
            break
        chosen.append(best)
        shares = predicted(explainer, anchors + chosen, length, both_ways)
    return chosen


def _least(explainer: Explainer, anchors: list[int], count: int, length: int, both_ways: bool) -> list[int]:
    chosen: list[int] = []
    for _ in range(count):
        shares = predicted(explainer, anchors + chosen, length, both_ways)
        shares[anchors + chosen] = np.inf
        chosen.append(int(np.argmin(shares)))
    return chosen


def suggest_for_run(source_path: Path, shots: list[tuple[str, int, int]], anchors: list[int], count: int, *,
                    method: str = "greedy", both_ways: bool = True, grey: bool = True,
                    line_of: Callable[[np.ndarray], np.ndarray] | None = None,
                    budget: float | None = None) -> list[dict[str, Any]]:
    """The frames (input indices) to paint next in each shot of a coloured input: `shots` as
    (name, first index, end index), `anchors` the indices that are the artist's already.
    Reads the input's line art once more, a shot at a time, at the Explainer's small size.
    `budget`: the seconds colouring took; each shot's suggestion takes about its share."""
    suggestions = []
    total = sum(end - first for _, first, end in shots) or 1
    with media.open_source(source_path, grey=grey, mixed_sizes=True) as source:
        frames = iter(source)
        for name, first, end in shots:
            started = time.perf_counter()
            lines, size = [], None
            for _ in range(end - first):
                frame = media.split_alpha(next(frames), grey)[0]
                size = size or frame.shape[1::-1]
                lines.append(_small(line_of(frame) if line_of is not None else to_grey(frame)))
            own = [a - first for a in anchors if first <= a < end]
            if len({line.shape for line in lines}) > 1:
                chosen, before, after = [], None, None  # pages of several sizes: nothing carries between them
            else:
                explainer = Explainer(lines, explain_short_side(*size, count))
                left = None if budget is None else budget * (end - first) / total - (time.perf_counter() - started)
                chosen = suggest_frames(explainer, own, count, method, both_ways, budget=left)
                before = float(predicted(explainer, own, len(lines), both_ways).mean())
                after = float(predicted(explainer, own + chosen, len(lines), both_ways).mean())
            suggestions.append({"shot": name, "frames": [first + frame for frame in chosen],
                                "explained_now": before, "explained_after": after})
    return suggestions


def _small(line: np.ndarray) -> np.ndarray:
    """Line art brought near the Explainer's size at once, so a shot of 1080p frames stays small."""
    height, width = line.shape[:2]
    scale = EXPLAIN_SHORT_SIDE * 2 / min(width, height)
    if scale >= 1:
        return line
    return media.resize(line, (max(8, round(width * scale)), max(8, round(height * scale))), cv2.INTER_AREA)


def write_to_paint(folder: Path, source_path: Path, indices: list[int], keyframes: dict[int, Path], info: media.SourceInfo,
                   grey: bool = True, line_of: Callable[[np.ndarray], np.ndarray] | None = None) -> list[Path]:
    """The line art of the frames to paint, named as `--keyframes` reads them (the input's own
    numbers, a video's 0-based index), and copies of the keyframes already used, so that once
    painted the folder is the --keyframes input as it is. A file already there is never
    replaced: it may be the artist's painting."""
    folder.mkdir(parents=True, exist_ok=True)
    naming = info.naming
    numbers = info.numbers or list(range(info.frame_count))

    def name(index: int, suffix: str = ".png") -> str:
        if naming is not None:
            return Naming(naming.prefix, naming.padding, suffix).name(numbers[index])
        return f"{index:06d}{suffix}"

    written = []
    wanted = set(indices)
    with media.open_source(source_path, grey=grey, mixed_sizes=True) as source:
        for index, frame in enumerate(source):
            if index > max(wanted, default=-1):
                break
            if index not in wanted:
                continue
            target = folder / name(index)
            if target.exists():
                log.warning("%s exists; kept as it is (it may be painted already)", target)
                continue
            frame = media.split_alpha(frame, grey)[0]
            media.write_image(target, line_of(frame) if line_of is not None else to_grey(frame))
            written.append(target)
    for index, path in sorted(keyframes.items()):
        target = folder / name(index, path.suffix.lower())
        if not target.exists() and path.resolve() != target.resolve():
            shutil.copy2(path, target)
    return written
