"""Studio hand-offs: numbered sequences, bit depth, mastering codecs, layers, shot lists, default model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tcvc_cli import media
from tcvc_cli import sequence as seq
from tcvc_cli.images import read_raw
from tcvc_cli.layers import over
from tcvc_cli.sample import render_clip

from .conftest import ffmpeg

SIZE = (96, 64)


def _rgba_lineart(line: np.ndarray) -> np.ndarray:
    """Black ink on transparent paper, as an ink department hands it over (BGRA for OpenCV)."""
    grey = line if line.ndim == 2 else line[:, :, 0]
    rgba = np.zeros(grey.shape + (4,), np.uint8)
    rgba[:, :, 3] = 255 - grey
    return rgba


@pytest.fixture(scope="module")
def shot010(tmp_path_factory):
    """shot010.1001.png ... shot010.1048.png with alpha, a cut at 1021, a seed and its colour frames."""
    root = tmp_path_factory.mktemp("shot010")
    colour, lines = render_clip(seed=3, frames=48, size=SIZE, cut_at=20)
    folder = root / "lineart"
    folder.mkdir()
    for number, line in zip(range(1001, 1049), lines):
        cv2.imwrite(str(folder / f"shot010.{number}.png"), _rgba_lineart(line))
    media.write_image(root / "seed.png", colour[0])
    return root, colour


def _read_all(folder: Path, pattern: str = "*.png") -> dict[str, np.ndarray]:
    return {p.name: read_raw(p)[0] for p in sorted(folder.glob(pattern))}


# --------------------------------------------------------------------------- sequences


def test_patterns_name_frames_as_nuke_and_ffmpeg_do(tmp_path):
    folder, naming = seq.parse_pattern(tmp_path / "shot010.%04d.png")
    assert folder == tmp_path and naming.name(1001) == "shot010.1001.png" and naming.hashes == "shot010.####.png"
    assert seq.parse_pattern("shot010.####.exr")[1] == naming.with_extension(".exr")
    assert naming.number_of("shot010.1001.png") == 1001
    assert naming.number_of("shot010.10000.png") == 10000  # grows past its padding
    assert naming.number_of("shot010.001.png") is None and naming.number_of("shot011.1001.png") is None
    assert naming.with_layer("paint").name(7) == "shot010_paint.0007.png"
    assert seq.number_ranges([1005, 1006, 1007, 1012]) == "1005-1007, 1012"


def test_a_sequence_with_alpha_keeps_its_frame_numbers_through_colorize(cli, shot010, tmp_path):
    root, _ = shot010
    keys = tmp_path / "keys"
    keys.mkdir()
    media.write_image(keys / "shot010.1030.png", np.full(SIZE[::-1] + (3,), 200, np.uint8))
    result = cli("colorize", root / "lineart" / "shot010.%04d.png", "--seed-frame", root / "seed.png",
                 "--keyframes", keys, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["results"][0]
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert names == [f"shot010.{n}.png" for n in range(1001, 1049)]
    assert (summary["first_frame"], summary["last_frame"]) == (1001, 1048)
    assert summary["keyframes_used"] == [1030]
    meta = json.loads((tmp_path / "out" / "frames.json").read_text())
    assert meta["pattern"] == "shot010.%04d.png" and meta["first_frame"] == 1001
    assert meta["frames"][29] == {"frame": 1030, "file": "shot010.1030.png", "source_frame": 1030}
    # Transparent paper was read as white paper and painted: the composed frames are opaque colour.
    frame = media.read_image(tmp_path / "out" / "shot010.1010.png")
    assert frame.mean() > 40 and frame.std() > 10
    np.testing.assert_array_equal(media.read_image(tmp_path / "out" / "shot010.1030.png"), 200)


def test_start_number_renumbers_and_the_hash_pattern_names_the_output(cli, shot010, tmp_path):
    root, _ = shot010
    result = cli("colorize", root / "lineart", "--seed-frame", root / "seed.png", "-o", tmp_path / "renders" / "sh010_color.####.png",
                 "--start-number", "1", "--json")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "renders").glob("*.png"))
    assert names[0] == "sh010_color.0001.png" and names[-1] == "sh010_color.0048.png" and len(names) == 48
    meta = json.loads((tmp_path / "renders" / "sh010_color.frames.json").read_text())
    assert meta["frames"][0] == {"frame": 1, "file": "sh010_color.0001.png", "source_frame": 1001}


def test_missing_frames_are_named_or_held(cli, shot010, tmp_path):
    root, _ = shot010
    gappy = tmp_path / "gappy"
    gappy.mkdir()
    for number in [*range(1001, 1005), *range(1008, 1011)]:
        (gappy / f"shot010.{number}.png").write_bytes((root / "lineart" / f"shot010.{number}.png").read_bytes())
    result = cli("colorize", gappy, "--seed-frame", root / "seed.png", "-o", tmp_path / "out")
    assert result.exit_code == 3, result.stderr
    assert "1005-1007" in result.stderr and "--fill-gaps" in result.stderr
    result = cli("colorize", gappy, "--seed-frame", root / "seed.png", "-o", tmp_path / "out", "--fill-gaps", "--json")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert names == [f"shot010.{n}.png" for n in range(1001, 1011)]
    meta = json.loads((tmp_path / "out" / "frames.json").read_text())
    held = [row["frame"] for row in meta["frames"] if row.get("held")]
    assert held == [1005, 1006, 1007]
    probed = json.loads(cli("probe", gappy, "--json").stdout)["results"][0]
    assert probed["missing_frames"] == "1005-1007" and probed["frame_count"] == 7


def test_keyframes_outside_the_sequence_are_refused_with_its_range(cli, shot010, tmp_path):
    root, _ = shot010
    keys = tmp_path / "keys"
    keys.mkdir()
    media.write_image(keys / "000012.png", np.zeros(SIZE[::-1] + (3,), np.uint8))
    result = cli("colorize", root / "lineart", "--keyframes", keys, "-o", tmp_path / "out")
    assert result.exit_code == 3 and "1001-1048" in result.stderr


def test_probe_reports_what_a_hand_off_check_needs(cli, shot010, tmp_path):
    root, _ = shot010
    probed = json.loads(cli("probe", root / "lineart" / "shot010.####.png", "--json").stdout)["results"][0]
    assert (probed["first_frame"], probed["last_frame"], probed["frame_count"]) == (1001, 1048, 48)
    assert probed["alpha"] is True and probed["bit_depth"] == 8 and probed["pixel_format"] == "rgba8"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=128x72:rate=24", "-frames:v", "12", "-timecode", "01:00:10:05",
           "-pix_fmt", "yuv422p10le", "-c:v", "prores_ks", str(tmp_path / "plate.mov"))
    video = json.loads(cli("probe", tmp_path / "plate.mov", "--json").stdout)["results"][0]
    assert video["timecode"] == "01:00:10:05" and video["bit_depth"] == 10 and video["alpha"] is False
    assert (video["first_frame"], video["last_frame"]) == (0, 11)
    # The timecode survives a pass through tcvc.
    assert cli("lineart", tmp_path / "plate.mov", "-o", tmp_path / "lines.mov").exit_code == 0
    assert media.probe(tmp_path / "lines.mov").timecode == "01:00:10:05"


def test_probe_names_the_damaged_frames_of_a_sequence_and_exits_3(cli, tmp_path):
    colour, _ = render_clip(seed=5, frames=8, size=SIZE)
    folder = tmp_path / "plates"
    folder.mkdir()
    for number, frame in zip(range(1001, 1009), colour):
        media.write_image(folder / f"plate.{number}.png", frame)
    assert cli("probe", folder / "plate.####.png").exit_code == 0
    whole = (folder / "plate.1004.png").read_bytes()
    (folder / "plate.1004.png").write_bytes(whole[: len(whole) // 2])  # a copy that stopped half-way
    (folder / "plate.1006.png").write_bytes(whole[:-4])  # only the checksum of the last chunk lost
    for extra in ([], ["--check"]):
        result = cli("probe", folder / "plate.####.png", *extra)
        assert result.exit_code == 3, result.output
        assert "1004" in result.stderr and "1006" in result.stderr and "1005" not in result.stderr
    # A frame whose structure is whole but whose data is not decodes wrongly: --check finds it.
    (folder / "plate.1004.png").write_bytes(whole)
    (folder / "plate.1006.png").write_bytes(whole)
    broken = bytearray(whole)
    start = broken.index(b"IDAT") + 8
    broken[start:start + 40] = bytes(40)
    (folder / "plate.1002.png").write_bytes(bytes(broken))
    assert cli("probe", folder / "plate.####.png").exit_code == 0
    checked = cli("probe", folder / "plate.####.png", "--check", "--json")
    assert checked.exit_code == 3 and "1002" in checked.stderr


# --------------------------------------------------------------------------- bit depth


def test_a_16_bit_tiff_sequence_stays_16_bit_through_extract_lineart_and_colorize(cli, tmp_path):
    colour, _ = render_clip(seed=5, frames=6, size=SIZE)
    plates = tmp_path / "plates"
    plates.mkdir()
    rng = np.random.default_rng(0)
    for number, frame in zip(range(1001, 1007), colour):
        deep = frame.astype(np.uint16) * 257 + rng.integers(0, 256, frame.shape).astype(np.uint16)  # low bits matter
        cv2.imwrite(str(plates / f"plate.{number}.tif"), cv2.cvtColor(deep, cv2.COLOR_RGB2BGR))
    assert cli("extract", plates / "plate.%04d.tif", "-o", tmp_path / "ext").exit_code == 0
    copied = _read_all(tmp_path / "ext" / "plate", "*.tif")
    originals = _read_all(plates, "*.tif")
    assert list(copied) == list(originals)
    for name in originals:
        assert copied[name].dtype == np.uint16
        np.testing.assert_array_equal(copied[name], originals[name])  # bit-exact, low bits included
    assert cli("lineart", tmp_path / "ext" / "plate", "-o", tmp_path / "lines").exit_code == 0
    lines = _read_all(tmp_path / "lines", "*.tif")
    assert sorted(lines) == [f"plate.{n}.tif" for n in range(1001, 1007)]
    assert all(image.dtype == np.uint16 for image in lines.values())
    media.write_image(tmp_path / "seed.png", colour[0])
    result = cli("colorize", tmp_path / "lines", "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "coloured")
    assert result.exit_code == 0, result.stderr
    coloured = _read_all(tmp_path / "coloured", "*.tif")
    assert len(coloured) == 6 and all(image.dtype == np.uint16 and image.ndim == 3 for image in coloured.values())
    assert json.loads((tmp_path / "coloured" / "frames.json").read_text())["bit_depth"] == 16
    assert cli("colorize", tmp_path / "lines", "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "eight",
               "--bit-depth", "8").exit_code == 0
    assert all(image.dtype == np.uint8 for image in _read_all(tmp_path / "eight", "*.tif").values())


def test_openexr_frames_round_trip_as_linear_half_floats(tmp_path):
    import OpenEXR

    rng = np.random.default_rng(1)
    image = rng.integers(0, 65536, (20, 30, 3)).astype(np.uint16)
    media.write_image(tmp_path / "f.exr", image)
    with OpenEXR.File(str(tmp_path / "f.exr")) as exr:
        stored = exr.channels()["RGB"].pixels
    assert stored.dtype == np.float16
    # Linear light: mid grey in sRGB (0.5) is stored near 0.214.
    grey = np.full((4, 4, 3), 32768, np.uint16)
    media.write_image(tmp_path / "grey.exr", grey)
    with OpenEXR.File(str(tmp_path / "grey.exr")) as exr:
        assert abs(float(exr.channels()["RGB"].pixels[0, 0, 0]) - 0.214) < 0.002
    back = media.read_image(tmp_path / "f.exr", bits=16)
    assert np.abs(back.astype(int) - image.astype(int)).max() <= 40  # half-float precision, about 11 bits


# --------------------------------------------------------------------------- codecs and layers


def test_prores_4444_keeps_alpha_and_layers_put_back_the_composed_frame(cli, shot010, tmp_path):
    root, _ = shot010
    result = cli("colorize", root / "lineart", "--seed-frame", root / "seed.png", "-o", tmp_path / "out.mov",
                 "--codec", "prores4444", "--layers", "composed,paint,lines", "--json")
    assert result.exit_code == 0, result.stderr
    outputs = json.loads(result.stdout)["results"][0]["outputs"]
    assert outputs == {"composed": str(tmp_path / "out.mov"), "paint": str(tmp_path / "out_paint.mov"),
                       "lines": str(tmp_path / "out_lines.mov")}
    probed = json.loads(cli("probe", tmp_path / "out_paint.mov", "--json").stdout)["results"][0]
    assert probed["alpha"] is True and probed["codec"] == "prores" and probed["frame_count"] == 48
    header = media._read_header(tmp_path / "out_paint.mov").video[0].group(3)
    assert "yuva444p" in header  # ffmpeg's own word
    with media.open_source(tmp_path / "out_paint.mov", keep_alpha=True) as source:
        alpha = media.split_alpha(next(iter(source)), grey=False)[1]
    assert alpha is not None and alpha.min() < 10 and alpha.max() > 245  # holes on the lines, opaque fills


def test_paint_under_lines_with_alpha_over_gives_the_composed_frame(cli, shot010, tmp_path):
    root, _ = shot010
    # Soft, anti-aliased line art: partly transparent strokes are where the layers must be exact.
    soft = tmp_path / "soft"
    soft.mkdir()
    for file in sorted((root / "lineart").glob("*.png"))[:8]:
        grey = 255 - cv2.imread(str(file), cv2.IMREAD_UNCHANGED)[:, :, 3]
        media.write_image(soft / file.name, cv2.GaussianBlur(grey, (0, 0), 0.8))
    result = cli("colorize", soft, "--seed-frame", root / "seed.png", "-o", tmp_path / "out",
                 "--layers", "composed,paint,lines")
    assert result.exit_code == 0, result.stderr
    for number in (1001, 1004, 1008):
        name = f"shot010.{number}.png"
        composed = media.read_image(tmp_path / "out" / name).astype(np.float32) / 255
        paint = read_raw(tmp_path / "out_paint" / name)[0]
        lines = read_raw(tmp_path / "out_lines" / name)[0]
        assert paint.shape[2] == 4 and lines.shape[2] == 4
        paint = cv2.cvtColor(paint, cv2.COLOR_BGRA2RGBA).astype(np.float32) / 255
        lines = cv2.cvtColor(lines, cv2.COLOR_BGRA2RGBA).astype(np.float32) / 255
        rebuilt = over(lines, over(paint, np.ones_like(composed)))
        assert np.abs(rebuilt - composed).max() * 255 <= 1.0
        grey = media.read_image(soft / name, cv2.IMREAD_GRAYSCALE)
        assert np.all(paint[grey == 0][:, 3] == 0)  # no paint on solid lines
        assert paint[grey == 255][:, 3].mean() > 0.9  # paint everywhere off the lines
        np.testing.assert_allclose(lines[:, :, 3], np.where(grey >= 254, 0, 1 - grey / 255), atol=1 / 255)


@pytest.mark.parametrize("codec, container, pixel_format, size", [
    ("h264", ".mp4", "yuv420p", (98, 64)),
    ("h265", ".mkv", "yuv420p", (98, 64)),
    ("prores", ".mov", "yuv422p10le", (98, 63)),
    ("ffv1", ".mkv", None, (97, 63)),
])
def test_each_codec_keeps_frame_count_and_rate_and_handles_odd_sizes(cli, tmp_path, codec, container, pixel_format, size):
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=97x63:rate=24000/1001", "-frames:v", "10", "-c:v", "ffv1", str(tmp_path / "src.mkv"))
    output = tmp_path / f"out{container}"
    result = cli("lineart", tmp_path / "src.mkv", "-o", output, "--codec", codec)
    assert result.exit_code == 0, result.stderr
    info = media.probe(output)
    assert info.frame_count == 10 and info.fps.numerator == 24000 and info.fps.denominator == 1001
    assert (info.width, info.height) == size
    if pixel_format:
        assert info.pixel_format == pixel_format


def test_codecs_refuse_what_they_cannot_hold_and_default_names_fit_the_codec(cli, cut_clip, tmp_path):
    video, colour, _ = cut_clip
    media.write_image(tmp_path / "seed.png", colour[0])
    wrong_box = cli("colorize", video, "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "out.mp4", "--codec", "prores")
    assert wrong_box.exit_code == 2 and ".mov" in wrong_box.stderr
    too_small = cli("lineart", video, "-o", tmp_path / "x.mov", "--codec", "dnxhr")
    assert too_small.exit_code == 2 and "256x120" in too_small.stderr
    no_alpha = cli("colorize", video, "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "o.mp4", "--layers", "paint")
    assert no_alpha.exit_code == 2 and "prores4444" in no_alpha.stderr
    named = cli("colorize", video, "--seed-frame", tmp_path / "seed.png", "--output-dir", tmp_path / "dir", "--codec", "prores",
                "--json")
    assert named.exit_code == 0, named.stderr
    assert json.loads(named.stdout)["results"][0]["output"].endswith("cut lineart_color.mov")


# --------------------------------------------------------------------------- shots from editorial


def _timeline(path: Path, clips: list[tuple[str, int]], rate: float = 24.0) -> Path:
    import opentimelineio as otio

    timeline = otio.schema.Timeline(name="ep01")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for name, frames in clips:
        span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(frames, rate))
        track.append(otio.schema.Clip(name=name, source_range=span))
    otio.adapters.write_to_file(timeline, str(path))
    return path


def test_an_otio_timeline_with_three_clips_sets_exactly_its_two_cuts(cli, cut_clip, tmp_path):
    video, colour, _ = cut_clip  # the clip has a visible cut at frame 12, which the timeline overrules
    timeline = _timeline(tmp_path / "ep01.otio", [("sh010", 5), ("sh020", 10), ("sh030", 9)])
    media.write_image(tmp_path / "seed.png", colour[0])
    result = cli("colorize", video, "--seed-frame", tmp_path / "seed.png", "--shots", timeline, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["results"][0]
    assert summary["cuts"] == [5, 15]
    assert [s["name"] for s in summary["shot_ranges"]] == ["sh010", "sh020", "sh030"]
    assert [(s["first_frame"], s["last_frame"]) for s in summary["shot_ranges"]] == [(0, 4), (5, 14), (15, 23)]
    assert summary["shots_from"] == str(timeline)


def test_a_csv_shot_list_and_keyframe_folders_per_shot(cli, shot010, tmp_path):
    root, colour = shot010
    shots = tmp_path / "shots.csv"
    shots.write_text("first_frame,name\n1001,sh010\n1021,sh020\n", "utf-8")
    keys = tmp_path / "keys"
    (keys / "sh020").mkdir(parents=True)
    media.write_image(keys / "sh020" / "key.png", colour[20])  # no number: the shot's first frame
    result = cli("colorize", root / "lineart", "--seed-frame", root / "seed.png", "--shots", shots, "--keyframes", keys,
                 "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["results"][0]
    assert summary["cuts"] == [1021] and summary["keyframes_used"] == [1021]
    assert summary["shot_ranges"][1] == {"name": "sh020", "first_frame": 1021, "last_frame": 1048}
    (keys / "sh999").mkdir()
    wrong = cli("colorize", root / "lineart", "--shots", shots, "--keyframes", keys, "-o", tmp_path / "again")
    assert wrong.exit_code == 3 and "sh999" in wrong.stderr


# --------------------------------------------------------------------------- default model


def test_tcvc_model_names_the_default_model_and_json_says_which(cli, cut_clip, tiny_checkpoint, tmp_path, monkeypatch):
    video, _, _ = cut_clip
    monkeypatch.setenv("TCVC_MODEL", str(tiny_checkpoint))
    result = cli("colorize", video, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    model = json.loads(result.stdout)["results"][0]["model"]
    assert model["from"] == "TCVC_MODEL" and model["path"] == str(tiny_checkpoint) and len(model["sha256"]) == 64
    explicit = cli("colorize", video, "-o", tmp_path / "free", "--model", "none", "--seed-frame", tmp_path / "out" / "000000.png",
                   "--json")
    assert explicit.exit_code == 0, explicit.stderr
    assert json.loads(explicit.stdout)["results"][0]["colouring"] == "model-free"


class _Mirror:
    """A hub mirror on localhost that serves one model file the way the hub's resolve URLs do."""

    def __init__(self, repo: str, filename: str, payload: bytes):
        import hashlib
        import http.server
        import threading

        digest = hashlib.sha256(payload).hexdigest()
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, body: bool) -> None:
                mirror.requests.append(self.path)
                if not self.path.startswith(f"/{repo}/resolve/main/{filename}"):
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", "0" * 40)
                self.send_header("ETag", f'"{digest}"')
                self.send_header("X-Linked-Etag", f'"{digest}"')
                self.send_header("X-Linked-Size", str(len(payload)))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if body:
                    self.wfile.write(payload)

            def do_HEAD(self):  # noqa: N802 - the http.server interface
                self._answer(False)

            def do_GET(self):  # noqa: N802
                self._answer(True)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_hf_endpoint_points_downloads_at_a_mirror(cut_clip, tiny_checkpoint, tmp_path):
    import os
    import subprocess
    import sys

    video, _, _ = cut_clip
    mirror = _Mirror("studio/show-model", "model.safetensors", tiny_checkpoint.read_bytes())
    try:
        env = {**os.environ, "HF_ENDPOINT": mirror.url, "TCVC_CACHE_DIR": str(tmp_path / "cache"),
               "TCVC_MODEL": "hf:studio/show-model", "HF_HUB_DISABLE_TELEMETRY": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        done = subprocess.run([sys.executable, "-m", "tcvc_cli", "colorize", str(video), "-o", str(tmp_path / "out"), "--json"],
                              capture_output=True, text=True, env=env, timeout=300)
    finally:
        mirror.close()
    assert done.returncode == 0, done.stderr
    assert any(path.startswith("/studio/show-model/resolve/main/model.safetensors") for path in mirror.requests)
    model = json.loads(done.stdout)["results"][0]["model"]
    assert model["reference"] == "hf:studio/show-model" and model["from"] == "TCVC_MODEL"
    assert Path(model["path"]).is_relative_to(tmp_path / "cache")

def test_a_folder_of_two_sequences_asks_which_one(shot010, tmp_path):
    root, _ = shot010
    both = tmp_path / "both"
    both.mkdir()
    for number in (1001, 1002):
        for name in ("shot010", "shot020"):
            (both / f"{name}.{number}.png").write_bytes((root / "lineart" / f"shot010.{number}.png").read_bytes())
    with pytest.raises(Exception, match="several numbered sequences"):
        media.open_source(both)
    with media.open_source(both / "shot020.####.png") as source:
        assert source.info.numbers == [1001, 1002] and len(list(source)) == 2


def test_keep_alpha_carries_a_cels_transparent_background(cli, tmp_path):
    colour, lines = render_clip(seed=2, frames=4, size=SIZE)
    cels = tmp_path / "cels"
    cels.mkdir()
    outside = np.zeros(SIZE[::-1], bool)
    outside[:, :20] = True  # the left strip lies outside the character
    for number, line in zip(range(1, 5), lines):
        grey = line if line.ndim == 2 else line[:, :, 0]
        bgra = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA)
        bgra[:, :, 3] = np.where(outside, 0, 255)
        cv2.imwrite(str(cels / f"cel.{number:04d}.png"), bgra)
    media.write_image(tmp_path / "seed.png", colour[0])
    result = cli("colorize", cels, "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "out", "--keep-alpha")
    assert result.exit_code == 0, result.stderr
    frame = read_raw(tmp_path / "out" / "cel.0002.png")[0]
    assert frame.shape[2] == 4
    np.testing.assert_array_equal(frame[:, :, 3], np.where(outside, 0, 255))
    plain = cli("colorize", cels, "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "opaque")
    assert plain.exit_code == 0 and read_raw(tmp_path / "opaque" / "cel.0002.png")[0].shape[2] == 3


def test_a_cmx_3600_edl_sets_the_same_cuts(cli, cut_clip, tmp_path):
    video, colour, _ = cut_clip
    edl = tmp_path / "ep01.edl"
    edl.write_text("TITLE: ep01\nFCM: NON-DROP FRAME\n\n"
                   "001  SH010 V     C        01:00:00:00 01:00:00:05 00:00:00:00 00:00:00:05\n* FROM CLIP NAME: sh010\n"
                   "002  SH020 V     C        01:00:00:00 01:00:00:10 00:00:00:05 00:00:00:15\n* FROM CLIP NAME: sh020\n"
                   "003  SH030 V     C        01:00:00:00 01:00:00:09 00:00:00:15 00:00:01:00\n* FROM CLIP NAME: sh030\n",
                   "utf-8")
    media.write_image(tmp_path / "seed.png", colour[0])
    result = cli("colorize", video, "--seed-frame", tmp_path / "seed.png", "--shots", edl, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["cuts"] == [5, 15]


def test_tga_and_dpx_sequences_are_read_through_ffmpeg(cli, tmp_path):
    for extension, pixel_format, depth in (("tga", "bgr24", 8), ("dpx", "rgb48le", 16)):
        folder = tmp_path / extension
        folder.mkdir()
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=24", "-frames:v", "3", "-pix_fmt", pixel_format,
               "-start_number", "1001", str(folder / f"f.%04d.{extension}"))
        probed = json.loads(cli("probe", folder, "--json").stdout)["results"][0]
        assert (probed["first_frame"], probed["last_frame"], probed["bit_depth"]) == (1001, 1003, depth)
        with media.open_source(folder, bits=16) as source:
            frames = list(source)
        assert len(frames) == 3 and frames[0].shape == (48, 64, 3) and frames[0].std() > 1000


def test_the_soundtrack_follows_whole_sequences_back_to_their_video_and_never_a_part(cli, cut_clip, tmp_path):
    video, colour, _ = cut_clip
    media.write_image(tmp_path / "seed.png", colour[0])
    for name, extra, expect_audio in (("whole", [], True), ("part", ["--end", "6"], False)):
        assert cli("extract", video, "-o", tmp_path / name, *extra).exit_code == 0
        frames = tmp_path / name / video.stem
        assert cli("lineart", frames, "-o", tmp_path / f"{name}_lines").exit_code == 0
        result = cli("colorize", tmp_path / f"{name}_lines", "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / f"{name}.mp4")
        assert result.exit_code == 0, result.stderr
        assert media.probe(tmp_path / f"{name}.mp4").has_audio is expect_audio


def test_extract_ranges_are_frame_numbers_of_the_sequence(cli, shot010, tmp_path):
    root, _ = shot010
    result = cli("extract", root / "lineart" / "shot010.%04d.png", "-o", tmp_path / "out", "--start", "1010", "--end", "1013",
                 "--json")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "shot010").glob("*.png")) == [f"shot010.{n}.png" for n in (1010, 1011, 1012)]
    early = cli("extract", root / "lineart", "-o", tmp_path / "early", "--start", "12")
    assert early.exit_code == 2 and "1001" in early.stderr


def test_extract_keeps_transparency_as_stored(cli, shot010, tmp_path):
    root, _ = shot010
    assert cli("extract", root / "lineart", "-o", tmp_path / "out").exit_code == 0
    for name in ("shot010.1001.png", "shot010.1030.png"):
        original = read_raw(root / "lineart" / name)[0]
        copied = read_raw(tmp_path / "out" / "lineart" / name)[0]
        np.testing.assert_array_equal(copied, original)  # straight colour and alpha, untouched


@pytest.mark.parametrize("command", ["colorize", "lineart", "extract"])
def test_an_output_named_like_one_image_is_refused_with_a_pattern_suggested(cli, tmp_path, command):
    colour, lines = render_clip(seed=5, frames=4, size=SIZE)
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, line in enumerate(lines):
        media.write_image(frames / f"{index:06d}.png", line)
    media.write_image(tmp_path / "seed.png", colour[0])
    extra = ["--seed-frame", str(tmp_path / "seed.png")] if command == "colorize" else []
    result = cli(command, frames, "-o", tmp_path / "out.png", *extra)
    assert result.exit_code == 2, result.output
    assert "out.%04d.png" in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_extract_to_a_pattern_names_the_frames_by_it(cli, tmp_path):
    colour, _ = render_clip(seed=5, frames=4, size=SIZE)
    plates = tmp_path / "plates"
    plates.mkdir()
    for number, frame in zip(range(1001, 1005), colour):
        media.write_image(plates / f"plate.{number}.png", frame)
    result = cli("extract", plates / "plate.####.png", "-o", tmp_path / "ink" / "sh010.%04d.png")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "ink").glob("*.png")) == [f"sh010.{n}.png" for n in range(1001, 1005)]
    assert not (tmp_path / "ink" / "sh010.%04d.png").exists()


def test_an_output_that_cannot_be_made_is_named_as_the_user_gave_it(cli, tmp_path):
    colour, lines = render_clip(seed=5, frames=4, size=SIZE)
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, line in enumerate(lines):
        media.write_image(frames / f"{index:06d}.png", line)
    media.write_image(tmp_path / "seed.png", colour[0])
    result = cli("colorize", frames, "--seed-frame", tmp_path / "seed.png", "-o", "/proc/out.mp4")
    assert result.exit_code == 4
    assert "/proc/out.mp4" in result.stderr and "tcvc-partial" not in result.stderr


def test_the_text_summary_lists_every_layer_written(cli, tmp_path):
    colour, lines = render_clip(seed=5, frames=4, size=SIZE)
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, line in enumerate(lines):
        media.write_image(frames / f"{index:06d}.png", line)
    media.write_image(tmp_path / "seed.png", colour[0])
    result = cli("colorize", frames, "--seed-frame", tmp_path / "seed.png", "-o", tmp_path / "out",
                 "--layers", "composed,paint,lines")
    assert result.exit_code == 0, result.output
    for name in ("out", "out_paint", "out_lines"):
        assert str(tmp_path / name) in result.stdout
        assert (tmp_path / name).is_dir()
