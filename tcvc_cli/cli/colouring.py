"""`tcvc colorize`: options parsed into ColorizeOptions, Delivery and encode options, then one
Colorizer run per input.

Imports: cli.app, cli.options, cli.output; colorize, model, media, runtime (inside).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
import typer.core

from ..errors import InputError, UsageError
from .app import Command, app, log, reports_errors, state
from .options import (P_ENCODE, P_FARM, P_MODEL, P_OUTPUT, P_REVIEW, P_SHOTS, P_SOURCES, Codec, X264Preset, check_bits,
                      default_output, parse_shard)
from .output import progress_bar, run_batch


@app.command(cls=Command)
@reports_errors
def colorize(
    inputs: Annotated[list[Path], typer.Argument(metavar="LINEART", help="Line-art videos, image sequences (folders, shot010.%04d.png, shot010.####.png), or folders of episodes.", show_default=False)],
    seed_frame: Annotated[Optional[Path], typer.Option("--seed-frame", metavar="IMAGE", rich_help_panel=P_SOURCES, help="The artist's colouring of the first frame: written as given, and carried onto the frames after it (and into each new shot). Default: none.")] = None,
    keyframes: Annotated[Optional[Path], typer.Option("--keyframes", metavar="FOLDER", rich_help_panel=P_SOURCES, help="Folder of coloured frames named by frame number (a sequence's own numbers, shot010.1012.png; a video's index, 000120.png): written as given, they re-anchor the frames after them and colour the frames before them backwards. With --shots it may hold one subfolder per shot. Default: none.")] = None,
    stretch_references: Annotated[bool, typer.Option("--stretch-references", rich_help_panel=P_SOURCES, help="Scale a seed frame or keyframe of another aspect ratio to the line art (refused otherwise: it is almost always the wrong file). Same-aspect frames are always scaled.")] = False,
    model: Annotated[Optional[str], typer.Option("--model", "-m", metavar="MODEL", rich_help_panel=P_MODEL, help="Checkpoint: a .safetensors file, a run folder, or hf:ORG/REPO[/FILE][@REV]. Default: $TCVC_MODEL, else none: colours are carried from --seed-frame and --keyframes along the line art's motion (no training needed); 'none' overrides $TCVC_MODEL.")] = None,
    work_size: Annotated[str, typer.Option("--work-size", metavar="PIXELS|native|auto", rich_help_panel=P_MODEL, help="Short side the model runs at, or native; without a model, the short side the motion is measured at. auto: the checkpoint's training size, or 480 for the motion.")] = "auto",
    feedback: Annotated[Literal["on", "off"], typer.Option(rich_help_panel=P_MODEL, help="on: each output conditions the next (the paper); off: every frame stands alone, conditioned on the seed or blank (a folder of pages may then mix sizes).")] = "on",
    anchor: Annotated[float, typer.Option(metavar="0-1", rich_help_panel=P_MODEL, help="Plain-condition models: where the line art is as on the shot's seed frame or latest keyframe, pull the condition back to that frame by this much (0: off, 1: fully).", min=0.0, max=1.0)] = 1.0,
    anchor_radius: Annotated[Optional[int], typer.Option("--anchor-radius", metavar="PIXELS", rich_help_panel=P_MODEL, help="Pixels (at the work size) around a changed line that are not anchored. Default: 1/32 of the work size's short side.", min=0)] = None,
    from_color: Annotated[bool, typer.Option("--from-color", rich_help_panel=P_MODEL, help="Input is colour or greyscale footage: derive the model's input from it first.")] = False,
    upscale: Annotated[Literal["bicubic", "flat"], typer.Option(rich_help_panel=P_MODEL, help="bicubic: smooth colour under the source's own lines; flat: one colour per line-enclosed region.")] = "bicubic",
    device: Annotated[Literal["auto", "cpu", "cuda", "mps"], typer.Option(rich_help_panel=P_MODEL, help="Where the model runs.")] = "auto",
    threads: Annotated[Optional[int], typer.Option(metavar="N", rich_help_panel=P_MODEL, help="CPU threads for the model. Default: torch's choice.")] = None,
    half: Annotated[bool, typer.Option("--half/--no-half", rich_help_panel=P_MODEL, help="Half precision on CUDA.")] = True,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", metavar="FOLDER", rich_help_panel=P_MODEL, help="Model cache folder. Default: $TCVC_CACHE_DIR, else the user cache.")] = None,
    offline: Annotated[bool, typer.Option("--offline", rich_help_panel=P_MODEL, help="Never contact the hub; use cached models only.")] = False,
    both_ways: Annotated[bool, typer.Option("--both-ways/--forward-only", rich_help_panel=P_SOURCES, help="Colour the frames before a later keyframe of the shot backwards from it too, and blend the two passes (without a model, and with motion-compensated models).")] = True,
    shots: Annotated[Optional[Path], typer.Option("--shots", metavar="FILE", rich_help_panel=P_SHOTS, help="Shot boundaries from editorial, used instead of detecting cuts: an OpenTimelineIO timeline (.otio), a CMX 3600 EDL (.edl) or a CSV of first frame numbers. Default: cuts are detected.")] = None,
    scene_detect: Annotated[bool, typer.Option("--scene-detect/--no-scene-detect", rich_help_panel=P_SHOTS, help="Detect scene cuts and start each shot afresh.")] = True,
    cut_threshold: Annotated[float, typer.Option(metavar="0-1", rich_help_panel=P_SHOTS, help="Edge change ratio above which two frames are a cut.", min=0.0, max=1.0)] = 0.5,
    cut_reset: Annotated[Literal["auto", "seed", "blank"], typer.Option(rich_help_panel=P_SHOTS, help="After a cut: seed (colours from the seed frame), blank (the model paints the shot's first frame from its line art), auto (blank for motion-compensated models, seed otherwise).")] = "auto",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="PATH", rich_help_panel=P_OUTPUT, help="Output video (by extension), image sequence pattern (out.%04d.png, out.####.png) or frame folder; one input only. Default: INPUT_color beside the input.")] = None,
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", metavar="FOLDER", rich_help_panel=P_OUTPUT, help="Folder for the outputs of several inputs. Default: beside each input.")] = None,
    suffix: Annotated[str, typer.Option(metavar="TEXT", rich_help_panel=P_OUTPUT, help="Added to each input's name to name its output.")] = "_color",
    layers: Annotated[str, typer.Option("--layers", metavar="composed,paint,lines,confidence", rich_help_panel=P_OUTPUT, help="What to write, comma-separated: composed (the coloured frame), paint (fills alone, alpha 0 on lines and paper), lines (the line art as an alpha matte), confidence (grey: white where colour came straight from an artist's frame, mid grey from the previous output, black guessed or painted). Layers go beside the output: out_paint.mov, out_paint/.")] = "composed",
    keep_alpha: Annotated[bool, typer.Option("--keep-alpha", rich_help_panel=P_OUTPUT, help="Carry the input's alpha into the outputs (cels on a transparent background); needs png/tif/exr frames or --codec prores4444/ffv1. Without it, transparent paper is read as white and painted.")] = False,
    bit_depth: Annotated[Optional[Literal[8, 16]], typer.Option("--bit-depth", rich_help_panel=P_OUTPUT, help="Bits per sample of image outputs. Default: the input's (EXR is always half float).")] = None,
    start_number: Annotated[Optional[int], typer.Option("--start-number", metavar="N", rich_help_panel=P_OUTPUT, help="Number output frames from N. Default: the input's own frame numbers.")] = None,
    fill_gaps: Annotated[bool, typer.Option("--fill-gaps", rich_help_panel=P_SOURCES, help="Hold the frame before each frame missing from a numbered sequence, instead of stopping with an error.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", rich_help_panel=P_OUTPUT, help="Replace outputs that already exist.")] = False,
    codec: Annotated[Codec, typer.Option("--codec", rich_help_panel=P_ENCODE, help="Video codec: h264, h265, prores (422 HQ), prores4444 (keeps alpha), dnxhr (HQ), dnxhr444, or ffv1 (lossless archive, keeps alpha).")] = "h264",
    crf: Annotated[int, typer.Option("--crf", metavar="0-51", rich_help_panel=P_ENCODE, help="H.264/H.265 quality (0 best - 51 worst).", min=0, max=51)] = 18,
    preset: Annotated[X264Preset, typer.Option("--preset", rich_help_panel=P_ENCODE, help="x264/x265 speed preset.")] = "medium",
    lossless: Annotated[bool, typer.Option("--lossless", rich_help_panel=P_ENCODE, help="Encode H.264 losslessly (RGB, exact pixels, large files).")] = False,
    resume: Annotated[bool, typer.Option(rich_help_panel=P_FARM, help="Continue an interrupted run from its last completed segment.")] = False,
    segment_frames: Annotated[int, typer.Option("--segment-frames", metavar="N", rich_help_panel=P_FARM, help="Frames per resumable segment: what a crash, Ctrl-C or SIGTERM can lose at most.", min=1)] = 240,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", rich_help_panel=P_FARM, help="Skip inputs whose output already exists.")] = False,
    shard: Annotated[Optional[str], typer.Option(metavar="K/N", rich_help_panel=P_FARM, help="Process only the K-th of N parts of the input list, for array jobs. Default: all inputs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", rich_help_panel=P_FARM, help="Print one JSON summary on stdout instead of text (docs/colorize.md#json).")] = False,
    suggest_keyframes: Annotated[int, typer.Option("--suggest-keyframes", metavar="N", rich_help_panel=P_REVIEW, help="Name the N frames of each shot to paint next: those that, painted, would explain the most of the shot (docs/review.md). Writes the run report. 0: none.", min=0)] = 0,
    suggest_method: Annotated[Literal["greedy", "least"], typer.Option("--suggest-method", rich_help_panel=P_REVIEW, help="greedy: paint the frame that would explain the most, N times; least: the cheap proxy, paint where the least is explained now.")] = "greedy",
    to_paint: Annotated[Optional[Path], typer.Option("--to-paint", metavar="FOLDER", rich_help_panel=P_REVIEW, help="Write the line art of the suggested frames here, named by frame number, with copies of the keyframes used: once painted, the folder is the --keyframes input. Files already there are kept. Default: none.")] = None,
    report: Annotated[bool, typer.Option("--report", rich_help_panel=P_REVIEW, help="Write OUTPUT.report.json beside the output, for tcvc review (always with --suggest-keyframes).")] = False,
) -> None:
    """Colour line-art videos and image sequences frame by frame, each output conditioning the next.

    With --model, a trained model paints each frame. Without one, the colours of the seed
    frame and keyframes are carried along the motion of the line art: no training needed.
    """
    from .. import media
    from ..colorize import ColorizeOptions, Colorizer, Delivery, Suggest, iter_inputs
    from ..report import write_report
    from ..model.checkpoint import load_generator
    from ..runtime import set_threads

    if output is not None and output_dir is not None:
        raise UsageError("give either -o/--output or --output-dir, not both")
    size = parse_work_size(work_size)
    sources = shard_of(list(iter_inputs(inputs)), shard)
    if output is not None and len(sources) > 1:
        raise UsageError("-o/--output names one output but there are several inputs", hint="use --output-dir")
    if shots is not None and len(sources) > 1:
        raise UsageError("--shots describes one input but there are several", hint="colour each episode with its own shot list")
    if shots is not None and not shots.is_file():
        raise InputError(f"{shots}: the shot list does not exist")
    check_bits(bit_depth)
    if to_paint is not None and len(sources) > 1:
        raise UsageError("--to-paint names one folder but there are several inputs", hint="suggest keyframes for one input at a time")
    suggest = Suggest(count=suggest_keyframes, method=suggest_method, to_paint=to_paint)
    delivery = Delivery(layers=tuple(part.strip() for part in layers.split(",") if part.strip()), start_number=start_number,
                        bits=bit_depth, fill_gaps=fill_gaps, keep_alpha=keep_alpha)
    model, model_from = model_reference(model)
    if seed_frame is not None and not seed_frame.is_file():
        raise InputError(f"{seed_frame}: the seed frame does not exist")
    options = ColorizeOptions(work_size=size, upscale=upscale, scene_detect=scene_detect, cut_threshold=cut_threshold,
                              cut_reset=cut_reset, feedback=feedback == "on", anchor=anchor, anchor_radius=anchor_radius,
                              from_color=from_color, device=device, half=half, both_ways=both_ways,
                              segment_frames=segment_frames, stretch_references=stretch_references)
    encode = media.EncodeOptions(crf=crf, preset=preset, lossless=lossless, codec=codec)
    if output is not None and media.is_video_path(output):
        encode.check_container(output)
    set_threads(threads)
    loaded = load_generator(model, cache_dir=cache_dir, offline=offline) if model is not None else None
    used = ({"reference": model, "from": model_from, "path": str(loaded.path), "sha256": loaded.sha256}
            if loaded is not None else None)
    if loaded is None and seed_frame is None and keyframes is None:
        raise UsageError("nothing to colour from: without --model, tcvc carries the colours of a seed frame or keyframes",
                         hint="pass --seed-frame KEY.png or --keyframes DIR (no training needed), or --model to colour with a trained model")
    colorizer = Colorizer(loaded, options)

    def job(source: Path) -> dict:
        target = output if output is not None else default_output(source, output_dir, suffix, codec)
        if skip_existing and target.exists():
            return {"input": str(source), "output": str(target), "skipped": True}
        with progress_bar(f"colorize {source.name}") as update:
            result = colorizer.colorize(source, target, seed_frame=seed_frame, keyframes=keyframes, resume=resume,
                                        overwrite=overwrite, encode=encode, progress=update, delivery=delivery, shots=shots,
                                        suggest=suggest)
            update.finish(result.processing_fps)
        result.model = used
        summary = result.to_json()
        if report or suggest.count:
            summary["report"] = str(write_report(target, summary, ["tcvc", *state.argv], rerun_command(state.argv, to_paint)))
        return summary

    run_batch(sources, job, as_json, _describe)


def parse_work_size(text: str) -> int | None:
    """--work-size: None for auto, 0 for native, else pixels of the short side."""
    if text == "auto":
        return None
    if text == "native":
        return 0
    if text.isdigit():
        return int(text)
    raise UsageError(f"cannot read --work-size {text!r}", hint="a number of pixels (short side), native, or auto")


def shard_of(sources: list[Path], shard: str | None) -> list[Path]:
    """The inputs of --shard K/N; an empty shard says so and exits 0, so array jobs stay green."""
    sharding = parse_shard(shard)
    if not sharding:
        return sources
    part, parts = sharding
    mine = [s for i, s in enumerate(sources) if i % parts == part - 1]
    if not mine:
        log.warning("--shard %d/%d: no inputs in this shard (%d input%s in all); nothing to do", part, parts,
                    len(sources), "" if len(sources) == 1 else "s")
    return mine


def model_reference(model: str | None) -> tuple[str | None, str]:
    """The model asked for and where it was named: --model, else $TCVC_MODEL; 'none' is none."""
    model_from = "--model"
    if model is None and os.environ.get("TCVC_MODEL"):
        model, model_from = os.environ["TCVC_MODEL"], "TCVC_MODEL"
    if model is not None and model.strip().lower() == "none":
        model = None
    return model, model_from


def _describe(r: dict) -> str:
    """One input's result line: output, frames, shots, frame rate, speed, other layers, and the
    frames to paint next."""
    if r.get("skipped"):
        return f"{r['output']}\tskipped (exists)"
    written = "\t".join(path for layer, path in r["outputs"].items() if layer != "composed")
    line = (f"{r['output']}\t{r['frames']} frames\t{r['shots']} shot(s)\t{r['frame_rate']} fps\t"
            f"processed at {r['processing_fps']:.1f} frames/s" + (f"\t{written}" if written else ""))
    paint = "; ".join(f"{shot['shot']} {','.join(str(n) for n in shot['frames'])}"
                      for shot in r.get("suggested_keyframes", []) if shot["frames"])
    return line + (f"\tpaint next: {paint}" if paint else "")


# Options of the first run that the run once the suggested frames are painted leaves out.
_NOT_RERUN = {"--suggest-keyframes": 1, "--suggest-method": 1, "--to-paint": 1, "--keyframes": 1, "--report": 0}


def rerun_command(argv: list[str], to_paint: Path | None) -> list[str] | None:
    """The command that colours again with the painted frames: the same command line, with
    --keyframes the --to-paint folder and --overwrite; None without --to-paint."""
    if to_paint is None:
        return None
    kept, skip = [], 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in _NOT_RERUN:
            skip = _NOT_RERUN[name] if "=" not in arg else 0
            continue
        kept.append(arg)
    extra = ["--keyframes", str(to_paint)] + ([] if "--overwrite" in kept else ["--overwrite"])
    return ["tcvc", *kept, *extra]
