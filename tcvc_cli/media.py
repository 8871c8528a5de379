"""Video and frame-folder I/O through ffmpeg pipes.

Frames travel as RGB arrays of shape (H, W, 3) (or (H, W) for single-channel line art on
the way out): uint8, or uint16 where a source is read at 16 bits (`bits=16`). Sinks write
either at the depth they were asked for. Videos are decoded and encoded by the ffmpeg binary that imageio-ffmpeg
ships, always called with an argument list, with stderr drained on a thread so a chatty
ffmpeg can never block the pipe. Outputs are written under a temporary name and renamed
into place only when complete. docs/media.md explains the choices made here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from . import sequence as seq
from .errors import FfmpegError, InputError, OutputError, UsageError
from .images import WRITABLE_IMAGE_EXTENSIONS, describe_image, over_white, read_image, to_depth, write_image

log = logging.getLogger("tcvc")

VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".m4v", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".gif"}
WRITABLE_VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".m4v"}
FRAMES_JSON = "frames.json"
DEFAULT_FOLDER_FPS = Fraction(25)

# Codecs each container accepts as a stream copy; anything else is re-encoded or dropped.
_MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}
_TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg (TCVC_FFMPEG overrides)."""
    override = os.environ.get("TCVC_FFMPEG")
    if override:
        return override
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# --------------------------------------------------------------------------- ffmpeg process


class _StderrDrain:
    """Reads a process's stderr on a thread, keeping the last lines for error messages."""

    def __init__(self, stream, keep: int = 40):
        self.lines: deque[str] = deque(maxlen=keep)
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.lines.append(raw.decode("utf-8", "replace").rstrip())
        stream.close()

    def tail(self) -> str:
        self._thread.join(timeout=5)
        return "\n".join(self.lines)


def run_ffmpeg(args: list[str], what: str) -> tuple[str, str]:
    """Run ffmpeg to completion and return (stdout, stderr); raise FfmpegError on failure."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", *args]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    except FileNotFoundError as exc:  # pragma: no cover - depends on the install
        raise FfmpegError(f"cannot run ffmpeg ({exc})", hint="reinstall with: pip install imageio-ffmpeg") from exc
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise FfmpegError(f"ffmpeg failed while {what}", _tail(stderr))
    return done.stdout.decode("utf-8", "replace"), stderr


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class VideoInfo:
    """What tcvc needs to know about a video before decoding it."""

    path: Path
    width: int
    height: int
    frame_count: int
    fps: Fraction
    duration: float
    start_time: float
    variable_frame_rate: bool
    codec: str
    color_matrix: str | None = None
    audio_codecs: tuple[str, ...] = ()
    subtitle_codecs: tuple[str, ...] = ()
    video_delay: float = 0.0  # how long after the file's earliest stream the first frame starts
    pixel_format: str | None = None
    timecode: str | None = None  # of the first frame (SMPTE HH:MM:SS:FF), when the file carries one

    @property
    def bits_per_sample(self) -> int:
        """8, 10, 12 or 16, from the pixel format (yuv422p10le: 10; rgb48le: 16)."""
        return _format_depth(self.pixel_format)

    @property
    def bit_depth(self) -> int:
        """8, or 16 for anything deeper: how tcvc reads the samples with bits=16."""
        return 8 if self.bits_per_sample <= 8 else 16

    @property
    def has_alpha(self) -> bool:
        """The codec carries transparency (PNG, QuickTime Animation, ProRes 4444, VP9 with alpha...)."""
        return bool(self.pixel_format and _ALPHA_FORMAT_RE.match(self.pixel_format))

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codecs)

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "width": self.width,
            "height": self.height,
            "frame_count": self.frame_count,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "fps_float": float(self.fps),
            "duration": self.duration,
            "start_time": self.start_time,
            "video_delay": self.video_delay,
            "variable_frame_rate": self.variable_frame_rate,
            "codec": self.codec,
            "pixel_format": self.pixel_format,
            "bit_depth": self.bits_per_sample,
            "alpha": self.has_alpha,
            "timecode": self.timecode,
            "first_frame": 0,
            "last_frame": self.frame_count - 1,
            "audio_streams": list(self.audio_codecs),
            "subtitle_streams": list(self.subtitle_codecs),
        }


_STREAM_RE = re.compile(r"Stream #\d+:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?: (Video|Audio|Subtitle): (\w+)(.*)")
_SIZE_RE = re.compile(r"\b(\d{1,5})x(\d{1,5})\b")
_START_RE = re.compile(r"start: (-?[\d.]+)")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_DAMAGE_MARKS = ("partial file", "ended prematurely", "Packet corrupt", "corrupt input packet", "Invalid NAL", "truncated")
_PIXEL_FORMAT_RE = re.compile(r"^(?:\s*\([^)]*\))*,\s*([a-z0-9_]+)")
_ALPHA_FORMAT_RE = re.compile(r"^(yuva|gbrap|rgba|bgra|argb|abgr|ya8|ya16|pal8)")
_TIMECODE_RE = re.compile(r"^\s*timecode\s*:\s*(\d\d[:;]\d\d[:;]\d\d[:;.]\d\d)", re.MULTILINE | re.IGNORECASE)
_DEPTH_RES = ((re.compile(r"(?:rgba|bgra)64"), 16), (re.compile(r"(?:rgb|bgr)48"), 16), (re.compile(r"^p0(10|12|16)"), 0),
              (re.compile(r"(?:p|gray|ya|x2rgb|x2bgr|gbrap|gbrp)(9|10|12|14|16)(?:le|be)?$"), 0))


def _format_depth(pixel_format: str | None) -> int:
    for pattern, depth in _DEPTH_RES:
        match = pattern.search(pixel_format or "")
        if match:
            return depth or int(match.group(1))
    return 8


_MATRIX_RE = re.compile(r"\((?:tv|pc)?,?\s*(bt709|bt470bg|smpte170m|bt2020nc|bt2020c|fcc|smpte240m)")


def check_readable_file(path: Path) -> None:
    """Raise InputError for a missing, unreadable or empty file."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        return
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (permission denied)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes)")


@dataclass(frozen=True)
class _Header:
    text: str
    video: list[re.Match]
    audio_codecs: tuple[str, ...]
    subtitle_codecs: tuple[str, ...]


def _read_header(path: Path) -> _Header:
    """The stream list ffmpeg prints for `-i path` (no decoding)."""
    text = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
    ).stderr.decode("utf-8", "replace")
    streams = list(_STREAM_RE.finditer(text))
    # Cover art (attached pictures) is a video stream too; never treat it as the picture track.
    video = [m for m in streams if m.group(1) == "Video" and "attached pic" not in m.group(3)]
    return _Header(text=text, video=video,
                   audio_codecs=tuple(m.group(2) for m in streams if m.group(1) == "Audio"),
                   subtitle_codecs=tuple(m.group(2) for m in streams if m.group(1) == "Subtitle"))


