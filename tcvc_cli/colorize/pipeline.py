"""The reader and writer threads around the colouring loop: frames decoded and prepared (line
art at the work size, scene cuts, the line art's guide and step flow) ahead of the loop, and
finished frames composed and written behind it.

Owns: Pipeline, Prepared. Imports: colorize.contract, colorize.output, media, lineart, motion, errors.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .. import media
from ..errors import OutputError
from ..lineart import frame_regions
from ..motion import FlowField, line_guide
from ..motion.propagate import FROM_ANCHOR, GUESSED, finished
from ..motion.shots import analysis_view, detector_for
from .contract import Engine
from .layers import ALPHA_LAYERS
from .options import Progress, work_dimensions
from .output import ResumableOutput, compose
from .references import looks_coloured

log = logging.getLogger("tcvc")


@dataclass
class Prepared:
    index: int
    line_full: np.ndarray  # uint8 HxW at source resolution
    line_work: np.ndarray  # uint8 hxw at work size
    edges: np.ndarray | None
    is_cut: bool
    # Motion-carried colouring: the line art's guide at the flow size, the flow from this frame
    # to the frame before, and its line-enclosed regions, all worked out ahead in the reader thread.
    guide: np.ndarray | None = None
    step: np.ndarray | None = None
    regions: tuple[int, np.ndarray] | None = None


class _Stage(threading.Thread):
    """A pipeline thread whose exception is re-raised in the caller."""

    def __init__(self, target: Callable[[], None], name: str):
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self.error = exc


_END = object()


def _put(q: queue.Queue, item: Any, stop: threading.Event, consumer: _Stage | None = None) -> None:
    """Put, waiting while the queue is full; re-raises the consumer thread's failure."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            if consumer is not None and consumer.error is not None:
                raise consumer.error from None


