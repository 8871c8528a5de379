"""What a new user meets first: every --help, transparent and unusual images, odd messages."""

from __future__ import annotations


import cv2
import numpy as np
import pytest
import typer

from tcvc_cli import media
from tcvc_cli.cli import app

from .conftest import ffmpeg


def _command_paths(command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, prefix + (name,))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_the_command_tree_is_walked():
    assert ("colorize",) in COMMANDS and ("models", "pull") in COMMANDS and len(COMMANDS) >= 10


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "tcvc")
def test_every_help_works(cli, path):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "MarkupError" not in result.output
    assert "Usage" in result.output


def test_hub_reference_syntax_is_shown_literally_in_help(cli):
    assert "[/FILE][@REV]" in cli("colorize", "--help").output.replace("\n", "").replace(" ", "")


def test_error_naming_a_path_with_brackets_is_printed_plainly(cli, tmp_path):
    missing = tmp_path / "ep [01] a[/b].mp4"
    result = cli("probe", missing)
    assert result.exit_code == 3
    assert "[/b].mp4" in result.stderr and "MarkupError" not in result.output


def _rgba_ink(size=(40, 32)) -> np.ndarray:
    """An ink layer as painting programs export it: RGB black everywhere, lines only in alpha."""
    width, height = size
    image = np.zeros((height, width, 4), np.uint8)
    cv2.rectangle(image, (8, 6), (30, 24), (0, 0, 0, 255), 2)
    return image


def test_transparent_line_art_reads_as_lines_on_white(tmp_path):
    path = tmp_path / "ink.png"
    cv2.imwrite(str(path), _rgba_ink())
    grey = media.read_image(path, cv2.IMREAD_GRAYSCALE)
    assert grey[0, 0] == 255 and grey[15, 20] == 255  # paper and the enclosed fill are white
    assert grey[6, 8] == 0  # the line is black
    assert media.read_image(path).shape == (32, 40, 3)


@pytest.mark.parametrize("kind", ["grey", "grey+alpha", "palette", "16-bit", "16-bit rgba"])
def test_unusual_pngs_and_tiffs_read_as_8bit_rgb(tmp_path, kind):
    from PIL import Image

    base = np.full((24, 24), 255, np.uint8)
    base[8:16, 8:16] = 0
    if kind == "grey":
        Image.fromarray(base, "L").save(tmp_path / "f.png")
    elif kind == "grey+alpha":
        Image.fromarray(np.dstack([np.zeros_like(base), 255 - base]), "LA").save(tmp_path / "f.png")
    elif kind == "palette":
        Image.fromarray(base, "L").convert("P").save(tmp_path / "f.png")
    elif kind == "16-bit":
        cv2.imwrite(str(tmp_path / "f.png"), base.astype(np.uint16) * 257)
        cv2.imwrite(str(tmp_path / "f.tif"), np.dstack([base.astype(np.uint16) * 257] * 3))
    else:
        alpha = (255 - base).astype(np.uint16) * 257
        cv2.imwrite(str(tmp_path / "f.png"), np.dstack([np.zeros_like(alpha)] * 3 + [alpha]))
    for path in tmp_path.iterdir():
        image = media.read_image(path)
        assert image.dtype == np.uint8 and image.shape == (24, 24, 3), path
        assert (image[0, 0] == 255).all() and (image[12, 12] == 0).all(), path


