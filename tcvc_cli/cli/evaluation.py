"""`tcvc evaluate` (metrics against the ground truth) and `tcvc demo` (train, colour and score
the built-in sample).

Imports: cli.app, cli.options, cli.output; evaluate, demo (inside).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.core
from rich.console import Console

from ..errors import UsageError
from .app import Command, app, reports_errors, state
from .options import Device, JsonOpt
from .output import dumps, progress_bar, say


@app.command(cls=Command)
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

    from ..evaluate import EvaluateOptions, evaluate as run_evaluation, format_table

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
