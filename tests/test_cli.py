"""The CLI through typer's CliRunner: results on stdout, errors with codes on stderr."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tcvc_cli import __version__, media
from tcvc_cli.errors import EXIT_INPUT, EXIT_OUTPUT
from tcvc_cli.sample import render_clip, write_clip

from .conftest import NTSC_FILM


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_extract_writes_numbered_frames_and_frames_json(cli, sample_video, tmp_path):
    result = cli("extract", sample_video, "-o", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    folder = tmp_path / sample_video.stem
    assert summary["results"][0]["frames"] == 16
    assert sorted(p.name for p in folder.glob("*.png"))[:2] == ["000000.png", "000001.png"]
    meta = json.loads((folder / "frames.json").read_text())
    assert meta["count"] == 16 and meta["fps"] == "24000/1001" and meta["width"] == 64
    assert meta["source"] == str(sample_video.resolve())


def test_extract_start_end_every_and_size(cli, sample_video, tmp_path):
    result = cli("extract", sample_video, "-o", tmp_path, "--start", "4", "--end", "12", "--every", "2", "--size", "32x16")
    assert result.exit_code == 0, result.stderr
    frames = media.list_frames(tmp_path / sample_video.stem)
    assert len(frames) == 4
    assert media.read_image(frames[0]).shape == (16, 32, 3)


def test_lineart_video_keeps_fps_count_and_audio(cli, sample_video, tmp_path):
    out = tmp_path / "lines.mp4"
    result = cli("lineart", sample_video, "-o", out)
    assert result.exit_code == 0, result.stderr
    info = media.probe(out)
    assert (info.frame_count, info.fps, info.audio_codecs) == (16, NTSC_FILM, ("aac",))


def test_lineart_folder_gives_identical_one_channel_folders(cli, sample_folder, tmp_path):
    for name in ("a", "b"):
        assert cli("lineart", sample_folder, "-o", tmp_path / name).exit_code == 0
    first, second = media.list_frames(tmp_path / "a"), media.list_frames(tmp_path / "b")
    assert len(first) == 16
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    import cv2

    assert cv2.imread(str(first[0]), cv2.IMREAD_UNCHANGED).ndim == 2


def test_lineart_of_several_inputs_goes_into_a_folder(cli, sample_video, sample_folder, tmp_path):
    result = cli("lineart", sample_video, sample_folder, "-o", tmp_path / "out", "--mode", "greyscale")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / sample_video.name).is_file()
    assert (tmp_path / "out" / sample_folder.name).is_dir()


def test_quiet_json_output_is_pure_json(cli, sample_folder, tmp_path):
    result = cli("--quiet", "lineart", sample_folder, "-o", tmp_path / "x", "--json")
    assert json.loads(result.stdout)["failed"] == 0


# ---------------------------------------------------------------- bad inputs


def _assert_error(result, code: int, words: str):
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file(cli, tmp_path):
    _assert_error(cli("extract", tmp_path / "nope.mp4", "-o", tmp_path / "o"), EXIT_INPUT, "no such file")


def test_folder_without_frames(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    _assert_error(cli("lineart", tmp_path / "empty", "-o", tmp_path / "o"), EXIT_INPUT, "holds no frames")


def test_text_file_named_mp4(cli, tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video\n")
    _assert_error(cli("extract", fake, "-o", tmp_path / "o"), EXIT_INPUT, "not a readable video")


def test_zero_byte_file(cli, tmp_path):
    (tmp_path / "zero.mp4").touch()
    _assert_error(cli("lineart", tmp_path / "zero.mp4", "-o", tmp_path / "o.mp4"), EXIT_INPUT, "empty")


def test_truncated_video(cli, tmp_path):
    colour, _ = render_clip(seed=3, frames=40, size=(96, 64))
    whole = write_clip(tmp_path / "whole.mp4", colour, lossless=False)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    _assert_error(cli("extract", cut, "-o", tmp_path / "o"), EXIT_INPUT, "truncated")
    assert not (tmp_path / "o" / "cut").exists()


def test_unwritable_output_folder(cli, sample_video, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    _assert_error(cli("extract", sample_video, "-o", blocker / "sub"), EXIT_OUTPUT, "cannot create the output folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_output_folder(cli, sample_video, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    _assert_error(cli("extract", sample_video, "-o", locked), EXIT_OUTPUT, "not writable")


def test_output_equal_to_input(cli, sample_video, sample_folder):
    before = sample_video.read_bytes()
    _assert_error(cli("lineart", sample_video, "-o", sample_video, "--overwrite"), EXIT_OUTPUT, "overwrite or sit inside the input")
    _assert_error(cli("lineart", sample_folder, "-o", sample_folder, "--overwrite"), EXIT_OUTPUT, "overwrite or sit inside the input")
    assert sample_video.read_bytes() == before


def test_start_past_the_end(cli, sample_video, tmp_path):
    _assert_error(cli("extract", sample_video, "-o", tmp_path, "--start", "99"), EXIT_INPUT, "past the end")
    _assert_error(cli("extract", sample_video, "-o", tmp_path, "--start", "30s"), EXIT_INPUT, "past the end")


def test_existing_output_needs_overwrite(cli, sample_folder, tmp_path):
    assert cli("lineart", sample_folder, "-o", tmp_path / "x").exit_code == 0
    _assert_error(cli("lineart", sample_folder, "-o", tmp_path / "x"), EXIT_OUTPUT, "already exists")
    assert cli("lineart", sample_folder, "-o", tmp_path / "x", "--overwrite").exit_code == 0


def test_batch_continues_past_a_failed_input_and_names_it(cli, sample_video, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    result = cli("extract", bad, sample_video, "-o", tmp_path / "out")
    assert result.exit_code == EXIT_INPUT
    assert (tmp_path / "out" / sample_video.stem / "frames.json").is_file()
    assert "1 input(s) failed" in result.stderr and "bad.mp4" in result.stderr


def test_internal_errors_have_no_traceback_without_debug(cli, tmp_path, monkeypatch):
    import tcvc_cli.media.reading as reading

    monkeypatch.setattr(reading, "probe", lambda path: 1 / 0)
    fake = tmp_path / "x.mp4"
    fake.write_bytes(b"x" * 10)
    result = cli("extract", fake, "-o", tmp_path / "o")
    assert result.exit_code == 1
    assert "internal error" in result.stderr and "TCVC_DEBUG" in result.stderr


def test_paths_with_spaces_and_non_ascii_names(cli, tmp_path, clip_frames):
    folder = write_clip(tmp_path / "épisode 01 カラー", clip_frames[0][:4])
    result = cli("lineart", folder, "-o", tmp_path / "線画 out.mp4")
    assert result.exit_code == 0, result.stderr
    assert media.probe(tmp_path / "線画 out.mp4").frame_count == 4
    np.testing.assert_array_equal(media.read_image(media.list_frames(folder)[0]), clip_frames[0][0])


def _commands():
    import typer.main

    from tcvc_cli.cli import app

    root = typer.main.get_command(app)
    found = []

    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            found.append((" ".join(path), command))

    walk(root, [])
    return found


@pytest.mark.parametrize("name,command", _commands(), ids=[name for name, _ in _commands()])
def test_every_option_has_help_a_default_and_a_readable_name(cli, name, command):
    text = cli(*name.split(), "--help").output
    for placeholder in ("<str>", "<path>", "<int>", "<float>", "<list", "{", "range>"):
        assert placeholder not in text, (name, placeholder)
    for param in command.params:
        if param.param_type_name == "argument":
            assert param.help and (param.metavar or "").split(" ")[0].rstrip(".").isupper(), (name, param.name)
            continue
        if param.name == "help":
            continue
        assert param.help, (name, param.name)
        flag = getattr(param, "is_flag", False)
        if param.default is None and not flag and not param.required:
            assert "default" in param.help.lower(), (name, param.name)  # what happens when it is not given


def test_long_help_comes_in_panels(cli):
    colorize = cli("colorize", "--help").output
    for panel in ("Coloured frames and keyframes:", "Model and motion:", "Shots:", "Output:", "Video encoding:",
                  "Farm and scripting:"):
        assert panel in colorize
    train = cli("train", "--help").output
    for panel in ("Run folder and checkpoints:", "Model:", "Line art:", "Training schedule:", "Losses:", "Fine-tuning:"):
        assert panel in train
    assert "--upscale [bicubic|flat]" in colorize or "--upscale <bicubic|flat>" in colorize
    assert "LINEART..." in colorize.splitlines()[0]


def test_the_top_help_names_the_global_options_and_minus_capital_v_prints_the_version(cli):
    top = cli("--help").output
    assert "--json" in top and "-q" in top and "-V" in top
    assert cli("-V").output.strip() == f"tcvc {__version__}"
    assert "show" in cli("models", "--help").output


def test_the_training_progress_line_fits_an_80_column_terminal_and_names_the_preparation(monkeypatch):
    import io
    import re

    from rich.console import Console

    import tcvc_cli.cli.output as command_line

    screen = io.StringIO()
    monkeypatch.setattr(command_line, "err_console", Console(file=screen, width=80, force_terminal=True, color_system=None))
    with command_line.progress_bar("train", unit="steps") as update:
        update(0, None, note="reading the training frames into the cache")
        update.bar.refresh()
        update(120, 4000, note="G 1.234  D 0.567  L1 0.0123  12.3 samples/s")
    lines = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in re.split(r"[\r\n]", screen.getvalue())]
    lines = [line for line in lines if line.strip()]
    assert all(len(line) <= 80 for line in lines)
    assert any("reading the training" in line for line in lines)
    last = lines[-1]
    assert "120/4000" in last and re.search(r"\d:\d\d:\d\d ETA -?[\d:-]+:[\d-]{2}", last), last  # time and ETA whole


def test_colorize_gives_one_processing_speed_and_names_the_frame_rate(cli, tmp_path, clip_frames):
    import re

    colour, lines = clip_frames
    video = write_clip(tmp_path / "lines.mp4", lines, NTSC_FILM)
    media.write_image(tmp_path / "seed.png", colour[0])
    text = cli("colorize", video, "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "a.mp4")
    assert text.exit_code == 0, text.output
    shown = re.search(r"processed at ([\d.]+) frames/s", text.stdout).group(1)
    assert "24000/1001 fps" in text.stdout
    logged = re.findall(r"([\d.]+) frames/s", text.stderr)
    assert logged and logged[-1] == shown  # the closing progress line says the same figure
    summary = json.loads(cli("colorize", video, "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "b.mp4",
                             "--json").stdout)["results"][0]
    assert summary["frame_rate"] == "24000/1001" and summary["processing_fps"] > 0 and "fps" not in summary
