"""The review page of a coloured output: one HTML file an artist opens offline to see where
colouring held and where to paint next.

It reads the run report beside the output (report.py) and shows, per shot, a
filmstrip of line art, colour and confidence (thumbnails inline, full-size frames in a folder
beside the page), a plot of each frame's confidence shares and, with the ground truth, its
PSNR (inline SVG), the suggested keyframes highlighted with the command that colours again
once they are painted, and the shots, cuts and what coloured them. Nothing is fetched from a
network: no scripts, no fonts, no CDN.

Owns: write_review. Imports: report, media, metrics, lineart, errors.
"""

from __future__ import annotations

import base64
import html
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import media
from .report import read_report
from .errors import InputError
from .lineart import to_grey
from .metrics import mse, psnr_from_mse

THUMB_WIDTH = 128
STRIP_FRAMES = 40  # at most this many frames per shot in the filmstrip (suggested and worst always)
PLOT_SIZE = (960, 220)
COLOURS = {"anchor": "#4c9be8", "previous": "#f0b341", "guessed": "#d9534f", "psnr": "#222222"}


def write_review(output: Path, page: Path, *, lineart: Path | None = None, truth: Path | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write the review page of `output` to `page` (its full-size frames beside it, in
    PAGE_files/); returns what the page shows, as JSON."""
    report = read_report(output)
    result = report["result"]
    lineart = lineart or (Path(result["input"]) if Path(result["input"]).exists() else None)
    confidence_path = result.get("outputs", {}).get("confidence")
    numbers = [shares["frame"] for shares in result.get("confidence", [])] or list(
        range(result["first_frame"], result["last_frame"] + 1))
    shots = result.get("shot_ranges") or [{"name": "shot1", "first_frame": numbers[0], "last_frame": numbers[-1]}]
    suggested = {shot["shot"]: shot["frames"] for shot in result.get("suggested_keyframes", [])}
    files = page.with_name(page.stem + "_files")
    files.mkdir(parents=True, exist_ok=True)
    errors = _errors(output, truth, len(numbers)) if truth is not None else None
    # PSNR against the truth by frame number
    scores = {n: psnr_from_mse(error) for n, error in zip(numbers, errors)} if errors is not None else None
    shown = _frames_to_show(shots, numbers, result, suggested, scores)
    strips = _strips(output, lineart, confidence_path, numbers, shown, files, page, progress)
    shares = {shares["frame"]: shares for shares in result.get("confidence", [])}
    body = [_header(report, output, lineart, truth, confidence_path)]
    for shot in shots:
        frames = [n for n in numbers if shot["first_frame"] <= n <= shot["last_frame"]]
        body.append(_shot_section(shot, frames, shares, scores, suggested.get(shot["name"], []),
                                  result.get("keyframes_used", []), strips, _coloured_from(result, shot, shots)))
    page.write_text(_document(f"tcvc review: {output}", "\n".join(body)), "utf-8")
    return {"page": str(page), "files": str(files), "frames": len(numbers), "shots": len(shots),
            "suggested_keyframes": result.get("suggested_keyframes", []),
            "psnr": psnr_from_mse(float(np.mean(errors))) if errors else None}


def _errors(output: Path, truth: Path, count: int) -> list[float]:
    """Per-frame mean squared error of the output against the truth."""
    scores = []
    with media.open_source(output) as coloured, media.open_source(truth) as true:
        if true.info.frame_count != coloured.info.frame_count:
            raise InputError(f"{truth} has {true.info.frame_count} frames but {output} has {coloured.info.frame_count}",
                             hint="give the ground truth of the same frames")
        size = (coloured.info.width, coloured.info.height)
        for frame, expected in zip(coloured, true):
            scores.append(mse(frame, media.resize(expected, size)))
    return scores[:count]


def _frames_to_show(shots: list[dict], numbers: list[int], result: dict, suggested: dict[str, list[int]],
                    scores: dict[int, float] | None) -> set[int]:
    """Every frame of short shots; of long ones an even sample, always with the suggested, the
    keyframes used and the least explained (or worst scored) frames."""
    anchor = {shares["frame"]: shares["anchor"] for shares in result.get("confidence", [])}
    shown: set[int] = set()
    for shot in shots:
        frames = [n for n in numbers if shot["first_frame"] <= n <= shot["last_frame"]]
        step = max(1, -(-len(frames) // STRIP_FRAMES))
        shown.update(frames[::step])
        shown.update(suggested.get(shot["name"], []))
        shown.update(n for n in result.get("keyframes_used", []) if n in frames)
        worst = scores if scores is not None else anchor
        shown.update(sorted(frames, key=lambda n: worst.get(n, 1.0))[:3])
    return shown


def _frames(path: Path | None, grey: bool = False) -> Iterator[np.ndarray | None]:
    if path is None or not (Path(path).exists() or media.is_sequence_path(path)):
        while True:
            yield None
    with media.open_source(path, grey=grey, mixed_sizes=True) as source:
        yield from source
    while True:
        yield None


def _strips(output: Path, lineart: Path | None, confidence: str | None, numbers: list[int], shown: set[int],
            files: Path, page: Path, progress: Callable[[int, int], None] | None) -> dict[int, dict[str, tuple[str, str]]]:
    """frame number -> {row: (inline thumbnail, link to the full-size frame)} for the frames shown."""
    rows = {"line art": _frames(lineart, grey=True), "colour": _frames(output),
            "confidence": _frames(Path(confidence) if confidence else None, grey=True)}
    strips: dict[int, dict[str, tuple[str, str]]] = {}
    for position, number in enumerate(numbers):
        images = {row: next(frames) for row, frames in rows.items()}
        if number in shown:
            strips[number] = {}
            for row, image in images.items():
                if image is None:
                    continue
                if row == "line art":
                    image = to_grey(image)
                full = files / f"{number:06d}_{row.replace(' ', '')}.png"
                media.write_image(full, image)
                strips[number][row] = (_thumbnail(image), f"{files.name}/{full.name}")
        if progress:
            progress(position + 1, len(numbers))
    return strips


def _thumbnail(image: np.ndarray) -> str:
    height, width = image.shape[:2]
    small = media.resize(image, (THUMB_WIDTH, max(1, round(height * THUMB_WIDTH / width))), cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small[:, :, :3], cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def _header(report: dict, output: Path, lineart: Path | None, truth: Path | None, confidence: str | None) -> str:
    result = report["result"]
    model = result.get("model") or {}
    coloured_by = (f"model {html.escape(str(model.get('reference')))} (sha256 {html.escape(str(model.get('sha256', ''))[:12])})"
                   if model else "no model: colours carried from the seed frame and keyframes")
    facts = [("output", str(output)), ("line art", str(lineart or "not found")), ("coloured by", coloured_by),
             ("frames", f"{result['frames']} at {result.get('frame_rate', '')} fps, {result.get('shots', 1)} shot(s)"),
             ("cuts", ", ".join(str(c) for c in result.get("cuts", [])) or "none"),
             ("keyframes used", ", ".join(str(k) for k in result.get("keyframes_used", [])) or "none"),
             ("confidence layer", confidence or "not written (colour with --layers composed,confidence to see it)")]
    if truth is not None:
        facts.append(("ground truth", str(truth)))
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{v if k == 'coloured by' else html.escape(v)}</td></tr>"
                   for k, v in facts)
    command = " ".join(shlex.quote(part) for part in report.get("command", []))
    rerun = report.get("rerun")
    parts = [f"<h1>Review of {html.escape(Path(output).name)}</h1>", f"<table class='facts'>{rows}</table>",
             f"<p>Coloured with:</p><pre class='command'>{html.escape(command)}</pre>"]
    suggested = [shot for shot in result.get("suggested_keyframes", []) if shot["frames"]]
    if suggested:
        listed = "; ".join(f"{html.escape(shot['shot'])}: {', '.join(str(n) for n in shot['frames'])}" for shot in suggested)
        parts.append(f"<p class='suggest'>Paint next: <b>{listed}</b>"
                     + (f" (their line art is in <code>{html.escape(result['to_paint'])}</code>)" if result.get("to_paint") else "")
                     + "</p>")
        if rerun:
            parts.append("<p>Once painted, colour again with:</p>"
                         f"<pre class='command rerun'>{html.escape(' '.join(shlex.quote(p) for p in rerun))}</pre>")
    return "\n".join(parts)


def _coloured_from(result: dict, shot: dict, shots: list[dict]) -> str:
    """What coloured a shot: the seed frame, its keyframes, or (without either) the model or the
    seed's colours carried across the cut."""
    keys = [n for n in result.get("keyframes_used", []) if shot["first_frame"] <= n <= shot["last_frame"]]
    sources = []
    if shot is shots[0] and result.get("seed_frame"):
        sources.append(f"the seed frame {result['seed_frame']}")
    if keys:
        sources.append(f"keyframe{'s' if len(keys) > 1 else ''} {', '.join(str(k) for k in keys)}")
    if not sources:
        model = (result.get("model") or {}).get("reference")
        sources.append(f"no artist's frame: the model {model} painted it" if model
                       else "no artist's frame: colours carried from the seed frame across the cut")
    return "; ".join(sources)


def _shot_section(shot: dict, frames: list[int], shares: dict[int, dict], scores: dict[int, float] | None,
                  suggested: list[int], keyframes: list[int], strips: dict[int, dict[str, tuple[str, str]]],
                  coloured_from: str) -> str:
    anchor = [shares.get(n, {}).get("anchor") for n in frames]
    known = [a for a in anchor if a is not None]
    summary = f"frames {frames[0]}-{frames[-1]}" if frames else "no frames"
    if known:
        summary += f", {100 * float(np.mean(known)):.0f}% of pixels from an artist's frame on average"
    plot = _plot(frames, shares, [scores[n] for n in frames] if scores else None, suggested, keyframes)
    cells = []
    for number in frames:
        if number not in strips:
            continue
        mark = " suggested" if number in suggested else " keyframe" if number in keyframes else ""
        label = f"{number}" + (" paint next" if number in suggested else " keyframe" if number in keyframes else "")
        images = "".join(f"<a href='{html.escape(link)}'><img src='{thumb}' alt='{html.escape(row)} {number}' "
                         f"title='{html.escape(row)} {number}'></a>" for row, (thumb, link) in strips[number].items())
        cells.append(f"<figure class='frame{mark}' id='frame-{number}'>{images}<figcaption>{label}</figcaption></figure>")
    return (f"<section class='shot'><h2>{html.escape(shot['name'])}</h2><p>{summary}; coloured from "
            f"{html.escape(coloured_from)}</p>{plot}"
            f"<div class='strip'>{''.join(cells)}</div></section>")


def _plot(frames: list[int], shares: dict[int, dict], scores: list[float] | None, suggested: list[int],
          keyframes: list[int]) -> str:
    """Stacked confidence shares per frame (and PSNR against the truth), as inline SVG."""
    width, height = PLOT_SIZE
    left, right, top, bottom = 44, 44 if scores else 12, 10, 24
    span = max(1, len(frames) - 1)

    def x(position: int) -> float:
        return left + (width - left - right) * position / span

    def y(share: float) -> float:
        return top + (height - top - bottom) * (1.0 - share)

    parts = [f"<svg class='plot' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' role='img'>", f"<rect x='{left}' y='{top}' width='{width - left - right}' "
             f"height='{height - top - bottom}' fill='#f7f7f7'/>"]
    base = [0.0] * len(frames)
    for key in ("anchor", "previous", "guessed"):
        values = [shares.get(n, {}).get(key, 0.0) for n in frames]
        upper = [b + v for b, v in zip(base, values)]
        points = [f"{x(i):.1f},{y(u):.1f}" for i, u in enumerate(upper)]
        points += [f"{x(i):.1f},{y(b):.1f}" for i, b in reversed(list(enumerate(base)))]
        parts.append(f"<polygon class='share {key}' points='{' '.join(points)}' fill='{COLOURS[key]}' fill-opacity='0.85'>"
                     f"<title>{key}</title></polygon>")
        base = upper
    if scores:
        low, high = 10.0, max(40.0, max(scores))
        line = " ".join(f"{x(i):.1f},{y((min(max(s, low), high) - low) / (high - low)):.1f}" for i, s in enumerate(scores))
        parts.append(f"<polyline class='psnr' points='{line}' fill='none' stroke='{COLOURS['psnr']}' stroke-width='1.5'/>")
        parts.append(f"<text x='{width - right + 4}' y='{top + 10}' font-size='11'>{high:.0f} dB</text>"
                     f"<text x='{width - right + 4}' y='{height - bottom}' font-size='11'>{low:.0f} dB</text>")
    for number in suggested + [k for k in keyframes if k in frames]:
        if number in frames:
            position = frames.index(number)
            colour = "#111" if number in suggested else "#2a7"
            parts.append(f"<line class='{'suggested' if number in suggested else 'keyframe'}' x1='{x(position):.1f}' "
                         f"x2='{x(position):.1f}' y1='{top}' y2='{height - bottom}' stroke='{colour}' stroke-width='2' "
                         f"stroke-dasharray='{'0' if number in suggested else '4 3'}'/>")
            parts.append(f"<text x='{x(position) + 3:.1f}' y='{top + 12}' font-size='11'>{number}</text>")
    parts.append(f"<text x='{left}' y='{height - 6}' font-size='11'>frame {frames[0] if frames else ''}</text>"
                 f"<text x='{width - right - 60}' y='{height - 6}' font-size='11'>frame {frames[-1] if frames else ''}</text>"
                 f"<text x='4' y='{top + 10}' font-size='11'>100%</text><text x='4' y='{height - bottom}' font-size='11'>0%</text>")
    legend = " ".join(f"<tspan fill='{COLOURS[k]}'>&#9632;</tspan> {k}" for k in ("anchor", "previous", "guessed"))
    parts.append(f"<text x='{left + 120}' y='{height - 6}' font-size='11'>{legend}"
                 + (" <tspan>&#8212;</tspan> PSNR" if scores else "") + "</text></svg>")
    return "".join(parts)


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
table.facts th { text-align: left; padding-right: 12px; font-weight: 600; }
pre.command { background: #f3f3f3; padding: 8px; white-space: pre-wrap; word-break: break-all; }
pre.rerun { border-left: 4px solid #111; }
p.suggest { font-size: 16px; }
section.shot { margin-top: 28px; border-top: 1px solid #ddd; }
div.strip { display: flex; flex-wrap: wrap; gap: 6px; }
figure.frame { margin: 0; padding: 3px; border: 2px solid transparent; display: flex; flex-direction: column; }
figure.frame img { width: 128px; display: block; margin-bottom: 2px; border: 1px solid #ccc; }
figure.suggested { border-color: #111; background: #ffe9a8; }
figure.keyframe { border-color: #2a7; }
figcaption { font-size: 12px; text-align: center; }
"""


def _document(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")