def probe(path: str | os.PathLike) -> VideoInfo:
    """Probe a video with ffmpeg alone (imageio-ffmpeg ships no ffprobe).

    The header gives size, codec, streams and start time; a stream-copy pass through the
    `framecrc` muxer gives every video packet's timestamp without decoding, from which the
    exact frame count and the frame rate as an exact rational are derived.
    """
    path = Path(path)
    check_readable_file(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a video")
    header = _read_header(path)
    if not header.video:
        if not header.audio_codecs and not header.subtitle_codecs:
            raise InputError(f"{path}: not a readable video (ffmpeg: {_tail(header.text, 1)})",
                             hint="check that the file is a complete video; a truncated download often loses its index")
        raise InputError(f"{path}: contains no video stream", hint="pass a video file or a folder of frames")
    first = header.video[0]
    size = _SIZE_RE.search(first.group(3))
    if not size:
        raise InputError(f"{path}: cannot read the video size from ffmpeg's probe")
    width, height = int(size.group(1)), int(size.group(2))
    matrix = _MATRIX_RE.search(first.group(3))
    pixel_format = _PIXEL_FORMAT_RE.match(first.group(3))
    start = _START_RE.search(header.text)
    duration = _DURATION_RE.search(header.text)
    timecode = _TIMECODE_RE.search(header.text)

    count, fps, vfr, delay = _packet_timing(path)
    if count == 0:
        raise InputError(f"{path}: the video stream holds no frames")
    dur = (int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3))) if duration else count / float(fps)
    return VideoInfo(
        path=path, width=width, height=height, frame_count=count, fps=fps,
        duration=dur, start_time=float(start.group(1)) if start else 0.0, variable_frame_rate=vfr,
        codec=first.group(2), color_matrix=matrix.group(1) if matrix else None,
        audio_codecs=header.audio_codecs, subtitle_codecs=header.subtitle_codecs, video_delay=delay,
        pixel_format=pixel_format.group(1) if pixel_format else None, timecode=timecode.group(1) if timecode else None,
    )


def _packet_timing(path: Path) -> tuple[int, Fraction, bool, float]:
    """Count video packets and derive the exact frame rate from their timestamps.

    Also returns the first frame's time relative to the file's start (ffmpeg shifts every
    stream by the earliest start), which is the delay of the video against the audio.
    """
    out, errors = run_ffmpeg(["-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"], f"probing {path}")
    damage = [line for line in errors.splitlines() if any(mark in line for mark in _DAMAGE_MARKS)]
    if damage:
        raise InputError(f"{path}: the file is truncated or corrupt (ffmpeg: {damage[0].split('] ')[-1]})",
                         hint="re-export or re-download the video; tcvc will not guess at missing frames")
    timebase = Fraction(1, 1)
    presentation: list[int | None] = []
    decoding: list[int] = []
    durations: list[int] = []
    for line in out.splitlines():
        if line.startswith("#tb 0:"):
            timebase = Fraction(line.split(":", 1)[1].strip())
        elif line and line[0] == "0" and "," in line:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) < 4 or not _is_stamp(parts[1]):
                continue
            decoding.append(int(parts[1]))
            presentation.append(int(parts[2]) if _is_stamp(parts[2]) else None)
            durations.append(int(parts[3]) if parts[3].lstrip("-").isdigit() else 0)
    # Presentation times: decode times of a stream with B-frames are shifted and re-rounded. But
    # an AVI with packed B-frames (XviD, DivX) stores no presentation time for most packets:
    # then the decode times, evenly spaced in such files, are the ones to read.
    stamps = decoding if any(stamp is None for stamp in presentation) else presentation
    count = len(stamps)
    if count == 0:
        return 0, DEFAULT_FOLDER_FPS, False, 0.0
    stamps.sort()
    delay = max(0.0, float(stamps[0] * timebase))
    deltas = {b - a for a, b in zip(stamps, stamps[1:])}
    if len(deltas) == 1 and next(iter(deltas)) > 0:
        return count, 1 / (next(iter(deltas)) * timebase), False, delay
    typical = max(set(durations), key=durations.count) if any(durations) else 0
    if count == 1:
        fps = 1 / (typical * timebase) if typical > 0 else DEFAULT_FOLDER_FPS
        return 1, fps, False, delay
    # The timebase may not divide the frame period (Matroska counts milliseconds): find the
    # rate whose ideal timestamps, rounded to the timebase, are the ones stored. None fits a
    # variable frame rate stream; it gets its average rate.
    typical = typical or (stamps[-1] - stamps[0]) // (count - 1)
    average = Fraction(count) / ((stamps[-1] - stamps[0] + typical) * timebase)
    candidates = [Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120)] + [Fraction(round(average)), average.limit_denominator(1001)]
    # Short clips can fit two rates (24 and 24000/1001 differ by 1 ms in 12 frames): the one
    # whose ideal timestamps lie closest to the stored ones wins.
    fitting = [(_misfit(stamps, rate, timebase), index, rate) for index, rate in enumerate(candidates)
               if rate > 0 and _misfit(stamps, rate, timebase) is not None]
    if fitting:
        return count, min(fitting)[2], False, delay
    return count, average.limit_denominator(1001), True, delay


# ffmpeg's AV_NOPTS_VALUE: a packet without that timestamp.
_NO_STAMP = -(2**63)


def _is_stamp(text: str) -> bool:
    return text.lstrip("-").isdigit() and int(text) != _NO_STAMP


def _misfit(stamps: list[int], rate: Fraction, timebase: Fraction) -> float | None:
    """Total distance of the stamps from a constant `rate`, or None if one is more than a tick off."""
    ticks_per_frame = 1 / (rate * timebase)
    errors = [abs(float(stamp - stamps[0] - index * ticks_per_frame)) for index, stamp in enumerate(stamps)]
    return sum(errors) if max(errors) <= 1 else None


# --------------------------------------------------------------------------- frame sources


@dataclass(frozen=True)
class FrameSelection:
    """Which frames of a source to read: [start, end) every `every`-th, by frame index."""

    start: int = 0
    end: int | None = None
    every: int = 1

    def indices(self, total: int) -> range:
        end = total if self.end is None else min(self.end, total)
        return range(self.start, end, self.every)


def parse_position(text: str, fps: Fraction, first_number: int = 0) -> int:
    """`120` is frame 120 (of a sequence numbered from `first_number`: its index is 120 - first);
    `5s`, `5.0`, `00:01:02.5` are times, converted to frame indices."""
    value = text.strip()
    try:
        if re.fullmatch(r"\d+", value):
            if int(value) < first_number:
                raise UsageError(f"frame {value} comes before the first frame, {first_number}",
                                 hint=f"frames of this sequence are numbered from {first_number}")
            return int(value) - first_number
        if re.fullmatch(r"\d+(\.\d*)?s?", value):
            seconds = float(value.rstrip("s"))
        elif re.fullmatch(r"(\d+:)?\d+:\d+(\.\d*)?", value):
            seconds = 0.0
            for part in value.split(":"):
                seconds = seconds * 60 + float(part)
        else:
            raise ValueError(value)
    except ValueError:
        raise UsageError(f"cannot read position {text!r}", hint="use a frame number (120) or a time (5s, 5.0, 00:01:02.5)") from None
    return int(round(seconds * fps))


