"""The colorization engine: line-art frames in, colour frames out, through the feedback loop.

For each frame t the generator sees the line art of t and a condition: the colour frame it
produced for t-1 (the paper's feedback loop), the seed frame at the start of the video and
at each scene cut, or an artist's keyframe. Where the line art has not changed since the
seed frame (or the latest keyframe) of the shot, the condition is pulled back to that coloured
frame, so what the artist coloured does not wash out as it is fed back (anchoring, on by
default; docs/feedback.md). The model runs at a small work size; the colour
is brought back to the source resolution and the source's own full-resolution lines are
drawn over it, so cost barely depends on the source resolution.

Frames stream through three stages that overlap: a reader thread decodes and prepares line
art, the calling thread runs the model, a writer thread upscales and encodes. Memory holds a
few frames whatever the video's length. Output goes to a hidden work folder in segments with
the loop's state saved after each one, so `resume=True` continues an interrupted run and
produces the same frames as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from . import media
from .checkpoint import LoadedModel
from .errors import InputError, OutputError, TcvcError, UsageError, interruption
from .editorial import Shot, read_shots
from .layers import LAYERS, split
from .lineart import extract as lineart_of, to_grey
from .motion import FlowField, line_guide
from .propagate import (FLOW_SHORT_SIDE, FROM_ANCHOR, FROM_PREVIOUS, AnchorFrame, Carried, Propagator, Track, blend, flat_fill,
                        flow_dimensions, ink_strength)
from .runtime import prepare_for_inference, select_device
from .images import WRITABLE_IMAGE_EXTENSIONS, describe_image
from .sequence import frame_number, is_pattern, number_ranges
from .shots import analysis_view, detector_for

log = logging.getLogger("tcvc")

Upscale = Literal["bicubic", "flat"]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ColorizeOptions:
    """How a video is coloured (everything but the model and the paths)."""

    work_size: int | None = None  # short side in pixels; None: the checkpoint's training size; 0: native
    upscale: Upscale = "bicubic"
    scene_detect: bool = True
    cut_threshold: float = 0.5
    # After a cut: "seed" carries the seed frame into the new shot, "blank" lets the model paint
    # the shot's first frame from its line art; "auto": blank for motion-compensated models
    # (docs/training.md#fine-tuning), seed otherwise.
    cut_reset: Literal["auto", "seed", "blank"] = "auto"
    feedback: bool = True  # False: every frame is conditioned on the seed (or blank)
    # Anchoring: where the line art within anchor_radius work pixels is as it was on the shot's
    # seed frame or latest keyframe, the condition moves this far (0-1) back to that frame.
    anchor: float = 1.0
    anchor_radius: int | None = None  # None: 1/32 of the work size's short side
    from_color: bool = False  # input is colour/greyscale footage: derive the model's input first
    # Around a later keyframe of the same shot, also colour backwards from it and blend the two
    # passes (motion-carried colouring: model-free, or a motion-compensated model).
    both_ways: bool = True
    device: str = "auto"
    half: bool = True  # half precision on CUDA
    segment_frames: int = 240  # frames per resumable segment
    # Scale a seed frame or keyframe of another aspect ratio to the line art (refused otherwise).
    stretch_references: bool = False

    def __post_init__(self) -> None:
        if self.upscale not in ("bicubic", "flat"):
            raise UsageError(f"unknown --upscale {self.upscale!r}", hint="use bicubic or flat")
        if self.cut_reset not in ("auto", "seed", "blank"):
            raise UsageError(f"unknown --cut-reset {self.cut_reset!r}", hint="use auto, seed or blank")
        if self.work_size is not None and self.work_size != 0 and self.work_size < 16:
            raise UsageError(f"--work-size {self.work_size} is too small", hint="use at least 16, or native")
        if self.segment_frames < 1:
            raise UsageError("segment length must be at least 1 frame")
        if not 0 <= self.anchor <= 1:
            raise UsageError(f"--anchor {self.anchor} is out of range", hint="a strength from 0 (off) to 1")
        if self.anchor_radius is not None and self.anchor_radius < 0:
            raise UsageError(f"--anchor-radius {self.anchor_radius} is negative")


@dataclass(frozen=True)
class Delivery:
    """What a run writes besides the composed frames, and how sequences are numbered."""

    layers: tuple[str, ...] = ("composed",)  # composed, paint, lines (layers.py)
    start_number: int | None = None  # renumber output sequences from here (None: the input's numbers)
    bits: int | None = None  # 8 or 16 for image outputs (None: the input's depth)
    fill_gaps: bool = False  # hold the frame before each missing frame of a numbered input
    # Carry the input's alpha into the outputs: for cels on a transparent background. (Line art
    # on transparent paper is read over white and coloured opaque without it.)
    keep_alpha: bool = False

    def __post_init__(self) -> None:
        unknown = [layer for layer in self.layers if layer not in LAYERS]
        if unknown or not self.layers:
            raise UsageError(f"unknown layer {unknown[0]!r}" if unknown else "no layers to write",
                             hint=f"--layers takes a comma-separated list of {', '.join(LAYERS)}")
        if self.bits not in (None, 8, 16):
            raise UsageError(f"--bit-depth {self.bits} is not supported", hint="use 8 or 16")


# A line-art pixel whose value moved by more than this (0-1) since the anchor frame has changed.
LINE_CHANGE = 0.3


@dataclass(frozen=True)
class Anchor:
    """A coloured frame of the current shot (the seed or a keyframe) and the line art of its frame,
    both as (1, C, H, W) tensors at the work size."""

    colour: torch.Tensor
    line: torch.Tensor


def anchor_condition(condition: torch.Tensor, line: torch.Tensor, anchor: Anchor, radius: int, strength: float) -> torch.Tensor:
    """Move the condition `strength` of the way back to the anchor's colours wherever no line of
    `line` within `radius` pixels differs from the anchor frame's line art: content there has not
    moved since the artist's colouring, which is better than any fed-back copy of it."""
    changed = (line.float() - anchor.line.float()).abs().amax(1, keepdim=True)
    if radius > 0:
        changed = F.max_pool2d(changed, 2 * radius + 1, stride=1, padding=radius)
    keep = (changed <= LINE_CHANGE).to(condition.dtype) * strength
    return condition + keep * (anchor.colour.to(condition.dtype) - condition)


