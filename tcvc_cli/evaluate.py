"""`tcvc evaluate`: compare one or more predictions with the ground truth, frame by frame.

All inputs stream in lockstep, so memory does not grow with length (FID keeps one 2048-d
feature vector per frame). Optical flow is computed once per ground-truth frame pair and
shared by every prediction. Scene cuts are found on the ground truth; metrics that compare
consecutive frames skip pairs that straddle a cut.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import media
from .errors import InputError, UsageError
from .lineart import to_grey
from .metrics import (FidFeatures, FidUnavailable, cdc, colour_histograms, fid_network, frechet_distance, mse,
                      psnr_from_mse, ssim, tof, warping_error)
from .motion import FlowField
from .motion.shots import CutDetector
from .runtime import select_device

log = logging.getLogger("tcvc")

FID_MIN_FRAMES = 2048
WORST_FRAMES = 6


@dataclass(frozen=True)
class EvaluateOptions:
    resize_pred: bool = False
    fid: str = "default"  # default (cached standard weights), a path, random (tests), or off
    require_fid: bool = False
    scene_detect: bool = True
    device: str = "auto"
    download: bool = False  # fetch the standard FID weights when they are not cached


@dataclass
class _Track:
    """Running state and results for one prediction."""

    name: str
    per_frame: list[dict[str, Any]] = field(default_factory=list)
    histograms: list[np.ndarray] = field(default_factory=list)
    previous: np.ndarray | None = None
    fid: FidFeatures | None = None
    worst: list[tuple[float, int, np.ndarray, np.ndarray, np.ndarray | None]] = field(default_factory=list)

    def summary(self, shot_ids: list[int]) -> dict[str, Any]:
        mses = [r["mse"] for r in self.per_frame]
        warps = [r["warp_error"] for r in self.per_frame if r["warp_error"] is not None]
        tofs = [r["tof"] for r in self.per_frame if r["tof"] is not None]
        mean_mse = float(np.mean(mses))
        return {
            "name": self.name, "frames": len(mses),
            "psnr": psnr_from_mse(mean_mse),  # from the mean MSE: a held (identical) frame cannot make it inf
            "mse": mean_mse,
            "ssim": float(np.mean([r["ssim"] for r in self.per_frame])),
            "identical_frames": sum(1 for m in mses if m == 0),
            "warp_error": float(np.mean(warps)) if warps else None,
            "tof": float(np.mean(tofs)) if tofs else None,
            "cdc": cdc(self.histograms, shot_ids),
        }


def _open(path: Path, what: str) -> media.FrameSource:
    try:
        return media.open_source(path)
    except InputError as exc:
        raise InputError(f"{what}: {exc.message}", hint=exc.hint) from None


def evaluate(predictions: list[Path], truth: Path, *, lineart: Path | None = None,
             options: EvaluateOptions = EvaluateOptions(), report: Path | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Metrics of each prediction against `truth`; returns a JSON-ready summary."""
    if not predictions:
        raise UsageError("give at least one prediction and the ground truth: tcvc evaluate PRED... GT")
    names = _unique_names(predictions)
    with contextlib.ExitStack() as stack:
        gt_source = stack.enter_context(_open(truth, "ground truth"))
        pred_sources = [stack.enter_context(_open(p, "prediction")) for p in predictions]
        line_source = stack.enter_context(_open(lineart, "line art")) if lineart else None
        _check_sources(predictions, pred_sources, truth, gt_source.info, lineart, line_source, options)
        device = select_device(options.device)
        fid_net = _fid(options, device)
        tracks = [_Track(name) for name in names]
        gt_track = _Track("ground truth")
        for track in (*tracks, gt_track):
            track.fid = FidFeatures(fid_net, device) if fid_net is not None else None
        shot_ids = _score(gt_source, pred_sources, line_source, tracks, gt_track, options, progress)
    result = _summary(truth, predictions, tracks, gt_track, shot_ids, options.fid if fid_net is not None else None)
    if report is not None:
        write_report(report, result, tracks)
        result["report"] = str(report)
    return result


def _check_sources(predictions: list[Path], pred_sources: list, truth: Path, gt_info: Any, lineart: Path | None,
                   line_source: Any, options: EvaluateOptions) -> None:
    """Predictions (and line art) must match the ground truth's frame count, and its size unless resized."""
    for path, source in zip(predictions, pred_sources):
        if source.info.frame_count != gt_info.frame_count:
            raise InputError(f"{path} has {source.info.frame_count} frames but the ground truth {truth} has {gt_info.frame_count}",
                             hint="evaluate outputs of the same clip (frame counts must match)")
        if (source.info.width, source.info.height) != (gt_info.width, gt_info.height) and not options.resize_pred:
            raise InputError(f"{path} is {source.info.width}x{source.info.height} but the ground truth {truth} is "
                             f"{gt_info.width}x{gt_info.height}", hint="pass --resize-pred to resize predictions to the ground truth")
    if line_source is not None and line_source.info.frame_count != gt_info.frame_count:
        raise InputError(f"{lineart} has {line_source.info.frame_count} frames but the ground truth {truth} has {gt_info.frame_count}")


