"""The run report beside a colorize output: what `tcvc review` reads. It holds the run's
--json result (shots, cuts, keyframes used, per-frame confidence shares, suggested keyframes),
the command that coloured it and the command that colours it again once the suggested frames
are painted.

    out.mp4 -> out.mp4.report.json;  out/ -> out.report.json;  out/sh010.%04d.png -> out/sh010.report.json

Owns: report_path, write_report, read_report. Imports: media, errors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import __version__, media
from .errors import InputError
from .media.sequence import parse_pattern

SUFFIX = ".report.json"


def report_path(output: Path) -> Path:
    output = Path(output)
    parsed = parse_pattern(output) if not media.is_video_path(output) else None
    if parsed is not None:
        folder, naming = parsed
        return folder / f"{naming.prefix.rstrip('._- ') or 'frames'}{SUFFIX}"
    return output.with_name(output.name.rstrip("/") + SUFFIX)


def write_report(output: Path, result: dict[str, Any], command: list[str], rerun: list[str] | None) -> Path:
    """Write the report of the run that made `output`, atomically; returns its path."""
    path = report_path(output)
    data = {"tcvc": __version__, "output": str(output), "command": command, "rerun": rerun, "result": result}
    temp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    temp.write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    os.replace(temp, path)
    return path


def read_report(output: Path) -> dict[str, Any]:
    path = report_path(output)
    if not path.is_file():
        raise InputError(f"{output}: no run report beside it ({path.name})",
                         hint="colour with --report (or --suggest-keyframes N) to write one, then review")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable run report ({exc})") from None
    if not isinstance(data, dict) or "result" not in data:
        raise InputError(f"{path}: not a tcvc run report")
    return data