@dataclass
class SourceInfo:
    """What any frame source (video or folder) says about itself."""

    path: Path
    width: int
    height: int
    frame_count: int
    fps: Fraction
    is_video: bool
    audio_source: Path | None = None  # where the soundtrack for these frames lives
    start_time: float = 0.0
    video: VideoInfo | None = None
    extra: dict = field(default_factory=dict)
    # Frame numbers of the frames read, in order (a sequence's own numbers; a video's indices).
    numbers: list[int] | None = None
    bit_depth: int = 8  # of the samples as stored: 8, or 16 for deeper files (16-bit, 10-bit video, EXR)
    alpha: bool = False
    sequence: seq.Sequence | None = None

    @property
    def naming(self) -> seq.Naming | None:
        """How the input sequence names its frames (None for videos and unrelated images)."""
        return self.sequence.naming if self.sequence is not None else None

    def number(self, index: int) -> int:
        return self.numbers[index] if self.numbers is not None else index


class FrameSource:
    """Iterable of RGB uint8 frames with a `.info`; use as a context manager."""

    info: SourceInfo

    def __iter__(self) -> Iterator[np.ndarray]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _decode_matrix(info: VideoInfo) -> str:
    # Untagged HD is BT.709 by convention; untagged SD is BT.601 (what players assume too).
    if info.color_matrix in ("bt709",):
        return "bt709"
    if info.color_matrix in ("bt470bg", "smpte170m"):
        return "bt601"
    if info.color_matrix and info.color_matrix.startswith("bt2020"):
        return "bt2020"
    return "bt709" if info.height >= 720 else "bt601"


