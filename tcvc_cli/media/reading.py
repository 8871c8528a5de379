"""Frame sources: videos decoded through an ffmpeg pipe and image sequences read file by file,
with frame selection, sizes, depth and alpha; what a sequence's frames.json says.

Owns: FrameSource, VideoReader, FolderReader, open_source, SourceInfo. Imports: media.ffmpeg,
media.probing, media.images, media.sequence, errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import FfmpegError, InputError, UsageError
from . import sequence as seq
from .ffmpeg import DEFAULT_FOLDER_FPS, FRAMES_JSON, VIDEO_EXTENSIONS, _StderrDrain, _tail, ffmpeg_exe, log
from .images import describe_image, over_white, read_image
from .probing import VideoInfo, check_readable_file, probe


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
