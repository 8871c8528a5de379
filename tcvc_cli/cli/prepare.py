"""Commands that prepare footage: `extract` (videos to frames), `lineart` (line art from colour)
and `probe` (what a file or sequence holds, and the hand-off check).

Imports: cli.app, cli.options, cli.output; jobs, media, lineart (inside each command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
import typer.core

from ..errors import InputError, UsageError
from .app import Command, app, reports_errors
from .options import (BitDepthOpt, CodecOpt, CrfOpt, FillGapsOpt, JsonOpt, LosslessOpt, OverwriteOpt, PresetOpt,
                      StartNumberOpt, check_bits, image_extension)
from .output import progress_bar, run_batch


@app.command(cls=Command)
@reports_errors
def extract(
    videos: Annotated[list[Path], typer.Argument(metavar="VIDEO", help="Videos or image sequences (a folder, shot010.%04d.png or shot010.####.png).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="PATH", help="Folder that receives one frame folder per input, or, for one input, a pattern for its frames (ink/sh010.%04d.png, ink/sh010.####.png).")],
    start: Annotated[Optional[str], typer.Option(metavar="FRAME|TIME", help="First frame: a frame number (120; a sequence's own numbers, e.g. 1010) or a time (5s, 00:00:05.0). Default: the first.")] = None,
    end: Annotated[Optional[str], typer.Option(metavar="FRAME|TIME", help="Stop before this frame number or time. Default: at the end.")] = None,
    every: Annotated[int, typer.Option(min=1, metavar="N", help="Keep every N-th frame.")] = 1,
    size: Annotated[Optional[str], typer.Option(metavar="WIDTHxHEIGHT", help="Resize frames. Default: their own size.")] = None,
    image_format: Annotated[Optional[Literal["png", "tif", "tiff", "exr"]], typer.Option("--format", help="Frame format. Default: a sequence's own format, png for videos.")] = None,
    bit_depth: BitDepthOpt = None,
    start_number: StartNumberOpt = None,
    fill_gaps: FillGapsOpt = False,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Decode videos, or copy image sequences, into numbered frames with a frames.json.

    A video gives DIR/<name>/000000.png ...; a sequence keeps its names and frame numbers
    (shot010.1001.png ...) and its bit depth, unless told otherwise.
    """
    from .. import media
    from ..jobs import extract_video, sequence_name
    from ..media import sequence as seq

    frame_size = media.parse_size(size) if size else None
    extension = image_extension(image_format)
    if not seq.is_pattern(output) and output.suffix.lower() in media.IMAGE_NAME_EXTENSIONS and not output.is_dir():
        raise UsageError(f"-o {output} names one image, but extract writes image sequences",
                         hint=f"give a folder, or a pattern such as {output.with_name(output.stem + '.%04d' + output.suffix)}")
    if seq.is_pattern(output) and len(videos) > 1:
        raise UsageError(f"-o {output} names the frames of one input, but there are {len(videos)}",
                         hint="give -o a folder: each input's frames go into a folder of its own inside it")
    stems = [sequence_name(v) for v in videos]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise UsageError(f"several inputs share the name {clash[0]!r}; their frame folders would collide",
                         hint="extract them in separate calls with different -o folders")

    def job(video: Path) -> dict:
        with progress_bar(f"extract {video.name}") as update:
            return extract_video(video, output, start=start, end=end, every=every, size=frame_size, overwrite=overwrite,
                                 bits=bit_depth, start_number=start_number, fill_gaps=fill_gaps, extension=extension,
                                 progress=update)

    run_batch(videos, job, as_json, lambda r: f"{r['output']}\t{r['frames']} frames\t{r['width']}x{r['height']}\t{r['fps']} fps")


