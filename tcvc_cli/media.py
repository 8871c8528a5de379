"""Video and frame-folder I/O through ffmpeg pipes.

Frames travel as uint8 RGB arrays of shape (H, W, 3) (or (H, W) for single-channel line art
on the way out). Videos are decoded and encoded by the ffmpeg binary that imageio-ffmpeg
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

from .errors import FfmpegError, InputError, OutputError, UsageError

log = logging.getLogger("tcvc")

VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".m4v", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".gif"}
WRITABLE_VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".m4v"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
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
            "alpha": self.has_alpha,
            "audio_streams": list(self.audio_codecs),
            "subtitle_streams": list(self.subtitle_codecs),
        }


_STREAM_RE = re.compile(r"Stream #\d+:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?: (Video|Audio|Subtitle): (\w+)(.*)")
_SIZE_RE = re.compile(r"\b(\d{1,5})x(\d{1,5})\b")
_START_RE = re.compile(r"start: (-?[\d.]+)")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_DAMAGE_MARKS = ("partial file", "ended prematurely", "Packet corrupt", "corrupt input packet", "Invalid NAL", "truncated")
_PIXEL_FORMAT_RE = re.compile(r"^(?:\s*\([^)]*\))?,\s*([a-z0-9_]+)")
_ALPHA_FORMAT_RE = re.compile(r"^(yuva|gbrap|rgba|bgra|argb|abgr|ya8|ya16|pal8)")
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

    count, fps, vfr, delay = _packet_timing(path)
    if count == 0:
        raise InputError(f"{path}: the video stream holds no frames")
    dur = (int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3))) if duration else count / float(fps)
    return VideoInfo(
        path=path, width=width, height=height, frame_count=count, fps=fps,
        duration=dur, start_time=float(start.group(1)) if start else 0.0, variable_frame_rate=vfr,
        codec=first.group(2), color_matrix=matrix.group(1) if matrix else None,
        audio_codecs=header.audio_codecs, subtitle_codecs=header.subtitle_codecs, video_delay=delay,
        pixel_format=pixel_format.group(1) if pixel_format else None,
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
    stamps: list[int] = []
    durations: list[int] = []
    for line in out.splitlines():
        if line.startswith("#tb 0:"):
            timebase = Fraction(line.split(":", 1)[1].strip())
        elif line and line[0] == "0" and "," in line:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) >= 4 and parts[1].lstrip("-").isdigit():
                stamps.append(int(parts[1]))
                durations.append(int(parts[3]) if parts[3].lstrip("-").isdigit() else 0)
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
    for rate in candidates:
        if rate > 0 and _fits(stamps, rate, timebase):
            return count, rate, False, delay
    return count, average.limit_denominator(1001), True, delay


def _fits(stamps: list[int], rate: Fraction, timebase: Fraction) -> bool:
    ticks_per_frame = 1 / (rate * timebase)
    return all(abs(stamp - stamps[0] - index * ticks_per_frame) <= 1 for index, stamp in enumerate(stamps))


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


def parse_position(text: str, fps: Fraction) -> int:
    """`120` is frame 120; `5s`, `5.0`, `00:01:02.5` are times, converted to frame indices."""
    value = text.strip()
    try:
        if re.fullmatch(r"\d+", value):
            return int(value)
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
                 grey: bool = False):
        self.video = probe(path)
        self.grey = grey
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
            start_time=self.video.start_time, video=self.video,
        )
        self._size = size
        # Transparent video crosses the pipe with its alpha, to be composited over white here
        # (ffmpeg's own conversion to RGB would put transparent pixels on black).
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
        channels = {"gray": 1, "rgb24": 3, "rgba": 4}[self._pipe_format]
        frame_bytes = width * height * channels
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
            frame = np.frombuffer(buf, np.uint8)
            if channels == 4:
                rgb = to_rgb8(frame.reshape(height, width, 4))
                yield cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if self.grey else rgb
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


def _frame_number(path: Path) -> tuple[int, str]:
    digits = re.findall(r"\d+", path.stem)
    return (int(digits[-1]) if digits else -1, path.name)


def list_frames(folder: Path) -> list[Path]:
    """Image files of a folder, ordered by the last number in their name (not listing order)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    return sorted(files, key=_frame_number)


def read_image(path: Path, mode: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Read an image as 8-bit RGB (or one channel with IMREAD_GRAYSCALE); InputError if unreadable.

    Whatever the file holds - palette, grey, grey+alpha, RGBA, 16 bits per channel - comes out
    the same way: transparency composited over white (a transparent ink layer is lines on
    paper, not lines on black), deeper samples scaled to 8 bits.
    """
    data = np.fromfile(str(path), dtype=np.uint8) if path.exists() else None  # handles non-ASCII paths
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data is not None and data.size else None
    if image is None:
        raise InputError(f"{path}: not a readable image", hint="the file is missing, empty or corrupt")
    image = to_rgb8(image, bgr=True)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if mode == cv2.IMREAD_GRAYSCALE else image


def to_rgb8(image: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """Any decoded image (H, W), (H, W, 1-4) in uint8, uint16 or float -> (H, W, 3) uint8 RGB over white."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype != np.uint8 or channels in (2, 4):  # deeper samples or transparency: work in [0, 1]
        if np.issubdtype(image.dtype, np.integer):
            values = image.astype(np.float32) / np.iinfo(image.dtype).max
        else:
            values = np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0)
        if channels in (2, 4):  # grey+alpha or colour+alpha, over white
            alpha = values[:, :, -1:]
            values = values[:, :, :-1] * alpha + (1.0 - alpha)
            values = values[:, :, 0] if channels == 2 else values
        image = (values * 255.0 + 0.5).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if bgr else np.ascontiguousarray(image)


