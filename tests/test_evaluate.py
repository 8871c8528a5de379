"""tcvc evaluate: frame metrics, FID, temporal metrics, reports and mismatched inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tcvc_cli import media
from tcvc_cli.errors import EXIT_INPUT, InputError
from tcvc_cli.evaluate import EvaluateOptions, evaluate
from tcvc_cli.sample import render_clip, write_clip

OFF = EvaluateOptions(fid="off")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Ground truth with a cut at 6, and predictions derived from it."""
    root = tmp_path_factory.mktemp("eval")
    colour, lines = render_clip(seed=2, frames=10, size=(96, 64), cut_at=6)
    rng = np.random.default_rng(0)

    def variant(name, frames):
        return write_clip(root / name, frames)

    return {
        "gt": variant("gt", colour),
        "lines": variant("lines", lines),
        "same": variant("same", colour),
        "noisy": variant("noisy", [np.clip(f + rng.normal(0, 12, f.shape), 0, 255).astype(np.uint8) for f in colour]),
        "jitter": variant("jitter", [np.clip(f.astype(int) + rng.integers(-25, 25, 3), 0, 255).astype(np.uint8) for f in colour]),
        "shift": variant("shift", [np.clip(f.astype(int) + 4, 0, 255).astype(np.uint8) for f in colour]),
        "short": variant("short", colour[:7]),
        "small": variant("small", [media.resize(f, (48, 32)) for f in colour]),
    }


def metrics_of(result, index=0):
    return result["predictions"][index]


def test_identical_inputs(clips):
    result = evaluate([clips["same"]], clips["gt"], options=OFF)
    same = metrics_of(result)
    assert math.isinf(same["psnr"]) and same["ssim"] == pytest.approx(1.0)
    assert same["warp_error"] == pytest.approx(result["reference"]["warp_error"])
    assert same["tof"] == pytest.approx(0.0, abs=1e-9)
    assert same["cdc"] == pytest.approx(result["reference"]["cdc"])


def test_noise_worsens_frame_and_temporal_metrics(clips):
    result = evaluate([clips["same"], clips["noisy"]], clips["gt"], options=OFF)
    same, noisy = metrics_of(result, 0), metrics_of(result, 1)
    assert noisy["psnr"] < 35 and noisy["ssim"] < 0.9
    assert noisy["warp_error"] > same["warp_error"] and noisy["tof"] > same["tof"]


def test_colour_jitter_raises_temporal_metrics_but_a_constant_shift_does_not(clips):
    result = evaluate([clips["same"], clips["jitter"], clips["shift"]], clips["gt"], options=OFF)
    same, jitter, shift = (metrics_of(result, i) for i in range(3))
    assert jitter["warp_error"] > 1.5 * same["warp_error"]
    assert jitter["tof"] > same["tof"] + 0.01
    assert jitter["cdc"] > 10 * same["cdc"]
    assert shift["warp_error"] == pytest.approx(same["warp_error"], rel=0.02)
    assert shift["tof"] < 0.01
    assert shift["cdc"] == pytest.approx(same["cdc"], rel=0.05)
    assert shift["psnr"] < 60  # the frames do differ


def test_pairs_across_a_cut_are_skipped(clips, tmp_path):
    result = evaluate([clips["noisy"]], clips["gt"], options=OFF, report=tmp_path / "report")
    assert result["cuts"] == [6]
    rows = {int(r.split(",")[1]): r.split(",") for r in (tmp_path / "report" / "per_frame.csv").read_text().splitlines()[1:]}
    assert rows[6][6] == "" and rows[6][7] == ""  # no warping error or tOF between frames 5 and 6
    assert rows[5][6] != "" and rows[7][6] != ""
    without = evaluate([clips["noisy"]], clips["gt"], options=EvaluateOptions(fid="off", scene_detect=False))
    assert without["cuts"] == []


def test_fid_with_random_network_is_zero_for_itself_and_grows_with_noise(clips):
    options = EvaluateOptions(fid="random")
    result = evaluate([clips["same"], clips["shift"], clips["noisy"]], clips["gt"], options=options)
    same, shift, noisy = (metrics_of(result, i)["fid"] for i in range(3))
    assert same == pytest.approx(0.0, abs=1e-6)
    assert noisy > shift > same
    assert "biased" in result["fid_note"]


