"""The `tcvc` command line: parses options, draws progress, maps errors to exit codes.

Commands are thin: each builds option objects, calls an engine function and prints one
result (a table line or, with --json, one JSON object) on stdout. Everything else -
progress, warnings, errors - goes to stderr.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
import typer.core
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import __version__
from .errors import (EXIT_CODES, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED, InputError, Interrupted, SomeInputsFailed,
                     TcvcError, Terminated, UsageError)

GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def hoist_global_flags(args: list[str], commands: set[str]) -> list[str]:
    """Let -q/-v stand after the subcommand and --json before it, as people type them:
    `tcvc colorize ep.mp4 -q` and `tcvc --json probe ep.mp4` mean what they say."""
    args = list(args)
    first = next((i for i, arg in enumerate(args) if arg in commands), None)
    if first is None:
        return args
    end = args.index("--") if "--" in args[first:] else len(args)
    flags = [arg for arg in args[first:end] if arg in GLOBAL_FLAGS]
    rest = [arg for arg in args[first:end] if arg not in GLOBAL_FLAGS]
    head = args[:first]
    json_first = "--json" in head
    head = [arg for arg in head if arg != "--json"]
    return head + flags + rest + (["--json"] if json_first else []) + args[end:]


class _Group(typer.core.TyperGroup):
    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_flags(args, set(self.commands)))


class _Command(typer.core.TyperCommand):
    """Plain-text help (nothing read as markup) with options grouped in panels, in order of
    first appearance (each option's `rich_help_panel`, or "Options"), arguments named by their
    metavar (LINEART...), and every default shown: flags that are off unless given say so."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx, formatter) -> None:
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                if not param.hidden:
                    panels.setdefault("Arguments", []).append(
                        (_argument_name(param), (param.help or "") + ("  [required]" if param.required else "")))
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            name, text = record
            if (getattr(param, "is_flag", False) and not param.secondary_opts and not param.default and "[default" not in text
                    and param.name != "help"):
                text = f"{text}  [default: off]"
            panels.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append((name, text))
        for panel, records in panels.items():
            with formatter.section(panel):
                formatter.write_dl(records)


def _argument_name(param) -> str:
    name = param.metavar or param.name.upper()
    return f"{name}..." if param.nargs == -1 and "..." not in name else name


app = typer.Typer(
    cls=_Group,
    name="tcvc",
    help="Colour line-art video with temporally coherent colorization (Thasarathan et al. 2019).\n\n"
         "The global options -q, -v and --json may stand before or after the command.",
    # Help text is plain text: "hf:ORG/REPO[/FILE][@REV]" must not be read as markup.
    rich_markup_mode=None,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: " + "; ".join(f"{code} {text.split(':')[0].split(';')[0].split(' (')[0]}" for code, text in sorted(EXIT_CODES.items())),
)

err_console = Console(stderr=True, highlight=False)
log = logging.getLogger("tcvc")


class _State:
    quiet = False
    stdout = sys.stdout  # where results go; everything else printed meanwhile goes to stderr


state = _State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tcvc {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or warnings on stderr; errors only.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details on stderr.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the command's result as one JSON document on stdout (also after the command: tcvc probe ep.mp4 --json).")] = False,
) -> None:
    """Global options stand before or after the command: `tcvc -q colorize ...` and `tcvc colorize ... -q` are the same."""
    state.quiet = quiet
    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    log.handlers.clear()
    if err_console.is_terminal:
        handler: logging.Handler = RichHandler(console=err_console, show_time=False, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:  # a log file or a pipe: one message per line, unpadded, whatever the width (grep-able)
        handler = _LineHandler()
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


class _LineHandler(logging.Handler):
    """Log records as `warning: message` lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = " ".join(record.getMessage().splitlines())
            sys.stderr.write(f"{record.levelname.lower()}: {message}\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


def _print_error(error: TcvcError) -> None:
    # Messages carry paths and user text ("ep [01].mp4"): escaped, never read as markup.
    err_console.print(f"[bold red]error:[/] {escape(error.message)}", markup=True, highlight=False, soft_wrap=True)
    if error.hint:
        err_console.print(f"[yellow]hint:[/] {escape(error.hint)}", markup=True, highlight=False, soft_wrap=True)


def reports_errors(command: Callable) -> Callable:
    """Map every expected failure to its one-line message, hint and exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # stdout carries the result alone: whatever a library prints while the command runs
        # (a download line, a warning) goes to stderr, so `tcvc ... --json | jq` always parses.
        state.stdout = sys.stdout
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return command(*args, **kwargs)
        except TcvcError as error:
            _print_error(error)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt as stop:
            what = "terminated" if isinstance(stop, Terminated) else "interrupted"
            err_console.print(f"[bold red]{what}[/]: partial outputs were removed; finished ones are kept", markup=True)
            raise typer.Exit(EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:  # noqa: BLE001 - the last line of defence
            if os.environ.get("TCVC_DEBUG") == "1":
                raise
            err_console.print(f"[bold red]internal error:[/] {type(error).__name__}: {escape(str(error))}", markup=True)
            err_console.print("[yellow]hint:[/] run again with TCVC_DEBUG=1 for a traceback, and please report it", markup=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


@contextmanager
def progress_bar(description: str, unit: str = "frames") -> Iterator["SilentProgress"]:
    """Progress on stderr with rate and ETA: a rich bar on a terminal, a plain line every
    $TCVC_PROGRESS_SECONDS (default 10) seconds otherwise (CI and render-farm logs); nothing with --quiet.

    The object it yields is called with (done, total, note=""); `finish(rate)` gives the speed
    the command reports, so the last line says the same figure as the summary."""
    if state.quiet:
        yield SilentProgress()
        return
    progress = PlainProgress(description, unit) if not err_console.is_terminal else BarProgress(description, unit)
    with progress:
        yield progress


class SilentProgress:
    """No progress at all (--quiet); the base of the other two."""

    def __call__(self, done: int, total: int | None, note: str = "") -> None:
        pass

    def finish(self, rate: float | None) -> None:
        pass

    def __enter__(self) -> "SilentProgress":
        return self

    def __exit__(self, *exc) -> None:
        pass


class BarProgress(SilentProgress):
    """A rich bar that fits the terminal: the count, speed, elapsed time and ETA always show;
    the bar narrows and the note (the least useful part) is cut first."""

    def __init__(self, description: str, unit: str):
        from rich.table import Column

        self.unit = unit
        self.bar = Progress(TextColumn("{task.description}"), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                            TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
                            TextColumn("ETA", table_column=Column(no_wrap=True, min_width=3)),
                            TimeRemainingColumn(table_column=Column(no_wrap=True, min_width=7)),
                            TextColumn("{task.fields[note]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=3)),
                            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=4)),
                            console=err_console, transient=False, expand=True)
        self.task = self.bar.add_task(description, total=None, rate="", note="")
        self.rate: float | None = None

    def __call__(self, done: int, total: int | None, note: str = "") -> None:
        speed = self.rate if self.rate is not None else self.bar.tasks[0].speed if self.bar.tasks else None
        self.bar.update(self.task, completed=done, total=total, rate=f"{speed:.1f} {self.unit}/s" if speed else "", note=note)

    def finish(self, rate: float | None) -> None:
        self.rate = rate
        task = self.bar.tasks[0]
        self(int(task.completed), task.total, "")

    def __enter__(self) -> "BarProgress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


class PlainProgress(SilentProgress):
    """Progress as plain log lines: `colorize ep.mp4: 120/480 frames (25%), 5.2 frames/s, ETA 1m09s`."""

    def __init__(self, description: str, unit: str, interval: float | None = None):
        import time

        self.clock = time.monotonic
        self.description, self.unit = description, unit
        if interval is None:
            try:
                interval = float(os.environ.get("TCVC_PROGRESS_SECONDS", "10"))
            except ValueError:
                interval = 10.0
        self.interval = interval
        self.started = self.clock()
        self.first_done: int | None = None
        self.last_print = self.started
        self.last: tuple[int, int | None, str] | None = None
        self.rate: float | None = None  # the command's own figure, once finished

    def __call__(self, done: int, total: int | None, note: str = "") -> None:
        now = self.clock()
        if self.first_done is None:
            self.first_done, self.started = done, now  # a resumed run starts part-way
        self.last = (done, total, note)
        if now - self.last_print < self.interval:
            return
        self.last_print = now
        self._print(done, total, note)

    def finish(self, rate: float | None) -> None:
        self.rate = rate

    def __exit__(self, exc_type, *exc) -> None:
        if self.last is not None and exc_type is None:  # the closing line, once
            self._print(*self.last)

    def _print(self, done: int, total: int | None, note: str) -> None:
        finished = total is not None and done >= total
        elapsed = self.clock() - self.started
        rate = self.rate if self.rate is not None else (done - (self.first_done or 0)) / elapsed if elapsed > 0 else 0.0
        parts = [f"{done}/{total} {self.unit} ({100 * done / total:.0f}%)" if total else f"{done} {self.unit}"]
        if rate > 0:
            parts.append(f"{rate:.1f} {self.unit}/s")
            if total and not finished:
                parts.append(f"ETA {_duration((total - done) / rate)}")
        if note:
            parts.append(note.strip())
        err_console.print(f"{self.description}: {', '.join(parts)}", markup=False, highlight=False, soft_wrap=True)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def dumps(value: Any) -> str:
    """Strict JSON: infinities and NaN (an identical frame's PSNR) become "inf"/"nan" strings."""
    def clean(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return "nan" if math.isnan(item) else ("inf" if item > 0 else "-inf")
        if isinstance(item, dict):
            return {str(k): clean(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [clean(v) for v in item]
        return item

    return json.dumps(clean(value), default=str, allow_nan=False)


def say(text: str) -> None:
    """Print a result line on stdout."""
    typer.echo(text, file=state.stdout)


def emit(summary: dict, as_json: bool, human: str) -> None:
    """Print the command's result: one JSON object, or a human line."""
    say(dumps(summary) if as_json else human)


def for_each(items: list[Path], job: Callable[[Path], dict]) -> list[dict]:
    """Run `job` on every item, continuing past failures, then fail naming each one."""
    results, failures = [], []
    for item in items:
        try:
            results.append(job(item))
        except TcvcError as error:
            if len(items) == 1 or isinstance(error, Interrupted):  # a stop stops the whole batch
                raise
            _print_error(error)
            failures.append((str(item), error))
            results.append({"input": str(item), "error": error.message, "exit_code": error.exit_code})
    if failures:
        raise _FailedWithResults(failures, results)
    return results


class _FailedWithResults(SomeInputsFailed):
    def __init__(self, failures: list, results: list[dict]):
        super().__init__(failures)
        self.results = results


def run_batch(items: list[Path], job: Callable[[Path], dict], as_json: bool, describe: Callable[[dict], str]) -> None:
    """for_each + printing: successes are reported even when some inputs failed."""
    try:
        results = for_each(items, job)
    except _FailedWithResults as failed:
        _report(failed.results, as_json, describe)
        raise
    _report(results, as_json, describe)


def _report(results: list[dict], as_json: bool, describe: Callable[[dict], str]) -> None:
    if as_json:
        say(dumps({"results": results, "failed": sum("error" in r for r in results)}))
        return
    for result in results:
        if "error" not in result:
            say(describe(result))


# --------------------------------------------------------------------------- shared options

Codec = Literal["h264", "h265", "prores", "prores4444", "dnxhr", "dnxhr444", "ffv1"]
X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"]
Device = Literal["auto", "cpu", "cuda", "mps"]

# Help panels, in the order a command's help shows them.
P_RUN, P_ARCH, P_LINES, P_SCHEDULE, P_LOSS, P_FEEDBACK, P_FINETUNE, P_HARDWARE = (
    "Run folder and checkpoints", "Model", "Line art", "Training schedule", "Losses", "Previous-frame condition",
    "Fine-tuning", "Hardware")
P_SOURCES, P_MODEL, P_SHOTS, P_OUTPUT, P_ENCODE, P_FARM = (
    "Coloured frames and keyframes", "Model and motion", "Shots", "Output", "Video encoding", "Farm and scripting")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout instead of text.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace outputs that already exist.")]
CrfOpt = Annotated[int, typer.Option("--crf", metavar="0-51", help="H.264/H.265 quality for video outputs (0 best - 51 worst).", min=0, max=51)]
PresetOpt = Annotated[X264Preset, typer.Option("--preset", help="x264/x265 speed preset for video outputs.")]
LosslessOpt = Annotated[bool, typer.Option("--lossless", help="Encode H.264 videos losslessly (RGB, exact pixels, large files).")]
CodecOpt = Annotated[Codec, typer.Option("--codec", help="Video codec: h264, h265, prores (422 HQ), prores4444 (keeps alpha), dnxhr (HQ), dnxhr444, or ffv1 (lossless archive, keeps alpha).")]
BitDepthOpt = Annotated[Optional[Literal[8, 16]], typer.Option("--bit-depth", help="Bits per sample of image outputs. Default: the input's (EXR is always half float).")]
StartNumberOpt = Annotated[Optional[int], typer.Option("--start-number", metavar="N", help="Number output frames from N. Default: the input's own frame numbers.")]
FillGapsOpt = Annotated[bool, typer.Option("--fill-gaps", help="Hold the frame before each frame missing from a numbered sequence, instead of stopping with an error.")]


# --------------------------------------------------------------------------- extract


@app.command(cls=_Command)
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
    from . import media
    from . import sequence as seq
    from .jobs import extract_video, sequence_name

    frame_size = media.parse_size(size) if size else None
    extension = _image_extension(image_format)
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


def _image_extension(text: str | None) -> str | None:
    if text is None:
        return None
    extension = "." + text.lower().lstrip(".")
    extension = {".tiff": ".tif"}.get(extension, extension)
    if extension not in (".png", ".tif", ".exr"):
        raise UsageError(f"unknown --format {text!r}", hint="use png, tif or exr")
    return extension


# --------------------------------------------------------------------------- lineart


@app.command(cls=_Command)
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
    from . import media
    from .jobs import lineart_file, output_for
    from .lineart import LineartParams

    from .lineart import METHODS

    methods = {"lineart": "canny", **{m: m for m in METHODS}}
    if mode not in methods and mode not in ("greyscale", "grayscale"):
        raise UsageError(f"unknown --mode {mode!r}", hint=f"use {', '.join(METHODS)} or greyscale")
    greyscale = mode in ("greyscale", "grayscale")
    params = LineartParams(mode="greyscale" if greyscale else "lineart", sigma=sigma, low=low, high=high,
                           method="canny" if greyscale else methods[mode], augment=augment or (), seed=seed)
    options = media.EncodeOptions(crf=crf, preset=preset, lossless=lossless, codec=codec)
    _check_bits(bit_depth)
    many = len(inputs) > 1

    def job(source: Path) -> dict:
        target = output_for(source, output, many, codec)
        with progress_bar(f"lineart {source.name}") as update:
            return lineart_file(source, target, params, overwrite=overwrite, options=options, bits=bit_depth,
                                start_number=start_number, fill_gaps=fill_gaps, progress=update)

    run_batch(inputs, job, as_json, lambda r: f"{r['output']}\t{r['frames']} frames")


def _check_bits(bits: int | None) -> None:
    if bits not in (None, 8, 16):
        raise UsageError(f"--bit-depth {bits} is not supported", hint="use 8 or 16")


# --------------------------------------------------------------------------- probe


@app.command(cls=_Command)
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
    from . import media
    from .sequence import number_ranges

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


# --------------------------------------------------------------------------- colorize

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
    from . import media
    from .jobs import sequence_name

    if media.is_sequence_path(source):
        base = source if source.is_dir() else source.parent
        folder = output_dir if output_dir is not None else base.parent if source.is_dir() else base
        return folder / f"{sequence_name(source)}{suffix}"
    folder = output_dir if output_dir is not None else source.parent
    containers = media.CODECS[codec].containers
    ext = source.suffix.lower() if source.suffix.lower() in containers else containers[0]
    return folder / f"{source.stem}{suffix}{ext}"


@app.command(cls=_Command)
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
    layers: Annotated[str, typer.Option("--layers", metavar="composed,paint,lines", rich_help_panel=P_OUTPUT, help="What to write, comma-separated: composed (the coloured frame), paint (fills alone, alpha 0 on lines and paper), lines (the line art as an alpha matte). Layers go beside the output: out_paint.mov, out_paint/.")] = "composed",
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
) -> None:
    """Colour line-art videos and image sequences frame by frame, each output conditioning the next.

    With --model, a trained model paints each frame. Without one, the colours of the seed
    frame and keyframes are carried along the motion of the line art: no training needed.
    """
    from . import media
    from .checkpoint import load_generator
    from .colorize import ColorizeOptions, Colorizer, Delivery, iter_inputs
    from .runtime import set_threads

    if output is not None and output_dir is not None:
        raise UsageError("give either -o/--output or --output-dir, not both")
    if work_size == "auto":
        size = None
    elif work_size == "native":
        size = 0
    elif work_size.isdigit():
        size = int(work_size)
    else:
        raise UsageError(f"cannot read --work-size {work_size!r}", hint="a number of pixels (short side), native, or auto")
    sharding = parse_shard(shard)
    sources = list(iter_inputs(inputs))
    if sharding:
        part, parts = sharding
        everything = len(sources)
        sources = [s for i, s in enumerate(sources) if i % parts == part - 1]
        if not sources:  # exit 0 still: an array job with more tasks than inputs stays green
            log.warning("--shard %d/%d: no inputs in this shard (%d input%s in all); nothing to do", part, parts,
                        everything, "" if everything == 1 else "s")
    if output is not None and len(sources) > 1:
        raise UsageError("-o/--output names one output but there are several inputs", hint="use --output-dir")
    if shots is not None and len(sources) > 1:
        raise UsageError("--shots describes one input but there are several", hint="colour each episode with its own shot list")
    if shots is not None and not shots.is_file():
        raise InputError(f"{shots}: the shot list does not exist")
    _check_bits(bit_depth)
    delivery = Delivery(layers=tuple(part.strip() for part in layers.split(",") if part.strip()), start_number=start_number,
                        bits=bit_depth, fill_gaps=fill_gaps, keep_alpha=keep_alpha)
    model_from = "--model"
    if model is None and os.environ.get("TCVC_MODEL"):
        model, model_from = os.environ["TCVC_MODEL"], "TCVC_MODEL"
    if model is not None and model.strip().lower() == "none":
        model = None
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
                                        overwrite=overwrite, encode=encode, progress=update, delivery=delivery, shots=shots)
            update.finish(result.processing_fps)
        result.model = used
        return result.to_json()

    def describe(r: dict) -> str:
        if r.get("skipped"):
            return f"{r['output']}\tskipped (exists)"
        written = "\t".join(path for layer, path in r["outputs"].items() if layer != "composed")
        return (f"{r['output']}\t{r['frames']} frames\t{r['shots']} shot(s)\t{r['frame_rate']} fps\t"
                f"processed at {r['processing_fps']:.1f} frames/s" + (f"\t{written}" if written else ""))

    run_batch(sources, job, as_json, describe)


# --------------------------------------------------------------------------- train


@app.command(cls=_Command)
@reports_errors
def train(
    data: Annotated[Optional[Path], typer.Argument(metavar="DATA", help="Folder of clips: subfolders of coloured frames, or videos. Not needed with --resume.", show_default=False)] = None,
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", "-o", metavar="FOLDER", help="Run folder. Default: runs/tcvc-<date-time>.", rich_help_panel=P_RUN)] = None,
    resume: Annotated[Optional[Path], typer.Option(metavar="FOLDER", help="Continue the run in this folder from its last checkpoint. With DATA, a folder that holds no run yet is started, so one command line serves a job's first start and every requeue. Default: a new run.", rich_help_panel=P_RUN)] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option("--checkpoint-every", metavar="STEPS", help="Steps between checkpoints (and validations). Default: the preset's (paper 500, small 200, tiny 50).", rich_help_panel=P_RUN)] = None,
    epoch_checkpoints: Annotated[bool, typer.Option("--epoch-checkpoints/--no-epoch-checkpoints", help="Also checkpoint at every epoch's end.", rich_help_panel=P_RUN)] = True,
    sample_every: Annotated[Optional[int], typer.Option("--sample-every", metavar="STEPS", help="Steps between sample grids. Default: the preset's (paper 250, small 100, tiny 50).", rich_help_panel=P_RUN)] = None,
    keep: Annotated[Optional[int], typer.Option(metavar="N", help="Training checkpoints kept. Default: 3.", rich_help_panel=P_RUN)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout instead of text.", rich_help_panel=P_RUN)] = False,
    preset: Annotated[Literal["paper", "small", "tiny", "pix2pix"], typer.Option(help="paper (the paper's generator), small and tiny (CPUs, tests), pix2pix (the paper's U-Net baseline).", rich_help_panel=P_ARCH)] = "paper",
    arch: Annotated[Optional[Literal["resnet", "unet"]], typer.Option(help="resnet (tcvc) or unet (the pix2pix baseline). Default: the preset's.", rich_help_panel=P_ARCH)] = None,
    image_size: Annotated[Optional[int], typer.Option("--image-size", metavar="PIXELS", help="Training crop size, and the size colorize runs the model at. Default: the preset's (paper 256).", rich_help_panel=P_ARCH)] = None,
    ngf: Annotated[Optional[int], typer.Option(metavar="N", help="Generator width: channels after its first conv. Default: the preset's (paper 64).", rich_help_panel=P_ARCH)] = None,
    n_blocks: Annotated[Optional[int], typer.Option("--n-blocks", metavar="N", help="Residual blocks. Default: the preset's (paper 8).", rich_help_panel=P_ARCH)] = None,
    dilation: Annotated[Optional[int], typer.Option(metavar="N", help="Dilation of each residual block's first conv. Default: the preset's (1).", rich_help_panel=P_ARCH)] = None,
    condition: Annotated[Optional[Literal["previous", "motion"]], typer.Option("--condition", help="previous: G sees the previous colour frame as it is (the paper); motion: moved onto frame t along the line art's motion, with a consistency mask (docs/motion.md). Default: the preset's (motion).", rich_help_panel=P_ARCH)] = None,
    copy_gate: Annotated[Optional[bool], typer.Option("--copy-gate/--no-copy-gate", help="Let G copy the previous frame per pixel through a learned gate. Default: the preset's (on).", show_default=False, rich_help_panel=P_ARCH)] = None,
    no_previous: Annotated[bool, typer.Option("--no-previous", help="Never condition on a previous frame (ablation).", rich_help_panel=P_ARCH)] = False,
    input_mode: Annotated[Literal["lineart", "greyscale"], typer.Option("--input-mode", help="The model's input: line art, or greyscale (the paper's second experiment).", rich_help_panel=P_LINES)] = "lineart",
    lineart_dir: Annotated[Optional[Path], typer.Option("--lineart-dir", metavar="FOLDER", help="Artists' line art, same layout as DATA. Default: line art drawn from the coloured frames.", rich_help_panel=P_LINES)] = None,
    lineart_mode: Annotated[Optional[Literal["canny", "xdog", "thinned"]], typer.Option("--lineart-mode", help="How line art is drawn from the coloured frames: canny (the paper), xdog or thinned (docs/lineart.md). Default: canny; with --init-from, the base model's.", rich_help_panel=P_LINES)] = None,
    lineart_augment: Annotated[Optional[str], typer.Option("--lineart-augment", metavar="LIST|none", help="Comma-separated augmentations of the drawn line art: width, gaps, details, paper, jpeg, scan; or none. Default: all of them (they train the model that colours artists' line art best: docs/lineart.md); none with --lineart-dir; with --init-from, the base model's.", rich_help_panel=P_LINES)] = None,
    sigma: Annotated[float, typer.Option(metavar="SIGMA", help="Gaussian blur before Canny (the paper's 1).", rich_help_panel=P_LINES)] = 1.0,
    low: Annotated[float, typer.Option(metavar="LEVEL", help="Canny low threshold.", rich_help_panel=P_LINES)] = 50.0,
    high: Annotated[float, typer.Option(metavar="LEVEL", help="Canny high threshold.", rich_help_panel=P_LINES)] = 150.0,
    epochs: Annotated[Optional[int], typer.Option(metavar="N", help="Passes over the training clips. Default: 35 (the paper); fine-tunes stop at --max-steps.", rich_help_panel=P_SCHEDULE)] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", metavar="STEPS", help="Stop after this many optimiser steps. Default: no limit (2000 for a fine-tune).", rich_help_panel=P_SCHEDULE)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", metavar="N", help="Global batch size, split across processes. Default: the preset's (paper 16, small 8, tiny 4).", rich_help_panel=P_SCHEDULE)] = None,
    lr_g: Annotated[Optional[float], typer.Option("--lr-g", metavar="RATE", help="Generator learning rate. Default: 1e-4 (the paper; 7e-4 for a fine-tune).", rich_help_panel=P_SCHEDULE)] = None,
    lr_d: Annotated[Optional[float], typer.Option("--lr-d", metavar="RATE", help="Discriminator learning rate. Default: 1e-5 (the paper; pix2pix 1e-4).", rich_help_panel=P_SCHEDULE)] = None,
    val_fraction: Annotated[Optional[float], typer.Option("--val-fraction", metavar="SHARE", help="Share of clips held out for validation. Default: 0.1.", rich_help_panel=P_SCHEDULE)] = None,
    seed: Annotated[Optional[int], typer.Option(metavar="N", help="Random seed of sampling, augmentation and initialisation. Default: 0.", rich_help_panel=P_SCHEDULE)] = None,
    deterministic: Annotated[bool, typer.Option(help="Deterministic algorithms (slower; exact resume on GPU).", rich_help_panel=P_SCHEDULE)] = False,
    vgg_weights: Annotated[str, typer.Option("--vgg-weights", metavar="imagenet|random|PATH", help="VGG-19 of the content and style losses: imagenet (torchvision's cache), a .pth path, or random (smoke tests only).", rich_help_panel=P_LOSS)] = "imagenet",
    lambda_adv: Annotated[Optional[float], typer.Option("--lambda-adv", metavar="WEIGHT", help="Weight of the adversarial loss. Default: 1 (the paper).", rich_help_panel=P_LOSS)] = None,
    lambda_content: Annotated[Optional[float], typer.Option("--lambda-content", metavar="WEIGHT", help="Weight of the VGG-19 content loss. Default: 1 (the paper; none for greyscale input or pix2pix).", rich_help_panel=P_LOSS)] = None,
    lambda_style: Annotated[Optional[float], typer.Option("--lambda-style", metavar="WEIGHT", help="Weight of the VGG-19 style (Gram matrix) loss. Default: 1000 (the paper; none for pix2pix).", rich_help_panel=P_LOSS)] = None,
    lambda_l1: Annotated[Optional[float], typer.Option("--lambda-l1", metavar="WEIGHT", help="Weight of the L1 loss against the true frame. Default: 10 (the paper).", rich_help_panel=P_LOSS)] = None,
    lambda_gate: Annotated[Optional[float], typer.Option("--lambda-gate", metavar="WEIGHT", help="Weight of the loss that teaches the copy gate where copying is right. Default: 1.", rich_help_panel=P_LOSS)] = None,
    lambda_temporal: Annotated[Optional[float], typer.Option("--lambda-temporal", metavar="WEIGHT", help="Weight of the loss that keeps G's output for a frame in step with its own output for the frame before, moved along the true motion. Default: 5.", rich_help_panel=P_LOSS)] = None,
    blank_probability: Annotated[Optional[float], typer.Option("--blank-prob", metavar="CHANCE", help="Chance of a blank previous frame. Default: 0.5 (the paper).", rich_help_panel=P_FEEDBACK)] = None,
    prev_source: Annotated[Optional[Literal["gt", "generated", "mixed"]], typer.Option("--prev-source", help="The condition in training: gt (the paper's teacher forcing), generated (G's own previous output) or mixed (scheduled). Default: generated.", rich_help_panel=P_FEEDBACK)] = None,
    unroll: Annotated[Optional[int], typer.Option(metavar="FRAMES", help="Frames G generates before t to make its own previous frame. Default: 2.", rich_help_panel=P_FEEDBACK)] = None,
    unroll_grad: Annotated[bool, typer.Option("--unroll-grad", help="Backpropagate through the unrolled frames.", rich_help_panel=P_FEEDBACK)] = False,
    mixed_ramp: Annotated[Optional[float], typer.Option("--mixed-ramp", metavar="SHARE", help="Share of training over which 'mixed' ramps to always-generated. Default: 0.5.", rich_help_panel=P_FEEDBACK)] = None,
    degrade: Annotated[Optional[float], typer.Option(metavar="CHANCE", help="Chance of blurring, noising, colour-shifting and warping the previous frame. Default: 0.5.", rich_help_panel=P_FEEDBACK)] = None,
    prev_gap: Annotated[Optional[int], typer.Option("--prev-gap", metavar="FRAMES", help="The condition's true frame lies 1 to N frames back, so G learns to drop content that moved away. Default: 8.", rich_help_panel=P_FEEDBACK)] = None,
    init_from: Annotated[Optional[str], typer.Option("--init-from", metavar="MODEL", help="Fine-tune: start from this model (a run folder, a .safetensors file or hf:ORG/REPO[/FILE][@REV]). Its architecture is kept, the optimisers start fresh, and the fine-tuning schedule applies (docs/training.md#fine-tuning). Default: train from scratch.", rich_help_panel=P_FINETUNE)] = None,
    replay: Annotated[Optional[Path], typer.Option("--replay", metavar="FOLDER", help="Earlier training data mixed into every batch while fine-tuning, so the model keeps what it knew. Default: none.", rich_help_panel=P_FINETUNE)] = None,
    replay_fraction: Annotated[Optional[float], typer.Option("--replay-fraction", metavar="SHARE", help="Share of each batch taken from --replay. Default: 0.25.", min=0.0, max=0.95, rich_help_panel=P_FINETUNE)] = None,
    replay_lineart_dir: Annotated[Optional[Path], typer.Option("--replay-lineart-dir", metavar="FOLDER", help="Artists' line art of the --replay data, same layout (as --lineart-dir is for DATA). Default: drawn from its frames.", rich_help_panel=P_FINETUNE)] = None,
    device: Annotated[Device, typer.Option(help="Where training runs.", rich_help_panel=P_HARDWARE)] = "auto",
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on CUDA.", rich_help_panel=P_HARDWARE)] = True,
    workers: Annotated[Optional[int], typer.Option(metavar="N", help="DataLoader worker processes. Default: 2 (tiny preset: 0).", rich_help_panel=P_HARDWARE)] = None,
    threads: Annotated[Optional[int], typer.Option(metavar="N", help="CPU threads. Default: torch's choice.", rich_help_panel=P_HARDWARE)] = None,
) -> None:
    """Train a colorization model on coloured clips (the paper's adversarial training)."""
    import time as _time

    from .lineart import TRAINING_AUGMENT, TRAINING_METHOD, LineartParams
    from .runtime import set_threads
    from .train import FINETUNE, FINETUNE_REPLAY_FRACTION, read_run_config, train as run_training, train_preset

    set_threads(threads)
    augments = None
    if lineart_augment is not None:
        augments = () if lineart_augment.strip() == "none" else tuple(a.strip() for a in lineart_augment.split(",") if a.strip())
    if replay is not None and not replay.is_dir():
        raise InputError(f"{replay}: the replay data folder does not exist")
    if replay_fraction is not None and replay is None:
        raise UsageError("--replay-fraction needs --replay OLD_DATA", hint="name the data the model was trained on")
    if resume is not None and data is not None and not (resume / "config.json").exists():
        if run_dir is not None and run_dir.resolve() != resume.resolve():
            raise UsageError("--resume and --run-dir name different folders", hint="give one of them")
        log.info("%s holds no run yet; starting it", resume)
        run_dir, resume = resume, None
    if resume is not None:
        config = read_run_config(resume)
        changes = {k: v for k, v in {"max_steps": max_steps, "epochs": epochs}.items() if v is not None}
        from dataclasses import replace

        config = replace(config, **changes)
        if data is not None and Path(config.data_dir).resolve() != data.resolve():
            raise UsageError(f"the run in {resume} trains on {config.data_dir}, not {data}", hint="leave DATA out when resuming")
        target = resume
    else:
        if data is None:
            raise UsageError("missing DATA", hint="tcvc train FOLDER_OF_CLIPS, or --resume RUN_DIR")
        modes = {"lineart": "lineart", "canny": "lineart", "greyscale": "greyscale", "grayscale": "greyscale"}
        if input_mode not in modes:
            raise UsageError(f"unknown --input-mode {input_mode!r}", hint="use lineart or greyscale")
        base = None
        if init_from is not None:
            base = _fine_tuning_base(init_from)
            shaped = {"--arch": arch, "--ngf": ngf, "--n-blocks": n_blocks, "--dilation": dilation,
                      "--condition": condition, "--copy-gate": copy_gate, "--no-previous": no_previous or None}
            given = [name for name, value in shaped.items() if value is not None]
            if given:
                raise UsageError(f"{given[0]} cannot change a model being fine-tuned", hint="--init-from keeps the model's architecture")
        # Drawn line art is augmented by default; artists' own (--lineart-dir) is taken as it is.
        default_augment = () if lineart_dir is not None or modes[input_mode] == "greyscale" else TRAINING_AUGMENT
        line_input = LineartParams(mode=modes[input_mode], sigma=sigma, low=low, high=high, method=lineart_mode or TRAINING_METHOD,
                                   augment=augments if augments is not None else default_augment, seed=seed or 0)
        if base is not None and lineart_mode is None and augments is None and input_mode == "lineart":
            line_input = base["config"].input  # the base model's line art, unless told otherwise
        fine = dict(FINETUNE) if base is not None else {}
        config = train_preset(
            preset, arch=arch, image_size=image_size, ngf=ngf, n_blocks=n_blocks, dilation=dilation,
            use_previous=False if no_previous else None,
            input=line_input,
            epochs=epochs if epochs is not None else fine.get("epochs"),
            max_steps=max_steps if max_steps is not None else fine.get("max_steps"), batch_size=batch_size, lr_g=lr_g, lr_d=lr_d, lambda_adv=lambda_adv,
            lambda_content=lambda_content, lambda_style=lambda_style, lambda_l1=lambda_l1,
            blank_probability=blank_probability, val_fraction=val_fraction, checkpoint_every=checkpoint_every,
            sample_every=sample_every, keep=keep, seed=seed, deterministic=deterministic or None, workers=workers,
            amp=amp, vgg_weights=vgg_weights, data_dir=str(data.resolve()), prev_source=prev_source, unroll=unroll,
            unroll_grad=unroll_grad or None, mixed_ramp=mixed_ramp, degrade=degrade, copy_gate=copy_gate,
            lambda_gate=lambda_gate, lambda_temporal=lambda_temporal, prev_gap=prev_gap, checkpoint_epochs=epoch_checkpoints,
            condition=condition,
            lineart_dir=str(lineart_dir.resolve()) if lineart_dir else None,
            replay_dir=str(replay.resolve()) if replay is not None else None,
            replay_fraction=(replay_fraction if replay_fraction is not None
                             else FINETUNE_REPLAY_FRACTION if replay is not None else None),
            replay_lineart_dir=str(replay_lineart_dir.resolve()) if replay_lineart_dir else None,
        )
        if base is not None:
            from dataclasses import replace as _replace

            unset = {"lr_g": lr_g, "lr_d": lr_d, "val_fraction": val_fraction, "checkpoint_every": checkpoint_every,
                     "sample_every": sample_every}
            schedule = {k: fine[k] for k, v in unset.items() if v is None}
            config = _replace(config, model=base["config"].with_overrides(input=config.model.input, image_size=image_size),
                              init_from=base["init_from"], **schedule)
        target = run_dir or Path("runs") / _time.strftime("tcvc-%Y%m%d-%H%M%S")
        if (target / "config.json").exists():
            raise UsageError(f"{target} already holds a run", hint=f"continue it with --resume {target}, or pick another --run-dir")

    summary: dict = {}
    with progress_bar("train", unit="steps") as update:
        for event in run_training(config, target, device=device, resume=resume is not None):
            kind = event["type"]
            if kind == "preparing":
                update(0, None, note=event["what"])
            elif kind == "start":
                total = event["total_steps"]
                log.info("training on %d frames (%d held out) on %s", event["train_frames"], event["val_frames"], event["device"])
                if event["skipped_frames"]:
                    log.warning("%d unreadable frame(s) were skipped", event["skipped_frames"])
                update(event["step"], total)
            elif kind == "step":
                update(event["step"], total, note=f"G {event['loss_g']:.3f}  D {event['loss_d']:.3f}  L1 {event['l1']:.4f}  "
                                                  f"{event['samples_per_s']:.1f} samples/s")
            elif kind == "checkpoint":
                log.info("step %d: val L1 %s, checkpoint %s", event["step"], event["val_l1"], event["path"])
            elif kind == "done":
                summary = event
    summary.pop("type", None)
    emit(summary, as_json, "\n".join(f"{k}: {v}" for k, v in summary.items()))


def _fine_tuning_base(reference: str) -> dict:
    """The model a fine-tune starts from: its config, and the record the run keeps of it."""
    from .checkpoint import read_metadata, resolve_model, sha256_of

    path = resolve_model(reference)
    config, extra = read_metadata(path)
    record = {"reference": reference, "path": str(path.resolve()), "sha256": sha256_of(path),
              "lineage": list(extra.get("lineage", []))}
    return {"config": config, "init_from": record}


# --------------------------------------------------------------------------- evaluate


@app.command(cls=_Command)
@reports_errors
def evaluate(
    paths: Annotated[list[Path], typer.Argument(metavar="PRED... GT", help="One or more predictions, then the ground truth (videos or frame folders).", show_default=False)],
    lineart: Annotated[Optional[Path], typer.Option(metavar="PATH", help="The line art the predictions were made from (shown in the report). Default: none.")] = None,
    resize_pred: Annotated[bool, typer.Option("--resize-pred", help="Resize predictions to the ground truth's size.")] = False,
    inception_weights: Annotated[str, typer.Option("--inception-weights", metavar="default|random|off|PATH", help="FID weights: default (torch hub's cache; see --download-weights), a .pth path, random (tests only), or off.")] = "default",
    require_fid: Annotated[bool, typer.Option("--require-fid", help="Fail when FID cannot be computed instead of skipping it.")] = False,
    download_weights: Annotated[bool, typer.Option("--download-weights", help="Download the standard FID weights when they are not in torch hub's cache (otherwise the network is never used).")] = False,
    scene_detect: Annotated[bool, typer.Option("--scene-detect/--no-scene-detect", help="Skip frame pairs across scene cuts in temporal metrics.")] = True,
    report: Annotated[Optional[Path], typer.Option(metavar="FOLDER", help="Write per-frame CSV, a PSNR/warping-error plot and worst-frame sheets here. Default: no report.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the aggregate metrics as CSV.")] = False,
    device: Annotated[Device, typer.Option(help="Device for the FID network.")] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Measure predictions against the ground truth: PSNR, SSIM, FID, warping error, tOF, CDC."""
    from rich.table import Table

    from .evaluate import EvaluateOptions, evaluate as run_evaluation, format_table

    if len(paths) < 2:
        raise UsageError("give at least one prediction and the ground truth", hint="tcvc evaluate PRED... GT")
    options = EvaluateOptions(resize_pred=resize_pred, fid=inception_weights, require_fid=require_fid, download=download_weights,
                              scene_detect=scene_detect, device=device)
    with progress_bar("evaluate") as update:
        result = run_evaluation(paths[:-1], paths[-1], lineart=lineart, options=options, report=report, progress=update)
    if as_json:
        say(dumps(result))
        return
    rows = format_table(result)
    if as_csv:
        import csv

        writer = csv.writer(state.stdout)
        writer.writerows(rows)
        return
    table = Table(title=f"{result['frames']} frames, {len(result['cuts']) + 1} shot(s)")
    for header in rows[0]:
        table.add_column(header, justify="right" if header != "metric" else "left")
    for row in rows[1:]:
        table.add_row(*row)
    Console(highlight=False, file=state.stdout).print(table)


# --------------------------------------------------------------------------- models

models_app = typer.Typer(help="Models: list the cache, show one, pull from the hub, print its path, verify it.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(models_app, name="models")


@models_app.command("list", cls=_Command)
@reports_errors
def models_list(cache_dir: CacheDirOpt = None, as_json: JsonOpt = False) -> None:
    """Models in the cache, with sizes, revisions and configs."""
    from .checkpoint import cached_models, default_cache_dir

    rows = cached_models(cache_dir)
    if as_json:
        say(dumps({"cache_dir": str(cache_dir or default_cache_dir()), "models": rows}))
        return
    if not rows:
        log.warning("no models in the cache %s (tcvc models pull hf:ORG/REPO adds one)", cache_dir or default_cache_dir())
    for row in rows:
        config = row.get("config")
        summary = _describe_config(config) if config else row.get("config_error", "-")
        lineage = row.get("lineage") or []
        origin = f"\tfine-tuned from {' <- '.join(step.get('reference', '?') for step in lineage)}" if lineage else ""
        say(f"{row['reference']}\t{row['size'] / 1e6:.1f} MB\t{summary}{origin}")


def _describe_config(config: dict) -> str:
    from .lineart import LineartParams

    lines = LineartParams.from_json(config["input"]).label
    return f"{config['arch']} ngf={config['ngf']} blocks={config['n_blocks']} {lines} {config['image_size']}px"


@models_app.command("show", cls=_Command)
@reports_errors
def models_show(reference: Annotated[str, typer.Argument(metavar="MODEL", help="A run folder, a .safetensors file or hf:ORG/REPO[/FILE][@REVISION]")],
                cache_dir: CacheDirOpt = None, offline: OfflineOpt = False, as_json: JsonOpt = False) -> None:
    """A model's architecture, line art, training step and lineage: what it was fine-tuned from, and on what."""
    from .checkpoint import lineage_of, read_metadata, resolve_model, sha256_of

    path = resolve_model(reference, cache_dir=cache_dir, offline=offline)
    config, extra = read_metadata(path)
    lineage = lineage_of(extra)
    summary = {"reference": reference, "path": str(path), "sha256": sha256_of(path), "config": config.to_json(),
               "step": extra.get("step"), "fine_tuned_on": extra.get("fine_tuned_on"), "lineage": lineage}
    text = [f"{path}", f"  {_describe_config(config.to_json())}, step {extra.get('step', '?')}"]
    if lineage:
        text.append(f"  fine-tuned on {extra.get('fine_tuned_on', '?')}")
        text += [f"  {'from' if i == 0 else '  <-'} {step.get('reference')} (sha256 {str(step.get('sha256', ''))[:12]})"
                 for i, step in enumerate(lineage)]
    else:
        text.append("  trained from scratch")
    emit(summary, as_json, "\n".join(text))


@models_app.command("pull", cls=_Command)
@reports_errors
def models_pull(reference: Annotated[str, typer.Argument(metavar="MODEL", help="hf:ORG/REPO[/FILE][@REVISION]")], cache_dir: CacheDirOpt = None,
                as_json: JsonOpt = False) -> None:
    """Download a model into the cache (and verify it)."""
    from .checkpoint import fetch, parse_hub_reference, read_config, sha256_of

    ref = parse_hub_reference(reference)
    if ref is None:
        raise UsageError(f"{reference!r} is not a hub reference", hint="use hf:ORG/REPO[/FILE][@REVISION]")
    path = fetch(ref, cache_dir=cache_dir)
    config = read_config(path)
    emit({"reference": str(ref), "path": str(path), "sha256": sha256_of(path), "config": config.to_json()}, as_json, str(path))


@models_app.command("path", cls=_Command)
@reports_errors
def models_path(reference: Annotated[str, typer.Argument(metavar="MODEL", help="hf:ORG/REPO[/FILE][@REVISION], a run folder or a .safetensors file")],
                cache_dir: CacheDirOpt = None, offline: OfflineOpt = False, as_json: JsonOpt = False) -> None:
    """Print the local file a model reference resolves to."""
    from .checkpoint import resolve_model

    path = resolve_model(reference, cache_dir=cache_dir, offline=offline)
    emit({"reference": reference, "path": str(path)}, as_json, str(path))


@models_app.command("verify", cls=_Command)
@reports_errors
def models_verify(reference: Annotated[str, typer.Argument(metavar="MODEL", help="hf:ORG/REPO[/FILE][@REVISION], a run folder or a .safetensors file")],
                  cache_dir: CacheDirOpt = None, offline: OfflineOpt = False, as_json: JsonOpt = False) -> None:
    """Check a model's sha256 (when known) and that its weights load into its architecture."""
    from .checkpoint import expected_sha256, load_generator

    loaded = load_generator(reference, cache_dir=cache_dir, offline=offline)
    expected, source = expected_sha256(loaded.path)
    summary = {"reference": reference, "path": str(loaded.path), "sha256": loaded.sha256, "sha256_checked_against": source,
               "config": loaded.config.to_json(), "ok": True}
    emit(summary, as_json, f"ok\t{loaded.path}\tsha256 {loaded.sha256}" + ("" if expected else "\t(no published sha256)"))


# --------------------------------------------------------------------------- demo


@app.command(cls=_Command)
@reports_errors
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FOLDER", help="Folder for the demo's results.")] = Path("demo-output"),
    steps: Annotated[int, typer.Option(metavar="N", help="Training steps (6000: about 8.5 minutes on a 2-core CPU).", min=1)] = 6000,
    device: Annotated[Device, typer.Option(help="Where the demo model trains.")] = "cpu",
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train on built-in sample clips, colour a held-out clip from a seed frame, and evaluate it."""
    from .demo import run_demo

    def step(message: str) -> None:
        if not state.quiet:
            err_console.print(f"[cyan]demo:[/] {escape(message)}", markup=True)

    with progress_bar("train", unit="steps") as update:
        summary = run_demo(output, overwrite=overwrite, steps=steps, device=device, step=step, progress=update)
    emit(summary, as_json, "\n".join(f"{key}: {value}" for key, value in summary.items()))


def main() -> None:
    """Console-script entry point."""
    try:
        from .runtime import raise_on_sigterm  # imports torch: seconds on a busy machine

        raise_on_sigterm()
        app()
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM outside a command body (e.g. while importing torch)
        terminated = isinstance(stop, Terminated)
        err_console.print("terminated" if terminated else "interrupted")
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    main()
