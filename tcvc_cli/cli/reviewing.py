"""`tcvc review`: the review page of a coloured output (docs/review.md).

Imports: cli.app, cli.options, cli.output; review (inside).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .app import Command, app, reports_errors
from .options import JsonOpt, OverwriteOpt
from .output import emit, progress_bar


@app.command(cls=Command)
@reports_errors
def review(
    output: Annotated[Path, typer.Argument(metavar="OUTPUT", help="A colorize output (video, frame folder or pattern) with its run report beside it (colorize --report or --suggest-keyframes).", show_default=False)],
    page: Annotated[Path, typer.Option("--output", "-o", metavar="PAGE", help="The HTML page to write; its full-size frames go in PAGE_files/ beside it.")] = Path("review.html"),
    lineart: Annotated[Optional[Path], typer.Option("--lineart", metavar="PATH", help="The line art that was coloured. Default: the run's input, where it still is.")] = None,
    truth: Annotated[Optional[Path], typer.Option("--truth", metavar="PATH", help="Ground-truth colour frames: adds each frame's PSNR to the plots. Default: none.")] = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write one self-contained review page of a coloured output: filmstrips of line art, colour
    and confidence per shot, per-frame confidence (and PSNR) plots, the frames to paint next and
    the command that colours again once they are painted. It works offline."""
    from ..review import write_review

    if page.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"{page}: the review page is HTML", hint="name it review.html")
    if page.exists() and not overwrite:
        raise UsageError(f"{page} exists", hint="pass --overwrite to replace it")
    with progress_bar(f"review {output.name}") as update:
        summary = write_review(output, page, lineart=lineart, truth=truth, progress=update)
    emit(summary, as_json, f"{summary['page']}\t{summary['frames']} frames\t{summary['shots']} shot(s)")
