"""Image sequences out, and the one door to every output: how frames are named and numbered
(FrameTarget), the folder writer that publishes a sequence only when complete, open_sink
and copy_frames.

Owns: FrameTarget, frame_target, FolderWriter, open_sink, copy_frames. Imports: the other
media modules, errors.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import OutputError, UsageError
from . import sequence as seq
from .encoding import EncodeOptions, FrameSink, VideoWriter, _temporary_sibling, check_output, ensure_writable_dir
from .ffmpeg import DEFAULT_FOLDER_FPS, FRAMES_JSON
from .images import WRITABLE_IMAGE_EXTENSIONS, write_image
from .reading import FrameSource, SourceInfo, is_video_path, sidecar_for

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