def work_dimensions(width: int, height: int, short_side: int | None, multiple: int = 4) -> tuple[int, int]:
    """Scale (width, height) so the short side is `short_side`, keeping aspect, rounded to `multiple`."""
    if not short_side:
        return width, height
    scale = short_side / min(width, height)
    return (max(multiple, int(round(width * scale / multiple)) * multiple),
            max(multiple, int(round(height * scale / multiple)) * multiple))


# --------------------------------------------------------------------------- reference frames


# Two sizes have the same aspect ratio when they differ by no more than this share (rounding).
ASPECT_TOLERANCE = 0.01


def load_reference(path: Path, size: tuple[int, int], what: str, stretch: bool = False) -> np.ndarray:
    """A coloured frame (seed or keyframe) as RGB uint8 at `size`.

    A frame of another size but the same aspect ratio is scaled (with a note in the log); one of
    another aspect ratio is almost always the wrong file and is refused, unless `stretch`."""
    raw = media.read_image(Path(path))
    own = raw.shape[1], raw.shape[0]
    if own != size:
        check_reference_size(path, own, size, what, stretch)
        log.info("%s %s is %dx%d; scaled to %dx%d", what, path, *own, *size)
        raw = media.resize(raw, size)
    return np.ascontiguousarray(raw[:, :, :3])


def check_reference_size(path: Path, own: tuple[int, int], size: tuple[int, int], what: str, stretch: bool) -> None:
    aspect, wanted = own[0] / own[1], size[0] / size[1]
    if abs(aspect / wanted - 1) > ASPECT_TOLERANCE and not stretch:
        raise InputError(f"{path}: the {what} is {own[0]}x{own[1]}, the line art {size[0]}x{size[1]}: another aspect ratio",
                         hint="pass the coloured frame of this shot, or --stretch-references to scale it anyway")


def find_keyframes(folder: Path, info: media.SourceInfo, shots: list[Shot] | None = None) -> dict[int, Path]:
    """Keyframes by the frame they replace, as indices into the input.

    Files are named by frame number: the input's own numbers for a numbered sequence
    (shot010.1012.png or 1012.png), the 0-based index for a video (000120.png). With a shot
    list, the folder may hold one subfolder per shot, named as in the list; a file without a
    number there is the keyframe of the shot's first frame.
    """
    if not folder.is_dir():
        raise InputError(f"{folder}: the keyframes folder does not exist")
    numbers = info.numbers or list(range(info.frame_count))
    index_of = {number: index for index, number in enumerate(numbers)}
    span = f"{numbers[0]}-{numbers[-1]}" if numbers else "none"
    keyframes: dict[int, Path] = {}

    def add(path: Path, index: int) -> None:
        if index in keyframes:
            raise InputError(f"{path}: a second keyframe for frame {numbers[index]} (also {keyframes[index]})",
                             hint="keep one keyframe per frame")
        keyframes[index] = path

    for path in media.list_frames(folder):
        number = frame_number(path)
        if number is None:
            continue
        if number not in index_of:
            raise InputError(f"{path}: keyframe for frame {number}, but the input's frames are {span}",
                             hint="keyframes are named by the number of the frame they replace (a video's frames count from 0)")
        add(path, index_of[number])
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subfolders and shots:
        by_name = {shot.name: (shot, following) for shot, following in zip(shots, [*shots[1:], None])}
        for sub in subfolders:
            if sub.name not in by_name:
                raise InputError(f"{sub}: no shot of that name in the shot list",
                                 hint=f"shots: {', '.join(list(by_name)[:12])}")
            shot, following = by_name[sub.name]
            end = following.first if following else info.frame_count
            for path in media.list_frames(sub):
                number = frame_number(path)
                index = shot.first if number is None else index_of.get(number)
                if index is None or not shot.first <= index < end:
                    raise InputError(f"{path}: frame {number} is not in shot {shot.name} "
                                     f"({numbers[shot.first]}-{numbers[end - 1]})")
                add(path, index)
    elif subfolders and not keyframes:
        raise InputError(f"{folder}: keyframes in subfolders need --shots to say which shot each folder is")
    if not keyframes:
        raise InputError(f"{folder}: no keyframes (images named by frame number, e.g. 000120.png or shot010.1012.png)")
    return keyframes


# --------------------------------------------------------------------------- compositing


