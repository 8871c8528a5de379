"""Video out: codecs and their encode options, the ffmpeg writer fed through a pipe, stream
copies of audio, subtitles and timecode, and joining segments.

Owns: Codec, CODECS, EncodeOptions, FrameSink, VideoWriter, concat_videos. Imports:
media.ffmpeg, media.probing, media.images, errors.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import FfmpegError, OutputError, UsageError
from .ffmpeg import _MP4_AUDIO, _TEXT_SUBTITLES, WRITABLE_VIDEO_EXTENSIONS, _StderrDrain, ffmpeg_exe, log, run_ffmpeg
from .images import to_depth
from .probing import _read_header


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
