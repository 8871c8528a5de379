"""Options shared by several commands, their help panels, and the small parsers behind them.

Owns: the Annotated option types, P_* panels, parse_shard, default_output. Imports: errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
import typer.core

from ..errors import UsageError

Codec = Literal["h264", "h265", "prores", "prores4444", "dnxhr", "dnxhr444", "ffv1"]


X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"]


Device = Literal["auto", "cpu", "cuda", "mps"]


# Help panels, in the order a command's help shows them.
P_RUN, P_ARCH, P_LINES, P_SCHEDULE, P_LOSS, P_FEEDBACK, P_FINETUNE, P_HARDWARE = (
    "Run folder and checkpoints", "Model", "Line art", "Training schedule", "Losses", "Previous-frame condition",
    "Fine-tuning", "Hardware")


P_SOURCES, P_MODEL, P_SHOTS, P_OUTPUT, P_ENCODE, P_FARM, P_REVIEW = (
    "Coloured frames and keyframes", "Model and motion", "Shots", "Output", "Video encoding", "Farm and scripting",
    "Review and frames to paint")


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout instead of text.")]


OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace outputs that already exist.")]


CrfOpt = Annotated[int, typer.Option("--crf", metavar="0-51", help="H.264/H.265 quality for video outputs (0 best - 51 worst).", min=0, max=51)]


PresetOpt = Annotated[X264Preset, typer.Option("--preset", help="x264/x265 speed preset for video outputs.")]


LosslessOpt = Annotated[bool, typer.Option("--lossless", help="Encode H.264 videos losslessly (RGB, exact pixels, large files).")]


CodecOpt = Annotated[Codec, typer.Option("--codec", help="Video codec: h264, h265, prores (422 HQ), prores4444 (keeps alpha), dnxhr (HQ), dnxhr444, or ffv1 (lossless archive, keeps alpha).")]


BitDepthOpt = Annotated[Optional[Literal[8, 16]], typer.Option("--bit-depth", help="Bits per sample of image outputs. Default: the input's (EXR is always half float).")]


StartNumberOpt = Annotated[Optional[int], typer.Option("--start-number", metavar="N", help="Number output frames from N. Default: the input's own frame numbers.")]


FillGapsOpt = Annotated[bool, typer.Option("--fill-gaps", help="Hold the frame before each frame missing from a numbered sequence, instead of stopping with an error.")]


def image_extension(text: str | None) -> str | None:
    if text is None:
        return None
    extension = "." + text.lower().lstrip(".")
    extension = {".tiff": ".tif"}.get(extension, extension)
    if extension not in (".png", ".tif", ".exr"):
        raise UsageError(f"unknown --format {text!r}", hint="use png, tif or exr")
    return extension


def check_bits(bits: int | None) -> None:
    if bits not in (None, 8, 16):
        raise UsageError(f"--bit-depth {bits} is not supported", hint="use 8 or 16")


CacheDirOpt = Annotated[Optional[Path], typer.Option("--cache-dir", metavar="FOLDER", help="Model cache folder. Default: $TCVC_CACHE_DIR, else the user cache.")]


OfflineOpt = Annotated[bool, typer.Option("--offline", help="Never contact the hub; use cached models only.")]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        part, parts = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"cannot read --shard {text!r}", hint="use K/N, e.g. 2/8 for the second of eight parts") from None
    if not 1 <= part <= parts:
        raise UsageError(f"--shard {text}: K must be between 1 and N", hint="K/N picks the K-th of N parts, counting from 1")
    return part, parts


def default_output(source: Path, output_dir: Path | None, suffix: str, codec: str = "h264") -> Path:
    """ep01.mp4 -> ep01_color.mp4 beside it (or in --output-dir); a frame folder -> folder_color;
    a pattern renders/sh010.%04d.png -> renders/sh010_color/ holding sh010.1001.png ..."""
    from .. import media
    from ..jobs import sequence_name

    if media.is_sequence_path(source):
        base = source if source.is_dir() else source.parent
        folder = output_dir if output_dir is not None else base.parent if source.is_dir() else base
        return folder / f"{sequence_name(source)}{suffix}"
    folder = output_dir if output_dir is not None else source.parent
    containers = media.CODECS[codec].containers
    ext = source.suffix.lower() if source.suffix.lower() in containers else containers[0]
    return folder / f"{source.stem}{suffix}{ext}"