class VideoReader(FrameSource):
    """Streams decoded RGB frames from ffmpeg; memory holds one frame at a time."""

    def __init__(self, path: Path, selection: FrameSelection = FrameSelection(), size: tuple[int, int] | None = None,
                 grey: bool = False, bits: int | None = 8, keep_alpha: bool = False, straight: bool = False):
        self.video = probe(path)
        self.grey = grey
        self.keep_alpha = keep_alpha
        self.straight = straight
        self.bits = bits = bits if bits is not None else self.video.bit_depth
        self.selection = selection
        total = self.video.frame_count
        if selection.start >= total:
            raise InputError(f"{path}: start frame {selection.start} is past the end (the video has {total} frames)",
                             hint="use a smaller --start")
        self.indices = selection.indices(total)
        width, height = size or (self.video.width, self.video.height)
        self.info = SourceInfo(
            path=Path(path), width=width, height=height, frame_count=len(self.indices),
            fps=self.video.fps / selection.every, is_video=True,
            audio_source=Path(path) if self.video.has_audio or self.video.subtitle_codecs else None,
            start_time=self.video.start_time, video=self.video, numbers=list(self.indices),
            bit_depth=self.video.bit_depth, alpha=self.video.has_alpha,
        )
        self._size = size
        # Transparent video crosses the pipe with its alpha, to be composited over white here
        # (ffmpeg's own conversion to RGB would put transparent pixels on black).
        if bits == 16:
            self._pipe_format = "rgba64le" if self.video.has_alpha else "gray16le" if grey else "rgb48le"
        else:
            self._pipe_format = "rgba" if self.video.has_alpha else "gray" if grey else "rgb24"
        self._proc: subprocess.Popen | None = None
        self._drain: _StderrDrain | None = None

    def _command(self) -> list[str]:
        filters = []
        sel = self.selection
        if sel.start or sel.end is not None or sel.every != 1:
            # select by decoded frame number n, so frames are exact and none cross the pipe in vain
            cond = f"gte(n\\,{sel.start})"
            if sel.end is not None:
                cond += f"*lt(n\\,{sel.end})"
            if sel.every != 1:
                cond += f"*not(mod(n-{sel.start}\\,{sel.every}))"
            filters.append(f"select={cond}")
        scale = f"scale=in_color_matrix={_decode_matrix(self.video)}:in_range=auto"
        if self._size:
            scale = f"scale={self._size[0]}:{self._size[1]}:flags=area:in_color_matrix={_decode_matrix(self.video)}:in_range=auto"
        pixel_format = self._pipe_format
        filters += [scale, f"format={pixel_format}"]
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(self.info.path),
               "-map", "0:v:0", "-vf", ",".join(filters), "-fps_mode", "passthrough",
               "-frames:v", str(len(self.indices)), "-f", "rawvideo", "-pix_fmt", pixel_format, "pipe:1"]
        return cmd

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._proc is not None:
            raise RuntimeError("a VideoReader can be iterated once")
        width, height = self.info.width, self.info.height
        channels = {"gray": 1, "rgb24": 3, "rgba": 4, "gray16le": 1, "rgb48le": 3, "rgba64le": 4}[self._pipe_format]
        sample = np.dtype("<u2") if self.bits == 16 else np.dtype(np.uint8)
        frame_bytes = width * height * channels * sample.itemsize
        self._proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, bufsize=frame_bytes)
        self._drain = _StderrDrain(self._proc.stderr)
        produced = 0
        while True:
            buf = self._proc.stdout.read(frame_bytes)
            if not buf:
                break
            if len(buf) < frame_bytes:
                break
            produced += 1
            frame = np.frombuffer(buf, sample)
            if self.bits == 16:
                frame = frame.astype(np.uint16)
            if channels == 4:
                rgba = frame.reshape(height, width, 4)
                if self.keep_alpha and self.straight and not self.grey:
                    yield rgba
                    continue
                rgb = over_white(rgba, bits=self.bits)
                image = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if self.grey else rgb
                yield np.dstack([image, rgba[:, :, 3]]) if self.keep_alpha else image
            else:
                yield frame.reshape(height, width) if self.grey else frame.reshape(height, width, 3)
        self._proc.stdout.close()
        code = self._proc.wait()
        tail = self._drain.tail()
        if code != 0:
            raise FfmpegError(f"ffmpeg failed while decoding {self.info.path}", tail)
        if produced < self.info.frame_count:
            if tail.strip():
                raise InputError(
                    f"{self.info.path}: decoded only {produced} of {self.info.frame_count} frames; "
                    f"the file is truncated or corrupt (ffmpeg: {_tail(tail, 1)})",
                    hint="re-export or re-download the video")
            # Containers with edit lists can hide packets the demuxer still counts.
            log.warning("%s: the container lists %d frames but %d decode; using %d",
                        self.info.path, self.info.frame_count, produced, produced)
            self.info.frame_count = produced

    def close(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


def list_frames(folder: Path) -> list[Path]:
    """Image files of a folder, ordered by the last number in their name (not listing order)."""
    return seq.image_files(folder)


class FolderReader(FrameSource):
    """Frames of an image sequence: a folder, or a printf/hash pattern (sequence.py)."""

    def __init__(self, path: Path, selection: FrameSelection = FrameSelection(), size: tuple[int, int] | None = None,
                 grey: bool = False, mixed_sizes: bool = False, bits: int | None = 8, fill_gaps: bool = False,
                 keep_alpha: bool = False, straight: bool = False):
        self.grey = grey
        self.keep_alpha = keep_alpha
        self.straight = straight
        self.mixed_sizes = mixed_sizes  # independent pages: each image keeps its own size
        sequence = seq.scan(path, fill_gaps=fill_gaps)
        self.sequence = sequence
        if sequence.held:
            log.warning("%s: holding the frame before each of %d missing frame(s): %s", path, len(sequence.held),
                        seq.number_ranges(sequence.held))
        self.files_all = sequence.files
        folder = sequence.folder
        meta = read_frames_json(folder, sequence.naming if seq.parse_pattern(path) else None)
        fps = Fraction(meta["fps"]) if meta and "fps" in meta else DEFAULT_FOLDER_FPS
        if selection.start >= len(self.files_all):
            raise InputError(f"{path}: start frame {selection.start} is past the end (the sequence has {len(self.files_all)} frames)",
                             hint="use a smaller --start")
        indices = selection.indices(len(self.files_all))
        self.files = [self.files_all[i] for i in indices]
        described = describe_image(self.files[0])
        width, height = described["width"], described["height"]
        stored = 8 if described["bit_depth"] <= 8 else 16
        self.bits = bits if bits is not None else stored
        audio = _soundtrack(meta, len(self.files_all)) if selection == FrameSelection() else None
        self._size = size
        self.info = SourceInfo(path=Path(path), width=size[0] if size else width, height=size[1] if size else height,
                               frame_count=len(self.files), fps=fps / selection.every, is_video=False,
                               audio_source=audio, extra={"frames_json": meta} if meta else {},
                               numbers=[sequence.numbers[i] for i in indices],
                               bit_depth=stored, alpha=described["alpha"],
                               sequence=sequence)

    def __iter__(self) -> Iterator[np.ndarray]:
        first_shape = None
        for file in self.files:
            image = read_image(file, cv2.IMREAD_GRAYSCALE if self.grey else cv2.IMREAD_COLOR, bits=self.bits,
                               keep_alpha=self.keep_alpha, straight=self.straight)
            if self._size:
                image = resize(image, self._size)
            elif first_shape is None:
                first_shape = image.shape
            elif image.shape != first_shape and not self.mixed_sizes:
                raise InputError(f"{file}: size {image.shape[1]}x{image.shape[0]} differs from the first frame's "
                                 f"{first_shape[1]}x{first_shape[0]}",
                                 hint="frames of a sequence share one size; to colour unrelated pages of any size, use "
                                      "--model with --feedback off and a folder output")
            yield image


def _soundtrack(meta: dict | None, count: int, depth: int = 0) -> Path | None:
    """The video a whole sequence came from, following frames.json back through the sequences
    made from it (frames -> line art -> ...), so a video made from it gets its soundtrack back."""
    if meta is None or not meta.get("source") or depth > 8:
        return None
    whole = (meta.get("start_frame", 0) == 0 and meta.get("every", 1) == 1 and meta.get("count") == count
             and meta.get("source_frame_count", count) == count)
    source = Path(meta["source"])
    if not whole:
        return None
    if source.is_file() and is_video_path(source):
        return source
    if source.is_dir():
        return _soundtrack(read_frames_json(source), count, depth + 1)
    parsed = seq.parse_pattern(source)
    if parsed is not None and parsed[0].is_dir():
        return _soundtrack(read_frames_json(parsed[0], parsed[1]), count, depth + 1)
    return None


def probe_picture(path: Path) -> tuple[int, int, str, int, bool]:
    """Width, height, pixel format, bits per sample and alpha of a picture ffmpeg decodes (TGA, DPX)."""
    header = _read_header(path)
    size = _SIZE_RE.search(header.video[0].group(3)) if header.video else None
    if not size:
        raise InputError(f"{path}: not a readable image", hint="the file is missing, empty or corrupt")
    found = _PIXEL_FORMAT_RE.match(header.video[0].group(3))
    pixel_format = found.group(1) if found else "unknown"
    return (int(size.group(1)), int(size.group(2)), pixel_format, _format_depth(pixel_format),
            bool(_ALPHA_FORMAT_RE.match(pixel_format)))


def sidecar_for(naming: seq.Naming) -> str:
    """The frames.json of one sequence among others in a folder: sh010_color.####.png -> sh010_color.frames.json."""
    return f"{naming.prefix.rstrip('._- ') or 'frames'}.{FRAMES_JSON}"


def read_frames_json(folder: Path, naming: seq.Naming | None = None) -> dict | None:
    meta_path = folder / FRAMES_JSON
    if naming is not None and (folder / sidecar_for(naming)).is_file():
        meta_path = folder / sidecar_for(naming)
    if not meta_path.is_file():
        return None
    try:
        return json.loads(meta_path.read_text("utf-8"))
    except (OSError, ValueError):
        log.warning("%s: unreadable %s ignored", folder, FRAMES_JSON)
        return None


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def is_sequence_path(path: str | os.PathLike) -> bool:
    """A frame folder or a printf/hash pattern (shot010.%04d.png, shot010.####.png)."""
    return Path(path).is_dir() or (not Path(path).exists() and seq.is_pattern(path))


def probe_sequence(path: str | os.PathLike) -> dict:
    """What a hand-off check needs of an image sequence, without reading every frame."""
    sequence = seq.scan(path, fill_gaps=True)
    first = describe_image(sequence.files[0])
    meta = read_frames_json(sequence.folder, sequence.naming if seq.parse_pattern(path) else None)
    fps = Fraction(meta["fps"]) if meta and "fps" in meta else DEFAULT_FOLDER_FPS
    return {"path": str(path), "pattern": sequence.pattern, "width": first["width"], "height": first["height"],
            "frame_count": len(sequence.files) - len(sequence.held), "fps": f"{fps.numerator}/{fps.denominator}",
            "fps_float": float(fps), "fps_source": "frames.json" if meta and "fps" in meta else "default",
            "codec": sequence.files[0].suffix.lower().lstrip("."), "pixel_format": first["pixel_format"],
            "bit_depth": first["bit_depth"], "sample_format": first["sample_format"], "alpha": first["alpha"],
            "timecode": (meta or {}).get("timecode"), "first_frame": sequence.first, "last_frame": sequence.last,
            "padding": sequence.naming.padding if sequence.naming else None,
            "missing_frames": seq.number_ranges(sequence.held, limit=50) if sequence.held else ""}


def bad_frames(path: str | os.PathLike, decode: bool = False) -> list[int]:
    """Frame numbers of a sequence whose files are damaged: their structure checked (a
    truncated PNG or JPEG is missing its end), or with `decode` every frame decoded."""
    from .images import looks_complete, read_raw

    sequence = seq.scan(path, fill_gaps=True)
    held = set(sequence.held)
    bad = []
    for number, file in zip(sequence.numbers, sequence.files):
        if number in held:
            continue
        if not looks_complete(file):
            bad.append(number)
        elif decode:
            try:
                read_raw(file)
            except InputError:
                bad.append(number)
    return bad


def decode_errors(path: Path) -> str | None:
    """The first error ffmpeg reports while decoding every frame of a video, or None."""
    _, errors = run_ffmpeg(["-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"], f"decoding {path}")
    lines = [line for line in errors.splitlines() if line.strip()]
    return lines[0].split("] ")[-1] if lines else None


def open_source(path: str | os.PathLike, selection: FrameSelection = FrameSelection(),
                size: tuple[int, int] | None = None, grey: bool = False, mixed_sizes: bool = False,
                bits: int | None = 8, fill_gaps: bool = False, keep_alpha: bool = False, straight: bool = False) -> FrameSource:
    """Open a video file or an image sequence (folder or pattern); frames are RGB (H, W, 3), or
    (H, W) with grey=True, in uint8 or (bits=16) uint16 samples (bits=None: as deep as the
    source stores them), composited over white.
    With `keep_alpha`, frames that carry alpha come with it as one more channel (see split_alpha);
    with `straight` too, their colour is as stored rather than composited over white."""
    path = Path(path)
    if is_sequence_path(path):
        return FolderReader(path, selection, size, grey, mixed_sizes=mixed_sizes, bits=bits, fill_gaps=fill_gaps,
                            keep_alpha=keep_alpha, straight=straight)
    check_readable_file(path)
    return VideoReader(path, selection, size, grey, bits=bits, keep_alpha=keep_alpha, straight=straight)


def split_alpha(frame: np.ndarray, grey: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """A frame read with keep_alpha -> (frame over white, alpha or None)."""
    channels = 1 if frame.ndim == 2 else frame.shape[2]
    if channels == (2 if grey else 4):
        return (frame[:, :, 0] if grey else frame[:, :, :3]), frame[:, :, -1]
    return frame, None


def resize(image: np.ndarray, size: tuple[int, int], interpolation: int | None = None) -> np.ndarray:
    """Resize to (width, height): area averaging when shrinking, bicubic when growing."""
    width, height = size
    if image.shape[1] == width and image.shape[0] == height:
        return image
    if interpolation is None:
        interpolation = cv2.INTER_AREA if width * height < image.shape[0] * image.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interpolation)


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX:]\s*(\d+)\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise UsageError(f"cannot read size {text!r}", hint="use WIDTHxHEIGHT, e.g. 640x360")
    return int(match.group(1)), int(match.group(2))


