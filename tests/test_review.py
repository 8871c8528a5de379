"""Leading the artist: the confidence layer, suggested keyframes and the folder to paint, the run
report, and the review page, loaded in a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tcvc_cli import media
from tcvc_cli.cli.colouring import rerun_command
from tcvc_cli.colorize.suggest import even_frames, predicted, suggest_frames
from tcvc_cli.errors import EXIT_INPUT, EXIT_USAGE
from tcvc_cli.motion.explain import Explainer
from tcvc_cli.sample import render_clip


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """A 24-frame numbered line-art sequence (1001-1024) of the sample, its true colours and seed."""
    root = tmp_path_factory.mktemp("review")
    colour, lines = render_clip(seed=3, frames=24, size=(160, 96))
    (root / "ink").mkdir()
    (root / "truth").mkdir()
    for index, line in enumerate(lines):
        media.write_image(root / "ink" / f"sh010.{1001 + index}.png", line)
        media.write_image(root / "truth" / f"sh010.{1001 + index}.png", colour[index])
    media.write_image(root / "seed.png", colour[0])
    return root, colour, lines


def colour_json(cli, root: Path, *args) -> dict:
    result = cli("colorize", root / "ink", "--seed-frame", root / "seed.png", "--no-scene-detect", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["results"][0]


def test_the_confidence_layer_is_white_on_artist_frames_and_matches_the_reported_shares(cli, shot, tmp_path):
    root, _, _ = shot
    run = colour_json(cli, root, "-o", tmp_path / "out", "--layers", "composed,confidence")
    matte_folder = Path(run["outputs"]["confidence"])
    mattes = [media.read_image(path, mode=0) for path in media.list_frames(matte_folder)]
    assert len(mattes) == 24 and mattes[0].ndim == 2
    assert mattes[0].min() == 255  # the seed frame is the artist's own
    assert matte_folder.name == "out_confidence"  # beside the output, named and numbered as the other layers
    assert [p.name for p in media.list_frames(matte_folder)][:2] == ["sh010.1001.png", "sh010.1002.png"]
    for matte, shares in zip(mattes, run["confidence"]):
        assert abs(float((matte >= 192).mean()) - shares["anchor"]) < 0.05
    assert any(m.min() < 128 for m in mattes[1:]), "some pixel is guessed somewhere in a moving shot"


def test_the_confidence_layer_round_trips_through_prores_4444_and_needs_no_alpha(cli, shot, tmp_path):
    root, _, _ = shot
    png = colour_json(cli, root, "-o", tmp_path / "png", "--layers", "confidence,composed")
    mov = colour_json(cli, root, "-o", tmp_path / "out.mov", "--codec", "prores4444", "--layers", "composed,confidence")
    assert Path(mov["outputs"]["confidence"]).name == "out_confidence.mov"
    with media.open_source(mov["outputs"]["confidence"], grey=True) as source:
        from_video = [frame for frame in source]
    from_png = [media.read_image(p, mode=0) for p in media.list_frames(Path(png["outputs"]["confidence"]))]
    assert len(from_video) == len(from_png) == 24
    for a, b in zip(from_video, from_png):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 3
    h264 = colour_json(cli, root, "-o", tmp_path / "plain.mp4", "--layers", "composed,confidence")
    assert Path(h264["outputs"]["confidence"]).is_file()  # grey: any codec holds it
    refused = cli("colorize", root / "ink", "--seed-frame", root / "seed.png", "-o", tmp_path / "p.mp4", "--layers", "paint")
    assert refused.exit_code == EXIT_USAGE and "alpha" in refused.stderr


def test_suggested_keyframes_are_named_per_shot_and_the_folder_to_paint_is_the_keyframes_input(cli, shot, tmp_path):
    root, colour, _ = shot
    to_paint = tmp_path / "to_paint"
    run = colour_json(cli, root, "-o", tmp_path / "first", "--suggest-keyframes", "2", "--to-paint", to_paint)
    (suggestion,) = run["suggested_keyframes"]
    frames = suggestion["frames"]
    assert suggestion["shot"] == "shot1" and len(set(frames)) == 2
    assert all(1002 <= n <= 1024 for n in frames), "in the input's own numbers, never the seed frame"
    assert suggestion["explained_after"] > suggestion["explained_now"]
    written = sorted(p.name for p in to_paint.iterdir())
    assert written == sorted(f"sh010.{n}.png" for n in frames)
    line = media.read_image(to_paint / written[0], mode=0)
    assert line.ndim == 2 and line.min() < 64 and line.max() > 200, "line art, ready to paint"
    report = json.loads(Path(run["report"]).read_text())
    assert report["rerun"][-3:] == ["--keyframes", str(to_paint), "--overwrite"]
    assert "--suggest-keyframes" not in report["rerun"] and "--to-paint" not in report["rerun"]
    for number in frames:  # the artist paints them: here, the true colours
        media.write_image(to_paint / f"sh010.{number}.png", colour[number - 1001])
    again = colour_json(cli, root, "-o", tmp_path / "second", "--keyframes", to_paint)
    assert sorted(again["keyframes_used"]) == sorted(frames)
    second = media.read_image(Path(again["output"]) / f"sh010.{frames[0]}.png")
    assert np.abs(second.astype(int) - colour[frames[0] - 1001].astype(int)).max() <= 1


def test_the_folder_to_paint_never_replaces_a_painted_frame(cli, shot, tmp_path):
    root, _, _ = shot
    to_paint = tmp_path / "to_paint"
    first = colour_json(cli, root, "-o", tmp_path / "a", "--suggest-keyframes", "1", "--to-paint", to_paint)
    number = first["suggested_keyframes"][0]["frames"][0]
    painted = np.full((96, 160, 3), (200, 30, 40), np.uint8)
    media.write_image(to_paint / f"sh010.{number}.png", painted)
    result = cli("colorize", root / "ink", "--seed-frame", root / "seed.png", "--no-scene-detect", "-o", tmp_path / "b",
                 "--suggest-keyframes", "1", "--to-paint", to_paint)
    assert result.exit_code == 0 and "kept as it is" in result.stderr
    assert (media.read_image(to_paint / f"sh010.{number}.png") == painted).all()


def test_to_paint_needs_a_count_and_one_input(cli, shot, tmp_path):
    root, _, _ = shot
    alone = cli("colorize", root / "ink", "--seed-frame", root / "seed.png", "-o", tmp_path / "x", "--to-paint", tmp_path / "p")
    assert alone.exit_code == EXIT_USAGE and "--suggest-keyframes" in alone.stderr


def test_rerun_command_swaps_the_suggestion_options_for_the_painted_keyframes():
    argv = ["colorize", "ep.mp4", "--seed-frame", "key.png", "--keyframes", "old/", "--suggest-keyframes=2",
            "--suggest-method", "least", "--to-paint", "paint/", "--report", "-o", "out.mp4"]
    assert rerun_command(argv, Path("paint")) == ["tcvc", "colorize", "ep.mp4", "--seed-frame", "key.png", "-o", "out.mp4",
                                                  "--keyframes", "paint", "--overwrite"]
    assert rerun_command(argv, None) is None


def test_greedy_suggestion_explains_more_than_even_spacing_where_motion_is_uneven():
    """The first half of the shot holds still and the second moves fast: painting there explains more."""
    lines = []
    for index in range(24):
        line = np.full((96, 160), 255, np.uint8)
        shift = 0 if index < 12 else (index - 11) * 7
        cv2_rectangle(line, (20 + shift, 30), (60 + shift, 70))
        cv2_rectangle(line, (100 - shift // 2, 20), (130 - shift // 2, 50))
        lines.append(line)
    explainer = Explainer(lines)
    chosen = suggest_frames(explainer, [0], 2)
    total = predicted(explainer, [0, *chosen], 24).sum()
    even = predicted(explainer, [0, *even_frames(24, [0], 2)], 24).sum()
    assert total >= even and all(frame >= 12 for frame in chosen), chosen


def cv2_rectangle(image: np.ndarray, top_left: tuple[int, int], bottom_right: tuple[int, int]) -> None:
    import cv2

    cv2.rectangle(image, top_left, bottom_right, 0, 2)


# --------------------------------------------------------------------------- the review page


def test_review_needs_the_run_report_and_a_page_name(cli, shot, tmp_path):
    root, _, _ = shot
    colour_json(cli, root, "-o", tmp_path / "out")
    missing = cli("review", tmp_path / "out", "-o", tmp_path / "r.html")
    assert missing.exit_code == EXIT_INPUT and "--report" in missing.stderr
    colour_json(cli, root, "-o", tmp_path / "out2", "--report")
    assert cli("review", tmp_path / "out2", "-o", tmp_path / "r.txt").exit_code == EXIT_USAGE


@pytest.fixture(scope="module")
def page(shot, tmp_path_factory):
    from typer.testing import CliRunner

    from tcvc_cli.cli import app

    root, _, _ = shot
    out = tmp_path_factory.mktemp("page")
    runner = CliRunner()
    done = runner.invoke(app, ["colorize", str(root / "ink"), "--seed-frame", str(root / "seed.png"), "--no-scene-detect",
                               "-o", str(out / "colour"), "--layers", "composed,confidence", "--suggest-keyframes", "2",
                               "--to-paint", str(out / "to_paint")], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    done = runner.invoke(app, ["review", str(out / "colour"), "--truth", str(root / "truth"), "-o", str(out / "review.html"),
                               "--json"], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    return out / "review.html", json.loads(done.stdout)


def test_the_review_page_is_self_contained(page):
    path, summary = page
    text = path.read_text()
    assert summary["frames"] == 24 and summary["psnr"] > 10
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", text), "nothing fetched from a network"
    assert "<script" not in text
    sources = re.findall(r"<img src='([^']+)'", text)
    assert sources and all(s.startswith("data:image/jpeg;base64,") for s in sources)
    links = re.findall(r"<a href='([^']+)'", text)
    assert links and all((path.parent / link).is_file() for link in links)
    assert text.count("class='frame suggested'") == 2 and "--keyframes" in text
    assert "<svg" in text and "class='psnr'" in text


def browser() -> str | None:
    for name in (os.environ.get("TCVC_BROWSER"), "chromium-headless-shell", "chromium", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


HARNESS = """<!DOCTYPE html><html><body><iframe id="page" src="{page}" width="1280" height="900"></iframe>
<pre id="report">waiting</pre><script>
document.getElementById("page").addEventListener("load", function () {{
  var doc = this.contentDocument;
  var images = Array.prototype.slice.call(doc.images);
  var broken = images.filter(function (img) {{ return !(img.complete && img.naturalWidth > 0); }}).length;
  var plots = doc.querySelectorAll("svg.plot");
  var drawn = 0;
  plots.forEach(function (svg) {{ if (svg.querySelectorAll("polygon").length && svg.getBBox().width > 0) drawn++; }});
  document.getElementById("report").textContent = JSON.stringify(
    {{images: images.length, broken: broken, plots: plots.length, drawn: drawn,
      suggested: doc.querySelectorAll("figure.suggested").length}});
}});
</script></body></html>"""


def test_the_review_page_loads_in_a_browser_with_every_image_and_plot(page, tmp_path):
    chromium = browser()
    if chromium is None:
        pytest.skip("no headless Chromium could be installed here (make test installs chromium-headless-shell)")
    path, _ = page
    harness = path.parent / "harness.html"
    harness.write_text(HARNESS.format(page=path.name))
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             "--virtual-time-budget=10000"]
    dom = subprocess.run([*flags, "--dump-dom", harness.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="report">(\{.*?\})</pre>', dom)
    assert found, dom[-2000:]
    report = json.loads(found.group(1).replace("&quot;", '"'))
    assert report["images"] >= 24 and report["broken"] == 0, report
    assert report["plots"] == 1 and report["drawn"] == 1 and report["suggested"] == 2, report
    shot = tmp_path / "review.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,1100", path.as_uri()], capture_output=True,
                   timeout=120)
    image = media.read_image(shot)
    assert image.shape[1] == 1280 and image.std() > 10, "a page was drawn"
