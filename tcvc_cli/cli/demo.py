"""`tcvc demo`: train on built-in sample clips, colour a held-out clip, evaluate it.

Imports: cli.app, cli.options, cli.output; demo (inside).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import typer.core
from rich.markup import escape

from .app import Command, app, err_console, reports_errors, state
from .options import Device, JsonOpt, OverwriteOpt
from .output import emit, progress_bar


@app.command(cls=Command)
@reports_errors
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FOLDER", help="Folder for the demo's results.")] = Path("demo-output"),
    steps: Annotated[int, typer.Option(metavar="N", help="Training steps (6000: about 8.5 minutes on a 2-core CPU).", min=1)] = 6000,
    device: Annotated[Device, typer.Option(help="Where the demo model trains.")] = "cpu",
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train on built-in sample clips, colour a held-out clip from a seed frame, and evaluate it."""
    from ..demo import run_demo

    def step(message: str) -> None:
        if not state.quiet:
            err_console.print(f"[cyan]demo:[/] {escape(message)}", markup=True)

    with progress_bar("train", unit="steps") as update:
        summary = run_demo(output, overwrite=overwrite, steps=steps, device=device, step=step, progress=update)
    emit(summary, as_json, "\n".join(f"{key}: {value}" for key, value in summary.items()))