def compose(prediction: np.ndarray, line_full: np.ndarray, *, upscale: Upscale, is_lineart: bool) -> np.ndarray:
    """Bring a work-size prediction (float RGB in [0,1]) to the source size with its own lines.

    bicubic: smooth colour, multiplied by the full-resolution line art (ink over paint).
    flat: each region enclosed by lines takes one colour, the prediction's mean inside it.
    For greyscale models the full-resolution luma replaces the prediction's. When the model
    ran at the source size (bicubic), nothing was lost and its output is returned as it is.
    Works in uint8 with OpenCV's SIMD kernels: this runs at source resolution for every frame.
    """
    height, width = line_full.shape
    small = (np.clip(prediction, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if upscale == "bicubic" and small.shape[:2] == (height, width):
        return small
    colour = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) if small.shape[:2] != (height, width) else small
    if not is_lineart:
        ycrcb = cv2.cvtColor(colour, cv2.COLOR_RGB2YCrCb)
        ycrcb[:, :, 0] = line_full
        return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
    if upscale == "flat":
        colour = flat_fill(colour, line_full)
    return cv2.multiply(colour, cv2.cvtColor(line_full, cv2.COLOR_GRAY2RGB), scale=1 / 255)


# --------------------------------------------------------------------------- resumable output


@dataclass(frozen=True)
class _Track:
    """One output of a run: the composed frames, or one compositing layer."""

    layer: str
    video: Path | None  # the final video, or None for an image sequence
    target: media.FrameTarget | None
    alpha: bool

    @property
    def where(self) -> str:
        return str(self.video) if self.video is not None else self.target.describe()


def plan_tracks(final: Path, like: media.SourceInfo, layers: tuple[str, ...], encode: media.EncodeOptions,
                start_number: int | None, bits: int | None, keep_alpha: bool = False) -> list[_Track]:
    """Where each requested layer goes: out.mov -> out_paint.mov; out/ -> out_paint/; a pattern
    out/sh010.%04d.png -> out/sh010_paint.%04d.png."""
    tracks = []
    if media.is_video_path(final):
        encode.check_container(final)
        layered = [layer for layer in layers if layer != "composed"]
        if layered and not encode.spec.alpha:
            raise UsageError(f"--layers {','.join(layered)} needs a codec with alpha; {encode.codec} has none",
                             hint="use --codec prores4444 or ffv1, or a frame-folder output")
        if keep_alpha and "composed" in layers and not encode.spec.alpha:
            raise UsageError(f"--keep-alpha needs a codec with alpha; {encode.codec} has none",
                             hint="use --codec prores4444 or ffv1, or a frame-folder output")
        for layer in layers:
            path = final if layer == "composed" else final.with_name(f"{final.stem}_{layer}{final.suffix}")
            tracks.append(_Track(layer, path, None, layer != "composed" or keep_alpha))
        return tracks
    target = media.frame_target(final, like, start_number=start_number, bits=bits)
    for layer in layers:
        if layer == "composed":
            own = target
        elif target.whole_folder:
            own = media.FrameTarget(final.with_name(f"{final.name}_{layer}"), target.naming, True, start_number, bits)
        else:
            own = media.FrameTarget(target.folder, target.naming.with_layer(layer), False, start_number, bits)
        if own.naming.extension not in WRITABLE_IMAGE_EXTENSIONS and (layer != "composed" or keep_alpha):
            raise UsageError(f"{own.describe()}: {own.naming.extension} frames cannot hold alpha", hint="write png, tif or exr frames")
        tracks.append(_Track(layer, None, own, layer != "composed" or keep_alpha))
    return tracks


class ResumableOutput:
    """Writes frames into a hidden work folder in segments, saving the loop state after each.

    On success the segments become the final video (stream copy, audio added) or image
    sequence, one per requested layer, and the work folder is removed. On failure or Ctrl-C
    the completed segments stay, and a later run with resume=True continues after them.
    """

    def __init__(self, final: Path, like: media.SourceInfo, *, fingerprint: dict, resume: bool, overwrite: bool,
                 encode: media.EncodeOptions, layers: tuple[str, ...] = ("composed",), start_number: int | None = None,
                 bits: int | None = None, keep_alpha: bool = False):
        self.final = Path(final)
        self.like = like
        self.encode = encode
        self.overwrite = overwrite
        self.is_video = media.is_video_path(self.final)
        if self.is_video and self.final.suffix.lower() not in media.WRITABLE_VIDEO_EXTENSIONS:
            raise UsageError(f"{final}: cannot write {self.final.suffix} videos",
                             hint=f"use one of {', '.join(sorted(media.WRITABLE_VIDEO_EXTENSIONS))}, or a folder name")
        self.keep_alpha = keep_alpha
        self.tracks = plan_tracks(self.final, like, layers, encode, start_number, bits, keep_alpha)
        for track in self.tracks:
            if track.video is not None:
                if track.video.exists() and not overwrite:
                    raise OutputError(f"{track.video}: already exists", hint="pass --overwrite to replace it, or --skip-existing")
                media.ensure_writable_dir(track.video.parent)
            else:
                media.check_target(track.target, [like.path], overwrite)
        self.numbers = self.tracks[0].target.numbers(like, like.frame_count) if not self.is_video else []
        self.bits = {t.layer: t.target.depth(like) for t in self.tracks if t.target is not None}
        self.work = self.final.with_name(f".{self.final.name.replace('%', '_')}.tcvc-partial")
        self.manifest_path = self.work / "manifest.json"
        self.fingerprint = fingerprint
        self.segments: list[dict] = []
        self.state: np.ndarray | None = None
        self.previous_edges: np.ndarray | None = None
        self.anchor: tuple[np.ndarray, np.ndarray] | None = None  # (colour, line art) of the shot's anchor frame
        self.saved: dict[str, np.ndarray] = {}  # everything the loop saved with the last segment
        manifest = self._read_manifest() if resume else None
        if manifest is not None:
            if manifest.get("fingerprint") != fingerprint:
                raise UsageError(f"{final}: the interrupted run used another model, input or options",
                                 hint="run without --resume to start over")
            self.segments = manifest["segments"]
            if self.done and (self.work / "state.npz").is_file():
                saved = np.load(self.work / "state.npz")
                self.saved = {name: saved[name] for name in saved.files}
                self.state = saved["condition"] if "condition" in saved else None
                self.previous_edges = saved["edges"] if "edges" in saved else None
                if "anchor_colour" in saved:
                    self.anchor = (saved["anchor_colour"], saved["anchor_line"])
        else:
            if resume:
                log.info("%s: nothing to resume; starting from frame 0", final)
            shutil.rmtree(self.work, ignore_errors=True)
            try:
                self.work.mkdir(parents=True)
                for track in self.tracks:
                    if track.target is not None:
                        (self.work / f"frames-{track.layer}").mkdir()
            except OSError as exc:
                raise OutputError(f"{final}: cannot write there ({exc.strerror})",
                                  hint="choose an output in a folder you can write to") from None
        self.count = self.done
        self._writers: dict[str, media.FrameSink] = {}
        self._names: dict[str, str] = {}
        self._in_segment = 0
        self.size: tuple[int, int] | None = None

    @property
    def done(self) -> int:
        return sum(segment["frames"] for segment in self.segments)

    @property
    def outputs(self) -> dict[str, str]:
        return {track.layer: track.where for track in self.tracks}

    def _read_manifest(self) -> dict | None:
        try:
            return json.loads(self.manifest_path.read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def write(self, frame: np.ndarray, line: np.ndarray | None = None, alpha: np.ndarray | None = None) -> None:
        """One composed frame (RGB uint8), with the line art and the input's alpha it came from."""
        try:
            self._write(frame, line, alpha)
        except OSError as exc:  # a full disk, a vanished network share
            raise OutputError(f"{self.final}: cannot write frame {self.count} ({exc.strerror or exc})",
                              hint="free space or fix the output location, then run again with --resume") from None

    def _write(self, frame: np.ndarray, line: np.ndarray | None, alpha: np.ndarray | None) -> None:
        alpha = alpha if self.keep_alpha else None
        layered = split(frame, line, alpha) if any(t.layer != "composed" for t in self.tracks) else {}
        for track in self.tracks:
            image = layered[track.layer] if track.layer != "composed" else frame
            if track.layer == "composed" and track.alpha:
                opaque = np.full(frame.shape[:2], 255, np.uint8)
                image = np.dstack([frame, media.to_depth(alpha, 8) if alpha is not None else opaque])
            if track.video is not None:
                writer = self._writers.get(track.layer)
                if writer is None:
                    name = f"seg-{len(self.segments):05d}-{track.layer}{self.final.suffix.lower()}"
                    writer = media.VideoWriter(self.work / name, frame.shape[1], frame.shape[0], self.like.fps,
                                               options=self.encode, overwrite=True, alpha=track.alpha,
                                               bits=self.like.bit_depth)
                    self._writers[track.layer], self._names[track.layer] = writer, name
                writer.write(image)
            else:
                name = track.target.naming.name(self.numbers[self.count])
                media.write_image(self.work / f"frames-{track.layer}" / name, image, bits=self.bits[track.layer])
        self.size = (frame.shape[1], frame.shape[0])
        self.count += 1
        self._in_segment += 1

    def checkpoint(self, condition: np.ndarray | None, edges: np.ndarray | None,
                   anchor: tuple[np.ndarray, np.ndarray] | None = None, extra: dict[str, np.ndarray] | None = None) -> None:
        """Seal the frames written since the last checkpoint, with the state that follows them."""
        if self._in_segment == 0:
            return
        for writer in self._writers.values():
            writer.commit()
        files = dict(self._names)
        self._writers, self._names = {}, {}
        arrays = {}
        if condition is not None:
            arrays["condition"] = condition
        if edges is not None:
            arrays["edges"] = edges
        if anchor is not None:
            arrays["anchor_colour"], arrays["anchor_line"] = anchor
        arrays.update(extra or {})
        state_temp = self.work / "state.partial.npz"
        np.savez(state_temp, **arrays)
        os.replace(state_temp, self.work / "state.npz")
        self.segments.append({"frames": self._in_segment, "files": files})
        self._in_segment = 0
        temp = self.work / "manifest.partial.json"
        temp.write_text(json.dumps({"fingerprint": self.fingerprint, "segments": self.segments}, indent=1), "utf-8")
        os.replace(temp, self.manifest_path)

    def commit(self) -> None:
        if self._in_segment:
            raise RuntimeError("commit() before the last checkpoint()")
        for track in self.tracks:
            if track.video is not None:
                composed = track.layer == "composed"
                audio = self.like.audio_source if composed else None
                delay = self.like.video.video_delay if self.like.video is not None and audio == self.like.path else 0.0
                timecode = self.like.video.timecode if self.like.video is not None else None
                media.concat_videos([self.work / s["files"][track.layer] for s in self.segments], track.video,
                                    audio_from=audio, video_offset=delay, timecode=timecode)
            else:
                frames = self.work / f"frames-{track.layer}"
                size = self.size
                if size is None and self.count:
                    size = media.read_image(frames / track.target.naming.name(self.numbers[0])).shape[1::-1]
                extra = {"source": str(self.like.path.resolve()), "layer": track.layer}
                text = media.frames_json(self.like, track.target, self.numbers[:self.count], size,
                                         self.bits[track.layer], extra)
                (frames / track.target.sidecar).write_text(text, "utf-8")
                media.publish_sequence(frames, track.target, self.overwrite)
        shutil.rmtree(self.work, ignore_errors=True)

    def abort(self) -> Path | None:
        """Drop the unfinished segment. Completed ones stay for a later --resume: returns the work
        folder that keeps them, or None when there were none (the folder is then removed)."""
        for writer in self._writers.values():
            writer.abort()
        self._writers, self._names = {}, {}
        if self.done and self.manifest_path.is_file():
            return self.work
        shutil.rmtree(self.work, ignore_errors=True)
        return None


# --------------------------------------------------------------------------- the engine


@dataclass
class _Prepared:
    index: int
    line_full: np.ndarray  # uint8 HxW at source resolution
    line_work: np.ndarray  # uint8 hxw at work size
    edges: np.ndarray | None
    is_cut: bool
    # Motion-carried colouring: the line art's guide at the flow size, and the flow from this
    # frame to the frame before, both worked out ahead in the reader thread.
    guide: np.ndarray | None = None
    step: np.ndarray | None = None


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


class _Pipeline:
    """The reader and writer threads around the calling thread's colouring loop.

    `frames()` yields the reader's prepared frames; `send()` hands the writer a finished frame,
    a frame to compose, or a checkpoint. Leaving the `with` block waits for the writer, and
    re-raises a failure of either thread; a failure in the loop stops both threads.
    """

    def __init__(self, colorizer: "Colorizer", source: media.FrameSource, out: ResumableOutput, work: tuple[int, int],
                 progress: Progress | None, cuts: set[int] | None = None):
        info = source.info
        self.source, self.out, self.total = source, out, info.frame_count
        detector = detector_for(info.width, info.height, colorizer.options.cut_threshold)
        self.stop = threading.Event()
        self.prepared: queue.Queue = queue.Queue(maxsize=4)
        self.finished: queue.Queue = queue.Queue(maxsize=8)
        # What the writer needs of a frame besides its colours: its line art (layers) and alpha.
        side = {} if any(t.layer != "composed" or t.alpha for t in out.tracks) else None
        self.reader = _Stage(lambda: colorizer._read(source, out.done, out.previous_edges, detector, work, self.prepared,
                                                     self.stop, cuts, side), "tcvc-reader")
        self.writer = _Stage(lambda: colorizer._write(out, self.finished, self.stop, self.total, progress, side),
                             "tcvc-writer")

    def __enter__(self) -> "_Pipeline":
        self.reader.start()
        self.writer.start()
        return self

    def frames(self) -> Iterator[_Prepared]:
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


class Colorizer:
    """A loaded model on its device, ready to colour videos one after another."""

    def __init__(self, loaded: LoadedModel | None, options: ColorizeOptions = ColorizeOptions()):
        """`loaded=None`: model-free colouring, colours carried from the seed frame and keyframes
        along the motion of the line art (tcvc_cli/propagate.py)."""
        self.loaded = loaded
        self.config = loaded.config if loaded is not None else None
        self.options = options
        self.device = select_device(options.device)
        self.half = options.half and self.device.type == "cuda"
        self.dtype = torch.float16 if self.half else torch.float32
        self.model = prepare_for_inference(loaded.model, self.device, self.half) if loaded is not None else None
        self.is_lineart = self.config is None or self.config.input.mode == "lineart"
        # Model-free colouring and motion-compensated models carry colours along the line art's motion.
        self.carries_motion = self.config is None or self.config.condition == "motion"
        if options.upscale == "flat" and not self.is_lineart:
            raise UsageError("--upscale flat needs a line-art model; this checkpoint takes greyscale input",
                             hint="use --upscale bicubic")
        if options.from_color and self.config is None:
            raise UsageError("--from-color needs a model", hint="pass --model, or colour the line art itself")
        if options.cut_reset == "blank" and self.config is None:
            raise UsageError("--cut-reset blank needs a model: without one a new shot takes its colours from the seed "
                             "frame or a keyframe", hint="pass --model, or a keyframe at the start of each shot")
        self.cut_reset = options.cut_reset if options.cut_reset != "auto" else "blank" if self.carries_motion and loaded else "seed"

    @property
    def _model_work_size(self) -> int | None:
        """The short side the model runs at (None: the source's own)."""
        size = self.options.work_size if self.options.work_size is not None else self.config.image_size
        return size or None

    @property
    def kind(self) -> str:
        return "model-free" if self.config is None else "motion-compensated model" if self.carries_motion else "model"

    # -- one frame through the network
    def _to_tensor(self, image: np.ndarray) -> torch.Tensor:
        if not image.flags.writeable:  # frames straight from the decoder's buffer
            image = image.copy()
        tensor = torch.from_numpy(image).to(self.device, non_blocking=True)
        tensor = tensor.permute(2, 0, 1).unsqueeze(0) if tensor.dim() == 3 else tensor[None, None]
        return tensor.to(self.dtype) / 255.0

    def _forward(self, line: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        height, width = line.shape[-2:]
        multiple = self.config.size_multiple
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            line = F.pad(line, (0, pad_w, 0, pad_h), mode=mode)
            condition = F.pad(condition, (0, pad_w, 0, pad_h), mode=mode)
        if self.device.type == "cuda":
            line = line.contiguous(memory_format=torch.channels_last)
            condition = condition.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            out = self.model(line, condition)
        return out[:, :, :height, :width]

    def _line_of(self, frame: np.ndarray) -> np.ndarray:
        if self.options.from_color:  # the model's line art, without its training augmentations
            return lineart_of(frame, replace(self.config.input, augment=()))
        return to_grey(frame)  # already grey when decoded as such; folders of RGB line art too

    # -- a whole video
    def colorize(self, source_path: Path, output: Path, *, seed_frame: Path | None = None, keyframes: Path | None = None,
                 resume: bool = False, overwrite: bool = False, encode: media.EncodeOptions = media.EncodeOptions(),
                 progress: Progress | None = None, delivery: Delivery = Delivery(),
                 shots: Path | None = None) -> ColorizeResult:
        """Colour `source_path` into `output`. `shots`: an editorial shot list (editorial.py) whose
        cuts replace detected ones."""
        source_path, output = Path(source_path), Path(output)
        if media.is_video_path(output) or not is_pattern(output):
            media.check_output(output, [source_path], overwrite=True)  # same-as-input check; existence handled below
        started = time.perf_counter()
        # Line art needs one channel: ffmpeg converts, and a third of the bytes cross the pipe.
        # Without feedback each frame stands alone, so a folder of pages may mix sizes (model colouring).
        pages = not self.options.feedback and self.config is not None and not media.is_video_path(output)
        with media.open_source(source_path, grey=not self.options.from_color, mixed_sizes=pages,
                               fill_gaps=delivery.fill_gaps, keep_alpha=True) as source:
            info = source.info
            numbers = info.numbers or list(range(info.frame_count))
            rate_known = info.is_video or bool(info.extra.get("frames_json", {}).get("fps"))
            shot_list = (read_shots(shots, fps=info.fps, first_number=numbers[0], frame_count=info.frame_count,
                                    rate_known=rate_known) if shots is not None else None)
            if self.config is None:
                if seed_frame is None and keyframes is None:
                    raise UsageError("colouring without a model needs a coloured frame to start from",
                                     hint="pass --seed-frame (the coloured first frame) or --keyframes (a folder of "
                                          "coloured frames), or --model to colour with a trained model")
                work_w, work_h = flow_dimensions(info.width, info.height, self.options.work_size or None)
            else:
                work_w, work_h = work_dimensions(info.width, info.height, self._model_work_size)
            # Warn about a seed whose size differs from the video's; the step down to the work size is expected.
            seed_full = load_reference(seed_frame, (info.width, info.height), "seed frame",
                                        self.options.stretch_references) if seed_frame else None
            seed_work = media.resize(seed_full, (work_w, work_h), cv2.INTER_AREA) if seed_full is not None else None
            keyframe_paths = find_keyframes(keyframes, info, shot_list) if keyframes else {}
            for path in keyframe_paths.values():  # a wrong file is refused now, not when its frame comes
                described = describe_image(path)
                check_reference_size(path, (described["width"], described["height"]), (info.width, info.height),
                                     "keyframe", self.options.stretch_references)
            cuts = {shot.first for shot in shot_list if shot.first > 0} if shot_list is not None else None
            fingerprint = {
                "input": str(source_path.resolve()), "frames": info.frame_count, "size": [info.width, info.height],
                "model": self.loaded.sha256 if self.loaded is not None else None, "options": {k: v for k, v in asdict(self.options).items() if k not in ("device",)},
                "seed": _file_digest(seed_frame), "keyframes": {str(i): _file_digest(p) for i, p in sorted(keyframe_paths.items())},
                "encode": asdict(encode), "half": self.half, "delivery": asdict(delivery),
                "cuts": sorted(cuts) if cuts is not None else None,
            }
            fingerprint = json.loads(json.dumps(fingerprint))  # as the manifest will hold it (tuples become lists)
            out = ResumableOutput(output, info, fingerprint=fingerprint, resume=resume, overwrite=overwrite, encode=encode,
                                  layers=delivery.layers, start_number=delivery.start_number, bits=delivery.bits,
                                  keep_alpha=delivery.keep_alpha)
            result = ColorizeResult(input=str(source_path), output=str(output), frames=info.frame_count,
                                    frame_rate=f"{info.fps.numerator}/{info.fps.denominator}",
                                    work_size=(work_w, work_h), resumed_from=out.done, device=str(self.device),
                                    colouring=self.kind, outputs=out.outputs,
                                    shots_from=str(shots) if shots is not None else "detected" if self.options.scene_detect else "none")
            if out.numbers:
                result.first_frame, result.last_frame = out.numbers[0], out.numbers[-1]
            else:
                result.first_frame, result.last_frame = numbers[0], numbers[-1]
            try:
                if self.carries_motion:
                    self._run_motion(source, out, seed_full, keyframe_paths, (work_w, work_h), result, progress, cuts)
                else:
                    self._run(source, out, seed_work, keyframe_paths, (work_w, work_h), result, progress, cuts)
                out.commit()
            except KeyboardInterrupt as stop:
                if out.abort() is None:
                    raise interruption(stop, f"{output}: stopped before any frame was saved; nothing is left behind",
                                       hint="run the same command again to start over") from None
                raise interruption(stop, f"{output}: stopped; {out.done} of {info.frame_count} frames are saved for --resume "
                                         f"in {out.work}", hint="run the same command with --resume to continue where it stopped") from None
            except TcvcError as error:
                kept = out.abort()
                if kept is not None:
                    saved = f"{out.done} of {info.frame_count} frames are kept in {kept} for --resume"
                    error.hint = f"{error.hint}; {saved}" if error.hint else saved
                raise
            except BaseException:
                kept = out.abort()
                if kept is not None:
                    log.warning("%s: %d of %d frames are kept in %s for --resume", output, out.done, info.frame_count, kept)
                raise
        result.seconds = time.perf_counter() - started
        result.name_shots(numbers, shot_list)
        # Reported in the input's own frame numbers (a video's are its indices).
        result.cuts = [numbers[index] for index in result.cuts]
        result.keyframes_used = [numbers[index] for index in result.keyframes_used]
        for shares in result.confidence:
            shares["frame"] = numbers[shares["frame"]]
        _warn_unexplained(source_path, result)
        return result

    def _read(self, source: media.FrameSource, start: int, previous_edges: np.ndarray | None, detector: Any,
              work: tuple[int, int], prepared_q: queue.Queue, stop: threading.Event, cuts: set[int] | None = None,
              side: dict | None = None) -> None:
        """Reader thread: decode, derive line art, judge scene cuts (or take them from `cuts`).

        `side`, when given, receives each frame's (line art, alpha) for the writer."""
        info = source.info
        grey = not self.options.from_color
        # Motion-carried colouring with feedback also needs the motion from the frame before.
        flow = FlowField() if self.carries_motion and self.options.feedback else None
        guide_before = None
        for index, frame in enumerate(source):
            if stop.is_set():
                return
            if index < start - 1:
                continue  # already in completed segments
            frame, alpha = media.split_alpha(frame, grey)
            if index == start - 1:  # the frame before a resumed run's first: its guide only
                guide_before = line_guide(media.resize(self._line_of(frame), work, cv2.INTER_AREA)) if flow else None
                continue
            if index == start and frame.ndim == 3 and not self.options.from_color and _looks_coloured(frame):
                log.warning("%s looks like colour footage; pass --from-color to derive line art from it", info.path)
            line_full = self._line_of(frame)
            own_size = line_full.shape[1], line_full.shape[0]
            same_size = own_size == (info.width, info.height)
            frame_work = work if same_size else work_dimensions(*own_size, self._model_work_size)  # a page of its own size
            line_work = media.resize(line_full, frame_work, cv2.INTER_AREA)
            edges = (detector.edges(analysis_view(line_full, self.is_lineart), self.is_lineart)
                     if self.options.scene_detect and same_size and cuts is None else None)
            if cuts is not None:
                is_cut = index in cuts
            else:
                is_cut = edges is not None and index > 0 and detector.is_cut(previous_edges, edges)
            if side is not None:
                side[index] = (line_full, alpha)
            previous_edges = edges
            prepared = _Prepared(index, line_full, line_work, edges, is_cut)
            if self.carries_motion:
                prepared.guide = line_guide(line_work)
                if flow is not None and guide_before is not None and guide_before.shape == prepared.guide.shape:
                    prepared.step = flow(prepared.guide, guide_before)
                guide_before = prepared.guide
            _put(prepared_q, prepared, stop)
        _put(prepared_q, _END, stop)

    def _write(self, out: ResumableOutput, output_q: queue.Queue, stop: threading.Event, total: int,
               progress: Progress | None, side: dict | None = None) -> None:
        """Writer thread: finish frames (compose at source resolution), encode, seal segments."""
        while True:
            item = _get(output_q, stop)
            if item is _END:
                return
            if isinstance(item[0], str) and item[0] == "checkpoint":
                out.checkpoint(*item[1:])
                continue
            if len(item) == 2:  # a finished frame
                index, frame = item
            else:
                index, colour, line_full, keyframe = item
                frame = keyframe if keyframe is not None else compose(colour, line_full, upscale=self.options.upscale,
                                                                        is_lineart=self.is_lineart)
            line, alpha = side.pop(index) if side is not None else (None, None)
            out.write(frame, line, alpha)
            if progress:
                progress(index + 1, total)

    def _run(self, source: media.FrameSource, out: ResumableOutput, seed_work: np.ndarray | None,
             keyframe_paths: dict[int, Path], work: tuple[int, int], result: ColorizeResult,
             progress: Progress | None, cuts: set[int] | None = None) -> None:
        info = source.info
        total = info.frame_count
        start = out.done
        blank = torch.zeros(1, 3, work[1], work[0], device=self.device, dtype=self.dtype)
        reset = self._to_tensor(seed_work) if seed_work is not None else blank
        cut_reset = reset if self.cut_reset == "seed" else blank
        condition = torch.from_numpy(out.state).to(self.device, self.dtype) if out.state is not None else reset
        anchoring = self.options.feedback and self.options.anchor > 0
        radius = self.options.anchor_radius if self.options.anchor_radius is not None else max(1, round(min(work) / 32))
        anchor = (Anchor(*(torch.from_numpy(a).to(self.device, self.dtype) for a in out.anchor))
                  if out.anchor is not None and anchoring else None)
        if progress and start:
            progress(start, total)
        last_edges = out.previous_edges
        with _Pipeline(self, source, out, work, progress, cuts) as pipeline:
            for item in pipeline.frames():
                if item.is_cut:
                    result.cuts.append(item.index)
                    condition = cut_reset
                    anchor = None  # the seed belongs to another shot
                if not self.options.feedback:
                    condition = reset
                    if condition.shape[-2:] != item.line_work.shape:  # a page of another size
                        condition = F.interpolate(condition, size=item.line_work.shape, mode="area")
                line = self._to_tensor(item.line_work)
                keyframe = None
                if item.index in keyframe_paths:
                    keyframe = load_reference(keyframe_paths[item.index], (info.width, info.height), "keyframe",
                                              self.options.stretch_references)
                    result.keyframes_used.append(item.index)
                    predicted = self._to_tensor(media.resize(keyframe, work, cv2.INTER_AREA))
                    anchor = Anchor(predicted, line) if anchoring else None
                else:
                    if item.index == 0 and seed_work is not None and anchoring:
                        anchor = Anchor(reset, line)  # the seed frame is the colouring of frame 0
                    if anchor is not None:
                        condition = anchor_condition(condition, line, anchor, radius, self.options.anchor)
                    predicted = self._forward(line, condition)
                colour = predicted[0].permute(1, 2, 0).float().cpu().numpy()
                pipeline.send((item.index, colour, item.line_full, keyframe))
                condition = predicted
                last_edges = item.edges
                done = item.index + 1
                if done % self.options.segment_frames == 0 or done == total:
                    state = condition.float().cpu().numpy() if self.options.feedback else None
                    saved_anchor = (anchor.colour.float().cpu().numpy(), anchor.line.float().cpu().numpy()) if anchor is not None else None
                    pipeline.send(("checkpoint", state, last_edges, saved_anchor))

    def _run_motion(self, source: media.FrameSource, out: ResumableOutput, seed: np.ndarray | None,
                    keyframe_paths: dict[int, Path], work: tuple[int, int], result: ColorizeResult,
                    progress: Progress | None, cuts: set[int] | None = None) -> None:
        """Colours carried along the line art's motion from the shot's anchor, painted where it
        explains nothing by the motion-compensated model when there is one (propagate.py).

        The seed frame and keyframes are written as the artist gave them. Between the shot's
        anchor and a later keyframe, frames are held until the keyframe arrives, coloured
        forwards and backwards, and blended (`both_ways`).
        """
        info = source.info
        total = info.frame_count
        start = out.done
        size = (info.width, info.height)
        # Motion is measured at the flow size even when a model paints at a smaller work size:
        # carried colours are only as right as the motion they follow.
        motion_size = work if self.model is None else flow_dimensions(info.width, info.height, max(min(work), FLOW_SHORT_SIDE))
        propagator = Propagator(size, motion_size, flat=self.options.upscale == "flat")
        painter = self._motion_painter(work) if self.model is not None else None
        # Progress is counted here, not as frames are written: a frame held for a later keyframe
        # is half done once coloured forwards, and done once coloured backwards too.
        pipeline = _Pipeline(self, source, out, motion_size, None, cuts)
        units = float(start)

        def advance(amount: float) -> None:
            nonlocal units
            units += amount
            if progress:
                progress(min(total, int(units + 1e-6)), total)

        saved = out.saved
        anchor, seed_anchor = _restore_state(saved, "carried_anchor", AnchorFrame), _restore_state(saved, "carried_seed", AnchorFrame)
        previous = _restore_state(saved, "carried_previous", Track)
        seed_ink = float(saved["seed_ink_strength"]) if "seed_ink_strength" in saved else 1.0
        later_keys = sorted(keyframe_paths)
        held: list[tuple[_Prepared, Carried | None]] = []  # frames waiting for a later keyframe, coloured forwards
        previous_index = start - 1  # the frame `previous` colours
        checkpointed = start
        last_edges = out.previous_edges
        if progress and start:
            progress(start, total)

        def emit(index: int, frame: np.ndarray, carried_share: float = 1.0, previous_share: float = 0.0,
                 held_frame: bool = False) -> None:
            result.confidence.append({"frame": index, "anchor": round(carried_share, 4),
                                      "previous": round(previous_share, 4),
                                      "guessed": round(max(0.0, 1.0 - carried_share - previous_share), 4)})
            pipeline.send((index, frame))
            if not held_frame:  # a held frame's progress was counted as it was coloured
                advance(1.0)

        def emit_carried(index: int, carried: Carried, held_frame: bool = False) -> None:
            emit(index, carried.colour, carried.carried_share, float((carried.confidence == FROM_PREVIOUS).mean()), held_frame)

        def colour_forward(item: _Prepared) -> Carried | None:
            nonlocal previous, previous_index
            if anchor is None:
                return None
            # The reader measured the flow to the frame before: it is the previous output's
            # whenever the previous output is that frame's colouring.
            follows = previous is not None and previous_index == item.index - 1 and self.options.feedback
            carried = propagator.carry(item.line_full, anchor, previous if self.options.feedback else None, painter,
                                       small_line=item.line_work, guide=item.guide, step=item.step if follows else None)
            previous_index = item.index
            previous = carried.track
            return carried

        def hold(item: _Prepared) -> None:
            forward = colour_forward(item)
            held.append((item, forward))
            advance(0.5 if forward is not None else 0.0)

        def release(keyframe: AnchorFrame | None, keyframe_index: int | None) -> None:
            """Emit the held frames, coloured backwards too from the keyframe that ends them."""
            nonlocal held
            items, forward = [item for item, _ in held], [ahead for _, ahead in held]
            backward: list[Carried | None] = [None] * len(held)
            if keyframe is not None and self.options.both_ways:
                later = propagator.start(keyframe)
                for position in range(len(items) - 1, -1, -1):
                    carried = propagator.carry(items[position].line_full, keyframe, later if self.options.feedback else None,
                                               painter, small_line=items[position].line_work, guide=items[position].guide)
                    backward[position], later = carried, carried.track
                    advance(0.5 if forward[position] is not None else 1.0)
            else:
                advance(sum(0.5 for ahead in forward if ahead is not None))
            first = items[0].index - 1 if items else 0
            for item, ahead, behind in zip(items, forward, backward):
                if ahead is not None and behind is not None:
                    frame = blend(ahead, behind, (item.index - first) / max(1, keyframe_index - first))
                    either = np.maximum(ahead.confidence, behind.confidence)
                    emit(item.index, frame, float((either >= FROM_ANCHOR).mean()),
                         float((either == FROM_PREVIOUS).mean()), held_frame=True)
                elif ahead is not None or behind is not None:
                    emit_carried(item.index, ahead or behind, held_frame=True)
                else:
                    raise InputError(f"{info.path}: frame {item.index} has no coloured frame to take colours from",
                                     hint="pass --seed-frame, or a keyframe at or before the start of each shot")
            held = []

        def start_shot(item: _Prepared) -> None:
            """The model paints a shot's first frame from its line art alone (nothing to carry from),
            and that frame anchors the shot until a keyframe arrives."""
            nonlocal anchor, previous, previous_index
            colour = propagator.paint(item.line_full, painter, seed_ink, small_line=item.line_work)
            anchor = propagator.anchor(colour, item.line_full, item.guide)
            previous, previous_index = propagator.start(anchor), item.index
            emit(item.index, colour, 0.0, 0.0)

        def save_state(done: int) -> None:
            nonlocal checkpointed
            segment = self.options.segment_frames
            if done // segment > checkpointed // segment or done == total:
                extra = {**_save_state(anchor, "carried_anchor"), **_save_state(seed_anchor, "carried_seed"),
                         **_save_state(previous, "carried_previous"), "seed_ink_strength": np.array(seed_ink)}
                pipeline.send(("checkpoint", None, last_edges, None, extra))
                checkpointed = done

        pages: dict[tuple[int, int], tuple[Propagator, Any]] = {}  # pages of other sizes (no feedback)

        def paint_page(item: _Prepared) -> None:
            """A page of its own size in a folder coloured without feedback: nothing carries onto
            it from a frame of another size, so the model paints it from its line art alone."""
            own = item.line_full.shape[1], item.line_full.shape[0]
            if own not in pages:
                page_work = work_dimensions(*own, self._model_work_size)
                page_motion = flow_dimensions(*own, max(min(page_work), FLOW_SHORT_SIDE))
                pages[own] = Propagator(own, page_motion, flat=self.options.upscale == "flat"), self._motion_painter(page_work)
            page, page_painter = pages[own]
            emit(item.index, page.paint(item.line_full, page_painter, seed_ink), 0.0, 0.0)

        with pipeline:
            for item in pipeline.frames():
                if item.line_full.shape[::-1] != size:
                    paint_page(item)
                    save_state(item.index + 1)
                    continue
                if item.is_cut:
                    release(None, None)  # the next keyframe belongs to the new shot
                    result.cuts.append(item.index)
                    anchor, previous = seed_anchor, None
                    if painter is not None and self.cut_reset == "blank" and item.index not in keyframe_paths:
                        start_shot(item)
                        last_edges = item.edges
                        save_state(item.index + 1)
                        continue
                    if anchor is not None and not any(k >= item.index for k in later_keys):
                        log.warning("%s: frame %d starts a new shot without a keyframe; colours are carried from the "
                                    "seed frame", info.path, item.index)
                artist = None  # the artist's own colouring of this frame, written as given
                if item.index in keyframe_paths:
                    artist = load_reference(keyframe_paths[item.index], size, "keyframe", self.options.stretch_references)
                    result.keyframes_used.append(item.index)
                elif item.index == 0 and seed is not None:
                    artist = seed
                if artist is not None:
                    reference = propagator.anchor(artist, item.line_full, item.guide)
                    if item.index == 0 and seed is not None:
                        seed_anchor, seed_ink = propagator.anchor(seed, item.line_full, item.guide), ink_strength(seed, item.line_full)
                    if item.index in keyframe_paths:
                        release(reference, item.index)
                    anchor, previous, previous_index = reference, propagator.start(reference), item.index
                    emit(item.index, artist)
                else:
                    upcoming = next((k for k in later_keys if k > item.index), None)
                    if upcoming is not None and (self.options.both_ways or anchor is None):
                        hold(item)
                    else:
                        carried = colour_forward(item)
                        if carried is None and painter is not None:  # no seed frame: the model starts the shot
                            start_shot(item)
                        elif carried is None:
                            raise InputError(f"{info.path}: frame {item.index} has no coloured frame to take colours from",
                                             hint="pass --seed-frame, or a keyframe at or before the start of each shot")
                        else:
                            emit_carried(item.index, carried)
                last_edges = item.edges
                if not held:
                    save_state(item.index + 1)
            release(None, None)

    def _motion_painter(self, work: tuple[int, int]):
        """The motion-compensated generator as propagate.py's painter: it sees the line art and
        the carried colours with the mask of where motion explains them, and paints every pixel
        the motion does not explain. (Leaving the pixels of partly explained regions to the
        region fill instead measured 0.1 to 1.2 dB worse on each benchmark clip: docs/motion.md.)"""

        def paint(line: np.ndarray, carried: np.ndarray, explained: np.ndarray) -> np.ndarray:
            motion_size = line.shape[1], line.shape[0]
            mask = explained.astype(np.uint8) * 255
            if motion_size != work:  # the model paints at its own work size
                line, carried = media.resize(line, work, cv2.INTER_AREA), media.resize(carried, work, cv2.INTER_AREA)
                mask = np.where(media.resize(mask, work, cv2.INTER_AREA) >= 128, 255, 0).astype(np.uint8)
            condition = torch.cat([self._to_tensor(carried), self._to_tensor(mask)], 1)
            predicted = self._forward(self._to_tensor(line), condition)
            painted = (predicted[0].permute(1, 2, 0).float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
            return painted if motion_size == work else cv2.resize(painted, motion_size, interpolation=cv2.INTER_CUBIC)

        return paint


def _save_state(thing: AnchorFrame | Track | None, name: str) -> dict[str, np.ndarray]:
    """An anchor or a track as arrays for the resumable state (state.npz)."""
    if thing is None:
        return {}
    return {f"{name}_{part.name}": getattr(thing, part.name) for part in fields(thing) if getattr(thing, part.name) is not None}


def _restore_state(saved: dict[str, np.ndarray], name: str, kind: type) -> Any:
    parts = fields(kind)
    required = [part.name for part in parts if part.default is MISSING]
    if not all(f"{name}_{part}" in saved for part in required):
        return None
    return kind(**{part.name: saved[f"{name}_{part.name}"] for part in parts if f"{name}_{part.name}" in saved})


# A carried frame with less than this share of its pixels carried from an artist's frame (the
# seed or a keyframe) is named in a warning: much of it was guessed or painted.
LOW_CARRIED = 0.75


def _warn_unexplained(path: Path, result: ColorizeResult) -> None:
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


def _looks_coloured(frame: np.ndarray) -> bool:
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    return float(hsv[:, :, 1].mean()) > 40 and float((frame.mean(axis=2) > 200).mean()) < 0.5


def _file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def iter_inputs(paths: list[Path]) -> Iterator[Path]:
    """Expand folders of episodes: a folder without frames stands for the videos inside it."""
    for path in paths:
        if path.is_dir() and not media.list_frames(path):
            videos = sorted(p for p in path.iterdir() if p.is_file() and media.is_video_path(p))
            if not videos:
                raise InputError(f"{path}: holds neither frames nor videos")
            yield from videos
        else:
            yield path