def test_missing_fid_weights_skip_fid_or_fail_when_required(clips, monkeypatch, tmp_path):
    from pytorch_fid import inception

    calls = []

    def offline(url, progress=True):
        calls.append(url)
        raise OSError("no network")

    monkeypatch.setattr(inception, "load_state_dict_from_url", offline)
    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path / "hub"))
    result = evaluate([clips["same"]], clips["gt"], options=EvaluateOptions(fid="default"))
    assert metrics_of(result)["fid"] is None and metrics_of(result)["ssim"] == pytest.approx(1.0)
    assert not calls  # not cached and not asked to download: the network is left alone
    with pytest.raises(InputError, match="not in the cache"):
        evaluate([clips["same"]], clips["gt"], options=EvaluateOptions(fid="default", require_fid=True))
    with pytest.raises(InputError, match="not available"):
        evaluate([clips["same"]], clips["gt"], options=EvaluateOptions(fid="default", require_fid=True, download=True))
    assert calls  # asked to download, it tried


def test_cached_fid_weights_are_used_without_the_network(clips, monkeypatch, tmp_path):
    import torch
    from pytorch_fid import inception

    from tcvc_cli.metrics import FID_FILE, _unweighted_fid_inception

    torch.manual_seed(0)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(_unweighted_fid_inception().state_dict(), tmp_path / "hub" / "checkpoints" / FID_FILE)
    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    result = evaluate([clips["same"]], clips["gt"], options=EvaluateOptions(fid="default"))
    assert metrics_of(result)["fid"] == pytest.approx(0.0, abs=1e-3)


def test_a_held_frame_does_not_make_the_average_infinite(clips, tmp_path):
    colour = [media.read_image(p) for p in media.list_frames(clips["gt"])]
    held = [colour[0]] * 2 + [np.clip(f.astype(int) + 9, 0, 255).astype(np.uint8) for f in colour[2:]]
    pred = write_clip(tmp_path / "held", held)
    summary = metrics_of(evaluate([pred], clips["gt"], options=OFF))
    assert summary["identical_frames"] == 1 and math.isfinite(summary["psnr"])


def test_mismatched_counts_and_sizes(clips):
    with pytest.raises(InputError, match="7 frames but the ground truth .* 10"):
        evaluate([clips["short"]], clips["gt"], options=OFF)
    with pytest.raises(InputError, match="48x32 but the ground truth .* 96x64"):
        evaluate([clips["small"]], clips["gt"], options=OFF)
    resized = evaluate([clips["small"]], clips["gt"], options=EvaluateOptions(fid="off", resize_pred=True))
    assert metrics_of(resized)["psnr"] > 15


def test_cli_outputs_json_csv_and_a_report_on_videos(cli, clips, tmp_path):
    colour = [media.read_image(p) for p in media.list_frames(clips["gt"])]
    gt_video = write_clip(tmp_path / "gt.mp4", colour)
    pred_video = write_clip(tmp_path / "pred.mp4", colour, lossless=False)
    result = cli("evaluate", pred_video, clips["noisy"], gt_video, "--inception-weights", "off", "--json",
                 "--lineart", clips["lines"], "--report", tmp_path / "report")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [p["name"] for p in summary["predictions"]] == ["pred", "noisy"]
    assert summary["predictions"][0]["psnr"] > 28  # lossy H.264 with 4:2:0 chroma
    for name in ("per_frame.csv", "per_frame.png", "worst_1_pred.png", "worst_2_noisy.png"):
        assert (tmp_path / "report" / name).is_file()
    rows = (tmp_path / "report" / "per_frame.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 10
    sheet = media.read_image(tmp_path / "report" / "worst_2_noisy.png")
    assert sheet.shape[1] == 3 * 96  # line art | prediction | ground truth
    csv_out = cli("evaluate", clips["noisy"], clips["gt"], "--inception-weights", "off", "--csv")
    assert csv_out.stdout.splitlines()[0] == "metric,noisy,ground truth"
    table = cli("evaluate", clips["noisy"], clips["gt"], "--inception-weights", "off")
    assert "PSNR" in table.stdout and "warping error" in table.stdout


def test_cli_mismatch_is_an_input_error(cli, clips):
    result = cli("evaluate", clips["short"], clips["gt"], "--inception-weights", "off")
    assert result.exit_code == EXIT_INPUT and "7 frames" in result.stderr


def test_json_output_is_strict_json_with_inf_as_a_string(cli, clips):
    result = cli("evaluate", clips["same"], clips["gt"], "--inception-weights", "off", "--json")
    summary = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert summary["predictions"][0]["psnr"] == "inf"
