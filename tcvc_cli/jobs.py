"""File-level jobs behind `tcvc extract` and `tcvc lineart`.

Each job takes paths and options, streams frames from a source to a sink and returns a
summary dict; it reports progress through a callback and never prints.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

from . import media
from .media import sequence as seq
from .errors import OutputError
from .lineart import LineartParams, extract as lineart_of, to_grey

Progress = Callable[[int, int], None]


def sequence_name(path: Path) -> str:
    """A name for the frames of a video, folder or pattern: ep01.mp4 -> ep01; renders/sh010.%04d.png -> sh010."""
    parsed = seq.parse_pattern(path)
    if parsed is not None:
        folder, naming = parsed
        return naming.prefix.rstrip("._- ") or folder.resolve().name
    return path.resolve().name if path.is_dir() else path.stem


def selection_for(info: media.SourceInfo, start: str | None, end: str | None, every: int,
                  first_number: int = 0) -> media.FrameSelection:
    """--start/--end as frame numbers of the source (a sequence's own numbers) or times."""
    return media.FrameSelection(start=media.parse_position(start, info.fps, first_number) if start else 0,
                                end=media.parse_position(end, info.fps, first_number) if end else None, every=every)


def extract_video(video: Path, out_dir: Path, *, start: str | None = None, end: str | None = None, every: int = 1,
                  size: tuple[int, int] | None = None, overwrite: bool = False, bits: int | None = None,
                  start_number: int | None = None, fill_gaps: bool = False, extension: str | None = None,
                  progress: Progress | None = None) -> dict:
    """Decode a video or copy an image sequence into `out_dir/<name>/` (or the frames `out_dir` names,
    when it is a pattern) with a frames.json beside the frames.

    Sequences keep their frame numbers and naming (and format, unless `extension` says
    otherwise); videos are numbered from 000000. 16-bit sources stay 16-bit unless `bits` is 8,
    and transparency is kept.
    """
    with media.open_source(video, fill_gaps=fill_gaps) as probe_source:
        whole = probe_source.info
    first = whole.numbers[0] if whole.numbers else 0
    selection = selection_for(whole, start, end, every, first)
    # -o names the frames themselves when it is a pattern (ink/sh010.%04d.png), else the folder
    # that receives one frame folder per input.
    named = out_dir if seq.is_pattern(out_dir) else out_dir / sequence_name(video)
    target = media.frame_target(named, whole, start_number=start_number, bits=bits, extension=extension)
    media.check_target(target, [video], overwrite)
    depth = target.depth(whole)
    keep = whole.alpha  # a copy keeps transparency (every format tcvc writes frames in holds it)
    with media.open_source(video, selection, size, bits=depth, fill_gaps=fill_gaps, keep_alpha=keep, straight=keep) as source:
        metadata = {"source": str(video.resolve()), "source_fps": f"{whole.fps.numerator}/{whole.fps.denominator}",
                    "source_size": [whole.width, whole.height], "source_frame_count": whole.frame_count,
                    "start_frame": selection.start, "every": every,
                    "variable_frame_rate": bool(whole.video and whole.video.variable_frame_rate)}
        with media.FolderWriter(target, like=source.info, overwrite=overwrite, metadata=metadata) as sink:
            count = media.copy_frames(source, sink, progress=progress)
    info = source.info
    return {"input": str(video), "output": target.describe(), "frames": count,
            "fps": f"{info.fps.numerator}/{info.fps.denominator}", "width": info.width, "height": info.height,
            "bit_depth": depth, "first_frame": sink.first_number, "last_frame": sink.last_number}


def output_for(source: Path, output: Path, many: bool, codec: str = "h264") -> Path:
    """Where the result for `source` goes.

    With one input and an `output` that is not an existing folder or a path ending in a
    slash, `output` is the result itself. Otherwise `output` is a folder, and each result
    is named after its input: videos keep their name (in the codec's first container when
    their own cannot hold it), sequences keep their name.
    """
    as_folder = many or str(output).endswith(("/", os.sep)) or (output.is_dir() and source.is_file())
    if not as_folder:
        return output
    if media.is_sequence_path(source):
        return output / sequence_name(source)
    containers = media.CODECS[codec].containers
    suffix = source.suffix.lower() if source.suffix.lower() in containers else containers[0]
    return output / f"{source.stem}{suffix}"


def lineart_file(source_path: Path, output: Path, params: LineartParams, *, overwrite: bool = False,
                 options: media.EncodeOptions = media.EncodeOptions(), bits: int | None = None,
                 start_number: int | None = None, fill_gaps: bool = False, progress: Progress | None = None) -> dict:
    """Turn a colour video or image sequence into line art (or greyscale) of the same kind.

    Line art is found on 8-bit samples (Canny's domain); greyscale keeps 16 bits. The output
    is written at the source's depth unless `bits` says otherwise.
    """
    with media.open_source(source_path, bits=bits, fill_gaps=fill_gaps) as source:
        metadata = {"source": str(source_path.resolve()), "lineart": params.to_json()}
        if media.is_video_path(output):
            media.check_output(output, [source_path], overwrite)
        else:
            media.check_target(media.frame_target(output, source.info, start_number=start_number, bits=bits),
                               [source_path], overwrite)

        counter = itertools.count()

        def transform(frame):
            index = next(counter)  # the frame's index seeds its augmentations
            if params.mode == "greyscale":
                return to_grey(frame)
            return lineart_of(media.to_depth(frame, 8), params, index)

        with media.open_sink(output, like=source.info, overwrite=overwrite, options=options, metadata=metadata,
                             start_number=start_number, bits=bits) as sink:
            count = media.copy_frames(source, sink, transform, progress)
    if count != source.info.frame_count:  # pragma: no cover - guarded by the reader
        raise OutputError(f"{output}: wrote {count} frames, expected {source.info.frame_count}")
    return {"input": str(source_path), "output": str(output), "frames": count, "mode": params.label,
            "bit_depth": sink.bits}