@app.command(cls=Command)
@reports_errors
def lineart(
    inputs: Annotated[list[Path], typer.Argument(metavar="VIDEO", help="Colour videos or image sequences (folders or shot010.%04d.png patterns).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="PATH", help="Output video, image sequence pattern (out.%04d.png) or folder for one input; a folder for several.")],
    mode: Annotated[str, typer.Option(metavar="canny|xdog|thinned|greyscale", help="canny: the paper's synthetic line art; xdog: one ink stroke along each line; thinned: single-pixel centrelines; greyscale: the paper's second experiment (docs/lineart.md).")] = "canny",
    augment: Annotated[Optional[str], typer.Option(metavar="LIST", help="Comma-separated augmentations that make the line art look drawn and scanned: width, gaps, details, paper, jpeg, scan. Default: none.")] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the augmentations (the same seed gives the same line art).")] = 0,
    sigma: Annotated[float, typer.Option(metavar="SIGMA", help="Gaussian blur sigma before Canny (the paper's 1).")] = 1.0,
    low: Annotated[float, typer.Option(metavar="LEVEL", help="Canny low threshold.")] = 50.0,
    high: Annotated[float, typer.Option(metavar="LEVEL", help="Canny high threshold.")] = 150.0,
    overwrite: OverwriteOpt = False,
    bit_depth: BitDepthOpt = None,
    start_number: StartNumberOpt = None,
    fill_gaps: FillGapsOpt = False,
    codec: CodecOpt = "h264",
    crf: CrfOpt = 18,
    preset: PresetOpt = "medium",
    lossless: LosslessOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Turn colour frames into the model's input: black-on-white line art, or greyscale.

    A video gives a video (same frame rate, audio and subtitles copied); a frame folder
    gives a frame folder of one-channel PNGs.
    """
    from .. import media
    from ..jobs import lineart_file, output_for
    from ..lineart import METHODS, LineartParams

    methods = {"lineart": "canny", **{m: m for m in METHODS}}
    if mode not in methods and mode not in ("greyscale", "grayscale"):
        raise UsageError(f"unknown --mode {mode!r}", hint=f"use {', '.join(METHODS)} or greyscale")
    greyscale = mode in ("greyscale", "grayscale")
    params = LineartParams(mode="greyscale" if greyscale else "lineart", sigma=sigma, low=low, high=high,
                           method="canny" if greyscale else methods[mode], augment=augment or (), seed=seed)
    options = media.EncodeOptions(crf=crf, preset=preset, lossless=lossless, codec=codec)
    check_bits(bit_depth)
    many = len(inputs) > 1

    def job(source: Path) -> dict:
        target = output_for(source, output, many, codec)
        with progress_bar(f"lineart {source.name}") as update:
            return lineart_file(source, target, params, overwrite=overwrite, options=options, bits=bit_depth,
                                start_number=start_number, fill_gaps=fill_gaps, progress=update)

    run_batch(inputs, job, as_json, lambda r: f"{r['output']}\t{r['frames']} frames")


@app.command(cls=Command)
@reports_errors
def probe(
    videos: Annotated[list[Path], typer.Argument(metavar="VIDEO", help="Videos or image sequences (folders, shot010.%04d.png or shot010.####.png).", show_default=False)],
    check: Annotated[bool, typer.Option("--check", help="Decode every frame, not only check each file's structure; "
                                                       "a video is decoded to its end.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show what a hand-off check needs: size, frame count, exact frame rate, first and last
    frame number, pixel format, bit depth, alpha, timecode and streams. Every frame file of a
    sequence is checked (a truncated PNG or JPEG fails); damaged frames exit 3, named."""
    from .. import media
    from ..media.sequence import number_ranges

    def job(path: Path) -> dict:
        if media.is_sequence_path(path):
            info = media.probe_sequence(path)
            damaged = media.bad_frames(path, decode=check)
            if damaged:
                raise InputError(f"{path}: damaged frame{'s' if len(damaged) > 1 else ''} {number_ranges(damaged)} "
                                 f"({len(damaged)} of {info['frame_count']})",
                                 hint="re-render or copy those frames again; tcvc will not guess at them")
            return {**info, "checked": "decoded" if check else "structure"}
        info = media.probe(path).to_json()
        if check:
            error = media.decode_errors(path)
            if error:
                raise InputError(f"{path}: does not decode to its end (ffmpeg: {error})",
                                 hint="re-export or re-download the video")
        return {**info, "checked": "decoded" if check else "packets"}

    def describe(r: dict) -> str:
        streams = f"\taudio: {','.join(r['audio_streams']) or '-'}" if "audio_streams" in r else ""
        timecode = f"\ttimecode {r['timecode']}" if r.get("timecode") else ""
        missing = f"\tmissing {r['missing_frames']}" if r.get("missing_frames") else ""
        return (f"{r['path']}\t{r['width']}x{r['height']}\t{r['frame_count']} frames {r['first_frame']}-{r['last_frame']}"
                f"\t{r['fps']} fps\t{r['pixel_format']} {r['bit_depth']}-bit{' alpha' if r['alpha'] else ''}"
                f"{timecode}{streams}{missing}")

    run_batch(videos, job, as_json, describe)