# --------------------------------------------------------------------------- frame sinks


@dataclass(frozen=True)
class Codec:
    """A video codec tcvc encodes with: where it may go, what it can carry, what sizes it takes."""

    name: str
    description: str
    containers: tuple[str, ...]
    alpha: bool = False  # can carry an alpha channel
    deep: bool = False  # keeps more than 8 bits per sample
    even: tuple[bool, bool] = (False, False)  # needs an even (width, height)
    smallest: tuple[int, int] = (1, 1)  # the smallest (width, height) it encodes


CODECS = {
    "h264": Codec("h264", "H.264 (x264), 8-bit 4:2:0, CRF", (".mp4", ".mkv", ".mov", ".m4v"), even=(True, True)),
    "h265": Codec("h265", "H.265/HEVC (x265), 4:2:0, 10-bit from 16-bit sources, CRF", (".mp4", ".mkv", ".mov", ".m4v"),
                  deep=True, even=(True, True)),
    "prores": Codec("prores", "Apple ProRes 422 HQ, 10-bit", (".mov", ".mkv"), deep=True, even=(True, False)),
    "prores4444": Codec("prores4444", "Apple ProRes 4444, 4:4:4 with alpha (12-bit codec, fed 10-bit samples)", (".mov", ".mkv"), alpha=True, deep=True),
    "dnxhr": Codec("dnxhr", "Avid DNxHR HQ, 8-bit 4:2:2", (".mov", ".mkv"), even=(True, False), smallest=(256, 120)),
    "dnxhr444": Codec("dnxhr444", "Avid DNxHR 444, 10-bit 4:4:4", (".mov", ".mkv"), deep=True, smallest=(256, 120)),
    "ffv1": Codec("ffv1", "FFV1 level 3, lossless RGB(A), 8 or 16 bits (archive)", (".mkv",), alpha=True, deep=True),
}


@dataclass(frozen=True)
class EncodeOptions:
    """How videos are encoded. Defaults: H.264 yuv420p, CRF 18, preset medium, BT.709 tags."""

    crf: int = 18
    preset: str = "medium"
    lossless: bool = False
    codec: str = "h264"

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise UsageError(f"--crf {self.crf} is out of range", hint="CRF runs from 0 (best) to 51 (worst); 18 is visually lossless")
        presets = {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}
        if self.preset not in presets:
            raise UsageError(f"unknown --preset {self.preset!r}", hint=f"one of {', '.join(sorted(presets))}")
        if self.codec not in CODECS:
            raise UsageError(f"unknown --codec {self.codec!r}", hint=f"one of {', '.join(CODECS)}")
        if self.lossless and self.codec not in ("h264", "ffv1"):
            raise UsageError(f"--lossless applies to h264; {self.codec} is not lossless",
                             hint="drop --lossless, or use --codec ffv1 for a lossless archive")

    @property
    def spec(self) -> Codec:
        return CODECS[self.codec]

    def check_container(self, path: Path) -> None:
        ext = path.suffix.lower()
        if ext not in self.spec.containers:
            raise UsageError(f"{path}: {self.codec} cannot go into {ext or 'an extension-less file'}",
                             hint=f"name the output {' or '.join(self.spec.containers)}")

    def video_args(self, path: Path, bits: int, alpha: bool) -> list[str]:
        """ffmpeg output options for the video stream; input frames arrive as RGB(A) at `bits`."""
        bt709 = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]

        def to_yuv(pixel_format: str) -> list[str]:
            return ["-vf", f"scale=out_color_matrix=bt709:out_range=tv,format={pixel_format}", "-pix_fmt", pixel_format, *bt709]

        deep = bits == 16
        codec = self.codec
        if codec == "h264":
            if self.lossless:
                return ["-c:v", "libx264rgb", "-qp", "0", "-preset", self.preset, "-pix_fmt", "rgb24"]
            return [*to_yuv("yuv420p"), "-c:v", "libx264", "-crf", str(self.crf), "-preset", self.preset]
        if codec == "h265":
            tag = ["-tag:v", "hvc1"] if path.suffix.lower() in (".mp4", ".m4v", ".mov") else []
            return [*to_yuv("yuv420p10le" if deep else "yuv420p"), "-c:v", "libx265", "-crf", str(self.crf),
                    "-preset", self.preset, "-x265-params", "log-level=error", *tag]
        if codec == "prores":
            return [*to_yuv("yuv422p10le"), "-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0"]
        if codec == "prores4444":
            return [*to_yuv("yuva444p10le" if alpha else "yuv444p10le"), "-c:v", "prores_ks", "-profile:v", "4",
                    "-vendor", "apl0", *(["-alpha_bits", "16"] if alpha else [])]
        if codec == "dnxhr":
            return [*to_yuv("yuv422p"), "-c:v", "dnxhd", "-profile:v", "dnxhr_hq"]
        if codec == "dnxhr444":
            return [*to_yuv("yuv444p10le"), "-c:v", "dnxhd", "-profile:v", "dnxhr_444"]
        pixel_format = ("gbrap" if alpha else "gbrp") + ("16le" if deep else "")
        return ["-vf", f"format={pixel_format}", "-pix_fmt", pixel_format, "-c:v", "ffv1", "-level", "3", "-g", "1",
                "-slicecrc", "1"]


