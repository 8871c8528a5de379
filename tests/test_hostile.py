"""A hostile-input sweep: broken files and random, broken arguments across every command.

Every case must end with an exit code from the README's table (never 1, an internal error),
without a traceback, and without leaving a partial output behind.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tcvc_cli import media
from tcvc_cli.cli import app
from tcvc_cli.errors import EXIT_CODES, EXIT_INTERNAL


@pytest.fixture(scope="module")
def junk(tmp_path_factory, clip_frames):
    """Broken and odd inputs beside one good clip."""
    root = tmp_path_factory.mktemp("junk")
    good = root / "good.mp4"
    from tcvc_cli.sample import write_clip

    write_clip(good, clip_frames[1])
    files = {
        "good": good,
        "empty": root / "empty.mp4",
        "truncated": root / "truncated.mp4",
        "text": root / "notes.mp4",
        "noise_png": root / "noise.png",
        "missing": root / "missing.mp4",
        "brackets": root / "ep [01] a[/b].mp4",
        "no_frames": root / "nothing",
        "folder_of_junk": root / "junk_frames",
        "model_junk": root / "model.safetensors",
        "exr_junk": root / "exr_frames",
        "pattern_nothing": root / "nowhere.%04d.png",
        "gappy": root / "gappy" / "f.####.png",
    }
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    files["text"].write_text("not a video\n")
    files["noise_png"].write_bytes(np.random.default_rng(0).integers(0, 255, 300, dtype=np.uint8).tobytes())
    files["no_frames"].mkdir()
    files["folder_of_junk"].mkdir()
    (files["folder_of_junk"] / "000000.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    files["model_junk"].write_bytes(b"\x00" * 64)
    files["exr_junk"].mkdir()
    (files["exr_junk"] / "sh.1001.exr").write_bytes(b"v/1\x01" + b"\x00" * 40)
    (root / "gappy").mkdir()
    for number in (1001, 1002, 1005):
        media.write_image(root / "gappy" / f"f.{number}.png", clip_frames[1][0])
    seed = root / "seed.png"
    media.write_image(seed, clip_frames[0][0])
    files["seed"] = seed
    return root, files


COMMANDS = {
    "extract": ["extract", "{input}", "-o", "{out}"],
    "lineart": ["lineart", "{input}", "-o", "{out}/l.mp4"],
    "probe": ["probe", "{input}", "--json"],
    "colorize": ["colorize", "{input}", "--seed-frame", "{seed}", "-o", "{out}/c.mp4"],
    "colorize-model": ["colorize", "{input}", "--model", "{model}", "-o", "{out}/c"],
    "train": ["train", "{input}", "-o", "{out}/run", "--preset", "tiny", "--max-steps", "1", "--vgg-weights", "random"],
    "evaluate": ["evaluate", "{input}", "{input}", "--inception-weights", "off"],
    "models-verify": ["models", "verify", "{model}", "--offline"],
    "models-path": ["models", "path", "hf:nobody/nothing", "--offline"],
    "models-show": ["models", "show", "{model}"],
}
BROKEN = ["empty", "truncated", "text", "noise_png", "missing", "brackets", "no_frames", "folder_of_junk", "exr_junk",
          "pattern_nothing", "gappy"]
BAD_OPTIONS = [["--work-size", "abc"], ["--shard", "0/0"], ["--shard", "x"], ["--size", "x"], ["--every", "-3"],
               ["--anchor", "7"], ["--feedback", "sideways"], ["--upscale", "huge"], ["--crf", "99"], ["--start", "later"],
               ["--mode", "pencil"], ["--epochs", "-1"], ["--cut-threshold", "2"], ["--device", "tpu"], ["--no-such-option"],
               ["--segment-frames", "0"], ["--preset", "gigantic"], ["--codec", "mpeg1"], ["--bit-depth", "12"],
               ["--layers", "ink"], ["--start-number", "x"], ["--shots", "missing.otio"], ["--format", "gif"]]


def _check(result, out: Path, as_json: bool = False) -> None:
    assert result.exit_code in EXIT_CODES and result.exit_code not in (0, EXIT_INTERNAL), (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    leftovers = [p.name for p in out.iterdir()] if out.exists() else []
    assert not leftovers, leftovers  # nothing partial (hidden work folders included) is left behind
    if as_json and result.stdout.strip():  # a script piping to jq gets JSON or nothing
        json.loads(result.stdout)


def _invoke(template: list[str], files: dict, out: Path, input_name: str, extra: list[str]):
    values = {"input": str(files[input_name]), "seed": str(files["seed"]), "model": str(files["model_junk"]), "out": str(out)}
    args = [part.format(**values) for part in template] + extra
    return CliRunner().invoke(app, args, catch_exceptions=True)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("broken", BROKEN)
def test_broken_files_fail_cleanly(junk, tmp_path, command, broken, as_json):
    _, files = junk
    out = tmp_path / "out"
    out.mkdir()
    result = _invoke(COMMANDS[command], files, out, broken, ["--json"] if as_json else [])
    if (command, broken) == ("probe", "gappy"):  # probing is how a gap is found: it reports, not fails
        assert result.exit_code == 0 and '"missing_frames": "1003-1004"' in result.output
        return
    _check(result, out, as_json)


def _frames_with_a_bad_one(folder: Path, frames: list, bad: int, how: str) -> None:
    folder.mkdir()
    for index, frame in enumerate(frames):
        media.write_image(folder / f"{index:06d}.png", frame)
    target = folder / f"{bad:06d}.png"
    if how == "truncated":
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    else:
        target.write_text("not a picture\n")


@pytest.mark.parametrize("how", ["truncated", "text"])
@pytest.mark.parametrize("output", ["c.mp4", "frames"])
def test_a_bad_frame_part_way_leaves_no_partial_output_that_resume_cannot_use(junk, tmp_path, clip_frames, how, output):
    _, files = junk
    _frames_with_a_bad_one(tmp_path / "lines", clip_frames[1] * 2, 12, how)
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(app, ["colorize", str(tmp_path / "lines"), "--seed-frame", str(files["seed"]),
                                      "-o", str(out / output)], catch_exceptions=True)
    assert result.exit_code == 3, result.output
    assert list(out.iterdir()) == []  # no segment was complete: nothing to resume from, nothing left


def test_a_bad_frame_after_saved_segments_keeps_them_for_resume_and_says_where(junk, tmp_path, clip_frames):
    _, files = junk
    _frames_with_a_bad_one(tmp_path / "lines", clip_frames[1] * 2, 12, "truncated")
    out = tmp_path / "out"
    out.mkdir()
    args = ["colorize", str(tmp_path / "lines"), "--seed-frame", str(files["seed"]), "-o", str(out / "c.mp4"),
            "--segment-frames", "5"]
    result = CliRunner().invoke(app, args, catch_exceptions=True)
    assert result.exit_code == 3, result.output
    kept = [p for p in out.iterdir()]
    assert [p.name for p in kept] == [".c.mp4.tcvc-partial"] and str(kept[0]) in " ".join(result.stderr.split())
    assert "10 of 32 frames" in result.stderr and "--resume" in result.stderr
    media.write_image(tmp_path / "lines" / "000012.png", clip_frames[1][12])  # the frame is fixed: resume finishes
    resumed = CliRunner().invoke(app, [*args, "--resume", "--json"], catch_exceptions=True)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["results"][0]["resumed_from"] == 10
    assert [p.name for p in out.iterdir()] == ["c.mp4"]


def test_random_broken_arguments_fail_cleanly(junk, tmp_path):
    _, files = junk
    rng = random.Random(1234)
    for case in range(60):
        command = rng.choice(list(COMMANDS))
        extra = rng.choice(BAD_OPTIONS)
        input_name = rng.choice(BROKEN + ["good"])
        out = tmp_path / f"out{case}"
        out.mkdir()
        result = _invoke(COMMANDS[command], files, out, input_name, extra)
        try:
            _check(result, out)
        except AssertionError as failure:
            raise AssertionError(f"case {case}: {command} on {input_name} with {extra}: {failure}") from None


def test_ctrl_c_before_any_segment_is_saved_leaves_nothing_behind(junk, tmp_path, clip_frames, monkeypatch):
    import tcvc_cli.colorize as engine

    _, files = junk
    original, calls = engine.ResumableOutput.write, {"n": 0}

    def interrupted_write(self, frame, *context):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        original(self, frame, *context)

    monkeypatch.setattr(engine.ResumableOutput, "write", interrupted_write)
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(app, ["colorize", str(files["good"]), "--seed-frame", str(files["seed"]),
                                      "-o", str(out / "c.mp4")], catch_exceptions=True)
    assert result.exit_code == 130
    assert list(out.iterdir()) == []
    assert "nothing is left behind" in result.stderr