def test_transparent_line_art_is_coloured_not_black(cli, tiny_checkpoint, tmp_path):
    folder = tmp_path / "ink"
    folder.mkdir()
    for index in range(3):
        cv2.imwrite(str(folder / f"{index:06d}.png"), _rgba_ink((64, 64)))
    seed = np.full((64, 64, 3), (200, 120, 40), np.uint8)
    media.write_image(tmp_path / "seed.png", seed)
    result = cli("colorize", folder, "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    frame = media.read_image(media.list_frames(tmp_path / "out")[-1])
    assert frame.mean() > 60  # a black page would be near 0


def test_video_with_alpha_is_composited_over_white(tmp_path):
    folder = tmp_path / "ink"
    folder.mkdir()
    for index in range(4):
        cv2.imwrite(str(folder / f"{index:06d}.png"), _rgba_ink((64, 64)))
    video = tmp_path / "ink.mov"
    ffmpeg("-framerate", "12", "-i", str(folder / "%06d.png"), "-c:v", "qtrle", "-pix_fmt", "argb", str(video))
    info = media.probe(video)
    assert info.has_alpha
    with media.open_source(video, grey=True) as source:
        frames = list(source)
    assert len(frames) == 4
    assert frames[0][0, 0] == 255 and frames[0][6, 8] == 0


def _pages(folder, sizes):
    folder.mkdir()
    for index, (width, height) in enumerate(sizes):
        page = np.full((height, width), 255, np.uint8)
        cv2.rectangle(page, (width // 4, height // 4), (3 * width // 4, 3 * height // 4), 0, 2)
        cv2.imwrite(str(folder / f"page{index:03d}.png"), page)


@pytest.mark.parametrize("model", ["tiny_checkpoint", "motion_checkpoint"])
def test_pages_of_different_sizes_colour_independently_at_their_own_size(cli, model, request, tmp_path):
    sizes = [(64, 96), (120, 80), (50, 50)]
    _pages(tmp_path / "pages", sizes)
    result = cli("colorize", tmp_path / "pages", "--model", request.getfixturevalue(model), "--feedback", "off",
                 "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = [media.read_image(p) for p in media.list_frames(tmp_path / "out")]
    assert [image.shape[1::-1] for image in out] == sizes


def test_pages_of_different_sizes_in_the_feedback_loop_name_a_real_option(cli, tiny_checkpoint, tmp_path):
    _pages(tmp_path / "pages", [(64, 96), (120, 80)])
    result = cli("colorize", tmp_path / "pages", "--model", tiny_checkpoint, "-o", tmp_path / "out")
    assert result.exit_code == 3
    assert "--feedback off" in result.stderr
    help_text = cli("colorize", "--help").output
    assert "--feedback" in help_text
    assert not (tmp_path / "out").exists()


def test_json_output_is_one_document_when_fid_weights_are_absent(cli, tmp_path, monkeypatch, sample_folder):
    import json

    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path / "empty-hub"))

    def no_network(*args, **kwargs):
        raise AssertionError("evaluate tried the network")

    monkeypatch.setattr("socket.socket.connect", no_network)
    result = cli("evaluate", sample_folder, sample_folder, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert summary["fid_weights"] is None and "not in the cache" in result.stderr


def test_stdout_holds_only_the_result_even_when_a_library_prints(cli, sample_folder, monkeypatch):
    import json

    import tcvc_cli.evaluate as evaluation

    original = evaluation.evaluate

    def chatty(*args, **kwargs):
        print("Downloading: https://example.invalid/weights.pth")
        return original(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", chatty)
    result = cli("evaluate", sample_folder, sample_folder, "--json", "--inception-weights", "off")
    assert json.loads(result.stdout)["frames"] == 16
    assert "Downloading" in result.stderr


@pytest.mark.parametrize("args", [["probe", "{clip}", "-q", "--json"], ["-q", "probe", "{clip}", "--json"],
                                  ["--json", "probe", "{clip}"], ["probe", "{clip}", "--json", "-v"]])
def test_global_options_work_before_or_after_the_subcommand(cli, sample_video, args):
    import json

    result = cli(*[str(sample_video) if a == "{clip}" else a for a in args])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["frame_count"] == 16


def test_progress_without_a_terminal_is_a_plain_line(tmp_path, sample_video, monkeypatch):
    import subprocess
    import sys

    env = {**__import__("os").environ, "TCVC_PROGRESS_SECONDS": "0"}
    done = subprocess.run([sys.executable, "-m", "tcvc_cli", "lineart", str(sample_video), "-o", str(tmp_path / "l.mp4")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("lineart ")]
    assert lines and lines[-1].endswith("frames/s") and "16/16 frames (100%)" in lines[-1]
    assert "\x1b[" not in done.stderr  # no terminal control codes in a log file


def _png_with_srgb_after_the_image_data(path, width=16, height=12):
    """A valid PNG whose sRGB chunk comes after IDAT: libpng warns 'sRGB: out of place' on it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes([200, 120, 40] * width) for _ in range(height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"sRGB", b"\x00") + chunk(b"IEND", b""))


def test_libraries_print_no_warnings_of_their_own_on_ordinary_or_broken_pngs(tmp_path):
    import subprocess
    import sys

    pages = tmp_path / "pages"
    pages.mkdir()
    for index in range(3):
        _png_with_srgb_after_the_image_data(pages / f"{index:04d}.png")
    done = subprocess.run([sys.executable, "-m", "tcvc_cli", "lineart", str(pages), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    whole = (pages / "0001.png").read_bytes()
    (pages / "0001.png").write_bytes(whole[: len(whole) // 2])
    broken = subprocess.run([sys.executable, "-m", "tcvc_cli", "lineart", str(pages), "-o", str(tmp_path / "out2")],
                            capture_output=True, text=True)
    assert broken.returncode == 3
    for output in (done.stderr, broken.stderr):
        assert "libpng" not in output and "[ WARN" not in output and "grfmt" not in output, output
    assert "0001.png" in broken.stderr  # tcvc's own words name the bad frame
