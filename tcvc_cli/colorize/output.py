"""Where coloured frames go: the hidden work folder written in segments with the loop's state
after each (resume), the tracks of each layer, composition of colour and line art at the
source resolution, and publishing or removing the partial output.

Owns: ResumableOutput, plan_tracks, compose. Imports: colorize.layers, colorize.options,
media, lineart, motion, errors.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import media
from ..errors import OutputError, UsageError
from ..media.images import WRITABLE_IMAGE_EXTENSIONS
from ..motion.propagate import GUESSED, AnchorFrame, Track, finished, flat_fill
from .layers import ALPHA_LAYERS, confidence_matte, split
from .options import Upscale

log = logging.getLogger("tcvc")


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
        layered = [layer for layer in layers if layer in ALPHA_LAYERS]
        if layered and not encode.spec.alpha:
            raise UsageError(f"--layers {','.join(layered)} needs a codec with alpha; {encode.codec} has none",
                             hint="use --codec prores4444 or ffv1, or a frame-folder output")
        if keep_alpha and "composed" in layers and not encode.spec.alpha:
            raise UsageError(f"--keep-alpha needs a codec with alpha; {encode.codec} has none",
                             hint="use --codec prores4444 or ffv1, or a frame-folder output")
        for layer in layers:
            path = final if layer == "composed" else final.with_name(f"{final.stem}_{layer}{final.suffix}")
            tracks.append(_Track(layer, path, None, layer in ALPHA_LAYERS or (layer == "composed" and keep_alpha)))
        return tracks
    target = media.frame_target(final, like, start_number=start_number, bits=bits)
    for layer in layers:
        if layer == "composed":
            own = target
        elif target.whole_folder:
            own = media.FrameTarget(final.with_name(f"{final.name}_{layer}"), target.naming, True, start_number, bits)
        else:
            own = media.FrameTarget(target.folder, target.naming.with_layer(layer), False, start_number, bits)
        alpha = layer in ALPHA_LAYERS or (layer == "composed" and keep_alpha)
        if own.naming.extension not in WRITABLE_IMAGE_EXTENSIONS and alpha:
            raise UsageError(f"{own.describe()}: {own.naming.extension} frames cannot hold alpha", hint="write png, tif or exr frames")
        tracks.append(_Track(layer, None, own, alpha))
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

    def write(self, frame: np.ndarray, line: np.ndarray | None = None, alpha: np.ndarray | None = None,
              confidence: np.ndarray | float = GUESSED) -> None:
        """One composed frame (RGB uint8), with the line art and the input's alpha it came from,
        and where its colours came from (layers.confidence_matte)."""
        try:
            self._write(frame, line, alpha, confidence)
        except OSError as exc:  # a full disk, a vanished network share
            raise OutputError(f"{self.final}: cannot write frame {self.count} ({exc.strerror or exc})",
                              hint="free space or fix the output location, then run again with --resume") from None

    def _write(self, frame: np.ndarray, line: np.ndarray | None, alpha: np.ndarray | None,
               confidence: np.ndarray | float) -> None:
        alpha = alpha if self.keep_alpha else None
        layered = split(frame, line, alpha) if any(t.layer in ALPHA_LAYERS for t in self.tracks) else {}
        if any(t.layer == "confidence" for t in self.tracks):
            layered["confidence"] = confidence_matte(confidence, frame.shape[1::-1])
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


def save_state(thing: AnchorFrame | Track | None, name: str) -> dict[str, np.ndarray]:
    """An anchor or a track as arrays for the resumable state (state.npz)."""
    if thing is None:
        return {}
    values = {part.name: getattr(thing, part.name) for part in fields(thing)}
    # A track's frame may still be being composed (motion.propagate): its pixels are saved.
    return {f"{name}_{key}": finished(value) for key, value in values.items() if value is not None}


def restore_state(saved: dict[str, np.ndarray], name: str, kind: type) -> Any:
    parts = fields(kind)
    required = [part.name for part in parts if part.default is MISSING]
    if not all(f"{name}_{part}" in saved for part in required):
        return None
    return kind(**{part.name: saved[f"{name}_{part.name}"] for part in parts if f"{name}_{part.name}" in saved})