class FrameSink:
    """Receives frames in order; `commit()` puts the result under its final name."""

    path: Path
    count = 0

    def write(self, frame: np.ndarray) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def commit(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _temporary_sibling(path: Path, suffix: str = "") -> Path:
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{suffix or path.suffix}")


def ensure_writable_dir(folder: Path) -> None:
    """Create `folder` if needed and check files can be made in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the output folder ({exc.strerror})") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: the output folder is not writable", hint="choose another -o or fix the permissions")


def check_output(output: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse to write over an input, or over an existing output without --overwrite."""
    resolved = output.resolve()
    for source in inputs:
        src = source.resolve()
        if resolved == src or (src.is_dir() and src in resolved.parents) or (resolved.is_dir() and resolved in src.parents):
            raise OutputError(f"{output}: the output would overwrite or sit inside the input {source}",
                              hint="write the output somewhere else")
    if output.exists() and not overwrite:
        raise OutputError(f"{output}: already exists", hint="pass --overwrite to replace it")
    ensure_writable_dir(output.parent)


class VideoWriter(FrameSink):
    """Streams RGB frames into an ffmpeg encoder, copying audio/subtitles from a source file."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, *,
                 options: EncodeOptions = EncodeOptions(), audio_from: Path | None = None,
                 video_offset: float = 0.0, overwrite: bool = False, bits: int = 8, alpha: bool = False,
                 timecode: str | None = None):
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in WRITABLE_VIDEO_EXTENSIONS:
            raise UsageError(f"{path}: cannot write {ext or 'extension-less'} videos",
                             hint=f"use one of {', '.join(sorted(WRITABLE_VIDEO_EXTENSIONS))}, or a folder name for PNG frames")
        options.check_container(self.path)
        if self.path.exists() and not overwrite:
            raise OutputError(f"{path}: already exists", hint="pass --overwrite to replace it")
        ensure_writable_dir(self.path.parent)
        smallest = options.spec.smallest
        if width < smallest[0] or height < smallest[1]:
            raise UsageError(f"{path}: {options.codec} encodes {smallest[0]}x{smallest[1]} and larger, not {width}x{height}",
                             hint="use --codec prores or ffv1 for small frames")
        self.width, self.height = width, height
        self.options = options
        self.bits = 16 if bits == 16 and options.spec.deep else 8
        self.alpha = alpha and options.spec.alpha
        self.timecode = timecode
        # Chroma-subsampled codecs need even sizes: odd ones are padded by repeating the last row/column.
        even = (False, False) if options.lossless else options.spec.even
        self.pad = (width % 2 if even[0] else 0, height % 2 if even[1] else 0)
        if any(self.pad):
            log.warning("%s: %dx%d is odd; padded to %dx%d for %s (use --codec ffv1, prores4444 or h264 --lossless to keep "
                        "the exact size)", path, width, height, width + self.pad[0], height + self.pad[1], options.codec)
        self.fps = fps
        self.temp = _temporary_sibling(self.path)
        self.count = 0
        cmd = self._command(audio_from, video_offset)
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._drain = _StderrDrain(self._proc.stderr)
        self._closed = False

    def _command(self, audio_from: Path | None, video_offset: float) -> list[str]:
        ext = self.path.suffix.lower()
        pipe_format = ("rgba64le" if self.alpha else "rgb48le") if self.bits == 16 else ("rgba" if self.alpha else "rgb24")
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", pipe_format, "-s", f"{self.width + self.pad[0]}x{self.height + self.pad[1]}",
               "-framerate", f"{self.fps.numerator}/{self.fps.denominator}"]
        if video_offset:
            cmd += ["-itsoffset", f"{video_offset:.6f}"]
        cmd += ["-i", "pipe:0"]
        inputs, maps, codecs = passthrough_args(self.path, audio_from, input_index=1)
        cmd += inputs
        maps = ["-map", "0:v:0", *maps]
        video = self.options.video_args(self.path, self.bits, self.alpha)
        container = ["-movflags", "+faststart"] if ext in {".mp4", ".m4v", ".mov"} else []
        return [*cmd, *maps, *video, *codecs, *_timecode_args(self.timecode), "-fflags", "+bitexact",
                "-flags:v", "+bitexact", "-fps_mode", "passthrough", *container, "-f", _muxer(ext), str(self.temp)]

    def write(self, frame: np.ndarray) -> None:
        """RGB, RGBA or grey samples: uint8, uint16, or floats in [0, 1]."""
        frame = _channels(to_depth(frame, self.bits), 4 if self.alpha else 3)
        if frame.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame of shape {frame.shape} written to a {self.width}x{self.height} video")
        if any(self.pad):
            frame = np.pad(frame, ((0, self.pad[1]), (0, self.pad[0]), (0, 0)), mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame, dtype="<u2" if self.bits == 16 else np.uint8).tobytes())
        except BrokenPipeError:
            self._proc.wait()
            raise FfmpegError(f"ffmpeg stopped while encoding {self.path}", self._drain.tail()) from None
        self.count += 1

    def commit(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        code = self._proc.wait()
        if code != 0:
            self.temp.unlink(missing_ok=True)
            raise FfmpegError(f"ffmpeg failed while encoding {self.path}", self._drain.tail())
        if self.count == 0:
            self.temp.unlink(missing_ok=True)
            raise OutputError(f"{self.path}: no frames to write")
        if not self.temp.is_file() or self.temp.stat().st_size == 0:
            self.temp.unlink(missing_ok=True)
            raise FfmpegError(f"ffmpeg wrote nothing while encoding {self.path}", self._drain.tail())
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._proc.kill()
        self._proc.wait()
        self.temp.unlink(missing_ok=True)


def _channels(frame: np.ndarray, channels: int) -> np.ndarray:
    """Grey, RGB or RGBA samples as `channels` (3: alpha dropped; 4: opaque alpha added)."""
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.shape[2] == channels:
        return frame
    if channels == 3:
        return frame[:, :, :3]
    opaque = np.full(frame.shape[:2] + (1,), np.iinfo(frame.dtype).max, frame.dtype)
    return np.concatenate([frame, opaque], axis=2)


def _timecode_args(timecode: str | None) -> list[str]:
    return ["-timecode", timecode] if timecode else []


def passthrough_args(output: Path, audio_from: Path | None, input_index: int) -> tuple[list[str], list[str], list[str]]:
    """ffmpeg inputs, maps and codec options that carry `audio_from`'s audio and subtitles into `output`."""
    if audio_from is None:
        return [], [], []
    ext = output.suffix.lower()
    source = _read_header(audio_from)
    maps: list[str] = []
    codecs: list[str] = []
    if source.audio_codecs:
        maps += ["-map", f"{input_index}:a"]
        mp4_like = ext in {".mp4", ".m4v", ".mov"}
        copy_ok = not mp4_like or all(c in _MP4_AUDIO for c in source.audio_codecs)
        codecs += ["-c:a", "copy"] if copy_ok else ["-c:a", "aac", "-b:a", "256k"]
        if not copy_ok:
            log.warning("%s: audio %s cannot be copied into %s; re-encoded as AAC", output, ",".join(source.audio_codecs), ext)
    if source.subtitle_codecs:
        if ext == ".mkv":
            maps += ["-map", f"{input_index}:s"]
            codecs += ["-c:s", "copy"]
        elif all(c in _TEXT_SUBTITLES for c in source.subtitle_codecs):
            maps += ["-map", f"{input_index}:s"]
            codecs += ["-c:s", "mov_text"]
        else:
            log.warning("%s: image subtitles cannot go into %s and were not copied (write .mkv to keep them)", output, ext)
    return ["-i", str(audio_from)], maps, codecs


def concat_videos(segments: list[Path], output: Path, *, audio_from: Path | None = None, video_offset: float = 0.0,
                  timecode: str | None = None) -> None:
    """Join same-format video segments losslessly (stream copy) and add the source's audio."""
    listing = output.with_name(f".{output.stem}.concat-{os.getpid()}.txt")
    lines = []
    for segment in segments:
        quoted = str(segment.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    listing.write_text("\n".join(lines) + "\n", "utf-8")
    temp = _temporary_sibling(output)
    try:
        offset = ["-itsoffset", f"{video_offset:.6f}"] if video_offset else []
        inputs, maps, codecs = passthrough_args(output, audio_from, input_index=1)
        container = ["-movflags", "+faststart"] if output.suffix.lower() in {".mp4", ".m4v", ".mov"} else []
        run_ffmpeg(["-y", "-loglevel", "error", *offset, "-f", "concat", "-safe", "0", "-i", str(listing), *inputs,
                    "-map", "0:v:0", *maps, "-c:v", "copy", *codecs, *_timecode_args(timecode), "-fflags", "+bitexact", *container,
                    "-f", _muxer(output.suffix.lower()), str(temp)], f"joining segments into {output}")
        os.replace(temp, output)
    finally:
        listing.unlink(missing_ok=True)
        temp.unlink(missing_ok=True)


def _muxer(ext: str) -> str:
    return {".mkv": "matroska", ".mov": "mov", ".m4v": "mp4"}.get(ext, "mp4")


DEFAULT_NAMING = seq.Naming("", 6, ".png")


@dataclass(frozen=True)
class FrameTarget:
    """Where and how an image sequence is written.

    A folder output holds the sequence alone and is replaced as a whole; a pattern output
    (renders/sh010_color.%04d.png) adds its files to a folder that may hold others.
    Frame numbers follow the input's unless `start_number` renumbers them.
    """

    folder: Path
    naming: seq.Naming
    whole_folder: bool
    start_number: int | None = None
    bits: int | None = None  # None: the source's depth where the format can hold it

    def numbers(self, like: SourceInfo, count: int) -> list[int]:
        if self.start_number is not None:
            return list(range(self.start_number, self.start_number + count))
        known = list(like.numbers or [])[:count]
        following = known[-1] + 1 if known else 0
        return known + list(range(following, following + count - len(known)))

    def depth(self, like: SourceInfo) -> int:
        """8 or 16: the depth written (EXR is half float whatever this says)."""
        wanted = self.bits if self.bits is not None else like.bit_depth
        if wanted == 16 and self.naming.extension not in WRITABLE_IMAGE_EXTENSIONS:
            if self.bits == 16:
                raise UsageError(f"{self.folder / self.naming.hashes}: {self.naming.extension} cannot hold 16 bits",
                                 hint="write .png, .tif or .exr frames, or pass --bit-depth 8")
            return 8
        return wanted

    def existing(self) -> list[Path]:
        """Files of this sequence already in the folder."""
        if not self.folder.is_dir():
            return []
        return [p for p in self.folder.iterdir() if p.is_file() and self.naming.number_of(p.name) is not None]

    def describe(self) -> str:
        return str(self.folder) if self.whole_folder else str(self.folder / self.naming.printf)

    @property
    def sidecar(self) -> str:
        """frames.json for a folder of its own; <name>.frames.json beside a pattern's frames."""
        return FRAMES_JSON if self.whole_folder else sidecar_for(self.naming)


# An output named like one image file (out.png) is not taken for a folder of frames.
IMAGE_NAME_EXTENSIONS = {".png", ".tif", ".tiff", ".exr", ".jpg", ".jpeg", ".dpx", ".tga", ".bmp", ".webp"}


def frame_target(output: Path, like: SourceInfo | None = None, *, start_number: int | None = None,
                 bits: int | None = None, extension: str | None = None) -> FrameTarget:
    """The sequence an output path names: a pattern, or a folder named like the input's frames."""
    parsed = seq.parse_pattern(output)
    if parsed is not None:
        folder, naming = parsed
        if naming.extension not in WRITABLE_IMAGE_EXTENSIONS:
            raise UsageError(f"{output}: cannot write {naming.extension or 'extension-less'} frames",
                             hint=f"use one of {', '.join(sorted(WRITABLE_IMAGE_EXTENSIONS))}")
        return FrameTarget(folder, naming, whole_folder=False, start_number=start_number, bits=bits)
    if output.suffix.lower() in IMAGE_NAME_EXTENSIONS and not output.is_dir():
        raise UsageError(f"{output}: names one image, but tcvc writes image sequences"
                         + (f" ({like.frame_count} frames)" if like is not None else ""),
                         hint=f"use a pattern such as {output.with_name(output.stem + '.%04d' + output.suffix)} "
                              f"(or {output.stem}.####{output.suffix}), or a folder name")
    naming = like.naming if like is not None and like.naming is not None else DEFAULT_NAMING
    if extension is not None:
        naming = naming.with_extension(extension)
    elif naming.extension not in WRITABLE_IMAGE_EXTENSIONS:
        naming = naming.with_extension(".png")
    return FrameTarget(Path(output), naming, whole_folder=True, start_number=start_number, bits=bits)


def frames_json(like: SourceInfo, target: FrameTarget, numbers: list[int], size: tuple[int, int] | None,
                bits: int, extra: dict | None = None) -> str:
    """The sidecar that records a written sequence: rate, size, depth, and each frame's source."""
    sources = [like.number(i) for i in range(len(numbers))]
    held = set(like.sequence.held) if like.sequence is not None else set()
    meta = {"fps": f"{like.fps.numerator}/{like.fps.denominator}", "fps_float": float(like.fps),
            "width": size[0] if size else None, "height": size[1] if size else None, "count": len(numbers),
            "pattern": target.naming.printf, "first_frame": numbers[0] if numbers else None,
            "last_frame": numbers[-1] if numbers else None, "bit_depth": "half" if target.naming.extension == ".exr" else bits,
            **(extra or {})}
    head = json.dumps(meta, indent=2)[:-2]
    rows = ",\n".join("    " + json.dumps({"frame": n, "file": target.naming.name(n), "source_frame": src,
                                  **({"held": True} if src in held else {})})
                       for n, src in zip(numbers, sources))
    return f'{head},\n  "frames": [\n{rows}\n  ]\n}}\n' if numbers else json.dumps({**meta, "frames": []}, indent=2) + "\n"


def publish_sequence(written: Path, target: FrameTarget, overwrite: bool) -> None:
    """Move a finished sequence from the hidden folder `written` to its target."""
    if target.whole_folder:
        replace_path(written, target.folder)
        return
    target.folder.mkdir(parents=True, exist_ok=True)
    clashes = [p for p in target.existing() if (written / p.name).exists()] if not overwrite else []
    if clashes:
        raise OutputError(f"{clashes[0]}: already exists", hint="pass --overwrite to replace it")
    for file in sorted(written.iterdir()):
        os.replace(file, target.folder / file.name)
    shutil.rmtree(written, ignore_errors=True)


def check_target(target: FrameTarget, inputs: list[Path], overwrite: bool) -> None:
    """Refuse to write over an input sequence, or over existing frames without --overwrite."""
    if target.whole_folder:
        check_output(target.folder, inputs, overwrite)
        return
    for source in inputs:
        parsed = seq.parse_pattern(source)
        if parsed and parsed[0].resolve() == target.folder.resolve() and parsed[1] == target.naming:
            raise OutputError(f"{target.describe()}: the output would overwrite the input {source}",
                              hint="write the output somewhere else")
        if source.is_dir() and source.resolve() == target.folder.resolve() and target.existing():
            raise OutputError(f"{target.describe()}: the output would mix with the input's frames in {source}",
                              hint="write the output somewhere else")
    existing = target.existing()
    if existing and not overwrite:
        raise OutputError(f"{existing[0]}: already exists", hint="pass --overwrite to replace it")
    ensure_writable_dir(target.folder)


class FolderWriter(FrameSink):
    """Writes an image sequence into a hidden temporary folder moved into place on commit.

    Frames are named by the target's naming and numbers (the input's, unless renumbered),
    at the target's bit depth; frames.json records the mapping back to the source frames.
    """

    def __init__(self, path: Path | FrameTarget, fps: Fraction | None = None, *, like: SourceInfo | None = None,
                 overwrite: bool = False, metadata: dict | None = None):
        self.target = path if isinstance(path, FrameTarget) else frame_target(Path(path), like)
        self.like = like if like is not None else SourceInfo(path=self.target.folder, width=0, height=0, frame_count=0,
                                                             fps=fps or DEFAULT_FOLDER_FPS, is_video=False)
        self.path = self.target.folder if self.target.whole_folder else self.target.folder / self.target.naming.printf
        if self.target.whole_folder:
            if self.target.folder.exists() and not overwrite:
                raise OutputError(f"{self.target.folder}: already exists", hint="pass --overwrite to replace it")
            if self.target.folder.exists() and not self.target.folder.is_dir():
                raise OutputError(f"{self.target.folder}: exists and is not a folder")
        elif self.target.existing() and not overwrite:
            raise OutputError(f"{self.target.existing()[0]}: already exists", hint="pass --overwrite to replace it")
        self.overwrite = overwrite
        self.bits = self.target.depth(self.like)
        ensure_writable_dir(self.target.folder.parent if self.target.whole_folder else self.target.folder)
        base = self.target.folder if self.target.whole_folder else self.target.folder / f"{self.target.naming.prefix or 'frames'}"
        self.temp = _temporary_sibling(base, suffix=".d")
        shutil.rmtree(self.temp, ignore_errors=True)
        try:
            self.temp.mkdir()
        except OSError as exc:
            raise OutputError(f"{self.temp.parent}: cannot write there ({exc.strerror})") from exc
        self.metadata = dict(metadata or {})
        self.count = 0
        self.size: tuple[int, int] | None = None
        self._numbers = self.target.numbers(self.like, max(self.like.frame_count, 0))
        self._closed = False

    @property
    def first_number(self) -> int | None:
        return self._numbers[0] if self.count else None

    @property
    def last_number(self) -> int | None:
        return self._numbers[self.count - 1] if self.count else None

    def name(self, index: int) -> str:
        if index >= len(self._numbers):
            self._numbers = self.target.numbers(self.like, index + 1)
        return self.target.naming.name(self._numbers[index])

    def write(self, frame: np.ndarray) -> None:
        write_image(self.temp / self.name(self.count), frame, bits=self.bits)
        self.size = (frame.shape[1], frame.shape[0])
        self.count += 1

    def commit(self) -> None:
        if self._closed:
            return
        self._closed = True
        numbers = self.target.numbers(self.like, self.count)
        text = frames_json(self.like, self.target, numbers, self.size, self.bits, self.metadata)
        (self.temp / self.target.sidecar).write_text(text, "utf-8")
        publish_sequence(self.temp, self.target, self.overwrite)

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        shutil.rmtree(self.temp, ignore_errors=True)


def replace_path(new: Path, final: Path) -> None:
    """Move `new` to `final`, replacing a file or folder there, never leaving neither."""
    if final.is_dir():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(new, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, final)


def open_sink(path: Path, *, like: SourceInfo, overwrite: bool = False, options: EncodeOptions = EncodeOptions(),
              keep_audio: bool = True, width: int | None = None, height: int | None = None,
              metadata: dict | None = None, start_number: int | None = None, bits: int | None = None,
              alpha: bool = False) -> FrameSink:
    """A video writer if `path` has a video extension, else an image-sequence writer.

    The output takes the source's frame rate and, for videos, its audio, subtitles and
    timecode; a sequence takes the source's frame numbers (or from `start_number`).
    `bits` None keeps the source's depth where the output can hold it.
    """
    path = Path(path)
    if is_video_path(path):
        audio = like.audio_source if keep_audio else None
        offset = like.video.video_delay if like.video is not None and audio == like.path else 0.0
        return VideoWriter(path, width or like.width, height or like.height, like.fps, options=options,
                           audio_from=audio, video_offset=offset, overwrite=overwrite,
                           bits=bits if bits is not None else like.bit_depth, alpha=alpha,
                           timecode=like.video.timecode if like.video is not None else None)
    target = frame_target(path, like, start_number=start_number, bits=bits)
    return FolderWriter(target, like=like, overwrite=overwrite, metadata=metadata)


def copy_frames(source: FrameSource, sink: FrameSink, transform: Callable[[np.ndarray], np.ndarray] | None = None,
                progress: Callable[[int, int], None] | None = None) -> int:
    """Pump every frame of `source` (optionally transformed) into `sink`; returns the count."""
    total = source.info.frame_count
    for index, frame in enumerate(source):
        sink.write(transform(frame) if transform else frame)
        if progress:
            progress(index + 1, total)
    return sink.count