def write_image(path: Path, image: np.ndarray) -> None:
    """Write a PNG (or any OpenCV format by extension); RGB or single-channel input."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(path.suffix or ".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise OutputError(f"{path}: could not encode the image")
    data.tofile(str(path))


class FolderReader(FrameSource):
    """Frames from a folder of images, numbered in their names."""

    def __init__(self, path: Path, selection: FrameSelection = FrameSelection(), size: tuple[int, int] | None = None,
                 grey: bool = False, mixed_sizes: bool = False):
        path = Path(path)
        self.grey = grey
        self.mixed_sizes = mixed_sizes  # independent pages: each image keeps its own size
        self.files_all = list_frames(path)
        if not self.files_all:
            raise InputError(f"{path}: the folder holds no frames (no {', '.join(sorted(IMAGE_EXTENSIONS))} files)")
        meta = read_frames_json(path)
        fps = Fraction(meta["fps"]) if meta and "fps" in meta else DEFAULT_FOLDER_FPS
        if selection.start >= len(self.files_all):
            raise InputError(f"{path}: start frame {selection.start} is past the end (the folder has {len(self.files_all)} frames)",
                             hint="use a smaller --start")
        self.files = [self.files_all[i] for i in selection.indices(len(self.files_all))]
        first = read_image(self.files[0])
        height, width = first.shape[:2]
        source = Path(meta["source"]) if meta and meta.get("source") else None
        # A folder extracted whole from a video can take its soundtrack back from the source.
        whole = meta is not None and meta.get("start_frame", 0) == 0 and meta.get("every", 1) == 1 and meta.get("count") == len(self.files_all)
        audio = source if (source and whole and selection == FrameSelection() and source.exists()) else None
        self._size = size
        self.info = SourceInfo(path=path, width=size[0] if size else width, height=size[1] if size else height,
                               frame_count=len(self.files), fps=fps / selection.every, is_video=False,
                               audio_source=audio, extra={"frames_json": meta} if meta else {})

    def __iter__(self) -> Iterator[np.ndarray]:
        first_shape = None
        for file in self.files:
            image = read_image(file, cv2.IMREAD_GRAYSCALE if self.grey else cv2.IMREAD_COLOR)
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


def read_frames_json(folder: Path) -> dict | None:
    meta_path = folder / FRAMES_JSON
    if not meta_path.is_file():
        return None
    try:
        return json.loads(meta_path.read_text("utf-8"))
    except (OSError, ValueError):
        log.warning("%s: unreadable %s ignored", folder, FRAMES_JSON)
        return None


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def open_source(path: str | os.PathLike, selection: FrameSelection = FrameSelection(),
                size: tuple[int, int] | None = None, grey: bool = False, mixed_sizes: bool = False) -> FrameSource:
    """Open a video file or a frame folder; frames are RGB (H, W, 3), or (H, W) with grey=True."""
    path = Path(path)
    check_readable_file(path)
    if path.is_dir():
        return FolderReader(path, selection, size, grey, mixed_sizes=mixed_sizes)
    return VideoReader(path, selection, size, grey)


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
class EncodeOptions:
    """How videos are encoded. Defaults: H.264 yuv420p, CRF 18, preset medium, BT.709 tags."""

    crf: int = 18
    preset: str = "medium"
    lossless: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise UsageError(f"--crf {self.crf} is out of range", hint="CRF runs from 0 (best) to 51 (worst); 18 is visually lossless")
        presets = {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}
        if self.preset not in presets:
            raise UsageError(f"unknown --preset {self.preset!r}", hint=f"one of {', '.join(sorted(presets))}")


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
                 video_offset: float = 0.0, overwrite: bool = False):
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in WRITABLE_VIDEO_EXTENSIONS:
            raise UsageError(f"{path}: cannot write {ext or 'extension-less'} videos",
                             hint=f"use one of {', '.join(sorted(WRITABLE_VIDEO_EXTENSIONS))}, or a folder name for PNG frames")
        if self.path.exists() and not overwrite:
            raise OutputError(f"{path}: already exists", hint="pass --overwrite to replace it")
        ensure_writable_dir(self.path.parent)
        self.width, self.height = width, height
        self.options = options
        # yuv420p needs even sizes: odd ones are padded by repeating the last row/column.
        self.pad = (0, 0) if options.lossless else (width % 2, height % 2)
        if any(self.pad):
            log.warning("%s: %dx%d is odd; padded to %dx%d for yuv420p (use --lossless to keep the exact size)",
                        path, width, height, width + self.pad[0], height + self.pad[1])
        self.fps = fps
        self.temp = _temporary_sibling(self.path)
        self.count = 0
        cmd = self._command(audio_from, video_offset)
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._drain = _StderrDrain(self._proc.stderr)
        self._closed = False

    def _command(self, audio_from: Path | None, video_offset: float) -> list[str]:
        ext = self.path.suffix.lower()
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.width + self.pad[0]}x{self.height + self.pad[1]}",
               "-framerate", f"{self.fps.numerator}/{self.fps.denominator}"]
        if video_offset:
            cmd += ["-itsoffset", f"{video_offset:.6f}"]
        cmd += ["-i", "pipe:0"]
        inputs, maps, codecs = passthrough_args(self.path, audio_from, input_index=1)
        cmd += inputs
        maps = ["-map", "0:v:0", *maps]
        if self.options.lossless:
            video = ["-c:v", "libx264rgb", "-qp", "0", "-preset", self.options.preset, "-pix_fmt", "rgb24"]
        else:
            video = ["-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
                     "-c:v", "libx264", "-crf", str(self.options.crf), "-preset", self.options.preset,
                     "-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709",
                     "-color_trc", "bt709", "-color_range", "tv"]
        container = ["-movflags", "+faststart"] if ext in {".mp4", ".m4v", ".mov"} else []
        return [*cmd, *maps, *video, *codecs, "-fflags", "+bitexact", "-flags:v", "+bitexact",
                "-fps_mode", "passthrough", *container, "-f", _muxer(ext), str(self.temp)]

    def write(self, frame: np.ndarray) -> None:
        if frame.ndim == 2:
            frame = np.repeat(frame[:, :, None], 3, axis=2)
        if frame.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame of shape {frame.shape} written to a {self.width}x{self.height} video")
        if any(self.pad):
            frame = np.pad(frame, ((0, self.pad[1]), (0, self.pad[0]), (0, 0)), mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
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
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._proc.kill()
        self._proc.wait()
        self.temp.unlink(missing_ok=True)


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


def concat_videos(segments: list[Path], output: Path, *, audio_from: Path | None = None, video_offset: float = 0.0) -> None:
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
                    "-map", "0:v:0", *maps, "-c:v", "copy", *codecs, "-fflags", "+bitexact", *container,
                    "-f", _muxer(output.suffix.lower()), str(temp)], f"joining segments into {output}")
        os.replace(temp, output)
    finally:
        listing.unlink(missing_ok=True)
        temp.unlink(missing_ok=True)


def _muxer(ext: str) -> str:
    return {".mkv": "matroska", ".mov": "mov", ".m4v": "mp4"}.get(ext, "mp4")


class FolderWriter(FrameSink):
    """Writes zero-padded PNGs into a hidden temporary folder renamed into place on commit."""

    def __init__(self, path: Path, fps: Fraction, *, overwrite: bool = False, metadata: dict | None = None):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise OutputError(f"{path}: already exists", hint="pass --overwrite to replace it")
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{path}: exists and is not a folder")
        ensure_writable_dir(self.path.parent)
        self.temp = _temporary_sibling(self.path, suffix=".d")
        shutil.rmtree(self.temp, ignore_errors=True)
        try:
            self.temp.mkdir()
        except OSError as exc:
            raise OutputError(f"{self.path.parent}: cannot write there ({exc.strerror})") from exc
        self.fps = fps
        self.metadata = dict(metadata or {})
        self.count = 0
        self.size: tuple[int, int] | None = None
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        write_image(self.temp / f"{self.count:06d}.png", frame)
        self.size = (frame.shape[1], frame.shape[0])
        self.count += 1

    def commit(self) -> None:
        if self._closed:
            return
        self._closed = True
        meta = {"fps": f"{self.fps.numerator}/{self.fps.denominator}", "fps_float": float(self.fps),
                "width": self.size[0] if self.size else None, "height": self.size[1] if self.size else None,
                "count": self.count, **self.metadata}
        (self.temp / FRAMES_JSON).write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
        replace_path(self.temp, self.path)

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
              metadata: dict | None = None) -> FrameSink:
    """A video writer if `path` has a video extension, else a frame-folder writer.

    The output takes the source's frame rate and, for videos, its audio and subtitles.
    """
    path = Path(path)
    if is_video_path(path):
        audio = like.audio_source if keep_audio else None
        offset = like.video.video_delay if like.video is not None and audio == like.path else 0.0
        return VideoWriter(path, width or like.width, height or like.height, like.fps, options=options,
                           audio_from=audio, video_offset=offset, overwrite=overwrite)
    return FolderWriter(path, like.fps, overwrite=overwrite, metadata=metadata)


def copy_frames(source: FrameSource, sink: FrameSink, transform: Callable[[np.ndarray], np.ndarray] | None = None,
                progress: Callable[[int, int], None] | None = None) -> int:
    """Pump every frame of `source` (optionally transformed) into `sink`; returns the count."""
    total = source.info.frame_count
    for index, frame in enumerate(source):
        sink.write(transform(frame) if transform else frame)
        if progress:
            progress(index + 1, total)
    return sink.count
