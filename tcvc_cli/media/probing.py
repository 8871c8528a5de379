"""What a video or picture file holds, asked of ffmpeg: streams, size, pixel format and depth,
colour matrix, timecode, and the frame rate read from packet timing (docs/media.md).

Owns: VideoInfo, probe, probe_picture, decode_errors. Imports: media.ffmpeg, errors.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import InputError
from .ffmpeg import DEFAULT_FOLDER_FPS, _tail, ffmpeg_exe, run_ffmpeg


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


def decode_errors(path: Path) -> str | None:
    """The first error ffmpeg reports while decoding every frame of a video, or None."""
    _, errors = run_ffmpeg(["-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"], f"decoding {path}")
    lines = [line for line in errors.splitlines() if line.strip()]
    return lines[0].split("] ")[-1] if lines else None
