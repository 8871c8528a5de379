"""File-level jobs behind `tcvc extract` and `tcvc lineart`.

Each job takes paths and options, streams frames from a source to a sink and returns a
summary dict; it reports progress through a callback and never prints.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from . import media
from .errors import OutputError
from .lineart import LineartParams, extract as lineart_of

Progress = Callable[[int, int], None]


def extract_video(video: Path, out_dir: Path, *, start: str | None = None, end: str | None = None, every: int = 1,
                  size: tuple[int, int] | None = None, overwrite: bool = False,
                  progress: Progress | None = None) -> dict:
    """Decode `video` into `out_dir/<stem>/000000.png ...` with a frames.json beside them."""
    info = media.probe(video)
    selection = media.FrameSelection(
        start=media.parse_position(start, info.fps) if start else 0,
        end=media.parse_position(end, info.fps) if end else None,
        every=every,
    )
    target = out_dir / video.stem
    media.check_output(target, [video], overwrite)
    with media.open_source(video, selection, size) as source:
        metadata = {"source": str(video.resolve()), "source_fps": f"{info.fps.numerator}/{info.fps.denominator}",
                    "source_size": [info.width, info.height], "start_frame": selection.start, "every": every,
                    "variable_frame_rate": info.variable_frame_rate}
        with media.FolderWriter(target, source.info.fps, overwrite=overwrite, metadata=metadata) as sink:
            count = media.copy_frames(source, sink, progress=progress)
    return {"input": str(video), "output": str(target), "frames": count,
            "fps": f"{source.info.fps.numerator}/{source.info.fps.denominator}",
            "width": source.info.width, "height": source.info.height}


def output_for(source: Path, output: Path, many: bool) -> Path:
    """Where the result for `source` goes.

    With one input and an `output` that is not an existing folder or a path ending in a
    slash, `output` is the result itself. Otherwise `output` is a folder, and each result
    is named after its input: videos keep their name (as .mp4 when the extension cannot be
    written), frame folders keep their folder name.
    """
    as_folder = many or str(output).endswith(("/", os.sep)) or (output.is_dir() and source.is_file())
    if not as_folder:
        return output
    if source.is_dir():
        return output / source.resolve().name
    suffix = source.suffix.lower() if source.suffix.lower() in media.WRITABLE_VIDEO_EXTENSIONS else ".mp4"
    return output / f"{source.stem}{suffix}"


def lineart_file(source_path: Path, output: Path, params: LineartParams, *, overwrite: bool = False,
                 options: media.EncodeOptions = media.EncodeOptions(), progress: Progress | None = None) -> dict:
    """Turn a colour video or frame folder into line art (or greyscale) of the same kind."""
    media.check_output(output, [source_path], overwrite)
    with media.open_source(source_path) as source:
        metadata = {"source": str(source_path.resolve()), "lineart": params.to_json()}
        with media.open_sink(output, like=source.info, overwrite=overwrite, options=options, metadata=metadata) as sink:
            count = media.copy_frames(source, sink, lambda frame: lineart_of(frame, params), progress)
    if count != source.info.frame_count:  # pragma: no cover - guarded by the reader
        raise OutputError(f"{output}: wrote {count} frames, expected {source.info.frame_count}")
    return {"input": str(source_path), "output": str(output), "frames": count, "mode": params.mode}
