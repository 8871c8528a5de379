"""The ffmpeg binary (imageio-ffmpeg's), run with an argument list and its stderr drained on a
thread; the file kinds tcvc reads and writes.

Owns: ffmpeg_exe, run_ffmpeg, the extension sets. Imports: errors.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections import deque
from fractions import Fraction

from ..errors import FfmpegError

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
