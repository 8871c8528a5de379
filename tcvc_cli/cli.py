"""The `tcvc` command line: parses options, draws progress, maps errors to exit codes.

Commands are thin: each builds option objects, calls an engine function and prints one
result (a table line or, with --json, one JSON object) on stdout. Everything else -
progress, warnings, errors - goes to stderr.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import __version__
from .errors import EXIT_CODES, EXIT_INTERNAL, EXIT_INTERRUPTED, SomeInputsFailed, TcvcError, UsageError

app = typer.Typer(
    name="tcvc",
    help="Colour line-art video with temporally coherent colorization (Thasarathan et al. 2019).",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: " + "; ".join(f"{code} {text.split(':')[0]}" for code, text in EXIT_CODES.items()),
)

err_console = Console(stderr=True, highlight=False)
log = logging.getLogger("tcvc")


class _State:
    quiet = False


state = _State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tcvc {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or warnings on stderr; errors only.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details on stderr.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    state.quiet = quiet
    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    log.handlers.clear()
    handler = RichHandler(console=err_console, show_time=False, show_path=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def _print_error(error: TcvcError) -> None:
    err_console.print(f"[bold red]error:[/] {error.message}", markup=True, highlight=False, soft_wrap=True)
    if error.hint:
        err_console.print(f"[yellow]hint:[/] {error.hint}", markup=True, highlight=False, soft_wrap=True)


def reports_errors(command: Callable) -> Callable:
    """Map every expected failure to its one-line message, hint and exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TcvcError as error:
            _print_error(error)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]: partial outputs were removed; finished ones are kept", markup=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:  # noqa: BLE001 - the last line of defence
            if os.environ.get("TCVC_DEBUG") == "1":
                raise
            err_console.print(f"[bold red]internal error:[/] {type(error).__name__}: {error}", markup=True)
            err_console.print("[yellow]hint:[/] run again with TCVC_DEBUG=1 for a traceback, and please report it", markup=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr (off when stderr is not a terminal or with --quiet)."""
    enabled = not state.quiet and err_console.is_terminal
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, disable=not enabled, transient=False)
    task = bar.add_task(description, total=None, rate="")

    def update(done: int, total: int | None, **fields: Any) -> None:
        speed = bar.tasks[0].speed if bar.tasks else None
        bar.update(task, completed=done, total=total, rate=f"{speed:.1f} fr/s" if speed else "", **fields)

    with bar:
        yield update


def emit(summary: dict, as_json: bool, human: str) -> None:
    """Print the command's result: one JSON object, or a human line."""
    if as_json:
        typer.echo(json.dumps(summary, indent=None, default=str))
    else:
        typer.echo(human)


def for_each(items: list[Path], job: Callable[[Path], dict]) -> list[dict]:
    """Run `job` on every item, continuing past failures, then fail naming each one."""
    results, failures = [], []
    for item in items:
        try:
            results.append(job(item))
        except TcvcError as error:
            if len(items) == 1:
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
        typer.echo(json.dumps({"results": results, "failed": sum("error" in r for r in results)}, default=str))
        return
    for result in results:
        if "error" not in result:
            typer.echo(describe(result))


# --------------------------------------------------------------------------- shared options

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout instead of text.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace outputs that already exist.")]
CrfOpt = Annotated[int, typer.Option("--crf", help="H.264 quality for video outputs (0 best - 51 worst).", min=0, max=51)]
PresetOpt = Annotated[str, typer.Option("--preset", help="x264 speed preset for video outputs.")]
LosslessOpt = Annotated[bool, typer.Option("--lossless", help="Encode videos losslessly (RGB, exact pixels, large files).")]


# --------------------------------------------------------------------------- extract


@app.command()
@reports_errors
def extract(
    videos: Annotated[list[Path], typer.Argument(help="Videos to decode.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder that receives one frame folder per video.")],
    start: Annotated[Optional[str], typer.Option(help="First frame: a frame number (120) or a time (5s, 00:00:05.0).")] = None,
    end: Annotated[Optional[str], typer.Option(help="Stop before this frame number or time.")] = None,
    every: Annotated[int, typer.Option(min=1, help="Keep every N-th frame.")] = 1,
    size: Annotated[Optional[str], typer.Option(help="Resize frames to WIDTHxHEIGHT.")] = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Decode videos into numbered PNG frames (DIR/<video name>/000000.png) with a frames.json."""
    from . import media
    from .jobs import extract_video

    frame_size = media.parse_size(size) if size else None
    stems = [v.stem for v in videos]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise UsageError(f"several inputs share the name {clash[0]!r}; their frame folders would collide",
                         hint="extract them in separate calls with different -o folders")

    def job(video: Path) -> dict:
        with progress_bar(f"extract {video.name}") as update:
            return extract_video(video, output, start=start, end=end, every=every, size=frame_size,
                                 overwrite=overwrite, progress=update)

    run_batch(videos, job, as_json, lambda r: f"{r['output']}\t{r['frames']} frames\t{r['width']}x{r['height']}\t{r['fps']} fps")


# --------------------------------------------------------------------------- lineart


@app.command()
@reports_errors
def lineart(
    inputs: Annotated[list[Path], typer.Argument(help="Colour videos or frame folders.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output video/folder (one input) or a folder (several).")],
    mode: Annotated[str, typer.Option(help="canny: the paper's synthetic line art; greyscale: its second experiment.")] = "canny",
    sigma: Annotated[float, typer.Option(help="Gaussian blur sigma before Canny (the paper's 1).")] = 1.0,
    low: Annotated[float, typer.Option(help="Canny low threshold.")] = 50.0,
    high: Annotated[float, typer.Option(help="Canny high threshold.")] = 150.0,
    overwrite: OverwriteOpt = False,
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

    modes = {"canny": "lineart", "lineart": "lineart", "greyscale": "greyscale", "grayscale": "greyscale"}
    if mode not in modes:
        raise UsageError(f"unknown --mode {mode!r}", hint="use canny or greyscale")
    params = LineartParams(mode=modes[mode], sigma=sigma, low=low, high=high)
    options = media.EncodeOptions(crf=crf, preset=preset, lossless=lossless)
    many = len(inputs) > 1

    def job(source: Path) -> dict:
        target = output_for(source, output, many)
        with progress_bar(f"lineart {source.name}") as update:
            return lineart_file(source, target, params, overwrite=overwrite, options=options, progress=update)

    run_batch(inputs, job, as_json, lambda r: f"{r['output']}\t{r['frames']} frames")


# --------------------------------------------------------------------------- probe


@app.command()
@reports_errors
def probe(
    videos: Annotated[list[Path], typer.Argument(help="Videos or frame folders.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Show size, frame count, exact frame rate, start time and streams of videos."""
    from . import media

    def job(path: Path) -> dict:
        if path.is_dir():
            with media.open_source(path) as source:
                info = source.info
                return {"path": str(path), "width": info.width, "height": info.height, "frame_count": info.frame_count,
                        "fps": f"{info.fps.numerator}/{info.fps.denominator}", "fps_float": float(info.fps)}
        return media.probe(path).to_json()

    def describe(r: dict) -> str:
        streams = f"\taudio: {','.join(r['audio_streams']) or '-'}" if "audio_streams" in r else ""
        return f"{r['path']}\t{r['width']}x{r['height']}\t{r['frame_count']} frames\t{r['fps']} fps{streams}"

    run_batch(videos, job, as_json, describe)


# --------------------------------------------------------------------------- demo


@app.command()
@reports_errors
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the demo's results.")] = Path("demo-output"),
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the whole job on the built-in sample clip and say where the results are."""
    from .demo import run_demo

    def step(message: str) -> None:
        if not state.quiet:
            err_console.print(f"[cyan]demo:[/] {message}", markup=True)

    summary = run_demo(output, overwrite=overwrite, step=step)
    emit(summary, as_json, "\n".join(f"{key}: {value}" for key, value in summary.items()))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C outside a command body (e.g. while importing torch)
        err_console.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    main()