def _score(gt_source: Any, pred_sources: list, line_source: Any, tracks: list[_Track], gt_track: _Track,
           options: EvaluateOptions, progress: Callable[[int, int], None] | None) -> list[int]:
    """Every frame of every prediction scored against the truth; returns each frame's shot."""
    flow = FlowField()
    detector = CutDetector()
    shot_ids: list[int] = []
    previous_edges = None
    previous_gt = None
    size = (gt_source.info.width, gt_source.info.height)
    iterators = [iter(s) for s in pred_sources]
    line_iter = iter(line_source) if line_source else None
    total = gt_source.info.frame_count
    for index, gt in enumerate(gt_source):
        preds = [media.resize(next(it), size) for it in iterators]
        line = next(line_iter) if line_iter else None
        edges = detector.edges(to_grey(gt), is_lineart=False)
        cut = options.scene_detect and index > 0 and detector.is_cut(previous_edges, edges)
        shot_ids.append((shot_ids[-1] + (1 if cut else 0)) if shot_ids else 0)
        previous_edges = edges
        same_shot = previous_gt is not None and not cut
        motion = (flow(previous_gt, gt), flow(gt, previous_gt)) if same_shot else None
        _score_truth(gt_track, index, gt, previous_gt, motion)
        for track, pred in zip(tracks, preds):
            _score_prediction(track, index, pred, gt, line, shot_ids[-1], motion, flow)
        previous_gt = gt
        if progress:
            progress(index + 1, total)
    return shot_ids


def _score_truth(gt_track: _Track, index: int, gt: np.ndarray, previous_gt: np.ndarray | None,
                 motion: tuple[np.ndarray, np.ndarray] | None) -> None:
    """The truth's own temporal figures: the reference rows the predictions are read against."""
    gt_track.histograms.append(colour_histograms(gt))
    if gt_track.fid:
        gt_track.fid.add(gt)
    gt_warp = warping_error(previous_gt, gt, *motion) if motion is not None else None
    gt_track.per_frame.append({"frame": index, "mse": 0.0, "ssim": 1.0, "warp_error": gt_warp,
                               "tof": 0.0 if motion is not None else None})


def _score_prediction(track: _Track, index: int, pred: np.ndarray, gt: np.ndarray, line: np.ndarray | None, shot: int,
                      motion: tuple[np.ndarray, np.ndarray] | None, flow: FlowField) -> None:
    error = mse(pred, gt)
    record = {"frame": index, "mse": error, "psnr": psnr_from_mse(error), "ssim": ssim(pred, gt),
              "warp_error": None, "tof": None, "shot": shot}
    if motion is not None:
        record["warp_error"] = warping_error(track.previous, pred, *motion)
        record["tof"] = tof(flow(track.previous, pred), motion[0])
    track.per_frame.append(record)
    track.histograms.append(colour_histograms(pred))
    if track.fid:
        track.fid.add(pred)
    _keep_worst(track, error, index, pred, gt, line)
    track.previous = pred


def _summary(truth: Path, predictions: list[Path], tracks: list[_Track], gt_track: _Track, shot_ids: list[int],
             fid_weights: str | None) -> dict[str, Any]:
    cuts = [i for i in range(1, len(shot_ids)) if shot_ids[i] != shot_ids[i - 1]]
    result: dict[str, Any] = {"ground_truth": str(truth), "frames": len(shot_ids), "cuts": cuts,
                              "reference": {"warp_error": gt_track.summary(shot_ids)["warp_error"],
                                            "cdc": cdc(gt_track.histograms, shot_ids)},
                              "predictions": []}
    for path, track in zip(predictions, tracks):
        summary = track.summary(shot_ids)
        summary["path"] = str(path)
        summary["fid"] = frechet_distance(track.fid, gt_track.fid) if track.fid else None
        result["predictions"].append(summary)
    result["fid_weights"] = fid_weights
    if fid_weights is not None and len(shot_ids) < FID_MIN_FRAMES:
        result["fid_note"] = f"FID from {len(shot_ids)} frames (< {FID_MIN_FRAMES}) is a biased estimate; compare only runs of equal length"
        log.warning(result["fid_note"])
    return result


