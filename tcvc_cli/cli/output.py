"""What commands print: progress on stderr (a bar on a terminal, one line at a time in a log),
one result per input on stdout (a tab-separated line, or one JSON object with --json), and
running a command over several inputs without stopping at the first failure.

Owns: progress_bar, emit, say, dumps, run_batch. Imports: cli.app, errors.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
import typer.core
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import Interrupted, SomeInputsFailed, TcvcError
from .app import err_console, print_error, state


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
            print_error(error)
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