def _get(q: queue.Queue, stop: threading.Event, producer: _Stage | None = None) -> Any:
    """Next item, or _END once `stop` is set; re-raises the producer thread's failure."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if producer is not None and producer.error is not None:
                raise producer.error from None
            if stop.is_set():
                return _END


class Pipeline:
    """The reader and writer threads around the calling thread's colouring loop.

    `frames()` yields the reader's prepared frames; `send()` hands the writer a finished frame,
    a frame to compose, or a checkpoint. Leaving the `with` block waits for the writer, and
    re-raises a failure of either thread; a failure in the loop stops both threads.
    """

    def __init__(self, engine: Engine, source: media.FrameSource, out: ResumableOutput, work: tuple[int, int],
                 progress: Progress | None, cuts: set[int] | None = None):
        info = source.info
        self.source, self.out, self.total = source, out, info.frame_count
        detector = detector_for(info.width, info.height, engine.options.cut_threshold)
        self.stop = threading.Event()
        self.prepared: queue.Queue = queue.Queue(maxsize=4)
        self.finished: queue.Queue = queue.Queue(maxsize=8)
        # What the writer needs of a frame besides its colours: its line art (layers) and alpha.
        side = {} if any(t.layer in ALPHA_LAYERS or t.alpha for t in out.tracks) else None
        self.reader = _Stage(lambda: read_frames(engine, source, out.done, out.previous_edges, detector, work, self.prepared,
                                                     self.stop, cuts, side), "tcvc-reader")
        self.writer = _Stage(lambda: write_frames(engine, out, self.finished, self.stop, self.total, progress, side),
                             "tcvc-writer")

    def __enter__(self) -> "Pipeline":
        self.reader.start()
        self.writer.start()
        return self

    def frames(self) -> Iterator[Prepared]:
        while True:
            item = _get(self.prepared, self.stop, self.reader)
            if item is _END:
                return
            if self.writer.error is not None:
                raise self.writer.error
            yield item

    def send(self, item: tuple) -> None:
        _put(self.finished, item, self.stop, self.writer)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                _put(self.finished, _END, self.stop, self.writer)
                self.writer.join()
                if self.writer.error is not None:
                    raise self.writer.error
                if self.reader.error is not None:
                    raise self.reader.error
                if self.out.count != self.total:
                    raise OutputError(f"{self.out.final}: wrote {self.out.count} frames, the input has {self.total}")
        except BaseException:
            exc_type = BaseException
            raise
        finally:
            if exc_type is not None:
                self.stop.set()
                self.reader.join(timeout=10)
                self.writer.join(timeout=10)
            self.source.close()


def read_frames(engine: Engine, source: media.FrameSource, start: int, previous_edges: np.ndarray | None, detector: Any,
          work: tuple[int, int], prepared_q: queue.Queue, stop: threading.Event, cuts: set[int] | None = None,
          side: dict | None = None) -> None:
    """Reader thread: decode, derive line art, judge scene cuts (or take them from `cuts`).

    `side`, when given, receives each frame's (line art, alpha) for the writer."""
    info = source.info
    grey = not engine.options.from_color
    # Motion-carried colouring with feedback also needs the motion from the frame before.
    flow = FlowField() if engine.carries_motion and engine.options.feedback else None
    guide_before = None
    for index, frame in enumerate(source):
        if stop.is_set():
            return
        if index < start - 1:
            continue  # already in completed segments
        frame, alpha = media.split_alpha(frame, grey)
        if index == start - 1:  # the frame before a resumed run's first: its guide only
            guide_before = line_guide(media.resize(engine.line_of(frame), work, cv2.INTER_AREA)) if flow else None
            continue
        if index == start and frame.ndim == 3 and not engine.options.from_color and looks_coloured(frame):
            log.warning("%s looks like colour footage; pass --from-color to derive line art from it", info.path)
        line_full = engine.line_of(frame)
        own_size = line_full.shape[1], line_full.shape[0]
        same_size = own_size == (info.width, info.height)
        frame_work = work if same_size else work_dimensions(*own_size, engine.model_work_size)  # a page of its own size
        line_work = media.resize(line_full, frame_work, cv2.INTER_AREA)
        edges = (detector.edges(analysis_view(line_full, engine.is_lineart), engine.is_lineart)
                 if engine.options.scene_detect and same_size and cuts is None else None)
        if cuts is not None:
            is_cut = index in cuts
        else:
            is_cut = edges is not None and index > 0 and detector.is_cut(previous_edges, edges)
        if side is not None:
            side[index] = (line_full, alpha)
        previous_edges = edges
        prepared = Prepared(index, line_full, line_work, edges, is_cut)
        if engine.carries_motion:
            prepared.guide = line_guide(line_work)
            prepared.regions = frame_regions(line_work)
            if flow is not None and guide_before is not None and guide_before.shape == prepared.guide.shape:
                prepared.step = flow(prepared.guide, guide_before)
            guide_before = prepared.guide
        _put(prepared_q, prepared, stop)
    _put(prepared_q, _END, stop)

def write_frames(engine: Engine, out: ResumableOutput, output_q: queue.Queue, stop: threading.Event, total: int,
                 progress: Progress | None, side: dict | None = None) -> None:
    """Writer thread: finish frames (compose at source resolution), encode, seal segments.

    Items: (index, frame, confidence) a finished frame; (index, colour, line art, keyframe) a
    model's colour at the work size to compose (a keyframe, when given, is written instead);
    ("checkpoint", ...) the end of a segment."""
    while True:
        item = _get(output_q, stop)
        if item is _END:
            return
        if isinstance(item[0], str) and item[0] == "checkpoint":
            out.checkpoint(*item[1:])
            continue
        if len(item) == 3:  # a finished frame (or one still being composed: waited for here)
            index, frame, confidence = item
            frame = finished(frame)
        else:
            index, colour, line_full, keyframe = item
            frame = keyframe if keyframe is not None else compose(colour, line_full, upscale=engine.options.upscale,
                                                                    is_lineart=engine.is_lineart)
            confidence = FROM_ANCHOR if keyframe is not None else GUESSED  # a plain model's frames are all its own
        line, alpha = side.pop(index) if side is not None else (None, None)
        out.write(frame, line, alpha, confidence)
        if progress:
            progress(index + 1, total)