def _unique_names(paths: list[Path]) -> list[str]:
    names = [p.stem if p.is_file() else p.name for p in paths]
    return [f"{n} ({i + 1})" if names.count(n) > 1 else n for i, n in enumerate(names)]


def _fid(options: EvaluateOptions, device) -> Any:
    if options.fid == "off":
        return None
    try:
        return fid_network(options.fid, device, download=options.download)
    except FidUnavailable as exc:
        if options.require_fid:
            raise InputError(str(exc), hint="pass --download-weights, or --inception-weights PATH "
                                            "(pt_inception-2015-12-05-6726825d.pth)") from None
        log.warning("%s; FID skipped (pass --download-weights or --inception-weights PATH; --require-fid makes this an "
                    "error)", exc)
        return None


def _keep_worst(track: _Track, error: float, index: int, pred: np.ndarray, gt: np.ndarray, line: np.ndarray | None) -> None:
    entry = (error, index, pred.copy(), gt.copy(), None if line is None else line.copy())
    if len(track.worst) < WORST_FRAMES:
        heapq.heappush(track.worst, entry)
    elif error > track.worst[0][0]:
        heapq.heapreplace(track.worst, entry)


# --------------------------------------------------------------------------- reports


def format_table(result: dict[str, Any]) -> list[list[str]]:
    """Rows in the paper's Table I layout: metrics down, predictions across."""
    def number(value: Any, digits: int = 4) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if isinstance(value, float) and math.isinf(value):
            return "inf"
        return f"{value:.{digits}g}"

    rows = [["metric", *[p["name"] for p in result["predictions"]], "ground truth"]]
    rows.append(["FID (lower is better)", *[number(p["fid"]) for p in result["predictions"]], "0"])
    rows.append(["SSIM", *[number(p["ssim"]) for p in result["predictions"]], "1"])
    rows.append(["PSNR (dB)", *[number(p["psnr"]) for p in result["predictions"]], "inf"])
    rows.append(["warping error", *[number(p["warp_error"]) for p in result["predictions"]], number(result["reference"]["warp_error"])])
    rows.append(["tOF", *[number(p["tof"]) for p in result["predictions"]], "0"])
    rows.append(["CDC", *[number(p["cdc"]) for p in result["predictions"]], number(result["reference"]["cdc"])])
    return rows


def write_report(folder: Path, result: dict[str, Any], tracks: list[_Track]) -> None:
    """per_frame.csv, per_frame.png (PSNR and warping error over time) and worst_<name>.png sheets."""
    media.ensure_writable_dir(folder)
    with open(folder / "per_frame.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prediction", "frame", "shot", "psnr", "ssim", "mse", "warp_error", "tof"])
        for track in tracks:
            for r in track.per_frame:
                writer.writerow([track.name, r["frame"], r["shot"], r["psnr"], r["ssim"], r["mse"],
                                 "" if r["warp_error"] is None else r["warp_error"], "" if r["tof"] is None else r["tof"]])
    _plot(folder / "per_frame.png", tracks, result["cuts"])
    for number, track in enumerate(tracks):
        sheet = _contact_sheet(track)
        media.write_image(folder / f"worst_{number + 1}_{_safe(track.name)}.png", sheet)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60]


def _plot(path: Path, tracks: list[_Track], cuts: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for track in tracks:
        frames = [r["frame"] for r in track.per_frame]
        top.plot(frames, [min(r["psnr"], 100.0) for r in track.per_frame], label=track.name, linewidth=1)
        bottom.plot(frames, [np.nan if r["warp_error"] is None else r["warp_error"] for r in track.per_frame], label=track.name, linewidth=1)
    for cut in cuts:
        for axis in (top, bottom):
            axis.axvline(cut, color="grey", linestyle=":", linewidth=0.8)
    top.set_ylabel("PSNR (dB)")
    bottom.set_ylabel("warping error")
    bottom.set_xlabel("frame")
    top.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _contact_sheet(track: _Track) -> np.ndarray:
    """One row per worst frame: line art (if given) | prediction | ground truth, worst first."""
    import cv2

    rows = []
    for error, index, pred, gt, line in sorted(track.worst, key=lambda e: -e[0]):
        parts = ([cv2.cvtColor(line if line.ndim == 2 else to_grey(line), cv2.COLOR_GRAY2RGB)] if line is not None else []) + [pred, gt]
        row = np.concatenate([media.resize(p, (gt.shape[1], gt.shape[0])) for p in parts], 1)
        label = f"frame {index}  PSNR {psnr_from_mse(error):.2f} dB"
        cv2.putText(row, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(row, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(row)
    return np.concatenate(rows, 0)

